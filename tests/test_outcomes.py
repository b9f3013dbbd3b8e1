"""Outcome rules and the matching decision (SPEC section 5): pure, no Airflow, no database."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from powerpro_moodle.formats.completion_file import CompletionRow, parse_completion_file
from powerpro_moodle.formats.outcomes import (
    MOODLE_SOURCE,
    EnrolmentUnitRow,
    OutcomePlan,
    OutcomeWrite,
    choose_target,
    outcome_for,
    plan_outcomes,
)
from powerpro_moodle.formats.settings import OutcomeRules
from powerpro_moodle.formats.summary import REJECTED, WARNING, Anomaly

PLUGINS = Path(__file__).resolve().parents[1] / "plugins"
SYDNEY = ZoneInfo("Australia/Sydney")
PERTH = ZoneInfo("Australia/Perth")
DEFAULT = OutcomeRules()
WRITE_NYC = OutcomeRules(competent="20", not_yet_competent="30")
HEADER = "user_idnumber,course_idnumber,timecompleted,finalgrade,gradepass\n"
# 2026-03-31T14:30:00Z: still 31 March in UTC, already 1 April in Sydney (AEDT, +11).
T = "1774967400"
APRIL_1 = date(2026, 4, 1)


def completion(completed_at: datetime | None, finalgrade: str | None = None, gradepass: str | None = None):
    return CompletionRow(
        row=1,
        user_idnumber="S1",
        course_idnumber="U1",
        completed_at=completed_at,
        finalgrade=None if finalgrade is None else Decimal(finalgrade),
        gradepass=None if gradepass is None else Decimal(gradepass),
    )


def eu(
    enrolment_unit_id: int,
    enrolment_id: int = 100,
    status: str = "Active",
    student: str = "S1001",
    unit: str = "BSBWHS211",
    code: str | None = None,
    day: date | None = None,
    source: str | None = None,
) -> EnrolmentUnitRow:
    return EnrolmentUnitRow(enrolment_unit_id, enrolment_id, status, student, unit, code, day, source)


def plan(
    lines: str,
    units: list[EnrolmentUnitRow],
    *,
    students: dict[str, str] | None = None,
    courses: dict[str, list[str]] | None = None,
    rules: OutcomeRules = DEFAULT,
    tz: ZoneInfo = SYDNEY,
) -> OutcomePlan:
    return plan_outcomes(
        parse_completion_file((HEADER + lines).encode("utf-8")),
        {"S1001": "S1001"} if students is None else students,
        {"BSBWHS211": ["BSBWHS211"]} if courses is None else courses,
        units,
        rules,
        tz,
    )


# --- outcome_for ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "row, rules, expected",
    [
        pytest.param(completion(None), DEFAULT, ("not_completed", None, None), id="not completed"),
        pytest.param(
            completion(None, "10", "50"), WRITE_NYC, ("not_completed", None, None), id="failing grade but not completed"
        ),
        pytest.param(
            completion(datetime(2026, 3, 1, 2, tzinfo=UTC)),
            DEFAULT,
            ("competent", "20", date(2026, 3, 1)),
            id="completed without grades",
        ),
        pytest.param(
            completion(datetime(2026, 3, 1, 2, tzinfo=UTC), None, "50"),
            DEFAULT,
            ("competent", "20", date(2026, 3, 1)),
            id="no final grade",
        ),
        pytest.param(
            completion(datetime(2026, 3, 1, 2, tzinfo=UTC), "10", None),
            DEFAULT,
            ("competent", "20", date(2026, 3, 1)),
            id="no pass mark",
        ),
        pytest.param(
            completion(datetime(2026, 3, 1, 2, tzinfo=UTC), "50.00", "50"),
            DEFAULT,
            ("competent", "20", date(2026, 3, 1)),
            id="grade equal to pass mark passes",
        ),
        pytest.param(
            completion(datetime(2026, 3, 1, 2, tzinfo=UTC), "49.99", "50"),
            DEFAULT,
            ("not_yet_competent", None, date(2026, 3, 1)),
            id="failing grade is report-only by default",
        ),
        pytest.param(
            completion(datetime(2026, 3, 1, 2, tzinfo=UTC), "49.99", "50"),
            WRITE_NYC,
            ("not_yet_competent", "30", date(2026, 3, 1)),
            id="failing grade gives 30 when configured",
        ),
    ],
)
def test_outcome_for(row, rules, expected):
    assert outcome_for(row, rules, SYDNEY) == expected


@pytest.mark.parametrize(
    "completed_at, tz, expected",
    [
        pytest.param(datetime(2026, 3, 31, 14, 30, tzinfo=UTC), SYDNEY, date(2026, 4, 1), id="sydney is a day ahead"),
        pytest.param(datetime(2026, 3, 31, 12, 59, tzinfo=UTC), SYDNEY, date(2026, 3, 31), id="sydney 23:59 same day"),
        pytest.param(datetime(2026, 7, 31, 14, 30, tzinfo=UTC), SYDNEY, date(2026, 8, 1), id="sydney winter +10"),
        pytest.param(datetime(2026, 7, 31, 13, 30, tzinfo=UTC), SYDNEY, date(2026, 7, 31), id="sydney winter 23:30"),
        pytest.param(datetime(2026, 3, 31, 14, 30, tzinfo=UTC), PERTH, date(2026, 3, 31), id="perth 22:30 same day"),
        pytest.param(datetime(2026, 3, 31, 16, 30, tzinfo=UTC), PERTH, date(2026, 4, 1), id="perth 00:30 next day"),
        pytest.param(
            datetime(2026, 3, 31, 14, 30, tzinfo=UTC), ZoneInfo("UTC"), date(2026, 3, 31), id="utc keeps the date"
        ),
    ],
)
def test_outcome_date_is_in_the_rto_timezone(completed_at, tz, expected):
    assert outcome_for(completion(completed_at), DEFAULT, tz) == ("competent", "20", expected)


# --- choose_target -------------------------------------------------------------------------


def test_single_row_needs_no_explanation():
    only = eu(1, 7, "Withdrawn")
    assert choose_target([only]) == (only, None)


def test_no_rows_is_a_programming_error():
    with pytest.raises(ValueError, match="at least one EnrolmentUnit row"):
        choose_target([])


@pytest.mark.parametrize(
    "rows, chosen, sentence",
    [
        pytest.param(
            [eu(1, 9, "Active"), eu(2, 7, "Withdrawn")],
            1,
            "StudentNumber S1001 has unit BSBWHS211 under enrolments 7 (Withdrawn), 9 (Active): "
            "the outcome goes to enrolment 9 (Active)",
            id="active beats withdrawn",
        ),
        pytest.param(
            [eu(1, 7, "active"), eu(2, 9, "Withdrawn")],
            1,
            "StudentNumber S1001 has unit BSBWHS211 under enrolments 7 (active), 9 (Withdrawn): "
            "the outcome goes to enrolment 7 (Active)",
            id="active beats a newer withdrawn one, case-insensitively",
        ),
        pytest.param(
            [eu(1, 7, "Active"), eu(2, 12, "ACTIVE "), eu(3, 9, "Active"), eu(4, 15, "Cancelled")],
            2,
            "StudentNumber S1001 has unit BSBWHS211 under enrolments 7 (Active), 9 (Active), 12 (ACTIVE ), "
            "15 (Cancelled): the outcome goes to enrolment 12 (Active, newest)",
            id="newest active wins",
        ),
        pytest.param(
            [eu(1, 7, "Withdrawn"), eu(2, 9, "Completed"), eu(3, 8, "Deferred")],
            2,
            "StudentNumber S1001 has unit BSBWHS211 under enrolments 7 (Withdrawn), 8 (Deferred), 9 (Completed): "
            "none is Active, so the outcome goes to enrolment 9 (newest)",
            id="no active: newest wins",
        ),
    ],
)
def test_choose_target(rows, chosen, sentence):
    target, why = choose_target(rows)
    assert target.enrolment_unit_id == chosen
    assert why == sentence


def test_choose_target_does_not_depend_on_order():
    rows = [eu(1, 7, "Withdrawn"), eu(2, 9, "Active"), eu(3, 8, "Active")]
    assert choose_target(rows)[0].enrolment_unit_id == 2
    assert choose_target(list(reversed(rows)))[0].enrolment_unit_id == 2


# --- plan_outcomes -------------------------------------------------------------------------


def test_competent_completion_is_written_with_the_local_date():
    result = plan(f"S1001,BSBWHS211,{T},85,50\n", [eu(501)])
    assert result.writes == [OutcomeWrite(501, "20", APRIL_1, "S1001", "BSBWHS211", 1)]
    assert (result.rows_written, result.rows_skipped, result.rows_rejected) == (1, 0, 0)
    assert result.anomalies == []
    assert result.errors == []


def test_perth_rto_gets_the_perth_date():
    result = plan(f"S1001,BSBWHS211,{T},,\n", [eu(501)], tz=PERTH)
    assert [(w.outcome_code, w.outcome_date) for w in result.writes] == [("20", date(2026, 3, 31))]


def test_iso_time_with_offset_gives_the_same_outcome():
    result = plan("S1001,BSBWHS211,2026-04-01 01:30:00+11:00,,\n", [eu(501)])
    assert [(w.enrolment_unit_id, w.outcome_date) for w in result.writes] == [(501, APRIL_1)]


def test_not_completed_is_counted_and_nothing_else():
    result = plan("S1001,BSBWHS211,,40,50\n", [eu(501)])
    assert (result.writes, result.not_completed, result.anomalies, result.errors) == ([], 1, [], [])
    assert result.rows_skipped == 1


@pytest.mark.parametrize(
    "source, existing",
    [
        pytest.param(None, "30", id="manual outcome without source"),
        pytest.param("Trainer", "30", id="outcome entered by a trainer"),
        pytest.param("  ", "51", id="blank source is not ours"),
        pytest.param("Cloud Assess", "81", id="another integration"),
    ],
)
def test_outcome_from_someone_else_is_a_conflict_and_never_written(source, existing):
    result = plan(f"S1001,BSBWHS211,{T},,\n", [eu(501, code=existing, day=date(2026, 2, 1), source=source)])
    assert result.writes == []
    assert (result.rows_written, result.rows_skipped, result.rows_rejected) == (0, 0, 1)
    [anomaly] = result.anomalies
    assert (anomaly.record, anomaly.key, anomaly.code, anomaly.level) == ("student", "S1001", "conflict", REJECTED)
    assert anomaly.data == {
        "student_number": "S1001",
        "unit_code": "BSBWHS211",
        "existing_outcome": existing,
        "existing_source": source,
        "moodle_outcome": "20",
    }
    assert anomaly.reason.startswith(f"StudentNumber S1001 unit BSBWHS211 already has outcome {existing} (")
    assert "Moodle gives 20 (Moodle course BSBWHS211, file row 1)" in anomaly.reason
    assert result.errors == [
        {
            "user_idnumber": "S1001",
            "course_idnumber": "BSBWHS211",
            "timecompleted": T,
            "finalgrade": "",
            "gradepass": "",
            "row": 1,
            "reason": anomaly.reason,
        }
    ]


def test_conflict_reason_names_the_source():
    result = plan(f"S1001,BSBWHS211,{T},,\n", [eu(501, code="30", source="Trainer")])
    assert result.anomalies[0].reason == (
        "StudentNumber S1001 unit BSBWHS211 already has outcome 30 (source 'Trainer') and Moodle gives 20 "
        "(Moodle course BSBWHS211, file row 1): an outcome not written by the Moodle sync is never overwritten"
    )
    result = plan(f"S1001,BSBWHS211,{T},,\n", [eu(501, code="30", source=None)])
    assert "already has outcome 30 (no source) and Moodle gives 20" in result.anomalies[0].reason


@pytest.mark.parametrize(
    "source, day",
    [
        pytest.param(None, date(2026, 2, 1), id="manual 20 with another date"),
        pytest.param("Trainer", APRIL_1, id="trainer 20 with the same date"),
    ],
)
def test_manual_outcome_equal_to_moodle_is_up_to_date(source, day):
    result = plan(f"S1001,BSBWHS211,{T},,\n", [eu(501, code=" 20 ", day=day, source=source)])
    assert (result.writes, result.up_to_date, result.anomalies, result.errors) == ([], 1, [], [])
    assert (result.rows_written, result.rows_skipped, result.rows_rejected) == (0, 1, 0)


@pytest.mark.parametrize(
    "code, day, source",
    [
        pytest.param("20", date(2026, 3, 2), MOODLE_SOURCE, id="newer completion date"),
        pytest.param("30", APRIL_1, MOODLE_SOURCE, id="a pass replaces an earlier moodle fail"),
        pytest.param("20", date(2026, 3, 2), "moodle SYNC ", id="source compared case-insensitively"),
        pytest.param("", None, "Trainer", id="empty code is writable whatever the source"),
        pytest.param(None, None, None, id="no outcome yet"),
    ],
)
def test_writable_rows_get_the_new_result(code, day, source):
    result = plan(f"S1001,BSBWHS211,{T},,\n", [eu(501, code=code, day=day, source=source)])
    assert result.writes == [OutcomeWrite(501, "20", APRIL_1, "S1001", "BSBWHS211", 1)]
    assert result.anomalies == []


@pytest.mark.parametrize(
    "source",
    [pytest.param(MOODLE_SOURCE, id="exact source"), pytest.param(" MOODLE sync", id="source in another case")],
)
def test_same_value_is_not_rewritten(source):
    result = plan(f"S1001,BSBWHS211,{T},,\n", [eu(501, code="20", day=APRIL_1, source=source)])
    assert (result.writes, result.up_to_date, result.anomalies) == ([], 1, [])


def test_transfer_goes_to_the_newest_active_enrolment_and_is_explained():
    units = [eu(501, 7, "Withdrawn"), eu(502, 9, "Active"), eu(503, 8, "Active")]
    result = plan(f"S1001,BSBWHS211,{T},,\n", units)
    assert [w.enrolment_unit_id for w in result.writes] == [502]
    assert result.anomalies == [
        Anomaly(
            "student",
            "S1001",
            "transfer",
            "StudentNumber S1001 has unit BSBWHS211 under enrolments 7 (Withdrawn), 8 (Active), 9 (Active): "
            "the outcome goes to enrolment 9 (Active, newest) (Moodle course BSBWHS211, file row 1)",
            level=WARNING,
            data={
                "student_number": "S1001",
                "unit_code": "BSBWHS211",
                "row": 1,
                "enrolment_id": 9,
                "enrolment_unit_id": 502,
            },
        )
    ]
    assert result.rows_rejected == 0


def test_transfer_without_active_enrolment_goes_to_the_newest():
    units = [eu(501, 7, "Withdrawn"), eu(502, 11, "Completed"), eu(503, 9, "Deferred")]
    result = plan(f"S1001,BSBWHS211,{T},,\n", units)
    assert [w.enrolment_unit_id for w in result.writes] == [502]
    assert [(a.code, a.level) for a in result.anomalies] == [("transfer", WARNING)]
    assert "none is Active, so the outcome goes to enrolment 11 (newest)" in result.anomalies[0].reason


def test_transfer_target_holding_a_manual_outcome_is_a_conflict():
    # The choice is made first; an older enrolment's empty row is not a way around a manual result.
    units = [eu(501, 7, "Withdrawn"), eu(502, 9, "Active", code="30", source="Trainer")]
    result = plan(f"S1001,BSBWHS211,{T},,\n", units)
    assert result.writes == []
    assert [(a.code, a.level) for a in result.anomalies] == [("transfer", WARNING), ("conflict", REJECTED)]


def test_cluster_course_maps_to_several_units():
    courses = {"CLUSTER-WHS": ["BSBWHS211", "BSBWHS311", "BSBWHS211"]}  # a unit mapped twice counts once
    units = [eu(501, unit="BSBWHS211"), eu(502, unit="BSBWHS311"), eu(503, unit="BSBWHS411")]
    result = plan(f"S1001,cluster-whs,{T},,\n", units, courses=courses)
    assert result.writes == [
        OutcomeWrite(501, "20", APRIL_1, "S1001", "BSBWHS211", 1),
        OutcomeWrite(502, "20", APRIL_1, "S1001", "BSBWHS311", 1),
    ]
    assert result.anomalies == []


def test_a_student_id_matching_two_students_is_refused_and_written_to_neither():
    """``S20004`` and ``s20004`` can both exist in SQLite or under a case-sensitive collation."""
    units = [eu(501, student="S20004"), eu(502, student="s20004")]
    result = plan(f"S20004,BSBWHS211,{T},,\n", units, students={"S20004": ["S20004", "s20004"]})
    assert result.writes == []
    (a,) = result.anomalies
    assert (a.code, a.level, a.data["candidates"]) == ("ambiguous_student", REJECTED, ["S20004", "s20004"])
    assert "matches 2 PowerPro students (S20004, s20004)" in a.reason
    assert [e["row"] for e in result.errors] == [1]


def test_a_course_id_matching_two_units_is_refused_and_written_to_neither():
    units = [eu(501, unit="TU1"), eu(502, unit="tu1")]
    result = plan(f"S1001,tu1,{T},,\n", units, courses={"TU1": ["TU1", "tu1"]})
    assert result.writes == []
    (a,) = result.anomalies
    assert (a.code, a.data["candidates"]) == ("ambiguous_unit", ["TU1", "tu1"])
    assert "differ only in case (TU1, tu1)" in a.reason


def test_hidden_characters_in_an_id_are_shown_escaped():
    result = plan(f"S1001\u200b,BSBWHS211,{T},,\n", [eu(501)])
    (a,) = result.anomalies
    assert a.code == "unknown_student"
    assert "user_idnumber S1001\\u200b matches no PowerPro StudentNumber" in a.reason


def test_cluster_course_with_a_unit_the_student_lacks():
    courses = {"CLUSTER-WHS": ["BSBWHS211", "BSBWHS311"]}
    result = plan(f"S1001,CLUSTER-WHS,{T},,\n", [eu(501, unit="BSBWHS211")], courses=courses)
    assert [w.enrolment_unit_id for w in result.writes] == [501]
    assert [(a.key, a.code, a.level, a.reason) for a in result.anomalies] == [
        (
            "S1001",
            "not_enrolled",
            REJECTED,
            "StudentNumber S1001 is not enrolled in unit BSBWHS311 (Moodle course CLUSTER-WHS, file row 1)",
        )
    ]
    assert (result.rows_written, result.rows_rejected) == (1, 1)
    assert [(e["row"], e["course_idnumber"]) for e in result.errors] == [(1, "CLUSTER-WHS")]


def test_identifiers_match_case_insensitively():
    result = plan(
        f" s1001 ,bsbwhs211,{T},,\n",
        [eu(501, student="S1001", unit="BsbWhs211 ")],
        students={"s1001": "S1001"},  # re-keyed defensively even if the caller forgot to upper-case
        courses={"BSBWHS211": ["BSBWHS211"]},
    )
    assert result.writes == [OutcomeWrite(501, "20", APRIL_1, "S1001", "BsbWhs211 ", 1)]
    assert result.anomalies == []


def test_failing_grade_is_reported_not_written_by_default():
    result = plan(f"S1001,BSBWHS211,{T},40.5,50\n", [eu(501)])
    assert result.writes == []
    assert (result.not_yet_competent, result.rows_skipped, result.rows_rejected) == (1, 1, 0)
    assert result.anomalies == [
        Anomaly(
            "student",
            "S1001",
            "not_yet_competent",
            "StudentNumber S1001 completed unit BSBWHS211 on 2026-04-01 with grade 40.5 below the pass mark 50 "
            "(Moodle course BSBWHS211, file row 1): a not-yet-competent candidate for a trainer to assess; "
            "nothing was written",
            level=WARNING,
            data={
                "student_number": "S1001",
                "unit_code": "BSBWHS211",
                "row": 1,
                "finalgrade": "40.5",
                "gradepass": "50",
                "completed": "2026-04-01",
            },
        )
    ]
    assert result.errors == []


def test_failing_grade_is_written_as_30_when_the_rules_say_so():
    result = plan(f"S1001,BSBWHS211,{T},40.5,50\n", [eu(501)], rules=WRITE_NYC)
    assert result.writes == [OutcomeWrite(501, "30", APRIL_1, "S1001", "BSBWHS211", 1)]
    assert (result.not_yet_competent, result.anomalies) == (0, [])


def test_configured_30_equal_to_a_manual_30_is_up_to_date():
    result = plan(f"S1001,BSBWHS211,{T},10,50\n", [eu(501, code="30", source="Trainer")], rules=WRITE_NYC)
    assert (result.writes, result.up_to_date, result.anomalies) == ([], 1, [])


def test_unknown_student_unit_and_enrolment_are_rejected_with_reasons():
    lines = (
        f"S9999,BSBWHS211,{T},,\n"  # not a PowerPro student
        f"S1001,NOPE101,{T},,\n"  # neither a mapping nor a unit
        f"S1002,BSBWHS211,{T},,\n"  # a student without that unit
        f"S1001,BSBWHS211,{T},,\n"  # fine
    )
    result = plan(
        lines,
        [eu(501), eu(601, student="S1002", unit="BSBCMM211")],
        students={"S1001": "S1001", "S1002": "S1002"},
    )
    assert [w.row for w in result.writes] == [4]
    assert [(a.record, a.key, a.code, a.level, a.reason) for a in result.anomalies] == [
        (
            "student",
            "S9999",
            "unknown_student",
            REJECTED,
            "Moodle user_idnumber S9999 matches no PowerPro StudentNumber (Moodle course BSBWHS211, file row 1)",
        ),
        (
            "student",
            "S1001",
            "unknown_unit",
            REJECTED,
            "Moodle course_idnumber NOPE101 is neither mapped in MoodleCourseUnit nor a PowerPro UnitCode "
            "(StudentNumber S1001, file row 2)",
        ),
        (
            "student",
            "S1002",
            "not_enrolled",
            REJECTED,
            "StudentNumber S1002 is not enrolled in unit BSBWHS211 (Moodle course BSBWHS211, file row 3)",
        ),
    ]
    assert [(e["row"], e["user_idnumber"], e["reason"]) for e in result.errors] == [
        (1, "S9999", result.anomalies[0].reason),
        (2, "S1001", result.anomalies[1].reason),
        (3, "S1002", result.anomalies[2].reason),
    ]
    assert (result.rows_written, result.rows_skipped, result.rows_rejected) == (1, 0, 3)


def test_identity_problems_are_reported_even_when_not_completed():
    result = plan("S9999,BSBWHS211,,,\n", [eu(501)])
    assert (result.not_completed, [a.code for a in result.anomalies]) == (0, ["unknown_student"])


def test_bad_rows_of_the_file_become_rejections_and_errors():
    lines = f"S1001,BSBWHS211,2026-03-31T14:30:00,,\nS1001,BSBWHS211,{T},85,50\n,BSBWHS211,{T},,\n"
    result = plan(lines, [eu(501)])
    assert [w.row for w in result.writes] == [2]
    assert [(a.record, a.key, a.code, a.level) for a in result.anomalies] == [
        ("row", "row 1", "bad_time", REJECTED),
        ("row", "row 3", "missing_id", REJECTED),
    ]
    assert result.anomalies[0].data == {"user_idnumber": "S1001", "course_idnumber": "BSBWHS211"}
    assert result.errors[0] == {
        "user_idnumber": "S1001",
        "course_idnumber": "BSBWHS211",
        "timecompleted": "2026-03-31T14:30:00",
        "finalgrade": "",
        "gradepass": "",
        "row": 1,
        "reason": result.anomalies[0].reason,
    }
    assert "has no UTC offset, so its date would be ambiguous" in result.errors[0]["reason"]
    assert result.rows_rejected == 2


def test_disagreeing_duplicate_rows_are_rejected_and_nothing_written():
    result = plan(f"S1001,BSBWHS211,{T},85,50\ns1001,bsbwhs211,{T},45,50\n", [eu(501)])
    assert result.writes == []
    assert [(a.key, a.code) for a in result.anomalies] == [
        ("row 1", "duplicate_conflict"),
        ("row 2", "duplicate_conflict"),
    ]
    assert [e["row"] for e in result.errors] == [1, 2]


def test_two_rows_for_one_unit_keep_the_latest_completion():
    # A cluster course and the unit's own course both completed, at different times and results.
    courses = {"CLUSTER-WHS": ["BSBWHS211", "BSBWHS311"], "BSBWHS211": ["BSBWHS211"]}
    lines = (
        "S1001,BSBWHS211,2026-05-02T01:00:00Z,20,50\n"  # later: a fail, written as 30
        "S1001,CLUSTER-WHS,2026-04-10T01:00:00Z,,\n"  # earlier: a pass
    )
    units = [eu(501, unit="BSBWHS211"), eu(502, unit="BSBWHS311")]
    result = plan(lines, units, courses=courses, rules=WRITE_NYC)
    assert result.writes == [
        OutcomeWrite(501, "30", date(2026, 5, 2), "S1001", "BSBWHS211", 1),
        OutcomeWrite(502, "20", date(2026, 4, 10), "S1001", "BSBWHS311", 2),
    ]
    assert result.superseded == 1
    assert (result.rows_written, result.rows_skipped, result.rows_rejected) == (2, 1, 0)
    assert [(a.code, a.level, a.reason) for a in result.anomalies] == [
        (
            "superseded",
            WARNING,
            "StudentNumber S1001 unit BSBWHS211: file rows 1 and 2 give different outcomes (30 on 2026-05-02 and "
            "20 on 2026-04-10); the later completion, row 1, was used",
        )
    ]


def test_two_rows_for_one_unit_in_the_other_order_give_the_same_write():
    courses = {"CLUSTER-WHS": ["BSBWHS211"], "BSBWHS211": ["BSBWHS211"]}
    lines = "S1001,CLUSTER-WHS,2026-04-10T01:00:00Z,,\nS1001,BSBWHS211,2026-05-02T01:00:00Z,,\n"
    result = plan(lines, [eu(501)], courses=courses)
    assert result.writes == [OutcomeWrite(501, "20", date(2026, 5, 2), "S1001", "BSBWHS211", 2)]
    assert result.superseded == 1


def test_two_rows_with_the_same_outcome_for_one_unit_are_not_a_warning():
    courses = {"CLUSTER-WHS": ["BSBWHS211"], "BSBWHS211": ["BSBWHS211"]}
    lines = f"S1001,CLUSTER-WHS,{T},,\nS1001,BSBWHS211,{T},,\n"
    result = plan(lines, [eu(501)], courses=courses)
    assert result.writes == [OutcomeWrite(501, "20", APRIL_1, "S1001", "BSBWHS211", 2)]
    assert (result.superseded, result.anomalies) == (1, [])


def test_a_whole_file_counts():
    lines = (
        f"S1001,BSBWHS211,{T},,\n"  # write
        f"S1002,BSBWHS211,{T},,\n"  # up to date
        "S1003,BSBWHS211,,,\n"  # not completed
        f"S1004,BSBWHS211,{T},1,50\n"  # not yet competent
        f"S1005,BSBWHS211,{T},,\n"  # conflict
        "S1006,BSBWHS211,bad,,\n"  # bad time
    )
    students = {f"S100{i}": f"S100{i}" for i in range(1, 7)}
    units = [
        eu(501, student="S1001"),
        eu(502, student="S1002", code="20", day=APRIL_1, source=MOODLE_SOURCE),
        eu(503, student="S1003"),
        eu(504, student="S1004"),
        eu(505, student="S1005", code="51", source="RPL office"),
        eu(506, student="S1006"),
    ]
    result = plan(lines, units, students=students)
    assert [w.enrolment_unit_id for w in result.writes] == [501]
    assert (result.up_to_date, result.not_completed, result.not_yet_competent) == (1, 1, 1)
    assert (result.rows_written, result.rows_skipped, result.rows_rejected) == (1, 3, 2)
    assert sorted((a.code, a.level) for a in result.anomalies) == [
        ("bad_time", REJECTED),
        ("conflict", REJECTED),
        ("not_yet_competent", WARNING),
    ]
    assert sorted(e["row"] for e in result.errors) == [5, 6]


def test_formats_layer_does_not_import_airflow():
    code = (
        "import sys; import powerpro_moodle.formats.outcomes, powerpro_moodle.formats.completion_file; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'airflow'))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=PLUGINS)
    assert done.stdout.strip() == "[]"
