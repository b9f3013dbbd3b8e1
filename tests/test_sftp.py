"""MoodleSftp (powerpro_moodle/sftp.py) against a real OpenSSH sshd (tests/real_servers.py: a
chrooted internal-sftp user; "/" is root's, /to_moodle and /from_moodle the user's), reached the
way the DAGs reach it: ``open_moodle_server("moodle_ftp")`` with AIRFLOW_CONN_MOODLE_FTP set.

Logins by password and by key; the host key from the extra host_key, a known_hosts file, or
~/.ssh/known_hosts, refused when wrong or unknown, unchecked only when the extra says so (with a
warning); the sync's file moves; and timeouts against servers that stop talking. Skipped, with
the command that installs sshd, where it is not installed.

Each test runs with its own empty HOME (no ~/.ssh/known_hosts, config or keys of the machine's)
and no SSH agent.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import re
import signal
import socket
import subprocess
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import paramiko
import pytest
import real_servers
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from powerpro_moodle.moodle_server import Entry, MoodleServerError, open_moodle_server
from powerpro_moodle.sftp import MoodleSftp

sftp_server = real_servers.sftp_server

DATA = b"username,firstname\r\ns1001,Ada\r\n"
DATA_2 = b"username,firstname\r\ns1001,Ada\r\ns1002,Grace\r\n"
#: Seconds a test server that stops talking is given.
SHORT = 2


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch) -> Path:
    """An empty HOME: paramiko and the SSH hook read ~/.ssh/known_hosts, ~/.ssh/config, ~/.ssh/id_*."""
    folder = tmp_path / "home"
    (folder / ".ssh").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(folder))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    return folder


@pytest.fixture
def warnings_logged():
    """WARNING records of powerpro_moodle.sftp (the suite runs with ``-p no:logging``: no caplog)."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("powerpro_moodle.sftp")
    logger.addHandler(handler)
    try:
        yield records
    finally:
        logger.removeHandler(handler)


def use(monkeypatch, server=None, *, drop: tuple[str, ...] = (), **extra) -> None:
    """AIRFLOW_CONN_MOODLE_FTP: the server's own connection (password, key_file, host_key) with
    ``drop`` left out (login fields or extras) and ``extra`` added (None removes)."""
    conn = json.loads(server.conn_uri) if server is not None else {"conn_type": "sftp", "host": "127.0.0.1"}
    conn.setdefault("extra", {})
    conn["extra"]["timeout"] = 20
    for key in drop:
        conn.pop(key, None)
        conn["extra"].pop(key, None)
    for key, value in extra.items():
        if value is None:
            conn["extra"].pop(key, None)
        else:
            conn["extra"][key] = value
    monkeypatch.setenv("AIRFLOW_CONN_MOODLE_FTP", json.dumps(conn))


def some_host_key() -> str:
    """A valid ed25519 public key line that is no server's."""
    key = Ed25519PrivateKey.generate().public_key()
    return key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


def in_words(message: str) -> None:
    """Staff read these: no Python class names, no library names."""
    assert not re.search(r"\b[A-Z]\w*(Error|Exception)\b", message), message
    assert "paramiko" not in message.lower() and "Traceback" not in message, message


def refused(action=lambda s: None) -> str:
    """The message of the MoodleServerError ``with open_moodle_server(): action(session)`` raises."""
    with pytest.raises(MoodleServerError) as caught:
        with open_moodle_server("moodle_ftp") as session:
            action(session)
    in_words(str(caught.value))
    return str(caught.value)


def upload(session) -> None:
    session.upload_atomic("/to_moodle", "powerpro_users_1.csv", DATA)


def session_processes(server) -> list[int]:
    """sshd's per-connection processes (children of the listener)."""
    return real_servers._descendants(server.proc.pid)


# --- logins ---------------------------------------------------------------------------------------


def test_password_login_and_an_atomic_upload_that_replaces(sftp_server, monkeypatch):
    use(monkeypatch, sftp_server, drop=("key_file",))
    with open_moodle_server("moodle_ftp") as session:
        assert isinstance(session, MoodleSftp)
        assert session.where == f"127.0.0.1:{sftp_server.port}"
        assert session.upload_atomic("/to_moodle", "powerpro_users_1.csv", DATA) == "/to_moodle/powerpro_users_1.csv"
        assert sftp_server.files("/to_moodle") == ["powerpro_users_1.csv"]
        session.upload_atomic("/to_moodle", "powerpro_users_1.csv", DATA_2)  # a re-run replaces it
    assert sftp_server.files("/to_moodle") == ["powerpro_users_1.csv"]  # no .part left
    assert sftp_server.path("/to_moodle/powerpro_users_1.csv").read_bytes() == DATA_2
    assert os.stat(sftp_server.path("/to_moodle/powerpro_users_1.csv")).st_uid == sftp_server.uid
    assert "Accepted password for moodleftp" in sftp_server.log_text()


def test_key_login(sftp_server, monkeypatch):
    use(monkeypatch, sftp_server, drop=("password",))
    with open_moodle_server("moodle_ftp") as session:
        upload(session)
    assert sftp_server.path("/to_moodle/powerpro_users_1.csv").read_bytes() == DATA
    assert "Accepted publickey for moodleftp" in sftp_server.log_text()
    assert "Accepted password" not in sftp_server.log_text()


def test_a_wrong_password_is_refused_in_words(sftp_server, monkeypatch):
    use(monkeypatch, sftp_server, drop=("key_file", "password"))
    monkeypatch.setenv(
        "AIRFLOW_CONN_MOODLE_FTP",
        json.dumps({**json.loads(os.environ["AIRFLOW_CONN_MOODLE_FTP"]), "password": "not-the-password"}),
    )
    started = time.monotonic()
    message = refused(upload)
    assert message.startswith(
        f"the Moodle SFTP server 127.0.0.1:{sftp_server.port} refused the login: check the moodle_ftp "
        "connection's login, password or key_file"
    ), message
    assert time.monotonic() - started < 15  # one attempt, not the provider's three with pauses
    assert sftp_server.files("/to_moodle") == []


def test_a_missing_key_file_is_a_configuration_error(sftp_server, monkeypatch, tmp_path):
    use(monkeypatch, sftp_server, drop=("password",), key_file=str(tmp_path / "no_such_key"))
    message = refused(upload)
    assert message.startswith("connection 'moodle_ftp': extra 'key_file' "), message
    assert "is not a file on this machine" in message
    assert sftp_server.files("/to_moodle") == []


def test_a_server_that_is_not_running_is_explained(monkeypatch):
    port = real_servers.free_port()
    monkeypatch.setenv(
        "AIRFLOW_CONN_MOODLE_FTP",
        json.dumps(
            {
                "conn_type": "sftp",
                "host": "127.0.0.1",
                "port": port,
                "login": "moodleftp",
                "password": "x",
                "extra": {"host_key": some_host_key()},
            }
        ),
    )
    message = refused()
    assert message == (
        f"the Moodle SFTP server 127.0.0.1:{port} refused the connection: is it running, and is the port right?"
    )


# --- the host key -------------------------------------------------------------------------------------


def test_host_key_from_a_known_hosts_file(sftp_server, monkeypatch):
    use(monkeypatch, sftp_server, host_key=None, known_hosts=str(sftp_server.known_hosts_file))
    with open_moodle_server("moodle_ftp") as session:
        upload(session)
    assert sftp_server.files("/to_moodle") == ["powerpro_users_1.csv"]


def test_host_key_from_a_hashed_known_hosts_file(sftp_server, monkeypatch, tmp_path):
    hashed = tmp_path / "known_hosts"
    hashed.write_text(sftp_server.known_hosts + "\n")
    subprocess.run(["ssh-keygen", "-H", "-f", str(hashed)], check=True, capture_output=True)
    assert hashed.read_text().startswith("|1|")  # OpenSSH's HashKnownHosts form: no host name in clear
    use(monkeypatch, sftp_server, host_key=None, known_hosts=str(hashed))
    with open_moodle_server("moodle_ftp") as session:
        upload(session)
    assert sftp_server.files("/to_moodle") == ["powerpro_users_1.csv"]


def test_host_key_from_the_users_known_hosts(sftp_server, monkeypatch, home):
    (home / ".ssh/known_hosts").write_text(sftp_server.known_hosts + "\n")
    use(monkeypatch, sftp_server, host_key=None)
    with open_moodle_server("moodle_ftp") as session:
        upload(session)
    assert sftp_server.files("/to_moodle") == ["powerpro_users_1.csv"]


def test_a_wrong_host_key_is_refused_and_nothing_is_sent(sftp_server, monkeypatch):
    other_key = " ".join(sftp_server.client_public_key.split()[:2])  # an ed25519 key, not the server's
    use(monkeypatch, sftp_server, host_key=other_key)
    message = refused(upload)
    assert message.startswith(
        f"the Moodle SFTP server 127.0.0.1:{sftp_server.port} presented a host key that does not match the one "
        "configured (extra host_key or known_hosts): if the server's key really changed, update host_key"
    ), message
    kind, blob = sftp_server.host_key.split()[:2]
    served = paramiko.PKey.from_type_string(kind, base64.b64decode(blob))
    assert f"the server presents ssh-ed25519 {served.fingerprint}" in message
    assert sftp_server.files("/to_moodle") == []
    assert "Accepted" not in sftp_server.log_text()  # no login: the password was never sent


def test_a_stale_known_hosts_entry_is_refused(sftp_server, monkeypatch, tmp_path):
    stale = tmp_path / "known_hosts"
    stale.write_text(f"[127.0.0.1]:{sftp_server.port} {' '.join(sftp_server.client_public_key.split()[:2])}\n")
    use(monkeypatch, sftp_server, host_key=None, known_hosts=str(stale))
    assert "presented a host key that does not match the one configured" in refused(upload)
    assert sftp_server.files("/to_moodle") == []


def test_an_unknown_host_is_refused_and_not_remembered(sftp_server, monkeypatch, home):
    use(monkeypatch, sftp_server, host_key=None)  # no host_key, no known_hosts, empty ~/.ssh
    message = refused(upload)
    assert message.startswith(
        f"the Moodle SFTP server 127.0.0.1:{sftp_server.port} is not known: set the connection extra host_key "
        "(the server's public key, e.g. 'ssh-ed25519 AAAA...') or add it to known_hosts"
    ), message
    assert sftp_server.files("/to_moodle") == []
    assert "Accepted" not in sftp_server.log_text()
    assert list((home / ".ssh").iterdir()) == []  # nothing auto-added


def test_a_known_hosts_file_without_the_server_is_unknown(sftp_server, monkeypatch, tmp_path):
    elsewhere = tmp_path / "known_hosts"
    elsewhere.write_text(f"[127.0.0.1]:{sftp_server.port + 1} {sftp_server.host_key}\n")
    use(monkeypatch, sftp_server, host_key=None, known_hosts=str(elsewhere))
    assert " is not known: " in refused(upload)
    assert sftp_server.files("/to_moodle") == []


def test_a_missing_known_hosts_file_is_a_configuration_error(sftp_server, monkeypatch, tmp_path):
    use(monkeypatch, sftp_server, host_key=None, known_hosts=str(tmp_path / "nowhere"))
    message = refused(upload)
    assert message.startswith("connection 'moodle_ftp': extra 'known_hosts' "), message
    assert "is not a file on this machine" in message
    assert sftp_server.files("/to_moodle") == []


@pytest.mark.parametrize("value", ["ssh-ed25519 AAAA-not-base64", "ssh-dss AAAAB3NzaC1kc3MAAACBAP", "AAAAC3Nz"])
def test_an_unusable_host_key_is_a_configuration_error(sftp_server, monkeypatch, value):
    use(monkeypatch, sftp_server, host_key=value)
    message = refused(upload)
    assert message.startswith("connection 'moodle_ftp': the extra host_key "), message
    assert "e.g. 'ssh-ed25519 AAAA...'" in message
    assert sftp_server.files("/to_moodle") == []


def test_no_host_key_check_connects_warns_and_writes_no_known_hosts(sftp_server, monkeypatch, home, warnings_logged):
    users_known_hosts = home / ".ssh/known_hosts"
    users_known_hosts.write_text("")  # paramiko would save into it (AutoAddPolicy) were it loaded
    use(monkeypatch, sftp_server, host_key=None, no_host_key_check=True)
    with open_moodle_server("moodle_ftp") as session:
        upload(session)
    assert sftp_server.files("/to_moodle") == ["powerpro_users_1.csv"]
    said = [r.getMessage() for r in warnings_logged if r.levelno == logging.WARNING]
    assert any(f"host key of the Moodle SFTP server 127.0.0.1:{sftp_server.port} is not checked" in m for m in said)
    assert users_known_hosts.read_text() == ""


@pytest.mark.parametrize("value", [False, "false", "no"])
def test_no_host_key_check_other_than_true_still_checks(sftp_server, monkeypatch, value, warnings_logged):
    use(monkeypatch, sftp_server, host_key=None, no_host_key_check=value)
    assert " is not known: " in refused(upload)
    assert warnings_logged == []


def test_allow_host_key_change_is_refused(sftp_server, monkeypatch):
    use(monkeypatch, sftp_server, allow_host_key_change=True)
    message = refused(upload)
    assert "allow_host_key_change" in message and "host_key" in message
    assert sftp_server.files("/to_moodle") == []


# --- the sync's file moves ------------------------------------------------------------------


def test_a_leftover_part_file_is_removed_by_the_next_upload(sftp_server, monkeypatch, warnings_logged):
    sftp_server.put("/to_moodle/powerpro_users_0.csv.part", "half written")
    sftp_server.put("/to_moodle/someone_else.csv.part", "not ours")
    use(monkeypatch, sftp_server)
    with open_moodle_server("moodle_ftp") as session:
        upload(session)
    assert sftp_server.files("/to_moodle") == ["powerpro_users_1.csv", "someone_else.csv.part"]


def test_entries_and_stat_match_the_disk(sftp_server, monkeypatch):
    sftp_server.put("/from_moodle/b.csv", "12345", age_seconds=7200)
    sftp_server.put("/from_moodle/a.csv", "", age_seconds=60)
    sftp_server.mkdir("/from_moodle/processed")
    use(monkeypatch, sftp_server)
    with open_moodle_server("moodle_ftp") as session:
        listed = session.entries("/from_moodle")
        stat_b = session.stat("/from_moodle/b.csv")
        assert session.stat("/from_moodle/processed") is None  # a folder
        assert session.stat("/from_moodle/nope.csv") is None
        assert session.entries("/from_moodle/nope") == []
        assert session.entries("/to_moodle") == []
        assert session.list_files("/from_moodle", ".CSV") == ["a.csv", "b.csv"]

    def on_disk(name: str, kind: str) -> Entry:
        found = os.stat(sftp_server.path(f"/from_moodle/{name}"))
        return Entry(
            name, kind, found.st_size if kind == "file" else None, datetime.fromtimestamp(int(found.st_mtime), UTC)
        )

    assert listed == [on_disk("a.csv", "file"), on_disk("b.csv", "file"), on_disk("processed", "folder")]
    assert stat_b == on_disk("b.csv", "file") and stat_b.size == 5
    assert stat_b.modified.tzinfo is UTC
    assert abs((datetime.now(UTC) - stat_b.modified).total_seconds() - 7200) < 60


def test_reserve_and_rename_never_overwrite(sftp_server, monkeypatch):
    sftp_server.put("/from_moodle/c.csv", "new")
    sftp_server.put("/from_moodle/processed/c.csv", "first")
    sftp_server.put("/from_moodle/processed/c-2.csv", "second")
    use(monkeypatch, sftp_server)
    with open_moodle_server("moodle_ftp") as session:
        assert session.free_name("/from_moodle/processed", "c.csv") == "c-3.csv"
        target = session.reserve("/from_moodle/processed", "c.csv")
        assert target == "/from_moodle/processed/c-3.csv"
        with pytest.raises(MoodleServerError) as caught:  # onto a taken name: refused, not replaced
            session.rename("/from_moodle/c.csv", "/from_moodle/processed/c.csv")
        session.rename("/from_moodle/c.csv", target)
        rejected = session.reserve("/from_moodle/rejected/2025", "c.csv")  # folders made on demand
    in_words(str(caught.value))
    assert "is there already, and the sync does not overwrite" in str(caught.value)
    assert rejected == "/from_moodle/rejected/2025/c.csv"
    assert sftp_server.path("/from_moodle/rejected/2025").is_dir()
    assert sftp_server.files("/from_moodle") == []
    assert {
        n: sftp_server.path(f"/from_moodle/processed/{n}").read_text()
        for n in sftp_server.files("/from_moodle/processed")
    } == {"c.csv": "first", "c-2.csv": "second", "c-3.csv": "new"}


def test_read_write_delete(sftp_server, monkeypatch):
    sftp_server.put("/from_moodle/x.csv", DATA)
    use(monkeypatch, sftp_server)
    with open_moodle_server("moodle_ftp") as session:
        assert session.read("/from_moodle/x.csv") == DATA
        session.write("/from_moodle/x.csv", b"shorter")  # replaces, truncated
        session.delete("/from_moodle/x.csv")
        session.write("/from_moodle/y.csv", b"")
        with pytest.raises(MoodleServerError) as caught:
            session.read("/from_moodle/missing.csv")
    assert str(caught.value) == (
        f"the Moodle SFTP server 127.0.0.1:{sftp_server.port} could not read /from_moodle/missing.csv: "
        "it has no such file or folder"
    )
    assert sftp_server.files("/from_moodle") == ["y.csv"]
    assert sftp_server.path("/from_moodle/y.csv").read_bytes() == b""


def test_write_replaces_a_longer_file(sftp_server, monkeypatch):
    sftp_server.put("/to_moodle/z.csv", DATA_2)
    use(monkeypatch, sftp_server)
    with open_moodle_server("moodle_ftp") as session:
        session.write("/to_moodle/z.csv", DATA)
    assert sftp_server.path("/to_moodle/z.csv").read_bytes() == DATA


def test_folders_in_the_chroot(sftp_server, monkeypatch):
    use(monkeypatch, sftp_server)
    with open_moodle_server("moodle_ftp") as session:
        session.make_folder("/to_moodle")  # exists, in the root-owned "/": not an error
        session.ensure_folder("/from_moodle/processed/2025")
        session.make_folder("/from_moodle/processed")  # now exists
        with pytest.raises(MoodleServerError) as caught:
            session.make_folder("/elsewhere")  # "/" is root's
    in_words(str(caught.value))
    assert str(caught.value).startswith(
        f"the Moodle SFTP server 127.0.0.1:{sftp_server.port} could not create the folder /elsewhere: it refused "
        "permission: check that the moodle_ftp connection's login may do this there"
    ), caught.value
    assert sftp_server.path("/from_moodle/processed/2025").is_dir()
    assert not sftp_server.path("/elsewhere").exists()


# --- timeouts -----------------------------------------------------------------------------------


@contextlib.contextmanager
def silent_listener():
    """A TCP server on 127.0.0.1 that accepts connections and never says a word."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            with contextlib.suppress(OSError):
                accepted.append(listener.accept()[0])

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], accepted
    finally:
        stop.set()
        thread.join(5)
        for conn in accepted:
            conn.close()
        listener.close()


def test_a_server_that_never_speaks_fails_within_the_timeout(monkeypatch):
    with silent_listener() as (port, accepted):
        monkeypatch.setenv(
            "AIRFLOW_CONN_MOODLE_FTP",
            json.dumps(
                {
                    "conn_type": "sftp",
                    "host": "127.0.0.1",
                    "port": port,
                    "login": "moodleftp",
                    "password": "x",
                    "extra": {"host_key": some_host_key(), "timeout": SHORT},
                }
            ),
        )
        started = time.monotonic()
        message = refused(upload)
        took = time.monotonic() - started
        assert accepted  # TCP was accepted: it is the SSH greeting that never came
    assert message == f"the Moodle SFTP server 127.0.0.1:{port} did not answer within {SHORT} s"
    assert SHORT - 0.5 <= took < SHORT + 3


def test_the_providers_conn_timeout_is_used_without_timeout(monkeypatch):
    with silent_listener() as (port, _):
        monkeypatch.setenv(
            "AIRFLOW_CONN_MOODLE_FTP",
            json.dumps(
                {
                    "conn_type": "sftp",
                    "host": "127.0.0.1",
                    "port": port,
                    "login": "moodleftp",
                    "extra": {"host_key": some_host_key(), "conn_timeout": 1},
                }
            ),
        )
        started = time.monotonic()
        assert refused().endswith("did not answer within 1 s")
        assert time.monotonic() - started < 4


def test_a_server_that_stops_mid_session_fails_within_the_timeout(sftp_server, monkeypatch):
    use(monkeypatch, sftp_server, timeout=SHORT)
    stopped: list[int] = []
    try:
        with pytest.raises(MoodleServerError) as caught:
            with open_moodle_server("moodle_ftp") as session:
                upload(session)
                for pid in session_processes(sftp_server):  # the session's sshd and sftp-server freeze
                    os.kill(pid, signal.SIGSTOP)
                    stopped.append(pid)
                started = time.monotonic()
                try:
                    session.entries("/to_moodle")
                finally:
                    took = time.monotonic() - started
    finally:
        for pid in stopped:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
    assert stopped
    assert str(caught.value) == (
        f"the Moodle SFTP server 127.0.0.1:{sftp_server.port} could not list the folder /to_moodle: "
        f"it did not answer within {SHORT} s"
    )
    assert took < SHORT + 3
    assert sftp_server.files("/to_moodle") == ["powerpro_users_1.csv"]


class _LoginButNoSftp(paramiko.ServerInterface):
    """Takes any password and the sftp subsystem request, then never answers SFTP's hello."""

    def get_allowed_auths(self, username):
        return "password"

    def check_auth_password(self, username, password):
        return paramiko.AUTH_SUCCESSFUL

    def check_channel_request(self, kind, chanid):
        return paramiko.OPEN_SUCCEEDED

    def check_channel_subsystem_request(self, channel, name):
        return True


def test_a_server_that_never_starts_sftp_fails_within_the_timeout(monkeypatch):
    host_key = paramiko.RSAKey.generate(2048)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    transports: list[paramiko.Transport] = []

    def serve() -> None:
        with contextlib.suppress(OSError):
            conn, _ = listener.accept()
            transport = paramiko.Transport(conn)
            transport.add_server_key(host_key)
            transports.append(transport)
            transport.start_server(server=_LoginButNoSftp())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    monkeypatch.setenv(
        "AIRFLOW_CONN_MOODLE_FTP",
        json.dumps(
            {
                "conn_type": "sftp",
                "host": "127.0.0.1",
                "port": port,
                "login": "moodleftp",
                "password": "x",
                "extra": {"host_key": f"ssh-rsa {host_key.get_base64()}", "timeout": SHORT, "look_for_keys": False},
            }
        ),
    )
    try:
        started = time.monotonic()
        message = refused(upload)
        took = time.monotonic() - started
    finally:
        listener.close()
        thread.join(5)
        for transport in transports:
            transport.close()
    assert transports  # it did log in: it is SFTP that never started
    assert message == f"the Moodle SFTP server 127.0.0.1:{port} did not answer within {SHORT} s"
    assert took < 2 * SHORT + 3  # the key exchange and login, then at most SHORT for SFTP
