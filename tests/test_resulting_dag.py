"""Real runs of ``powerpro_moodle_resulting``: completion files on a real FTP server, a
reference-schema PowerPro, ``dag.test()``. Assertions are on the EnrolmentUnit rows, the files
in processed/ and rejected/, the errors files and the ELearningSyncLog rows."""

from __future__ import annotations

import csv
import io

import pytest

DAG_ID = "powerpro_moodle_resulting"
pytestmark = pytest.mark.dagrun

HEADER = "User_IdNumber,Course_IdNumber,TimeCompleted,FinalGrade,GradePass,fullname\r\n"


@pytest.fixture
def college(powerpro):
    """Students in every situation SPEC section 5 names."""
    pp = powerpro
    units = {code: pp.unit(code) for code in ("BSBLDR523", "BSBOPS504", "BSBCMM511", "HLTAID011")}
    lead = pp.course("BSB50420", "BSB50420-2026")
    aid = pp.course("HLTAID011", "HLTAID011-2026")
    pp.map_course("BSB50420-LEAD", "BSBLDR523")  # one Moodle course for two units
    pp.map_course("BSB50420-LEAD", "BSBCMM511")
    eu = {}

    def enrol(number, course=lead, status="Active", enrolment_id=None, unit_codes=("BSBLDR523", "BSBOPS504", "BSBCMM511"), **outcome):
        sid = pp.rows("SELECT StudentID FROM Student WHERE StudentNumber = ?", number)
        sid = sid[0]["StudentID"] if sid else pp.student(number, "Sam", number)
        eid = pp.enrol(sid, course, status, enrolment_id=enrolment_id)
        for code in unit_codes:
            eu[number, code, eid] = pp.enrolment_unit(eid, units[code], **(outcome if code == "BSBOPS504" else {}))
        return eid

    enrol("S1")
    enrol("S1", aid, unit_codes=("HLTAID011",))
    enrol("S2")
    enrol("S3", status="Withdrawn", enrolment_id=10)  # course transfer: the old enrolment...
    enrol("S3", status="Active", enrolment_id=20)  # ...and the new one
    enrol("S4", outcome="51", source=None, date="2026-02-01")  # RPL entered by a person
    enrol("S5", outcome="20", source="Trainer", date="2026-02-02")  # a trainer already marked it
    enrol("S6", outcome="30", source="Moodle sync", date="2026-02-03")  # an earlier Moodle result
    enrol("S7")
    pp.eu = eu
    return pp


COMPLETIONS = (
    HEADER
    + "s1,bsbops504,2026-03-31T14:30:00Z,80,50,Leadership\r\n"  # case-insensitive; 1 April in Sydney
    + "S1,BSB50420-LEAD,1774962000,,,Cluster\r\n"  # 2026-03-31 13:00 UTC -> 2026-04-01 Sydney
    + "S2,BSBOPS504,,,,Not done\r\n"
    + "S2,HLTAID011,1774962000,,,Not enrolled\r\n"
    + "S9,BSBOPS504,1774962000,,,Unknown student\r\n"
    + "S1,NOPE101,1774962000,,,Unknown unit\r\n"
    + "S3,BSBOPS504,1774962000,,,Transfer\r\n"
    + "S4,BSBOPS504,1774962000,,,Manual RPL\r\n"
    + "S5,BSBOPS504,1774962000,90,50,Manual equal\r\n"
    + "S6,BSBOPS504,2026-04-02T09:00:00+10:00,75,50,Newer Moodle result\r\n"
    + "S7,BSBOPS504,1774962000,40,50,Failing grade\r\n"
    + 'S1,BSBCMM511,"31/03/2026",,,"Bad, time"\r\n'
)


def outcome(pp, number, unit, enrolment_id=None):
    rows = pp.rows(
        "SELECT eu.OutcomeCode, eu.OutcomeDate, eu.OutcomeSource, eu.ModifiedAt FROM EnrolmentUnit eu "
        "JOIN Enrolment e ON e.EnrolmentID = eu.EnrolmentID JOIN Student s ON s.StudentID = e.StudentID "
        "JOIN Unit u ON u.UnitID = eu.UnitID WHERE s.StudentNumber = ? AND u.UnitCode = ? "
        "AND (? IS NULL OR e.EnrolmentID = ?)",
        number, unit, enrolment_id, enrolment_id,
    )
    assert len(rows) == 1, rows
    r = rows[0]
    return (r["OutcomeCode"], r["OutcomeDate"], r["OutcomeSource"])


def import_rows(pp, run_id=None):
    return [r for r in pp.sync_log() if r["TaskId"] == "import_completion_file" and (run_id is None or r["RunId"] == run_id)]


def read_csv(path):
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"), newline="")))


def test_applies_a_completion_file_exactly_as_the_rules_say(college, ftp_server, run_dag):
    pp = college
    ftp_server.put("/from_moodle/completions_0601.csv", COMPLETIONS)
    dr = run_dag(DAG_ID)
    assert dr.state == "success"
    mapped = [ti for ti in dr.get_task_instances() if ti.task_id == "import_completion_file"]
    assert [ti.rendered_map_index for ti in mapped] == ["completions_0601.csv"], "the UI shows the file name"

    assert outcome(pp, "S1", "BSBOPS504") == ("20", "2026-04-01", "Moodle sync")
    assert outcome(pp, "S1", "BSBLDR523") == ("20", "2026-04-01", "Moodle sync")  # cluster mapping
    assert outcome(pp, "S1", "BSBCMM511") == ("20", "2026-04-01", "Moodle sync")  # (the bad row is ignored)
    assert outcome(pp, "S2", "BSBOPS504") == (None, None, None)  # not completed
    assert outcome(pp, "S3", "BSBOPS504", 20) == ("20", "2026-04-01", "Moodle sync")  # Active enrolment wins
    assert outcome(pp, "S3", "BSBOPS504", 10) == (None, None, None)
    assert outcome(pp, "S4", "BSBOPS504") == ("51", "2026-02-01", None)  # never overwritten
    assert outcome(pp, "S5", "BSBOPS504") == ("20", "2026-02-02", "Trainer")  # already up to date
    assert outcome(pp, "S6", "BSBOPS504") == ("20", "2026-04-02", "Moodle sync")  # newer Moodle result
    assert outcome(pp, "S7", "BSBOPS504") == (None, None, None)  # a trainer decides
    modified = pp.rows("SELECT COUNT(*) AS n FROM EnrolmentUnit WHERE OutcomeSource = 'Moodle sync' AND ModifiedAt IS NOT NULL")
    assert modified == [{"n": 5}]

    assert ftp_server.files("/from_moodle") == []
    assert ftp_server.files("/from_moodle/processed") == ["completions_0601.csv", "completions_0601.errors.csv"]
    errors = read_csv(ftp_server.path("/from_moodle/processed/completions_0601.errors.csv"))
    assert [(e["row"], e["User_IdNumber"], e["Course_IdNumber"], e["fullname"]) for e in errors] == [
        ("12", "S1", "BSBCMM511", "Bad, time"), ("4", "S2", "HLTAID011", "Not enrolled"),
        ("5", "S9", "BSBOPS504", "Unknown student"), ("6", "S1", "NOPE101", "Unknown unit"),
        ("8", "S4", "BSBOPS504", "Manual RPL"),
    ]
    by_row = {e["row"]: e["reason"] for e in errors}
    assert "31/03/2026" in by_row["12"]
    assert "not enrolled in unit HLTAID011" in by_row["4"]
    assert "already has outcome 51" in by_row["8"]

    (log,) = import_rows(pp)
    assert (log["Status"], log["MapIndex"], log["RowsRead"], log["RowsWritten"], log["RowsRejected"]) == (
        "success", 0, 12, 5, 5)
    assert log["Message"].startswith("completions_0601.csv: applied 5 outcomes from 12 rows")
    assert "1 conflict with a manual result" in log["Message"]
    assert "1 unknown student" in log["Message"]
    conflicts = [a for a in log["Details"]["anomalies"] if a["code"] == "conflict"]
    assert conflicts[0]["data"] == {"student_number": "S4", "unit_code": "BSBOPS504", "existing_outcome": "51",
                                    "existing_source": None, "moodle_outcome": "20"}
    codes = {a["code"] for a in log["Details"]["anomalies"]}
    assert {"transfer", "not_yet_competent", "unknown_unit", "not_enrolled", "bad_time"} <= codes
    assert pp.rows("SELECT FileName, RowsWritten, MovedTo FROM MoodleSyncAppliedFile") == [
        {"FileName": "completions_0601.csv", "RowsWritten": 5, "MovedTo": "/from_moodle/processed/completions_0601.csv"}]


def test_delivering_the_same_file_again_changes_nothing(college, ftp_server, run_dag):
    pp = college
    ftp_server.put("/from_moodle/completions_0601.csv", COMPLETIONS)
    assert run_dag(DAG_ID).state == "success"
    before = pp.rows("SELECT * FROM EnrolmentUnit ORDER BY EnrolmentUnitID")

    ftp_server.put("/from_moodle/completions_0601.csv", COMPLETIONS)  # Moodle sends it again
    dr = run_dag(DAG_ID)
    assert dr.state == "success"
    assert pp.rows("SELECT * FROM EnrolmentUnit ORDER BY EnrolmentUnitID") == before
    assert ftp_server.files("/from_moodle") == []
    assert ftp_server.files("/from_moodle/processed") == [
        "completions_0601-2.csv", "completions_0601.csv", "completions_0601.errors.csv"]
    (log,) = import_rows(pp, dr.run_id)
    assert (log["RowsWritten"], log["RowsSkipped"]) == (0, 12)
    assert "already applied" in log["Message"] and "a repeat delivery" in log["Message"]
    assert pp.rows("SELECT COUNT(*) AS n FROM MoodleSyncAppliedFile") == [{"n": 1}]


@pytest.mark.parametrize(
    "when, retry_says",
    [
        pytest.param("before", "which stopped before filing it away", id="crash after the commit, before the move"),
        pytest.param("after", "this try wrote nothing again; moved to /from_moodle/processed/completions_0601.csv",
                     id="crash after the move, before it is noted"),
    ],
)
def test_crash_between_commit_and_move_then_rerun_applies_nothing_twice(college, ftp_server, run_dag, monkeypatch,
                                                                        when, retry_says):
    from powerpro_moodle.ftp import MoodleFtp

    pp = college
    real_rename = MoodleFtp.rename
    crashed = []

    def crash_once(self, source, target):
        if "/processed/" in target and not crashed:
            crashed.append(target)
            if when == "after":
                real_rename(self, source, target)
            raise EOFError("FTP connection dropped")
        return real_rename(self, source, target)

    monkeypatch.setattr(MoodleFtp, "rename", crash_once)
    ftp_server.put("/from_moodle/completions_0601.csv", COMPLETIONS)
    dr = run_dag(DAG_ID)
    assert crashed and dr.state == "success"
    rows = import_rows(pp, dr.run_id)
    assert [(r["Status"], r["TryNumber"]) for r in rows] == [("up_for_retry", 1), ("success", 2)]
    assert retry_says in rows[-1]["Message"]
    assert rows[-1]["RowsWritten"] == 0
    # The outcomes were written once (by try 1); the retry only finished filing the file away.
    assert outcome(pp, "S6", "BSBOPS504") == ("20", "2026-04-02", "Moodle sync")
    assert pp.rows("SELECT RowsWritten FROM MoodleSyncAppliedFile") == [{"RowsWritten": 5}]
    assert ftp_server.files("/from_moodle") == []
    assert ftp_server.files("/from_moodle/processed") == ["completions_0601.csv", "completions_0601.errors.csv"]
    assert len(read_csv(ftp_server.path("/from_moodle/processed/completions_0601.errors.csv"))) == 5


def test_unreadable_file_goes_to_rejected_and_fails_only_its_own_task(college, ftp_server, run_dag):
    pp = college
    ftp_server.put("/from_moodle/a_wrong_header.csv", "student,unit,completed\r\nS1,BSBOPS504,1774962000\r\n")
    ftp_server.put("/from_moodle/b_good.csv", HEADER + "S1,BSBOPS504,1774962000,,,ok\r\n")
    dr = run_dag(DAG_ID)
    assert dr.state == "failed"
    assert outcome(pp, "S1", "BSBOPS504") == ("20", "2026-04-01", "Moodle sync")
    assert ftp_server.files("/from_moodle/rejected") == ["a_wrong_header.csv", "a_wrong_header.errors.csv"]
    assert ftp_server.files("/from_moodle/processed") == ["b_good.csv"]
    reason = read_csv(ftp_server.path("/from_moodle/rejected/a_wrong_header.errors.csv"))[0]["reason"]
    assert "user_idnumber" in reason
    rows = {(r["MapIndex"], r["Status"], r["TryNumber"]) for r in import_rows(pp)}
    assert rows == {(0, "failed", 1), (1, "success", 1)}, "an unreadable file must fail without retry"
    failed = next(r for r in import_rows(pp) if r["Status"] == "failed")
    assert failed["Message"].startswith("a_wrong_header.csv rejected: The header is missing the required column")
    assert failed["Message"].count("the header found is") == 1, "the reason is said once"
    assert "Exception" not in failed["Message"], "no Python class names for staff"
    assert failed["Details"]["moved_to"] == "/from_moodle/rejected/a_wrong_header.csv"


def test_dry_run_writes_records_and_moves_nothing(college, ftp_server, run_dag):
    pp = college
    ftp_server.put("/from_moodle/completions_0601.csv", COMPLETIONS)
    before = pp.rows("SELECT * FROM EnrolmentUnit ORDER BY EnrolmentUnitID")
    dr = run_dag(DAG_ID, dry_run=True)
    assert dr.state == "success"
    assert pp.rows("SELECT * FROM EnrolmentUnit ORDER BY EnrolmentUnitID") == before
    assert ftp_server.files("/from_moodle") == ["completions_0601.csv"]
    assert pp.rows("SELECT COUNT(*) AS n FROM MoodleSyncAppliedFile") == [{"n": 0}]
    assert pp.rows("SELECT COUNT(*) AS n FROM MoodleSyncCompletionStage") == [{"n": 0}]
    (log,) = import_rows(pp)
    assert log["Message"].startswith("completions_0601.csv: dry run: would apply 5 outcomes")
    assert log["RowsWritten"] == 0


def test_failing_grade_is_written_as_30_when_the_setting_says_so(college, ftp_server, run_dag, settings):
    settings(outcome_rules={"not_yet_competent": "30"}, timezone="Australia/Perth")
    ftp_server.put("/from_moodle/c.csv", HEADER + "S7,BSBOPS504,2026-03-31T14:30:00Z,40,50,x\r\n")
    assert run_dag(DAG_ID).state == "success"
    # 14:30 UTC is 22:30 in Perth: still 31 March there.
    assert outcome(college, "S7", "BSBOPS504") == ("30", "2026-03-31", "Moodle sync")


def test_a_name_taken_in_processed_is_kept_not_overwritten(college, ftp_server, run_dag):
    ftp_server.put("/from_moodle/processed/c.csv", "an older file\r\n")
    ftp_server.put("/from_moodle/c.csv", HEADER + "S1,BSBOPS504,1774962000,,,x\r\n")
    assert run_dag(DAG_ID).state == "success"
    assert ftp_server.files("/from_moodle/processed") == ["c-2.csv", "c.csv"]
    assert ftp_server.path("/from_moodle/processed/c.csv").read_bytes() == b"an older file\r\n"


def test_empty_inbox_is_a_quiet_success(college, ftp_server, run_dag):
    dr = run_dag(DAG_ID)
    assert dr.state == "success"
    (row,) = [r for r in college.sync_log() if r["TaskId"] == "list_completion_files"]
    assert row["Message"] == "0 completion files waiting in /from_moodle"
    assert import_rows(college) == []


def test_a_corrected_file_with_new_content_is_applied(college, ftp_server, run_dag):
    pp = college
    ftp_server.put("/from_moodle/c.csv", HEADER + "S2,BSBOPS504,not a time,,,typo\r\n")
    assert run_dag(DAG_ID).state == "success"
    assert outcome(pp, "S2", "BSBOPS504") == (None, None, None)
    ftp_server.put("/from_moodle/c.csv", HEADER + "S2,BSBOPS504,1774962000,,,fixed\r\n")  # same name, fixed
    assert run_dag(DAG_ID).state == "success"
    assert outcome(pp, "S2", "BSBOPS504") == ("20", "2026-04-01", "Moodle sync")
    assert ftp_server.files("/from_moodle/processed") == ["c-2.csv", "c.csv", "c.errors.csv"]
    assert pp.rows("SELECT FileName, RowsWritten, RowsRejected FROM MoodleSyncAppliedFile ORDER BY AppliedAt, RowsWritten") == [
        {"FileName": "c.csv", "RowsWritten": 0, "RowsRejected": 1},
        {"FileName": "c.csv", "RowsWritten": 1, "RowsRejected": 0},
    ]


def test_the_sync_never_creates_or_alters_powerpro_tables(college, ftp_server, run_dag):
    def schema():
        return college.rows("SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE '%MoodleSync%' ORDER BY name")

    before = schema()
    ftp_server.put("/from_moodle/c.csv", COMPLETIONS)
    assert run_dag(DAG_ID).state == "success"
    assert run_dag("powerpro_moodle_provisioning").state == "success"
    assert schema() == before
    own = college.rows("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'MoodleSync%' ORDER BY name")
    assert [r["name"] for r in own] == ["MoodleSyncAppliedFile", "MoodleSyncCompletionStage", "MoodleSyncExportState", "MoodleSyncInboxFile",
                                        "MoodleSyncOutcomeStage"]


def test_a_flood_of_files_is_taken_in_batches_oldest_name_first(college, ftp_server, run_dag, monkeypatch):
    from powerpro_moodle.operators import resulting

    monkeypatch.setattr(resulting, "MAX_FILES_PER_RUN", 2)  # stands for Airflow's limit on mapped tasks
    for day in ("0601", "0602", "0603"):
        ftp_server.put(f"/from_moodle/completions_{day}.csv", HEADER + f"S1,BSBOPS504,1774962000,,,{day}\r\n")
    assert run_dag(DAG_ID).state == "success"
    assert ftp_server.files("/from_moodle") == ["completions_0603.csv"]
    (row,) = [r for r in college.sync_log() if r["TaskId"] == "list_completion_files"]
    assert row["Message"].endswith("this run takes the first 2, 1 left for the next run")
    assert run_dag(DAG_ID).state == "success"
    assert ftp_server.files("/from_moodle") == []


def test_a_stalled_ftp_server_fails_the_try_instead_of_hanging(college, tmp_path, monkeypatch, run_dag):
    """A server that logs in and then never answers a listing: the call times out (connection
    extra ``timeout``), the try fails and is retried, and the sync log says why."""
    import threading

    from pyftpdlib.authorizers import DummyAuthorizer
    from pyftpdlib.handlers import FTPHandler
    from pyftpdlib.servers import FTPServer

    class Silent(FTPHandler):
        def ftp_MLSD(self, path):  # never answers
            pass

    authorizer = DummyAuthorizer()
    authorizer.add_user("moodle", "pw", str(tmp_path), perm="elradfmwMT")
    Silent.authorizer = authorizer
    server = FTPServer(("127.0.0.1", 0), Silent)
    threading.Thread(target=server.serve_forever, kwargs={"timeout": 0.1}, daemon=True).start()
    port = server.address[1]
    monkeypatch.setenv("AIRFLOW_CONN_MOODLE_FTP", f"ftp://moodle:pw@127.0.0.1:{port}?timeout=1")
    try:
        dr = run_dag(DAG_ID)
    finally:
        server.close_all()
    assert dr.state == "failed"
    rows = [r for r in college.sync_log() if r["TaskId"] == "list_completion_files"]
    assert [(r["Status"], r["TryNumber"]) for r in rows] == [("up_for_retry", 1), ("failed", 2)]
    assert f"the Moodle FTP server 127.0.0.1:{port} did not answer within 1 s" in rows[-1]["Message"]


def test_a_statement_the_database_refuses_names_its_sql_file(college, ftp_server, run_dag):
    """What a DBA sees after adapting include/sql to a schema that differs: the file and the reason."""
    college.conn.execute("DROP TABLE MoodleCourseUnit")
    college.conn.commit()
    ftp_server.put("/from_moodle/c.csv", HEADER + "S1,BSBOPS504,1774962000,,,x\r\n")
    assert run_dag(DAG_ID).state == "failed"
    final = import_rows(college)[-1]
    assert final["Message"] == (
        "failed: include/sql/select_completion_course_units.sql failed on the PowerPro database: "
        "no such table: MoodleCourseUnit")
    assert ftp_server.files("/from_moodle") == ["c.csv"], "a file is never lost: it waits for the fix"
