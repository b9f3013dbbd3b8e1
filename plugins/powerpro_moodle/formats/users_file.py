"""Moodle's *Upload users* file (admin/tool/uploaduser), built from PowerPro enrolments.

SPEC section 4. Pure functions over small dataclasses:

* :func:`build_users` turns the enrolments that give Moodle access into one :class:`MoodleUser`
  per student, and reports the courses and students that cannot be exported (each with a reason);
* :func:`check_usernames` refuses usernames shared in a run or owned by another student;
* :func:`users_csv` writes the file Moodle's uploader accepts.

Who is sent, and how (new, changed, suspended, reactivated, renamed) is the student lifecycle's
decision: :mod:`powerpro_moodle.formats.lifecycle` (SPEC section 4b).
"""

from __future__ import annotations

import csv
import hashlib
import heapq
import io
import json
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date
from functools import cached_property
from itertools import repeat
from operator import itemgetter
from typing import TYPE_CHECKING

from powerpro_moodle.formats.summary import WARNING, Anomaly
from powerpro_moodle.formats.text_safety import looks_like_formula, neutralise

if TYPE_CHECKING:
    from powerpro_moodle.formats.lifecycle import LifecyclePlan

#: Moodle upload-user field names, in file order (``oldusername`` when a row needs it, then cohortN).
BASE_COLUMNS = ("username", "firstname", "lastname", "alternatename", "email", "idnumber", "auth", "suspended")

#: How the sync tells one student from another: PowerPro's ``StudentID`` (it survives a change of
#: StudentNumber), or the StudentNumber where no StudentID is known.
StudentKey = int | str | tuple[str, str]

# Moodle refuses to create a user without an email; this is the shape it will take.
_EMAIL = re.compile(r"^[^@\s,;<>\"']+@[^@\s,;<>\"']+\.[^@\s,;<>\"']+$")
# Moodle reads a numeric cohort value as the cohort's internal id, not its idnumber.
_NUMERIC = re.compile(r"^[+-]?\d+(\.\d*)?$")


@dataclass(frozen=True)
class EnrolmentRecord:
    """One enrolment, as ``select_export_enrolments.sql`` returns it.

    The lifecycle fields default to a provisionable enrolment (both flags ticked, ``Active``).
    """

    enrolment_id: int
    student_number: str
    first_name: str
    last_name: str
    preferred_name: str | None
    email: str | None
    course_code: str
    moodle_cohort: str | None
    student_id: int | None = None
    status: str = "Active"
    #: The course's ``EndDate``: a date, or its ISO text (SQLite), or None.
    end_date: date | str | None = None
    course_flag: bool = True
    enrolment_flag: bool = True

    @property
    def student_key(self) -> StudentKey:
        return self.student_id if self.student_id is not None else self.student_number


@dataclass(frozen=True)
class MoodleUser:
    """One row of the users file."""

    student_number: str
    username: str
    firstname: str
    lastname: str
    alternatename: str
    email: str
    auth: str
    suspended: int = 0
    cohorts: tuple[str, ...] = ()
    #: The username last sent, on a row that renames the Moodle account (``allow_renames``).
    oldusername: str = ""

    @cached_property
    def fingerprint(self) -> str:
        """A hash of everything exported for the student: a change in any of it re-sends them.

        The payload is release 0.1's, unchanged, so that a student whose data did not change is
        not re-sent after an upgrade. ``oldusername`` is an instruction for one file, not data.
        """
        payload = json.dumps(
            [
                self.username,
                self.firstname,
                self.lastname,
                self.alternatename,
                self.email,
                self.student_number,
                self.auth,
                self.suspended,
                sorted(self.cohorts),
            ],
            ensure_ascii=False,
        )
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ExportedStudent:
    """What the sync last sent Moodle for one student (a ``MoodleSyncExportState`` row).

    :param student_number: the idnumber last sent (the row's key in the table).
    :param student_id: PowerPro's ``StudentID``; None for a row release 0.1 wrote whose
        StudentNumber matched no student when the table was migrated.
    :param firstname: ... ``auth``, ``cohorts``: the rest of what was last sent; None where an
        earlier release did not record it.
    """

    student_number: str
    username: str
    fingerprint: str
    suspended: bool = False
    student_id: int | None = None
    firstname: str | None = None
    lastname: str | None = None
    alternatename: str | None = None
    email: str | None = None
    auth: str | None = None
    cohorts: tuple[str, ...] | None = None

    @classmethod
    def from_user(cls, user: MoodleUser, student_id: int | None) -> ExportedStudent:
        """What the state holds once ``user``'s row is safely on the server."""
        return cls(
            student_number=user.student_number,
            username=user.username,
            fingerprint=user.fingerprint,
            suspended=bool(user.suspended),
            student_id=student_id,
            firstname=user.firstname,
            lastname=user.lastname,
            alternatename=user.alternatename,
            email=user.email,
            auth=user.auth,
            cohorts=user.cohorts,
        )


# What json.dumps escapes (ensure_ascii=False): a value without any is written as it is.
_JSON_SPECIAL = re.compile(r'[\x00-\x1f"\\]')


def _json_inner(values: list[str]) -> list[str]:
    """Each value as json.dumps writes it, less the quotes."""
    if not _JSON_SPECIAL.search("".join(values)):
        return values
    return [json.dumps(v, ensure_ascii=False)[1:-1] if _JSON_SPECIAL.search(v) else v for v in values]


def fingerprints(users) -> list[str]:
    """:attr:`MoodleUser.fingerprint` of many active users at once: the same hashes, from columns.

    :param users: a frame (or mapping of columns) with ``username``, ``firstname``, ``lastname``,
        ``alternatename``, ``email``, ``student_number``, ``auth`` (text) and ``cohorts`` (tuples).
    """
    names = ("username", "firstname", "lastname", "alternatename", "email", "student_number", "auth")
    columns = [_json_inner(users[name].tolist()) for name in names]
    cohorts = users["cohorts"].tolist()
    parts = {}
    for group in set(cohorts):
        inner = _json_inner(sorted(group))
        parts[group] = "[" + ", ".join(f'"{c}"' for c in inner) + "]"
    payloads = [
        f'["{u}", "{f}", "{la}", "{al}", "{em}", "{n}", "{au}", 0, {parts[c]}]'
        for u, f, la, al, em, n, au, c in zip(*columns, cohorts, strict=True)
    ]
    sha256 = hashlib.sha256
    return [sha256(p.encode("utf-8")).hexdigest() for p in payloads]


def make_username(student_number: str, email: str | None, rule: str) -> str:
    """Apply the username rule. Moodle matches users on username only, and lowercases it."""
    source = email if rule == "email" else student_number
    return (source or "").strip().lower()


def _blank(value: str | None) -> bool:
    return value is None or not value.strip()


def _course_problem(cohort: str | None) -> tuple[str, str] | None:
    if _blank(cohort):
        return "no_cohort", "course is flagged for Moodle but has no Moodle cohort"
    cohort = cohort.strip()
    if _NUMERIC.match(cohort):
        return (
            "numeric_cohort",
            f"Moodle cohort {cohort!r} is numeric: Moodle would read it as a cohort's internal id, "
            "not its idnumber",
        )
    if looks_like_formula(cohort):
        return "unsafe_identifier", f"Moodle cohort {cohort!r} starts with a formula character"
    return None


def _student_problem(user: MoodleUser, raw_email: str | None) -> tuple[str, str] | None:
    if _blank(user.firstname) or _blank(user.lastname):
        return "no_name", "first name and last name are required by Moodle"
    if _blank(raw_email):
        return "no_email", "no email address: Moodle cannot create a user without one"
    if not _EMAIL.match(raw_email.strip()):
        return "bad_email", f"email {raw_email.strip()!r} is not a usable address"
    if _blank(user.username):
        return "no_username", "the username rule gives an empty username"
    for label, value in (("username", user.username), ("idnumber", user.student_number), ("email", user.email)):
        if looks_like_formula(value):
            return "unsafe_identifier", f"{label} {value!r} starts with a formula character"
    return None


def _course_problems(enrolments: list[EnrolmentRecord]) -> tuple[list[EnrolmentRecord], list[Anomaly]]:
    """The enrolments whose course has a usable cohort, and one anomaly per course that has not."""
    bad_courses: dict[str, tuple[str, str]] = {}
    left_out: dict[str, list[str]] = defaultdict(list)
    usable = []
    for rec in enrolments:
        problem = _course_problem(rec.moodle_cohort)
        if problem:
            bad_courses.setdefault(rec.course_code, problem)
            left_out[rec.course_code].append(rec.student_number)
        else:
            usable.append(rec)
    anomalies = []
    for course_code in sorted(bad_courses):
        code, reason = bad_courses[course_code]
        students = sorted(set(left_out[course_code]))
        n = len(left_out[course_code])
        anomalies.append(
            Anomaly(
                "course",
                course_code,
                code,
                f"{reason}; its {n} enrolment(s) were not exported",
                # Which students are waiting on the fix (a sample: a big course is one anomaly).
                data={"enrolments": n, "students": students[:50]},
            )
        )
    return usable, anomalies


def user_of(first: EnrolmentRecord, cohorts: Iterable[str], *, auth: str, username_rule: str) -> MoodleUser:
    """A student's row as PowerPro holds them today (names not yet neutralised)."""
    return MoodleUser(
        student_number=first.student_number,
        username=make_username(first.student_number, first.email, username_rule),
        # Names are exported as entered (a leading tab or CR is neutralised, not hidden).
        firstname=first.first_name or "",
        lastname=first.last_name or "",
        alternatename=first.preferred_name or "",
        email=(first.email or "").strip(),
        auth=auth,
        cohorts=tuple(sorted({c.strip() for c in cohorts})),
    )


def neutralised(user: MoodleUser) -> tuple[MoodleUser, list[str]]:
    """``user`` with formula-like names prefixed with a quote, and which names were."""
    unsafe = [name for name in ("firstname", "lastname", "alternatename") if looks_like_formula(getattr(user, name))]
    if not unsafe:
        return user, []
    return replace(user, **{name: neutralise(getattr(user, name)) for name in unsafe}), unsafe


def build_users(
    enrolments: Iterable[EnrolmentRecord], *, auth: str = "manual", username_rule: str = "student_number"
) -> tuple[dict[StudentKey, MoodleUser], list[Anomaly]]:
    """One :class:`MoodleUser` per student of ``enrolments`` (the ones that give Moodle access),
    with the cohorts of their courses; the courses and students that cannot be exported are
    anomalies instead.

    :return: the users by :attr:`EnrolmentRecord.student_key`, and the anomalies.
    """
    usable, anomalies = _course_problems(list(enrolments))
    by_student: dict[StudentKey, list[EnrolmentRecord]] = defaultdict(list)
    for rec in usable:
        by_student[rec.student_key].append(rec)

    users: dict[StudentKey, MoodleUser] = {}
    for key, recs in sorted(by_student.items(), key=lambda kv: kv[1][0].student_number):
        first = recs[0]
        user = user_of(first, (r.moodle_cohort for r in recs), auth=auth, username_rule=username_rule)
        problem = _student_problem(user, first.email)
        if problem:
            anomalies.append(Anomaly("student", first.student_number, *problem))
            continue
        user, unsafe = neutralised(user)
        if unsafe:
            anomalies.append(
                Anomaly(
                    "student",
                    first.student_number,
                    "formula_neutralised",
                    f"{', '.join(unsafe)} started with a formula character and was prefixed with a quote",
                    level=WARNING,
                )
            )
        users[key] = user
    return users, anomalies


def check_usernames(
    users: Mapping[StudentKey, MoodleUser], owners: Mapping[str, StudentKey], numbers: Mapping[StudentKey, str]
) -> tuple[dict[StudentKey, MoodleUser], list[Anomaly]]:
    """Usernames must be unique: in this run, and against what was exported before.

    :param owners: the student each username already sent to Moodle belongs to.
    :param numbers: the StudentNumber (last sent) of each owner, to name them.
    :return: the users that may be sent, and a ``username_clash`` anomaly for each other one.
    """
    by_username: dict[str, list[tuple[StudentKey, MoodleUser]]] = defaultdict(list)
    for key, user in users.items():
        by_username[user.username].append((key, user))
    accepted: dict[StudentKey, MoodleUser] = {}
    anomalies = []
    for username, sharing in by_username.items():
        owner = owners.get(username)
        names = sorted(u.student_number for _, u in sharing)
        for key, user in sharing:
            if owner is not None and owner != key:
                reason = f"username {username!r} already belongs to StudentNumber {numbers.get(owner, '?')} in Moodle"
            elif owner is None and len(sharing) > 1:
                others = [n for n in names if n != user.student_number]
                # Name a few: thousands sharing one placeholder email must not give megabytes of log.
                named = ", ".join(others[:5]) + (f" and {len(others) - 5} others" if len(others) > 5 else "")
                reason = f"username {username!r} would be shared with StudentNumber {named}"
            else:
                accepted[key] = user
                continue
            anomalies.append(Anomaly("student", user.student_number, "username_clash", reason))
    return accepted, anomalies


def plan_users_export(
    enrolments: Iterable[EnrolmentRecord],
    exported: Mapping[StudentKey, ExportedStudent],
    *,
    auth: str = "manual",
    username_rule: str = "student_number",
    full_resync: bool = False,
) -> LifecyclePlan:
    """Plan a run from enrolments that are all provisionable (the lifecycle fields at their
    defaults): :func:`powerpro_moodle.formats.lifecycle.plan_lifecycle` with default settings.

    :param exported: what was last sent, per student (the keys are not used).
    """
    from powerpro_moodle.formats.lifecycle import plan_lifecycle
    from powerpro_moodle.formats.settings import Settings

    settings = Settings(moodle_auth=auth, username_rule=username_rule)
    return plan_lifecycle(enrolments, exported.values(), settings=settings, run_date=None, full_resync=full_resync)


def users_csv(users: Iterable[MoodleUser], bulk=None) -> bytes:
    """The users file: UTF-8 without BOM, RFC 4180, one header row of Moodle field names.

    There are as many ``cohortN`` columns as the student with the most cohorts needs, and at
    least ``cohort1`` (a suspended student's cells are empty, which the uploader skips).
    ``oldusername`` is a column only when a row renames an account: Moodle's uploader skips a
    row that has one unless ``--uuallowrenames=1``.

    :param users: rows, in the order given.
    :param bulk: more active rows, as columns (``username`` … ``auth``, ``student_number``,
        ``cohorts``; the new students :mod:`lifecycle_frames` decided), merged in by username;
        ``users`` must then be in username order too.
    """
    users = list(users)
    widths = [len(u.cohorts) for u in users]
    if bulk is not None and len(bulk):
        widths.append(max(map(len, bulk["cohorts"].tolist())))
    width = max(widths, default=1) or 1
    renames = any(u.oldusername for u in users)
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(
        [*BASE_COLUMNS, *(["oldusername"] if renames else []), *(f"cohort{i}" for i in range(1, width + 1))]
    )
    blanks = ("",) * width
    rows = [
        (u.username, u.firstname, u.lastname, u.alternatename, u.email, u.student_number, u.auth, u.suspended,
         *((u.oldusername,) if renames else ()), *u.cohorts, *blanks[len(u.cohorts):])
        for u in users
    ]
    if bulk is not None and len(bulk):
        # Column-wise: each distinct set of cohorts padded once.
        sets = bulk["cohorts"].tolist()
        padded = {c: (*c, *blanks[len(c):]) for c in set(sets)}
        cohorts = [padded[c] for c in sets]
        more = zip(*(bulk[name].tolist() for name in ("username", "firstname", "lastname", "alternatename", "email",
                                                      "student_number", "auth")),
                   repeat(0), *((repeat(""),) if renames else ()), *zip(*cohorts, strict=True), strict=False)
        if rows:
            writer.writerows(heapq.merge(rows, more, key=itemgetter(0)))
            return buf.getvalue().encode("utf-8")
        rows = more
    writer.writerows(rows)
    return buf.getvalue().encode("utf-8")


def users_file_name(run_time_utc) -> str:
    """``powerpro_users_<UTC yyyymmddTHHMMSSZ>.csv`` for a run's own (UTC) time."""
    return f"powerpro_users_{run_time_utc:%Y%m%dT%H%M%SZ}.csv"


#: How the one-line message names each reason a record was not exported.
REFUSED_WORDS = {
    "no_cohort": "no cohort",
    "numeric_cohort": "numeric cohort",
    "unsafe_identifier": "formula-like identifier",
    "no_email": "no email",
    "bad_email": "bad email",
    "no_name": "no name",
    "no_username": "no username",
    "username_clash": "username clash",
    "student_number_changed": "StudentNumber changed",
    "student_number_clash": "StudentNumber still recorded for another student",
    "student_number_shared": "StudentNumber shared by two students",
}
