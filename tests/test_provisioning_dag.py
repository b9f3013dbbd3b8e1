"""Real runs of ``powerpro_moodle_provisioning``: pyftpdlib on 127.0.0.1, a reference-schema
PowerPro on SQLite, ``dag.test()``. Assertions are on what users see: the file on the FTP
server, the sync's state, the ELearningSyncLog rows."""

from __future__ import annotations

import csv
import io

import pytest

DAG_ID = "powerpro_moodle_provisioning"
pytestmark = pytest.mark.dagrun


def users_files(ftp_server, folder="/to_moodle"):
    return ftp_server.files(folder)


def read_users_file(ftp_server, name, folder="/to_moodle"):
    data = ftp_server.path(f"{folder}/{name}").read_bytes()
    assert not data.startswith(b"\xef\xbb\xbf"), "users file must be UTF-8 without BOM"
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))


def moodle_consumes(ftp_server, folder="/to_moodle"):
    """What Moodle's cron does with a users file: take it off the server."""
    for name in users_files(ftp_server, folder):
        ftp_server.path(f"{folder}/{name}").unlink()


def export_row(powerpro, run_id=None):
    rows = [r for r in powerpro.sync_log() if r["TaskId"] == "export_users"]
    if run_id:
        rows = [r for r in rows if r["RunId"] == run_id]
    return rows[-1]


@pytest.fixture
def school(powerpro):
    """A small RTO: two flagged courses, one unflagged, students in every situation."""
    pp = powerpro
    lead = pp.course("BSB50420", "BSB50420-2026")
    aid = pp.course("HLTAID011", "HLTAID011-2026")
    carp = pp.course("CPC30220", "CPC30220-2026", provision=False)
    ann = pp.student("S1001", "Ann", "Lee", "ann.lee@example.edu.au", preferred="Annie")
    pp.enrol(ann, lead)
    pp.enrol(ann, aid)
    bo = pp.student("s1002", "Bo", "Nguyễn", "bo@example.edu.au")
    pp.enrol(bo, lead)
    pp.enrol(pp.student("S1003", "Cy", "Withdrawn", "cy@example.edu.au"), lead, status="Withdrawn")
    pp.enrol(pp.student("S1004", "Di", "Unflagged", "di@example.edu.au"), lead, provision=False)
    pp.enrol(pp.student("S1005", "Ed", "Carpentry", "ed@example.edu.au"), carp)
    return pp


def test_uploads_one_users_file_with_exactly_the_flagged_students(school, ftp_server, run_dag):
    dr = run_dag(DAG_ID)
    assert dr.state == "success"
    (name,) = users_files(ftp_server)
    assert name.startswith("powerpro_users_") and name.endswith("Z.csv")
    rows = read_users_file(ftp_server, name)
    assert list(rows[0]) == ["username", "firstname", "lastname", "alternatename", "email", "idnumber", "auth",
                             "suspended", "cohort1", "cohort2"]
    assert rows == [
        {"username": "s1001", "firstname": "Ann", "lastname": "Lee", "alternatename": "Annie",
         "email": "ann.lee@example.edu.au", "idnumber": "S1001", "auth": "manual", "suspended": "0",
         "cohort1": "BSB50420-2026", "cohort2": "HLTAID011-2026"},
        {"username": "s1002", "firstname": "Bo", "lastname": "Nguyễn", "alternatename": "",
         "email": "bo@example.edu.au", "idnumber": "s1002", "auth": "manual", "suspended": "0",
         "cohort1": "BSB50420-2026", "cohort2": ""},
    ]
    log = export_row(school)
    assert (log["Status"], log["Direction"], log["RowsRead"], log["RowsWritten"], log["RowsRejected"]) == (
        "success", "Provisioning", 3, 2, 0)
    assert log["Message"].startswith(f"sent 2 students in {name}")
    assert log["Details"]["file"] == f"/to_moodle/{name}"
    state = school.rows("SELECT StudentNumber, Username, Suspended, FileName FROM MoodleSyncExportState ORDER BY 1")
    assert state == [{"StudentNumber": "S1001", "Username": "s1001", "Suspended": 0, "FileName": name},
                     {"StudentNumber": "s1002", "Username": "s1002", "Suspended": 0, "FileName": name}]
    tasks = {r["TaskId"]: r["Status"] for r in school.sync_log()}
    assert tasks == {"ensure_sync_tables": "success", "export_users": "success"}


def test_second_run_sends_only_what_changed(school, ftp_server, run_dag):
    assert run_dag(DAG_ID).state == "success"
    moodle_consumes(ftp_server)

    dr = run_dag(DAG_ID)
    assert dr.state == "success"
    assert users_files(ftp_server) == []
    log = export_row(school, dr.run_id)
    assert (log["RowsWritten"], log["RowsSkipped"]) == (0, 2)
    assert log["Message"].startswith("nothing to send, no file uploaded")

    school.conn.execute("UPDATE Student SET Email = 'bo.nguyen@example.edu.au' WHERE StudentNumber = 's1002'")
    school.conn.commit()
    dr = run_dag(DAG_ID)
    (name,) = users_files(ftp_server)
    assert [(r["idnumber"], r["email"]) for r in read_users_file(ftp_server, name)] == [
        ("s1002", "bo.nguyen@example.edu.au")]
    log = export_row(school, dr.run_id)
    assert (log["RowsWritten"], log["RowsSkipped"]) == (1, 1)
    assert "(0 new, 1 changed, 0 suspended, 0 reactivated)" in log["Message"]


def test_full_resync_sends_everyone(school, ftp_server, run_dag):
    run_dag(DAG_ID)
    moodle_consumes(ftp_server)
    dr = run_dag(DAG_ID, full_resync=True)
    (name,) = users_files(ftp_server)
    assert [r["idnumber"] for r in read_users_file(ftp_server, name)] == ["S1001", "s1002"]
    assert export_row(school, dr.run_id)["RowsWritten"] == 2


def test_dry_run_uploads_and_records_nothing_but_logs_what_it_would_do(school, ftp_server, run_dag):
    dr = run_dag(DAG_ID, dry_run=True)
    assert dr.state == "success"
    assert not ftp_server.path("/to_moodle").exists()
    assert school.rows("SELECT COUNT(*) AS n FROM MoodleSyncExportState") == [{"n": 0}]
    log = export_row(school, dr.run_id)
    assert log["Message"].startswith("dry run: would send 2 students")
    assert log["RowsWritten"] == 0
    assert log["Details"]["would_send"] == ["S1001", "s1002"]


def test_anomalies_are_named_in_the_sync_log_and_not_exported(powerpro, ftp_server, run_dag):
    pp = powerpro
    good = pp.course("BSB50420", "BSB50420-2026")
    no_cohort = pp.course("BSB40520", None)
    numeric = pp.course("ICT30120", "42")
    pp.enrol(pp.student("S1", "Ok", "Student"), good)
    pp.enrol(pp.student("S2", "In", "NoCohortCourse"), no_cohort)
    pp.enrol(pp.student("S3", "In", "NumericCohortCourse"), numeric)
    pp.enrol(pp.student("S4", "No", "Email", None), good)
    pp.enrol(pp.student("S5", "Clash", "Upper", "c1@example.edu.au"), good)
    pp.enrol(pp.student("s5", "Clash", "Lower", "c2@example.edu.au"), good)
    pp.enrol(pp.student("S6", "=1+1", "Formula", "f@example.edu.au"), good)

    dr = run_dag(DAG_ID)
    assert dr.state == "success"
    (name,) = users_files(ftp_server)
    rows = read_users_file(ftp_server, name)
    assert [(r["idnumber"], r["firstname"]) for r in rows] == [("S1", "Ok"), ("S6", "'=1+1")]

    log = export_row(pp)
    found = {(a["record"], a["key"], a["code"]) for a in log["Details"]["anomalies"]}
    assert found == {
        ("course", "BSB40520", "no_cohort"),
        ("course", "ICT30120", "numeric_cohort"),
        ("student", "S4", "no_email"),
        ("student", "S5", "username_clash"),
        ("student", "s5", "username_clash"),
        ("student", "S6", "formula_neutralised"),
    }
    assert log["RowsRejected"] == 5
    assert "not exported: 2 courses (1 no cohort, 1 numeric cohort), 3 students (1 no email, 2 username clash)" in log["Message"]
    assert "1 warning" in log["Message"]


def test_settings_change_folder_statuses_and_auth(school, ftp_server, run_dag, settings):
    settings(users_folder="/moodle/incoming", provisioned_statuses=["Active", "Withdrawn"], moodle_auth="ldap")
    assert run_dag(DAG_ID).state == "success"
    (name,) = users_files(ftp_server, "/moodle/incoming")
    rows = read_users_file(ftp_server, name, "/moodle/incoming")
    assert [r["idnumber"] for r in rows] == ["S1001", "s1002", "S1003"]
    assert {r["auth"] for r in rows} == {"ldap"}


def test_bad_settings_fail_fast_naming_the_key(school, ftp_server, run_dag, settings):
    settings(users_folders="/typo")
    dr = run_dag(DAG_ID)
    assert dr.state == "failed"
    rows = [r for r in school.sync_log() if r["TaskId"] == "export_users"]
    assert [(r["Status"], r["TryNumber"]) for r in rows] == [("failed", 1)], "a settings error must not retry"
    assert "unknown setting 'users_folders'" in rows[0]["Message"]
    assert users_files(ftp_server) == []


def test_unreachable_ftp_server_leaves_failure_rows_and_records_nothing(school, ftp_server, run_dag, monkeypatch):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("AIRFLOW_CONN_MOODLE_FTP", f"ftp://moodle:pw-not-logged@127.0.0.1:{port}")
    dr = run_dag(DAG_ID)
    assert dr.state == "failed"
    rows = [r for r in school.sync_log() if r["TaskId"] == "export_users"]
    assert [(r["Status"], r["TryNumber"]) for r in rows] == [("up_for_retry", 1), ("failed", 2)]
    assert rows[-1]["Message"].startswith(
        f"failed: the Moodle FTP server 127.0.0.1:{port} refused the connection: is it running")
    assert "ConnectionRefusedError" not in rows[-1]["Message"], "no Python class names for staff"
    assert "ConnectionRefusedError" in rows[-1]["Details"]["error"]
    assert school.rows("SELECT COUNT(*) AS n FROM MoodleSyncExportState") == [{"n": 0}]
    assert all("pw-not-logged" not in str(r) for r in school.sync_log())


def test_failure_between_upload_and_record_reruns_without_a_second_file(school, ftp_server, run_dag, monkeypatch):
    """A crash after the upload and before the state is recorded: the retry re-sends the same
    change under the same name, so Moodle never sees two files for it."""
    from powerpro_moodle.db import PowerProDb

    real_insert = PowerProDb.insert_rows
    calls = {"n": 0}

    def crash_once(self, conn, name, rows):
        if name == "insert_exported_student" and calls["n"] == 0:
            calls["n"] += 1
            raise ConnectionResetError("database connection lost")
        return real_insert(self, conn, name, rows)

    monkeypatch.setattr(PowerProDb, "insert_rows", crash_once)
    dr = run_dag(DAG_ID)
    assert dr.state == "success"
    (name,) = users_files(ftp_server)
    assert not [n for n in ftp_server.path("/to_moodle").iterdir() if n.name.endswith(".part")]
    assert [r["idnumber"] for r in read_users_file(ftp_server, name)] == ["S1001", "s1002"]
    rows = [(r["Status"], r["TryNumber"]) for r in school.sync_log() if r["TaskId"] == "export_users"]
    assert rows == [("up_for_retry", 1), ("success", 2)]
    assert school.rows("SELECT COUNT(*) AS n FROM MoodleSyncExportState") == [{"n": 2}]


def test_ftps_upload_with_a_certificate_the_client_trusts(school, tmp_path, monkeypatch, run_dag):
    from ftp_server import start_in_thread
    from tls_cert import make_self_signed

    cert = make_self_signed(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    root = tmp_path / "ftps"
    root.mkdir()
    server, port = start_in_thread(root, "moodle", "tls-pw", cert=cert)
    try:
        monkeypatch.setenv("AIRFLOW_CONN_MOODLE_FTP", f"ftp://moodle:tls-pw@127.0.0.1:{port}?tls=true")
        dr = run_dag(DAG_ID)
    finally:
        server.close_all()
    assert dr.state == "success"
    files = list((root / "to_moodle").iterdir())
    assert len(files) == 1 and files[0].read_text(encoding="utf-8").startswith("username,")


def test_a_wrong_ftp_password_is_named_as_a_login_problem(school, ftp_server, run_dag, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_MOODLE_FTP", f"ftp://moodle:wrong-pw@127.0.0.1:{ftp_server.port}")
    assert run_dag(DAG_ID).state == "failed"
    final = [r for r in school.sync_log() if r["TaskId"] == "export_users"][-1]
    assert "refused the login: check the moodle_ftp connection's login and password" in final["Message"]
    assert "wrong-pw" not in str(final)
