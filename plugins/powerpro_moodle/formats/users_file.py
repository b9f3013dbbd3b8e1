"""Moodle's *Upload users* file (admin/tool/uploaduser), built from PowerPro enrolments.

SPEC section 4. Pure functions over small dataclasses:

* :func:`plan_users_export` turns the provisionable enrolments and what was exported before
  into the students to send, the unchanged ones and the anomalies (each with a reason);
* :func:`users_csv` writes the file Moodle's uploader accepts.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property

from powerpro_moodle.formats.summary import REJECTED, WARNING, Anomaly, count_codes, plural
from powerpro_moodle.formats.text_safety import looks_like_formula, neutralise

#: Moodle upload-user field names, in file order (cohortN follow).
BASE_COLUMNS = ("username", "firstname", "lastname", "alternatename", "email", "idnumber", "auth", "suspended")

# Moodle refuses to create a user without an email; this is the shape it will take.
_EMAIL = re.compile(r"^[^@\s,;<>\"']+@[^@\s,;<>\"']+\.[^@\s,;<>\"']+$")
# Moodle reads a numeric cohort value as the cohort's internal id, not its idnumber.
_NUMERIC = re.compile(r"^[+-]?\d+(\.\d*)?$")


@dataclass(frozen=True)
class EnrolmentRecord:
    """One provisionable enrolment, as ``select_provisionable_enrolments.sql`` returns it."""

    enrolment_id: int
    student_number: str
    first_name: str
    last_name: str
    preferred_name: str | None
    email: str | None
    course_code: str
    moodle_cohort: str | None


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

    @cached_property
    def fingerprint(self) -> str:
        """A hash of everything exported for the student: a change in any of it re-sends them."""
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
    """What the sync last sent Moodle for one student (``MoodleSyncExportState``)."""

    student_number: str
    username: str
    fingerprint: str
    suspended: bool = False


@dataclass
class UsersPlan:
    """The outcome of planning one provisioning run."""

    rows_read: int
    to_send: list[MoodleUser] = field(default_factory=list)
    new_students: int = 0
    unchanged: list[MoodleUser] = field(default_factory=list)
    anomalies: list[Anomaly] = field(default_factory=list)

    @property
    def rejected(self) -> int:
        return sum(1 for a in self.anomalies if a.level == REJECTED)


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


def plan_users_export(
    enrolments: Iterable[EnrolmentRecord],
    exported: Mapping[str, ExportedStudent],
    *,
    auth: str = "manual",
    username_rule: str = "student_number",
    full_resync: bool = False,
) -> UsersPlan:
    """Decide who goes into the users file.

    :param enrolments: the provisionable enrolments (both flags ticked, provisioned status).
    :param exported: the last export per StudentNumber.
    :param auth: Moodle ``auth`` for the users.
    :param username_rule: see :func:`make_username`.
    :param full_resync: send every exportable student, changed or not.
    """
    enrolments = list(enrolments)
    plan = UsersPlan(rows_read=len(enrolments))

    bad_courses: dict[str, tuple[str, str]] = {}
    left_out: dict[str, list[str]] = defaultdict(list)
    by_student: dict[str, list[EnrolmentRecord]] = defaultdict(list)
    for rec in enrolments:
        problem = _course_problem(rec.moodle_cohort)
        if problem:
            bad_courses.setdefault(rec.course_code, problem)
            left_out[rec.course_code].append(rec.student_number)
        else:
            by_student[rec.student_number].append(rec)
    for course_code in sorted(bad_courses):
        code, reason = bad_courses[course_code]
        students = sorted(set(left_out[course_code]))
        n = len(left_out[course_code])
        plan.anomalies.append(
            Anomaly(
                "course",
                course_code,
                code,
                f"{reason}; its {n} enrolment(s) were not exported",
                # Which students are waiting on the fix (a sample: a big course is one anomaly).
                data={"enrolments": n, "students": students[:50]},
            )
        )

    candidates: list[MoodleUser] = []
    for student_number in sorted(by_student):
        recs = by_student[student_number]
        first = recs[0]
        user = MoodleUser(
            student_number=student_number,
            username=make_username(student_number, first.email, username_rule),
            # Names are exported as entered (a leading tab or CR is neutralised below, not hidden).
            firstname=first.first_name or "",
            lastname=first.last_name or "",
            alternatename=first.preferred_name or "",
            email=(first.email or "").strip(),
            auth=auth,
            cohorts=tuple(sorted({r.moodle_cohort.strip() for r in recs})),
        )
        problem = _student_problem(user, first.email)
        if problem:
            plan.anomalies.append(Anomaly("student", student_number, *problem))
            continue
        unsafe = [name for name in ("firstname", "lastname", "alternatename") if looks_like_formula(getattr(user, name))]
        if unsafe:
            user = replace(user, **{name: neutralise(getattr(user, name)) for name in unsafe})
            plan.anomalies.append(
                Anomaly(
                    "student",
                    student_number,
                    "formula_neutralised",
                    f"{', '.join(unsafe)} started with a formula character and was prefixed with a quote",
                    level=WARNING,
                )
            )
        candidates.append(user)

    # Usernames must be unique: in this run, and against what was exported before.
    owner_of = {state.username: state.student_number for state in exported.values()}
    by_username: dict[str, list[MoodleUser]] = defaultdict(list)
    for user in candidates:
        by_username[user.username].append(user)
    accepted: list[MoodleUser] = []
    for username, users in by_username.items():
        owner = owner_of.get(username)
        numbers = sorted(u.student_number for u in users)
        for user in users:
            if owner is not None and owner != user.student_number:
                reason = f"username {username!r} already belongs to StudentNumber {owner} in Moodle"
            elif owner is None and len(users) > 1:
                others = [n for n in numbers if n != user.student_number]
                # Name a few: thousands sharing one placeholder email must not give megabytes of log.
                named = ", ".join(others[:5]) + (f" and {len(others) - 5} others" if len(others) > 5 else "")
                reason = f"username {username!r} would be shared with StudentNumber {named}"
            else:
                accepted.append(user)
                continue
            plan.anomalies.append(Anomaly("student", user.student_number, "username_clash", reason))

    for user in sorted(accepted, key=lambda u: u.username):
        before = exported.get(user.student_number)
        if before is None:
            plan.new_students += 1
            plan.to_send.append(user)
        elif full_resync or before.suspended or before.fingerprint != user.fingerprint:
            plan.to_send.append(user)
        else:
            plan.unchanged.append(user)
    return plan


def users_csv(users: Iterable[MoodleUser]) -> bytes:
    """The users file: UTF-8 without BOM, RFC 4180, one header row of Moodle field names.

    There are as many ``cohortN`` columns as the student with the most cohorts needs.
    """
    users = list(users)
    width = max((len(u.cohorts) for u in users), default=0)
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow([*BASE_COLUMNS, *(f"cohort{i}" for i in range(1, width + 1))])
    for u in users:
        cohorts = list(u.cohorts) + [""] * (width - len(u.cohorts))
        writer.writerow(
            [u.username, u.firstname, u.lastname, u.alternatename, u.email, u.student_number, u.auth, u.suspended, *cohorts]
        )
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
}


def describe_export(plan: UsersPlan, file_name: str | None, dry_run: bool) -> str:
    """The one-line message staff read in the sync log."""
    sent = len(plan.to_send)
    changed = sent - plan.new_students
    if dry_run:
        head = (
            f"dry run: would send {plural(sent, 'student')} ({plan.new_students} new, {changed} changed); "
            "nothing uploaded or recorded"
        )
    elif sent:
        head = f"sent {plural(sent, 'student')} in {file_name} ({plan.new_students} new, {changed} changed)"
    else:
        head = "nothing to send, no file uploaded"
    parts = [head, f"{plural(len(plan.unchanged), 'student')} unchanged"]
    rejected = [a for a in plan.anomalies if a.level == REJECTED]
    refused = []
    for record in ("course", "student"):
        codes = count_codes([a for a in rejected if a.record == record])
        if codes:
            reasons = ", ".join(f"{n} {REFUSED_WORDS.get(code, code)}" for code, n in sorted(codes.items()))
            refused.append(f"{plural(sum(codes.values()), record)} ({reasons})")
    if refused:
        parts.append("not exported: " + ", ".join(refused))
    warnings = sum(1 for a in plan.anomalies if a.level == WARNING)
    if warnings:
        parts.append(f"{plural(warnings, 'warning')} (names neutralised)")
    return "; ".join(parts)
