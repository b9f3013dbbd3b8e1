"""The settings Variable: documented defaults, and a clear error naming any bad key."""

from __future__ import annotations

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


def test_overrides_keep_the_other_defaults():
    s = parse_settings({"users_folder": "/moodle/in/", "provisioned_statuses": [" Active", "Deferred"],
                        "outcome_rules": {"not_yet_competent": "30"}, "timezone": "Australia/Perth"})
    assert s.users_folder == "/moodle/in"
    assert s.provisioned_statuses == ("Active", "Deferred")
    assert s.outcome_rules == OutcomeRules("20", "30")
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
    ],
)
def test_bad_settings_raise_a_message_naming_the_key(raw, message):
    with pytest.raises(SettingsError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_settings(raw)
