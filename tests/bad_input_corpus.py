"""The bad-input corpus: completion files as real servers and real people deliver them, and what
the sync must do with each (SPEC section 5, "Field conditions").

Each :class:`Case` is one or more files dropped in ``/from_moodle`` of a real FTP server and run
through a real ``powerpro_moodle_resulting`` DAG run against the reference PowerPro
(``tests/test_bad_input_corpus.py``), with the exact end state a user sees: the outcomes in
PowerPro, where each file went, the errors file and the E-Learning Sync Log row.

Each case also carries what staff notice (``symptom``) and what to do (``action``): the
troubleshooting table in ``docs/troubleshooting.md`` is generated from them. Rewrite it with::

    .venv/bin/python tests/bad_input_corpus.py

The college every case starts from (built by the test's ``college`` fixture):

* students ``T001`` .. ``T010``, each under one Active enrolment with units ``TU1``, ``TU2``,
  ``TU3`` (``T007`` has no ``TU3``);
* Moodle course ``TCLUSTER`` mapped to ``TU2`` and ``TU3`` in ``MoodleCourseUnit``;
* ``T009`` ``TU1`` holds a manual RPL (``51``, no source); ``T010`` ``TU2`` holds ``20`` entered by
  a trainer;
* ``T008`` also has ``TU1`` under a newer, Withdrawn enrolment (a course transfer);
* ``S20004`` and ``s20004`` are two students, and ``AMB1`` and ``amb1`` two units, that differ
  only in case (possible on SQLite or under a case-sensitive collation); each is enrolled so that
  picking one would write.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

#: The page that holds the troubleshooting table, between the two markers.
TROUBLESHOOTING = Path(__file__).resolve().parents[1] / "docs" / "troubleshooting.md"
START, END = "<!-- troubleshooting:start -->", "<!-- troubleshooting:end -->"

#: Outcome rows as the tests compare them: (StudentNumber, UnitCode, OutcomeCode, OutcomeDate, OutcomeSource).
Outcome = tuple[str, str, str, str, str | None]

#: The outcomes the college holds before any file (entered by people).
BASELINE: tuple[Outcome, ...] = (
    ("T009", "TU1", "51", "2026-02-01", None),
    ("T010", "TU2", "20", "2026-02-02", "Trainer"),
)

MOODLE = "Moodle sync"
#: 2026-03-31 13:00 UTC: midnight starting 1 April in Sydney (AEDT, +11).
EPOCH = "1774962000"
APRIL_1 = "2026-04-01"
HEADER = "user_idnumber,course_idnumber,timecompleted,finalgrade,gradepass"
HEADER_NAME = HEADER + ",fullname"
NAME = "completions.csv"
NAME_ERRORS = "completions.errors.csv"
#: Message prefix of an applied file (after its name).
APPLIED = ": applied "


def csv_text(*rows: str, header: str = HEADER) -> str:
    """A completion file's text: the header and the rows, CRLF line ends (as Moodle writes them)."""
    return "".join(f"{line}\r\n" for line in (header, *rows))


def csv_bytes(*rows: str, header: str = HEADER) -> bytes:
    return csv_text(*rows, header=header).encode("utf-8")


def written(*pairs: tuple[str, str], day: str = APRIL_1, code: str = "20") -> frozenset[Outcome]:
    """Outcomes the sync writes: (student, unit) pairs, on ``day``, as ``code``, source Moodle sync."""
    return frozenset((student, unit, code, day, MOODLE) for student, unit in pairs)


@dataclass(frozen=True)
class Case:
    """One bad input and the exact end state it must leave.

    :param id: the pytest id: what the case shows.
    :param symptom: what RTO staff notice (the troubleshooting table).
    :param action: what to do about it (the troubleshooting table).
    :param files: ``(name, bytes)`` delivered into ``/from_moodle`` before the checked run; a name
        with a ``/`` makes a folder. The first is the file whose ``import_completion_file`` row is
        checked.
    :param says: what the checked sync log row's ``Message`` says: for the import task, the text
        right after the file name (the message starts with ``name + says``); for the list task
        (``task="list_completion_files"``), text the message contains.
    :param readme_says: the whole message (after the file name, for the import task) as the
        troubleshooting table shows it, ``<…>`` and ``…`` standing for any text; the test checks the message matches it.
    :param earlier: files delivered, and a run made, before ``files`` (a repeat delivery).
    :param settings: the ``powerpro_moodle_settings`` Variable for both runs.
    :param state: the DAG run's final state.
    :param task: whose sync log row ``says``, ``status`` and ``counts`` are about.
    :param status: that row's ``Status``.
    :param counts: that row's (RowsRead, RowsWritten, RowsRejected).
    :param skipped: that row's RowsSkipped, when checked.
    :param message_has: more text the row's ``Message`` contains.
    :param message_is: the row's whole ``Message``, when checked.
    :param written: outcomes written by the sync (PowerPro holds exactly these plus :data:`BASELINE`).
    :param inbox: the files left in ``/from_moodle``.
    :param processed: the files in ``/from_moodle/processed``.
    :param rejected: the files in ``/from_moodle/rejected``.
    :param keep: other paths that must still exist (a folder's content).
    :param errors_file: the errors file (path under ``/from_moodle``) the checked run wrote.
    :param errors: its rows as (row, reason substring), in order (all of them unless ``errors_count``).
    :param errors_count: the number of rows of the errors file, when ``errors`` lists only some.
    :param original_text: (row, the row's text as delivered) for malformed rows.
    :param errors_cells: (row, column, value) cells of the errors file, exactly.
    :param anomaly_codes: anomaly codes the row's ``Details`` holds (at least these).
    :param anomaly_counts: the row's ``Details.anomaly_counts``, exactly.
    :param details_has: text the row's ``Details`` anomalies' reasons contain.
    :param xfail: the product bug this case shows (the case states the correct behaviour).
    """

    id: str
    symptom: str
    action: str
    files: tuple[tuple[str, bytes], ...]
    says: str
    readme_says: str | None = None
    earlier: tuple[tuple[str, bytes], ...] = ()
    settings: dict | None = None
    state: str = "success"
    task: str = "import_completion_file"
    status: str = "success"
    counts: tuple[int | None, int | None, int | None] | None = None
    skipped: int | None = None
    message_has: tuple[str, ...] = ()
    message_is: str | None = None
    written: frozenset[Outcome] = frozenset()
    inbox: tuple[str, ...] = ()
    processed: tuple[str, ...] = ()
    rejected: tuple[str, ...] = ()
    keep: tuple[str, ...] = ()
    errors_file: str | None = None
    errors: tuple[tuple[str, str], ...] = ()
    errors_count: int | None = None
    original_text: tuple[tuple[str, str], ...] = ()
    errors_cells: tuple[tuple[str, str, str], ...] = ()
    anomaly_codes: tuple[str, ...] = ()
    anomaly_counts: dict[str, int] | None = None
    details_has: tuple[str, ...] = ()
    xfail: str | None = None

    @property
    def file(self) -> str:
        return self.files[0][0]

    @property
    def sync_log_says(self) -> str:
        """What the troubleshooting table shows in the "what the sync log says" column."""
        if self.task == "list_completion_files":
            return f"`{self.readme_says or self.says}` (list_completion_files)"
        shown = f"`{self.file}{self.readme_says or self.says.rstrip() + ' …'}`"
        return shown + (", and the task fails (red)" if self.status == "failed" else "")


def _applied(*rows: str, header: str = HEADER, name: str = NAME) -> tuple[tuple[str, bytes], ...]:
    return ((name, csv_bytes(*rows, header=header)),)


# -- shared wording ---------------------------------------------------------------------------

_REDELIVER = "a file with new content (a file with the same content is never applied twice)"
_ROW_FIX = (
    "Open the errors file beside the file in processed/ (it names each refused row and why), correct the data "
    "in Moodle or PowerPro, then deliver those rows again in " + _REDELIVER
)
_RESAVE = (
    "Open the file in Excel and save it as 'CSV UTF-8 (Comma delimited)', then deliver it again; the "
    "original stays in rejected/ with an .errors.csv saying why"
)
_FIX_HEADER = (
    "Fix the report's header (user_idnumber, course_idnumber, timecompleted; optionally finalgrade, "
    "gradepass) and deliver the file again; nothing of it was applied"
)
_NOTHING = "Nothing to do"

_XLSX = (
    b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00" + b"[Content_Types].xml" + b"\x00" * 40
    + b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00" + b"xl/workbook.xml" + b"\x00" * 40
)
_UTF16 = b"\xff\xfe" + csv_text(f"T001,TU1,{EPOCH},,").encode("utf-16-le")
_BIG_CELL = "x" * (10 * 1024 * 1024)


def _clipped(text: str, limit: int = 200) -> str:
    return text[:limit] + "… (truncated)"


CASES: tuple[Case, ...] = (
    # -- rows that do not match the header ------------------------------------------------------
    Case(
        id="truncated row (4 cells under a 5-column header) is bad_row, nothing written",
        symptom="A row is missing a cell (the file was cut short or a value left out)",
        action="Fix the report so every row has every column, then deliver the corrected file",
        files=_applied(f"T061,TU1,{EPOCH},4"),
        says=": applied 0 outcomes from 1 row, 1 malformed row",
        counts=(1, 0, 1),
        processed=(NAME, NAME_ERRORS),
        errors_file=f"processed/{NAME_ERRORS}",
        errors=(("1", "row has 4 cells but the header has 5 columns"),),
        original_text=(("1", f"T061,TU1,{EPOCH},4"),),
        anomaly_codes=("bad_row",),
    ),
    Case(
        id="a cell too many (unquoted 45,5) is bad_row, never shifted",
        symptom="A row has a cell too many (often a decimal comma such as 45,5 without quotes)",
        action="Fix the report so every row has exactly the header's columns (quote values holding a comma, use a "
               "dot for decimals), then deliver the corrected file",
        files=_applied(f"T015,TU1,{EPOCH},45,5,50", f"T001,TU1,{EPOCH},80,50"),
        says=": applied 1 outcome from 2 rows, 1 malformed row",
        counts=(2, 1, 1),
        written=written(("T001", "TU1")),
        processed=(NAME, NAME_ERRORS),
        errors_file=f"processed/{NAME_ERRORS}",
        errors=(("1", "row has 6 cells but the header has 5 columns"),),
        original_text=(("1", f"T015,TU1,{EPOCH},45,5,50"),),
    ),
    # -- implausible times ----------------------------------------------------------------------
    *(
        Case(
            id=f"timecompleted {value} is bad_time ({why})",
            symptom="A completion time is before 2000 or later than tomorrow",
            action="Check the report's timecompleted (Unix seconds or ISO 8601 with an offset). If a date before 2000 "
                   "is genuine, lower the setting earliest_completion_date; then deliver those rows again in "
                   + _REDELIVER,
            files=_applied(f"T001,TU1,{value},,"),
            says=": applied 0 outcomes from 1 row, 1 bad completion time",
            counts=(1, 0, 1),
            processed=(NAME, NAME_ERRORS),
            errors_file=f"processed/{NAME_ERRORS}",
            errors=(("1", reason),),
            anomaly_codes=("bad_time",),
        )
        for value, why, reason in (
            ("1", "1970", "before the earliest completion date 2000-01-01 in Australia/Sydney"),
            ("17749", "1970", "before the earliest completion date 2000-01-01 in Australia/Sydney"),
            ("4102444799", "end of 2099", "more than a day after this run started"),
            ("2100-06-01T00:00:00Z", "year 2100", "more than a day after this run started"),
        )
    ),
    Case(
        id="timecompleted in milliseconds is bad_time",
        symptom="A completion time is in milliseconds (13 digits)",
        action="Make the report give timecompleted in seconds, then deliver those rows again in " + _REDELIVER,
        files=_applied(f"T001,TU1,{EPOCH}000,,"),
        says=": applied 0 outcomes from 1 row, 1 bad completion time",
        counts=(1, 0, 1),
        processed=(NAME, NAME_ERRORS),
        errors_file=f"processed/{NAME_ERRORS}",
        errors=(("1", "later than the year 2100 as Unix seconds (is it in milliseconds?)"),),
    ),
    Case(
        id="ISO time without an offset is bad_time",
        symptom="A completion time has no time zone (2026-03-31T14:30:00)",
        action="Make the report write the offset (2026-03-31T14:30:00+11:00 or …Z) or Unix seconds, then deliver "
               "those rows again in " + _REDELIVER,
        files=_applied("T001,TU1,2026-03-31T14:30:00,,"),
        says=": applied 0 outcomes from 1 row, 1 bad completion time",
        counts=(1, 0, 1),
        processed=(NAME, NAME_ERRORS),
        errors_file=f"processed/{NAME_ERRORS}",
        errors=(("1", "has no UTC offset"),),
    ),
    Case(
        id="negative epoch is bad_time",
        symptom="A completion time is negative or not a time at all (31/03/2026)",
        action="Make the report give timecompleted as Unix seconds or ISO 8601 with an offset, then deliver those "
               "rows again in " + _REDELIVER,
        files=_applied(f"T001,TU1,-{EPOCH},,"),
        says=": applied 0 outcomes from 1 row, 1 bad completion time",
        counts=(1, 0, 1),
        processed=(NAME, NAME_ERRORS),
        errors_file=f"processed/{NAME_ERRORS}",
        errors=(("1", "is negative"),),
    ),
    Case(
        id="a local date 31/03/2026 is bad_time",
        symptom="A completion time is negative or not a time at all (31/03/2026)",
        action="Make the report give timecompleted as Unix seconds or ISO 8601 with an offset, then deliver those "
               "rows again in " + _REDELIVER,
        files=_applied("T001,TU1,31/03/2026,,"),
        says=": applied 0 outcomes from 1 row, 1 bad completion time",
        counts=(1, 0, 1),
        processed=(NAME, NAME_ERRORS),
        errors_file=f"processed/{NAME_ERRORS}",
        errors=(("1", "is neither Unix seconds nor an ISO 8601 time with a UTC offset"),),
    ),
    Case(
        id="0, empty and - are not completed: nothing written, counted as skipped",
        symptom="Rows with timecompleted 0, empty or - wrote nothing",
        action=_NOTHING + ": the course is not completed yet; the outcome is written once Moodle reports a "
               "completion time",
        files=_applied("T001,TU1,0,,", "T002,TU1,,,", "T003,TU1,-,,"),
        says=": applied 0 outcomes from 3 rows, 3 not completed",
        counts=(3, 0, 0),
        skipped=3,
        processed=(NAME,),
    ),
    Case(
        id="14:30 UTC on 31 March is 1 April in Sydney; 12:59:59 UTC is still 31 March",
        symptom="An outcome date is a day later than the UTC date in the file",
        action=_NOTHING + ": outcome dates are the completion's date in the RTO's timezone (setting timezone)",
        files=_applied("T004,TU1,2026-03-31T14:30:00Z,,", "T004,TU2,2026-03-31T12:59:59Z,,"),
        says=": applied 2 outcomes from 2 rows",
        counts=(2, 2, 0),
        written=written(("T004", "TU1")) | written(("T004", "TU2"), day="2026-03-31"),
        processed=(NAME,),
    ),
    # -- grades -----------------------------------------------------------------------------------
    *(
        Case(
            id=f"finalgrade {value} is bad_grade",
            symptom="A grade is not a plain number (85,5, NaN, 1e2)",
            action="Make the report write grades with digits and a dot (85.5), then deliver those rows again in "
                   + _REDELIVER,
            files=_applied(f"T001,TU1,{EPOCH},{cell},50"),
            says=": applied 0 outcomes from 1 row, 1 bad grade",
            counts=(1, 0, 1),
            processed=(NAME, NAME_ERRORS),
            errors_file=f"processed/{NAME_ERRORS}",
            errors=(("1", f"finalgrade '{value}' is not a number"),),
            anomaly_codes=("bad_grade",),
        )
        for value, cell in (("85,5", '"85,5"'), ("NaN", "NaN"), ("1e2", "1e2"))
    ),
    Case(
        id="failing grade is not written by default, reported for a trainer",
        symptom="A student who failed the Moodle course got no outcome",
        action="A trainer assesses the not-yet-competent candidate listed in the sync log's Details and enters "
               "the outcome in PowerPro (or set outcome_rules.not_yet_competent to write one)",
        files=_applied(f"T001,TU1,{EPOCH},40,50"),
        says=": applied 0 outcomes from 1 row, 1 not-yet-competent candidate for a trainer",
        counts=(1, 0, 0),
        skipped=1,
        processed=(NAME,),
        anomaly_codes=("not_yet_competent",),
        details_has=("grade 40 below the pass mark 50",),
    ),
    # -- ids ----------------------------------------------------------------------------------------
    Case(
        id="S20004 vs s20004 is ambiguous_student, written to neither",
        symptom="Two PowerPro students differ only in letter case (S20004 and s20004)",
        action="Renumber or merge the duplicate student in PowerPro, then deliver those rows again in " + _REDELIVER,
        files=_applied(f"S20004,TU1,{EPOCH},,"),
        says=": applied 0 outcomes from 1 row, 1 student id matching several students",
        counts=(1, 0, 1),
        processed=(NAME, NAME_ERRORS),
        errors_file=f"processed/{NAME_ERRORS}",
        errors=(("1", "matches 2 PowerPro students (S20004, s20004)"),),
        anomaly_codes=("ambiguous_student",),
    ),
    Case(
        id="AMB1 vs amb1 is ambiguous_unit, written to neither",
        symptom="Two PowerPro units differ only in letter case (AMB1 and amb1)",
        action="Rename one of the units in PowerPro or map the Moodle course in MoodleCourseUnit, then deliver "
               "those rows again in " + _REDELIVER,
        files=_applied(f"T001,AMB1,{EPOCH},,"),
        says=": applied 0 outcomes from 1 row, 1 course id matching several units",
        counts=(1, 0, 1),
        processed=(NAME, NAME_ERRORS),
        errors_file=f"processed/{NAME_ERRORS}",
        errors=(("1", "differ only in case (AMB1, amb1)"),),
        anomaly_codes=("ambiguous_unit",),
    ),
    Case(
        id="zero-width space in an id is unknown_student, shown escaped",
        symptom="A student 'is not found' although the id looks right",
        action="The id holds an invisible or look-alike character, shown escaped in the errors file (T001\\u200b). "
               "Retype the user's idnumber in Moodle, then deliver the row again in " + _REDELIVER,
        files=_applied(f"T001\u200b,TU1,{EPOCH},,"),
        says=": applied 0 outcomes from 1 row, 1 unknown student",
        counts=(1, 0, 1),
        processed=(NAME, NAME_ERRORS),
        errors_file=f"processed/{NAME_ERRORS}",
        errors=(("1", "Moodle user_idnumber T001\\u200b matches no PowerPro StudentNumber"),),
        details_has=("T001\\u200b",),
    ),
    Case(
        id="Cyrillic look-alike id is unknown_student, shown escaped",
        symptom="A student 'is not found' although the id looks right",
        action="The id holds an invisible or look-alike character, shown escaped in the errors file (T001\\u200b). "
               "Retype the user's idnumber in Moodle, then deliver the row again in " + _REDELIVER,
        files=_applied(f"\u0422001,TU1,{EPOCH},,"),
        says=": applied 0 outcomes from 1 row, 1 unknown student",
        counts=(1, 0, 1),
        processed=(NAME, NAME_ERRORS),
        errors_file=f"processed/{NAME_ERRORS}",
        errors=(("1", "Moodle user_idnumber \\u0422001 matches no PowerPro StudentNumber"),),
        details_has=("\\u0422001",),
    ),
    Case(
        id="spaces around ids still match",
        symptom="Ids have spaces around them or are in lower case",
        action=_NOTHING + ": ids are compared trimmed and case-insensitively, as SQL Server does",
        files=_applied(f"  T001 , TU1 ,{EPOCH},,"),
        says=": applied 1 outcome from 1 row",
        counts=(1, 1, 0),
        written=written(("T001", "TU1")),
        processed=(NAME,),
    ),
    Case(
        id="lowercase ids match",
        symptom="Ids have spaces around them or are in lower case",
        action=_NOTHING + ": ids are compared trimmed and case-insensitively, as SQL Server does",
        files=_applied(f"t002,tu2,{EPOCH},,"),
        says=": applied 1 outcome from 1 row",
        counts=(1, 1, 0),
        written=written(("T002", "TU2")),
        processed=(NAME,),
    ),
    Case(
        id="empty user_idnumber is missing_id",
        symptom="A row has no student or course id",
        action="Give the user an idnumber (= the PowerPro StudentNumber) in Moodle, then deliver the row again in "
               + _REDELIVER,
        files=_applied(f",TU1,{EPOCH},,"),
        says=": applied 0 outcomes from 1 row, 1 row without an id",
        counts=(1, 0, 1),
        processed=(NAME, NAME_ERRORS),
        errors_file=f"processed/{NAME_ERRORS}",
        errors=(("1", "user_idnumber is empty"),),
    ),
    Case(
        id="unknown course is unknown_unit",
        symptom="A Moodle course is 'neither mapped nor a UnitCode'",
        action="Set the Moodle course's idnumber to the UnitCode, or add it to MoodleCourseUnit, then deliver the "
               "rows again in " + _REDELIVER,
        files=_applied(f"T001,NOPE1,{EPOCH},,"),
        says=": applied 0 outcomes from 1 row, 1 unknown unit",
        counts=(1, 0, 1),
        processed=(NAME, NAME_ERRORS),
        errors_file=f"processed/{NAME_ERRORS}",
        errors=(("1", "Moodle course_idnumber NOPE1 is neither mapped in MoodleCourseUnit nor a PowerPro UnitCode"),),
    ),
    Case(
        id="student not enrolled in the unit is not_enrolled",
        symptom="A student completed a Moodle course for a unit they are not enrolled in",
        action="Enrol the student in the unit in PowerPro (or fix the Moodle enrolment), then deliver the row again "
               "in " + _REDELIVER,
        files=_applied(f"T007,TU3,{EPOCH},,"),
        says=": applied 0 outcomes from 1 row, 1 student not enrolled in the unit",
        counts=(1, 0, 1),
        processed=(NAME, NAME_ERRORS),
        errors_file=f"processed/{NAME_ERRORS}",
        errors=(("1", "StudentNumber T007 is not enrolled in unit TU3"),),
    ),
    Case(
        id="one Moodle course mapped to two units writes both",
        symptom="One Moodle course row wrote outcomes for several units",
        action=_NOTHING + ": the Moodle course is mapped to those units in MoodleCourseUnit",
        files=_applied(f"T005,TCLUSTER,{EPOCH},,"),
        says=": applied 2 outcomes from 1 row",
        counts=(1, 2, 0),
        written=written(("T005", "TU2"), ("T005", "TU3")),
        processed=(NAME,),
    ),
    Case(
        id="course transfer writes to the Active enrolment",
        symptom="A transferred student has the unit under two enrolments",
        action=_NOTHING + ": the outcome goes to the Active enrolment; Details names the choice",
        files=_applied(f"T008,TU1,{EPOCH},,"),
        says=": applied 1 outcome from 1 row, 1 course transfer resolved",
        counts=(1, 1, 0),
        written=written(("T008", "TU1")),
        processed=(NAME,),
        anomaly_codes=("transfer",),
        details_has=("the outcome goes to enrolment",),
    ),
    # -- outcomes entered by people -----------------------------------------------------------------
    Case(
        id="manual outcome is a conflict, never overwritten",
        symptom="Moodle's result was not written over an outcome a person entered",
        action="Decide which outcome is right; change it in PowerPro if Moodle's is. The sync never overwrites an "
               "outcome it did not write",
        files=_applied(f"T009,TU1,{EPOCH},,", f"T001,TU1,{EPOCH},,"),
        says=": applied 1 outcome from 2 rows, 1 conflict with a manual result",
        counts=(2, 1, 1),
        written=written(("T001", "TU1")),
        processed=(NAME, NAME_ERRORS),
        errors_file=f"processed/{NAME_ERRORS}",
        errors=(("1", "StudentNumber T009 unit TU1 already has outcome 51 (no source) and Moodle gives 20"),),
        anomaly_codes=("conflict",),
    ),
    Case(
        id="manual outcome equal to Moodle's is up to date, not a conflict",
        symptom="A row wrote nothing because the outcome is already there",
        action=_NOTHING + ": PowerPro already holds that outcome",
        files=_applied(f"T010,TU2,{EPOCH},,"),
        says=": applied 0 outcomes from 1 row, 1 already up to date",
        counts=(1, 0, 0),
        skipped=1,
        processed=(NAME,),
    ),
    # -- duplicates --------------------------------------------------------------------------------
    Case(
        id="exact repeat row is skipped",
        symptom="The same row appears twice",
        action=_NOTHING + ": the repeat is counted as skipped",
        files=_applied(f"T001,TU1,{EPOCH},80,50", f"T001,TU1,{EPOCH},80,50"),
        says=": applied 1 outcome from 2 rows",
        counts=(2, 1, 0),
        skipped=1,
        written=written(("T001", "TU1")),
        processed=(NAME,),
    ),
    Case(
        id="contradicting rows are duplicate_conflict, none applied",
        symptom="A student and course appear twice with different times or grades",
        action="Find out which row is right (the errors file lists both), then deliver that row again in "
               + _REDELIVER,
        files=_applied(f"T001,TU1,{EPOCH},80,50", "T001,TU1,2026-04-02T09:00:00+11:00,80,50"),
        says=": applied 0 outcomes from 2 rows, 2 contradicting duplicate rows",
        counts=(2, 0, 2),
        processed=(NAME, NAME_ERRORS),
        errors_file=f"processed/{NAME_ERRORS}",
        errors=(("1", "also appear in row 2"), ("2", "also appear in row 1")),
        anomaly_codes=("duplicate_conflict",),
    ),
    # -- the same content again --------------------------------------------------------------------
    Case(
        id="applied file delivered again under another name writes nothing, restates the conflict",
        symptom="A file already applied was delivered again (under any name)",
        action=_NOTHING + ": nothing is written twice; the sync log says when and in which run it was first "
               "applied, and Details repeats its conflicts",
        earlier=_applied(f"T009,TU1,{EPOCH},,", f"T001,TU1,{EPOCH},,"),
        files=_applied(f"T009,TU1,{EPOCH},,", f"T001,TU1,{EPOCH},,", name="completions_copy.csv"),
        says=": already applied on ",
        readme_says=": already applied on <date> by run <run id> as completions.csv (a repeat delivery); nothing "
                    "written again; moved to /from_moodle/processed/completions_copy.csv",
        message_has=("as completions.csv (a repeat delivery); nothing written again; moved to "
                      "/from_moodle/processed/completions_copy.csv",),
        counts=(2, 0, 0),
        skipped=2,
        written=written(("T001", "TU1")),
        processed=("completions.csv", "completions.errors.csv", "completions_copy.csv"),
        anomaly_codes=("conflict",),
        details_has=("already has outcome 51",),
    ),
    Case(
        id="rejected content delivered again is rejected again, same reason",
        symptom="A file rejected before was delivered again unchanged",
        action="Fix the file itself (see the first rejection's reason) and deliver the corrected file",
        earlier=((NAME, _UTF16),),
        files=((NAME, _UTF16),),
        says=" rejected: The file is UTF-16 text",
        readme_says=" rejected: The file is UTF-16 text … (this content was rejected before, as completions.csv on "
                    "<date>); moved to /from_moodle/rejected/completions-2.csv",
        message_has=("(this content was rejected before, as completions.csv on ",
                     "moved to /from_moodle/rejected/completions-2.csv"),
        state="failed",
        status="failed",
        counts=(0, 0, 1),
        rejected=("completions-2.csv", "completions-2.errors.csv", NAME, NAME_ERRORS),
        errors_file="rejected/completions-2.errors.csv",
        errors=(("", "UTF-16"),),
    ),
    # -- encodings -------------------------------------------------------------------------------
    Case(
        id="UTF-8 with a BOM is accepted",
        symptom="The file starts with a byte order mark (Excel's 'CSV UTF-8')",
        action=_NOTHING,
        files=((NAME, b"\xef\xbb\xbf" + csv_bytes(f"T001,TU1,{EPOCH},,")),),
        says=": applied 1 outcome from 1 row",
        counts=(1, 1, 0),
        written=written(("T001", "TU1")),
        processed=(NAME,),
    ),
    Case(
        id="UTF-16 LE with a BOM is rejected naming UTF-16",
        symptom="The whole file was rejected as UTF-16 ('Unicode Text')",
        action=_RESAVE,
        files=((NAME, _UTF16),),
        says=" rejected: The file is UTF-16 text (Excel's 'Unicode Text' format), not UTF-8",
        state="failed",
        status="failed",
        counts=(0, 0, 1),
        rejected=(NAME, NAME_ERRORS),
        errors_file=f"rejected/{NAME_ERRORS}",
        errors=(("", "UTF-16"),),
    ),
    Case(
        id="Windows-1252 e-acute is rejected naming Windows-1252",
        symptom="The whole file was rejected as not UTF-8 (names with accents, Excel's plain 'CSV')",
        action=_RESAVE,
        files=((NAME, csv_text(f"T001,TU1,{EPOCH},,,José", header=HEADER_NAME).encode("cp1252")),),
        says=" rejected: The file is not UTF-8 text: the byte 0xE9 at byte offset ",
        message_has=("It looks like Windows-1252", "where that byte is 'é'"),
        state="failed",
        status="failed",
        counts=(0, 0, 1),
        rejected=(NAME, NAME_ERRORS),
        errors_file=f"rejected/{NAME_ERRORS}",
        errors=(("", "Windows-1252"),),
    ),
    Case(
        id="xlsx bytes are rejected as a workbook",
        symptom="The whole file was rejected as an Excel workbook or a web page",
        action=_RESAVE,
        files=((NAME, _XLSX),),
        says=" rejected: The file is an Excel workbook (.xlsx), not CSV text",
        state="failed",
        status="failed",
        counts=(0, 0, 1),
        rejected=(NAME, NAME_ERRORS),
        errors_file=f"rejected/{NAME_ERRORS}",
        errors=(("", "Excel workbook"),),
    ),
    Case(
        id="an HTML error page is rejected as a web page",
        symptom="The whole file was rejected as an Excel workbook or a web page",
        action=_RESAVE,
        files=((NAME, b"<!DOCTYPE html>\n<html><body><h1>503 Service Unavailable</h1></body></html>\n"),),
        says=" rejected: The file looks like a web page (HTML)",
        state="failed",
        status="failed",
        counts=(0, 0, 1),
        rejected=(NAME, NAME_ERRORS),
        errors_file=f"rejected/{NAME_ERRORS}",
        errors=(("", "web page"),),
    ),
    # -- delimiters --------------------------------------------------------------------------------
    Case(
        id="semicolon file is rejected naming ';'",
        symptom="The whole file was rejected for its delimiter (; or tab)",
        action="Export the report comma-separated ('CSV UTF-8 (Comma delimited)'; a regional setting can make Excel "
               "use ;) and deliver it again",
        files=((NAME, csv_bytes(f"T001;TU1;{EPOCH};;", header=HEADER.replace(",", ";"))),),
        says=" rejected: The file seems to use ';' as its delimiter",
        state="failed",
        status="failed",
        counts=(0, 0, 1),
        rejected=(NAME, NAME_ERRORS),
        errors_file=f"rejected/{NAME_ERRORS}",
        errors=(("", "';' as its delimiter"),),
    ),
    Case(
        id="tab file is rejected naming the tab",
        symptom="The whole file was rejected for its delimiter (; or tab)",
        action="Export the report comma-separated ('CSV UTF-8 (Comma delimited)'; a regional setting can make Excel "
               "use ;) and deliver it again",
        files=((NAME, csv_bytes(f"T001\tTU1\t{EPOCH}\t\t", header=HEADER.replace(",", "\t"))),),
        says=" rejected: The file seems to use a tab ('\\t') as its delimiter",
        state="failed",
        status="failed",
        counts=(0, 0, 1),
        rejected=(NAME, NAME_ERRORS),
        errors_file=f"rejected/{NAME_ERRORS}",
        errors=(("", "a tab ('\\t') as its delimiter"),),
    ),
    # -- headers -----------------------------------------------------------------------------------
    Case(
        id="mixed-case header is accepted",
        symptom="The header's names are in another case, order, or have extra columns",
        action=_NOTHING + ": names are matched case-insensitively, in any order, and extra columns are ignored",
        files=_applied(f"T001,TU1,{EPOCH},,", header="User_IdNumber,COURSE_IDNUMBER,TimeCompleted,FinalGrade,GradePass"),
        says=": applied 1 outcome from 1 row",
        counts=(1, 1, 0),
        written=written(("T001", "TU1")),
        processed=(NAME,),
    ),
    Case(
        id="extra columns are ignored",
        symptom="The header's names are in another case, order, or have extra columns",
        action=_NOTHING + ": names are matched case-insensitively, in any order, and extra columns are ignored",
        files=_applied(f"T001,TU1,{EPOCH},,,Jo Smith,jo@example.edu,Unit one",
                       header=HEADER_NAME + ",email,coursename"),
        says=": applied 1 outcome from 1 row",
        counts=(1, 1, 0),
        written=written(("T001", "TU1")),
        processed=(NAME,),
    ),
    Case(
        id="reordered columns are accepted",
        symptom="The header's names are in another case, order, or have extra columns",
        action=_NOTHING + ": names are matched case-insensitively, in any order, and extra columns are ignored",
        files=_applied(f"{EPOCH},50,TU2,80,T002", header="timecompleted,gradepass,course_idnumber,finalgrade,user_idnumber"),
        says=": applied 1 outcome from 1 row",
        counts=(1, 1, 0),
        written=written(("T002", "TU2")),
        processed=(NAME,),
    ),
    Case(
        id="missing required column is rejected",
        symptom="The whole file was rejected for its header (a column missing, repeated, or misspelt)",
        action=_FIX_HEADER,
        files=_applied("T001,TU1,80", header="user_idnumber,course_idnumber,finalgrade"),
        says=" rejected: The header is missing the required column timecompleted",
        state="failed",
        status="failed",
        counts=(0, 0, 1),
        rejected=(NAME, NAME_ERRORS),
        errors_file=f"rejected/{NAME_ERRORS}",
        errors=(("", "missing the required column timecompleted"),),
    ),
    Case(
        id="duplicated column is rejected",
        symptom="The whole file was rejected for its header (a column missing, repeated, or misspelt)",
        action=_FIX_HEADER,
        files=_applied(f"T001,TU1,{EPOCH},T002", header="user_idnumber,course_idnumber,timecompleted,User_IdNumber"),
        says=" rejected: The header names the column 'user_idnumber' more than once (columns 1 and 4)",
        state="failed",
        status="failed",
        counts=(0, 0, 1),
        rejected=(NAME, NAME_ERRORS),
        errors_file=f"rejected/{NAME_ERRORS}",
        errors=(("", "more than once"),),
    ),
    Case(
        id="zero-width space in a header name is rejected, shown escaped",
        symptom="The whole file was rejected for its header (a column missing, repeated, or misspelt)",
        action=_FIX_HEADER,
        files=_applied(f"T001,TU1,{EPOCH},,", header=HEADER.replace("user_idnumber", "user_idnumber\u200b")),
        says=" rejected: The header is missing the required column user_idnumber",
        message_has=("Column 1 'user_idnumber\\u200b' is not user_idnumber: it holds a hidden or non-ASCII character",),
        state="failed",
        status="failed",
        counts=(0, 0, 1),
        rejected=(NAME, NAME_ERRORS),
        errors_file=f"rejected/{NAME_ERRORS}",
        errors=(("", "'user_idnumber\\u200b'"),),
    ),
    Case(
        id="empty file is rejected",
        symptom="The whole file was rejected as empty",
        action="Check the Moodle report's export (it produced no header), then deliver it again",
        files=((NAME, b""),),
        says=" rejected: The file is empty: a completion file needs a header row",
        state="failed",
        status="failed",
        counts=(0, 0, 1),
        rejected=(NAME, NAME_ERRORS),
        errors_file=f"rejected/{NAME_ERRORS}",
        errors=(("", "The file is empty"),),
    ),
    Case(
        id="header only is applied with 0 rows",
        symptom="A file with a header and no rows",
        action=_NOTHING + ": it is applied with 0 rows and moved to processed/",
        files=((NAME, csv_bytes()),),
        says=": applied 0 outcomes from 0 rows",
        counts=(0, 0, 0),
        processed=(NAME,),
    ),
    Case(
        id="blank and all-comma lines are not rows",
        symptom="The file has blank lines or rows of empty cells (,,,,)",
        action=_NOTHING + ": they are not counted as rows",
        files=((NAME, csv_bytes(f"T001,TU1,{EPOCH},,", ",,,,", "", " , ,,,")),),
        says=": applied 1 outcome from 1 row",
        counts=(1, 1, 0),
        written=written(("T001", "TU1")),
        processed=(NAME,),
    ),
    # -- quoting and size ------------------------------------------------------------------------
    Case(
        id="quoted commas and line breaks in an unused column are accepted",
        symptom="A cell holds commas or line breaks inside quotes",
        action=_NOTHING + ": quoted cells are read as one value",
        files=_applied(f'T001,TU1,{EPOCH},,,"Smith, Jo\r\nsecond line"', f"T002,TU1,{EPOCH},,,Lee",
                       header=HEADER_NAME),
        says=": applied 2 outcomes from 2 rows",
        counts=(2, 2, 0),
        written=written(("T001", "TU1"), ("T002", "TU1")),
        processed=(NAME,),
    ),
    Case(
        id="unterminated quote does not swallow the rows after it",
        symptom="A quote is opened and never closed",
        action="Fix the quoting in the report (a cell that starts with \" must end with \"), then deliver the "
               "corrected file",
        files=_applied(f'T001,TU1,{EPOCH},,,"Smith, Jo', f"T002,TU1,{EPOCH},,,Lee", f"T003,TU1,{EPOCH},,,Ng",
                       header=HEADER_NAME),
        says=" rejected: The file is not valid CSV",
        state="failed",
        status="failed",
        counts=(0, 0, 1),
        rejected=(NAME, NAME_ERRORS),
        errors_file=f"rejected/{NAME_ERRORS}",
        errors=(("", "quote"),),
    ),
    Case(
        id="10 MB cell rejects only its row, good rows applied, Message short",
        symptom="A row holds a huge cell (pasted text, a log)",
        action="Remove the oversize text from the report; the row's other values are in the errors file. Deliver "
               "that row again in " + _REDELIVER,
        files=_applied(f"T001,TU1,{EPOCH},,,ok", f"T002,TU1,{EPOCH},,,{_BIG_CELL}", f"T003,TU1,{EPOCH},,,ok",
                       header=HEADER_NAME),
        says=": applied 2 outcomes from 3 rows, 1 malformed row",
        counts=(3, 2, 1),
        written=written(("T001", "TU1"), ("T003", "TU1")),
        processed=(NAME, NAME_ERRORS),
        errors_file=f"processed/{NAME_ERRORS}",
        errors=(("2", "the cell in column 'fullname' holds 10,485,760 characters, over the 131,072 limit"),),
        original_text=(("2", f"T002,TU1,{EPOCH},,," + _clipped(_BIG_CELL)),),
    ),
    Case(
        id="20k rows of unknown students: Details bounded, counts complete",
        symptom="A whole file of students PowerPro does not know",
        action="Check the file is for this RTO and that Moodle user idnumbers are PowerPro StudentNumbers; the "
               "errors file lists every row",
        files=_applied(*(f"U{n:05d},TU1,{EPOCH},," for n in range(1, 20001))),
        says=": applied 0 outcomes from 20000 rows, 20000 unknown students",
        counts=(20000, 0, 20000),
        processed=(NAME, NAME_ERRORS),
        errors_file=f"processed/{NAME_ERRORS}",
        errors=(("1", "U00001 matches no PowerPro StudentNumber"), ("20000", "U20000 matches no PowerPro")),
        errors_count=20000,
        anomaly_counts={"unknown_student": 20000},
    ),
    Case(
        id="LF-only and CR-only line ends and fully quoted cells are accepted",
        symptom="Lines end in LF or CR only, or every cell is quoted",
        action=_NOTHING + ": any line ending and RFC 4180 quoting are read",
        files=((NAME, b'"user_idnumber","course_idnumber","timecompleted"\n"T001","TU1","' + EPOCH.encode()
                + b'"\n'),
               ("completions_cr.csv", f"{HEADER}\rT002,TU1,{EPOCH},,\rT003,TU1,{EPOCH},,\r".encode())),
        says=": applied 1 outcome from 1 row",
        counts=(1, 1, 0),
        written=written(("T001", "TU1"), ("T002", "TU1"), ("T003", "TU1")),
        processed=(NAME, "completions_cr.csv"),
    ),
    Case(
        id="a formula in an id is refused and kept formula-safe in the errors file",
        symptom="An id looks like a spreadsheet formula (=, +, -, @)",
        action="Fix the user's idnumber in Moodle. The errors file shows such values with a leading ' so that a "
               "spreadsheet does not run them",
        files=_applied(f'"=HYPERLINK(""http://evil.example"",""x"")",TU1,{EPOCH},,'),
        says=": applied 0 outcomes from 1 row, 1 unknown student",
        counts=(1, 0, 1),
        processed=(NAME, NAME_ERRORS),
        errors_file=f"processed/{NAME_ERRORS}",
        errors=(("1", "matches no PowerPro StudentNumber"),),
        errors_cells=(("1", "user_idnumber", '\'=HYPERLINK("http://evil.example","x")'),
                      ("1", "course_idnumber", "TU1")),
    ),
    Case(
        id="two exports pasted together: the second header is refused as a row, the rest applied",
        symptom="Two reports were pasted into one file (a header line in the middle)",
        action="Nothing for the rows that were applied; the repeated header is listed in the errors file as a "
               "malformed row and can be ignored",
        files=_applied(f"T001,TU1,{EPOCH},,", HEADER, f"T002,TU1,{EPOCH},,"),
        says=": applied 2 outcomes from 3 rows, 1 malformed row",
        counts=(3, 2, 1),
        written=written(("T001", "TU1"), ("T002", "TU1")),
        processed=(NAME, NAME_ERRORS),
        errors_file=f"processed/{NAME_ERRORS}",
        errors=(("2", "the row repeats the header (two exports pasted into one file?)"),),
    ),
    Case(
        id="a cluster course and the unit's own course in one file: the later completion wins",
        symptom="A unit appears twice in one file (through a mapped Moodle course and its own course)",
        action=_NOTHING + ": the later completion is used; Details names the rows when their outcomes differ",
        files=_applied(f"T006,TCLUSTER,{EPOCH},,", "T006,TU2,2026-04-02T09:00:00+11:00,,"),
        says=": applied 2 outcomes from 2 rows",
        counts=(2, 2, 0),
        skipped=1,
        written=written(("T006", "TU3")) | written(("T006", "TU2"), day="2026-04-02"),
        processed=(NAME,),
        anomaly_codes=("superseded",),
        details_has=("the later completion, row 2, was used",),
    ),
    # -- file names and inbox entries ----------------------------------------------------------------
    Case(
        id="a name with spaces is taken",
        symptom="The file name has spaces or an upper-case .CSV",
        action=_NOTHING + ": it is taken like any *.csv file",
        files=_applied(f"T001,TU1,{EPOCH},,", name="Completions June 2026.csv"),
        says=": applied 1 outcome from 1 row",
        counts=(1, 1, 0),
        written=written(("T001", "TU1")),
        processed=("Completions June 2026.csv",),
    ),
    Case(
        id="upper-case .CSV is taken, errors file named after it",
        symptom="The file name has spaces or an upper-case .CSV",
        action=_NOTHING + ": it is taken like any *.csv file",
        files=_applied(f"T001,TU1,{EPOCH},,", f"T404,TU1,{EPOCH},,", name="COMPLETIONS.CSV"),
        says=": applied 1 outcome from 2 rows, 1 unknown student",
        counts=(2, 1, 1),
        written=written(("T001", "TU1")),
        processed=("COMPLETIONS.CSV", "COMPLETIONS.errors.csv"),
        errors_file="processed/COMPLETIONS.errors.csv",
        errors=(("2", "T404 matches no PowerPro StudentNumber"),),
    ),
    Case(
        id="a non-ASCII file name is taken",
        symptom="The file name has spaces or an upper-case .CSV",
        action=_NOTHING + ": it is taken like any *.csv file",
        files=_applied(f"T001,TU1,{EPOCH},,", name="complétions_été.csv"),
        says=": applied 1 outcome from 1 row",
        counts=(1, 1, 0),
        written=written(("T001", "TU1")),
        processed=("complétions_été.csv",),
    ),
    Case(
        id="the sync's own processed and rejected folders are not reported as inbox entries",
        symptom="The listing names processed and rejected as entries not taken",
        action=_NOTHING + ": they are the sync's own folders (settings processed_folder, rejected_folder)",
        earlier=(("a_first.csv", csv_bytes(f"T001,TU1,{EPOCH},,")), ("b_bad.csv", b"")),
        files=(("c_next.csv", csv_bytes(f"T002,TU1,{EPOCH},,")),),
        says="1 completion file waiting in /from_moodle: c_next.csv",
        task="list_completion_files",
        counts=(1, 0, 0),
        skipped=0,
        message_is="1 completion file waiting in /from_moodle: c_next.csv",
        written=written(("T001", "TU1"), ("T002", "TU1")),
        processed=("a_first.csv", "c_next.csv"),
        rejected=("b_bad.csv", "b_bad.errors.csv"),
    ),
    Case(
        id="notes.txt is not taken, named in the listing",
        symptom="A file in the inbox was never picked up",
        action="Only *.csv files are taken: rename it to .csv if it is a completion file, otherwise move it out "
               "of the inbox",
        files=(("notes.txt", b"not a completion file\r\n"), (NAME, csv_bytes(f"T001,TU1,{EPOCH},,"))),
        says="1 entry not taken: notes.txt (not a .csv file)",
        readme_says="…; 1 entry not taken: notes.txt (not a .csv file)",
        task="list_completion_files",
        counts=(1, 0, 0),
        skipped=1,
        written=written(("T001", "TU1")),
        inbox=("notes.txt",),
        processed=(NAME,),
    ),
    Case(
        id="x.errors.csv is not taken, named in the listing",
        symptom="An .errors.csv file in the inbox was never picked up",
        action="It is an errors file the sync wrote; it belongs beside its file in processed/ or rejected/. Move "
               "it there (to re-deliver its rows, save them under a name not ending in .errors.csv)",
        files=(("x.errors.csv", b"row,reason\r\n1,unknown\r\n"), (NAME, csv_bytes(f"T001,TU1,{EPOCH},,"))),
        says="1 entry not taken: x.errors.csv (an errors file the sync wrote, which belongs beside its file in "
             "processed/ or rejected/)",
        readme_says="…; 1 entry not taken: x.errors.csv (an errors file the sync wrote, which belongs beside its "
                    "file in processed/ or rejected/)",
        task="list_completion_files",
        counts=(1, 0, 0),
        skipped=1,
        written=written(("T001", "TU1")),
        inbox=("x.errors.csv",),
        processed=(NAME,),
    ),
    Case(
        id="a folder named old.csv is not taken",
        symptom="A folder in the inbox is listed as not taken",
        action=_NOTHING + ", or move the folder out of the inbox: folders are never taken",
        files=((NAME, csv_bytes(f"T001,TU1,{EPOCH},,")), ("old.csv/inside.csv", csv_bytes(f"T002,TU1,{EPOCH},,"))),
        says="1 entry not taken: old.csv (a folder)",
        readme_says="…; 1 entry not taken: old.csv (a folder)",
        task="list_completion_files",
        counts=(1, 0, 0),
        skipped=1,
        written=written(("T001", "TU1")),
        processed=(NAME,),
        keep=("old.csv/inside.csv",),
    ),
    # -- settings ------------------------------------------------------------------------------------
    Case(
        id="processed_folder /from_moodle/. fails naming the key, file not moved",
        symptom="Every run fails at list_completion_files naming a setting",
        action="Fix that key in the Airflow Variable powerpro_moodle_settings (the inbox, processed and rejected "
               "folders must all differ), then clear the task",
        settings={"processed_folder": "/from_moodle/."},
        files=_applied(f"T001,TU1,{EPOCH},,"),
        says="failed: Variable powerpro_moodle_settings: setting 'processed_folder' must differ from "
             "'completions_folder' (/from_moodle)",
        task="list_completion_files",
        state="failed",
        status="failed",
        inbox=(NAME,),
    ),
    Case(
        id="earliest_completion_date 2026-01-01 refuses 23:59:59 on 31 Dec in Sydney, takes midnight",
        symptom="A completion time is before 2000 or later than tomorrow",
        action="Check the report's timecompleted (Unix seconds or ISO 8601 with an offset). If a date before 2000 "
               "is genuine, lower the setting earliest_completion_date; then deliver those rows again in "
               + _REDELIVER,
        settings={"earliest_completion_date": "2026-01-01"},
        files=_applied("T001,TU1,2025-12-31T12:59:59Z,,", "T002,TU1,2025-12-31T13:00:00Z,,"),
        says=": applied 1 outcome from 2 rows, 1 bad completion time",
        counts=(2, 1, 1),
        written=written(("T002", "TU1"), day="2026-01-01"),
        processed=(NAME, NAME_ERRORS),
        errors_file=f"processed/{NAME_ERRORS}",
        errors=(("1", "before the earliest completion date 2026-01-01 in Australia/Sydney (setting "
                      "earliest_completion_date)"),),
    ),
    Case(
        id="rejected_folder equal to processed_folder once normalised fails naming both keys",
        symptom="Every run fails at list_completion_files naming a setting",
        action="Fix that key in the Airflow Variable powerpro_moodle_settings (the inbox, processed and rejected "
               "folders must all differ), then clear the task",
        settings={"rejected_folder": "/from_moodle/processed/"},
        files=_applied(f"T001,TU1,{EPOCH},,"),
        says="failed: Variable powerpro_moodle_settings: settings 'processed_folder' and 'rejected_folder' must be "
             "different folders",
        task="list_completion_files",
        state="failed",
        status="failed",
        inbox=(NAME,),
    ),
)


# -- the troubleshooting table (docs/troubleshooting.md) ----------------------------------------


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def message_pattern(text: str) -> re.Pattern[str]:
    """``text`` as a pattern: ``<…>`` placeholders and ``…`` match any text."""
    return re.compile(".*?".join(map(re.escape, re.split(r"<[^<>]*>|…", text))), re.DOTALL)


def render_table(cases: tuple[Case, ...] = CASES) -> str:
    """The troubleshooting table: one line per distinct symptom (cases with the same symptom
    merged, their sync log messages each shown once), in corpus order. Cases marked ``xfail``
    (a known bug) are left out until the product does what they say."""
    rows: dict[str, tuple[list[str], list[str]]] = {}
    for case in cases:
        if case.xfail:
            continue
        says, actions = rows.setdefault(case.symptom, ([], []))
        if case.sync_log_says not in says:
            says.append(case.sync_log_says)
        if case.action not in actions:
            actions.append(case.action)
    lines = ["| symptom | what the sync log says | what to do |", "|---|---|---|"]
    for symptom, (says, actions) in rows.items():
        lines.append(f"| {_cell(symptom)} | {_cell('<br>'.join(says))} | {_cell(' '.join(actions))} |")
    return "\n".join(lines) + "\n"


_SECTION = re.compile(re.escape(START) + r"\n?(.*?)" + re.escape(END), re.DOTALL)


def table_section(text: str) -> str:
    """What ``docs/troubleshooting.md`` holds between the troubleshooting markers."""
    match = _SECTION.search(text)
    if match is None:
        raise ValueError(f"{TROUBLESHOOTING.name} has no {START} ... {END} section")
    return match.group(1)


def rewrite_table(path: Path = TROUBLESHOOTING, render: Callable[[], str] = render_table) -> None:
    text = path.read_text(encoding="utf-8")
    table_section(text)  # the markers must be there
    new = _SECTION.sub(lambda _: f"{START}\n{render()}{END}", text, count=1)
    path.write_text(new, encoding="utf-8")


if __name__ == "__main__":
    rewrite_table(Path(sys.argv[1]) if len(sys.argv) > 1 else TROUBLESHOOTING)
