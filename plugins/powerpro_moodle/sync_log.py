"""The E-Learning Sync Log callback (SPEC section 6), shared by both DAGs.

Attached to every task through ``default_args`` (see :func:`powerpro_moodle.config.default_args`).
For each task instance, on success, failure, retry and skip, it writes one ``ELearningSyncLog``
row with the counts and anomalies of the task's summary (its XCom) and, on failure, the error.

A callback must never make a task fail nor hide the task's own error: everything here is
caught and logged, and the row is also written to the task log so nothing is lost when the
database itself is the problem.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import datetime
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from powerpro_moodle.formats.settings import Settings
from powerpro_moodle.rto_settings import load_settings

log = logging.getLogger(__name__)

#: The key an operator pushes its summary under when it fails after doing part of its work.
SUMMARY_KEY = "sync_summary"
MESSAGE_MAX = 4000
_URI_CREDENTIALS = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^/\s:@]+:)[^@\s]+@", re.IGNORECASE)


def sync_log_callbacks(direction: str) -> dict[str, Any]:
    """The four task callbacks, for ``default_args``."""
    return {
        f"on_{event}_callback": partial(write_sync_log, direction=direction, status=status)
        for event, status in (
            ("success", "success"),
            ("failure", "failed"),
            ("retry", "up_for_retry"),
            ("skipped", "skipped"),
        )
    }


def write_sync_log(context: dict[str, Any], *, direction: str, status: str) -> None:
    """Write the task instance's row. Never raises."""
    try:
        row = build_row(context, direction=direction, status=status)
    except Exception:
        log.exception("Could not build the E-Learning Sync Log row")
        return
    log.info("E-Learning Sync Log: %s", json.dumps({k: str(v) for k, v in row.items() if k != "Details"}))
    try:
        from powerpro_moodle.db import PowerProDb

        # A connection of its own, opened for this row and closed after it: never one the task's
        # failed transaction may have left holding a lock.
        db = PowerProDb(_conn_id(context, "powerpro_conn_id", "powerpro_db"), pooled=False)
        with db.transaction() as conn:
            db.run(conn, "insert_sync_log", row)
        db.close()
    except Exception:
        log.exception("Could not write the E-Learning Sync Log row; the row is in this task log above")


def _conn_id(context: dict[str, Any], attr: str, default: str) -> str:
    return getattr(context.get("task"), attr, None) or default


def _secrets(context: dict[str, Any]) -> list[str]:
    """Passwords of the sync's connections, to take out of any text written to the log."""
    from airflow.sdk import BaseHook

    found = []
    for attr, default in (("powerpro_conn_id", "powerpro_db"), ("moodle_conn_id", "moodle_ftp")):
        try:
            password = BaseHook.get_connection(_conn_id(context, attr, default)).password
        except Exception:
            continue
        if password and len(password) >= 3:
            found.append(password)
    return found


def redact(text: str, secrets: list[str]) -> str:
    """``text`` without credentials: known passwords and ``scheme://user:password@`` parts."""
    for secret in secrets:
        text = text.replace(secret, "***")
    return _URI_CREDENTIALS.sub(r"\1***@", text)


def _now_local(context: dict[str, Any]) -> datetime:
    # PowerPro shows times to staff in the RTO's zone; the settings may be the very thing that
    # failed, so fall back to the default zone rather than lose the row.
    try:
        tz = load_settings().tz
    except Exception:
        tz = ZoneInfo(Settings().timezone)
    return datetime.now(tz).replace(tzinfo=None, microsecond=0)


def _summary(ti: Any) -> dict[str, Any]:
    """The summary the operator handed over (:data:`SUMMARY_KEY`), on success and on failure alike."""
    value = ti.xcom_pull(task_ids=ti.task_id, map_indexes=ti.map_index, key=SUMMARY_KEY)
    return value if isinstance(value, dict) else {}


def _error_chain(error: BaseException) -> str:
    """The error and what caused it, with class names: for RTO IT, in ``Details``."""
    parts, seen = [], set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        parts.append(f"{type(error).__name__}: {error}".rstrip(": "))
        error = error.__cause__ or error.__context__
    return " <- caused by: ".join(parts)


def readable_error(error: BaseException) -> str:
    """An error as one line a person reads: its own words, never a Python class name."""
    first = next((line.strip() for line in str(error).splitlines() if line.strip()), "")
    if first:
        return first
    if isinstance(error, TimeoutError) or "Timeout" in type(error).__name__:
        return "the task ran longer than its time limit (POWERPRO_MOODLE_TASK_TIMEOUT_MINUTES)"
    return "an error without a message; the task log has the details"


def _message(summary: dict[str, Any], status: str, error: BaseException | None, try_number: int) -> str:
    message = str(summary.get("message") or "")
    if status in ("failed", "up_for_retry") and error is not None:
        if summary.get("failure") and message:
            return message  # the operator's own account of why it failed, complete as it is
        prefix = "failed" if status == "failed" else f"try {try_number} failed, will retry"
        reason = readable_error(error)
        if len(reason) > 1000:
            reason = reason[:999] + "…"
        # A summary of work done before the failure adds to the error; one that repeats it does not.
        extra = f" ({message})" if message and message not in reason and reason not in message else ""
        return f"{prefix}: {reason}{extra}"
    return message or {"skipped": "skipped", "success": "done"}.get(status, status)


def build_row(context: dict[str, Any], *, direction: str, status: str) -> dict[str, Any]:
    """The ``ELearningSyncLog`` row for the task instance in ``context``."""
    ti = context["ti"]
    summary = _summary(ti) if status in ("success", "failed", "up_for_retry") else {}
    secrets = _secrets(context)

    details: dict[str, Any] = {
        k: v
        for k, v in summary.items()
        if k not in ("direction", "message", "failure", "rows_read", "rows_written", "rows_skipped", "rows_rejected")
    }
    details.setdefault("anomalies", [])
    details.setdefault("anomaly_counts", {})
    error = context.get("exception") if status in ("failed", "up_for_retry") else None
    if error is not None:
        details["error"] = redact(_error_chain(error), secrets)  # the whole error, for IT
    message = redact(" ".join(_message(summary, status, error, ti.try_number).split()), secrets)
    if len(message) > MESSAGE_MAX:
        message = message[: MESSAGE_MAX - 1] + "…"

    map_index = getattr(ti, "map_index", -1)
    return {
        "LoggedAt": _now_local(context),
        "Direction": summary.get("direction") or direction,
        "DagId": ti.dag_id,
        "RunId": ti.run_id,
        "TaskId": ti.task_id,
        "MapIndex": map_index if map_index is not None and map_index >= 0 else None,
        "TryNumber": ti.try_number,
        "Status": status,
        "RowsRead": summary.get("rows_read"),
        "RowsWritten": summary.get("rows_written"),
        "RowsSkipped": summary.get("rows_skipped"),
        "RowsRejected": summary.get("rows_rejected"),
        "Message": message,
        "Details": redact(json.dumps(details, ensure_ascii=False, default=str), secrets),
    }
