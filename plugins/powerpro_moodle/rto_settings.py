"""The RTO settings at run time: the Airflow Variable ``powerpro_moodle_settings`` (JSON), read
and validated when a task runs (never when a DAG file is parsed). The schema and its defaults are
:mod:`powerpro_moodle.formats.settings`."""

from __future__ import annotations

import json

from powerpro_moodle.formats.settings import Settings, SettingsError, parse_settings

SETTINGS_VARIABLE = "powerpro_moodle_settings"
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


def alert_recipients() -> list[str]:
    """The ``alert_emails`` setting. When the settings are invalid (which may be the very failure
    to report) the addresses are still read from the Variable, if they are a list of addresses."""
    try:
        return list(getattr(load_settings(), "alert_emails", ()))
    except SettingsError:
        from airflow.sdk import Variable

        try:
            raw = json.loads(Variable.get(SETTINGS_VARIABLE, default=None) or "{}")
        except (TypeError, ValueError):
            return []
        emails = raw.get("alert_emails") if isinstance(raw, dict) else None
        return [e for e in emails if isinstance(e, str) and "@" in e] if isinstance(emails, list) else []
