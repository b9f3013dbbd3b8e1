"""The Moodle completion file: course completions and grades, read into checked rows.

SPEC section 5. The file is UTF-8 (a BOM is tolerated), comma separated with RFC 4180
quoting, and has one header row. Header names are matched case-insensitively after
stripping; extra columns are ignored.

* :func:`parse_completion_file` reads the bytes into good rows and bad rows (each with a
  reason), or raises :class:`UnreadableFile` when the file cannot be read as a whole.

Row numbers: ``row`` N is the Nth *data* row. The header and blank lines are not counted, so
the rows are numbered 1 .. :attr:`CompletionFile.rows_read`. (A record whose quoted cell spans
several physical lines is still one row.)
"""

from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from powerpro_moodle.formats.summary import REJECTED, Anomaly
from powerpro_moodle.formats.text_safety import neutralise

#: Columns a completion file must have (lower case, as matched).
REQUIRED_COLUMNS = ("user_idnumber", "course_idnumber", "timecompleted")
#: Columns that are read when present.
OPTIONAL_COLUMNS = ("finalgrade", "gradepass")

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
        return self.user_idnumber.upper(), self.course_idnumber.upper()


@dataclass(frozen=True)
class BadRow:
    """A data row that was read but cannot be applied; the rest of the file still can."""

    row: int
    original: dict[str, str]
    code: str
    reason: str

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


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        # utf-8-sig counts from after the BOM; the person opens the whole file.
        offset = exc.start + (len(_BOM) if data.startswith(_BOM) else 0)
        line = data[:offset].count(b"\n") + 1
        raise UnreadableFile(
            f"The file is not UTF-8 text: the byte 0x{data[offset]:02X} at byte offset {offset} (line {line}) "
            "cannot be decoded. Save it as 'CSV UTF-8' and deliver it again."
        ) from None


def _blank(cells: list[str]) -> bool:
    # Spreadsheets write empty rows as ",,,": that is a blank line, not a data row.
    return all(not cell.strip() for cell in cells)


def _column_positions(header: list[str]) -> dict[str, int]:
    """Map each lower-cased, stripped header name to its position; refuse missing or repeated ones."""
    positions: dict[str, int] = {}
    for index, name in enumerate(header):
        norm = name.strip().lower()
        if not norm:
            # An unnamed column (e.g. a trailing comma) carries nothing we read.
            continue
        if norm in positions:
            raise UnreadableFile(
                f"The header names the column {norm!r} more than once (columns {positions[norm] + 1} and "
                f"{index + 1}); each column may appear only once, so the file was not applied."
            )
        positions[norm] = index
    missing = [name for name in REQUIRED_COLUMNS if name not in positions]
    if missing:
        found = ", ".join(repr(h) for h in header)
        raise UnreadableFile(
            f"The header is missing the required column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(missing)}. A completion file needs {', '.join(REQUIRED_COLUMNS)} "
            f"(and optionally {', '.join(OPTIONAL_COLUMNS)}); the header found is: {found}."
        )
    return positions


def parse_time(value: str) -> datetime | None:
    """Read ``timecompleted``: Unix seconds or ISO 8601 with an offset; empty, ``0`` or ``-`` = not completed.

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
                f"timecompleted {text!r} is later than the year 2100 as Unix seconds (is it in milliseconds?)",
            )
        return datetime.fromtimestamp(seconds, tz=UTC)
    if _NEGATIVE.fullmatch(text):
        raise _RowError("bad_time", f"timecompleted {text!r} is negative")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise _RowError(
            "bad_time",
            f"timecompleted {text!r} is neither Unix seconds nor an ISO 8601 time with a UTC offset "
            "(such as 2026-03-31T14:30:00+10:00)",
        ) from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        # A local time without its offset would give the wrong outcome date around midnight.
        raise _RowError(
            "bad_time",
            f"timecompleted {text!r} has no UTC offset, so its date would be ambiguous; add one such as +10:00 or Z",
        )
    parsed = parsed.astimezone(UTC)
    if parsed >= _TOO_LATE:
        raise _RowError("bad_time", f"timecompleted {text!r} is later than the year 2100")
    if parsed < _EPOCH:
        raise _RowError("bad_time", f"timecompleted {text!r} is before 1970, which is not a completion time")
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
            f"{column} {text!r} is not a number; use digits with a dot for decimals, such as 85 or 85.5",
        )
    return Decimal(text)


def _read_row(number: int, original: dict[str, str], values: dict[str, str]) -> CompletionRow:
    user = values["user_idnumber"].strip()
    course = values["course_idnumber"].strip()
    if not user or not course:
        missing = " and ".join(name for name, v in (("user_idnumber", user), ("course_idnumber", course)) if not v)
        raise _RowError("missing_id", f"{missing} is empty, so the row cannot be matched to a student and unit")
    return CompletionRow(
        row=number,
        user_idnumber=user,
        course_idnumber=course,
        completed_at=parse_time(values["timecompleted"]),
        finalgrade=parse_grade("finalgrade", values.get("finalgrade", "")),
        gradepass=parse_grade("gradepass", values.get("gradepass", "")),
        original=original,
    )


def _settle_duplicates(result: CompletionFile) -> None:
    """Drop exact repeats; reject every row of a (user, course) pair whose rows disagree."""
    groups: dict[tuple[str, str], list[CompletionRow]] = defaultdict(list)
    for row in result.rows:
        groups[row.key].append(row)
    keep: list[CompletionRow] = []
    for row in result.rows:
        group = groups[row.key]
        if len(group) == 1:
            keep.append(row)
            continue
        facts = {(r.completed_at, r.finalgrade, r.gradepass) for r in group}
        if len(facts) == 1:
            if row is group[0]:
                keep.append(row)
            else:
                result.duplicates += 1
            continue
        # Which of the contradicting rows is right is a person's call: apply none of them.
        others = [str(r.row) for r in group if r is not row]
        where = f"row {others[0]}" if len(others) == 1 else f"rows {', '.join(others)}"
        result.bad_rows.append(
            BadRow(
                row.row,
                row.original,
                "duplicate_conflict",
                f"user_idnumber {row.user_idnumber!r} and course_idnumber {row.course_idnumber!r} also appear in "
                f"{where} with a different completion time or grade; none of these rows was applied",
            )
        )
    result.rows = keep
    result.bad_rows.sort(key=lambda b: b.row)


def parse_completion_file(data: bytes) -> CompletionFile:
    """Read a completion file.

    :param data: the file's bytes as delivered.
    :returns: the good rows, the bad rows with reasons, and the counts.
    :raises UnreadableFile: when the file is not UTF-8, has no header, lacks a required column
        or repeats a column name.
    """
    text = _decode(data)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next((cells for cells in reader if not _blank(cells)), None)
        if header is None:
            raise UnreadableFile(
                f"The file is empty: a completion file needs a header row naming {', '.join(REQUIRED_COLUMNS)}."
            )
        positions = _column_positions(header)
        wanted = {name: positions[name] for name in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS) if name in positions}
        named = [(index, name) for index, name in enumerate(header) if name.strip()]

        result = CompletionFile(header=list(header))
        for cells in reader:
            if _blank(cells):
                continue
            result.rows_read += 1
            # csv.DictReader semantics: a short row's missing cells are empty, extra cells are dropped.
            original = {name: (cells[index] if index < len(cells) else "") for index, name in named}
            values = {name: (cells[index] if index < len(cells) else "") for name, index in wanted.items()}
            try:
                result.rows.append(_read_row(result.rows_read, original, values))
            except _RowError as exc:
                result.bad_rows.append(BadRow(result.rows_read, original, exc.code, exc.reason))
    except csv.Error as exc:
        raise UnreadableFile(
            f"The file is not valid CSV near line {reader.line_num}: {exc}. It was not applied."
        ) from None
    _settle_duplicates(result)
    return result


def errors_file_name(name: str) -> str:
    """``completions_0601.csv`` -> ``completions_0601.errors.csv``."""
    stem = name[:-4] if name.lower().endswith(".csv") else name
    return f"{stem}.errors.csv"


def errors_csv(header: Sequence[str], errors: Sequence[Mapping[str, Any]]) -> bytes:
    """The errors file: for each refused row or conflict, its row number, its original values and
    the reason. Staff open it in a spreadsheet, so every cell is formula-safe."""
    columns = ["row", *[h for h in header if h and h not in ("row", "reason")], "reason"]
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(columns)
    for entry in errors:
        writer.writerow([neutralise(str(entry.get(c, "") if entry.get(c) is not None else "")) for c in columns])
    return buf.getvalue().encode("utf-8")
