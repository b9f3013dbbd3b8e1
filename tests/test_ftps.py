"""FTPS done properly, and timeouts from the first byte: real provisioning runs against a real
ProFTPD (explicit TLS required, certificates from a private CA the fixture makes) and Pure-FTPd,
and a server that accepts the connection and never says a word."""

from __future__ import annotations

import socket
import threading
import time
from urllib.parse import quote

import pytest
from test_provisioning_dag import school  # noqa: F401 - the fixture

pytestmark = pytest.mark.dagrun
DAG_ID = "powerpro_moodle_provisioning"


def uri(server, **extra) -> str:
    query = "&".join(f"{k}={quote(str(v), safe='')}" for k, v in extra.items())
    return (f"ftp://{quote(server.user, safe='')}:{quote(server.password, safe='')}@127.0.0.1:{server.port}"
            + (f"?{query}" if query else ""))


def final_row(pp):
    rows = [r for r in pp.sync_log() if r["TaskId"] == "export_users"]
    assert [r["Status"] for r in rows] == ["up_for_retry", "failed"], rows
    assert "Error" not in rows[-1]["Message"], "no Python class names for staff"
    return rows[-1]


@pytest.fixture
def tls_host(monkeypatch):
    from real_servers import server_or_skip

    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    with server_or_skip("proftpd-tls") as server:
        yield server


def test_a_private_ca_in_ca_file_is_trusted_and_the_data_channel_is_protected(school, tls_host, run_dag,  # noqa: F811
                                                                                monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_MOODLE_FTP", uri(tls_host, tls="true", ca_file=tls_host.ca_file))
    assert run_dag(DAG_ID).state == "success"
    assert len(tls_host.files("/to_moodle")) == 1
    # ProFTPD refuses PROT C and any data connection that does not resume the TLS session, so a
    # file that arrived proves both.
    assert "client did not reuse TLS session" not in tls_host.log_text()


def test_an_untrusted_certificate_fails_clearly_and_uploads_nothing(school, tls_host, run_dag,  # noqa: F811
                                                                    monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_MOODLE_FTP", uri(tls_host, tls="true"))  # the CA is not in the system store
    assert run_dag(DAG_ID).state == "failed"
    row = final_row(school)
    assert f"the Moodle FTP server 127.0.0.1:{tls_host.port} presented a TLS certificate that is not trusted here" \
        in row["Message"]
    assert "extra ca_file" in row["Message"]
    assert tls_host.files("/to_moodle") == []
    assert school.rows("SELECT COUNT(*) AS n FROM MoodleSyncExportState") == [{"n": 0}]


def test_a_certificate_for_another_host_fails_clearly(school, run_dag, monkeypatch):  # noqa: F811
    from real_servers import server_or_skip

    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    with server_or_skip("proftpd-tls", certificate="wrong-host") as server:
        monkeypatch.setenv("AIRFLOW_CONN_MOODLE_FTP", uri(server, tls="true", ca_file=server.ca_file))
        assert run_dag(DAG_ID).state == "failed"
        assert server.files("/to_moodle") == []
    assert "presented a TLS certificate for another host name" in final_row(school)["Message"]


def test_plain_ftp_to_a_server_that_requires_tls_says_to_turn_tls_on(school, tls_host, run_dag,  # noqa: F811
                                                                      monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_MOODLE_FTP", uri(tls_host))
    assert run_dag(DAG_ID).state == "failed"
    assert "requires TLS" in final_row(school)["Message"] and '{"tls": true}' in final_row(school)["Message"]
    assert tls_host.files("/to_moodle") == []


def test_tls_asked_of_a_server_without_it_never_falls_back_to_plain_ftp(school, pure_ftpd_server, run_dag,  # noqa: F811
                                                                         monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_MOODLE_FTP", uri(pure_ftpd_server, tls="true"))
    assert run_dag(DAG_ID).state == "failed"
    message = final_row(school)["Message"]
    assert f"127.0.0.1:{pure_ftpd_server.port} does not offer TLS" in message
    assert "will not fall back to plain FTP" in message
    assert pure_ftpd_server.files("/to_moodle") == [], "the password and the file never went in clear"


def test_a_ca_file_that_is_not_there_is_named(school, ftp_server, run_dag, monkeypatch):  # noqa: F811
    monkeypatch.setenv("AIRFLOW_CONN_MOODLE_FTP",
                       f"ftp://moodle:x@127.0.0.1:{ftp_server.port}?tls=true&ca_file=%2Fnowhere%2Fca.pem")
    assert run_dag(DAG_ID).state == "failed"
    assert "extra 'ca_file' '/nowhere/ca.pem' is not a file on this machine" in final_row(school)["Message"]


def test_a_server_that_accepts_and_never_greets_fails_within_the_timeout(school, run_dag, monkeypatch):  # noqa: F811
    """The provider connects with no timeout: a silent server would hold the task until its
    execution timeout. The sync's client applies the connection's timeout from the first byte."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]
    held, stop = [], threading.Event()

    def accept_and_say_nothing():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept_and_say_nothing, daemon=True)
    thread.start()
    monkeypatch.setenv("AIRFLOW_CONN_MOODLE_FTP", f"ftp://moodle:pw@127.0.0.1:{port}?timeout=1")
    started = time.monotonic()
    try:
        assert run_dag(DAG_ID).state == "failed"
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        listener.close()
    assert time.monotonic() - started < 60, "two tries of one second each, not a hang"
    assert held, "the server did accept the connections"
    assert final_row(school)["Message"] == f"failed: the Moodle FTP server 127.0.0.1:{port} did not answer within 1 s"
