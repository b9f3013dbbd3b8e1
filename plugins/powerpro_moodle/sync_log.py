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

        db = PowerProDb(_conn_id(context, "powerpro_conn_id", "powerpro_db"))
        with db.transaction() as conn:
            db.run(conn, "insert_sync_log", row)
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
        from powerpro_moodle.config import load_settings

        tz = load_settings().tz
    except Exception:
        tz = ZoneInfo(Settings().timezone)
    return datetime.now(tz).replace(tzinfo=None, microsecond=0)


def _summary(ti: Any, status: str) -> dict[str, Any]:
    # A failed task has no return value; asking for it first would only log a "not found".
    keys = ("return_value", SUMMARY_KEY) if status == "success" else (SUMMARY_KEY,)
    for key in keys:
        value = ti.xcom_pull(task_ids=ti.task_id, map_indexes=ti.map_index, key=key)
        if isinstance(value, dict):
            return value
    return {}


def build_row(context: dict[str, Any], *, direction: str, status: str) -> dict[str, Any]:
    """The ``ELearningSyncLog`` row for the task instance in ``context``."""
    ti = context["ti"]
    summary = _summary(ti, status) if status in ("success", "failed", "up_for_retry") else {}
    secrets = _secrets(context)

    message = str(summary.get("message") or "")
    details: dict[str, Any] = {
        k: v
        for k, v in summary.items()
        if k not in ("direction", "message", "rows_read", "rows_written", "rows_skipped", "rows_rejected")
    }
    details.setdefault("anomalies", [])
    error = context.get("exception")
    if error is not None and status in ("failed", "up_for_retry"):
        error_text = redact(f"{type(error).__name__}: {error}", secrets) if str(error) else type(error).__name__
        details["error"] = error_text
        prefix = "failed" if status == "failed" else f"try {ti.try_number} failed, will retry"
        # The message stays one readable line; Details keeps the whole error.
        first_line = error_text.splitlines()[0] if error_text else ""
        if len(first_line) > 500:
            first_line = first_line[:499] + "…"
        message = f"{prefix}: {first_line}" + (f" ({message})" if message else "")
    elif not message:
        message = {"skipped": "skipped", "success": "done"}.get(status, status)
    message = redact(" ".join(message.split()), secrets)
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
