"""Reading a completion file in chunks: the rules of :mod:`completion_file`, with memory bounded
by the chunk, at C speed where it pays.

:class:`CompletionReader` reads a completion file from a binary file object (a downloaded
temporary file, or the bytes of a test) and yields :class:`Chunk` s of at most
:data:`CHUNK_ROWS` records: the good rows as columns (a pandas DataFrame) and the bad rows
with their reasons. Every rule, and every message, is the one :mod:`completion_file` states;
this module only decides *how* to apply them to many rows at once:

* what the file is (a workbook, UTF-16, markup) is decided on its head
  (:data:`~completion_file.HEAD_BYTES`); whether it is UTF-8 by one streamed pass over it;
* records come from :mod:`csv` (C) in strict mode, a chunk at a time, each with its line span,
  so a bad row's original text is cut from the physical lines it came from;
* the per-row checks run over each chunk's columns: only the rows that fail one (or that look
  unusual: an ISO time, a grade with more than 15 digits) go through the per-row functions,
  which give the exact reason.

Duplicates (the same user and course more than once) are a matter of the whole file: they are
settled by :func:`settle_duplicates` over all the rows of a user key (see ``outcome_frames``).
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import chain, islice
from typing import IO, Any

import numpy as np
import pandas as pd

from powerpro_moodle.formats.completion_file import (
    _BOM,
    _DECIMAL,
    _EPOCH,
    _SAVE_AS_CSV_UTF8,
    _TOO_LATE,
    HEAD_BYTES,
    MAX_CELL_CHARS,
    BadRow,
    CompletionRow,
    UnreadableFile,
    _any_field_size,
    _blank,
    _check_bound,
    _column_positions,
    _csv_error,
    _looks_like_markup,
    _missing_id_reason,
    _not_csv_text,
    _quoted,
    _RowError,
    _shape_error,
    _shape_original,
    parse_grade,
    parse_time,
)
from powerpro_moodle.formats.ids import id_key

#: Records per chunk. A chunk of a typical completion report is a few MB of Python objects.
CHUNK_ROWS = 50_000
#: How much of the file is decoded at a time to check that it is UTF-8.
_READ_BYTES = 1 << 20
#: Lines of text read at a time (a hint in characters, for ``readlines``).
_LINES_HINT = 1 << 20
_US = timedelta(microseconds=1)
_TOO_LATE_SECONDS = int(_TOO_LATE.timestamp())
#: The good-rows columns besides the original cells (``o0``, ``o1``... in :attr:`CompletionReader.named` order).
ROW_COLUMNS = ("row", "user", "course", "completed", "finalgrade", "gradepass", "competent", "text")
#: A grade of at most this many characters compares exactly as a float (15 significant digits).
_FLOAT_SAFE = 15
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _us(moment: datetime) -> int:
    """An aware datetime as whole microseconds since 1970 (exact; a float holds it exactly
    until the year 2255)."""
    return (moment - _EPOCH) // _US


def object_frame(columns: dict[str, Any]) -> pd.DataFrame:
    """A DataFrame of these columns; text columns stay Python objects (pandas would turn them into
    its string type, ``None`` into ``NaN``)."""
    return pd.DataFrame({
        name: values if getattr(values, "dtype", np.dtype(object)) != np.dtype(object)
        else pd.Series(values, dtype=object, copy=False)
        for name, values in columns.items()
    })


def completed_at(us: float) -> datetime | None:
    """The completion time of a good row's ``completed`` column (``NaN`` = not completed)."""
    return None if us != us else _EPOCH + timedelta(microseconds=int(us))


def grade(text: str) -> Decimal | None:
    """A good row's ``finalgrade`` / ``gradepass`` column as the Decimal it stands for."""
    return Decimal(text) if text else None


@dataclass
class Chunk:
    """Up to :data:`CHUNK_ROWS` records of a completion file.

    :param good: the rows that passed every per-row check: columns :data:`ROW_COLUMNS` (``row``
        the data row number; ``user`` and ``course`` stripped, original case; ``completed`` the
        completion time in microseconds since 1970 UTC, ``NaN`` when not completed;
        ``finalgrade`` / ``gradepass`` the grade as written, stripped, ``""`` when none;
        ``competent`` whether the grade passes, or either is missing; ``text`` the record's text as
        read, line breaks included, from which :func:`cells_of` gives its cells back), then ``o0``,
        ``o1``... the row's cells of the named columns, as read.
    :param bad: the rows refused, in row order.
    """

    good: pd.DataFrame
    bad: list[BadRow] = field(default_factory=list)


def _not_utf8(binary: IO[bytes]) -> str | None:
    """Why the bytes are not UTF-8 (with a Windows-1252 hint), or ``None``: one streamed pass."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    fed = 0
    while True:
        data = binary.read(_READ_BYTES)
        pending = len(decoder.getstate()[0])
        try:
            decoder.decode(data, final=not data)
        except UnicodeDecodeError as exc:
            return _undecodable(binary, fed - pending + exc.start)
        if not data:
            return None
        fed += len(data)


def _undecodable(binary: IO[bytes], offset: int) -> str:
    """The message :func:`completion_file._decode` gives for the byte at ``offset``."""
    binary.seek(0)
    line, seen = 1, 0
    while seen < offset:
        data = binary.read(min(_READ_BYTES, offset - seen))
        line += data.count(b"\n")
        seen += len(data)
    byte = binary.read(1)
    message = (
        f"The file is not UTF-8 text: the byte 0x{byte[0]:02X} at byte offset {offset} (line {line}) "
        "cannot be decoded."
    )
    if _is_windows_1252(binary):
        return (
            f"{message} It looks like Windows-1252 (Excel's plain 'CSV' format), where that byte is "
            f"'{byte.decode('cp1252')}'; {_SAVE_AS_CSV_UTF8}."
        )
    return f"{message} Save it as 'CSV UTF-8' and deliver it again."


def _is_windows_1252(binary: IO[bytes]) -> bool:
    """Whether the whole file reads as Windows-1252 text (no control characters)."""
    binary.seek(0)
    while data := binary.read(_READ_BYTES):
        try:
            text = data.decode("cp1252")
        except UnicodeDecodeError:
            return False
        if _CONTROL.search(text):
            return False
    return True


class _LineBlocks:
    """The text's physical lines (``\\n``, ``\\r\\n`` or ``\\r`` kept), read a block at a time;
    the blocks not yet :meth:`release` d can give the text of any of their lines."""

    def __init__(self, text: IO[str]) -> None:
        self._text = text
        self._blocks: list[tuple[int, list[str]]] = []  # (index of the first line, lines)
        self._next = 0

    def _read(self) -> Iterator[list[str]]:
        while lines := self._text.readlines(_LINES_HINT):
            self._blocks.append((self._next, lines))
            self._next += len(lines)
            yield lines

    def lines(self) -> Iterator[str]:
        return chain.from_iterable(self._read())

    def text(self, start: int, end: int) -> str:
        """Lines ``start`` to ``end`` (0-based, end excluded) joined, without the last line break."""
        parts = []
        for first, lines in self._blocks:
            if first + len(lines) <= start or first >= end:
                continue
            parts.extend(lines[max(start - first, 0) : end - first])
        return "".join(parts).removesuffix("\n").removesuffix("\r")

    def lines_between(self, start: int, end: int) -> list[str]:
        """Lines ``start`` to ``end`` (0-based, end excluded), line breaks kept."""
        out: list[str] = []
        for first, lines in self._blocks:
            if first + len(lines) <= start or first >= end:
                continue
            out.extend(lines[max(start - first, 0) : end - first])
        return out

    def release(self, before: int) -> None:
        """Forget the blocks that hold only lines before ``before``."""
        while self._blocks and self._blocks[0][0] + len(self._blocks[0][1]) <= before:
            self._blocks.pop(0)


class CompletionReader:
    """A completion file, read a chunk at a time; use it as a context manager, then iterate.

    Entering checks the file as a whole (what it is, UTF-8, the header) and raises
    :class:`UnreadableFile` with the message :func:`completion_file.parse_completion_file`
    gives; iterating may still raise it for CSV syntax further on (a quote never closed).

    :param binary: the file's bytes, seekable, from the start.
    :param not_before: the earliest plausible completion time, timezone-aware, or ``None``.
    :param not_after: the latest plausible completion time, timezone-aware, or ``None``.
    :param chunk_rows: records per chunk (default :data:`CHUNK_ROWS`).
    :param cells: whether the good rows carry their cells (``o0``...); without them,
        :class:`Rows` reads a row's cells from its text when asked.
    """

    def __init__(self, binary: IO[bytes], *, not_before: datetime | None = None, not_after: datetime | None = None,
                 chunk_rows: int | None = None, cells: bool = True) -> None:
        _check_bound("not_before", not_before)
        _check_bound("not_after", not_after)
        self.binary = binary
        self.not_before, self.not_after = not_before, not_after
        self._bounds_us = (None if not_before is None else _us(not_before),
                           None if not_after is None else _us(not_after))
        self.chunk_rows = chunk_rows or CHUNK_ROWS
        self.cells = cells
        #: Data rows read so far (blank records not counted).
        self.rows_read = 0
        self.header: list[str] = []
        self.header_line = ""
        self._field_size: Any = None
        self._text: io.TextIOWrapper | None = None

    # -- the file as a whole -----------------------------------------------------------------

    def __enter__(self) -> CompletionReader:
        head = self.binary.read(HEAD_BYTES)
        reason = _not_csv_text(head)
        if reason is None:
            self.binary.seek(0)
            reason = _not_utf8(self.binary)
        if reason is not None:
            raise UnreadableFile(reason)
        self.binary.seek(0)
        self._field_size = _any_field_size()
        self._field_size.__enter__()
        try:
            self._text = io.TextIOWrapper(self.binary, encoding="utf-8-sig", newline="")
            self._lines = _LineBlocks(self._text)
            # strict: a quote left open must not swallow the rest of the file into one cell silently.
            self._reader = csv.reader(self._lines.lines(), strict=True)
            self._read_header(head)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self._text is not None:
            self._text.detach()  # the caller's file stays open
            self._text = None
        if self._field_size is not None:
            self._field_size.__exit__(None, None, None)
            self._field_size = None

    def _read_header(self, head: bytes) -> None:
        reader, done = self._reader, 0
        header = None
        try:
            for cells in reader:
                self.header_line = self._lines.text(done, reader.line_num)
                done = reader.line_num
                if not _blank(cells):
                    header = cells
                    break
        except csv.Error as exc:
            raise UnreadableFile(_csv_error(str(exc), done + 1, reader.line_num)) from None
        if header is None:
            raise UnreadableFile(
                "The file is empty: a completion file needs a header row naming "
                "user_idnumber, course_idnumber, timecompleted."
            )
        try:
            positions = _column_positions(header, self.header_line)
        except UnreadableFile:
            markup = _looks_like_markup(head.removeprefix(_BOM).decode("utf-8", errors="ignore"))
            if markup:
                raise UnreadableFile(markup) from None
            raise
        self.header = list(header)
        self.positions = positions
        self.named = [(index, name) for index, name in enumerate(header) if name.strip()]
        self._header_key = [cell.strip().lower() for cell in header]
        self._done = done
        self._lines.release(done)

    # -- chunks ------------------------------------------------------------------------------

    def __iter__(self) -> Iterator[Chunk]:
        reader = self._reader
        while True:
            start = self._done
            try:
                records = list(islice(reader, self.chunk_rows))
            except csv.Error as exc:
                raise self._unreadable(exc, start, reader.line_num) from None
            if not records:
                return
            end = reader.line_num
            if end - start == len(records):  # a line per record, as nearly always
                ends = range(start + 1, end + 1)
            else:
                ends = self._ends(start, end)
            chunk = _ChunkCheck(self, records, start, ends).run()
            self._done = end
            self._lines.release(end)
            yield chunk

    def _ends(self, start: int, end: int) -> list[int]:
        """Where each record of lines ``start`` to ``end`` ends (a quoted cell may span lines)."""
        again = csv.reader(iter(self._lines.lines_between(start, end)), strict=True)
        ends = []
        for _ in again:
            ends.append(start + again.line_num)
        return ends

    def _unreadable(self, exc: csv.Error, start: int, line: int) -> UnreadableFile:
        """The CSV syntax error at ``line``, said from the start of the record it is in."""
        again = csv.reader(iter(self._lines.lines_between(start, line)), strict=True)
        done = start
        try:
            for _ in again:
                done = start + again.line_num
        except csv.Error:
            pass
        return UnreadableFile(_csv_error(str(exc), done + 1, line))

    def text_of(self, start: int, end: int) -> str:
        return self._lines.text(start, end)


class _ChunkCheck:
    """The per-row checks of :func:`completion_file.parse_completion_file`, over one chunk."""

    def __init__(self, reader: CompletionReader, records: list[list[str]], start: int, ends: Sequence[int]) -> None:
        self.reader = reader
        self.records = records
        self.start = start
        self.ends = ends
        self.bad: list[BadRow] = []

    def span(self, k: int) -> tuple[int, int]:
        return (self.ends[k - 1] if k else self.start), self.ends[k]

    def text(self, k: int) -> str:
        return self.reader.text_of(*self.span(k))

    def bad_row(self, k: int, row: int, reason: str) -> None:
        named = self.reader.named
        self.bad.append(BadRow(row, _shape_original(self.records[k], named, self.text(k)), "bad_row", reason))

    def run(self) -> Chunk:
        r = self.reader
        records, ncols = self.records, len(r.header)
        n = len(records)
        if min(map(len, records)) == max(map(len, records)) == ncols:  # as nearly always
            shaped = np.ones(n, bool)
        else:
            shaped = np.fromiter(map(len, records), np.int64, n) == ncols
        shaped_at = np.flatnonzero(shaped)
        table = np.empty((len(shaped_at), ncols), dtype=object)  # the shaped records, a column each
        if len(shaped_at):
            table[:] = records if len(shaped_at) == n else [records[k] for k in shaped_at]
        columns = table.T
        user = _array(list(map(str.strip, columns[r.positions["user_idnumber"]])))

        # Blank records are not rows. A blank record's user cell is blank: only those are looked at.
        blank = ~shaped
        blank[~shaped] = [_blank(records[k]) for k in np.flatnonzero(~shaped)]
        empty_user = user == ""
        blank[shaped_at[empty_user]] = [_blank(records[k]) for k in shaped_at[empty_user]]
        rows = np.cumsum(~blank) + r.rows_read
        r.rows_read = int(rows[-1]) if n else r.rows_read

        for k in np.flatnonzero(~shaped & ~blank):
            self.bad_row(k, int(rows[k]), _shape_error(records[k], r.header))

        # Of the rows with as many cells as the header: a repeated header, an oversize cell (only a
        # record whose text is longer than the limit may hold one).
        refused = blank[shaped_at].copy()
        for j in np.flatnonzero(self._long(shaped_at) & ~refused):
            k = shaped_at[j]
            if self._repeats_header(k, int(rows[k])):
                refused[j] = True
            elif max(map(len, records[k])) > MAX_CELL_CHARS:
                refused[j] = True
                self.bad_row(k, int(rows[k]), _shape_error(records[k], r.header))

        keep = np.flatnonzero(~refused)
        good = self._values(keep, shaped_at, columns, user, rows)
        self.bad.sort(key=lambda b: b.row)
        return Chunk(good, self.bad)

    def _repeats_header(self, k: int, row: int) -> bool:
        """Refuse record ``k`` if it repeats the header."""
        if [cell.strip().lower() for cell in self.records[k]] != self.reader._header_key:
            return False
        self.bad_row(k, row, "the row repeats the header (two exports pasted into one file?); it holds no completion")
        return True

    def _long(self, records: np.ndarray) -> np.ndarray:
        """Which of these records' text is longer than a cell may be."""
        lines = self.reader._lines.lines_between(self.start, self.ends[-1])
        if max(map(len, lines)) <= MAX_CELL_CHARS and len(lines) == len(self.records):
            return np.zeros(len(records), bool)
        length = np.fromiter(map(len, lines), np.int64, len(lines))
        if len(lines) == len(self.records):
            return length[records] > MAX_CELL_CHARS
        bounds = np.concatenate([[0], np.cumsum(length)])
        ends = np.asarray(self.ends) - self.start
        starts = np.concatenate([[0], ends[:-1]])
        return (bounds[ends] - bounds[starts])[records] > MAX_CELL_CHARS

    def _values(self, keep: np.ndarray, shaped_at: np.ndarray, columns: np.ndarray, user: np.ndarray,
                rows: np.ndarray) -> pd.DataFrame:
        """The rows' values, checked in :func:`completion_file._read_row` 's order: ids, time, grades.

        A row that repeats the header fails the time check (its time is the header's name): it is
        looked for among those."""
        r = self.reader
        take = keep if len(keep) < len(shaped_at) else slice(None)

        def cell(name: str) -> np.ndarray | None:
            at = r.positions.get(name)
            return None if at is None else columns[at][take]

        user = user[take]
        course = _array(list(map(str.strip, cell("course_idnumber"))))
        row = rows[shaped_at[keep]]
        reasons: dict[int, tuple[str, str]] = {}  # position in keep -> (code, reason), the first failing check

        for j in np.flatnonzero((user == "") | (course == "")):
            reasons[j] = ("missing_id", _missing_id_reason(user[j], course[j]))
        completed = self._times(cell("timecompleted"), reasons)
        grades = {name: self._grades(name, cell(name), len(keep), reasons) for name in ("finalgrade", "gradepass")}

        ok = np.ones(len(keep), bool)
        if reasons:
            ok[list(reasons)] = False
            named = r.named
            for j, (code, reason) in reasons.items():
                k = shaped_at[keep[j]]
                if code == "bad_time" and self._repeats_header(k, int(row[j])):
                    continue
                cells = self.records[k]
                self.bad.append(BadRow(int(row[j]), {name: cells[index] for index, name in named}, code, reason))
        texts = self._texts(shaped_at[keep][ok])
        frame = {"row": row[ok], "user": user[ok], "course": course[ok], "completed": completed[ok],
                 "finalgrade": grades["finalgrade"][ok], "gradepass": grades["gradepass"][ok],
                 "competent": competent(grades["finalgrade"][ok], grades["gradepass"][ok]), "text": texts}
        if r.cells:
            for i, (index, _) in enumerate(r.named):
                frame[f"o{i}"] = columns[index][take][ok]
        return object_frame(frame)

    def _texts(self, records: np.ndarray) -> np.ndarray:
        """The text of each of these records (indexes into the chunk), line breaks included."""
        lines = self.reader._lines.lines_between(self.start, self.ends[-1])
        if len(lines) == len(self.records):  # a line per record: the lines are the texts
            return _array(lines)[records]
        return _array(["".join(self.reader._lines.lines_between(*self.span(k))) for k in records])

    def _times(self, raw: np.ndarray, reasons: dict[int, tuple[str, str]]) -> np.ndarray:
        """``timecompleted`` as microseconds since 1970 UTC (``NaN``: not completed).

        Empty, ``-``, ``0``, plain Unix seconds and ISO 8601 times with an offset are read here;
        anything else by :func:`completion_file.parse_time`, which also words every refusal."""
        r = self.reader
        n = len(raw)
        out = np.full(n, np.nan)
        slow = np.zeros(n, bool)
        sure, plain = _plain_times(raw)
        out[sure] = plain[sure]
        rest = np.flatnonzero(~sure)  # anything not written plainly: each value looked at in Python
        out[rest], slow[rest] = _times_of(raw[rest])
        for j in np.flatnonzero(slow):
            try:
                moment = parse_time(raw[j])
            except _RowError as exc:
                reasons.setdefault(j, (exc.code, exc.reason))
                out[j] = np.nan
                continue
            out[j] = np.nan if moment is None else _us(moment)
        low, high = r._bounds_us
        outside = np.zeros(n, bool)
        if low is not None:
            outside |= out < low
        if high is not None:
            outside |= out > high
        for j in np.flatnonzero(outside):
            try:
                parse_time(raw[j], not_before=r.not_before, not_after=r.not_after)
            except _RowError as exc:
                reasons.setdefault(j, (exc.code, exc.reason))
        return out

    @staticmethod
    def _grades(name: str, raw: np.ndarray | None, n: int, reasons: dict[int, tuple[str, str]]) -> np.ndarray:
        """A grade column, stripped; ``""`` for none (empty or ``-``). The values written
        plainly are checked at once (:func:`_unlike`); otherwise each distinct value once."""
        if raw is None:
            return np.full(n, "", dtype=object)
        odd = _unlike(_GRADES, raw)
        if odd is not None:  # as nearly always: only the values not written plainly are looked at
            text = raw.copy()
            text[text == "-"] = ""
            for j in odd:
                value = raw[j].strip()
                text[j] = "" if value == "-" else value
                if text[j] and not _DECIMAL.fullmatch(text[j]):
                    try:
                        parse_grade(name, text[j])
                    except _RowError as exc:
                        reasons.setdefault(j, (exc.code, exc.reason))
            return text
        codes, uniques = pd.factorize(raw)
        stripped = _array([value.strip() for value in uniques])
        stripped[stripped == "-"] = ""
        text = stripped[codes]
        wrong = [u for u, value in enumerate(stripped) if value and not _DECIMAL.fullmatch(value)]
        if wrong:
            for j in np.flatnonzero(np.isin(codes, wrong)):
                try:
                    parse_grade(name, text[j])
                except _RowError as exc:
                    reasons.setdefault(j, (exc.code, exc.reason))
        return text


#: A run of grades each written plainly (a decimal number, ``-`` or nothing, nothing around
#: it), each followed by a line break.
_GRADES = re.compile(rf"(?:{_DECIMAL.pattern}\n|-\n|\n)*+")


def _unlike(run: re.Pattern[str], values: np.ndarray) -> np.ndarray | None:
    """The positions of the values that are not an item of ``run`` (a pattern matching a run
    of items, each followed by a line break); ``None`` when a value holds a line break. The
    values are matched joined, in C, instead of by a call each."""
    text = "\n".join(values.tolist()) + "\n"
    if text.count("\n") != len(values):
        return None
    out, at, index = [], 0, 0
    while True:
        stop = run.match(text, at).end()
        index += text.count("\n", at, stop)
        if stop == len(text):
            return np.array(out, dtype=np.int64)
        out.append(index)
        at, index = text.index("\n", stop) + 1, index + 1


def _times_of(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Times as microseconds since 1970 UTC (``NaN``: not completed, or not read here), and
    which of them :func:`completion_file.parse_time` must read (or refuse): a call per value."""
    n = len(raw)
    text = _array(list(map(str.strip, raw)))
    out = np.full(n, np.nan)
    slow = np.zeros(n, bool)
    isdigit = np.fromiter(map(str.isdigit, text), bool, n)
    at = np.flatnonzero(isdigit)
    digits = text[at]
    short = np.fromiter(map(str.isascii, digits), bool, len(at)) & (
        np.fromiter(map(len, digits), np.int64, len(at)) <= 12)
    seconds = np.fromiter(map(int, digits[short]), np.int64, int(short.sum()))
    out[at[short]] = np.where(seconds > 0, seconds * 1_000_000.0, np.nan)  # 0: not completed
    slow[at[short][seconds >= _TOO_LATE_SECONDS]] = True
    slow[at[~short]] = True
    at = np.flatnonzero(~isdigit & (text != "") & (text != "-"))
    iso = np.fromiter(map(_iso_us, text[at]), float, len(at))
    out[at] = iso
    slow[at[np.isnan(iso)]] = True
    return out, slow


#: The shape of an ISO 8601 time with seconds and an offset (``Z`` or ``±hh:mm``): ``d`` a digit.
_ISO_SHAPES = {20: "dddd-dd-ddTdd:dd:ddZ", 25: "dddd-dd-ddTdd:dd:dd+dd:dd"}
_DIGIT_PLACES = {size: np.array([c == "d" for c in shape]) for size, shape in _ISO_SHAPES.items()}
_MONTH_DAYS = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])


def _column_bytes(values: np.ndarray, encoding: str, pad: int) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """A text column as one array of bytes (each value followed by a line break, then ``pad``
    zero bytes so a fixed-width read past a short last value stays inside), each value's start
    and length; ``None`` when a value is not text, does not encode, or holds a line break."""
    try:
        data = np.frombuffer(("\n".join(values.tolist()) + "\n").encode(encoding), np.uint8)
    except (UnicodeEncodeError, TypeError):
        return None
    ends = np.flatnonzero(data == 10)
    if len(ends) != len(values):
        return None
    starts = np.concatenate([[0], ends[:-1] + 1])
    return np.concatenate([data, np.zeros(pad, np.uint8)]), starts, ends - starts


def _plain_times(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Which times are written plainly, and their microseconds since 1970 UTC (``NaN``: not
    completed), read over the column's bytes at once: empty, ``-``, Unix seconds (up to 12
    digits, before 2101) and ISO 8601 times shaped ``2026-03-31T14:30:00+10:00`` or ``…Z``
    (a real date and time, from 1970 to 2100). Anything else is left to :func:`_times_of`,
    which reads these the same way."""
    n = len(raw)
    sure, out = np.zeros(n, bool), np.full(n, np.nan)
    column = _column_bytes(raw, "utf-8", pad=25)
    if column is None:
        return sure, out
    data, starts, size = column
    sure[(size == 0) | ((size == 1) & (data[starts] == ord("-")))] = True

    def chars(at: np.ndarray, width: int) -> np.ndarray:
        return data[starts[at, None] + np.arange(width)].astype(np.int64)

    at = np.flatnonzero((size >= 1) & (size <= 12))
    c = chars(at, 12)
    inside = np.arange(12) < size[at, None]
    digits = ((c >= 48) & (c <= 57)) | ~inside
    at, c, inside = at[digits.all(1)], c[digits.all(1)], inside[digits.all(1)]
    seconds = np.zeros(len(at), np.int64)
    for k in range(12):
        seconds = np.where(inside[:, k], seconds * 10 + c[:, k] - 48, seconds)
    at, seconds = at[seconds < _TOO_LATE_SECONDS], seconds[seconds < _TOO_LATE_SECONDS]
    out[at] = np.where(seconds > 0, seconds * 1_000_000.0, np.nan)  # 0: not completed
    sure[at] = True

    for width, shape in _ISO_SHAPES.items():
        at = np.flatnonzero(size == width)
        c = chars(at, width)
        place = _DIGIT_PLACES[width]
        fits = ((c[:, place] >= 48) & (c[:, place] <= 57)).all(1)
        for k in np.flatnonzero(~place):
            fits &= (c[:, k] == ord(shape[k])) | ((shape[k] == "+") & (c[:, k] == ord("-")))
        at, c = at[fits], c[fits] - 48

        def number(first: int, digits: int, c: np.ndarray = c) -> np.ndarray:
            value = np.zeros(len(c), np.int64)
            for k in range(first, first + digits):
                value = value * 10 + c[:, k]
            return value

        year, month, day = number(0, 4), number(5, 2), number(8, 2)
        hour, minute, second = number(11, 2), number(14, 2), number(17, 2)
        offset = np.zeros(len(c), np.int64)
        if width == 25:
            offset = np.where(c[:, 19] == ord("-") - 48, -1, 1) * (number(20, 2) * 3600 + number(23, 2) * 60)
            fits = (number(20, 2) <= 23) & (number(23, 2) <= 59)
        else:
            fits = np.ones(len(c), bool)
        leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
        month_days = _MONTH_DAYS[np.clip(month, 0, 12)] + (leap & (month == 2))
        fits &= ((year >= 1900) & (month >= 1) & (month <= 12) & (day >= 1) & (day <= month_days)
                 & (hour <= 23) & (minute <= 59) & (second <= 59))
        # Days since 1970-01-01 of the proleptic Gregorian date (H. Hinnant's days_from_civil).
        y = year - (month <= 2)
        era, yoe = y // 400, y % 400
        doy = (153 * ((month + 9) % 12) + 2) // 5 + day - 1
        days = era * 146_097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719_468
        us = (days * 86_400 + hour * 3_600 + minute * 60 + second - offset) * 1_000_000
        fits &= (us >= 0) & (us < _TOO_LATE_US)
        out[at[fits]] = us[fits]
        sure[at[fits]] = True
    return sure, out


def _array(values: Sequence[Any]) -> np.ndarray:
    """Values as a 1-d array of Python objects."""
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


_TOO_LATE_US = _TOO_LATE_SECONDS * 1_000_000


def _iso_us(text: str) -> float:
    """An ISO 8601 time with an offset, from 1970 to 2100, as microseconds since 1970 UTC;
    ``NaN`` for anything else (:func:`completion_file.parse_time` says why)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return np.nan
    if moment.tzinfo is None or moment.utcoffset() is None:
        return np.nan
    us = (moment - _EPOCH) // _US
    return us if 0 <= us < _TOO_LATE_US else np.nan


def competent(finalgrade: np.ndarray, gradepass: np.ndarray) -> np.ndarray:
    """``finalgrade >= gradepass``, or either missing (grades as written, ``""`` for none). Exact:
    a grade of more than 15 characters is compared as a Decimal."""
    n = len(finalgrade)
    out = np.ones(n, bool)
    both = (finalgrade != "") & (gradepass != "")
    if not both.any():
        return out
    at = np.flatnonzero(both)
    (fg, fg_short), (gp, gp_short) = _numbers(finalgrade[at]), _numbers(gradepass[at])
    short = fg_short & gp_short
    result = np.empty(len(at), bool)
    result[short] = fg[short] >= gp[short]
    for j in np.flatnonzero(~short):
        result[j] = Decimal(finalgrade[at[j]]) >= Decimal(gradepass[at[j]])
    out[at] = result
    return out


def _numbers(grades: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Grades as floats, and whether each is short enough for its float to compare exactly (at
    most 15 characters: 15 significant digits). The plain ones are read at once
    (:func:`_plain_numbers`), the rest by :func:`_numbers_of`."""
    sure, values = _plain_numbers(grades)
    if sure.all():
        return values, sure
    short = sure.copy()
    rest = np.flatnonzero(~sure)
    values[rest], short[rest] = _numbers_of(grades[rest])
    return values, short


#: Powers of ten up to 10**15, each a float exactly.
_TENS_FLOAT = np.array([float(10**k) for k in range(_FLOAT_SAFE + 1)])


def _plain_numbers(grades: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Which grades are plain decimals of at most 15 characters (``[+-]digits[.digits]``, ASCII),
    and their floats (``0``: not read here), read over the column's bytes at once. Exactly
    ``float()``'s: their digits, as a whole number below 2**53, and a power of ten up to 10**15
    are floats exactly, and one division of them is the correctly rounded value."""
    n = len(grades)
    sure, out = np.zeros(n, bool), np.zeros(n)
    column = _column_bytes(grades, "ascii", pad=_FLOAT_SAFE)  # ascii: other digits than 0-9 are not read here
    if column is None:
        return sure, out
    data, starts, size = column
    at = np.flatnonzero((size >= 1) & (size <= _FLOAT_SAFE))
    start, size = starts[at], size[at]
    first = data[start]
    fits = np.ones(len(at), bool)
    whole, decimals, dots, digits = (np.zeros(len(at), np.int64) for _ in range(4))
    for k in range(int(size.max(initial=0))):  # a place at a time, in every value at once
        c = data[start + k].astype(np.int64)
        inside = k < size
        digit = inside & (c >= ord("0")) & (c <= ord("9"))
        dot = inside & (c == ord("."))
        fits &= digit | dot | ~inside | ((k == 0) & ((c == ord("+")) | (c == ord("-"))))
        whole = np.where(digit, whole * 10 + c - ord("0"), whole)
        decimals += digit & (dots > 0)
        digits += digit
        dots += dot
    fits &= (dots <= 1) & (digits > 0)
    value = whole / _TENS_FLOAT[decimals]
    value = np.where(first == ord("-"), -value, value)
    sure[at[fits]] = True
    out[at[fits]] = value[fits]
    return sure, out


def _numbers_of(grades: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_numbers` a value at a time: each distinct grade converted once, by ``float()``."""
    codes, uniques = pd.factorize(grades)
    short = np.fromiter(map(len, uniques), np.int64, len(uniques)) <= _FLOAT_SAFE
    values = np.zeros(len(uniques))
    values[short] = [float(u) for u in uniques[short]]
    return values[codes], short[codes]


def cells_of(text: str) -> list[str]:
    """A record's cells from its text (:attr:`Chunk.good` ``text``), as the reader read them."""
    return next(csv.reader(io.StringIO(text, newline=""), strict=True))


class Rows:
    """Good rows held as a frame, with what only a few of them need taken from their text.

    :param good: columns ``row``, ``user``, ``course``, ``completed``, ``competent`` and ``text``
        (:attr:`Chunk.good`; the grades and cells may be left out).
    :param named: the header's named columns (:attr:`CompletionReader.named`).
    :param positions: the header positions of the columns read (:attr:`CompletionReader.positions`).
    """

    def __init__(self, good: pd.DataFrame, named: Sequence[tuple[int, str]], positions: dict[str, int]) -> None:
        self.frame = good
        self.named = named
        self.positions = positions
        self._columns: dict[str, np.ndarray] = {}
        self._cells: list[tuple[str, np.ndarray]] | None = None
        self._has = set(good.columns)

    def column(self, name: str) -> np.ndarray:
        found = self._columns.get(name)
        if found is None:
            found = self._columns[name] = self.frame[name].to_numpy()
        return found

    def __len__(self) -> int:
        return len(self.frame)

    def take(self, keep: np.ndarray) -> Rows:
        return Rows(self.frame[keep].reset_index(drop=True), self.named, self.positions)

    def original(self, j: int) -> dict[str, str]:
        """Row ``j`` 's original values, by header name (its errors-file cells)."""
        if "o0" in self._has:
            if self._cells is None:
                self._cells = [(name, self.column(f"o{i}")) for i, (_, name) in enumerate(self.named)]
            return {name: values[j] for name, values in self._cells}
        cells = cells_of(self.column("text")[j])
        return {name: cells[index] for index, name in self.named}

    def grades_of(self, rows: Sequence[int]) -> list[tuple[str, str]]:
        """:meth:`grades` of several rows (their texts read in one go)."""
        if "finalgrade" in self._has:
            return [self.grades(int(j)) for j in rows]
        text = self.column("text")
        lines = [line for j in rows for line in io.StringIO(text[j], newline="")]
        out = []
        for cells in csv.reader(lines, strict=True):
            pair = []
            for name in ("finalgrade", "gradepass"):
                at = self.positions.get(name)
                value = cells[at].strip() if at is not None else ""
                pair.append("" if value == "-" else value)
            out.append((pair[0], pair[1]))
        return out

    def grades(self, j: int) -> tuple[str, str]:
        """Row ``j`` 's ``finalgrade`` and ``gradepass`` as written, stripped (``""``: none)."""
        if "finalgrade" in self._has:
            return self.column("finalgrade")[j], self.column("gradepass")[j]
        cells = cells_of(self.column("text")[j])
        out = []
        for name in ("finalgrade", "gradepass"):
            at = self.positions.get(name)
            value = cells[at].strip() if at is not None else ""
            out.append("" if value == "-" else value)
        return out[0], out[1]


# -- duplicates ----------------------------------------------------------------------------


def settle_duplicates(rows: Rows) -> tuple[np.ndarray, int, list[BadRow]]:
    """Drop exact repeats; reject every row of a (user, course) pair whose rows disagree
    (the same completion time and grades is a repeat, in any spelling: ``80`` and ``80.0``),
    over rows that hold every row of their user key.

    :return: which rows stay (a boolean mask in row order of ``rows``), how many exact repeats
        were dropped, and the ``duplicate_conflict`` rows.
    """
    good = rows.frame
    keep = np.ones(len(good), bool)
    if len(good) < 2:
        return keep, 0, []
    keys = object_frame({"u": _keys(good["user"]), "c": _keys(good["course"])})
    repeated = np.flatnonzero(keys.duplicated(keep=False).to_numpy())
    if not len(repeated):
        return keep, 0, []
    groups: dict[tuple[str, str], list[int]] = {}
    u, c = keys["u"].to_numpy(), keys["c"].to_numpy()
    for j in repeated[np.argsort(good["row"].to_numpy()[repeated], kind="stable")]:
        groups.setdefault((u[j], c[j]), []).append(int(j))
    duplicates, conflicts = 0, []
    row, users, courses = good["row"].to_numpy(), good["user"].to_numpy(), good["course"].to_numpy()
    completed = good["completed"].to_numpy()
    for group in groups.values():
        facts = {(completed_at(completed[j]), *map(grade, rows.grades(j))) for j in group}
        if len(facts) == 1:
            keep[group[1:]] = False
            duplicates += len(group) - 1
            continue
        keep[group] = False
        for j in group:
            # Which of the contradicting rows is right is a person's call: apply none of them.
            others = [str(row[i]) for i in group if i != j]
            where = f"row {others[0]}" if len(others) == 1 else f"rows {', '.join(others)}"
            conflicts.append(BadRow(
                int(row[j]), rows.original(j), "duplicate_conflict",
                f"user_idnumber {_quoted(users[j])} and course_idnumber {_quoted(courses[j])} also appear in "
                f"{where} with a different completion time or grade; none of these rows was applied",
            ))
    return keep, duplicates, conflicts


def _keys(values: pd.Series) -> np.ndarray:
    """:func:`ids.id_key` of stripped ids."""
    return np.array(list(map(str.upper, values.to_numpy())), dtype=object)


def completion_rows(rows: Rows) -> list[CompletionRow]:
    """The good rows as :class:`CompletionRow` objects (small files and tests)."""
    row, user, course, completed = (rows.column(c) for c in ("row", "user", "course", "completed"))
    return [
        CompletionRow(int(row[j]), user[j], course[j], completed_at(completed[j]), *map(grade, rows.grades(j)),
                      rows.original(j))
        for j in range(len(rows))
    ]


def empty_rows(named: Sequence[tuple[int, str]]) -> pd.DataFrame:
    frame: dict[str, Any] = {c: np.array([], dtype=object) for c in ROW_COLUMNS}
    frame["row"] = np.array([], dtype=np.int64)
    frame["completed"] = np.array([], dtype=float)
    frame["competent"] = np.array([], dtype=bool)
    for i in range(len(named)):
        frame[f"o{i}"] = np.array([], dtype=object)
    return object_frame(frame)


__all__ = ["CHUNK_ROWS", "ROW_COLUMNS", "Chunk", "CompletionReader", "Rows", "cells_of", "competent", "completed_at",
           "completion_rows", "empty_rows", "grade", "id_key", "object_frame", "settle_duplicates"]
