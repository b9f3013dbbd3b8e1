"""What a task did, in the shape the sync log stores (SPEC section 6)."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
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


@dataclass
class TaskSummary:
    """The small JSON-able result an operator returns and the sync log callback writes."""

    direction: str
    rows_read: int = 0
    rows_written: int = 0
    rows_skipped: int = 0
    rows_rejected: int = 0
    message: str = ""
    anomalies: list[Anomaly] = field(default_factory=list)
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


def bounded_anomalies(anomalies: list[Anomaly], limit: int = ANOMALIES_LISTED) -> dict[str, Any]:
    """``anomalies`` (at most ``limit``, the most important first when cut), ``anomaly_counts``
    per code over all of them, and ``anomalies_total``."""
    listed = anomalies if len(anomalies) <= limit else sorted(anomalies, key=_priority)[:limit]
    return {
        "anomalies": [a.to_dict() for a in listed],
        "anomaly_counts": dict(sorted(Counter(a.code for a in anomalies).items())),
        "anomalies_total": len(anomalies),
    }


def log_lines(anomalies: list[Anomaly], limit: int = ANOMALIES_LISTED) -> list[str]:
    """What the task log shows: one line per anomaly up to ``limit``, then one line per reason
    code for the rest, so a 200,000-row file does not make a 50 MB log."""
    lines = [f"{a.record} {a.key}: {a.reason}" for a in anomalies[:limit]]
    rest = Counter(a.code for a in anomalies[limit:])
    if rest:
        lines.append(f"... and {len(anomalies) - limit} more, not listed one by one:")
        lines.extend(f"  {n} x {code}" for code, n in sorted(rest.items(), key=lambda kv: (-kv[1], kv[0])))
    return lines


def count_codes(anomalies: list[Anomaly], level: str = REJECTED) -> Counter[str]:
    """How many anomalies there are of each reason code (for one-line messages)."""
    return Counter(a.code for a in anomalies if a.level == level)


def plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n} {word if n == 1 else (many or word + 's')}"
