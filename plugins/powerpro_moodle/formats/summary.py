"""What a task did, in the shape the sync log stores (SPEC section 6)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from itertools import count
from typing import Any

#: An anomaly that kept a record out (counted in ``RowsRejected``).
REJECTED = "rejected"
#: An anomaly worth a person's attention that did not keep the record out.
WARNING = "warning"

#: At most this many anomalies go into the sync log's ``Details`` (and the task log one line
#: each); the rest are counted per code in ``anomaly_counts``. The full list is in the errors file.
ANOMALIES_LISTED = 200


@dataclass(frozen=True)
class Anomaly:
    """One record that needs a person's attention.

    :param record: what kind of record, e.g. ``"student"``, ``"course"``, ``"row"``.
    :param key: the identifier staff search for (StudentNumber, CourseCode, row number).
    :param code: a short, stable reason code the data team can group by (``no_email``).
    :param reason: why, in words a person reads.
    :param level: :data:`REJECTED` or :data:`WARNING`.
    :param data: extra facts (the existing outcome, the original row...).
    """

    record: str
    key: str
    code: str
    reason: str
    level: str = REJECTED
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if not out["data"]:
            del out["data"]
        return out


class AnomalyLog:
    """The anomalies of a task that may have too many to hold (a completion file of a million
    rows): every one is counted, but only those the sync log and the task log can show are kept.

    Each anomaly comes with a *position* (any sortable key, the same kind for all): the log
    stands for the list of all its anomalies in position order, and gives the same
    :func:`bounded_anomalies`, :func:`log_lines` and :func:`count_codes` that list would give.
    Anomalies may be added in any order. Memory: at most ``4 * limit`` anomalies per priority
    class (see :func:`bounded_anomalies`), whatever the number added.

    :param limit: how many anomalies the sync log lists (:data:`ANOMALIES_LISTED`).
    """

    def __init__(self, limit: int = ANOMALIES_LISTED) -> None:
        self.limit = limit
        self.total = 0
        self.codes: Counter[tuple[str, str]] = Counter()  # (level, code) -> n
        self._kept: dict[tuple[int, int], list[tuple[Any, int, Anomaly]]] = {}
        self._last_kept: dict[tuple[int, int], Any] = {}  # a class's limit-th position when last cut
        self._arrival = count()

    def add(self, anomaly: Anomaly, position: Any = None) -> None:
        """Count ``anomaly`` and keep it if it may be shown; ``position`` defaults to after every
        anomaly added so far without one."""
        n = next(self._arrival)
        self.total += 1
        self.codes[anomaly.level, anomaly.code] += 1
        kept = self._kept.setdefault(_priority(anomaly), [])
        kept.append((position if position is not None else (n,), n, anomaly))
        if len(kept) >= 4 * self.limit:
            kept.sort(key=_first_two)
            del kept[self.limit :]
            self._last_kept[_priority(anomaly)] = kept[-1][0]

    def wants(self, anomaly: Anomaly, position: Any) -> bool:
        """Whether an anomaly of this code and level at ``position`` may still be shown (if not,
        :meth:`count_unsaid` is all it needs: its reason need not be worded)."""
        last = self._last_kept.get(_priority(anomaly))
        return last is None or position < last

    def count_unsaid(self, level: str, code: str, n: int = 1) -> None:
        """Count anomalies :meth:`wants` said would not be shown."""
        self.total += n
        self.codes[level, code] += n

    def extend(self, anomalies: Iterable[Anomaly]) -> None:
        for anomaly in anomalies:
            self.add(anomaly)

    def count_codes(self, level: str | None = None) -> Counter[str]:
        out: Counter[str] = Counter()
        for (lvl, code), n in self.codes.items():
            if level is None or lvl == level:
                out[code] += n
        return out

    def count(self, level: str | None = None, code: str | None = None) -> int:
        return sum(n for (lvl, c), n in self.codes.items()
                   if (level is None or lvl == level) and (code is None or c == code))

    def _classes(self, level: str | None) -> list[tuple[tuple[int, int], list[tuple[Any, int, Anomaly]]]]:
        out = []
        for priority in sorted(self._kept):
            kept = sorted((k for k in self._kept[priority] if level is None or k[2].level == level), key=_first_two)
            out.append((priority, kept[: self.limit]))
        return out

    def first(self, n: int | None = None, level: str | None = None) -> list[Anomaly]:
        """The first ``n`` (at most ``limit``) anomalies in position order."""
        n = self.limit if n is None else min(n, self.limit)
        merged = sorted((k for _, kept in self._classes(level) for k in kept), key=_first_two)
        return [k[2] for k in merged[:n]]

    def listed(self, level: str | None = None) -> list[Anomaly]:
        """What :func:`bounded_anomalies` lists: all of them in position order when they are
        ``limit`` or fewer, else the first ``limit`` by priority, then position."""
        if self.count(level) <= self.limit:
            return self.first(self.limit, level)
        listed = [k[2] for _, kept in self._classes(level) for k in kept]
        return listed[: self.limit]

    def bounded(self, level: str | None = None) -> dict[str, Any]:
        """:func:`bounded_anomalies` of these anomalies (of one ``level``, or all)."""
        return {
            "anomalies": [a.to_dict() for a in self.listed(level)],
            "anomaly_counts": dict(sorted(self.count_codes(level).items())),
            "anomalies_total": self.count(level),
        }


def _first_two(kept: tuple[Any, int, Anomaly]) -> tuple[Any, int]:
    return kept[0], kept[1]


@dataclass
class TaskSummary:
    """The small JSON-able result an operator returns and the sync log callback writes."""

    direction: str
    rows_read: int = 0
    rows_written: int = 0
    rows_skipped: int = 0
    rows_rejected: int = 0
    message: str = ""
    anomalies: list[Anomaly] | AnomalyLog = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    #: The task fails, and :attr:`message` already says why in full: the sync log shows it as it is.
    failure: bool = False

    def to_xcom(self) -> dict[str, Any]:
        """The summary as the sync log stores it: the counts, the message, and a bounded anomaly list."""
        out = {
            "direction": self.direction,
            "rows_read": self.rows_read,
            "rows_written": self.rows_written,
            "rows_skipped": self.rows_skipped,
            "rows_rejected": self.rows_rejected,
            "message": self.message,
            **bounded_anomalies(self.anomalies),
            **self.extra,
        }
        if self.failure:
            out["failure"] = True
        return out


def _priority(anomaly: Anomaly) -> tuple[int, int]:
    # When the list must be cut, keep what a person must act on: conflicts with manual results
    # first (the README's conflict query reads them), then other refusals, then warnings.
    return (0 if anomaly.code == "conflict" else 1, 0 if anomaly.level == REJECTED else 1)


def bounded_anomalies(anomalies: list[Anomaly] | AnomalyLog, limit: int = ANOMALIES_LISTED) -> dict[str, Any]:
    """``anomalies`` (at most ``limit``, the most important first when cut), ``anomaly_counts``
    per code over all of them, and ``anomalies_total``."""
    if isinstance(anomalies, AnomalyLog):
        return anomalies.bounded()
    listed = anomalies if len(anomalies) <= limit else sorted(anomalies, key=_priority)[:limit]
    return {
        "anomalies": [a.to_dict() for a in listed],
        "anomaly_counts": dict(sorted(Counter(a.code for a in anomalies).items())),
        "anomalies_total": len(anomalies),
    }


def log_lines(anomalies: list[Anomaly] | AnomalyLog, limit: int = ANOMALIES_LISTED) -> list[str]:
    """What the task log shows: one line per anomaly up to ``limit``, then one line per reason
    code for the rest, so a 200,000-row file does not make a 50 MB log."""
    if isinstance(anomalies, AnomalyLog):
        shown = anomalies.first(limit)
        rest = anomalies.count_codes() - Counter(a.code for a in shown)
        total = anomalies.total
    else:
        shown, rest, total = anomalies[:limit], Counter(a.code for a in anomalies[limit:]), len(anomalies)
    lines = [f"{a.record} {a.key}: {a.reason}" for a in shown]
    if rest:
        lines.append(f"... and {total - len(shown)} more, not listed one by one:")
        lines.extend(f"  {n} x {code}" for code, n in sorted(rest.items(), key=lambda kv: (-kv[1], kv[0])))
    return lines


def count_codes(anomalies: list[Anomaly] | AnomalyLog, level: str = REJECTED) -> Counter[str]:
    """How many anomalies there are of each reason code (for one-line messages)."""
    if isinstance(anomalies, AnomalyLog):
        return anomalies.count_codes(level)
    return Counter(a.code for a in anomalies if a.level == level)


def plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n} {word if n == 1 else (many or word + 's')}"
