"""Settings and DAG defaults, shared by both DAGs.

Two kinds of configuration, read at two different times:

* at **parse time**, from environment variables only (no database, no network): the retry
  policy and the schedules (SPEC section 7), in :func:`default_args` and :func:`schedule`;
* at **run time**, the RTO settings from the Airflow Variable ``powerpro_moodle_settings``
  (JSON), validated by :func:`powerpro_moodle.formats.settings.parse_settings`.
"""

from __future__ import annotations

import json
import os
from datetime import timedelta
from typing import Any

from powerpro_moodle.formats.settings import Settings, SettingsError, parse_settings

SETTINGS_VARIABLE = "powerpro_moodle_settings"
POWERPRO_CONN_ID = "powerpro_db"
MOODLE_CONN_ID = "moodle_ftp"


class ConfigError(ValueError):
    """An environment variable the DAG files read holds something unusable."""


def _env_number(name: str, default: int, minimum: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(float(raw))
    except ValueError:
        raise ConfigError(f"environment variable {name} must be a number, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"environment variable {name} must be at least {minimum}, got {raw!r}")
    return value


def default_args(direction: str) -> dict[str, Any]:
    """``default_args`` for every task: retries with exponential back-off, and the sync log
    callback on success, failure, retry and skip."""
    from powerpro_moodle.sync_log import sync_log_callbacks

    delay = _env_number("POWERPRO_MOODLE_RETRY_DELAY", 300, 0)
    return {
        "owner": "powerpro-moodle",
        "retries": _env_number("POWERPRO_MOODLE_RETRIES", 3, 0),
        "retry_delay": timedelta(seconds=delay),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(seconds=max(delay, 1) * 8),
        # FTP and database calls have no timeout of their own: a hung server must not hold
        # the only run slot (max_active_runs=1) forever.
        "execution_timeout": timedelta(minutes=_env_number("POWERPRO_MOODLE_TASK_TIMEOUT_MINUTES", 30, 1)),
        **sync_log_callbacks(direction),
    }


def schedule(direction: str) -> str | None:
    """The DAG's schedule: ``POWERPRO_MOODLE_<DIRECTION>_SCHEDULE``, hourly by default.

    ``none`` turns scheduled runs off (manual triggers only).
    """
    value = os.environ.get(f"POWERPRO_MOODLE_{direction.upper()}_SCHEDULE", "@hourly").strip()
    return None if value.lower() in ("", "none") else value


def load_settings() -> Settings:
    """The RTO settings, validated. Raises :class:`SettingsError` naming the bad key."""
    from airflow.sdk import Variable

    raw = Variable.get(SETTINGS_VARIABLE, default=None)
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return Settings()
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as err:
            raise SettingsError(f"Variable {SETTINGS_VARIABLE} is not valid JSON: {err}") from None
    try:
        return parse_settings(raw)
    except SettingsError as err:
        raise SettingsError(f"Variable {SETTINGS_VARIABLE}: {err}") from None
