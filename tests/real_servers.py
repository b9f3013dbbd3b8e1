"""Real servers that RTOs' Moodle hosts run, for the tests: ProFTPD (FTP, and explicit FTPS with
mod_tls), Pure-FTPd (FTP) and OpenSSH's sshd (SFTP through a chrooted ``internal-sftp`` user).

Each one runs as an ordinary process (its own process group) on a free 127.0.0.1 port, with its
own config file in a temporary folder, and is stopped (the group and every process it forked
killed) when the test ends. Install the servers once with ``sudo bash
scripts/install-test-servers.sh``; :func:`skip_reason` says why a kind cannot run here.

A started server has the interface of conftest's ``FtpServer`` (``root``, ``port``, ``path()``,
``files()``, ``put()``, ``age()``) plus ``kind``, ``conn_uri`` (the value for
``AIRFLOW_CONN_MOODLE_FTP``), ``user``, ``password``, ``log_text()`` and ``use_as()``::

    with start_server("proftpd", tls=True) as server:
        server.use_as(monkeypatch)           # AIRFLOW_CONN_MOODLE_FTP (and SSL_CERT_FILE for FTPS)
        server.put("/from_moodle/a.csv", "x")

or the pytest fixtures ``proftpd_server``, ``proftpd_tls_server``, ``pure_ftpd_server``,
``sftp_server`` and ``real_ftp_server`` (parametrised over the FTP kinds).

Must run as root: the servers switch to the system user ``moodleftp`` (created here once, with
``useradd``), which owns what the FTP user may write; ``put()`` hands files to it. The folders
live under ``/var/lib/powerpro-moodle-test-servers`` (``$REAL_SERVERS_DIR``), not under ``/tmp``:
sshd's ChrootDirectory refuses a path with a world-writable component such as ``/tmp``.
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime
import fcntl
import ftplib
import ipaddress
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest

#: Where the servers' folders go (each server gets its own, removed when it stops).
BASE = Path(os.environ.get("REAL_SERVERS_DIR", "/var/lib/powerpro-moodle-test-servers"))
#: Where scripts/install-test-servers.sh unpacks Pure-FTPd (Debian's proftpd-core and pure-ftpd
#: packages conflict: both provide ftp-server).
PURE_FTPD_PREFIX = Path(os.environ.get("PURE_FTPD_PREFIX", "/opt/powerpro-moodle-test-servers/pure-ftpd"))
#: Seconds a server may take to accept connections (a loaded 2-core machine is slow).
START_TIMEOUT = float(os.environ.get("REAL_SERVERS_START_TIMEOUT", "20"))

#: The system user every server runs its sessions as (owner of what the client writes).
SYSTEM_USER = "moodleftp"
#: The FTP servers' virtual user (mapped to SYSTEM_USER's uid and gid).
FTP_USER, FTP_PASSWORD = "moodle", "ftp-Secr3t-pw"
#: The SFTP login: sshd needs a real account, so it is the system user itself.
SFTP_USER, SFTP_PASSWORD = SYSTEM_USER, "sftp-Secr3t-pw"

#: Passive data ports (below Linux's ephemeral range 32768-60999, where the control ports come from).
PASSIVE_PORTS = {"proftpd": (30000, 31999), "pure-ftpd": (28000, 29999)}

#: The folders the sync uses; created (owned by the user) inside the SFTP chroot, whose top is root's.
SYNC_FOLDERS = ("/to_moodle", "/from_moodle")

INSTALL_HINT = "sudo bash scripts/install-test-servers.sh"
KINDS = ("proftpd", "proftpd-tls", "pure-ftpd", "sftp")


class ServerStartError(RuntimeError):
    """A server did not come up; the message carries its own log."""


# --- what is installed ----------------------------------------------------------------------


def _binary(name: str, *folders: Path | str) -> str | None:
    search = [str(f) for f in folders] + ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
    return shutil.which(name, path=os.pathsep.join(search))


def proftpd_binary() -> str | None:
    return _binary("proftpd")


def proftpd_module_dir() -> Path:
    return Path(os.environ.get("PROFTPD_MODULE_DIR", "/usr/lib/proftpd"))


def pure_ftpd_binaries() -> tuple[str | None, str | None]:
    """(pure-ftpd, pure-pw): the unpacked copy first, then the system's."""
    return (
        _binary("pure-ftpd", PURE_FTPD_PREFIX / "usr/sbin"),
        _binary("pure-pw", PURE_FTPD_PREFIX / "usr/bin"),
    )


def sshd_binary() -> str | None:
    return _binary("sshd")


def skip_reason(kind: str) -> str | None:
    """Why ``kind`` (one of KINDS) cannot run here, in one line; None when it can."""
    if kind not in KINDS:
        raise ValueError(f"unknown server kind {kind!r}: one of {KINDS}")
    if os.geteuid() != 0:
        return f"{kind} test server needs root (it switches to the user {SYSTEM_USER})"
    missing = []
    if kind.startswith("proftpd"):
        if not proftpd_binary():
            missing.append("proftpd")
        elif kind == "proftpd-tls" and not (proftpd_module_dir() / "mod_tls.so").exists():
            missing.append("ProFTPD's mod_tls.so (proftpd-mod-crypto)")
    elif kind == "pure-ftpd":
        missing += [name for name, path in zip(("pure-ftpd", "pure-pw"), pure_ftpd_binaries(), strict=True) if not path]
    elif kind == "sftp":
        missing += [name for name in ("sshd", "ssh-keygen") if not _binary(name)]
        if not missing:
            try:
                pwd.getpwnam("sshd")  # sshd's privilege separation user (made by openssh-server)
            except KeyError:
                missing.append("the sshd privilege separation user")
    if missing:
        return f"{kind} test server not installed ({', '.join(missing)} missing): run `{INSTALL_HINT}`"
    return None


def available(kind: str) -> bool:
    """Whether ``kind`` (one of KINDS) can be started here."""
    return skip_reason(kind) is None


# --- the system user ------------------------------------------------------------------------


@contextlib.contextmanager
def _machine_lock() -> Iterator[None]:
    """Serialise useradd/chpasswd between pytest-xdist workers (and concurrent runs)."""
    BASE.mkdir(mode=0o755, parents=True, exist_ok=True)
    with open(BASE / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


_user_ready: tuple[int, int] | None = None


def system_user() -> tuple[int, int]:
    """(uid, gid) of SYSTEM_USER: created once (no home, no login shell) with SFTP_PASSWORD."""
    global _user_ready
    if _user_ready is None:
        with _machine_lock():
            try:
                pwd.getpwnam(SYSTEM_USER)
            except KeyError:
                _run(
                    [
                        "useradd",
                        "--system",
                        "--user-group",
                        "--no-create-home",
                        "--home-dir",
                        "/",
                        "--shell",
                        "/usr/sbin/nologin",
                        "--comment",
                        "PowerPro-Moodle test servers",
                        SYSTEM_USER,
                    ]
                )
            # sshd (UsePAM no) checks /etc/shadow; a locked account ("!") refuses even keys.
            _run(["chpasswd"], input=f"{SYSTEM_USER}:{SFTP_PASSWORD}\n")
            entry = pwd.getpwnam(SYSTEM_USER)
            _user_ready = (entry.pw_uid, entry.pw_gid)
    return _user_ready


def _run(cmd: list[str], input: str | None = None) -> str:
    done = subprocess.run(cmd, input=input, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ServerStartError(
            f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}"
        )
    return done.stdout


def _crypt(password: str) -> str:
    """A SHA-512 crypt(3) hash (what /etc/shadow and ProFTPD's AuthUserFile take)."""
    lib = ctypes.CDLL("libcrypt.so.1")
    lib.crypt.restype = ctypes.c_char_p
    lib.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    salt = "$6$" + secrets.token_hex(8) + "$"
    hashed = lib.crypt(password.encode(), salt.encode())
    if not hashed or not hashed.startswith(b"$6$"):
        raise ServerStartError("crypt(3) could not hash the test password")
    return hashed.decode()


# --- certificates for FTPS ------------------------------------------------------------------


@dataclass(frozen=True)
class TlsFiles:
    """A private CA and two server certificates it signed (PEM files)."""

    ca_file: Path  # the CA certificate: what a client trusts
    cert_file: Path  # for 127.0.0.1 and localhost
    key_file: Path
    wrong_host_cert_file: Path  # for wrong.example only
    wrong_host_key_file: Path


def make_tls_files(folder: Path) -> TlsFiles:
    """Write a CA, a server certificate for IP:127.0.0.1/DNS:localhost and one for
    DNS:wrong.example (both signed by the CA, valid for a day) into ``folder``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)

    def pem_key(key) -> bytes:
        return key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "PowerPro-Moodle test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    def server(common_name: str, names: list[x509.GeneralName]) -> tuple[bytes, bytes]:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        return cert.public_bytes(serialization.Encoding.PEM), pem_key(key)

    good = server("127.0.0.1", [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")])
    wrong = server("wrong.example", [x509.DNSName("wrong.example")])
    folder.mkdir(parents=True, exist_ok=True)
    files = TlsFiles(
        folder / "ca.pem",
        folder / "server.pem",
        folder / "server.key",
        folder / "wrong-host.pem",
        folder / "wrong-host.key",
    )
    files.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    for path, data in ((files.cert_file, good[0]), (files.wrong_host_cert_file, wrong[0])):
        path.write_bytes(data)
    for path, data in ((files.key_file, good[1]), (files.wrong_host_key_file, wrong[1])):
        path.touch(mode=0o600)
        path.write_bytes(data)
    return files


class SessionReuseFTP_TLS(ftplib.FTP_TLS):
    """``ftplib.FTP_TLS`` that resumes the control connection's TLS session on each data
    connection, as ProFTPD (and vsftpd, FileZilla Server) require by default: without it
    the server refuses the transfer with ``425 Unable to build data connection``/``522``."""

    def ntransfercmd(self, cmd, rest=None):
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:
            conn = self.context.wrap_socket(conn, server_hostname=self.host, session=self.sock.session)
        return conn, size


# --- the servers ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _descendants(pid: int) -> list[int]:
    """Every live process forked (directly or not) from ``pid``, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


class RealServer:
    """A server process with conftest ``FtpServer``'s interface; a context manager (stops it)."""

    kind = "?"
    user = FTP_USER
    password = FTP_PASSWORD
    tls = False
    ca_file: Path | None = None
    #: What the first line the server sends starts with once it is ready.
    banner = b"220"

    def __init__(self, *, base: Path | None = None, keep: bool | None = None) -> None:
        self.uid, self.gid = system_user()
        parent = Path(base) if base is not None else BASE
        parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        self.dir = Path(tempfile.mkdtemp(prefix=f"{self.kind}-", dir=parent))
        self.dir.chmod(0o755)
        self.conf = self.dir / "conf"  # config, keys and logs: root's
        self.conf.mkdir(mode=0o755)
        self.root = self.dir / "home"  # the user's home; the FTP servers chroot it there
        self.log_file = self.conf / "server.log"
        self.keep = keep if keep is not None else bool(os.environ.get("REAL_SERVERS_KEEP"))
        self.port = 0
        self.proc: subprocess.Popen | None = None

    # conftest FtpServer's interface ---------------------------------------------------------

    def path(self, remote: str) -> Path:
        return self.root / remote.lstrip("/")

    def files(self, folder: str) -> list[str]:
        path = self.path(folder)
        return sorted(p.name for p in path.iterdir() if p.is_file()) if path.is_dir() else []

    def put(self, remote: str, data: bytes | str, age_seconds: float = 3600) -> None:
        """Deliver a file (owned by the server's user, so it can be read, renamed, deleted).
        It was written ``age_seconds`` ago; ``age_seconds=0`` is a file just written."""
        target = self.path(remote)
        self.mkdir(str(Path(remote).parent))
        target.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
        os.chown(target, self.uid, self.gid)
        target.chmod(0o644)
        self.age(remote, age_seconds)

    def age(self, remote: str, seconds: float = 3600) -> None:
        """Make a file's last change ``seconds`` ago (it has long stopped changing)."""
        when = time.time() - seconds
        os.utime(self.path(remote), (when, when))

    # more -----------------------------------------------------------------------------------

    def mkdir(self, remote: str) -> Path:
        """Create a folder (and its parents) the server's user owns."""
        path = self.path(remote)
        missing = []
        while not path.exists():
            missing.append(path)
            path = path.parent
        for folder in reversed(missing):
            folder.mkdir(mode=0o755)
            os.chown(folder, self.uid, self.gid)
        return self.path(remote)

    @property
    def conn_uri(self) -> str:
        """``AIRFLOW_CONN_MOODLE_FTP`` for this server."""
        query = "?tls=true" if self.tls else ""
        return f"ftp://{quote(self.user, safe='')}:{quote(self.password, safe='')}@127.0.0.1:{self.port}{query}"

    def use_as(self, monkeypatch: pytest.MonkeyPatch, conn_id: str = "moodle_ftp") -> None:
        """Point the Airflow connection ``conn_id`` at this server (and trust its CA for FTPS)."""
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", self.conn_uri)
        if self.ca_file is not None:
            monkeypatch.setenv("SSL_CERT_FILE", str(self.ca_file))

    def log_text(self, limit: int = 6000) -> str:
        """The end of the server's own log(s)."""
        parts = []
        for log in sorted(self.conf.glob("*.log")):
            with contextlib.suppress(OSError):
                text = log.read_text(errors="replace")
                parts.append(f"--- {log.name} ---\n{text[-limit:]}")
        return "\n".join(parts) or "(no log written)"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.kind} 127.0.0.1:{self.port} root={self.root}>"

    # lifecycle --------------------------------------------------------------------------------

    def _prepare(self) -> None:
        """Write config, users and keys (once)."""
        raise NotImplementedError

    def _command(self) -> list[str]:
        """The command line for the current ``self.port``."""
        raise NotImplementedError

    def start(self, timeout: float = START_TIMEOUT) -> RealServer:
        """Start the server and wait (at most ``timeout`` s) until it greets on ``port``;
        ServerStartError, with the server's own log, otherwise (the folder is removed)."""
        try:
            self._prepare()
        except BaseException:
            self.stop()
            raise
        self._timeout = timeout
        deadline = time.monotonic() + timeout
        for attempt in range(3):
            self.port = free_port()
            self._write_config()
            log = open(self.log_file, "ab")
            try:
                self.proc = subprocess.Popen(
                    self._command(),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    close_fds=True,
                )
            finally:
                log.close()
            try:
                self._wait_ready(deadline)
                return self
            except ServerStartError:
                in_use = "in use" in self.log_text().lower()
                self._kill()
                if not in_use or attempt == 2 or time.monotonic() > deadline:
                    self.stop()
                    raise
                # another process took the port between free_port() and the bind: next port
        raise AssertionError("unreachable")

    def _write_config(self) -> None:
        """(Re)write what depends on the port."""

    def _wait_ready(self, deadline: float) -> None:
        assert self.proc is not None
        while True:
            if self.proc.poll() is not None:
                raise ServerStartError(
                    f"{self.kind} exited with code {self.proc.returncode} before accepting connections on "
                    f"127.0.0.1:{self.port}; command: {' '.join(self._command())}\n{self.log_text()}"
                )
            with contextlib.suppress(OSError):
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as probe:
                    probe.settimeout(max(0.5, min(5.0, deadline - time.monotonic())))
                    if probe.recv(64).startswith(self.banner):
                        return
            if time.monotonic() > deadline:
                raise ServerStartError(
                    f"{self.kind} did not greet on 127.0.0.1:{self.port} within {self._timeout:g} s "
                    "($REAL_SERVERS_START_TIMEOUT); "
                    f"command: {' '.join(self._command())}\n{self.log_text()}"
                )
            time.sleep(0.02)

    def _kill(self) -> None:
        """SIGTERM the process group and every process it forked (sshd's sessions leave the
        group with setsid), then SIGKILL what is still there after 5 s."""
        if self.proc is None:
            return
        pids = _descendants(self.proc.pid)
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, sig)
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, sig)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                continue
            if sig == signal.SIGTERM:
                # the master is gone; give its session processes a moment, then make sure
                time.sleep(0.05)
                if not any(Path(f"/proc/{p}").exists() for p in pids):
                    break
        self.proc = None

    def stop(self) -> None:
        """Stop the server and remove its folder (kept with $REAL_SERVERS_KEEP=1)."""
        self._kill()
        if not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> RealServer:
        if self.proc is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class ProFtpd(RealServer):
    """ProFTPD 1.3.8 (Debian's proftpd-core): a virtual user ``moodle`` from an AuthUserFile,
    mapped to SYSTEM_USER, chrooted to its home (``DefaultRoot ~``).

    With ``tls=True``: explicit FTPS through mod_tls (``TLSRequired on``: control and data),
    with the server's default of requiring TLS session reuse on data connections; ``ca_file``
    is the CA a client must trust. ``certificate="wrong-host"`` serves a certificate (from the
    same CA) for ``wrong.example`` instead of 127.0.0.1/localhost.
    """

    kind = "proftpd"

    def __init__(self, *, tls: bool = False, certificate: str = "good", **kwargs) -> None:
        if certificate not in ("good", "wrong-host"):
            raise ValueError("certificate: 'good' or 'wrong-host'")
        super().__init__(**kwargs)
        self.tls, self.certificate = tls, certificate
        self.ca_file = None
        self.tls_files: TlsFiles | None = None

    def _prepare(self) -> None:
        self.root.mkdir(mode=0o755)
        os.chown(self.root, self.uid, self.gid)
        self.passwd_file = self.conf / "ftpd.passwd"
        self.group_file = self.conf / "ftpd.group"
        self.passwd_file.touch(mode=0o600)
        self.passwd_file.write_text(
            f"{FTP_USER}:{_crypt(FTP_PASSWORD)}:{self.uid}:{self.gid}::{self.root}:/bin/false\n"
        )
        self.group_file.touch(mode=0o600)
        self.group_file.write_text(f"{SYSTEM_USER}:x:{self.gid}:{FTP_USER}\n")
        if self.tls:
            self.tls_files = make_tls_files(self.conf / "tls")
            self.ca_file = self.tls_files.ca_file

    def _write_config(self) -> None:
        low, high = PASSIVE_PORTS["proftpd"]
        conf = f"""\
# Written by tests/real_servers.py
ServerType              standalone
ServerName              "ProFTPD test server"
ServerIdent             on "ProFTPD test server ready"
Port                    {self.port}
DefaultAddress          127.0.0.1
SocketBindTight         on
UseIPv6                 off
UseReverseDNS           off
# (IdentLookups belongs to mod_ident, a DSO not loaded here: no ident lookups happen)
PidFile                 {self.conf}/proftpd.pid
ScoreboardFile          {self.conf}/proftpd.scoreboard
DelayTable              {self.conf}/proftpd.delay
SystemLog               {self.conf}/proftpd.log
TransferLog             NONE
WtmpLog                 off
User                    {SYSTEM_USER}
Group                   {SYSTEM_USER}
Umask                   022
MaxInstances            60
TimeoutIdle             600
PassivePorts            {low} {high}
AuthPAM                 off
AuthOrder               mod_auth_file.c
AuthUserFile            {self.passwd_file}
AuthGroupFile           {self.group_file}
RequireValidShell       off
DefaultRoot             ~
AllowOverwrite          on
AllowStoreRestart       on
"""
        if self.tls:
            assert self.tls_files is not None
            good = self.certificate == "good"
            cert = self.tls_files.cert_file if good else self.tls_files.wrong_host_cert_file
            key = self.tls_files.key_file if good else self.tls_files.wrong_host_key_file
            conf += f"""
ModulePath              {proftpd_module_dir()}
LoadModule              mod_tls.c
TLSEngine               on
TLSLog                  {self.conf}/tls.log
TLSProtocol             TLSv1.2 TLSv1.3
TLSRequired             on
TLSECCertificateFile    {cert}
TLSECCertificateKeyFile {key}
TLSCertificateChainFile {self.tls_files.ca_file}
TLSVerifyClient         off
TLSRenegotiate          none
# TLSOptions left at its default: data connections must reuse the control connection's session
"""
        (self.conf / "proftpd.conf").write_text(conf)

    def _command(self) -> list[str]:
        return [proftpd_binary() or "proftpd", "--nodaemon", "--config", str(self.conf / "proftpd.conf")]


class PureFtpd(RealServer):
    """Pure-FTPd 1.0.50: a puredb virtual user ``moodle`` (``pure-pw mkdb``) mapped to
    SYSTEM_USER, chrooted to its home (``-A``), no anonymous logins, no DNS (``-H``)."""

    kind = "pure-ftpd"

    def _prepare(self) -> None:
        self.root.mkdir(mode=0o755)
        os.chown(self.root, self.uid, self.gid)
        _, pure_pw = pure_ftpd_binaries()
        self.pdb = self.conf / "pureftpd.pdb"
        passwd = self.conf / "pureftpd.passwd"
        # What `pure-pw useradd` writes, with a SHA-512 crypt hash: pure-pw's own hash is argon2id
        # tuned to take about 2 s, on every login too.
        passwd.touch(mode=0o600)
        passwd.write_text(f"{FTP_USER}:{_crypt(FTP_PASSWORD)}:{self.uid}:{self.gid}::{self.root}/./::::::::::::\n")
        _run([pure_pw or "pure-pw", "mkdb", str(self.pdb), "-f", str(passwd)])

    def _command(self) -> list[str]:
        low, high = PASSIVE_PORTS["pure-ftpd"]
        binary, _ = pure_ftpd_binaries()
        return [
            binary or "pure-ftpd",
            "--bind",
            f"127.0.0.1,{self.port}",
            "--login",
            f"puredb:{self.pdb}",
            "--chrooteveryone",  # -A
            "--noanonymous",  # -E
            "--dontresolve",  # -H
            "--ipv4only",  # -4
            "--passiveportrange",
            f"{low}:{high}",
            "--maxclientsnumber",
            "60",
            "--syslogfacility",
            "none",  # no syslog needed; startup errors go to stderr
            "--altlog",
            f"clf:{self.conf / 'transfer.log'}",
        ]


class SftpServer(RealServer):
    """OpenSSH's sshd serving SFTP only (``ForceCommand internal-sftp``) to SYSTEM_USER,
    chrooted to ``root`` (root-owned, as sshd requires), where the sync's folders
    (``SYNC_FOLDERS``, or ``folders=``) exist, owned by the user.

    Password and key logins both work: ``password``, ``client_key_file`` (ed25519, no
    passphrase; ``client_public_key``). ``host_key`` is the server's public key
    (``ssh-ed25519 AAAA...``), ``known_hosts`` the line for ``[127.0.0.1]:PORT`` and
    ``known_hosts_file`` a file holding it.
    """

    kind = "sftp"
    user = SFTP_USER
    password = SFTP_PASSWORD
    banner = b"SSH-2.0-"

    def __init__(self, *, folders: tuple[str, ...] = SYNC_FOLDERS, **kwargs) -> None:
        super().__init__(**kwargs)
        self.folders = folders

    def _prepare(self) -> None:
        # ChrootDirectory: it and every folder above it root-owned and not group/other-writable.
        for part in [self.root.parent, *self.root.parent.parents]:
            st = part.stat()
            if st.st_uid != 0 or st.st_mode & 0o022:
                raise ServerStartError(
                    f"sshd refuses ChrootDirectory below {part} (owner uid {st.st_uid}, mode {oct(st.st_mode & 0o7777)}): "
                    "every folder above it must be root's and not group/other-writable; set $REAL_SERVERS_DIR"
                )
        self.root.mkdir(mode=0o755)
        for folder in self.folders:
            self.mkdir(folder)
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation (chroot) folder
        keygen = _binary("ssh-keygen") or "ssh-keygen"
        self.host_key_file = self.conf / "ssh_host_ed25519_key"
        self.client_key_file = self.conf / "client_ed25519"
        for path, comment in ((self.host_key_file, "test-sshd"), (self.client_key_file, "test-client")):
            _run([keygen, "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)])
        self.host_key = " ".join(Path(f"{self.host_key_file}.pub").read_text().split()[:2])
        self.client_public_key = Path(f"{self.client_key_file}.pub").read_text().strip()
        self.authorized_keys_file = self.conf / "authorized_keys"
        self.authorized_keys_file.write_text(self.client_public_key + "\n")
        self.authorized_keys_file.chmod(0o644)  # sshd reads it as the user
        self.known_hosts_file = self.conf / "known_hosts"

    @property
    def known_hosts(self) -> str:
        return f"[127.0.0.1]:{self.port} {self.host_key}"

    @property
    def conn_uri(self) -> str:
        """A JSON Airflow connection of type ``sftp`` (the SFTP/SSH providers' extras)."""
        return json.dumps(
            {
                "conn_type": "sftp",
                "host": "127.0.0.1",
                "port": self.port,
                "login": self.user,
                "password": self.password,
                "extra": {"key_file": str(self.client_key_file), "host_key": self.host_key, "no_host_key_check": False},
            }
        )

    def use_as(self, monkeypatch: pytest.MonkeyPatch, conn_id: str = "moodle_ftp") -> None:
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", self.conn_uri)

    def client_options(self) -> list[str]:
        """Options for OpenSSH's ssh/sftp/scp that trust only this server's host key."""
        return [
            "-F",
            "/dev/null",
            "-o",
            f"UserKnownHostsFile={self.known_hosts_file}",
            "-o",
            "GlobalKnownHostsFile=/dev/null",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "ConnectTimeout=10",
        ]

    def _write_config(self) -> None:
        self.known_hosts_file.write_text(self.known_hosts + "\n")
        (self.conf / "sshd_config").write_text(f"""\
# Written by tests/real_servers.py
Port {self.port}
ListenAddress 127.0.0.1
AddressFamily inet
HostKey {self.host_key_file}
PidFile {self.conf}/sshd.pid
LogLevel VERBOSE
UsePAM no
UseDNS no
StrictModes no
PermitRootLogin no
AllowUsers {SYSTEM_USER}
PasswordAuthentication yes
KbdInteractiveAuthentication no
PubkeyAuthentication yes
AuthorizedKeysFile {self.authorized_keys_file}
MaxStartups 60:30:100
MaxAuthTries 6
LoginGraceTime 30
AllowTcpForwarding no
X11Forwarding no
PermitTTY no
Subsystem sftp internal-sftp
Match User {SYSTEM_USER}
    ChrootDirectory {self.root}
    ForceCommand internal-sftp -l INFO
""")

    def _command(self) -> list[str]:
        return [sshd_binary() or "/usr/sbin/sshd", "-D", "-e", "-f", str(self.conf / "sshd_config")]


# --- factories and fixtures -------------------------------------------------------------------


def make_server(kind: str, **options) -> RealServer:
    """An unstarted server of ``kind`` (one of KINDS); options go to its class."""
    if kind == "proftpd":
        return ProFtpd(**options)
    if kind == "proftpd-tls":
        return ProFtpd(tls=True, **options)
    if kind == "pure-ftpd":
        return PureFtpd(**options)
    if kind == "sftp":
        return SftpServer(**options)
    raise ValueError(f"unknown server kind {kind!r}: one of {KINDS}")


@contextlib.contextmanager
def start_server(kind: str, **options) -> Iterator[RealServer]:
    """Start a server of ``kind`` (one of KINDS), wait until it greets, stop it afterwards.
    Raises ServerStartError (with the server's log) when it does not come up."""
    server = make_server(kind, **options)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def server_or_skip(kind: str, **options) -> Iterator[RealServer]:
    """:func:`start_server`, or skip the test (with the reason) when ``kind`` is not installed."""
    reason = skip_reason(kind)
    if reason:
        pytest.skip(reason)
    with start_server(kind, **options) as server:
        yield server


@pytest.fixture
def proftpd_server():
    """ProFTPD, plain FTP (``server.use_as(monkeypatch)`` points moodle_ftp at it)."""
    with server_or_skip("proftpd") as server:
        yield server


@pytest.fixture
def proftpd_tls_server():
    """ProFTPD, explicit FTPS required; ``server.ca_file`` is the CA to trust."""
    with server_or_skip("proftpd-tls") as server:
        yield server


@pytest.fixture
def pure_ftpd_server():
    """Pure-FTPd, plain FTP."""
    with server_or_skip("pure-ftpd") as server:
        yield server


@pytest.fixture
def sftp_server():
    """OpenSSH sshd, SFTP only, chrooted user with /to_moodle and /from_moodle."""
    with server_or_skip("sftp") as server:
        yield server


@pytest.fixture(params=["proftpd", "proftpd-tls", "pure-ftpd"])
def real_ftp_server(request):
    """Each real FTP(S) server in turn."""
    with server_or_skip(request.param) as server:
        yield server
