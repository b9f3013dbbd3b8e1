"""The settings Variable: documented defaults, and a clear error naming any bad key."""

from __future__ import annotations

import re
from datetime import date

import pytest
from powerpro_moodle.formats.settings import OutcomeRules, Settings, SettingsError, parse_settings


def test_defaults_are_the_documented_ones():
    s = parse_settings(None)
    assert s == parse_settings({})
    assert (s.users_folder, s.completions_folder, s.processed_folder, s.rejected_folder) == (
        "/to_moodle", "/from_moodle", "/from_moodle/processed", "/from_moodle/rejected")
    assert s.provisioned_statuses == ("Active",)
    assert (s.moodle_auth, s.username_rule, s.timezone) == ("manual", "student_number", "Australia/Sydney")
    assert s.outcome_rules == OutcomeRules(competent="20", not_yet_competent=None)
    assert s.file_settle_seconds == 60
    assert s.earliest_completion_date == date(2000, 1, 1)


def test_overrides_keep_the_other_defaults():
    s = parse_settings({"users_folder": "/moodle/in/", "provisioned_statuses": [" Active", "Deferred"],
                        "outcome_rules": {"not_yet_competent": "30"}, "timezone": "Australia/Perth"})
    assert s.users_folder == "/moodle/in"
    assert s.provisioned_statuses == ("Active", "Deferred")
    assert s.outcome_rules == OutcomeRules(competent="20", not_yet_competent="30")
    assert s.tz.key == "Australia/Perth"
    assert s.completions_folder == Settings().completions_folder


@pytest.mark.parametrize(
    "raw, message",
    [
        pytest.param({"user_folder": "/x"}, "unknown setting 'user_folder'", id="typo in a key"),
        pytest.param({"users_folder": "to_moodle"}, "'users_folder' must be an absolute FTP folder", id="relative folder"),
        pytest.param({"provisioned_statuses": "Active"}, "'provisioned_statuses' must be a non-empty list", id="status not a list"),
        pytest.param({"provisioned_statuses": []}, "'provisioned_statuses' must be a non-empty list", id="no status"),
        pytest.param({"moodle_auth": "Manual Auth"}, "'moodle_auth'", id="auth with a space"),
        pytest.param({"username_rule": "first.last"}, "'username_rule' must be one of student_number, email", id="unknown username rule"),
        pytest.param({"timezone": "Sydney"}, "'timezone' must be an IANA time zone", id="not a time zone"),
        pytest.param({"outcome_rules": {"competent": "21"}}, "'outcome_rules.competent' must be an AVETMISS outcome code", id="not an AVETMISS code"),
        pytest.param({"outcome_rules": {"competent": None}}, "'outcome_rules.competent'", id="competent cannot be null"),
        pytest.param({"outcome_rules": {"failed": "30"}}, "unknown setting 'outcome_rules.failed'", id="unknown rule"),
        pytest.param({"processed_folder": "/from_moodle"}, "'processed_folder' must differ from 'completions_folder'", id="processed is the inbox"),
        pytest.param({"users_folder": "/x", "completions_folder": "/x", "processed_folder": "/x/p", "rejected_folder": "/x/r"},
                     "must be different folders", id="one folder both ways"),
        pytest.param(["not", "an", "object"], "settings must be a JSON object", id="not an object"),
        pytest.param({"timezone": "Australia"}, "'timezone' must be an IANA time zone", id="time zone folder"),
        pytest.param({"outcome_rules": ["20"]}, "setting 'outcome_rules' must be an object", id="rules not an object"),
        pytest.param({"outcome_rules": {"not_yet_competent": "31"}},
                     "'outcome_rules.not_yet_competent' must be an AVETMISS outcome code", id="bad NYC code"),
        pytest.param({"users_folder": "/to_moodle\r\nDELE x"}, "'users_folder' must be an absolute FTP folder",
                     id="control characters in a folder"),
        # Folders are compared once normalised.
        pytest.param({"processed_folder": "/from_moodle/."},
                     "setting 'processed_folder' must differ from 'completions_folder' (/from_moodle)", id="processed is inbox/."),
        pytest.param({"rejected_folder": "/from_moodle/"},
                     "setting 'rejected_folder' must differ from 'completions_folder' (/from_moodle)", id="rejected is inbox/"),
        pytest.param({"processed_folder": "/from_moodle/x/.."},
                     "setting 'processed_folder' must differ from 'completions_folder' (/from_moodle)", id="processed is inbox/x/.."),
        pytest.param({"processed_folder": "//from_moodle"},
                     "setting 'processed_folder' must differ from 'completions_folder' (/from_moodle)", id="processed is //inbox"),
        pytest.param({"rejected_folder": "/to_moodle/"},
                     "setting 'rejected_folder' must differ from 'users_folder' (/to_moodle)", id="rejected is the users folder"),
        pytest.param({"processed_folder": "/done", "rejected_folder": "/done/./"},
                     "settings 'processed_folder' and 'rejected_folder' must be different folders", id="processed is rejected"),
        pytest.param({"users_folder": "/x/", "completions_folder": "/x/.", "processed_folder": "/x/p", "rejected_folder": "/x/r"},
                     "must be different folders", id="one folder both ways, normalised"),
        # New keys.
        pytest.param({"file_settle_seconds": -1},
                     "setting 'file_settle_seconds' must be a whole number of seconds from 0 to 86400, got -1", id="settle negative"),
        pytest.param({"file_settle_seconds": 86401}, "'file_settle_seconds' must be a whole number", id="settle over a day"),
        pytest.param({"file_settle_seconds": 60.5}, "'file_settle_seconds' must be a whole number", id="settle fraction"),
        pytest.param({"file_settle_seconds": "60"}, "'file_settle_seconds' must be a whole number", id="settle as text"),
        pytest.param({"file_settle_seconds": True}, "'file_settle_seconds' must be a whole number", id="settle boolean"),
        pytest.param({"file_settle_seconds": None}, "'file_settle_seconds' must be a whole number", id="settle null"),
        pytest.param({"earliest_completion_date": "01/01/2000"},
                     "setting 'earliest_completion_date' must be a date written YYYY-MM-DD", id="date in another spelling"),
        pytest.param({"earliest_completion_date": "20000101"}, "'earliest_completion_date' must be a date", id="date basic ISO"),
        pytest.param({"earliest_completion_date": "2000-02-30"}, "'earliest_completion_date' must be a date", id="no such day"),
        pytest.param({"earliest_completion_date": "2000-01-01T00:00:00"}, "'earliest_completion_date' must be a date",
                     id="date with a time"),
        pytest.param({"earliest_completion_date": 946684800}, "'earliest_completion_date' must be a date", id="date as Unix time"),
    ],
)
def test_bad_settings_raise_a_message_naming_the_key(raw, message):
    with pytest.raises(SettingsError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_settings(raw)


def test_unknown_key_is_named_before_other_problems():
    with pytest.raises(SettingsError, match="unknown setting 'user_folder'"):
        parse_settings({"timezone": "Sydney", "user_folder": "/x"})


def test_no_pydantic_wording_leaks():
    with pytest.raises(SettingsError) as info:
        parse_settings({"outcome_rules": {"competent": 20}})
    assert str(info.value).startswith("setting 'outcome_rules.competent' must be an AVETMISS outcome code (20, 30,")
    assert "Input should" not in str(info.value) and "Value error" not in str(info.value)


@pytest.mark.parametrize(
    "given, stored",
    [
        pytest.param("/from_moodle/done/", "/from_moodle/done", id="trailing slash"),
        pytest.param("/from_moodle/./done", "/from_moodle/done", id="dot"),
        pytest.param("/from_moodle/x/../done", "/from_moodle/done", id="dot dot"),
        pytest.param("//from_moodle//done", "/from_moodle/done", id="doubled slashes"),
        pytest.param("/", "/", id="root"),
    ],
)
def test_folders_are_stored_normalised(given, stored):
    assert parse_settings({"processed_folder": given}).processed_folder == stored


def test_new_keys_take_valid_values():
    s = parse_settings({"file_settle_seconds": 0, "earliest_completion_date": "2015-07-01"})
    assert s.file_settle_seconds == 0
    assert s.earliest_completion_date == date(2015, 7, 1)
    assert parse_settings({"file_settle_seconds": 86400}).file_settle_seconds == 86400


def test_settings_can_be_built_directly_and_are_frozen():
    s = Settings(timezone="Australia/Perth", earliest_completion_date=date(2010, 1, 1),
                 outcome_rules=OutcomeRules(not_yet_competent="30"))
    assert s.tz.key == "Australia/Perth"
    assert s.earliest_completion_date == date(2010, 1, 1)
    assert s.outcome_rules.not_yet_competent == "30"
    assert s.users_folder == "/to_moodle"
    with pytest.raises(ValueError):
        s.timezone = "UTC"
    with pytest.raises(ValueError, match="must be an absolute FTP folder"):
        Settings(users_folder="to_moodle")


def test_the_lifecycle_settings_have_their_documented_defaults():
    s = parse_settings({})
    assert s.keep_access_statuses == ("Completed",)
    assert (s.keep_access_days, s.hold_suspension_percent, s.hold_suspension_minimum, s.allow_renames) == (
        30, 10, 20, False)
    s = parse_settings({"keep_access_statuses": [], "hold_suspension_percent": 2.5, "allow_renames": True})
    assert (s.keep_access_statuses, s.hold_suspension_percent, s.allow_renames) == ((), 2.5, True)


@pytest.mark.parametrize(
    "raw, message",
    [
        pytest.param({"keep_access_statuses": "Completed"}, "'keep_access_statuses' must be a list of enrolment statuses",
                     id="keep statuses not a list"),
        pytest.param({"keep_access_statuses": ["Completed", ""]}, "'keep_access_statuses' must be a list",
                     id="a blank keep status"),
        pytest.param({"keep_access_days": "30"}, "'keep_access_days' must be a whole number of days from 0 to 3650",
                     id="days as text"),
        pytest.param({"keep_access_days": -1}, "'keep_access_days' must be a whole number", id="negative days"),
        pytest.param({"keep_access_days": True}, "'keep_access_days' must be a whole number", id="days as true"),
        pytest.param({"hold_suspension_percent": 101}, "'hold_suspension_percent' must be a percentage from 0 to 100",
                     id="percent over 100"),
        pytest.param({"hold_suspension_percent": "10%"}, "'hold_suspension_percent' must be a percentage",
                     id="percent as text"),
        pytest.param({"hold_suspension_minimum": 2.5}, "'hold_suspension_minimum' must be a whole number of students",
                     id="minimum not whole"),
        pytest.param({"allow_renames": "yes"}, "'allow_renames' must be true or false", id="renames as text"),
        pytest.param({"allow_rename": True}, "unknown setting 'allow_rename'", id="typo in allow_renames"),
    ],
)
def test_a_bad_lifecycle_setting_is_refused_naming_the_key(raw, message):
    with pytest.raises(SettingsError, match=re.escape(message)):
        parse_settings(raw)
