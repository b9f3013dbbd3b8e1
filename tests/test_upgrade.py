"""Upgrades in place (SPEC section 7): a PowerPro database whose ``MoodleSync…`` tables were
created and filled by release 0.1 is brought up to date by the DAGs themselves, loses nothing,
and nothing the old release applied is applied again."""

from __future__ import annotations

import hashlib
import json
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


# --------------------------------------------------------------------------- provisioning: MoodleSyncExportState

PROVISIONING = "powerpro_moodle_provisioning"


def fingerprint_0_1(username, first, last, alternate, email, number, auth, suspended, cohorts):
    """Release 0.1's ``MoodleUser.fingerprint``, as it shipped."""
    payload = json.dumps([username, first, last, alternate, email, number, auth, suspended, sorted(cohorts)],
                         ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def sent_by_0_1(pp, number, username, first, last, alternate, email, cohorts):
    pp.conn.execute(
        "INSERT INTO MoodleSyncExportState (StudentNumber, Username, Fingerprint, Suspended, Cohorts, FileName, "
        "ExportedAt) VALUES (?, ?, ?, 0, ?, 'powerpro_users_20260401T000000Z.csv', '2026-04-01 10:00:00')",
        (number, username, fingerprint_0_1(username, first, last, alternate, email, number, "manual", 0, cohorts),
         ",".join(cohorts)))
    pp.conn.commit()


@pytest.fixture
def provisioned_by_0_1(powerpro):
    """A site where release 0.1 sent S1 (one course) and S2 (two courses, a preferred name)."""
    pp = powerpro
    install_release_0_1(pp.path)
    lead, aid = pp.course("BSB50420", "BSB50420-2026"), pp.course("HLTAID011", "HLTAID011-2026")
    pp.enrol(pp.student("S1", "Ann", "Lee", "s1@example.edu.au"), lead)
    s2 = pp.student("S2", "Bo", "Nguyễn", "bo@example.edu.au", preferred="Bob")
    pp.enrol(s2, lead)
    pp.enrol(s2, aid)
    sent_by_0_1(pp, "S1", "s1", "Ann", "Lee", "", "s1@example.edu.au", ["BSB50420-2026"])
    sent_by_0_1(pp, "S2", "s2", "Bo", "Nguyễn", "Bob", "bo@example.edu.au", ["HLTAID011-2026", "BSB50420-2026"])
    return pp


def test_the_export_state_is_migrated_in_place_and_nobody_is_sent_again(provisioned_by_0_1, ftp_server, run_dag):
    pp = provisioned_by_0_1
    dr = run_dag(PROVISIONING)
    assert dr.state == "success"
    (ensure,) = [r for r in pp.sync_log() if r["TaskId"] == "ensure_sync_tables"]
    assert ensure["Message"] == "sync tables: " + "; ".join(
        f"MoodleSyncExportState: added {c}" for c in ("AlternateName", "Auth", "Email", "FirstName", "LastName",
                                                      "StudentID"))
    assert ftp_server.files("/to_moodle") == [], "no resend after the upgrade"
    (log,) = [r for r in pp.sync_log() if r["TaskId"] == "export_users"]
    assert log["Message"] == "nothing to send, no file uploaded; 2 students unchanged"
    assert pp.rows("SELECT StudentNumber, StudentID, Username, FirstName, LastName, AlternateName, Email, Auth, "
                   "Suspended, FileName FROM MoodleSyncExportState ORDER BY StudentNumber") == [
        {"StudentNumber": "S1", "StudentID": 1, "Username": "s1", "FirstName": "Ann", "LastName": "Lee",
         "AlternateName": None, "Email": "s1@example.edu.au", "Auth": None, "Suspended": 0,
         "FileName": "powerpro_users_20260401T000000Z.csv"},
        {"StudentNumber": "S2", "StudentID": 2, "Username": "s2", "FirstName": "Bo", "LastName": "Nguyễn",
         "AlternateName": "Bob", "Email": "bo@example.edu.au", "Auth": None, "Suspended": 0,
         "FileName": "powerpro_users_20260401T000000Z.csv"}]
    indexes = {r["name"] for r in pp.rows("SELECT name FROM pragma_index_list('MoodleSyncExportState')")}
    assert "IX_MoodleSyncExportState_StudentID" in indexes

    # The state now follows StudentID: a corrected StudentNumber is not a second account.
    pp.conn.execute("UPDATE Student SET StudentNumber = 'S1-2026' WHERE StudentID = 1")
    pp.conn.commit()
    dr = run_dag(PROVISIONING)
    assert ftp_server.files("/to_moodle") == []
    (log,) = [r for r in pp.sync_log() if r["TaskId"] == "export_users" and r["RunId"] == dr.run_id]
    assert [(a["key"], a["code"]) for a in log["Details"]["anomalies"]] == [("S1-2026", "student_number_changed")]
    assert pp.rows("SELECT COUNT(*) AS n FROM MoodleSyncExportState") == [{"n": 2}]
    (again,) = [r for r in pp.sync_log() if r["TaskId"] == "ensure_sync_tables" and r["RunId"] == dr.run_id]
    assert again["Message"] == "sync tables present and up to date"


def test_the_first_run_after_the_upgrade_suspends_who_release_0_1_left_active(provisioned_by_0_1, ftp_server,
                                                                               run_dag):
    """Release 0.1 never deprovisioned: its withdrawn learners are suspended once, under the
    identity back-filled from PowerPro; an account no student holds any more is reported."""
    pp = provisioned_by_0_1
    pp.conn.execute("UPDATE Enrolment SET Status = 'Withdrawn' WHERE StudentID = 1")
    pp.conn.commit()
    sent_by_0_1(pp, "S9", "s9", "Gone", "Student", "", "s9@example.edu.au", ["BSB50420-2026"])
    dr = run_dag(PROVISIONING)
    assert dr.state == "success"
    (name,) = ftp_server.files("/to_moodle")
    data = ftp_server.path(f"/to_moodle/{name}").read_text(encoding="utf-8")
    assert data.splitlines() == [
        "username,firstname,lastname,alternatename,email,idnumber,auth,suspended,cohort1",
        "s1,Ann,Lee,,s1@example.edu.au,S1,manual,1,"]
    assert pp.rows("SELECT StudentNumber, StudentID, Suspended FROM MoodleSyncExportState ORDER BY 1") == [
        {"StudentNumber": "S1", "StudentID": 1, "Suspended": 1},
        {"StudentNumber": "S2", "StudentID": 2, "Suspended": 0},
        {"StudentNumber": "S9", "StudentID": None, "Suspended": 0}]
    (log,) = [r for r in pp.sync_log() if r["TaskId"] == "export_users"]
    assert log["Message"].startswith("sent 1 student in")
    assert [(a["key"], a["code"], a["level"]) for a in log["Details"]["anomalies"]] == [
        ("S9", "identity_unknown", "warning")]
