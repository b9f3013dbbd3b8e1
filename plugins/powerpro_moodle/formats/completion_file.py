"""The Moodle completion file: course completions and grades, read into checked rows.

SPEC section 5. The file is UTF-8 (a BOM is tolerated), comma separated with RFC 4180
quoting, and has one header row. Header names are matched case-insensitively after
stripping; extra columns are ignored.

* :func:`parse_completion_file` reads the bytes into good rows and bad rows (each with a
  reason), or raises :class:`UnreadableFile` when the file cannot be read as a whole. It reads
  through :class:`~powerpro_moodle.formats.completion_chunks.CompletionReader`, which the
  resulting DAG uses to stream a file of any size a chunk at a time; the rules and the messages
  are here, the reader applies them to many rows at once.
* :func:`errors_csv` (and :func:`write_errors_csv`, as the entries come) writes the errors file.

Field conditions (SPEC section 5) handled here:

* a row with fewer or more cells than the header is a ``bad_row``, never padded or shifted;
  its original text goes to the errors file (column :data:`ORIGINAL_TEXT`);
* a cell longer than :data:`MAX_CELL_CHARS` rejects its row (``bad_row``), not the file;
* a completion time outside the caller's plausible window is ``bad_time``;
* ids in reasons are shown with :func:`~powerpro_moodle.formats.ids.shown`, so invisible and
  look-alike characters are visible;
* an unreadable file says what it seems to be instead (another delimiter, UTF-16,
  Windows-1252, a workbook, a web page).

Row numbers: ``row`` N is the Nth *data* row. The header and blank lines are not counted, so
the rows are numbered 1 .. :attr:`CompletionFile.rows_read`. (A record whose quoted cell spans
several physical lines is still one row.)
"""

from __future__ import annotations

import csv
import io
import re
import sys
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from decimal import Decimal
from typing import IO, Any

from powerpro_moodle.formats.ids import has_hidden_characters, id_key, shown
from powerpro_moodle.formats.summary import REJECTED, Anomaly
from powerpro_moodle.formats.text_safety import neutralise

#: Columns a completion file must have (lower case, as matched).
REQUIRED_COLUMNS = ("user_idnumber", "course_idnumber", "timecompleted")
#: Columns that are read when present.
OPTIONAL_COLUMNS = ("finalgrade", "gradepass")
#: The longest cell a row may hold (the csv module's default field limit). A longer cell
#: rejects its row only.
MAX_CELL_CHARS = 131072
#: The key, in a ``bad_row``'s :attr:`BadRow.original`, and the errors-file column, of the
#: row's original text (a row that does not match the header cannot be shown by column).
ORIGINAL_TEXT = "original_text"

_BOM = b"\xef\xbb\xbf"
# Moodle writes NULL / "not completed" as 0 or an empty cell; report builders write "-".
_NOT_COMPLETED = frozenset({"", "-"})
_NO_GRADE = frozenset({"", "-"})
_DIGITS = re.compile(r"[0-9]+")
_NEGATIVE = re.compile(r"-[0-9]+")
# Plain decimal notation only: Decimal() would also take "NaN", "inf" and "1e2", and a comma
# decimal separator ("85,5") is a locale accident we must not guess about.
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# "Later than year 2100" is not a completion time; most likely milliseconds, or a typo.
_TOO_LATE = datetime(2101, 1, 1, tzinfo=UTC)
# How much of an oversize cell the errors file keeps.
_CLIPPED_CELL_CHARS = 200
# The longest original text the errors file keeps: a spreadsheet cell holds at most 32,767.
_CLIPPED_TEXT_CHARS = 32000
_TRUNCATED = "… (truncated)"
# How much of the start of a file is looked at to guess what it is.
_SNIFF_BYTES = 4096
#: The head of a file that decides what it is (a workbook, UTF-16, markup): nothing after it is looked at.
HEAD_BYTES = 65536
_OTHER_DELIMITERS = {";": "';'", "\t": "a tab ('\\t')", "|": "'|'"}
_SAVE_AS_CSV_UTF8 = "save it as 'CSV UTF-8 (Comma delimited)' and deliver it again"

# csv.field_size_limit is process-global: raise it only around our own parse, one at a time.
_FIELD_LIMIT_LOCK = threading.RLock()


class UnreadableFile(ValueError):
    """The file cannot be read as a whole (not UTF-8, no header, wrong or duplicated columns).

    The message is a sentence for the person who produced the file.
    """


@dataclass(frozen=True)
class CompletionRow:
    """One good data row.

    :param row: the data row number (1 = the first row after the header; blank lines not counted).
    :param user_idnumber: Moodle user idnumber, stripped, original case (= PowerPro StudentNumber).
    :param course_idnumber: Moodle course idnumber, stripped, original case.
    :param completed_at: the completion time, timezone-aware UTC; ``None`` = not completed.
    :param finalgrade: the course final grade, if given.
    :param gradepass: the grade to pass, if given.
    :param original: the row's values as read, keyed by the header names as they appear in the file.
    """

    row: int
    user_idnumber: str
    course_idnumber: str
    completed_at: datetime | None
    finalgrade: Decimal | None
    gradepass: Decimal | None
    original: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def key(self) -> tuple[str, str]:
        """The (user, course) pair as SQL Server's case-insensitive collation compares it."""
        return id_key(self.user_idnumber), id_key(self.course_idnumber)


@dataclass(frozen=True)
class BadRow:
    """A data row that was read but cannot be applied; the rest of the file still can.

    :param original: the row's values as read, keyed by the header names as they appear in the
        file. For a ``bad_row`` (cell count or size) only the cells that exist are there, cells
        over :data:`MAX_CELL_CHARS` are cut, and :data:`ORIGINAL_TEXT` holds the row's text.
    """

    row: int
    original: dict[str, str]
    code: str
    reason: str

    @property
    def text(self) -> str:
        """The row's original text, for a ``bad_row``; empty for other codes."""
        return self.original.get(ORIGINAL_TEXT, "") if self.code == "bad_row" else ""

    def _value(self, column: str) -> str:
        for name, value in self.original.items():
            if name.strip().lower() == column:
                return (value or "").strip()
        return ""

    def to_anomaly(self) -> Anomaly:
        """The sync log entry for this row (keyed by its row number: the ids may be missing)."""
        return Anomaly(
            "row",
            f"row {self.row}",
            self.code,
            self.reason,
            level=REJECTED,
            data={
                "user_idnumber": self._value("user_idnumber"),
                "course_idnumber": self._value("course_idnumber"),
            },
        )


@dataclass
class CompletionFile:
    """A parsed completion file.

    Invariant: ``rows_read == len(rows) + len(bad_rows) + duplicates``.

    :param header: the header row exactly as in the file.
    :param rows: the good rows, in file order.
    :param bad_rows: the rows that cannot be applied, in file order, each with a reason.
    :param rows_read: data rows read (blank lines not counted).
    :param duplicates: exact repeats of an earlier row (same user, course, time and grades), dropped.
    """

    header: list[str] = field(default_factory=list)
    rows: list[CompletionRow] = field(default_factory=list)
    bad_rows: list[BadRow] = field(default_factory=list)
    rows_read: int = 0
    duplicates: int = 0


class _RowError(Exception):
    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def _quoted(value: str) -> str:
    """A value in a message: quoted, with hidden and non-ASCII characters escaped."""
    return f"'{shown(_clip(value, _CLIPPED_CELL_CHARS))}'"


def _clip(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[:limit] + _TRUNCATED


# -- what the bytes are --------------------------------------------------------------------


def _not_csv_text(data: bytes) -> str | None:
    """Why the bytes are not CSV text at all (a workbook, UTF-16), or ``None``; only the first
    :data:`HEAD_BYTES` are looked at."""
    if data.startswith(b"PK\x03\x04"):
        what = "an Excel workbook (.xlsx)" if b"xl/" in data[:HEAD_BYTES] else "a zip archive (such as an .xlsx workbook)"
        return f"The file is {what}, not CSV text; open it in Excel and {_SAVE_AS_CSV_UTF8}."
    if data.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return (
            f"The file is an old-style Excel workbook (.xls), not CSV text; open it in Excel and {_SAVE_AS_CSV_UTF8}."
        )
    head = data[:_SNIFF_BYTES]
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) or (head and head.count(0) * 4 >= len(head)):
        # UTF-16 ASCII text is half NUL bytes; UTF-8 text has none.
        return f"The file is UTF-16 text (Excel's 'Unicode Text' format), not UTF-8; {_SAVE_AS_CSV_UTF8}."
    return None


def _looks_like_markup(text: str) -> str | None:
    """Why the text is a web page or an XML document rather than CSV, or ``None``."""
    start = text[: 2 * _SNIFF_BYTES].lstrip()[:_SNIFF_BYTES].lower()
    if not start.startswith("<"):
        return None
    if start.startswith("<?xml"):
        what = "an XML document (such as an Excel 'XML Spreadsheet')"
    elif "<html" in start or "<!doctype html" in start or "<table" in start:
        what = "a web page (HTML), such as a report saved as HTML or an error page"
    else:
        what = "markup (HTML or XML)"
    return f"The file looks like {what}, not CSV text; export the report as CSV again, {_SAVE_AS_CSV_UTF8}."


# -- reading records -----------------------------------------------------------------------


@contextmanager
def _any_field_size() -> Iterator[None]:
    """Let the csv module read a cell of any size (the rows check the size themselves).

    ``csv.field_size_limit`` is process-global: it is raised for the parse only, under a lock,
    and restored after.
    """
    with _FIELD_LIMIT_LOCK:
        previous = csv.field_size_limit()
        try:
            csv.field_size_limit(sys.maxsize)
        except OverflowError:  # a C long of 32 bits
            csv.field_size_limit(2**31 - 1)
        try:
            yield
        finally:
            csv.field_size_limit(previous)


def _blank(cells: list[str]) -> bool:
    # Spreadsheets write empty rows as ",,,": that is a blank line, not a data row.
    return all(not cell.strip() for cell in cells)


# -- the header ----------------------------------------------------------------------------


def _column_name(header: list[str], index: int) -> str:
    name = header[index].strip() if index < len(header) else ""
    return _quoted(name) if name else f"{index + 1} (unnamed)"


def _near_miss(found: str, wanted: str) -> bool:
    """Whether a header name is ``wanted`` but for hidden or non-ASCII characters."""
    name = found.strip().lower()
    if name == wanted or not has_hidden_characters(name):
        return False
    plain = "".join(char for char in name if " " <= char <= "~").strip()
    if plain == wanted:
        return True  # an invisible character added
    # A look-alike substituted: every printable ASCII character in its place.
    return len(name) == len(wanted) and all(a == b or not (" " <= a <= "~") for a, b in zip(name, wanted, strict=True))


def _other_delimiter(line: str) -> str | None:
    """The delimiter a header line seems to use instead of the comma, or ``None``."""
    for delimiter in _OTHER_DELIMITERS:
        names = {cell.strip().lower() for cell in next(csv.reader([line], delimiter=delimiter), [])}
        if all(name in names for name in REQUIRED_COLUMNS):
            return delimiter
    if "," not in line:
        counts = {d: line.count(d) for d in _OTHER_DELIMITERS if d in line}
        if counts:
            return max(counts, key=lambda d: counts[d])
    return None


def _missing_columns(header: list[str], line: str, missing: list[str]) -> UnreadableFile:
    found = ", ".join(_quoted(h) for h in header)
    delimiter = _other_delimiter(line)
    if delimiter is not None:
        return UnreadableFile(
            f"The file seems to use {_OTHER_DELIMITERS[delimiter]} as its delimiter; a completion file is "
            f"comma-separated, so it was not applied. Export it with commas ({_SAVE_AS_CSV_UTF8}). "
            f"The header found is: {_quoted(line)}."
        )
    message = (
        f"The header is missing the required column{'s' if len(missing) > 1 else ''} "
        f"{', '.join(missing)}. A completion file needs {', '.join(REQUIRED_COLUMNS)} "
        f"(and optionally {', '.join(OPTIONAL_COLUMNS)}); the header found is: {found}."
    )
    for wanted in missing:
        for index, name in enumerate(header):
            if _near_miss(name, wanted):
                message += (
                    f" Column {index + 1} {_quoted(name.strip())} is not {wanted}: it holds a hidden or non-ASCII "
                    "character (shown escaped, Python style); retype that header name."
                )
    return UnreadableFile(message)


def _column_positions(header: list[str], line: str = "") -> dict[str, int]:
    """Map each lower-cased, stripped header name to its position; refuse missing or repeated ones."""
    positions: dict[str, int] = {}
    for index, name in enumerate(header):
        norm = name.strip().lower()
        if not norm:
            # An unnamed column (e.g. a trailing comma) carries nothing we read.
            continue
        if norm in positions:
            raise UnreadableFile(
                f"The header names the column {_quoted(norm)} more than once (columns {positions[norm] + 1} and "
                f"{index + 1}); each column may appear only once, so the file was not applied."
            )
        positions[norm] = index
    missing = [name for name in REQUIRED_COLUMNS if name not in positions]
    if missing:
        raise _missing_columns(header, line or ",".join(header), missing)
    return positions


# -- values --------------------------------------------------------------------------------


def _utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _bound_text(bound: datetime) -> str:
    """A bound in words: a date when it is midnight where it is given, else the time."""
    zone = getattr(bound.tzinfo, "key", None)
    if bound.timetz().replace(tzinfo=None) == time(0):
        return f"{bound.date().isoformat()} in {zone}" if zone else bound.date().isoformat()
    return _utc_text(bound)


def parse_time(value: str, *, not_before: datetime | None = None, not_after: datetime | None = None) -> datetime | None:
    """Read ``timecompleted``: Unix seconds or ISO 8601 with an offset; empty, ``0`` or ``-`` = not completed.

    :param not_before: the earliest plausible completion time (setting ``earliest_completion_date``
        at midnight in the RTO's timezone), timezone-aware; ``None`` = no bound.
    :param not_after: the latest plausible completion time (the run's start + 24 hours),
        timezone-aware; ``None`` = no bound.
    :returns: a timezone-aware UTC datetime, or ``None`` when the course is not completed.
    :raises _RowError: ``bad_time`` with the reason.
    """
    text = value.strip()
    if text in _NOT_COMPLETED:
        return None
    if _DIGITS.fullmatch(text):
        seconds = int(text)
        if seconds == 0:
            # Moodle's course_completions.timecompleted is 0/NULL until the course is complete.
            return None
        # Compare before converting: a huge number would overflow datetime.
        if seconds >= _TOO_LATE.timestamp():
            raise _RowError(
                "bad_time",
                f"timecompleted {_quoted(text)} is later than the year 2100 as Unix seconds (is it in milliseconds?)",
            )
        parsed = datetime.fromtimestamp(seconds, tz=UTC)
    elif _NEGATIVE.fullmatch(text):
        raise _RowError("bad_time", f"timecompleted {_quoted(text)} is negative")
    else:
        parsed = _parse_iso(text)
    if not_before is not None and parsed < not_before:
        raise _RowError(
            "bad_time",
            f"timecompleted {_quoted(text)} is {_utc_text(parsed)}, before the earliest completion date "
            f"{_bound_text(not_before)} (setting earliest_completion_date)",
        )
    if not_after is not None and parsed > not_after:
        # Milliseconds have 13 digits; a 10-digit number in the future is a typo or a wrong clock.
        hint = "is it in milliseconds, or a typo?" if _DIGITS.fullmatch(text) and len(text) > 11 else "is it a typo?"
        raise _RowError(
            "bad_time",
            f"timecompleted {_quoted(text)} is {_utc_text(parsed)}, more than a day after this run started "
            f"(the latest accepted time is {_utc_text(not_after)}); {hint}",
        )
    return parsed


def _parse_iso(text: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise _RowError(
            "bad_time",
            f"timecompleted {_quoted(text)} is neither Unix seconds nor an ISO 8601 time with a UTC offset "
            "(such as 2026-03-31T14:30:00+10:00)",
        ) from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        # A local time without its offset would give the wrong outcome date around midnight.
        raise _RowError(
            "bad_time",
            f"timecompleted {_quoted(text)} has no UTC offset, so its date would be ambiguous; "
            "add one such as +10:00 or Z",
        )
    parsed = parsed.astimezone(UTC)
    if parsed >= _TOO_LATE:
        raise _RowError("bad_time", f"timecompleted {_quoted(text)} is later than the year 2100")
    if parsed < _EPOCH:
        raise _RowError("bad_time", f"timecompleted {_quoted(text)} is before 1970, which is not a completion time")
    return parsed


def parse_grade(column: str, value: str) -> Decimal | None:
    """Read a grade: empty or ``-`` = none, otherwise a plain decimal number (``85``, ``85.5``).

    :raises _RowError: ``bad_grade`` naming the column and the value.
    """
    text = value.strip()
    if text in _NO_GRADE:
        return None
    if not _DECIMAL.fullmatch(text):
        raise _RowError(
            "bad_grade",
            f"{column} {_quoted(text)} is not a number; use digits with a dot for decimals, such as 85 or 85.5",
        )
    return Decimal(text)


# -- rows ----------------------------------------------------------------------------------


def _shape_error(cells: list[str], header: list[str]) -> str | None:
    """Why the row's cells cannot be read by the header (count or size), or ``None``."""
    if len(cells) != len(header):
        return (
            f"row has {len(cells)} cell{'s' if len(cells) != 1 else ''} but the header has {len(header)} "
            "columns; it was not applied (a truncated or shifted row is never padded)"
        )
    oversize = [index for index, cell in enumerate(cells) if len(cell) > MAX_CELL_CHARS]
    if oversize:
        first = oversize[0]
        more = (
            f" (and {len(oversize) - 1} more cell{'s' if len(oversize) > 2 else ''} over it)"
            if len(oversize) > 1
            else ""
        )
        return (
            f"the cell in column {_column_name(header, first)} holds {len(cells[first]):,} characters, "
            f"over the {MAX_CELL_CHARS:,} limit{more}; the row was not applied"
        )
    return None


def _shape_original(cells: list[str], named: list[tuple[int, str]], text: str) -> dict[str, str]:
    """A ``bad_row``'s original: the cells that exist by header name, oversize ones cut, and its text."""
    original = {name: _clip(cells[index], _CLIPPED_CELL_CHARS) for index, name in named if index < len(cells)}
    if len(text) > _CLIPPED_TEXT_CHARS or any(len(cell) > MAX_CELL_CHARS for cell in cells):
        buf = io.StringIO(newline="")
        csv.writer(buf, lineterminator="").writerow([_clip(cell, _CLIPPED_CELL_CHARS) for cell in cells])
        text = buf.getvalue()
    original[ORIGINAL_TEXT] = _clip(text, _CLIPPED_TEXT_CHARS)
    return original


def _missing_id_reason(user: str, course: str) -> str:
    """Why a row whose stripped ``user`` or ``course`` id is empty cannot be matched."""
    missing = " and ".join(name for name, v in (("user_idnumber", user), ("course_idnumber", course)) if not v)
    return f"{missing} is empty, so the row cannot be matched to a student and unit"


def _check_bound(name: str, bound: datetime | None) -> None:
    if bound is not None and (bound.tzinfo is None or bound.utcoffset() is None):
        raise ValueError(f"{name} must be a timezone-aware datetime, not {bound!r}")


def _csv_error(error: str, record_start: int, line: int) -> str:
    """What a CSV syntax error means, for the person who produced the file."""
    if "unexpected end of data" in error:
        return (
            f"The file is not valid CSV: a quoted cell in the record starting on line {record_start} is never "
            "closed, so everything after it would be read as one cell; no row of the file was applied. Close the "
            'quote (write a quote inside a cell as two quotes "")'
        )
    if "expected after" in error:
        return (
            f"The file is not valid CSV: on line {line} a quoted cell has more text after its closing quote; no "
            'row of the file was applied. Quote the whole cell, and write a quote inside it as two quotes ""'
        )
    return f"The file is not valid CSV near line {line} ({error}); no row of the file was applied"


def parse_completion_file(
    data: bytes, *, not_before: datetime | None = None, not_after: datetime | None = None,
    chunk_rows: int | None = None,
) -> CompletionFile:
    """Read a completion file held in memory (the resulting DAG streams its files through
    :class:`~powerpro_moodle.formats.completion_chunks.CompletionReader`, which this uses).

    :param data: the file's bytes as delivered.
    :param not_before: the earliest plausible completion time, timezone-aware: the setting
        ``earliest_completion_date`` at midnight in the RTO's timezone. ``None`` = no bound.
    :param not_after: the latest plausible completion time, timezone-aware: the run's start
        + 24 hours. ``None`` = no bound.
    :param chunk_rows: records read at a time (the default suits any file; the result is the
        same whatever it is).
    :returns: the good rows, the bad rows with reasons, and the counts.
    :raises UnreadableFile: when the file is not UTF-8 CSV text, has no header, lacks a required
        column or repeats a column name; the message says what the file seems to be.
    """
    import pandas as pd

    from powerpro_moodle.formats.completion_chunks import (
        CompletionReader,
        Rows,
        completion_rows,
        empty_rows,
        settle_duplicates,
    )

    chunks = {"chunk_rows": chunk_rows} if chunk_rows else {}
    with CompletionReader(io.BytesIO(data), not_before=not_before, not_after=not_after, **chunks) as reader:
        result = CompletionFile(header=list(reader.header))
        frames = []
        for chunk in reader:
            frames.append(chunk.good)
            result.bad_rows.extend(chunk.bad)
        result.rows_read = reader.rows_read
        named, positions = reader.named, reader.positions
    rows = Rows(pd.concat(frames, ignore_index=True) if frames else empty_rows(named), named, positions)
    keep, result.duplicates, conflicts = settle_duplicates(rows)
    result.rows = completion_rows(rows.take(keep))
    result.bad_rows = sorted([*result.bad_rows, *conflicts], key=lambda b: b.row)
    return result


def errors_file_name(name: str) -> str:
    """``completions_0601.csv`` -> ``completions_0601.errors.csv``."""
    stem = name[:-4] if name.lower().endswith(".csv") else name
    return f"{stem}.errors.csv"


def errors_csv(header: Sequence[str], errors: Sequence[Mapping[str, Any]]) -> bytes:
    """The errors file: for each refused row or conflict, its row number, its original values and
    the reason. Staff open it in a spreadsheet, so every cell is formula-safe.

    A row that does not match the header (``bad_row``) carries its text under
    :data:`ORIGINAL_TEXT`; that column is added, before ``reason``, when an entry has it.
    """
    buf = io.StringIO(newline="")
    write_errors_csv(buf, header, errors, any(entry.get(ORIGINAL_TEXT) for entry in errors))
    return buf.getvalue().encode("utf-8")


def write_errors_csv(out: IO[str], header: Sequence[str], errors: Iterable[Mapping[str, Any]],
                     original_text: bool) -> None:
    """:func:`errors_csv` written to ``out`` as the entries come (a file of any size).

    :param original_text: whether an entry has :data:`ORIGINAL_TEXT` (known before the first
        is written: the column goes in the header).
    """
    reserved = ("row", ORIGINAL_TEXT, "reason")
    columns = ["row", *[h for h in header if h and h not in reserved]]
    if ORIGINAL_TEXT in header or original_text:
        columns.append(ORIGINAL_TEXT)
    columns.append("reason")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for entry in errors:
        writer.writerow([neutralise(str(entry.get(c, "") if entry.get(c) is not None else "")) for c in columns])
