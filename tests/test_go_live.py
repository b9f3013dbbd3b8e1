"""A safe first run: following the documentation cannot upload anything before someone has read a
preview. Until the setting ``go_live`` is true, every run of a new install (scheduled or manual,
whatever its parameters) only previews; a site upgraded from a release that already ran for real
stays live; ``go_live: false`` pauses any site."""

from __future__ import annotations

import json
import time

import pytest
from test_provisioning_dag import school  # noqa: F401 - the fixture
from test_resulting_dag import COMPLETIONS, college, outcome  # noqa: F401 - the fixture

pytestmark = pytest.mark.dagrun
PROVISIONING, RESULTING = "powerpro_moodle_provisioning", "powerpro_moodle_resulting"


def set_variable(monkeypatch, **values):
    """The settings Variable exactly as given (no test default)."""
    monkeypatch.setenv("AIRFLOW_VAR_POWERPRO_MOODLE_SETTINGS", json.dumps(values))


def export_row(pp, run_id):
    (row,) = [r for r in pp.sync_log() if r["TaskId"] == "export_users" and r["RunId"] == run_id]
    return row


def test_the_documented_first_run_previews_then_goes_live(school, ftp_server, run_dag, monkeypatch):  # noqa: F811
    # 1. Installed, connections made, no settings yet; someone triggers the DAG (or unpauses it).
    monkeypatch.delenv("AIRFLOW_VAR_POWERPRO_MOODLE_SETTINGS")
    dr = run_dag(PROVISIONING)
    assert dr.state == "success"
    assert ftp_server.files("/to_moodle") == [], "nothing uploaded before go_live"
    assert school.rows("SELECT COUNT(*) AS n FROM MoodleSyncExportState") == [{"n": 0}]
    row = export_row(school, dr.run_id)
    assert row["Message"].startswith("dry run: would send 2 students (2 new, 0 changed, 0 suspended, 0 reactivated)")
    assert row["Message"].endswith('not live yet, so this run only previews: read it, then set "go_live": true in '
                                   "the Variable powerpro_moodle_settings")
    assert row["Details"]["not_live"] is True and row["RowsWritten"] == 0

    # 2. Even a manual run asking for no dry run only previews.
    dr = run_dag(PROVISIONING, dry_run=False, full_resync=True)
    assert ftp_server.files("/to_moodle") == []

    # 3. They read the preview and set go_live: the next run uploads.
    set_variable(monkeypatch, go_live=True)
    dr = run_dag(PROVISIONING)
    assert dr.state == "success"
    assert len(ftp_server.files("/to_moodle")) == 1
    assert export_row(school, dr.run_id)["Message"].startswith("sent 2 students")


def test_go_live_false_pauses_a_live_site(school, ftp_server, run_dag, monkeypatch):  # noqa: F811
    set_variable(monkeypatch, go_live=True)
    run_dag(PROVISIONING)
    school.conn.execute("UPDATE Student SET FirstName = 'Annabel' WHERE StudentNumber = 'S1001'")
    school.conn.commit()
    set_variable(monkeypatch, go_live=False)
    dr = run_dag(PROVISIONING)
    assert len(ftp_server.files("/to_moodle")) == 1, "paused: the change is previewed, not sent"
    assert "not live yet" in export_row(school, dr.run_id)["Message"]


def test_a_site_that_already_ran_for_real_stays_live_after_the_upgrade(school, ftp_server, run_dag,  # noqa: F811
                                                                       monkeypatch):
    set_variable(monkeypatch, go_live=True)
    run_dag(PROVISIONING)  # what the previous release did
    school.conn.execute("UPDATE Student SET FirstName = 'Annabel' WHERE StudentNumber = 'S1001'")
    school.conn.commit()
    monkeypatch.delenv("AIRFLOW_VAR_POWERPRO_MOODLE_SETTINGS")  # its settings never had go_live
    time.sleep(1.1)  # users files are named to the second of their run's start
    dr = run_dag(PROVISIONING)
    assert export_row(school, dr.run_id)["Message"].startswith("sent 1 student")
    assert len(ftp_server.files("/to_moodle")) == 2


def test_resulting_previews_too_until_go_live(college, ftp_server, run_dag, monkeypatch):  # noqa: F811
    monkeypatch.delenv("AIRFLOW_VAR_POWERPRO_MOODLE_SETTINGS")
    ftp_server.put("/from_moodle/completions_0601.csv", COMPLETIONS)
    dr = run_dag(RESULTING)
    assert dr.state == "success"
    assert outcome(college, "S1", "BSBOPS504") == (None, None, None)
    assert ftp_server.files("/from_moodle") == ["completions_0601.csv"], "left in the inbox"
    (row,) = [r for r in college.sync_log() if r["TaskId"] == "import_completion_file"]
    assert "dry run: would apply 5 outcomes" in row["Message"] and "not live yet" in row["Message"]

    set_variable(monkeypatch, go_live=True)
    run_dag(RESULTING)
    assert outcome(college, "S1", "BSBOPS504") == ("20", "2026-04-01", "Moodle sync")
