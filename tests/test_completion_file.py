"""The Moodle completion file reader (SPEC section 5): pure, no Airflow."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from powerpro_moodle.formats.completion_file import (
    MAX_CELL_CHARS,
    ORIGINAL_TEXT,
    BadRow,
    CompletionFile,
    CompletionRow,
    UnreadableFile,
    errors_csv,
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


@pytest.mark.parametrize(
    "line, cells, original",
    [
        pytest.param(
            f"S1,U1,{T_UNIX}",
            3,
            {"user_idnumber": "S1", "course_idnumber": "U1", "timecompleted": T_UNIX},
            id="short row is not padded",
        ),
        pytest.param(
            f"S1,U1,{T_UNIX},60,50,surplus,cells",
            7,
            {
                "user_idnumber": "S1",
                "course_idnumber": "U1",
                "timecompleted": T_UNIX,
                "finalgrade": "60",
                "gradepass": "50",
            },
            id="long row is not cut",
        ),
        pytest.param(
            f"S1,{T_UNIX},60,50",
            4,
            {"user_idnumber": "S1", "course_idnumber": T_UNIX, "timecompleted": "60", "finalgrade": "50"},
            id="shifted row with a lost cell",
        ),
        pytest.param(
            f'"S1","U1, with comma",{T_UNIX},60,50,""',
            6,
            {
                "user_idnumber": "S1",
                "course_idnumber": "U1, with comma",
                "timecompleted": T_UNIX,
                "finalgrade": "60",
                "gradepass": "50",
            },
            id="quoted cells keep their quotes in the text",
        ),
    ],
)
def test_a_row_that_does_not_match_the_header_is_a_bad_row(line, cells, original):
    result = parse(HEADER + f"S0,U0,{T_UNIX},,\n" + line + "\r\n" + f"S2,U2,{T_UNIX},,\n")
    assert [r.user_idnumber for r in result.rows] == ["S0", "S2"]
    assert result.rows_read == 3
    (bad,) = result.bad_rows
    assert (bad.row, bad.code) == (2, "bad_row")
    assert bad.reason == (
        f"row has {cells} cells but the header has 5 columns; it was not applied "
        "(a truncated or shifted row is never padded)"
    )
    # The cells that exist, by header name, and the row's original text, line break excluded.
    assert bad.original == {**original, ORIGINAL_TEXT: line}
    assert bad.text == line
    assert bad.to_anomaly().data == {"user_idnumber": "S1", "course_idnumber": original["course_idnumber"]}


def test_a_one_cell_row_says_cell():
    bad = only_bad(HEADER + "S1\n")
    assert bad.reason.startswith("row has 1 cell but the header has 5 columns;")
    assert bad.original == {"user_idnumber": "S1", ORIGINAL_TEXT: "S1"}


def test_a_multi_line_bad_row_keeps_all_its_text():
    bad = only_bad(HEADER + 'S1,U1,"two\nlines"\n')
    assert bad.code == "bad_row"
    assert bad.text == 'S1,U1,"two\nlines"'
    assert bad.original["timecompleted"] == "two\nlines"


@pytest.mark.parametrize(
    "header, line, good",
    [
        pytest.param(
            "user_idnumber,course_idnumber,timecompleted,", f"S1,U1,{T_UNIX},", True, id="same trailing comma"
        ),
        pytest.param("user_idnumber,course_idnumber,timecompleted,", f"S1,U1,{T_UNIX}", False, id="row without it"),
        pytest.param(
            "user_idnumber,course_idnumber,timecompleted", f"S1,U1,{T_UNIX},", False, id="row with an extra one"
        ),
    ],
)
def test_trailing_commas_must_match_the_header(header, line, good):
    result = parse(header + "\n" + line + "\n")
    if good:
        assert [(r.user_idnumber, r.completed_at) for r in result.rows] == [("S1", T_UTC)]
        assert result.bad_rows == []
    else:
        assert result.rows == []
        assert [(b.code, b.text) for b in result.bad_rows] == [("bad_row", line)]


def test_blank_lines_of_any_width_are_not_bad_rows():
    result = parse(HEADER + f",,\n,,,,,,,\nS1,U1,{T_UNIX},,\n , \n")
    assert result.rows_read == 1
    assert result.bad_rows == []
    assert [r.row for r in result.rows] == [1]


def test_oversize_cell_rejects_its_row_only():
    before = csv.field_size_limit()
    big = "x" * 10_485_760
    text = (
        "user_idnumber,course_idnumber,timecompleted,fullname\n"
        f"S1,U1,{T_UNIX},Ann\n"
        f'S2,U1,{T_UNIX},"{big}"\n'
        f"S3,U1,{T_UNIX},{'y' * MAX_CELL_CHARS}\n"
    )
    result = parse(text)
    assert csv.field_size_limit() == before
    assert [(r.row, r.user_idnumber) for r in result.rows] == [(1, "S1"), (3, "S3")]
    assert len(result.rows[1].original["fullname"]) == MAX_CELL_CHARS
    (bad,) = result.bad_rows
    assert (bad.row, bad.code) == (2, "bad_row")
    assert bad.reason == (
        "the cell in column 'fullname' holds 10,485,760 characters, over the 131,072 limit; the row was not applied"
    )
    # The errors file gets a cut cell, never the huge one.
    assert bad.original["fullname"] == "x" * 200 + "… (truncated)"
    assert bad.original["user_idnumber"] == "S2"
    assert bad.text == f"S2,U1,{T_UNIX}," + "x" * 200 + "… (truncated)"
    entry = {**bad.original, "row": bad.row, "reason": bad.reason}
    assert len(errors_csv(result.header, [entry])) < 2000


def test_several_oversize_cells_are_counted():
    cell = "z" * (MAX_CELL_CHARS + 1)
    bad = only_bad(HEADER + f"S1,U1,{T_UNIX},{cell},{cell}\n")
    assert bad.reason == (
        "the cell in column 'finalgrade' holds 131,073 characters, over the 131,072 limit "
        "(and 1 more cell over it); the row was not applied"
    )


def test_field_size_limit_is_restored_when_the_file_is_unreadable():
    before = csv.field_size_limit()
    with pytest.raises(UnreadableFile):
        parse("nothing,useful\n1,2\n")
    assert csv.field_size_limit() == before


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


# -- plausible completion times --------------------------------------------------------------

SYDNEY = ZoneInfo("Australia/Sydney")
# earliest_completion_date 2000-01-01 at midnight in the RTO's timezone (AEDT, +11:00).
NOT_BEFORE = datetime(2000, 1, 1, tzinfo=SYDNEY)
RUN_START = datetime(2026, 4, 1, 0, 0, tzinfo=UTC)
NOT_AFTER = RUN_START + timedelta(hours=24)
TOO_LATE = "more than a day after this run started (the latest accepted time is 2026-04-02T00:00:00Z)"


def parse_within(text: str) -> CompletionFile:
    return parse_completion_file(text.encode("utf-8"), not_before=NOT_BEFORE, not_after=NOT_AFTER)


@pytest.mark.parametrize(
    "value, reason",
    [
        pytest.param(
            "1",
            "timecompleted '1' is 1970-01-01T00:00:01Z, before the earliest completion date 2000-01-01 in "
            "Australia/Sydney (setting earliest_completion_date)",
            id="one second after the epoch",
        ),
        pytest.param(
            "17749",
            "timecompleted '17749' is 1970-01-01T04:55:49Z, before the earliest completion date 2000-01-01 in "
            "Australia/Sydney (setting earliest_completion_date)",
            id="days since the epoch",
        ),
        pytest.param(
            "1999-12-31T12:59:59Z",
            "timecompleted '1999-12-31T12:59:59Z' is 1999-12-31T12:59:59Z, before the earliest completion date "
            "2000-01-01 in Australia/Sydney (setting earliest_completion_date)",
            id="a second before midnight in sydney",
        ),
        pytest.param(
            "4102444799",
            f"timecompleted '4102444799' is 2099-12-31T23:59:59Z, {TOO_LATE}; is it a typo?",
            id="end of 2099 in seconds",
        ),
        pytest.param(
            "2100-06-01T00:00:00Z",
            f"timecompleted '2100-06-01T00:00:00Z' is 2100-06-01T00:00:00Z, {TOO_LATE}; is it a typo?",
            id="iso in 2100",
        ),
        pytest.param(
            "2026-04-02T11:00:01+11:00",
            f"timecompleted '2026-04-02T11:00:01+11:00' is 2026-04-02T00:00:01Z, {TOO_LATE}; is it a typo?",
            id="a second more than a day after the run",
        ),
        pytest.param(
            "1774967400000",
            "timecompleted '1774967400000' is later than the year 2100 as Unix seconds (is it in milliseconds?)",
            id="milliseconds keep their own reason",
        ),
        pytest.param(
            "99999999999999999999999",
            "timecompleted '99999999999999999999999' is later than the year 2100 as Unix seconds (is it in milliseconds?)",
            id="huge number does not overflow",
        ),
        pytest.param("-5", "timecompleted '-5' is negative", id="negative keeps its reason"),
        pytest.param(
            "2026-03-31T14:30:00",
            "timecompleted '2026-03-31T14:30:00' has no UTC offset, so its date would be ambiguous; add one such as "
            "+10:00 or Z",
            id="no offset keeps its reason",
        ),
    ],
)
def test_implausible_completion_times_are_bad_time(value, reason):
    result = parse_within(HEADER + f"S0,U0,{T_UNIX},,\nS1,U1,{value},,\n")
    assert [r.user_idnumber for r in result.rows] == ["S0"]
    assert [(b.row, b.code, b.reason) for b in result.bad_rows] == [(2, "bad_time", reason)]


@pytest.mark.parametrize(
    "value, expected",
    [
        pytest.param("1999-12-31T13:00:00Z", datetime(1999, 12, 31, 13, tzinfo=UTC), id="midnight in sydney"),
        pytest.param("946648800", datetime(1999, 12, 31, 14, tzinfo=UTC), id="2000-01-01 01:00 sydney in seconds"),
        pytest.param(T_UNIX, T_UTC, id="a day before the run"),
        pytest.param("2026-04-02T00:00:00Z", NOT_AFTER, id="exactly a day after the run"),
        pytest.param("0", None, id="not completed is not checked"),
        pytest.param("", None, id="empty is not checked"),
    ],
)
def test_plausible_completion_times_are_read(value, expected):
    result = parse_within(HEADER + f"S1,U1,{value},,\n")
    assert result.bad_rows == []
    assert [r.completed_at for r in result.rows] == [expected]


def test_without_bounds_old_times_are_still_read():
    assert only_row(HEADER + "S1,U1,17749,,\n").completed_at == datetime(1970, 1, 1, 4, 55, 49, tzinfo=UTC)


@pytest.mark.parametrize(
    "bounds",
    [
        pytest.param({"not_before": datetime(2000, 1, 1)}, id="naive not_before"),
        pytest.param({"not_after": datetime(2026, 4, 2)}, id="naive not_after"),
    ],
)
def test_bounds_must_be_timezone_aware(bounds):
    with pytest.raises(ValueError, match="must be a timezone-aware datetime"):
        parse_completion_file(HEADER.encode(), **bounds)


# -- files that are not comma-separated UTF-8 text --------------------------------------------

CSV_TEXT = "user_idnumber,course_idnumber,timecompleted\nS1,Unité,0\n"


@pytest.mark.parametrize(
    "data, message",
    [
        pytest.param(
            b"user_idnumber;course_idnumber;timecompleted\nS1;U1;1774967400\n",
            "The file seems to use ';' as its delimiter; a completion file is comma-separated, so it was not "
            "applied. Export it with commas (save it as 'CSV UTF-8 (Comma delimited)' and deliver it again). "
            "The header found is: 'user_idnumber;course_idnumber;timecompleted'.",
            id="semicolon",
        ),
        pytest.param(
            b"user_idnumber\tcourse_idnumber\ttimecompleted\tfinalgrade\nS1\tU1\t1774967400\t5\n",
            "The file seems to use a tab ('\\t') as its delimiter; a completion file is comma-separated, so it was "
            "not applied. Export it with commas (save it as 'CSV UTF-8 (Comma delimited)' and deliver it again). "
            "The header found is: 'user_idnumber\\tcourse_idnumber\\ttimecompleted\\tfinalgrade'.",
            id="tab",
        ),
        pytest.param(
            b"Student;Unit;Completed\nS1;U1;1774967400\n",
            "The file seems to use ';' as its delimiter; a completion file is comma-separated, so it was not "
            "applied. Export it with commas (save it as 'CSV UTF-8 (Comma delimited)' and deliver it again). "
            "The header found is: 'Student;Unit;Completed'.",
            id="semicolon with other names",
        ),
        pytest.param(
            b"\xff\xfe" + CSV_TEXT.encode("utf-16-le"),
            "The file is UTF-16 text (Excel's 'Unicode Text' format), not UTF-8; save it as "
            "'CSV UTF-8 (Comma delimited)' and deliver it again.",
            id="utf-16 le with bom",
        ),
        pytest.param(
            CSV_TEXT.encode("utf-16"),
            "The file is UTF-16 text (Excel's 'Unicode Text' format), not UTF-8; save it as "
            "'CSV UTF-8 (Comma delimited)' and deliver it again.",
            id="utf-16 native with bom",
        ),
        pytest.param(
            CSV_TEXT.encode("utf-16-be"),
            "The file is UTF-16 text (Excel's 'Unicode Text' format), not UTF-8; save it as "
            "'CSV UTF-8 (Comma delimited)' and deliver it again.",
            id="utf-16 be without bom",
        ),
        pytest.param(
            CSV_TEXT.encode("cp1252"),
            "The file is not UTF-8 text: the byte 0xE9 at byte offset 51 (line 2) cannot be decoded. It looks like "
            "Windows-1252 (Excel's plain 'CSV' format), where that byte is 'é'; save it as "
            "'CSV UTF-8 (Comma delimited)' and deliver it again.",
            id="windows-1252",
        ),
        pytest.param(
            "user_idnumber,course_idnumber,timecompleted\nS1,U1,0,O’Brien\n".encode("cp1252"),
            "The file is not UTF-8 text: the byte 0x92 at byte offset 53 (line 2) cannot be decoded. It looks like "
            "Windows-1252 (Excel's plain 'CSV' format), where that byte is '’'; save it as "
            "'CSV UTF-8 (Comma delimited)' and deliver it again.",
            id="windows-1252 curly apostrophe",
        ),
        pytest.param(
            b"user_idnumber,course_idnumber,timecompleted\nS1,U1,\x81\n",
            "The file is not UTF-8 text: the byte 0x81 at byte offset 50 (line 2) cannot be decoded. "
            "Save it as 'CSV UTF-8' and deliver it again.",
            id="not windows-1252 either",
        ),
        pytest.param(
            b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00[Content_Types].xml\x00\x00xl/workbook.xml\xff\xfe",
            "The file is an Excel workbook (.xlsx), not CSV text; open it in Excel and save it as "
            "'CSV UTF-8 (Comma delimited)' and deliver it again.",
            id="xlsx",
        ),
        pytest.param(
            b"PK\x03\x04\x14\x00\x00\x00report.csv\x00\xff",
            "The file is a zip archive (such as an .xlsx workbook), not CSV text; open it in Excel and save it as "
            "'CSV UTF-8 (Comma delimited)' and deliver it again.",
            id="other zip",
        ),
        pytest.param(
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00\x00\x00\x00",
            "The file is an old-style Excel workbook (.xls), not CSV text; open it in Excel and save it as "
            "'CSV UTF-8 (Comma delimited)' and deliver it again.",
            id="xls",
        ),
        pytest.param(
            b"\xef\xbb\xbf\n<!DOCTYPE html>\n<html><body><table><tr><td>user_idnumber</td></tr></table></body></html>\n",
            "The file looks like a web page (HTML), such as a report saved as HTML or an error page, not CSV text; "
            "export the report as CSV again, save it as 'CSV UTF-8 (Comma delimited)' and deliver it again.",
            id="html",
        ),
        pytest.param(
            b'<?xml version="1.0"?>\n<Workbook xmlns="urn:schemas-microsoft-com:office:spreadsheet"/>\n',
            "The file looks like an XML document (such as an Excel 'XML Spreadsheet'), not CSV text; "
            "export the report as CSV again, save it as 'CSV UTF-8 (Comma delimited)' and deliver it again.",
            id="xml spreadsheet",
        ),
    ],
)
def test_files_that_are_not_comma_separated_utf8_say_what_they_seem(data, message):
    with pytest.raises(UnreadableFile) as info:
        parse_completion_file(data)
    assert str(info.value) == message


def test_a_comma_file_with_some_semicolons_is_not_called_semicolon_separated():
    with pytest.raises(UnreadableFile) as info:
        parse("user;id,course_idnumber,timecompleted\nS1,U1,0\n")
    assert str(info.value).startswith("The header is missing the required column user_idnumber.")


def test_a_comma_separated_file_with_semicolons_in_cells_is_read():
    row = only_row(HEADER + f"S1,U1,{T_UNIX},,\n".replace("S1", '"S1;x"'))
    assert row.user_idnumber == "S1;x"


# -- hidden characters -----------------------------------------------------------------------


def test_ids_with_hidden_characters_are_kept_apart_and_shown_escaped():
    text = HEADER + (
        f"T043\u200b,U1,{T_UNIX},80,50\n"
        f"T043,U1,{T_UNIX},80,50\n"
        f"T043\u200b,U1,{T_UNIX},40,50\n"
        f"\u0422043,U1,{T_UNIX},80,50\n"
    )
    result = parse(text)
    # T043 and Cyrillic Т043 are other ids: not duplicates of T043 with a zero-width space.
    assert [(r.row, r.user_idnumber, r.key) for r in result.rows] == [
        (2, "T043", ("T043", "U1")),
        (4, "\u0422043", ("\u0422043", "U1")),
    ]
    assert [(b.row, b.code) for b in result.bad_rows] == [(1, "duplicate_conflict"), (3, "duplicate_conflict")]
    assert result.bad_rows[0].reason == (
        "user_idnumber 'T043\\u200b' and course_idnumber 'U1' also appear in row 3 with a different completion "
        "time or grade; none of these rows was applied"
    )


def test_key_uses_the_one_id_normalisation():
    row = only_row(HEADER + f" s1001\xa0,bsbWHS211 ,{T_UNIX},,\n")
    assert row.key == ("S1001", "BSBWHS211")


@pytest.mark.parametrize(
    "line, code, reason",
    [
        pytest.param(
            f"S1,U1,{T_UNIX}\u200b,,",
            "bad_time",
            f"timecompleted '{T_UNIX}\\u200b' is neither Unix seconds nor an ISO 8601 time with a UTC offset "
            "(such as 2026-03-31T14:30:00+10:00)",
            id="zero-width space in a time",
        ),
        pytest.param(
            f"S1,U1,{T_UNIX},\u0663\u0665,",
            "bad_grade",
            "finalgrade '\\u0663\\u0665' is not a number; use digits with a dot for decimals, such as 85 or 85.5",
            id="arabic-indic digits in a grade",
        ),
    ],
)
def test_values_in_reasons_are_shown_escaped(line, code, reason):
    bad = only_bad(HEADER + line + "\n")
    assert (bad.code, bad.reason) == (code, reason)


@pytest.mark.parametrize(
    "header, explanation",
    [
        pytest.param(
            "user_idnumber\u200b,course_idnumber,timecompleted",
            "The header is missing the required column user_idnumber. A completion file needs user_idnumber, "
            "course_idnumber, timecompleted (and optionally finalgrade, gradepass); the header found is: "
            "'user_idnumber\\u200b', 'course_idnumber', 'timecompleted'. Column 1 'user_idnumber\\u200b' is not "
            "user_idnumber: it holds a hidden or non-ASCII character (shown escaped, Python style); retype that "
            "header name.",
            id="zero-width space",
        ),
        pytest.param(
            "user_idnumber,course_idnumber,tim\u0435completed",
            "The header is missing the required column timecompleted. A completion file needs user_idnumber, "
            "course_idnumber, timecompleted (and optionally finalgrade, gradepass); the header found is: "
            "'user_idnumber', 'course_idnumber', 'tim\\u0435completed'. Column 3 'tim\\u0435completed' is not "
            "timecompleted: it holds a hidden or non-ASCII character (shown escaped, Python style); retype that "
            "header name.",
            id="cyrillic look-alike",
        ),
        pytest.param(
            "\ufeff\ufeffuser_idnumber,course_idnumber,timecompleted",
            "The header is missing the required column user_idnumber. A completion file needs user_idnumber, "
            "course_idnumber, timecompleted (and optionally finalgrade, gradepass); the header found is: "
            "'\\ufeffuser_idnumber', 'course_idnumber', 'timecompleted'. Column 1 '\\ufeffuser_idnumber' is not "
            "user_idnumber: it holds a hidden or non-ASCII character (shown escaped, Python style); retype that "
            "header name.",
            id="second byte order mark",
        ),
    ],
)
def test_header_names_with_hidden_characters_are_explained(header, explanation):
    # The file's own byte order mark is tolerated; a second one is part of the first name.
    with pytest.raises(UnreadableFile) as info:
        parse(header + "\nS1,U1,0\n")
    assert str(info.value) == explanation


def test_header_with_a_non_breaking_space_still_matches():
    row = only_row("user_idnumber\xa0,course_idnumber,timecompleted\nS1,U1,0\n")
    assert (row.user_idnumber, row.completed_at) == ("S1", None)


# -- the errors file -------------------------------------------------------------------------


def test_errors_file_carries_a_bad_rows_original_text():
    result = parse(HEADER + f"S1,U1,{T_UNIX}\nS2,U1,nope,,\n")
    entries = [{**b.original, "row": b.row, "reason": b.reason} for b in result.bad_rows]
    lines = errors_csv(result.header, entries).decode("utf-8").splitlines()
    assert lines == [
        "row,user_idnumber,course_idnumber,timecompleted,finalgrade,gradepass,original_text,reason",
        f'1,S1,U1,{T_UNIX},,,"S1,U1,{T_UNIX}",row has 3 cells but the header has 5 columns; it was not applied '
        "(a truncated or shifted row is never padded)",
        "2,S2,U1,nope,,,,timecompleted 'nope' is neither Unix seconds nor an ISO 8601 time with a UTC offset "
        "(such as 2026-03-31T14:30:00+10:00)",
    ]


def test_errors_file_without_bad_rows_has_no_original_text_column():
    result = parse(HEADER + "S2,U1,nope,,\n")
    entries = [{**b.original, "row": b.row, "reason": b.reason} for b in result.bad_rows]
    header_line = errors_csv(result.header, entries).decode("utf-8").splitlines()[0]
    assert header_line == "row,user_idnumber,course_idnumber,timecompleted,finalgrade,gradepass,reason"


def test_errors_file_original_text_is_formula_safe():
    result = parse(HEADER + '=HYPERLINK("x"),U1\n')
    entries = [{**b.original, "row": b.row, "reason": b.reason} for b in result.bad_rows]
    row = next(csv.reader(errors_csv(result.header, entries).decode("utf-8").splitlines()[1:]))
    assert row[1] == '\'=HYPERLINK("x")'
    assert row[-2] == '\'=HYPERLINK("x"),U1'
