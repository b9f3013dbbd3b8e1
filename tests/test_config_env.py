"""The environment variables the DAG files read at parse time (SPEC section 7): defaults, bounds,
and an error that names the variable, the value and what is allowed; nothing overflows."""

from __future__ import annotations

from datetime import timedelta

import pytest
from conftest import ROOT
from powerpro_moodle.config import ConfigError, default_args, schedule

NUMBER_VARIABLES = ("POWERPRO_MOODLE_RETRIES", "POWERPRO_MOODLE_RETRY_DELAY", "POWERPRO_MOODLE_TASK_TIMEOUT_MINUTES")
SCHEDULE_VARIABLES = ("POWERPRO_MOODLE_PROVISIONING_SCHEDULE", "POWERPRO_MOODLE_RESULTING_SCHEDULE")


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch):
    for name in NUMBER_VARIABLES + SCHEDULE_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def test_defaults():
    args = default_args("Resulting")
    assert args["retries"] == 3
    assert args["retry_delay"] == timedelta(seconds=300)
    assert args["max_retry_delay"] == timedelta(seconds=2400)
    assert args["execution_timeout"] == timedelta(minutes=30)
    assert schedule("provisioning") == schedule("resulting") == "@hourly"


@pytest.mark.parametrize(
    "name, raw, key, expected",
    [
        pytest.param("POWERPRO_MOODLE_RETRIES", "5", "retries", 5, id="retries"),
        pytest.param("POWERPRO_MOODLE_RETRIES", " 3 ", "retries", 3, id="retries with spaces"),
        pytest.param("POWERPRO_MOODLE_RETRIES", "0", "retries", 0, id="no retries"),
        pytest.param("POWERPRO_MOODLE_RETRIES", "10", "retries", 10, id="most retries"),
        pytest.param("POWERPRO_MOODLE_RETRIES", "", "retries", 3, id="empty retries is the default"),
        pytest.param("POWERPRO_MOODLE_RETRY_DELAY", "12", "retry_delay", timedelta(seconds=12), id="delay"),
        pytest.param("POWERPRO_MOODLE_RETRY_DELAY", "0", "retry_delay", timedelta(0), id="no delay"),
        pytest.param("POWERPRO_MOODLE_RETRY_DELAY", "86400", "max_retry_delay", timedelta(days=8), id="longest delay"),
        pytest.param("POWERPRO_MOODLE_TASK_TIMEOUT_MINUTES", "1", "execution_timeout", timedelta(minutes=1),
                     id="shortest timeout"),
        pytest.param("POWERPRO_MOODLE_TASK_TIMEOUT_MINUTES", "1440", "execution_timeout", timedelta(days=1),
                     id="longest timeout"),
    ],
)
def test_good_numbers(monkeypatch, name, raw, key, expected):
    monkeypatch.setenv(name, raw)
    assert default_args("Provisioning")[key] == expected


@pytest.mark.parametrize(
    "name, raw, allowed",
    [
        pytest.param("POWERPRO_MOODLE_RETRIES", "three", "retries from 0 to 10", id="retries in words"),
        pytest.param("POWERPRO_MOODLE_RETRIES", "3.5", "retries from 0 to 10", id="retries fraction"),
        pytest.param("POWERPRO_MOODLE_RETRIES", "-1", "retries from 0 to 10", id="retries negative"),
        pytest.param("POWERPRO_MOODLE_RETRIES", "11", "retries from 0 to 10", id="retries too many"),
        pytest.param("POWERPRO_MOODLE_RETRIES", "inf", "retries from 0 to 10", id="retries inf"),
        pytest.param("POWERPRO_MOODLE_RETRY_DELAY", "nan", "seconds from 0 to 86400", id="delay nan"),
        pytest.param("POWERPRO_MOODLE_RETRY_DELAY", "inf", "seconds from 0 to 86400", id="delay inf"),
        pytest.param("POWERPRO_MOODLE_RETRY_DELAY", "1e15", "seconds from 0 to 86400", id="delay 1e15"),
        pytest.param("POWERPRO_MOODLE_RETRY_DELAY", "86401", "seconds from 0 to 86400", id="delay over a day"),
        pytest.param("POWERPRO_MOODLE_RETRY_DELAY", "9" * 5000, "seconds from 0 to 86400", id="delay huge"),
        pytest.param("POWERPRO_MOODLE_RETRY_DELAY", "5m", "seconds from 0 to 86400", id="delay with a unit"),
        pytest.param("POWERPRO_MOODLE_TASK_TIMEOUT_MINUTES", "0", "minutes from 1 to 1440", id="no timeout"),
        pytest.param("POWERPRO_MOODLE_TASK_TIMEOUT_MINUTES", "1e15", "minutes from 1 to 1440", id="timeout 1e15"),
        pytest.param("POWERPRO_MOODLE_TASK_TIMEOUT_MINUTES", "١٠", "minutes from 1 to 1440", id="timeout Arabic digits"),
    ],
)
def test_bad_numbers_name_the_variable(monkeypatch, name, raw, allowed):
    monkeypatch.setenv(name, raw)
    with pytest.raises(ConfigError) as info:
        default_args("Provisioning")
    message = str(info.value)
    assert message.startswith(f"environment variable {name} must be a number of {allowed} (whole numbers only)")
    assert message.endswith(f"got {raw!r}")


@pytest.mark.parametrize(
    "raw, expected",
    [
        pytest.param("*/15 * * * *", "*/15 * * * *", id="cron"),
        pytest.param(" 0 9 * * mon-fri ", "0 9 * * mon-fri", id="cron with spaces and names"),
        pytest.param("@daily", "@daily", id="preset"),
        pytest.param("@Weekly", "@weekly", id="preset in capitals"),
        pytest.param("@midnight", "@midnight", id="midnight"),
        pytest.param("none", None, id="none"),
        pytest.param("None", None, id="None"),
        pytest.param("", None, id="empty"),
    ],
)
def test_good_schedules(monkeypatch, raw, expected):
    monkeypatch.setenv("POWERPRO_MOODLE_RESULTING_SCHEDULE", raw)
    assert schedule("resulting") == expected
    assert schedule("provisioning") == "@hourly"


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("every hour", id="words"),
        pytest.param("@once", id="once"),
        pytest.param("@every_minute", id="no such preset"),
        pytest.param("61 * * * *", id="minute out of range"),
        pytest.param("* * * *", id="four fields"),
        pytest.param("0 0 * * * *", id="six fields"),
        pytest.param("hourly", id="preset without @"),
    ],
)
def test_bad_schedules_name_the_variable(monkeypatch, raw):
    monkeypatch.setenv("POWERPRO_MOODLE_PROVISIONING_SCHEDULE", raw)
    with pytest.raises(ConfigError) as info:
        schedule("provisioning")
    assert str(info.value) == (
        "environment variable POWERPRO_MOODLE_PROVISIONING_SCHEDULE must be a cron expression such as "
        "'*/30 * * * *', a preset (@hourly, @daily, @weekly, @monthly, @yearly, @annually, @midnight) "
        f"or 'none', got {raw!r}"
    )


@pytest.mark.parametrize(
    "name, raw",
    [
        pytest.param("POWERPRO_MOODLE_RETRY_DELAY", "inf", id="number"),
        pytest.param("POWERPRO_MOODLE_RESULTING_SCHEDULE", "every hour", id="schedule"),
    ],
)
def test_a_bad_value_fails_the_dag_import_naming_the_variable(monkeypatch, name, raw):
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv(name, raw)
    bag = DagBag(dag_folder=str(ROOT / "dags"))
    errors = {path.rsplit("/", 1)[-1]: text for path, text in bag.import_errors.items()}
    assert "powerpro_moodle_resulting.py" in errors
    assert all(f"ConfigError: environment variable {name} must be" in text for text in errors.values()), errors
    assert not any("OverflowError" in text for text in errors.values())
