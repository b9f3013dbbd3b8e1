"""Settings and DAG defaults, shared by both DAGs.

Two kinds of configuration, read at two different times:

* at **parse time**, from environment variables only (no database, no network): the retry
  policy, the task timeout and the schedules (SPEC section 7), in :func:`default_args` and :func:`schedule`;
* at **run time**, the RTO settings from the Airflow Variable ``powerpro_moodle_settings``
  (JSON), validated by :func:`powerpro_moodle.formats.settings.parse_settings`.
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from functools import partial
from typing import Any

from croniter import croniter

from powerpro_moodle.alerts import send_failure_alert
from powerpro_moodle.rto_settings import SETTINGS_VARIABLE, load_settings  # noqa: F401 - the run-time half
from powerpro_moodle.sync_log import sync_log_callbacks

POWERPRO_CONN_ID = "powerpro_db"
MOODLE_CONN_ID = "moodle_ftp"


class ConfigError(ValueError):
    """An environment variable the DAG files read holds something unusable."""


#: Airflow's schedule presets that make sense for a sync (``@once`` would run it a single time).
SCHEDULE_PRESETS = ("@hourly", "@daily", "@weekly", "@monthly", "@yearly", "@annually", "@midnight")


def _env_whole_number(name: str, default: int, low: int, high: int, unit: str) -> int:
    """A whole number from ``low`` to ``high`` (an empty or unset variable means ``default``).

    Only digits are accepted: going through float would turn '3.5' into 3 and let 'inf', 'nan'
    or '1e15' overflow ``timedelta``. At most nine of them, so ``int()`` never meets a huge
    string; the bounds keep every derived ``timedelta`` small.
    """
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not re.fullmatch(r"[0-9]{1,9}", raw) or not low <= int(raw) <= high:
        raise ConfigError(
            f"environment variable {name} must be a number of {unit} from {low} to {high} "
            f"(whole numbers only), got {raw!r}"
        )
    return int(raw)


def default_args(direction: str) -> dict[str, Any]:
    """``default_args`` for every task: retries with exponential back-off, the sync log
    callback on success, failure, retry and skip, and the failure email (failure only: a try
    that will be retried is not worth an email)."""
    callbacks = sync_log_callbacks(direction)
    callbacks["on_failure_callback"] = [
        callbacks["on_failure_callback"],  # the sync log row first: the email quotes its message
        partial(send_failure_alert, direction=direction),
    ]
    delay = _env_whole_number("POWERPRO_MOODLE_RETRY_DELAY", 300, 0, 86400, "seconds")
    return {
        "owner": "powerpro-moodle",
        "retries": _env_whole_number("POWERPRO_MOODLE_RETRIES", 3, 0, 10, "retries"),
        "retry_delay": timedelta(seconds=delay),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(seconds=max(delay, 1) * 8),
        # FTP and database calls have no timeout of their own: a hung server must not hold
        # the only run slot (max_active_runs=1) forever.
        "execution_timeout": timedelta(
            minutes=_env_whole_number("POWERPRO_MOODLE_TASK_TIMEOUT_MINUTES", 30, 1, 1440, "minutes")
        ),
        **callbacks,
    }


def schedule(direction: str) -> str | None:
    """The DAG's schedule: ``POWERPRO_MOODLE_<DIRECTION>_SCHEDULE``, hourly by default.

    A preset (:data:`SCHEDULE_PRESETS`), a five-field cron expression, or ``none`` (or empty)
    to turn scheduled runs off (manual triggers only). Checked here so that a bad value fails
    the DAG file's import with the variable's name, not deep inside Airflow's timetable.
    """
    name = f"POWERPRO_MOODLE_{direction.upper()}_SCHEDULE"
    value = os.environ.get(name, "@hourly").strip()
    if value.lower() in ("", "none"):
        return None
    if value.lower() in SCHEDULE_PRESETS:
        return value.lower()
    # croniter also takes six or seven fields (seconds, years), which Airflow's cron does not.
    if len(value.split()) == 5 and croniter.is_valid(value):
        return value
    raise ConfigError(
        f"environment variable {name} must be a cron expression such as '*/30 * * * *', "
        f"a preset ({', '.join(SCHEDULE_PRESETS)}) or 'none', got {value!r}"
    )

