"""Two weeks of E-Learning Sync Log rows, as the callback writes them, for the sync log page tests.

Hourly runs of both DAGs from 1 March 2026 to noon on 14 March (more than 1000 rows, so the limit
can be tested), a few completion files a day, and then, in the newest runs, the rows the tests
look for: a retried import, a message holding markup, two rows logged in the same second and,
newest of all, a failed import.
Deterministic: the same rows every time.
"""

from __future__ import annotations

import json
import random
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

PROVISIONING, RESULTING = "powerpro_moodle_provisioning", "powerpro_moodle_resulting"
FIRST_DAY = datetime(2026, 3, 1)
DAYS = 14

FAILED_RUN = "manual__2026-03-14T05:30:00+00:00"
FAILED_FILE = "completions_20260314_1630.csv"
FAILED_MESSAGE = (
    f"{FAILED_FILE} is not a Moodle completion file: its header has no idnumber column "
    "(moved to /from_moodle/rejected)"
)
MARKUP_RUN = "scheduled__2026-03-14T04:00:00+00:00"
MARKUP_MESSAGE = "1 row refused: student <script>alert('sync log')</script> is not in PowerPro"
MARKUP_REASON = 'no student numbered <img src=x onerror="alert(1)">'
RETRY_RUN = "scheduled__2026-03-14T03:00:00+00:00"
SAME_SECOND = "2026-03-14 13:00:07"


@dataclass
class Seeded:
    rows: int
    failed_sync_log_id: int


def _details(**facts: Any) -> str:
    facts.setdefault("anomalies", [])
    facts.setdefault("anomaly_counts", {})
    return json.dumps(facts, ensure_ascii=False)


KINDS = {
    "Provisioning": [
        ("student", "no_email", "no email address in PowerPro: Moodle needs one"),
        ("course", "no_cohort", "the course has no Moodle cohort: set it on the Course window"),
    ],
    "Resulting": [
        ("row", "conflict", "PowerPro already has outcome 20 entered by a person: left as it is"),
        ("row", "unknown_unit", "no unit with this code in the student's enrolment"),
    ],
}


def _anomalies(rnd: random.Random, n: int, direction: str) -> list[dict[str, Any]]:
    kinds = KINDS[direction]
    out = []
    for _ in range(n):
        record, code, reason = rnd.choice(kinds)
        key = {"student": f"S{rnd.randint(10001, 10300)}", "course": rnd.choice(["BSB40520", "CPC30220"]),
               "row": str(rnd.randint(2, 40))}[record]
        out.append({"record": record, "key": key, "code": code, "reason": reason, "level": "rejected"})
    return out


def _counted(anomalies: list[dict[str, Any]]) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for a in anomalies:
        counts[a["code"]] = counts.get(a["code"], 0) + 1
    return {"anomalies": anomalies, "anomaly_counts": dict(sorted(counts.items())), "anomalies_total": len(anomalies)}


def sample_rows(seed: int = 2026) -> list[dict[str, Any]]:
    """The rows, oldest first, without ``SyncLogID`` (the table numbers them)."""
    rnd = random.Random(seed)
    rows: list[dict[str, Any]] = []

    def row(at: datetime | str, direction: str, dag_id: str, run_id: str, task_id: str, status: str = "success",
            counts: tuple[int | None, ...] = (None, None, None, None), message: str = "done",
            details: str | None = None, map_index: int | None = None, try_number: int = 1) -> None:
        rows.append({
            "LoggedAt": at if isinstance(at, str) else at.strftime("%Y-%m-%d %H:%M:%S"),
            "Direction": direction, "DagId": dag_id, "RunId": run_id, "TaskId": task_id,
            "MapIndex": map_index, "TryNumber": try_number, "Status": status,
            "RowsRead": counts[0], "RowsWritten": counts[1], "RowsSkipped": counts[2], "RowsRejected": counts[3],
            "Message": message, "Details": details if details is not None else _details(),
        })

    for hour in range(DAYS * 24 - 12):
        start = FIRST_DAY + timedelta(hours=hour)
        utc = start - timedelta(hours=11)  # Sydney in March is UTC+11
        run_id = f"scheduled__{utc.strftime('%Y-%m-%dT%H:%M:%S')}+00:00"
        # provisioning
        row(start + timedelta(seconds=4), "Provisioning", PROVISIONING, run_id, "ensure_sync_tables",
            message="the sync's tables are ready")
        sent = rnd.choice([0] * 6 + [1, 2, 3, 5, 8, 13]) if 7 <= start.hour <= 19 else 0
        anomalies = _anomalies(rnd, rnd.choice([2, 2, 3]), "Provisioning")
        name = f"powerpro_users_{utc.strftime('%Y%m%dT%H%M%S')}Z.csv"
        row(start + timedelta(seconds=9), "Provisioning", PROVISIONING, run_id, "export_users",
            counts=(131, sent, 131 - sent - len(anomalies), len(anomalies)),
            message=(f"sent {sent} students in {name}" if sent else "no student changed: nothing sent")
            + f"; {len(anomalies)} left out (see anomalies)",
            details=_details(**_counted(anomalies), **({"file": f"/to_moodle/{name}"} if sent else {})))
        # resulting
        files = rnd.choice([0] * 5 + [1, 1, 2]) if 8 <= start.hour <= 18 else 0
        row(start + timedelta(seconds=5), "Resulting", RESULTING, run_id, "ensure_sync_tables",
            message="the sync's tables are ready")
        names = [f"completions_{start.strftime('%Y%m%d_%H')}{i:02d}.csv" for i in range(files)]
        row(start + timedelta(seconds=8), "Resulting", RESULTING, run_id, "list_completion_files",
            counts=(files, 0, 0, 0), message=f"{files} completion files to import" if files else "no completion file",
            details=_details(files=names))
        for i, name in enumerate(names):
            read = rnd.randint(5, 40)
            bad = _anomalies(rnd, rnd.choice([0, 0, 1, 2]), "Resulting")
            written = rnd.randint(0, read - len(bad))
            row(start + timedelta(seconds=15 + i), "Resulting", RESULTING, run_id, "import_completion_file",
                counts=(read, written, read - written - len(bad), len(bad)), map_index=i,
                message=f"{name}: {written} outcomes written, {read - written - len(bad)} already up to date, "
                        f"{len(bad)} refused; moved to /from_moodle/processed",
                details=_details(**_counted(bad), file=name, moved_to=f"/from_moodle/processed/{name}"))

    # The newest rows, the ones the tests look for.
    row("2026-03-14 14:00:09", "Resulting", RESULTING, RETRY_RUN, "import_completion_file", status="up_for_retry",
        counts=(None, None, None, None), map_index=0, try_number=1,
        message="try 1 failed, will retry: cannot connect to the PowerPro database (sqlite /data/powerpro.db)",
        details=_details(file="completions_20260314_1400.csv", error="PowerProDbError: cannot connect"))
    row("2026-03-14 14:05:12", "Resulting", RESULTING, RETRY_RUN, "import_completion_file",
        counts=(12, 12, 0, 0), map_index=0, try_number=2,
        message="completions_20260314_1400.csv: 12 outcomes written; moved to /from_moodle/processed",
        details=_details(file="completions_20260314_1400.csv"))
    bad = [{"record": "row", "key": "7", "code": "unknown_student", "reason": MARKUP_REASON, "level": "rejected"}]
    row("2026-03-14 15:00:10", "Resulting", RESULTING, MARKUP_RUN, "import_completion_file",
        counts=(8, 7, 0, 1), map_index=0, message=MARKUP_MESSAGE,
        details=_details(**_counted(bad), file="completions_20260314_1500.csv"))
    row("2026-03-14 16:30:04", "Resulting", RESULTING, FAILED_RUN, "ensure_sync_tables",
        message="the sync's tables are ready")
    row("2026-03-14 16:30:08", "Resulting", RESULTING, FAILED_RUN, "list_completion_files",
        counts=(2, 0, 0, 0), message="2 completion files to import",
        details=_details(files=["completions_20260314_1629.csv", FAILED_FILE]))
    row("2026-03-14 16:30:15", "Resulting", RESULTING, FAILED_RUN, "import_completion_file",
        counts=(20, 18, 2, 0), map_index=0,
        message="completions_20260314_1629.csv: 18 outcomes written, 2 already up to date",
        details=_details(file="completions_20260314_1629.csv"))
    row("2026-03-14 16:30:16", "Resulting", RESULTING, FAILED_RUN, "import_completion_file", status="failed",
        counts=(0, 0, 0, 1), map_index=1, message=FAILED_MESSAGE,
        details=_details(file=FAILED_FILE, moved_to=f"/from_moodle/rejected/{FAILED_FILE}",
                         error="AirflowFailException: not a Moodle completion file: no idnumber column"))
    return rows


def insert_rows(path: Path, rows: list[dict[str, Any]]) -> list[int]:
    """Insert ``rows`` into the database's ``ELearningSyncLog``; returns their ``SyncLogID``s."""
    with sqlite3.connect(path) as conn:
        ids = []
        for r in rows:
            cols = ", ".join(r)
            ids.append(conn.execute(f"INSERT INTO ELearningSyncLog ({cols}) VALUES ({', '.join('?' * len(r))})",
                                    list(r.values())).lastrowid)
        return ids


def seed(path: Path) -> Seeded:
    """Fill a reference-schema database's sync log with :func:`sample_rows`, then two rows of one
    run logged in the same second (``SAME_SECOND``)."""
    rows = sample_rows()
    # Two rows with the same LoggedAt: the one inserted later (higher SyncLogID) comes first.
    same = [
        {**rows[-1], "LoggedAt": SAME_SECOND, "RunId": "manual__2026-03-14T02:00:00+00:00", "TaskId": "ensure_sync_tables",
         "Status": "success", "MapIndex": None, "Message": "same second, inserted first", "Details": _details(),
         "RowsRead": None, "RowsWritten": None, "RowsSkipped": None, "RowsRejected": None},
        {**rows[-1], "LoggedAt": SAME_SECOND, "RunId": "manual__2026-03-14T02:00:00+00:00",
         "TaskId": "list_completion_files", "Status": "success", "MapIndex": None,
         "Message": "same second, inserted second", "Details": _details(files=[]),
         "RowsRead": 0, "RowsWritten": 0, "RowsSkipped": 0, "RowsRejected": 0},
    ]
    ids = insert_rows(path, rows + same)
    failed = next(i for i, r in zip(ids, rows, strict=False) if r["Status"] == "failed")
    return Seeded(rows=len(ids), failed_sync_log_id=failed)
