"""From Moodle completions to PowerPro unit outcomes: the rules and the matching decision.

SPEC section 5. No database here: the caller reads the students, the course-to-unit mapping
and the EnrolmentUnit rows, and this module decides, row by row and with a reason for every
row it leaves out, what to write:

* :func:`outcome_for` applies the outcome rules to one completion row;
* :func:`choose_target` picks the EnrolmentUnit row when a student has the unit under
  several enrolments (course transfer);
* :func:`plan_outcomes` turns a parsed completion file into the writes, the counts and the
  anomalies and errors-file entries.

Identifiers are compared stripped and case-insensitively, as SQL Server's default collation
compares them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from powerpro_moodle.formats.completion_file import CompletionFile, CompletionRow
from powerpro_moodle.formats.ids import id_key
from powerpro_moodle.formats.settings import OutcomeRules
from powerpro_moodle.formats.summary import REJECTED, WARNING, Anomaly, AnomalyLog, count_codes, plural

#: ``OutcomeSource`` of the outcomes this sync writes; only those (or empty outcomes) are rewritten.
MOODLE_SOURCE = "Moodle sync"

#: Kinds :func:`outcome_for` returns.
NOT_COMPLETED = "not_completed"
COMPETENT = "competent"
NOT_YET_COMPETENT = "not_yet_competent"


@dataclass(frozen=True)
class EnrolmentUnitRow:
    """One PowerPro ``EnrolmentUnit`` row with its enrolment's status and the student's number."""

    enrolment_unit_id: int
    enrolment_id: int
    enrolment_status: str
    student_number: str
    unit_code: str
    outcome_code: str | None
    outcome_date: date | None
    outcome_source: str | None


@dataclass(frozen=True)
class OutcomeWrite:
    """One outcome to write (with ``OutcomeSource = MOODLE_SOURCE``).

    :param row: the completion file's data row it comes from.
    """

    enrolment_unit_id: int
    outcome_code: str
    outcome_date: date
    student_number: str
    unit_code: str
    row: int


@dataclass
class OutcomePlan:
    """What applying one completion file means.

    Counts are per completion row and unit: a Moodle course that stands for three units counts
    three times.

    :param writes: the outcomes to write, in file order.
    :param up_to_date: already holding what Moodle would write (including a manual outcome equal to it).
    :param not_completed: course not completed: nothing to write.
    :param not_yet_competent: failing grade with no outcome configured for it: reported, not written.
    :param superseded: a later completion in the same file went to the same EnrolmentUnit row.
    :param anomalies: rejected rows and conflicts (:data:`REJECTED`); transfer choices,
        not-yet-competent candidates and superseded rows (:data:`WARNING`).
    :param errors: the errors-file entries: each rejected row's original values plus ``row`` and ``reason``.
    """

    writes: list[OutcomeWrite] = field(default_factory=list)
    up_to_date: int = 0
    not_completed: int = 0
    not_yet_competent: int = 0
    superseded: int = 0
    anomalies: list[Anomaly] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)

    @property
    def rows_written(self) -> int:
        return len(self.writes)

    @property
    def rows_skipped(self) -> int:
        return self.up_to_date + self.not_completed + self.not_yet_competent + self.superseded

    @property
    def rows_rejected(self) -> int:
        return sum(1 for a in self.anomalies if a.level == REJECTED)


_norm = id_key


def as_date(value: Any) -> date | None:
    """A DATE column's value as a date: pymssql returns a date, SQLite the ISO text."""
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def units_for_courses(rows: Iterable[Mapping[str, Any]]) -> dict[str, list[str]]:
    """The units each Moodle course stands for, from ``select_completion_course_units.sql`` rows
    (``course_key``, ``unit_code``, ``mapped``): an explicit ``MoodleCourseUnit`` mapping wins
    over a UnitCode equal to the course idnumber."""
    mapped: dict[str, list[str]] = defaultdict(list)
    direct: dict[str, list[str]] = defaultdict(list)
    for r in rows:
        (mapped if r["mapped"] else direct)[id_key(r["course_key"])].append(r["unit_code"])
    return {**direct, **mapped}


def _is_active(row: EnrolmentUnitRow) -> bool:
    return _norm(row.enrolment_status) == "ACTIVE"


def outcome_for(row: CompletionRow, rules: OutcomeRules, tz: ZoneInfo) -> tuple[str, str | None, date | None]:
    """Apply the outcome rules to one completion row.

    :param tz: the RTO's timezone: the outcome date is the completion's date *there*
        (14:30 UTC on 31 March 2026 is 1 April in Australia/Sydney).
    :returns: ``(kind, code, date)``: kind is :data:`NOT_COMPLETED` (code and date ``None``),
        :data:`COMPETENT` (``rules.competent``) or :data:`NOT_YET_COMPETENT`
        (``rules.not_yet_competent``, ``None`` when it is only reported).
    """
    if row.completed_at is None:
        return NOT_COMPLETED, None, None
    day = row.completed_at.astimezone(tz).date()
    # Moodle has no failed state at course level: "not competent" can only come from the grade.
    if row.gradepass is None or row.finalgrade is None or row.finalgrade >= row.gradepass:
        return COMPETENT, rules.competent, day
    return NOT_YET_COMPETENT, rules.not_yet_competent, day


def choose_target(rows: Sequence[EnrolmentUnitRow]) -> tuple[EnrolmentUnitRow, str | None]:
    """Pick the EnrolmentUnit row a student's unit outcome goes to.

    The row under an ``Active`` enrolment wins, newest (highest) ``EnrolmentID`` first;
    otherwise the newest enrolment. Ties within one enrolment go to the highest
    ``EnrolmentUnitID``, so the choice is always the same.

    :param rows: the student's rows for one unit (at least one).
    :returns: the row, and a sentence explaining the choice when there was one to make.
    """
    if not rows:
        raise ValueError("choose_target needs at least one EnrolmentUnit row")
    target = max(rows, key=lambda r: (_is_active(r), r.enrolment_id, r.enrolment_unit_id))
    if len(rows) == 1:
        return target, None
    listed = ", ".join(
        f"{r.enrolment_id} ({r.enrolment_status})"
        for r in sorted(rows, key=lambda r: (r.enrolment_id, r.enrolment_unit_id))
    )
    actives = sum(1 for r in rows if _is_active(r))
    if actives > 1:
        choice = f"the outcome goes to enrolment {target.enrolment_id} (Active, newest)"
    elif actives == 1:
        choice = f"the outcome goes to enrolment {target.enrolment_id} (Active)"
    else:
        choice = f"none is Active, so the outcome goes to enrolment {target.enrolment_id} (newest)"
    return target, (
        f"StudentNumber {target.student_number} has unit {target.unit_code} under enrolments {listed}: {choice}"
    )


def plan_outcomes(
    file: CompletionFile,
    students: Mapping[str, str | Sequence[str]],
    course_units: Mapping[str, Sequence[str]],
    enrolment_units: Sequence[EnrolmentUnitRow],
    rules: OutcomeRules,
    tz: ZoneInfo,
) -> OutcomePlan:
    """Decide what a completion file writes to PowerPro.

    Per completion row, in this order: unknown student, unknown course or unit, and (per
    unit) no EnrolmentUnit row for it are rejected; then a not-completed course is counted
    and a failing grade with no outcome configured is reported; otherwise the outcome goes to
    the row :func:`choose_target` picks, unless that row holds an outcome from a person or
    another source (a conflict, unless it already equals Moodle's) or already holds it. Two rows
    of the file for one EnrolmentUnit row (say a cluster course and the unit's own course): the
    latest completion wins, then the later row, so reruns agree.

    The decisions are made by :func:`outcome_frames.plan_rows` (over columns); the resulting DAG
    calls it on parts of a file, this on a whole file held in memory.

    :param file: the parsed completion file; its bad rows are reported here too.
    :param students: upper-cased ``user_idnumber`` → the PowerPro StudentNumbers that match it
        case-insensitively (one is a match; several, possible under a case-sensitive collation,
        are ambiguous and the row is refused).
    :param course_units: upper-cased ``course_idnumber`` → the UnitCodes it stands for (an explicit
        MoodleCourseUnit mapping already preferred over the UnitCode itself).
    :param enrolment_units: every EnrolmentUnit row of those students.
    :param rules: what a completion becomes.
    :param tz: the RTO's timezone, for the outcome date.
    """
    from powerpro_moodle.formats.outcome_frames import ListRows, Note, eu_frame, plan_rows, student_candidates

    notes = [Note((0, bad.row, 0, 0), bad.to_anomaly(), {**bad.original, "row": bad.row, "reason": bad.reason})
             for bad in file.bad_rows]
    # Re-key defensively: the caller's keys are meant to be upper-cased already.
    planned = plan_rows(ListRows(file.rows), student_candidates(students), course_units, eu_frame(enrolment_units),
                        rules, tz)
    notes = sorted([*notes, *planned.notes], key=lambda n: n.position)
    w = planned.writes
    return OutcomePlan(
        writes=[
            OutcomeWrite(int(e), c, d, s, u, int(r))
            for e, c, d, s, u, r in zip(w["enrolment_unit_id"], w["outcome_code"], w["outcome_date"],
                                        w["student_number"], w["unit_code"], w["row"], strict=True)
        ],
        up_to_date=planned.up_to_date,
        not_completed=planned.not_completed,
        not_yet_competent=planned.not_yet_competent,
        superseded=planned.superseded,
        anomalies=[n.anomaly for n in notes],
        errors=[n.error for n in notes if n.error is not None],
    )


@dataclass
class PlanTotals:
    """What applying a completion file meant, as counts: a plan too big to hold (the resulting
    DAG streams its files), with the anomalies in a bounded :class:`AnomalyLog`."""

    anomalies: AnomalyLog
    rows_written: int = 0
    up_to_date: int = 0
    not_completed: int = 0
    not_yet_competent: int = 0
    superseded: int = 0

    @property
    def rows_skipped(self) -> int:
        return self.up_to_date + self.not_completed + self.not_yet_competent + self.superseded

    @property
    def rows_rejected(self) -> int:
        return self.anomalies.count(REJECTED)


#: How the one-line message names each kind of refused row: (one, many).
REJECTED_WORDS = {
    "conflict": ("conflict with a manual result", "conflicts with manual results"),
    "unknown_student": ("unknown student", "unknown students"),
    "ambiguous_student": ("student id matching several students", "student ids matching several students"),
    "unknown_unit": ("unknown unit", "unknown units"),
    "ambiguous_unit": ("course id matching several units", "course ids matching several units"),
    "not_enrolled": ("student not enrolled in the unit", "students not enrolled in the unit"),
    "bad_row": ("malformed row", "malformed rows"),
    "bad_time": ("bad completion time", "bad completion times"),
    "bad_grade": ("bad grade", "bad grades"),
    "missing_id": ("row without an id", "rows without an id"),
    "duplicate_conflict": ("contradicting duplicate row", "contradicting duplicate rows"),
}


def describe_plan(plan: OutcomePlan | PlanTotals, rows_read: int, dry_run: bool) -> str:
    """The one-line message staff read, e.g. "applied 120 outcomes from 130 rows, 3 conflicts with
    manual results, 7 not completed"."""
    verb = "dry run: would apply" if dry_run else "applied"
    parts = [f"{verb} {plural(plan.rows_written, 'outcome')} from {plural(rows_read, 'row')}"]
    for code, n in sorted(count_codes(plan.anomalies, REJECTED).items(), key=lambda kv: (-kv[1], kv[0])):
        one, many = REJECTED_WORDS.get(code, (code, code))
        parts.append(f"{n} {one if n == 1 else many}")
    if plan.up_to_date:
        parts.append(f"{plan.up_to_date} already up to date")
    if plan.not_completed:
        parts.append(f"{plan.not_completed} not completed")
    if plan.not_yet_competent:
        parts.append(f"{plural(plan.not_yet_competent, 'not-yet-competent candidate')} for a trainer")
    transfers = count_codes(plan.anomalies, WARNING)["transfer"]
    if transfers:
        parts.append(f"{plural(transfers, 'course transfer')} resolved")
    return ", ".join(parts)
