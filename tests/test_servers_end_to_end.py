"""Both DAGs, end to end, on every kind of server an RTO's Moodle host runs: pyftpdlib,
ProFTPD, Pure-FTPd, ProFTPD with explicit FTPS (certificate verified against a private CA given
as the connection's ``ca_file``) and OpenSSH's SFTP. The same assertions on each.

The real servers are Debian's packages, started by the fixtures in ``real_servers.py``; where
they are not installed these tests skip, and ``make test`` says so in one line."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from test_provisioning_dag import read_users_file, school  # noqa: F401 - the fixture
from test_resulting_dag import COMPLETIONS, college, import_rows, outcome, read_csv  # noqa: F401
from test_resulting_dag import DAG_ID as RESULTING

pytestmark = pytest.mark.dagrun
PROVISIONING = "powerpro_moodle_provisioning"
SERVERS = ["pyftpdlib", "proftpd", "pure-ftpd", "proftpd-tls", "sftp"]


def connection_for(server) -> str:
    """``AIRFLOW_CONN_MOODLE_FTP`` as an RTO would write it for this server."""
    if server.kind == "sftp":
        conn = json.loads(server.conn_uri)
        conn["extra"] = {"host_key": server.host_key}  # password login, host key pinned
        return json.dumps(conn)
    uri = f"ftp://{quote(server.user, safe='')}:{quote(server.password, safe='')}@127.0.0.1:{server.port}"
    if getattr(server, "tls", False):
        uri += f"?tls=true&ca_file={quote(str(server.ca_file), safe='')}"
    return uri


@pytest.fixture(params=SERVERS)
def moodle_host(request, ftp_server, monkeypatch):
    """The ``moodle_ftp`` connection pointed at one kind of server."""
    if request.param == "pyftpdlib":
        ftp_server.kind = "pyftpdlib"
        yield ftp_server
        return
    from real_servers import server_or_skip

    with server_or_skip(request.param) as server:
        monkeypatch.setenv("AIRFLOW_CONN_MOODLE_FTP", connection_for(server))
        monkeypatch.delenv("SSL_CERT_FILE", raising=False)
        yield server


def test_provisioning_uploads_the_users_file_and_cleans_up_a_crashed_upload(school, moodle_host, run_dag):  # noqa: F811
    moodle_host.put("/to_moodle/powerpro_users_20260101T000000Z.csv.part", "half a file")  # a crashed upload
    dr = run_dag(PROVISIONING)
    assert dr.state == "success", moodle_host.kind
    (name,) = moodle_host.files("/to_moodle")
    assert name.startswith("powerpro_users_") and name.endswith("Z.csv")
    rows = read_users_file(moodle_host, name)
    assert [(r["username"], r["idnumber"], r["cohort1"], r["cohort2"], r["suspended"]) for r in rows] == [
        ("s1001", "S1001", "BSB50420-2026", "HLTAID011-2026", "0"), ("s1002", "s1002", "BSB50420-2026", "", "0")]
    (log,) = [r for r in school.sync_log() if r["TaskId"] == "export_users"]
    assert (log["Status"], log["RowsWritten"]) == ("success", 2)
    assert log["Message"].startswith(f"sent 2 students in {name}")

    dr = run_dag(PROVISIONING)  # nothing changed: nothing sent
    assert moodle_host.files("/to_moodle") == [name]


def test_resulting_applies_files_exactly_once_and_files_them_away(college, moodle_host, run_dag):  # noqa: F811
    pp = college
    moodle_host.put("/from_moodle/completions_0601.csv", COMPLETIONS)
    moodle_host.put("/from_moodle/notes.txt", "not a completion file")
    moodle_host.put("/from_moodle/bad.csv", "student;unit;completed\r\nS1;BSBOPS504;1774962000\r\n")
    dr = run_dag(RESULTING)
    assert dr.state == "failed", "the unreadable file fails its own task"
    assert outcome(pp, "S1", "BSBOPS504") == ("20", "2026-04-01", "Moodle sync")
    assert outcome(pp, "S1", "BSBLDR523") == ("20", "2026-04-01", "Moodle sync")
    assert outcome(pp, "S3", "BSBOPS504", 20) == ("20", "2026-04-01", "Moodle sync")
    assert outcome(pp, "S4", "BSBOPS504") == ("51", "2026-02-01", None)
    assert moodle_host.files("/from_moodle") == ["notes.txt"]
    assert moodle_host.files("/from_moodle/processed") == ["completions_0601.csv", "completions_0601.errors.csv"]
    assert moodle_host.files("/from_moodle/rejected") == ["bad.csv", "bad.errors.csv"]
    errors = read_csv(moodle_host.path("/from_moodle/processed/completions_0601.errors.csv"))
    assert [e["row"] for e in errors] == ["12", "4", "5", "6", "8"]
    (listing,) = [r for r in pp.sync_log() if r["TaskId"] == "list_completion_files"]
    assert listing["Message"].endswith("1 entry not taken: notes.txt (not a .csv file)")
    rows = {r["Message"].split(":")[0]: r for r in import_rows(pp, dr.run_id)}
    assert rows["completions_0601.csv"]["RowsWritten"] == 5
    assert rows["bad.csv rejected"]["Status"] == "failed"

    moodle_host.put("/from_moodle/completions_0601.csv", COMPLETIONS)  # delivered again
    dr = run_dag(RESULTING)
    assert dr.state == "success"
    (again,) = import_rows(pp, dr.run_id)
    assert "a repeat delivery); nothing written again" in again["Message"]
    assert "conflict" in again["Details"]["anomaly_counts"], "the conflict is restated"
    assert moodle_host.files("/from_moodle/processed") == [
        "completions_0601-2.csv", "completions_0601.csv", "completions_0601.errors.csv"]
