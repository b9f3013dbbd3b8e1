"""The E-Learning Sync Log callback (SPEC section 6), seen through real DAG runs."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from powerpro_moodle.sync_log import redact

pytestmark = pytest.mark.dagrun
DAG_ID = "powerpro_moodle_provisioning"


@pytest.fixture
def one_student(powerpro):
    powerpro.enrol(powerpro.student("S1", "Ann", "Lee"), powerpro.course("BSB50420", "BSB50420-2026"))
    return powerpro


def test_logged_at_is_the_rto_local_time(one_student, ftp_server, run_dag, settings):
    settings(timezone="Australia/Perth")
    run_dag(DAG_ID)
    now_perth = datetime.now(ZoneInfo("Australia/Perth")).replace(tzinfo=None)
    for row in one_student.sync_log():
        logged = datetime.fromisoformat(row["LoggedAt"])
        assert abs(logged - now_perth) < timedelta(minutes=5), (row["LoggedAt"], now_perth)


def test_secrets_in_an_error_never_reach_the_sync_log(one_student, ftp_server, run_dag, monkeypatch):
    from conftest import FTP_PASSWORD
    from powerpro_moodle.ftp import MoodleFtp

    def leaky_failure(self, folder, name, data):
        raise OSError(f"upload to ftp://moodle:{FTP_PASSWORD}@127.0.0.1/ failed; password was {FTP_PASSWORD}\nline two")

    monkeypatch.setattr(MoodleFtp, "upload_atomic", leaky_failure)
    dr = run_dag(DAG_ID)
    assert dr.state == "failed"
    rows = [r for r in one_student.sync_log() if r["TaskId"] == "export_users"]
    assert [r["Status"] for r in rows] == ["up_for_retry", "failed"]
    for row in rows:
        assert FTP_PASSWORD not in str(row)
        assert "ftp://moodle:***@127.0.0.1/" in row["Message"]
        assert "\n" not in row["Message"], "Message is one line"
        assert "line two" in row["Details"]["error"], "Details keeps the whole error"


def test_a_broken_sync_log_never_changes_what_the_task_did(one_student, ftp_server, run_dag):
    one_student.conn.execute("DROP TABLE ELearningSyncLog")
    one_student.conn.commit()
    dr = run_dag(DAG_ID)
    assert dr.state == "success", "the callback's own failure must not fail the task"
    assert len(ftp_server.files("/to_moodle")) == 1
    assert one_student.rows("SELECT StudentNumber FROM MoodleSyncExportState") == [{"StudentNumber": "S1"}]


@pytest.mark.parametrize(
    "text, expected",
    [
        pytest.param("mssql+pymssql://sa:Pa55w0rd@db:1433/pp", "mssql+pymssql://sa:***@db:1433/pp", id="uri credentials"),
        pytest.param("login failed for hunter22", "login failed for ***", id="known password"),
        pytest.param("no secret here", "no secret here", id="untouched"),
    ],
)
def test_redact(text, expected):
    assert redact(text, ["hunter22"]) == expected
