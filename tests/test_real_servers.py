"""Smoke tests of tests/real_servers.py (not of the DAGs): each real server starts, takes a login,
an upload, a listing and a rename, puts the file where ``server.path()`` says, owned by the
server's user, and is gone after it stops. Skipped, with the command that installs them, where
the servers are not installed."""

from __future__ import annotations

import calendar
import ftplib
import io
import json
import os
import shutil
import socket
import ssl
import subprocess
import time
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import real_servers
from real_servers import INSTALL_HINT, ProFtpd, ServerStartError, SessionReuseFTP_TLS, server_or_skip

# The fixtures (conftest may provide them too; these names win here).
proftpd_server = real_servers.proftpd_server
proftpd_tls_server = real_servers.proftpd_tls_server
sftp_server = real_servers.sftp_server
real_ftp_server = real_servers.real_ftp_server

DATA = b"username,firstname\r\ns1001,Ada\r\n"


def _login(server, context: ssl.SSLContext | None = None) -> ftplib.FTP:
    if server.tls:
        ftp = SessionReuseFTP_TLS(context=context or ssl.create_default_context(cafile=str(server.ca_file)), timeout=15)
    else:
        ftp = ftplib.FTP(timeout=15)
    ftp.connect("127.0.0.1", server.port)
    ftp.login(server.user, server.password)
    if server.tls:
        ftp.prot_p()
    return ftp


def _names(listing: list[str]) -> set[str]:
    """NLST names without the folder prefix some servers add, and without . and .."""
    return {n.rstrip("/").rsplit("/", 1)[-1] for n in listing} - {".", ".."}


def _gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_the_kinds_name_the_install_script_when_missing():
    for kind in real_servers.KINDS:
        reason = real_servers.skip_reason(kind)
        assert reason is None or INSTALL_HINT in reason or "root" in reason
    with pytest.raises(ValueError):
        real_servers.skip_reason("vsftpd")


# --- FTP and FTPS: ProFTPD, ProFTPD with TLS required, Pure-FTPd ------------------------------


def test_ftp_upload_list_rename(real_ftp_server):
    server = real_ftp_server
    ftp = _login(server)
    try:
        assert ftp.pwd() == "/"
        ftp.mkd("/to_moodle")
        ftp.storbinary("STOR /to_moodle/users.csv.part", io.BytesIO(DATA))
        assert _names(ftp.nlst("/to_moodle")) == {"users.csv.part"}
        ftp.rename("/to_moodle/users.csv.part", "/to_moodle/users.csv")
        listed = {
            name: facts for name, facts in ftp.mlsd("/to_moodle", facts=["type", "size"]) if facts["type"] == "file"
        }
        assert list(listed) == ["users.csv"] and listed["users.csv"]["size"] == str(len(DATA))
    finally:
        ftp.quit()
    assert server.files("/to_moodle") == ["users.csv"]
    landed = server.path("/to_moodle/users.csv")
    assert landed.read_bytes() == DATA
    assert (landed.stat().st_uid, landed.stat().st_gid) == (server.uid, server.gid)


def test_ftp_files_put_by_the_test_are_the_users(real_ftp_server):
    server = real_ftp_server
    server.put("/from_moodle/completions.csv", "idnumber,completed\n", age_seconds=7200)
    ftp = _login(server)
    try:
        assert _names(ftp.nlst("/from_moodle")) == {"completions.csv"}
        ftp.voidcmd("TYPE I")
        stamp = ftp.sendcmd("MDTM /from_moodle/completions.csv")[4:].strip()  # UTC
        assert abs(calendar.timegm(time.strptime(stamp, "%Y%m%d%H%M%S")) - (time.time() - 7200)) < 5
        buf = io.BytesIO()
        ftp.retrbinary("RETR /from_moodle/completions.csv", buf.write)
        assert buf.getvalue() == b"idnumber,completed\n"
        ftp.mkd("/from_moodle/processed")
        ftp.rename("/from_moodle/completions.csv", "/from_moodle/processed/completions.csv")
        server.put("/from_moodle/old.csv", "x")
        ftp.delete("/from_moodle/old.csv")
    finally:
        ftp.quit()
    assert server.files("/from_moodle") == []
    assert server.files("/from_moodle/processed") == ["completions.csv"]


def test_ftp_user_is_chrooted_to_root(real_ftp_server):
    server = real_ftp_server
    ftp = _login(server)
    try:
        ftp.cwd("..")
        assert ftp.pwd() == "/"
        ftp.storbinary("STOR /../escape.txt", io.BytesIO(b"x"))
    finally:
        ftp.quit()
    assert server.files("/") == ["escape.txt"]


def test_ftp_conn_uri_is_an_airflow_connection(real_ftp_server, monkeypatch):
    server = real_ftp_server
    uri = urlsplit(server.conn_uri)
    assert (uri.scheme, uri.hostname, uri.port) == ("ftp", "127.0.0.1", server.port)
    assert (unquote(uri.username), unquote(uri.password)) == (server.user, server.password)
    assert parse_qs(uri.query) == ({"tls": ["true"]} if server.tls else {})
    server.use_as(monkeypatch)
    assert os.environ["AIRFLOW_CONN_MOODLE_FTP"] == server.conn_uri
    if server.tls:
        assert os.environ["SSL_CERT_FILE"] == str(server.ca_file)


def test_ftps_refuses_a_login_without_tls(proftpd_tls_server):
    ftp = ftplib.FTP(timeout=15)
    ftp.connect("127.0.0.1", proftpd_tls_server.port)
    try:
        with pytest.raises(ftplib.error_perm, match="TLS required"):
            ftp.login(proftpd_tls_server.user, proftpd_tls_server.password)
    finally:
        ftp.close()


def test_ftps_requires_tls_session_reuse_on_data_connections(proftpd_tls_server):
    """Stock ``ftplib.FTP_TLS`` opens each data connection with a new TLS session: ProFTPD's
    default refuses it (a client must resume the control connection's session)."""
    server = proftpd_tls_server
    ftp = ftplib.FTP_TLS(context=ssl.create_default_context(cafile=str(server.ca_file)), timeout=15)
    ftp.connect("127.0.0.1", server.port)
    try:
        ftp.login(server.user, server.password)
        ftp.prot_p()
        with pytest.raises(ftplib.error_temp, match="^425"):
            ftp.nlst("/")
    finally:
        ftp.close()
    assert "client did not reuse TLS session" in server.log_text()


def test_ftps_with_an_untrusted_ca_fails(proftpd_tls_server):
    server = proftpd_tls_server
    ftp = SessionReuseFTP_TLS(context=ssl.create_default_context(), timeout=15)  # the system's CAs only
    ftp.connect("127.0.0.1", server.port)
    try:
        with pytest.raises(ssl.SSLCertVerificationError):
            ftp.login(server.user, server.password)
    finally:
        ftp.close()


def test_ftps_with_a_certificate_for_another_host_fails():
    with server_or_skip("proftpd-tls", certificate="wrong-host") as server:
        ftp = SessionReuseFTP_TLS(context=ssl.create_default_context(cafile=str(server.ca_file)), timeout=15)
        ftp.connect("127.0.0.1", server.port)
        try:
            with pytest.raises(ssl.SSLCertVerificationError, match="mismatch"):
                ftp.login(server.user, server.password)
        finally:
            ftp.close()


def test_a_server_that_cannot_start_reports_its_own_log():
    reason = real_servers.skip_reason("proftpd")
    if reason:
        pytest.skip(reason)

    class Broken(ProFtpd):
        def _write_config(self):
            super()._write_config()
            with open(self.conf / "proftpd.conf", "a") as conf:
                conf.write("NoSuchDirective on\n")

    server = Broken()
    with pytest.raises(ServerStartError, match="NoSuchDirective"):
        server.start(timeout=10)
    assert not server.dir.exists()


def test_stopping_ends_the_server_and_its_sessions(proftpd_server):
    server = proftpd_server
    ftp = _login(server)
    master = server.proc.pid
    sessions = real_servers._descendants(master)
    assert sessions, "ProFTPD forks one process per session"
    server.stop()
    assert all(_gone(pid) for pid in [master, *sessions])
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", server.port), timeout=2).close()
    ftp.close()
    assert not server.dir.exists()


# --- SFTP: OpenSSH's sshd with a chrooted internal-sftp user --------------------------------


def _sftp(
    server, commands: str, *, password: bool = False, known_hosts: Path | None = None
) -> subprocess.CompletedProcess:
    """Run OpenSSH's sftp in batch mode (commands prefixed with ``-`` may fail)."""
    if not shutil.which("sftp"):
        pytest.skip(f"the sftp client is not installed (openssh-client): run `{INSTALL_HINT}`")
    batch = server.conf / f"batch-{time.monotonic_ns()}"
    batch.write_text(commands)
    options = server.client_options()
    if known_hosts is not None:  # ssh takes the first value given for an option
        options = ["-o", f"UserKnownHostsFile={known_hosts}", *options]
    env = dict(os.environ)
    if password:
        askpass = server.conf / "askpass"
        askpass.write_text(f"#!/bin/sh\necho '{server.password}'\n")
        askpass.chmod(0o700)
        env.update(SSH_ASKPASS=str(askpass), SSH_ASKPASS_REQUIRE="force", DISPLAY="none")
        options += [
            "-o",
            "BatchMode=no",
            "-o",
            "PubkeyAuthentication=no",
            "-o",
            "PreferredAuthentications=password",
            "-o",
            "NumberOfPasswordPrompts=1",
        ]
    else:
        options += ["-o", "BatchMode=yes", "-o", "PasswordAuthentication=no", "-i", str(server.client_key_file)]
    return subprocess.run(
        ["sftp", *options, "-P", str(server.port), "-b", str(batch), f"{server.user}@127.0.0.1"],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        env=env,
    )


def test_sftp_key_login_upload_list_rename(sftp_server, tmp_path):
    server = sftp_server
    local = tmp_path / "users.csv"
    local.write_bytes(DATA)
    done = _sftp(
        server,
        f"put {local} /to_moodle/users.csv.part\nls -1 /to_moodle\n"
        "rename /to_moodle/users.csv.part /to_moodle/users.csv\nls -1 /to_moodle\n",
    )
    assert done.returncode == 0, done.stderr + server.log_text()
    assert "/to_moodle/users.csv.part\n" in done.stdout and done.stdout.endswith("/to_moodle/users.csv\n")
    assert server.files("/to_moodle") == ["users.csv"]
    landed = server.path("/to_moodle/users.csv")
    assert landed.read_bytes() == DATA
    assert (landed.stat().st_uid, landed.stat().st_gid) == (server.uid, server.gid)


def test_sftp_password_login_and_files_put_by_the_test(sftp_server, tmp_path):
    server = sftp_server
    server.put("/from_moodle/completions.csv", "idnumber\n")
    got = tmp_path / "got.csv"
    done = _sftp(
        server,
        f"get /from_moodle/completions.csv {got}\nrename /from_moodle/completions.csv /from_moodle/done.csv\n",
        password=True,
    )
    assert done.returncode == 0, done.stderr + server.log_text()
    assert got.read_text() == "idnumber\n"
    assert server.files("/from_moodle") == ["done.csv"]
    assert "Accepted password for" in server.log_text()


def test_sftp_user_is_chrooted_with_the_sync_folders(sftp_server):
    server = sftp_server
    done = _sftp(server, "ls -1 /\n-mkdir /elsewhere\n")
    assert done.returncode == 0, done.stderr
    assert [line for line in done.stdout.splitlines() if not line.startswith("sftp>")] == ["/from_moodle", "/to_moodle"]
    assert 'remote mkdir "/elsewhere": Permission denied' in done.stderr
    assert server.root.stat().st_uid == 0
    assert f'Changed root directory to "{server.root}"' in server.log_text()


def test_sftp_an_unknown_host_key_is_refused(sftp_server, tmp_path):
    server = sftp_server
    other = tmp_path / "known_hosts"
    other.write_text(f"[127.0.0.1]:{server.port} {server.client_public_key}\n")  # some other key
    done = _sftp(server, "ls /\n", known_hosts=other)
    assert done.returncode != 0 and "Host key verification failed" in done.stderr


def test_sftp_connection_and_host_key(sftp_server):
    server = sftp_server
    conn = json.loads(server.conn_uri)
    assert conn["conn_type"] == "sftp" and (conn["host"], conn["port"]) == ("127.0.0.1", server.port)
    assert (conn["login"], conn["password"]) == (server.user, server.password)
    assert conn["extra"] == {
        "key_file": str(server.client_key_file),
        "host_key": server.host_key,
        "no_host_key_check": False,
    }
    assert server.host_key.startswith("ssh-ed25519 AAAA")
    assert server.known_hosts == f"[127.0.0.1]:{server.port} {server.host_key}"
    assert server.known_hosts_file.read_text() == server.known_hosts + "\n"
    assert Path(server.client_key_file).read_text().startswith("-----BEGIN OPENSSH PRIVATE KEY-----")


def test_stopping_sshd_ends_its_sessions(sftp_server):
    """sshd's session processes leave its process group (setsid): stop() ends them too."""
    server = sftp_server
    client = subprocess.Popen(
        [
            "sftp",
            *server.client_options(),
            "-o",
            "BatchMode=yes",
            "-i",
            str(server.client_key_file),
            "-P",
            str(server.port),
            f"{server.user}@127.0.0.1",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while "Starting session" not in server.log_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        sessions = real_servers._descendants(server.proc.pid)
        assert sessions, server.log_text()
        server.stop()
        assert all(_gone(pid) for pid in sessions)
        client.stdin.write("ls /\n")  # the client finds the connection closed
        client.stdin.close()
        assert client.wait(timeout=20) != 0
    finally:
        client.kill()
        client.wait()
