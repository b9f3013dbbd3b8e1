"""The RTO-specific settings: defaults, and validation with an error that names the bad key.

Settings live in the Airflow Variable ``powerpro_moodle_settings`` as JSON; any key left out
keeps its default. This module only knows the schema (pydantic models); reading the Variable
is the Airflow edge's job (:mod:`powerpro_moodle.config`).

Every field has a ``before`` validator that checks the JSON value itself and words the problem
for an RTO's IT team; pydantic's own messages are only a fallback. :func:`_settings_error`
turns the first problem into one sentence naming the key (``outcome_rules.competent``).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

#: AVETMISS outcome identifiers (national, plus the state-specific ones).
AVETMISS_OUTCOMES = frozenset(
    {"20", "30", "40", "41", "51", "52", "53", "54", "60", "61", "65", "66", "70", "81", "82", "85", "90"}
)
UsernameRule = Literal["student_number", "email"]
USERNAME_RULES: tuple[str, ...] = get_args(UsernameRule)

#: Longest wait for a completion file to settle (a day): past that it is not an upload in progress.
MAX_FILE_SETTLE_SECONDS = 86400
#: Longest access window after a course's end (ten years): past that, "keep for ever" is meant.
MAX_KEEP_ACCESS_DAYS = 3650
#: Largest hold minimum: any more students than this is a whole RTO.
MAX_HOLD_MINIMUM = 1_000_000


class SettingsError(ValueError):
    """The settings Variable holds something unusable; the message names the key."""


#: Settings are read once per task and never changed; a key the schema lacks is a typo.
_SETTINGS_CONFIG = ConfigDict(frozen=True, extra="forbid")


class OutcomeRules(BaseModel):
    """What a Moodle course completion becomes in PowerPro (SPEC section 5).

    :param competent: outcome written when the course is completed and the grade passes
        (or there is no grade to compare).
    :param not_yet_competent: outcome written when completed with a failing grade; ``None``
        (the default) only reports the row as a not-yet-competent candidate for a trainer.
    """

    model_config = _SETTINGS_CONFIG

    competent: str = "20"
    not_yet_competent: str | None = None

    @field_validator("competent", "not_yet_competent", mode="before")
    @classmethod
    def _avetmiss_code(cls, value: Any, info: ValidationInfo) -> str | None:
        optional = info.field_name == "not_yet_competent"
        if value is None and optional:
            return None
        if not isinstance(value, str) or value not in AVETMISS_OUTCOMES:
            allowed = ", ".join(sorted(AVETMISS_OUTCOMES)) + (" or null" if optional else "")
            raise ValueError(f"must be an AVETMISS outcome code ({allowed}), got {value!r}")
        return value


class Settings(BaseModel):
    """The RTO settings with their documented defaults (SPEC section 2).

    Built directly (``Settings(timezone="Australia/Perth")``) it validates too, raising
    pydantic's ``ValidationError``; the Variable's JSON goes through :func:`parse_settings`.
    """

    model_config = _SETTINGS_CONFIG

    users_folder: str = "/to_moodle"
    completions_folder: str = "/from_moodle"
    processed_folder: str = "/from_moodle/processed"
    rejected_folder: str = "/from_moodle/rejected"
    provisioned_statuses: tuple[str, ...] = ("Active",)
    moodle_auth: str = "manual"
    username_rule: UsernameRule = "student_number"
    timezone: str = "Australia/Sydney"
    outcome_rules: OutcomeRules = Field(default_factory=OutcomeRules)
    #: A completion file is taken only once it has not changed for this long (SPEC section 5).
    file_settle_seconds: int = 60
    #: Completion times before this date, in the RTO's timezone, are rejected as ``bad_time``.
    earliest_completion_date: date = date(2000, 1, 1)
    #: Enrolment statuses that keep Moodle access for ``keep_access_days`` after the course's
    #: ``EndDate`` (SPEC section 4b); both flags must still be ticked.
    keep_access_statuses: tuple[str, ...] = ("Completed",)
    keep_access_days: int = 30
    #: The mass-suspension hold: a run that would suspend more than this percent of the students
    #: provisioned and not suspended, and more than ``hold_suspension_minimum`` students, is held.
    hold_suspension_percent: float = 10
    hold_suspension_minimum: int = 20
    #: Rename the Moodle account (``oldusername``) when the username rule's source changes.
    allow_renames: bool = False
    #: Who is emailed when a task fails for good (a held run included); empty: nobody.
    alert_emails: tuple[str, ...] = ()
    #: ``false``: every run only previews (a dry run), whatever it was asked; ``true``: runs write.
    #: Unset (``null``): a new install previews until someone sets it, and a site whose sync has
    #: already sent students or applied files (an upgrade) carries on writing.
    go_live: bool | None = None

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @field_validator("users_folder", "completions_folder", "processed_folder", "rejected_folder", mode="before")
    @classmethod
    def _folder(cls, value: Any) -> str:
        # Control characters have no place in an FTP path (and CR/LF would end the FTP command).
        if not isinstance(value, str) or not value.startswith("/") or re.search(r"[\x00-\x1f\x7f]", value):
            raise ValueError(f"must be an absolute FTP folder such as '/to_moodle', got {value!r}")
        # Normalised, so that '/from_moodle/.', '/from_moodle/' and '/from_moodle/x/..' compare
        # equal; normpath keeps a leading '//' (POSIX allows it a meaning), an FTP server does not.
        return "/" + posixpath.normpath(value).lstrip("/")

    @field_validator("provisioned_statuses", mode="before")
    @classmethod
    def _statuses(cls, value: Any) -> tuple[str, ...]:
        if (
            not isinstance(value, list | tuple)
            or not value
            or not all(isinstance(s, str) and s.strip() for s in value)
        ):
            raise ValueError(f"must be a non-empty list of enrolment statuses, got {value!r}")
        return tuple(s.strip() for s in value)

    @field_validator("keep_access_statuses", mode="before")
    @classmethod
    def _keep_statuses(cls, value: Any) -> tuple[str, ...]:
        # Empty is allowed: no status keeps access once it is no longer provisioned.
        if not isinstance(value, list | tuple) or not all(isinstance(s, str) and s.strip() for s in value):
            raise ValueError(f"must be a list of enrolment statuses such as [\"Completed\"] (may be empty), got {value!r}")
        return tuple(s.strip() for s in value)

    @field_validator("keep_access_days", mode="before")
    @classmethod
    def _keep_days(cls, value: Any) -> int:
        if type(value) is not int or not 0 <= value <= MAX_KEEP_ACCESS_DAYS:
            raise ValueError(f"must be a whole number of days from 0 to {MAX_KEEP_ACCESS_DAYS}, got {value!r}")
        return value

    @field_validator("hold_suspension_percent", mode="before")
    @classmethod
    def _hold_percent(cls, value: Any) -> float:
        # JSON true is a number to Python: refuse it, and text, NaN and infinities.
        if type(value) not in (int, float) or not 0 <= value <= 100:
            raise ValueError(f"must be a percentage from 0 to 100, such as 10, got {value!r}")
        return value

    @field_validator("hold_suspension_minimum", mode="before")
    @classmethod
    def _hold_minimum(cls, value: Any) -> int:
        if type(value) is not int or not 0 <= value <= MAX_HOLD_MINIMUM:
            raise ValueError(f"must be a whole number of students from 0 to {MAX_HOLD_MINIMUM}, got {value!r}")
        return value

    @field_validator("alert_emails", mode="before")
    @classmethod
    def _alert_emails(cls, value: Any) -> tuple[str, ...]:
        if not isinstance(value, list | tuple) or not all(
            isinstance(e, str) and re.fullmatch(r"[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+", e.strip()) for e in value
        ):
            raise ValueError(f"must be a list of email addresses such as [\"it@rto.example\"], got {value!r}")
        return tuple(e.strip() for e in value)

    @field_validator("go_live", mode="before")
    @classmethod
    def _go_live(cls, value: Any) -> bool | None:
        if value is not None and not isinstance(value, bool):
            raise ValueError(f"must be true, false or null, got {value!r}")
        return value

    @field_validator("allow_renames", mode="before")
    @classmethod
    def _allow_renames(cls, value: Any) -> bool:
        if not isinstance(value, bool):
            raise ValueError(f"must be true or false, got {value!r}")
        return value

    @field_validator("moodle_auth", mode="before")
    @classmethod
    def _moodle_auth(cls, value: Any) -> str:
        if not isinstance(value, str) or not re.fullmatch(r"[a-z0-9_]+", value):
            raise ValueError(
                f"must be a Moodle authentication method such as 'manual' (lowercase letters, digits, _), got {value!r}"
            )
        return value

    @field_validator("username_rule", mode="before")
    @classmethod
    def _username_rule(cls, value: Any) -> str:
        if value not in USERNAME_RULES:
            raise ValueError(f"must be one of {', '.join(USERNAME_RULES)}, got {value!r}")
        return value

    @field_validator("timezone", mode="before")
    @classmethod
    def _timezone(cls, value: Any) -> str:
        try:
            if not isinstance(value, str):
                raise ValueError
            ZoneInfo(value)
        # ZoneInfo refuses some keys with ValueError ('', '/x', '../x') and a folder ('Australia')
        # with IsADirectoryError.
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise ValueError(f"must be an IANA time zone such as 'Australia/Perth', got {value!r}") from None
        return value

    @field_validator("outcome_rules", mode="before")
    @classmethod
    def _outcome_rules(cls, value: Any) -> OutcomeRules | dict[str, Any]:
        if isinstance(value, OutcomeRules):
            return value
        if not isinstance(value, Mapping):
            raise ValueError(f"must be an object, got {value!r}")
        return dict(value)

    @field_validator("file_settle_seconds", mode="before")
    @classmethod
    def _settle_seconds(cls, value: Any) -> int:
        # JSON true is an int to Python, and 60.5 or "60" would be silently coerced: refuse them.
        if type(value) is not int or not 0 <= value <= MAX_FILE_SETTLE_SECONDS:
            raise ValueError(f"must be a whole number of seconds from 0 to {MAX_FILE_SETTLE_SECONDS}, got {value!r}")
        return value

    @field_validator("earliest_completion_date", mode="before")
    @classmethod
    def _date(cls, value: Any) -> date:
        if isinstance(value, date) and not isinstance(value, datetime):
            return value
        # fromisoformat alone would also take '20000101' and '2000-W01-1'; one spelling is clearer.
        if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value, re.ASCII):
            try:
                return date.fromisoformat(value)
            except ValueError:
                pass
        raise ValueError(f"must be a date written YYYY-MM-DD, such as '2000-01-01', got {value!r}")

    @model_validator(mode="after")
    def _folders_apart(self) -> Settings:
        if self.users_folder == self.completions_folder:
            raise ValueError("settings 'users_folder' and 'completions_folder' must be different folders")
        # A processed or rejected folder equal to the inbox would feed files back in for ever; equal
        # to the users folder, it would mix completion files into the users files Moodle imports.
        for key in ("processed_folder", "rejected_folder"):
            for other in ("completions_folder", "users_folder"):
                if getattr(self, key) == getattr(self, other):
                    raise ValueError(f"setting {key!r} must differ from {other!r} ({getattr(self, other)})")
        if self.processed_folder == self.rejected_folder:
            raise ValueError(
                "settings 'processed_folder' and 'rejected_folder' must be different folders, "
                f"so that a rejected file is told apart from a processed one ({self.processed_folder})"
            )
        return self


def _settings_error(err: ValidationError) -> SettingsError:
    """One sentence for the first problem, an unknown key first (most likely a typo)."""
    errors = err.errors()
    first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    loc = first["loc"]
    key = ".".join(str(part) for part in loc)
    if first["type"] == "extra_forbidden":
        model: type[BaseModel] = Settings
        for part in loc[:-1]:  # the model that holds the unknown key
            model = model.model_fields[str(part)].annotation
        return SettingsError(f"unknown setting {key!r} (known: {', '.join(sorted(model.model_fields))})")
    # Our validators raise ValueError: a field's says what the value must be, the model's (no
    # loc) is a whole sentence naming its keys. Anything else keeps pydantic's wording.
    problem = str(first["ctx"]["error"]) if first["type"] == "value_error" else first["msg"]
    return SettingsError(f"setting {key!r} {problem}" if loc else problem)


def parse_settings(raw: Mapping[str, Any] | None) -> Settings:
    """Validate a settings mapping (the Variable's JSON) and fill in the defaults.

    :raises SettingsError: naming the first unknown or invalid key.
    """
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise SettingsError(f"settings must be a JSON object, got {type(raw).__name__}")
    try:
        return Settings.model_validate(dict(raw))
    except ValidationError as err:
        raise _settings_error(err) from None
