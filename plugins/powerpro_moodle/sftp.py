"""The Moodle server over SFTP: the SFTP provider's hook (paramiko underneath), with the host key
always checked, one timeout for every step, and errors explained in words.

Connection ``moodle_ftp`` of type ``sftp``: host, port (22 by default), login, and a password
and/or the extra ``key_file`` (or the provider's ``private_key``). Extras read here:

``host_key``
    The server's public key, ``ssh-ed25519 AAAA...`` (what ``ssh-keyscan`` prints, without the
    host name). The provider's own extra.
``known_hosts``
    A known_hosts file (OpenSSH's format, hashed names too) holding the server's key, used when
    there is no ``host_key``. Without either, the user's ``~/.ssh/known_hosts`` is all there is.
``no_host_key_check``
    ``true`` turns the host key check off (a warning says so in every task log). Anything else,
    or nothing, keeps it on. The provider's ``allow_host_key_change`` is refused: it accepts an
    unknown key silently.
``timeout``
    Seconds (default 120) for the TCP connect, the SSH greeting, the key exchange, the login,
    starting SFTP, and every SFTP request after that. The provider's ``conn_timeout`` is used
    when ``timeout`` is not given.
"""

from __future__ import annotations

import io
import logging
import posixpath
import socket
import stat as st
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import paramiko
from airflow.providers.sftp.hooks.sftp import SFTPHook
from airflow.providers.ssh.hooks.ssh import SSHHook
from paramiko.config import SSH_PORT

from powerpro_moodle.moodle_server import (
    DEFAULT_TIMEOUT_SECONDS,
    Entry,
    MoodleServer,
    MoodleServerError,
    timeout_of,
)

__all__ = ["SFTP_ERRORS", "MoodleSftp", "MoodleSftpHook", "explain"]

#: What goes wrong talking to an SSH server: network (OSError, which includes the SFTP status
#: errors paramiko raises as IOError), a connection closed mid-read, and the SSH protocol.
SFTP_ERRORS = (OSError, EOFError, paramiko.SSHException)

log = logging.getLogger(__name__)


def host_key_name(host: str, port: int) -> str:
    """The name OpenSSH (and paramiko) file a host's key under in known_hosts."""
    return host if port == SSH_PORT else f"[{host}]:{port}"


def key_from_known_hosts(path: str, host: str, port: int, conn_id: str) -> paramiko.PKey | None:
    """The server's key from the known_hosts file at ``path``; None when it does not list the server."""
    if not Path(path).is_file():
        raise MoodleServerError(
            f"connection {conn_id!r}: extra 'known_hosts' {path!r} is not a file on this machine; give the "
            "absolute path of a known_hosts file that lists the Moodle server's key"
        )
    try:
        keys = paramiko.HostKeys(path).lookup(host_key_name(host, port))
    except (OSError, paramiko.SSHException, ValueError) as err:
        raise MoodleServerError(
            f"connection {conn_id!r}: extra 'known_hosts' {path!r} could not be read ({err})"
        ) from err
    if not keys:
        return None
    # Any one of the server's keys will do: paramiko asks the server for a key of the type it
    # knows (SSHClient.connect puts that type first in the key exchange).
    return next(iter(keys.values()))


class MoodleSftpHook(SFTPHook):
    """The SFTP provider's hook, with the Moodle sync's host key policy and timeouts.

    The host key policy, and why it is set here rather than on the paramiko client: the host
    key is checked inside ``SSHClient.connect``, which :meth:`SSHHook.get_conn` calls before
    returning the client, so a policy set on the client afterwards comes too late. What the
    provider (``SSHHook.get_conn``) does, read in its source and checked by tests/test_sftp.py:

    * by default it leaves paramiko's default policy, ``RejectPolicy``, and loads the user's
      ``~/.ssh/known_hosts`` plus the extra ``host_key``: a server in neither is refused. That is
      the policy wanted, so it is kept; a ``known_hosts`` extra is read here into ``host_key``.
    * ``allow_host_key_change`` sets the bare ``MissingHostKeyPolicy``, which accepts any
      unknown key without a word: refused here.
    * ``no_host_key_check`` sets ``AutoAddPolicy`` *and* loads ``~/.ssh/known_hosts`` as the
      client's own host keys file, so paramiko writes whatever key the server presents into
      ``~/.ssh/known_hosts``: the next connection with the check on would then trust it (trust
      on first use, silently). With ``allow_host_key_change`` set as well, the provider loads no
      host keys file, so nothing is written: that is what the no-check mode does here.

    Timeouts: ``timeout`` goes to the provider as ``conn_timeout`` (TCP connect and key
    exchange), ``banner_timeout`` and ``auth_timeout``; starting SFTP (which paramiko waits for
    without a limit) is bounded here, and the SFTP channel gets it for every request. One attempt
    only: the provider's default of three, with 3-5 s pauses, would turn a refused login or a
    wrong host key into three tries (Airflow's task retries are the place for retrying).
    """

    def __init__(self, ssh_conn_id: str = "moodle_ftp", timeout: float = DEFAULT_TIMEOUT_SECONDS) -> None:
        self.timeout = timeout
        conn = self.get_connection(ssh_conn_id)
        extra = conn.extra_dejson
        if str(extra.get("no_host_key_check", "")).lower() == "true" and extra.get("host_key"):
            raise MoodleServerError(
                f"connection {ssh_conn_id!r} has both the extra host_key and no_host_key_check true: remove "
                "no_host_key_check, so the host key is checked"
            )
        key_file = extra.get("key_file")
        if key_file and not Path(str(key_file)).expanduser().is_file():
            raise MoodleServerError(
                f"connection {ssh_conn_id!r}: extra 'key_file' {key_file!r} is not a file on this machine; give the "
                "absolute path of the private key the Moodle SFTP server accepts for the login"
            )
        try:
            super().__init__(
                ssh_conn_id=ssh_conn_id,
                conn_timeout=timeout,  # type: ignore[arg-type] - paramiko takes seconds as a float
                banner_timeout=timeout,
                auth_timeout=timeout,  # type: ignore[arg-type]
                conn_retry_attempts=1,
            )
        except (ValueError, TypeError, paramiko.SSHException) as err:  # a host_key the provider cannot read
            if "host_key" not in extra:
                raise MoodleServerError(f"connection {ssh_conn_id!r} cannot be used: {err}") from err
            raise MoodleServerError(
                f"connection {ssh_conn_id!r}: the extra host_key {str(extra['host_key'])[:60]!r} is not a public key "
                "this can use: give the server's key as one line, type then key, e.g. 'ssh-ed25519 AAAA...' (the "
                "server's /etc/ssh/ssh_host_ed25519_key.pub, from its administrator); types: ssh-ed25519, "
                "ecdsa-sha2-nistp256/384/521, ssh-rsa"
            ) from err
        except Exception as err:  # AirflowException: no host, both key_file and private_key...
            raise MoodleServerError(f"connection {ssh_conn_id!r} cannot be used: {err}") from err

        if self.no_host_key_check:
            self.allow_host_key_change = True  # see above: no known_hosts loaded, none written
        elif self.allow_host_key_change:
            raise MoodleServerError(
                f"connection {ssh_conn_id!r} has the extra allow_host_key_change, which would accept any host key "
                "without checking it: remove it, and put the server's current key in the extra host_key"
            )
        elif self.host_key is None and extra.get("known_hosts"):
            self.host_key = key_from_known_hosts(str(extra["known_hosts"]), self.remote_host, self.port, ssh_conn_id)

    def get_conn(self) -> paramiko.SFTPClient:
        """The provider's SSH client (host key checked, logged in), then SFTP on it, in ``timeout``."""
        if self.conn is None:
            client = SSHHook.get_conn(self)
            self.conn = self._open_sftp(client)
        return self.conn

    def _open_sftp(self, client: paramiko.SSHClient) -> paramiko.SFTPClient:
        # paramiko waits for the server to start the SFTP subsystem without a time limit
        # (Channel.invoke_subsystem): a watchdog closes the transport when ``timeout`` passes.
        transport = client.get_transport()
        assert transport is not None
        fired = threading.Event()

        def give_up() -> None:
            fired.set()
            transport.close()

        watchdog = threading.Timer(self.timeout, give_up)
        watchdog.daemon = True
        watchdog.start()
        try:
            sftp = client.open_sftp()
        except SFTP_ERRORS as err:
            if fired.is_set():
                raise TimeoutError(f"SFTP did not start within {self.timeout:g} s") from err
            raise
        finally:
            watchdog.cancel()
        if fired.is_set():  # opened just as the watchdog closed it
            raise TimeoutError(f"SFTP did not start within {self.timeout:g} s")
        channel = sftp.get_channel()
        assert channel is not None
        channel.settimeout(self.timeout)  # every SFTP request: recv raises socket.timeout
        return sftp

    def close_conn(self) -> None:
        """Close SFTP and the SSH connection under it (the provider's close_conn leaves that open)."""
        try:
            super().close_conn()
        finally:
            client, self.client = self.client, None
            if client is not None:
                client.close()


def sftp_timeout(extra: dict[str, Any], conn_id: str) -> float:
    """The extra ``timeout``; else the provider's ``conn_timeout``; else 120 s."""
    if "timeout" not in extra and "conn_timeout" in extra:
        return timeout_of({"timeout": extra["conn_timeout"]}, conn_id)
    return timeout_of(extra, conn_id)


def _chain(err: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def explain(err: BaseException, timeout: float, conn_id: str = "moodle_ftp", elapsed: float = 0.0) -> str:
    """What an SSH or SFTP failure means, in words RTO staff can act on (paramiko's own words in
    brackets where they help; no Python class names: the sync log's Details keeps those for IT).

    ``elapsed``: seconds the failed step took. paramiko reports a server that stays silent as
    "Error reading SSH protocol banner" or "No existing session" depending on which of its
    timers runs out first; a failure that took the whole ``timeout`` is reported as what it is.
    """
    said = " ".join(str(err).split())
    chain = list(_chain(err))
    if any(isinstance(e, TimeoutError) for e in chain) or (
        isinstance(err, (paramiko.SSHException, EOFError)) and elapsed >= timeout
    ):
        return f"did not answer within {timeout:g} s"
    if isinstance(err, paramiko.BadHostKeyException):
        return (
            "presented a host key that does not match the one configured (extra host_key or known_hosts): if the "
            f"server's key really changed, update host_key (the server presents {err.key.get_name()} "
            f"{err.key.fingerprint}; the one configured is {err.expected_key.get_name()} "
            f"{err.expected_key.fingerprint})"
        )
    if isinstance(err, paramiko.SSHException) and "not found in known_hosts" in said:  # paramiko's RejectPolicy
        return (
            "is not known: set the connection extra host_key (the server's public key, e.g. 'ssh-ed25519 AAAA...') "
            "or add it to known_hosts; ask the server's administrator for the key rather than trusting whatever "
            "the server presents"
        )
    if isinstance(err, paramiko.BadAuthenticationType):
        return (
            f"refused the login: check the {conn_id} connection's login, password or key_file (the server accepts "
            f"{', '.join(err.allowed_types) or 'no method offered'})"
        )
    if isinstance(err, paramiko.AuthenticationException):
        return f"refused the login: check the {conn_id} connection's login, password or key_file ({said})"
    if isinstance(err, (ConnectionRefusedError, paramiko.ssh_exception.NoValidConnectionsError)):
        return "refused the connection: is it running, and is the port right?"
    if isinstance(err, socket.gaierror):
        return f"could not be found ({said}): check the {conn_id} connection's host"
    if any(isinstance(e, (EOFError, ConnectionResetError, ConnectionAbortedError)) for e in chain) or (
        "closed" in said.lower()
    ):
        return f"closed the connection{f' ({said})' if said else ''}: is this an SFTP server, and is the port right?"
    if isinstance(err, FileNotFoundError):
        return "has no such file or folder"
    if isinstance(err, PermissionError):
        return f"refused permission: check that the {conn_id} connection's login may do this there"
    if isinstance(err, paramiko.SSHException):
        return f"could not set up the SSH connection ({said})"
    return f"answered with an error ({said})" if said else "failed without saying why"


def _utc(seconds: float | None) -> datetime | None:
    return datetime.fromtimestamp(seconds, UTC) if seconds is not None else None


class MoodleSftp(MoodleServer):
    """One SFTP session to the Moodle server; use it as a context manager.

    Paths are absolute, from the top the server shows the login (a chroot's ``/``).

    :param conn_id: Airflow connection id, ``moodle_ftp`` by default.
    """

    def __init__(self, conn_id: str = "moodle_ftp") -> None:
        super().__init__(conn_id)
        self.hook: MoodleSftpHook | None = None
        self.timeout = float(DEFAULT_TIMEOUT_SECONDS)

    # --- the session ------------------------------------------------------------------------

    def __enter__(self) -> MoodleSftp:
        conn = MoodleSftpHook.get_connection(self.conn_id)
        if not conn.host:
            raise MoodleServerError(
                f"connection {self.conn_id!r} has no host: set it to the Moodle SFTP server's name or address"
            )
        self.where = f"{conn.host}:{conn.port or SSH_PORT}"
        self.timeout = sftp_timeout(conn.extra_dejson, self.conn_id)
        self.hook = MoodleSftpHook(self.conn_id, timeout=self.timeout)
        if self.hook.no_host_key_check:
            log.warning(
                "The host key of the Moodle SFTP server %s is not checked (connection %r has the extra "
                "no_host_key_check): anyone able to intercept the connection could pose as the server and receive "
                "the users file. Put the server's key in the extra host_key instead.",
                self.where,
                self.conn_id,
            )
        started = time.monotonic()
        try:
            self.hook.get_conn()
        except SFTP_ERRORS as err:
            self._close()
            if isinstance(err, MoodleServerError):
                raise
            raise self._explained(err, time.monotonic() - started) from err
        return self

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._close()
        if isinstance(exc, SFTP_ERRORS) and not isinstance(exc, MoodleServerError):
            raise self._explained(exc) from exc

    def _explained(self, err: BaseException, elapsed: float = 0.0) -> MoodleServerError:
        return MoodleServerError(
            f"the Moodle SFTP server {self.where} {explain(err, self.timeout, self.conn_id, elapsed)}"
        )

    @property
    def sftp(self) -> paramiko.SFTPClient:
        assert self.hook is not None, "use MoodleSftp as a context manager"
        return self.hook.get_conn()

    @contextmanager
    def _doing(self, what: str) -> Iterator[None]:
        """Turn an SFTP failure while doing ``what`` into a MoodleServerError naming it."""
        try:
            yield
        except MoodleServerError:
            raise
        except SFTP_ERRORS as err:
            raise MoodleServerError(
                f"the Moodle SFTP server {self.where} could not {what}: it {explain(err, self.timeout, self.conn_id)}"
            ) from err

    def _attributes(self, path: str) -> paramiko.SFTPAttributes | None:
        """``path``'s attributes (links followed); None when nothing is there."""
        with self._doing(f"look at {path}"):
            try:
                return self.sftp.stat(path)
            except FileNotFoundError:
                return None

    # --- primitives ---------------------------------------------------------------------------

    def entries(self, folder: str) -> list[Entry]:
        with self._doing(f"list the folder {folder}"):
            try:
                listing = self.sftp.listdir_attr(folder)
            except FileNotFoundError:
                return []
        found = []
        for attr in listing:
            mode = attr.st_mode
            if mode is not None and st.S_ISLNK(mode):  # what the link points at decides
                target = self._attributes(posixpath.join(folder, attr.filename))
                if target is None:
                    continue  # a dangling link
                attr, mode = target, target.st_mode
            if mode is not None and st.S_ISDIR(mode):
                found.append(Entry(attr.filename, "folder", None, _utc(attr.st_mtime)))
            elif mode is None or st.S_ISREG(mode):
                found.append(Entry(attr.filename, "file", attr.st_size, _utc(attr.st_mtime)))
            # sockets, devices, pipes: not the sync's
        return sorted(found, key=lambda e: e.name)

    def stat(self, path: str) -> Entry | None:
        attr = self._attributes(path)
        if attr is None or (attr.st_mode is not None and not st.S_ISREG(attr.st_mode)):
            return None
        return Entry(posixpath.basename(path.rstrip("/")), "file", attr.st_size, _utc(attr.st_mtime))

    def read(self, path: str) -> bytes:
        buf = io.BytesIO()
        self.download(path, buf)
        return buf.getvalue()

    def download(self, path: str, fileobj: IO[bytes]) -> None:
        with self._doing(f"read {path}"):
            self.sftp.getfo(path, fileobj)

    def write(self, path: str, data: bytes) -> None:
        # Opened for writing with truncate ("wb"): a file of that name is replaced. confirm: the
        # size on the server is checked afterwards.
        with self._doing(f"write {path}"):
            self.sftp.putfo(io.BytesIO(data), path, file_size=len(data), confirm=True)

    def rename(self, source: str, target: str) -> None:
        """Rename ``source`` to ``target``, which must not exist.

        SFTP's own rename (protocol version 3), not OpenSSH's ``posix-rename`` extension: both
        are atomic for a reader on OpenSSH (plain rename is ``link()`` then ``unlink()``: the
        target appears whole, in one step), but posix-rename silently replaces a file already at
        ``target``, while plain rename refuses to. The sync's moves never overwrite: the base
        class reserves a free name first (``reserve()``), and ``upload_atomic`` deletes the final
        name before renaming the ``.part`` onto it; should another writer take the name in
        between, the server refuses instead of losing a file.
        """
        try:
            with self._doing(f"rename {source} to {target}"):
                self.sftp.rename(source, target)
        except MoodleServerError as refusal:  # OpenSSH says just "Failure": say why, when it is that
            if self._attributes(source) is not None and self._attributes(target) is not None:
                raise MoodleServerError(
                    f"the Moodle SFTP server {self.where} could not rename {source} to {target}: something named "
                    f"{posixpath.basename(target)} is there already, and the sync does not overwrite"
                ) from refusal.__cause__
            raise

    def delete(self, path: str) -> None:
        with self._doing(f"delete {path}"):
            self.sftp.remove(path)

    def make_folder(self, path: str) -> None:
        existing = self._attributes(path)
        if existing is not None:
            if existing.st_mode is None or st.S_ISDIR(existing.st_mode):
                return
            raise MoodleServerError(
                f"the Moodle SFTP server {self.where} could not create the folder {path}: a file of that name is there"
            )
        try:
            with self._doing(f"create the folder {path}"):
                self.sftp.mkdir(path)
        except MoodleServerError:
            again = self._attributes(path)  # made meanwhile by another session: fine
            if again is not None and again.st_mode is not None and st.S_ISDIR(again.st_mode):
                return
            raise
