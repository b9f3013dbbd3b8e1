"""Upgrades in place (SPEC section 7): a PowerPro database whose ``MoodleSync…`` tables were
created and filled by release 0.1 is brought up to date by the DAGs themselves, loses nothing,
and nothing the old release applied is applied again."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest
from powerpro_moodle.db import translate
from test_resulting_dag import DAG_ID, HEADER, import_rows, outcome

pytestmark = pytest.mark.dagrun
PREVIOUS_RELEASE = Path(__file__).parent / "fixtures" / "release_0_1"


def install_release_0_1(path: Path) -> None:
    """The sync's own tables exactly as release 0.1 created them."""
    with sqlite3.connect(path) as conn:
        for create in sorted(PREVIOUS_RELEASE.glob("create_table_*.sql")):
            for statement in translate(create.read_text(encoding="utf-8"), "sqlite"):
                conn.execute(statement)


OLD_FILE = HEADER + "S1,BSBOPS504,1774962000,,,ok\r\nS2,BSBOPS504,1774962000,,,manual\r\n"
OLD_ERRORS = (
    "row,User_IdNumber,Course_IdNumber,TimeCompleted,FinalGrade,GradePass,fullname,reason\r\n"
    "2,S2,BSBOPS504,1774962000,,,manual,StudentNumber S2 unit BSBOPS504 already has outcome 51 (no source) and "
    "Moodle gives 20 (Moodle course BSBOPS504, file row 2): an outcome not written by the Moodle sync is never "
    "overwritten\r\n"
)


@pytest.fixture
def upgraded_site(powerpro):
    """A site that ran release 0.1: it applied ``OLD_FILE`` (S1 got 20, S2's manual 51 was a
    conflict) and filed it in processed/."""
    pp = powerpro
    install_release_0_1(pp.path)
    unit = pp.unit("BSBOPS504")
    course = pp.course("BSB50420", "BSB50420-2026")
    pp.enrolment_unit(pp.enrol(pp.student("S1"), course), unit, outcome="20", source="Moodle sync",
                      date="2026-04-01")
    pp.enrolment_unit(pp.enrol(pp.student("S2"), course), unit, outcome="51", source=None, date="2026-02-01")
    pp.conn.execute(
        "INSERT INTO MoodleSyncAppliedFile (ContentHash, FileName, AppliedAt, DagId, RunId, RowsRead, RowsWritten, "
        "RowsSkipped, RowsRejected, ErrorsCsv, MovedTo) VALUES (?, 'c.csv', '2026-04-02 09:00:00', ?, 'scheduled_old', "
        "2, 1, 0, 1, ?, '/from_moodle/processed/c.csv')",
        (hashlib.sha256(OLD_FILE.encode()).hexdigest(), DAG_ID, OLD_ERRORS),
    )
    pp.conn.execute(
        "INSERT INTO MoodleSyncExportState (StudentNumber, Username, Fingerprint, Suspended, Cohorts, FileName, "
        "ExportedAt) VALUES ('S1', 's1', ?, 0, 'BSB50420-2026', 'powerpro_users_20260401T000000Z.csv', "
        "'2026-04-01 10:00:00')", ("f" * 64,))
    pp.conn.commit()
    return pp


def test_the_first_run_after_an_upgrade_migrates_the_tables_and_keeps_their_data(upgraded_site, ftp_server, run_dag):
    pp = upgraded_site
    dr = run_dag(DAG_ID)
    assert dr.state == "success"
    (ensure,) = [r for r in pp.sync_log() if r["TaskId"] == "ensure_sync_tables"]
    assert ensure["Message"] == "sync tables: MoodleSyncAppliedFile: added Anomalies; created MoodleSyncInboxFile"
    columns = [r["name"] for r in pp.rows("SELECT name FROM pragma_table_info('MoodleSyncAppliedFile')")]
    assert columns[-1] == "Anomalies"
    assert pp.rows("SELECT FileName, RowsWritten, MovedTo, Anomalies FROM MoodleSyncAppliedFile") == [
        {"FileName": "c.csv", "RowsWritten": 1, "MovedTo": "/from_moodle/processed/c.csv", "Anomalies": None}]
    assert pp.rows("SELECT StudentNumber, Username FROM MoodleSyncExportState") == [
        {"StudentNumber": "S1", "Username": "s1"}]

    dr = run_dag(DAG_ID)  # the second run finds everything in place
    (again,) = [r for r in pp.sync_log() if r["TaskId"] == "ensure_sync_tables" and r["RunId"] == dr.run_id]
    assert again["Message"] == "sync tables present and up to date"


def test_a_file_the_old_release_applied_is_not_applied_again_and_its_conflicts_are_restated(
        upgraded_site, ftp_server, run_dag):
    pp = upgraded_site
    ftp_server.put("/from_moodle/c_again.csv", OLD_FILE)  # Moodle delivers the same content again
    dr = run_dag(DAG_ID)
    assert dr.state == "success"
    assert outcome(pp, "S1", "BSBOPS504") == ("20", "2026-04-01", "Moodle sync")
    assert outcome(pp, "S2", "BSBOPS504") == ("51", "2026-02-01", None)
    assert ftp_server.files("/from_moodle/processed") == ["c_again.csv"]
    (log,) = import_rows(pp, dr.run_id)
    assert log["Message"] == (
        "c_again.csv: already applied on 2026-04-02 09:00:00 by run scheduled_old as c.csv (a repeat delivery); "
        "nothing written again; moved to /from_moodle/processed/c_again.csv")
    assert (log["RowsRead"], log["RowsWritten"], log["RowsSkipped"]) == (2, 0, 2)
    (restated,) = log["Details"]["anomalies"]
    assert restated["key"] == "row 2" and "already has outcome 51" in restated["reason"]
    assert log["Details"]["first_applied"]["run_id"] == "scheduled_old"
