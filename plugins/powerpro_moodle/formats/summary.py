"""What a task did, in the shape the sync log stores (SPEC section 6)."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

#: An anomaly that kept a record out (counted in ``RowsRejected``).
REJECTED = "rejected"
#: An anomaly worth a person's attention that did not keep the record out.
WARNING = "warning"


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

    def to_xcom(self) -> dict[str, Any]:
        return {
            "direction": self.direction,
            "rows_read": self.rows_read,
            "rows_written": self.rows_written,
            "rows_skipped": self.rows_skipped,
            "rows_rejected": self.rows_rejected,
            "message": self.message,
            "anomalies": [a.to_dict() for a in self.anomalies],
            **self.extra,
        }


def count_codes(anomalies: list[Anomaly], level: str = REJECTED) -> Counter[str]:
    """How many anomalies there are of each reason code (for one-line messages)."""
    return Counter(a.code for a in anomalies if a.level == level)


def plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n} {word if n == 1 else (many or word + 's')}"
