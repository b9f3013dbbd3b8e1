"""The RTO-specific settings: defaults, and validation with an error that names the bad key.

Settings live in the Airflow Variable ``powerpro_moodle_settings`` as JSON; any key left out
keeps its default. This module only knows the schema; reading the Variable is the Airflow
edge's job (:mod:`powerpro_moodle.config`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

#: AVETMISS outcome identifiers (national, plus the state-specific ones).
AVETMISS_OUTCOMES = frozenset(
    {"20", "30", "40", "41", "51", "52", "53", "54", "60", "61", "65", "66", "70", "81", "82", "85", "90"}
)
USERNAME_RULES = ("student_number", "email")


class SettingsError(ValueError):
    """The settings Variable holds something unusable; the message names the key."""


@dataclass(frozen=True)
class OutcomeRules:
    """What a Moodle course completion becomes in PowerPro (SPEC section 5).

    :param competent: outcome written when the course is completed and the grade passes
        (or there is no grade to compare).
    :param not_yet_competent: outcome written when completed with a failing grade; ``None``
        (the default) only reports the row as a not-yet-competent candidate for a trainer.
    """

    competent: str = "20"
    not_yet_competent: str | None = None


@dataclass(frozen=True)
class Settings:
    users_folder: str = "/to_moodle"
    completions_folder: str = "/from_moodle"
    processed_folder: str = "/from_moodle/processed"
    rejected_folder: str = "/from_moodle/rejected"
    provisioned_statuses: tuple[str, ...] = ("Active",)
    moodle_auth: str = "manual"
    username_rule: str = "student_number"
    timezone: str = "Australia/Sydney"
    outcome_rules: OutcomeRules = field(default_factory=OutcomeRules)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def _folder(key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.startswith("/"):
        raise SettingsError(f"setting {key!r} must be an absolute FTP folder such as '/to_moodle', got {value!r}")
    return value.rstrip("/") or "/"


def _text(key: str, value: Any, pattern: str = r"\S+") -> str:
    if not isinstance(value, str) or not re.fullmatch(pattern, value):
        raise SettingsError(f"setting {key!r} must be a non-empty word, got {value!r}")
    return value


def _outcome(key: str, value: Any, *, optional: bool) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or value not in AVETMISS_OUTCOMES:
        allowed = ", ".join(sorted(AVETMISS_OUTCOMES)) + (" or null" if optional else "")
        raise SettingsError(f"setting {key!r} must be an AVETMISS outcome code ({allowed}), got {value!r}")
    return value


def _outcome_rules(value: Any) -> OutcomeRules:
    if not isinstance(value, Mapping):
        raise SettingsError(f"setting 'outcome_rules' must be an object, got {value!r}")
    known = {f.name for f in fields(OutcomeRules)}
    for key in value:
        if key not in known:
            raise SettingsError(f"unknown setting 'outcome_rules.{key}' (known: {', '.join(sorted(known))})")
    defaults = OutcomeRules()
    return OutcomeRules(
        competent=_outcome("outcome_rules.competent", value.get("competent", defaults.competent), optional=False),
        not_yet_competent=_outcome(
            "outcome_rules.not_yet_competent",
            value.get("not_yet_competent", defaults.not_yet_competent),
            optional=True,
        ),
    )


def parse_settings(raw: Mapping[str, Any] | None) -> Settings:
    """Validate a settings mapping (the Variable's JSON) and fill in the defaults.

    :raises SettingsError: naming the first unknown or invalid key.
    """
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise SettingsError(f"settings must be a JSON object, got {type(raw).__name__}")
    known = {f.name for f in fields(Settings)}
    for key in raw:
        if key not in known:
            raise SettingsError(f"unknown setting {key!r} (known: {', '.join(sorted(known))})")
    values: dict[str, Any] = {}
    for key in ("users_folder", "completions_folder", "processed_folder", "rejected_folder"):
        if key in raw:
            values[key] = _folder(key, raw[key])
    if "provisioned_statuses" in raw:
        statuses = raw["provisioned_statuses"]
        if (
            not isinstance(statuses, list)
            or not statuses
            or not all(isinstance(s, str) and s.strip() for s in statuses)
        ):
            raise SettingsError(
                f"setting 'provisioned_statuses' must be a non-empty list of enrolment statuses, got {statuses!r}"
            )
        values["provisioned_statuses"] = tuple(s.strip() for s in statuses)
    if "moodle_auth" in raw:
        values["moodle_auth"] = _text("moodle_auth", raw["moodle_auth"], r"[a-z0-9_]+")
    if "username_rule" in raw:
        if raw["username_rule"] not in USERNAME_RULES:
            raise SettingsError(
                f"setting 'username_rule' must be one of {', '.join(USERNAME_RULES)}, got {raw['username_rule']!r}"
            )
        values["username_rule"] = raw["username_rule"]
    if "timezone" in raw:
        try:
            ZoneInfo(_text("timezone", raw["timezone"]))
        except (ZoneInfoNotFoundError, ValueError):
            raise SettingsError(
                f"setting 'timezone' must be an IANA time zone such as 'Australia/Perth', got {raw['timezone']!r}"
            ) from None
        values["timezone"] = raw["timezone"]
    if "outcome_rules" in raw:
        values["outcome_rules"] = _outcome_rules(raw["outcome_rules"])
    settings = Settings(**values)
    # A processed or rejected folder equal to the inbox would feed files back in for ever.
    for key in ("processed_folder", "rejected_folder"):
        if getattr(settings, key) == settings.completions_folder:
            raise SettingsError(f"setting {key!r} must differ from 'completions_folder' ({settings.completions_folder})")
    if settings.users_folder == settings.completions_folder:
        raise SettingsError("settings 'users_folder' and 'completions_folder' must be different folders")
    return settings
