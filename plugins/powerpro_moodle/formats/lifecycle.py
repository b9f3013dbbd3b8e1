"""The student lifecycle (SPEC section 4b): who keeps Moodle access, and how each student is sent.

Pure functions, no Airflow. :func:`plan_lifecycle` works in named phases:

1. :func:`enrolment_access`: does an enrolment keep Moodle access today (provisionable, or a
   completion inside the window), and if not, why not;
2. :func:`attach_state`: what was last sent for each student, followed by ``StudentID``;
3. :func:`~powerpro_moodle.formats.users_file.build_users` and
   :func:`~powerpro_moodle.formats.users_file.check_usernames`: the rows the students with access
   would get, and the data problems that keep a student out (never a reason to suspend them);
4. :func:`decide`: per student, new, changed, renamed, reactivated, suspended, or nothing;
5. :func:`check_hold`: the mass-suspension circuit breaker.

:func:`describe_export`, :func:`describe_hold` and :meth:`LifecyclePlan.details` word the result
for the sync log.
"""

from __future__ import annotations

import heapq
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from itertools import islice
from typing import Any

from powerpro_moodle.formats.ids import id_key
from powerpro_moodle.formats.settings import Settings
from powerpro_moodle.formats.summary import ANOMALIES_LISTED, REJECTED, WARNING, Anomaly, count_codes, plural
from powerpro_moodle.formats.text_safety import neutralise
from powerpro_moodle.formats.users_file import (
    REFUSED_WORDS,
    EnrolmentRecord,
    ExportedStudent,
    MoodleUser,
    StudentKey,
    build_users,
    check_usernames,
)

#: The kinds of change a student can be sent with.
NEW = "new"
CHANGED = "changed"
RENAMED = "renamed"
RESENT = "resent"  # unchanged, sent again by full_resync
SUSPENDED = "suspended"
REACTIVATED = "reactivated"

#: The four counts of the one-line message, and which kinds each holds.
BUCKETS = {NEW: NEW, CHANGED: CHANGED, RENAMED: CHANGED, RESENT: CHANGED, SUSPENDED: SUSPENDED,
           REACTIVATED: REACTIVATED}
#: How the one-line message names each warning (one, many).
WARNING_WORDS = {
    "formula_neutralised": ("student's names neutralised", "students' names neutralised"),
    "cohort_not_removed": ("cohort membership to remove in Moodle", "cohort memberships to remove in Moodle"),
    "identity_unknown": ("account to suspend by hand", "accounts to suspend by hand"),
}
#: When Details must be cut, what a person must check first.
_DETAIL_ORDER = {SUSPENDED: 0, REACTIVATED: 1, RENAMED: 2, CHANGED: 3, NEW: 4, RESENT: 5}


# --------------------------------------------------------------------------- 1. access per enrolment


@dataclass(frozen=True)
class Access:
    """Whether an enrolment keeps Moodle access today.

    :param keeps: it does (the student is not suspended while any of theirs does).
    :param provisionable: both flags ticked and a provisioned status (counted in ``RowsRead``).
    :param why: in words, for a suspension's reason ("Withdrawn", "course not flagged for Moodle").
    """

    keeps: bool
    provisionable: bool
    why: str


def as_date(value: date | str | None) -> date | None:
    """A course's ``EndDate`` as a date: a date or datetime (SQL Server), ISO text (SQLite).

    Unreadable text counts as no date: it is a data problem, and an enrolment left out by a data
    problem keeps access.
    """
    if value is None or isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, datetime):
        return value.date()
    try:
        return date.fromisoformat(str(value).strip()[:10])
    except ValueError:
        return None


def _status_in(status: str | None, statuses: Iterable[str]) -> bool:
    # Compared the way the SQL compares them (upper case), and SQL Server's collation would.
    return (status or "").strip().upper() in {s.strip().upper() for s in statuses}


def enrolment_access(rec: EnrolmentRecord, settings: Settings, run_date: date | None) -> Access:
    """Does ``rec`` keep Moodle access on ``run_date`` (the run's date in the RTO's timezone)?

    It does when both flags are ticked and its status is provisioned, or when both flags are
    ticked, its status is in ``keep_access_statuses`` and its course's ``EndDate`` is empty or
    less than ``keep_access_days`` days before the run date.
    """
    status = (rec.status or "").strip()
    if not rec.course_flag:
        return Access(False, False, f"{rec.course_code}: course not flagged for Moodle")
    if not rec.enrolment_flag:
        return Access(False, False, f"{rec.course_code}: enrolment not flagged for Moodle")
    if _status_in(status, settings.provisioned_statuses):
        return Access(True, True, f"{rec.course_code}: {status}")
    if not _status_in(status, settings.keep_access_statuses):
        return Access(False, False, f"{rec.course_code}: {status}")
    end = as_date(rec.end_date)
    if end is None:
        return Access(True, False, f"{rec.course_code}: {status}, the course has no end date")
    if run_date is None:
        raise ValueError("the run date is needed to apply keep_access_days")
    days = (run_date - end).days
    if days < settings.keep_access_days:
        return Access(True, False, f"{rec.course_code}: {status}, course ended {end}")
    return Access(
        False, False, f"{rec.course_code}: {status}, course ended {end}, {days} days ago "
        f"(access is kept {settings.keep_access_days} days)"
    )


# --------------------------------------------------------------------------- 2. the state, by StudentID


def attach_state(
    state: Iterable[ExportedStudent], numbers: Mapping[StudentKey, str]
) -> dict[StudentKey, ExportedStudent]:
    """What was last sent, per student key.

    A state row with a ``StudentID`` belongs to that student whatever their StudentNumber is now.
    One without (written by release 0.1 for a StudentNumber no student had when the table was
    migrated) is adopted by the student who has that StudentNumber today and no state of their
    own; otherwise it stays on its own key, an account nobody in PowerPro holds any more.

    :param numbers: today's StudentNumber per student key.
    """
    attached: dict[StudentKey, ExportedStudent] = {}
    orphans = []
    for row in state:
        if row.student_id is None:
            orphans.append(row)
        else:
            attached[row.student_id] = row
    key_of_number = {number: key for key, number in numbers.items()}
    for row in orphans:
        key = key_of_number.get(row.student_number)
        if key is None or key in attached:
            key = ("unmatched", row.student_number)
        attached[key] = row
    return attached


# --------------------------------------------------------------------------- 4. the decision per student


@dataclass(frozen=True)
class Change:
    """One student sent in this run.

    :param kind: :data:`NEW`, :data:`CHANGED`, :data:`RENAMED`, :data:`RESENT`,
        :data:`SUSPENDED` or :data:`REACTIVATED`.
    :param user: the row of the users file.
    :param state_number: the StudentNumber of the state row this updates (before the run).
    :param fields: for a changed student, which fields changed.
    :param reason: for a suspension, why no enrolment keeps access.
    :param resent: a suspension sent again by ``full_resync`` (not a new suspension).
    :param memberships: for a suspension, the cohorts last sent: Moodle keeps the student in
        them (the uploader never removes a member), which a reactivation must know.
    """

    kind: str
    user: MoodleUser
    student_id: int | None
    state_number: str
    fields: tuple[str, ...] = ()
    reason: str = ""
    resent: bool = False
    memberships: tuple[str, ...] = ()

    @property
    def recorded(self) -> ExportedStudent:
        """What the state holds for the student once the file is on the server."""
        sent = ExportedStudent.from_user(self.user, self.student_id)
        return replace(sent, cohorts=self.memberships) if self.kind == SUSPENDED else sent

    def detail(self) -> dict[str, object]:
        """The student's line in the sync log's ``Details``."""
        out: dict[str, object] = {"student": self.user.student_number, "kind": self.kind,
                                  "username": self.user.username}
        if self.fields:
            out["fields"] = list(self.fields)
        if self.user.oldusername:
            out["oldusername"] = self.user.oldusername
            out["old_student_number"] = self.state_number
        if self.reason:
            out["reason"] = self.reason
        if self.resent:
            out["resent"] = True
        return out


@dataclass
class LifecyclePlan:
    """The outcome of planning one provisioning run."""

    rows_read: int
    changes: list[Change] = field(default_factory=list)
    unchanged: list[MoodleUser] = field(default_factory=list)
    #: Suspended before, still without access: nothing to send.
    still_suspended: int = 0
    anomalies: list[Anomaly] = field(default_factory=list)
    #: State rows held as sent and not suspended before this run (the hold's base).
    active_before: int = 0
    #: Students sent new that were decided over columns (:mod:`lifecycle_frames`): a frame of
    #: ``NEW_USER_COLUMNS`` sorted by username, or None. They are in none of the lists above.
    bulk_new: Any = None
    #: Students unchanged that were decided over columns (not in :attr:`unchanged`).
    bulk_unchanged: int = 0

    @property
    def to_send(self) -> list[MoodleUser]:
        """The rows of :attr:`changes` (not :attr:`bulk_new`'s)."""
        return [c.user for c in self.changes]

    @property
    def bulk_count(self) -> int:
        return 0 if self.bulk_new is None else len(self.bulk_new)

    @property
    def sent_total(self) -> int:
        """Students the users file holds."""
        return len(self.changes) + self.bulk_count

    @property
    def unchanged_total(self) -> int:
        return len(self.unchanged) + self.bulk_unchanged

    def sent_numbers(self, limit: int) -> list[str]:
        """The StudentNumber of the first ``limit`` students sent, in the file's (username) order."""
        exact = ((c.user.username, c.user.student_number) for c in self.changes)
        bulk = () if self.bulk_new is None else zip(
            self.bulk_new["username"][:limit], self.bulk_new["student_number"][:limit], strict=True)
        return [number for _, number in islice(heapq.merge(exact, bulk), limit)]

    @property
    def new_students(self) -> int:
        return sum(1 for c in self.changes if c.kind == NEW) + self.bulk_count

    @property
    def suspensions(self) -> list[Change]:
        """The students this run suspends (not those ``full_resync`` sends suspended again)."""
        return [c for c in self.changes if c.kind == SUSPENDED and not c.resent]

    @property
    def rejected(self) -> int:
        return sum(1 for a in self.anomalies if a.level == REJECTED)

    def counts(self) -> dict[str, int]:
        """Students sent per message bucket: new, changed, suspended, reactivated."""
        counts = Counter(BUCKETS[c.kind] for c in self.changes)
        counts[NEW] += self.bulk_count
        return {bucket: counts[bucket] for bucket in (NEW, CHANGED, SUSPENDED, REACTIVATED)}

    def details(self, limit: int = ANOMALIES_LISTED) -> dict[str, object]:
        """Each student sent, with the kind of change (at most ``limit``, suspensions first when
        cut), the count per kind, and the total."""
        cut = self.sent_total > limit
        order = (lambda c: (_DETAIL_ORDER[c.kind], c.user.username)) if cut else (lambda c: (0, c.user.username))
        exact = sorted(((*order(c), i) for i, c in enumerate(self.changes)))[:limit]
        listed: list[tuple[int, str, int]] = list(exact)
        if self.bulk_new is not None:
            first = (_DETAIL_ORDER[NEW] if cut else 0)
            bulk = [(first, name, -1 - i) for i, name in enumerate(self.bulk_new["username"][:limit])]
            listed = list(islice(heapq.merge(exact, bulk), limit))
        details = []
        for _, _, i in listed:
            if i >= 0:
                details.append(self.changes[i].detail())
            else:
                row = self.bulk_new.iloc[-1 - i]
                details.append({"student": row["student_number"], "kind": NEW, "username": row["username"]})
        counts = Counter(c.kind for c in self.changes)
        if self.bulk_count:
            counts[NEW] += self.bulk_count
        return {
            "changes": details,
            "change_counts": dict(sorted(counts.items())),
            "changes_total": self.sent_total,
        }


def changed_fields(user: MoodleUser, before: ExportedStudent) -> tuple[str, ...]:
    """Which of the fields last sent differ in ``user`` (those an earlier release did not
    record cannot be compared)."""
    fields = [
        name
        for name in ("username", "firstname", "lastname", "alternatename", "email", "auth")
        if getattr(before, name) is not None and getattr(user, name) != getattr(before, name)
    ]
    if user.student_number != before.student_number:
        fields.insert(1, "idnumber")
    if before.cohorts is not None and set(before.cohorts) != set(user.cohorts):
        fields.append("cohorts")
    return tuple(fields)


def suspension_row(before: ExportedStudent, today: EnrolmentRecord | None, auth: str) -> MoodleUser:
    """The row that suspends a student: the identity last sent, ``suspended=1``, no cohorts.

    A field an earlier release did not record comes from PowerPro today (neutralised like any name).
    """

    def last_sent(value: str | None, current: str | None) -> str:
        return value if value is not None else neutralise((current or "").strip())

    return MoodleUser(
        student_number=before.student_number,
        username=before.username,
        firstname=last_sent(before.firstname, today and today.first_name),
        lastname=last_sent(before.lastname, today and today.last_name),
        alternatename=last_sent(before.alternatename, today and today.preferred_name),
        email=last_sent(before.email, today and today.email),
        auth=before.auth or auth,
        suspended=1,
        cohorts=(),
    )


def _identity_unknown(before: ExportedStudent, reason: str) -> Anomaly:
    return Anomaly(
        "student",
        before.student_number,
        "identity_unknown",
        f"Moodle account {before.username!r} (sent for StudentNumber {before.student_number} by an earlier "
        f"release) keeps no access ({reason}), but the name or email Moodle holds is not known (that release "
        "did not record them, and PowerPro has none for the StudentNumber) and a suspension row would blank "
        "them: suspend the account in Moodle by hand, then delete its MoodleSyncExportState row",
        level=WARNING,
    )


def cohorts_left(change: Change, before: ExportedStudent | None) -> Anomaly | None:
    """A warning when the student keeps a Moodle cohort membership they no longer have access
    through: Moodle's uploader only adds cohort members, so a person must remove it."""
    if before is None or before.cohorts is None or change.kind not in (CHANGED, RENAMED, REACTIVATED):
        return None
    left = sorted(set(before.cohorts) - set(change.user.cohorts))
    if not left:
        return None
    named = ", ".join(left)
    when = "was suspended" if change.kind == REACTIVATED else "was last sent"
    return Anomaly(
        "student",
        change.user.student_number,
        "cohort_not_removed",
        f"no longer has access through cohort {named}, but is still a member in Moodle (added when the student "
        f"{when}; Moodle's uploader only adds cohort members): remove them from cohort {named} in Moodle, or "
        "the cohort's courses stay open to them",
        level=WARNING,
        data={"cohorts": left},
    )


def _renamed_anomaly(before: ExportedStudent, user: MoodleUser) -> Anomaly:
    if before.student_number != user.student_number:
        what = f"StudentNumber changed from {before.student_number} to {user.student_number}"
    else:  # another username rule: its source (the email) changed
        what = f"the username rule now gives {user.username!r} for StudentNumber {user.student_number}"
    return Anomaly(
        "student",
        user.student_number,
        "student_number_changed",
        f"{what}: not exported under the new identity, so Moodle gets no second account; the Moodle "
        f"account {before.username!r} stays as it is until the change is undone in PowerPro or the "
        "allow_renames setting renames it",
        data={"old_student_number": before.student_number, "new_student_number": user.student_number,
              "oldusername": before.username, "username": user.username},
    )


def _number_held_anomaly(user: MoodleUser, holder: ExportedStudent) -> Anomaly:
    # The state keeps one row per StudentNumber sent (compared as SQL Server's collation does):
    # recording this student now would collide with another student's row.
    return Anomaly(
        "student",
        user.student_number,
        "student_number_clash",
        f"StudentNumber {user.student_number} is still recorded for another student's Moodle account "
        f"{holder.username!r} (sent as {holder.student_number}); not exported until that record changes",
    )


def _number_shared_anomaly(user: MoodleUser) -> Anomaly:
    return Anomaly(
        "student",
        user.student_number,
        "student_number_shared",
        f"StudentNumber {user.student_number} belongs to more than one student in PowerPro (compared ignoring case "
        "and surrounding spaces, as SQL Server does); none of them is exported until only one holds it",
    )


@dataclass(frozen=True)
class _Student:
    """Everything :func:`decide` needs about one student."""

    key: StudentKey
    before: ExportedStudent | None
    access: list[tuple[EnrolmentRecord, Access]]
    user: MoodleUser | None  # their row today, when nothing keeps them out


def decide(student: _Student, settings: Settings, full_resync: bool) -> Change | Anomaly | MoodleUser | None:
    """What happens to one student in this run.

    :return: a :class:`Change` to send; an :class:`Anomaly` when a rename is not allowed
        (``student_number_changed``) or a suspension cannot be sent (``identity_unknown``); the
        student's :class:`MoodleUser` when they are unchanged;
        ``None`` when there is nothing to do (never provisioned and no access, still suspended,
        or kept out by a data problem already reported).
    """
    before, user = student.before, student.user
    student_id = student.key if isinstance(student.key, int) else None
    if not any(a.keeps for _, a in student.access):
        if before is None or (before.suspended and not full_resync):
            return None
        today = student.access[0][0] if student.access else None
        reason = "no enrolment keeps Moodle access: " + (
            "; ".join(a.why for _, a in student.access) if student.access else "no enrolment in PowerPro"
        )
        row = suspension_row(before, today, settings.moodle_auth)
        if not (row.firstname and row.lastname and row.email):
            return _identity_unknown(before, reason.split(": ", 1)[1])
        return Change(SUSPENDED, row, student_id, before.student_number, reason=reason, resent=before.suspended,
                      memberships=before.cohorts or ())
    if user is None:
        # Access is kept, but a data problem (a course's cohort, the email, a clash) keeps the
        # student out of the file: it is reported, and the student is never suspended for it.
        # (Or only the keep-access window holds them, which does not create or reactivate.)
        return None
    if before is None:
        return Change(NEW, user, student_id, user.student_number)
    if user.username != before.username:
        if not settings.allow_renames:
            return _renamed_anomaly(before, user)
        renamed = replace(user, oldusername=before.username)
        kind = REACTIVATED if before.suspended else RENAMED
        return Change(kind, renamed, student_id, before.student_number, changed_fields(user, before))
    if before.suspended:
        return Change(REACTIVATED, user, student_id, before.student_number, changed_fields(user, before))
    if before.fingerprint != user.fingerprint:
        return Change(CHANGED, user, student_id, before.student_number, changed_fields(user, before))
    if full_resync:
        return Change(RESENT, user, student_id, before.student_number)
    return user


def plan_lifecycle(
    enrolments: Iterable[EnrolmentRecord],
    state: Iterable[ExportedStudent],
    *,
    settings: Settings,
    run_date: date | None,
    full_resync: bool = False,
) -> LifecyclePlan:
    """Decide who goes into the users file, and how.

    :param enrolments: every enrolment of the students the sync has sent before, and the
        enrolments of others that are flagged and in a provisioned or keep-access status
        (``select_export_enrolments.sql``).
    :param state: what was last sent, one row per student (``MoodleSyncExportState``).
    :param settings: the statuses, the keep-access window, auth, username rule, renames.
    :param run_date: the run's date in the RTO's timezone (the keep-access window counts from it).
    :param full_resync: send every student again, suspended ones with ``suspended=1``.
    """
    enrolments = list(enrolments)
    by_key: dict[StudentKey, list[EnrolmentRecord]] = defaultdict(list)
    for rec in enrolments:
        by_key[rec.student_key].append(rec)
    access = {key: [(rec, enrolment_access(rec, settings, run_date)) for rec in recs] for key, recs in by_key.items()}
    attached = attach_state(state, {key: recs[0].student_number for key, recs in by_key.items()})

    # The keep-access window keeps access; it never gives it. A student has access with a
    # provisionable enrolment, or, when the state holds them as active, one inside the window;
    # then every enrolment that keeps access gives its cohort.
    active = {key for key, row in attached.items() if not row.suspended}
    with_access = {
        key for key, recs in access.items()
        if any(a.provisionable or (a.keeps and key in active) for _, a in recs)
    }
    built, anomalies = build_users(
        (rec for key in with_access for rec, a in access[key] if a.keeps),
        auth=settings.moodle_auth,
        username_rule=settings.username_rule,
    )
    owners = {row.username: key for key, row in attached.items()}
    numbers = {key: row.student_number for key, row in attached.items()}
    users, clashes = check_usernames(built, owners, numbers)
    anomalies += clashes

    plan = LifecyclePlan(
        rows_read=sum(1 for recs in access.values() for _, a in recs if a.provisionable),
        anomalies=anomalies,
        active_before=sum(1 for row in attached.values() if not row.suspended),
    )
    holders = {id_key(row.student_number): key for key, row in attached.items()}
    for key in sorted(set(access) | set(attached), key=repr):
        outcome = decide(_Student(key, attached.get(key), access.get(key, []), users.get(key)), settings, full_resync)
        if isinstance(outcome, Change) and holders.get(id_key(outcome.user.student_number), key) != key:
            outcome = _number_held_anomaly(outcome.user, attached[holders[id_key(outcome.user.student_number)]])
        if isinstance(outcome, Change):
            plan.changes.append(outcome)
            if warning := cohorts_left(outcome, attached.get(key)):
                plan.anomalies.append(warning)
        elif isinstance(outcome, Anomaly):
            plan.anomalies.append(outcome)
        elif isinstance(outcome, MoodleUser):
            plan.unchanged.append(outcome)
        elif outcome is None and key in attached and attached[key].suspended:
            plan.still_suspended += 1
    shared = {k for k, n in Counter(id_key(c.user.student_number) for c in plan.changes).items() if n > 1}
    if shared:
        # Two students PowerPro gives one StudentNumber (Moodle's idnumber, the state's key):
        # neither is sent until only one holds it.
        for change in [c for c in plan.changes if id_key(c.user.student_number) in shared]:
            plan.changes.remove(change)
            plan.anomalies.append(_number_shared_anomaly(change.user))
    plan.changes.sort(key=lambda c: c.user.username)
    plan.unchanged.sort(key=lambda u: u.username)
    return plan


# --------------------------------------------------------------------------- 5. the hold


@dataclass(frozen=True)
class Hold:
    """The mass-suspension circuit breaker's reading of a plan.

    :param suspensions: students the run would suspend.
    :param active_before: students the state holds as sent and not suspended before the run.
    """

    suspensions: int
    active_before: int
    percent: float
    minimum: int

    @property
    def held(self) -> bool:
        """More than ``percent`` percent of the active students, **and** more than ``minimum``."""
        return self.suspensions * 100 > self.active_before * self.percent and self.suspensions > self.minimum

    def threshold(self) -> str:
        return (
            f"more than {self.percent:g}% of the {plural(self.active_before, 'student')} provisioned and not "
            f"suspended, and more than {self.minimum}"
        )


def check_hold(plan: LifecyclePlan, settings: Settings) -> Hold:
    return Hold(
        len(plan.suspensions), plan.active_before, settings.hold_suspension_percent, settings.hold_suspension_minimum
    )


def describe_hold(hold: Hold) -> str:
    """A held run's message: ``held:``, the count, the threshold, how to approve."""
    share = hold.suspensions * 100 / hold.active_before if hold.active_before else 100
    return (
        f"held: would suspend {plural(hold.suspensions, 'student')} ({share:.0f}%), {hold.threshold()}; "
        "nothing uploaded or recorded; check the students listed in Details, then trigger with "
        "approve_mass_suspension: true"
    )


# --------------------------------------------------------------------------- the sync log's words


def describe_export(plan: LifecyclePlan, file_name: str | None, dry_run: bool, hold: Hold | None = None,
                    approved: bool = False) -> str:
    """The one-line message staff read in the sync log.

    :param hold: the hold's reading; a dry run that a real run would hold says so.
    :param approved: the run was triggered with ``approve_mass_suspension``.
    """
    sent = plan.sent_total
    counts = plan.counts()
    kinds = ", ".join(f"{n} {bucket}" for bucket, n in counts.items())
    if dry_run:
        head = f"dry run: would send {plural(sent, 'student')} ({kinds})"
        if hold is not None and hold.held and not approved:
            head += f"; would be held: {plural(hold.suspensions, 'suspension')}, {hold.threshold()}"
        head += "; nothing uploaded or recorded"
    elif sent:
        head = f"sent {plural(sent, 'student')} in {file_name} ({kinds})"
    else:
        head = "nothing to send, no file uploaded"
    parts = [head]
    renamed = sum(1 for c in plan.changes if c.user.oldusername)
    if renamed:
        parts.append(f"{plural(renamed, 'account')} renamed (oldusername)")
    if approved and hold is not None and hold.held:
        parts.append(f"mass suspension approved ({plural(hold.suspensions, 'student')}, approve_mass_suspension)")
    parts.append(f"{plural(plan.unchanged_total, 'student')} unchanged")
    rejected = [a for a in plan.anomalies if a.level == REJECTED]
    refused = []
    for record in ("course", "student"):
        codes = count_codes([a for a in rejected if a.record == record])
        if codes:
            reasons = ", ".join(f"{n} {REFUSED_WORDS.get(code, code)}" for code, n in sorted(codes.items()))
            refused.append(f"{plural(sum(codes.values()), record)} ({reasons})")
    if refused:
        parts.append("not exported: " + ", ".join(refused))
    warnings = count_codes(plan.anomalies, WARNING)
    if warnings:
        reasons = ", ".join(plural(n, *WARNING_WORDS.get(code, (code, code))) for code, n in sorted(warnings.items()))
        parts.append(f"{plural(sum(warnings.values()), 'warning')} ({reasons})")
    return "; ".join(parts)
