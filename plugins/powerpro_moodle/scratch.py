"""Local scratch files of one task: what a completion file too big to hold is spilled to.

* :class:`Partitions`: columns (numpy arrays) split by the hash of a key into a fixed number of
  files, each appended to a block at a time and read back whole; a part holds every row of its
  keys.
* :class:`Runs`: errors-file entries written in sorted runs and read back merged, in order.

The files live in a temporary folder the task owns (no other task reads them: SPEC section 7)
and are gone when it is. Pickle is used only for what this process wrote itself.
"""

from __future__ import annotations

import heapq
import pickle
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

#: Entries per block of a run: a merge holds one block of each run.
RUN_BLOCK = 256

Columns = dict[str, np.ndarray]


def part_of(keys: np.ndarray, parts: int) -> np.ndarray:
    """The part (0 .. parts-1) of each key (text): the same key, the same part, in any process.
    Each distinct key is hashed once."""
    if parts == 1 or not len(keys):
        return np.zeros(len(keys), dtype=np.int64)
    codes, uniques = pd.factorize(np.asarray(keys, dtype=object))
    hashed = pd.util.hash_array(objects(uniques)) % np.uint64(parts)
    return hashed.astype(np.int64)[codes]


def objects(values: Iterable[Any] | np.ndarray, size: int | None = None) -> np.ndarray:
    """Values as a 1-d array of Python objects (ints stay Python ints, ``None`` stays ``None``)."""
    values = values if isinstance(values, (list, tuple, np.ndarray)) else list(values)
    out = np.empty(len(values) if size is None else size, dtype=object)
    out[:] = values
    return out


def _pack(columns: Columns, packed: Iterable[str], factorized: dict[str, tuple[np.ndarray, np.ndarray]],
          at: np.ndarray | None = None) -> dict[str, Any]:
    """The rows ``at`` (``None``: all) of columns, ready to pickle: those in ``packed`` (text that
    repeats: a course, a status, a student's six units) as codes into their distinct values,
    which pickle as bytes rather than as one object each. Those in ``factorized`` are given as
    codes (none missing) into their distinct values already: the codes are renumbered, as if the
    values were factorized here."""
    def rows(values: np.ndarray) -> np.ndarray:
        return values if at is None else values[at]

    out: dict[str, Any] = {}
    for name, values in columns.items():
        if name in factorized:
            codes, uniques = factorized[name]
            codes, which = pd.factorize(rows(codes))  # whole numbers, in the same order as the values
            out[name] = (codes.astype(np.int32), objects([*uniques[which], None]))
        elif name in packed:
            codes, uniques = pd.factorize(rows(values), use_na_sentinel=True)
            out[name] = (codes.astype(np.int32), objects([*uniques, None]))  # code -1 (NULL) is the last
        else:
            out[name] = rows(values)
    return out


def _unpack(columns: dict[str, Any]) -> Columns:
    return {name: value[1][value[0]] if isinstance(value, tuple) else value for name, value in columns.items()}


class Partitions:
    """Columns spilled to ``parts`` files per kind, split by the hash of a key.

    :param folder: a folder of the task's own.
    :param parts: how many parts.
    """

    def __init__(self, folder: Path, parts: int) -> None:
        self.folder = Path(folder)
        self.parts = max(1, parts)
        self._files: dict[tuple[str, int], Any] = {}

    def _path(self, kind: str, part: int) -> Path:
        return self.folder / f"{kind}.{part}.pickle"

    def add(self, kind: str, columns: Columns, keys: np.ndarray | None = None, *, part: np.ndarray | None = None,
            packed: Iterable[str] = (), factorized: dict[str, tuple[np.ndarray, np.ndarray]] | None = None) -> None:
        """Append the rows of ``columns`` (arrays of one length) to the parts of their ``keys``
        (or to the parts ``part`` says: :func:`part_of` of their keys).

        :param packed: columns of text that repeats, stored as codes (see :func:`_pack`).
        :param factorized: of the ``packed`` columns, those the caller has already factorized
            (:func:`pandas.factorize` of the column: codes, distinct values), to do it once.
        """
        if part is None:
            part = part_of(keys, self.parts)
        if not len(part):
            return
        packed = set(packed)
        factorized = {name: pair for name, pair in (factorized or {}).items()
                      if name in packed and not (pair[0] < 0).any()}  # a missing value: factorized here
        if self.parts == 1:
            self._write(kind, 0, _pack(columns, packed, factorized))
            return
        order = np.argsort(part, kind="stable")
        bounds = np.searchsorted(part[order], np.arange(self.parts + 1))
        for p in range(self.parts):
            if bounds[p] < bounds[p + 1]:
                self._write(kind, p, _pack(columns, packed, factorized, order[bounds[p] : bounds[p + 1]]))

    def _write(self, kind: str, part: int, packed: dict[str, Any]) -> None:
        out = self._files.get((kind, part))
        if out is None:
            out = self._files[kind, part] = self._path(kind, part).open("ab")
        pickle.dump(packed, out, protocol=pickle.HIGHEST_PROTOCOL)

    def close(self) -> None:
        for out in self._files.values():
            out.close()
        self._files.clear()

    def read(self, kind: str, part: int) -> Columns | None:
        """Every row added to ``part`` of ``kind``, in the order added (``None``: none), and the
        part's file is gone."""
        out = self._files.pop((kind, part), None)
        if out is not None:
            out.close()
        path = self._path(kind, part)
        if not path.exists():
            return None
        blocks = []
        with path.open("rb") as f:
            while True:
                try:
                    blocks.append(_unpack(pickle.load(f)))  # noqa: S301 - this task's own scratch file
                except EOFError:
                    break
        path.unlink()
        if len(blocks) == 1:
            return blocks[0]
        return {name: np.concatenate([b[name] for b in blocks]) for name in blocks[0]}


class Runs:
    """Items with a sortable position, written as runs each in position order, read back as one
    sequence in position order (a merge holding one block per run)."""

    def __init__(self, folder: Path, name: str) -> None:
        self.folder = Path(folder)
        self.name = name
        self._runs: list[Path] = []

    def write(self, items: Iterable[tuple[Any, Any]]) -> None:
        """One run: ``(position, item)`` pairs, already in position order."""
        with self.run() as run:
            for position, item in items:
                run.add(position, item)

    def run(self) -> RunWriter:
        """A run to add ``(position, item)`` pairs to, in position order; close it when done."""
        path = self.folder / f"{self.name}.{len(self._runs)}.pickle"
        self._runs.append(path)
        return RunWriter(path)

    def __bool__(self) -> bool:
        return any(p.stat().st_size for p in self._runs)

    @staticmethod
    def _read(path: Path) -> Iterator[tuple[Any, Any]]:
        with path.open("rb") as f:
            while True:
                try:
                    yield from pickle.load(f)  # noqa: S301 - this task's own scratch file
                except EOFError:
                    return

    def merged(self) -> Iterator[Any]:
        """Every item, in position order."""
        for _, item in heapq.merge(*(self._read(p) for p in self._runs), key=lambda pair: pair[0]):
            yield item


class RunWriter:
    """One run of :class:`Runs`, written a block at a time."""

    def __init__(self, path: Path) -> None:
        self._out = path.open("wb")
        self._block: list[tuple[Any, Any]] = []
        self.items = 0

    def add(self, position: Any, item: Any) -> None:
        self._block.append((position, item))
        self.items += 1
        if len(self._block) == RUN_BLOCK:
            self._flush()

    def _flush(self) -> None:
        if self._block:
            pickle.dump(self._block, self._out, protocol=pickle.HIGHEST_PROTOCOL)
            self._block = []

    def close(self) -> None:
        if not self._out.closed:
            self._flush()
            self._out.close()

    def __enter__(self) -> RunWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
