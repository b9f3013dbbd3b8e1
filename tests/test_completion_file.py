"""The Moodle completion file reader (SPEC section 5): pure, no Airflow."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from powerpro_moodle.formats.completion_file import (
    BadRow,
    CompletionFile,
    CompletionRow,
    UnreadableFile,
    parse_completion_file,
)
from powerpro_moodle.formats.summary import REJECTED, Anomaly

HEADER = "user_idnumber,course_idnumber,timecompleted,finalgrade,gradepass\n"
# 2026-03-31T14:30:00Z
T_UTC = datetime(2026, 3, 31, 14, 30, tzinfo=UTC)
T_UNIX = "1774967400"


def parse(text: str) -> CompletionFile:
    return parse_completion_file(text.encode("utf-8"))


def only_row(text: str) -> CompletionRow:
    result = parse(text)
    assert result.bad_rows == []
    assert len(result.rows) == 1
    return result.rows[0]


def only_bad(text: str) -> BadRow:
    result = parse(text)
    assert result.rows == []
    assert len(result.bad_rows) == 1
    return result.bad_rows[0]


def test_reads_a_typical_file():
    result = parse(HEADER + f"S1001,BSBWHS211,{T_UNIX},85.5,50\nS1002,BSBWHS211,,,50\n")
    assert result.header == ["user_idnumber", "course_idnumber", "timecompleted", "finalgrade", "gradepass"]
    assert result.rows_read == 2
    assert result.duplicates == 0
    assert result.bad_rows == []
    assert result.rows == [
        CompletionRow(1, "S1001", "BSBWHS211", T_UTC, Decimal("85.5"), Decimal("50")),
        CompletionRow(2, "S1002", "BSBWHS211", None, None, Decimal("50")),
    ]
    assert result.rows[0].original == {
        "user_idnumber": "S1001",
        "course_idnumber": "BSBWHS211",
        "timecompleted": T_UNIX,
        "finalgrade": "85.5",
        "gradepass": "50",
    }


def test_bom_is_tolerated():
    data = b"\xef\xbb\xbf" + (HEADER + f"S1,U1,{T_UNIX},,\n").encode("utf-8")
    result = parse_completion_file(data)
    assert result.header[0] == "user_idnumber"
    assert [(r.user_idnumber, r.completed_at) for r in result.rows] == [("S1", T_UTC)]


def test_header_is_case_insensitive_stripped_and_extra_columns_are_ignored():
    text = (
        "Email, USER_IDNUMBER ,Course_IdNumber,TimeCompleted,FinalGrade,Notes\n"
        f"a@example.org,s1001,bsbwhs211,{T_UNIX},70,whatever\n"
    )
    result = parse(text)
    assert result.header == ["Email", " USER_IDNUMBER ", "Course_IdNumber", "TimeCompleted", "FinalGrade", "Notes"]
    row = result.rows[0]
    assert (row.user_idnumber, row.course_idnumber, row.completed_at) == ("s1001", "bsbwhs211", T_UTC)
    assert (row.finalgrade, row.gradepass) == (Decimal("70"), None)
    # Original values keep the file's own header names, extra columns included.
    assert row.original == {
        "Email": "a@example.org",
        " USER_IDNUMBER ": "s1001",
        "Course_IdNumber": "bsbwhs211",
        "TimeCompleted": T_UNIX,
        "FinalGrade": "70",
        "Notes": "whatever",
    }


def test_ids_are_stripped_and_keep_their_case():
    row = only_row(HEADER + f"  s1001x , Bsb WHS211 ,{T_UNIX},,\n")
    assert (row.user_idnumber, row.course_idnumber) == ("s1001x", "Bsb WHS211")


def test_quoted_commas_newlines_unicode_and_crlf():
    text = (
        "user_idnumber,course_idnumber,timecompleted,comment\r\n"
        f'"S1","UNIT, with comma",{T_UNIX},"Zoë — ""great""\r\nsecond line"\r\n'
        f"ÉLÈVE-2,U2,{T_UNIX},\r\n"
    )
    result = parse(text)
    assert result.rows_read == 2
    assert [(r.row, r.user_idnumber, r.course_idnumber) for r in result.rows] == [
        (1, "S1", "UNIT, with comma"),
        (2, "ÉLÈVE-2", "U2"),
    ]
    assert result.rows[0].original["comment"] == 'Zoë — "great"\r\nsecond line'


def test_blank_lines_are_not_rows():
    result = parse("\n" + HEADER + f"\nS1,U1,{T_UNIX},,\n\n,,,,\nS2,U1,,,\n\n")
    assert result.rows_read == 2
    assert [(r.row, r.user_idnumber) for r in result.rows] == [(1, "S1"), (2, "S2")]


def test_short_and_long_rows_are_read_by_header():
    result = parse(HEADER + f"S1,U1,{T_UNIX}\nS2,U1,{T_UNIX},60,50,surplus,cells\n")
    assert [(r.user_idnumber, r.finalgrade, r.gradepass) for r in result.rows] == [
        ("S1", None, None),
        ("S2", Decimal("60"), Decimal("50")),
    ]
    assert result.rows[0].original == {
        "user_idnumber": "S1",
        "course_idnumber": "U1",
        "timecompleted": T_UNIX,
        "finalgrade": "",
        "gradepass": "",
    }


@pytest.mark.parametrize(
    "value, expected",
    [
        pytest.param("", None, id="empty is not completed"),
        pytest.param("0", None, id="zero is not completed"),
        pytest.param("-", None, id="dash is not completed"),
        pytest.param("  ", None, id="spaces are not completed"),
        pytest.param(T_UNIX, T_UTC, id="unix seconds are UTC"),
        pytest.param("1", datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC), id="one second after the epoch"),
        pytest.param("2026-03-31T14:30:00+00:00", T_UTC, id="iso with +00:00"),
        pytest.param("2026-03-31T14:30:00Z", T_UTC, id="iso with Z"),
        pytest.param("2026-04-01 00:30:00+10:00", T_UTC, id="iso with a space and +10:00 is converted to UTC"),
        pytest.param("2026-03-31T22:30:00+08:00", T_UTC, id="iso with Perth offset"),
        pytest.param("2100-12-31T23:59:59Z", datetime(2100, 12, 31, 23, 59, 59, tzinfo=UTC), id="last second of 2100"),
    ],
)
def test_timecompleted(value, expected):
    row = only_row(HEADER + f"S1,U1,{value},,\n")
    assert row.completed_at == expected
    if expected is not None:
        assert row.completed_at.utcoffset().total_seconds() == 0


@pytest.mark.parametrize(
    "value, reason",
    [
        pytest.param(
            "2026-03-31T14:30:00", "has no UTC offset, so its date would be ambiguous", id="iso without offset"
        ),
        pytest.param("2026-03-31", "has no UTC offset", id="date only"),
        pytest.param("31/03/2026", "neither Unix seconds nor an ISO 8601 time", id="australian date"),
        pytest.param("yesterday", "neither Unix seconds nor an ISO 8601 time", id="words"),
        pytest.param("1774967400.5", "neither Unix seconds nor an ISO 8601 time", id="fractional seconds"),
        pytest.param("-1774967400", "is negative", id="negative seconds"),
        pytest.param("1774967400000", "later than the year 2100 as Unix seconds", id="milliseconds"),
        pytest.param("99999999999999999999999", "later than the year 2100", id="huge number"),
        pytest.param("2101-01-01T00:00:00Z", "later than the year 2100", id="iso in 2101"),
        pytest.param("1969-12-31T23:59:59Z", "before 1970", id="iso before the epoch"),
    ],
)
def test_bad_timecompleted_rejects_the_row(value, reason):
    bad = only_bad(HEADER + f"S1,U1,{value},,\n")
    assert bad.code == "bad_time"
    assert bad.row == 1
    assert reason in bad.reason
    assert repr(value) in bad.reason


@pytest.mark.parametrize(
    "value, expected",
    [
        pytest.param("85", Decimal("85"), id="integer"),
        pytest.param("85.5", Decimal("85.5"), id="decimal"),
        pytest.param("85.00000", Decimal("85"), id="moodle five decimals"),
        pytest.param(" 7 ", Decimal("7"), id="stripped"),
        pytest.param("", None, id="empty"),
        pytest.param("-", None, id="dash"),
    ],
)
def test_grades(value, expected):
    row = only_row(HEADER + f"S1,U1,{T_UNIX},{value},{value}\n")
    assert row.finalgrade == expected
    assert row.gradepass == expected


@pytest.mark.parametrize(
    "finalgrade, gradepass, message",
    [
        pytest.param("85,5", "50", "finalgrade '85,5' is not a number", id="comma decimal"),
        pytest.param("NaN", "50", "finalgrade 'NaN' is not a number", id="nan"),
        pytest.param("inf", "50", "finalgrade 'inf' is not a number", id="infinity"),
        pytest.param("1e2", "50", "finalgrade '1e2' is not a number", id="exponent"),
        pytest.param("85", "fifty", "gradepass 'fifty' is not a number", id="words in gradepass"),
        pytest.param("85%", "50", "finalgrade '85%' is not a number", id="percent sign"),
    ],
)
def test_bad_grade_rejects_the_row(finalgrade, gradepass, message):
    bad = only_bad(HEADER + f'S1,U1,{T_UNIX},"{finalgrade}",{gradepass}\n')
    assert bad.code == "bad_grade"
    assert message in bad.reason


@pytest.mark.parametrize(
    "line, missing",
    [
        pytest.param(f",U1,{T_UNIX},,", "user_idnumber is empty", id="no user"),
        pytest.param(f"S1,  ,{T_UNIX},,", "course_idnumber is empty", id="no course"),
        pytest.param(f",,{T_UNIX},,", "user_idnumber and course_idnumber is empty", id="neither"),
    ],
)
def test_missing_ids_reject_the_row(line, missing):
    bad = only_bad(HEADER + line + "\n")
    assert bad.code == "missing_id"
    assert bad.reason.startswith(missing)


def test_bad_rows_do_not_stop_good_ones_and_keep_file_order():
    text = HEADER + f"S1,U1,{T_UNIX},,\nS2,U1,nope,,\nS3,U1,{T_UNIX},abc,\n,U1,,,\nS5,U1,,,\n"
    result = parse(text)
    assert result.rows_read == 5
    assert [r.row for r in result.rows] == [1, 5]
    assert [(b.row, b.code) for b in result.bad_rows] == [(2, "bad_time"), (3, "bad_grade"), (4, "missing_id")]
    assert result.bad_rows[0].original == {
        "user_idnumber": "S2",
        "course_idnumber": "U1",
        "timecompleted": "nope",
        "finalgrade": "",
        "gradepass": "",
    }


def test_bad_row_becomes_a_rejected_anomaly():
    bad = only_bad("User_IdNumber,Course_IdNumber,TimeCompleted\n" + " S9 ,U7,2026-03-31T14:30:00\n")
    assert bad.to_anomaly() == Anomaly(
        "row",
        "row 1",
        "bad_time",
        bad.reason,
        level=REJECTED,
        data={"user_idnumber": "S9", "course_idnumber": "U7"},
    )


def test_agreeing_duplicates_are_dropped():
    text = HEADER + (
        f"S1,U1,{T_UNIX},80,50\n"
        f"S2,U1,{T_UNIX},,\n"
        f"s1,u1,2026-03-31T14:30:00Z,80.0,50\n"  # same facts, other case and spelling
        f"S1,U1,{T_UNIX},80,50\n"
    )
    result = parse(text)
    assert result.rows_read == 4
    assert result.duplicates == 2
    assert result.bad_rows == []
    assert [(r.row, r.user_idnumber) for r in result.rows] == [(1, "S1"), (2, "S2")]


def test_disagreeing_duplicates_are_all_rejected():
    text = HEADER + (f"S1,U1,{T_UNIX},80,50\nS2,U1,{T_UNIX},,\ns1,U1,{T_UNIX},40,50\nS1,u1,,,\n")
    result = parse(text)
    assert result.rows_read == 4
    assert result.duplicates == 0
    assert [r.row for r in result.rows] == [2]
    assert [(b.row, b.code) for b in result.bad_rows] == [
        (1, "duplicate_conflict"),
        (3, "duplicate_conflict"),
        (4, "duplicate_conflict"),
    ]
    assert "also appear in rows 3, 4 with a different completion time or grade" in result.bad_rows[0].reason
    assert "also appear in rows 1, 4" in result.bad_rows[1].reason
    assert result.bad_rows[2].original["timecompleted"] == ""


def test_two_disagreeing_rows_name_each_other():
    result = parse(HEADER + f"S1,U1,{T_UNIX},,\nS1,U1,0,,\n")
    assert [b.reason.split(" with ")[0] for b in result.bad_rows] == [
        "user_idnumber 'S1' and course_idnumber 'U1' also appear in row 2",
        "user_idnumber 'S1' and course_idnumber 'U1' also appear in row 1",
    ]


def test_counts_add_up():
    text = HEADER + f"S1,U1,{T_UNIX},,\nS1,U1,{T_UNIX},,\nS2,U1,bad,,\nS3,U1,,,\n"
    result = parse(text)
    assert (result.rows_read, len(result.rows), len(result.bad_rows), result.duplicates) == (4, 2, 1, 1)


@pytest.mark.parametrize(
    "data, message",
    [
        pytest.param(b"", r"^The file is empty", id="empty"),
        pytest.param(b"\xef\xbb\xbf\r\n\r\n", r"^The file is empty", id="bom and blank lines only"),
        pytest.param(
            "user_idnumber,course_idnumber,timecompleted\nS1,Unité,0\n".encode("latin-1"),
            r"not UTF-8 text: the byte 0xE9 at byte offset 51 \(line 2\)",
            id="latin-1",
        ),
        pytest.param(
            b"\xef\xbb\xbfuser_idnumber,course_idnumber,timecompleted\n\xff",
            r"byte 0xFF at byte offset 47 \(line 2\)",
            id="offset counts the bom",
        ),
    ],
)
def test_unreadable_files(data, message):
    with pytest.raises(UnreadableFile, match=message):
        parse_completion_file(data)


def test_missing_columns_are_named_with_the_header_found():
    with pytest.raises(UnreadableFile) as info:
        parse("userid,course_idnumber,completed\nS1,U1,0\n")
    assert str(info.value) == (
        "The header is missing the required columns user_idnumber, timecompleted. A completion file needs "
        "user_idnumber, course_idnumber, timecompleted (and optionally finalgrade, gradepass); "
        "the header found is: 'userid', 'course_idnumber', 'completed'."
    )


def test_one_missing_column():
    with pytest.raises(UnreadableFile, match=r"missing the required column timecompleted\. .*found is: 'u"):
        parse("user_idnumber,course_idnumber,finalgrade\nS1,U1,50\n")


def test_duplicated_header_names():
    with pytest.raises(UnreadableFile, match=r"names the column 'finalgrade' more than once \(columns 4 and 6\)"):
        parse("user_idnumber,course_idnumber,timecompleted,finalgrade,gradepass,FinalGrade \nS1,U1,0,1,2,3\n")


def test_unnamed_columns_are_ignored():
    result = parse("user_idnumber,course_idnumber,timecompleted,,\nS1,U1,0,x,y\n")
    assert result.rows[0].original == {"user_idnumber": "S1", "course_idnumber": "U1", "timecompleted": "0"}


def test_unreadable_file_is_a_value_error():
    assert issubclass(UnreadableFile, ValueError)
