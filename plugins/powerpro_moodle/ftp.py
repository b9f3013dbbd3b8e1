"""The Moodle server over FTP or FTPS: the FTP provider's hook, with a timeout from the first
byte, verified explicit TLS, and listings that work on real servers.

Listings work on servers that differ from pyftpdlib (AIRFLOW-NOTES "Real FTP servers differ"):
MLSD when the server offers it, otherwise NLST with SIZE, MDTM and CWD to tell files from
folders and to learn their size and modification time, where the server has those.

FTPS (connection extra ``{"tls": true}``) is explicit TLS (``AUTH TLS``): the server's
certificate is verified against the system's trust store, or the extra ``ca_file``, and its host
name checked; the data channel is protected (``PROT P``) and reuses the control channel's TLS
session, which servers such as ProFTPD require. Nothing ever falls back to plain FTP.
"""

from __future__ import annotations

import ftplib
import io
import logging
import os
import posixpath
import ssl
from collections.abc import Callable
from datetime import UTC, datetime
from types import TracebackType
from typing import IO, Any, TypeVar

from airflow.providers.ftp.hooks.ftp import FTPHook

from powerpro_moodle.moodle_server import (
    DEFAULT_TIMEOUT_SECONDS,
    PARTIAL_SUFFIX,
    Entry,
    MoodleFtpError,
    MoodleServer,
    MoodleServerError,
    flag,
    timeout_of,
)

__all__ = ["DEFAULT_TIMEOUT_SECONDS", "PARTIAL_SUFFIX", "Entry", "FTP_ERRORS", "MoodleFtp", "MoodleFtpError",
           "MoodleFtpHook", "explain"]

#: What goes wrong talking to a server (network, protocol, TLS).
FTP_ERRORS = (OSError, EOFError, ftplib.Error)

#: The most a download asks the socket for at a time.
DOWNLOAD_BLOCK_BYTES = 1 << 16

#: The MLSD facts a listing asks for.
MLSD_FACTS = ("type", "size", "modify")

log = logging.getLogger(__name__)

_T = TypeVar("_T")


class SessionReuseFTP_TLS(ftplib.FTP_TLS):  # noqa: N801 - named after the ftplib class it extends
    """``FTP_TLS`` whose data connections resume the control connection's TLS session.

    Many servers (ProFTPD by default, vsftpd with ``require_ssl_reuse``) refuse a data connection
    that starts a new TLS session: it could be someone else's. ftplib does not offer the session.
    """

    def ntransfercmd(self, cmd: str, rest: int | str | None = None) -> tuple[Any, int | None]:
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:
            conn = self.context.wrap_socket(conn, server_hostname=self.host, session=self.sock.session)
        return conn, size


class MoodleFtpHook(FTPHook):
    """The FTP provider's hook, with its client built the way :meth:`FTPHook.get_conn` builds it
    but with a timeout on the connect and the greeting (the provider waits for ever), and
    explicit, verified TLS when the connection's extra says ``{"tls": true}``.

    Extras: ``tls``, ``ca_file`` (a PEM file of the CA that signed the server's certificate),
    ``timeout`` (seconds, default 120), and the provider's own ``passive`` and ``encoding``.
    """

    def get_conn(self) -> ftplib.FTP:
        if self.conn is None:
            params = self.get_connection(self.ftp_conn_id)
            extra = params.extra_dejson
            timeout = timeout_of(extra, self.ftp_conn_id)
            self.encoding = extra.get("encoding")
            kwargs: dict[str, Any] = {"timeout": timeout, **({"encoding": self.encoding} if self.encoding else {})}
            if flag(extra.get("tls")):
                client: ftplib.FTP = SessionReuseFTP_TLS(context=tls_context(extra, self.ftp_conn_id), **kwargs)
            else:
                client = ftplib.FTP(**kwargs)  # nosec B321 - plain FTP only when the connection says so
            self.conn = client
            client.connect(params.host or "", params.port or ftplib.FTP_PORT, timeout=timeout)
            if isinstance(client, ftplib.FTP_TLS):
                try:
                    client.auth()  # AUTH TLS before the password is sent
                except ftplib.error_perm as err:  # a refusal is final: never fall back to plain FTP
                    raise MoodleServerError(
                        f"the Moodle FTP server {params.host}:{params.port or ftplib.FTP_PORT} does not offer TLS "
                        f"({' '.join(str(err).split())}); the connection's extra says tls, so the sync will not "
                        "fall back to plain FTP"
                    ) from err
            if params.login:
                client.login(params.login, params.password or "")
            if isinstance(client, ftplib.FTP_TLS):
                client.prot_p()
            client.set_pasv(str(extra.get("passive", "true")).strip().lower() not in ("false", "0", "no", "off"))
        return self.conn

    def close_conn(self) -> None:
        conn, self.conn = self.conn, None
        if conn is None:
            return
        try:
            conn.quit()
        except FTP_ERRORS:
            conn.close()  # the server is gone or broken: just drop the socket


def tls_context(extra: dict[str, Any], conn_id: str) -> ssl.SSLContext:
    """Certificates verified, host names checked: the system store, or the extra ``ca_file``."""
    ca_file = extra.get("ca_file")
    if ca_file and not os.path.isfile(str(ca_file)):
        raise MoodleServerError(
            f"connection {conn_id!r}: extra 'ca_file' {ca_file!r} is not a file on this machine; give the "
            "absolute path of the PEM file of the CA that signed the Moodle server's certificate"
        )
    return ssl.create_default_context(cafile=str(ca_file) if ca_file else None)


def explain(err: BaseException, timeout: float) -> str:
    """What an FTP failure means, in words RTO staff can act on (the server's own words in
    brackets; no Python class names: the sync log's Details keeps those for IT)."""
    said = " ".join(str(err).split())
    if isinstance(err, TimeoutError):
        return f"did not answer within {timeout:g} s"
    if isinstance(err, ConnectionRefusedError):
        return f"refused the connection: is it running, and is the port right? ({said or 'connection refused'})"
    if isinstance(err, ssl.SSLCertVerificationError):
        why = err.verify_message or said
        if "mismatch" in why.lower():
            return (f"presented a TLS certificate for another host name ({why}): connect to the name the "
                    "certificate was issued for, or have the host's certificate reissued")
        return (f"presented a TLS certificate that is not trusted here ({why}): put the PEM file of the CA that "
                "signed it in the moodle_ftp connection's extra ca_file (or in the system's trust store)")
    if isinstance(err, ssl.SSLError):
        return f"TLS failed ({said}): check that the server offers explicit FTPS (AUTH TLS) on this port"
    if isinstance(err, ftplib.Error) and said.startswith("530"):
        return f"refused the login: check the moodle_ftp connection's login and password ({said})"
    if isinstance(err, ftplib.Error) and "tls" in said.lower() and ("required" in said.lower()):
        return f"requires TLS ({said}): set the moodle_ftp connection's extra to {{\"tls\": true}}"
    if isinstance(err, (EOFError, ConnectionResetError)):
        return f"closed the connection{f' ({said})' if said else ''}"
    return f"answered with an error: {said}" if said else "failed without saying why"


def _is_missing(err: ftplib.Error) -> bool:
    # 550 is the usual answer; pyftpdlib answers MLSD on a missing folder with 501.
    return str(err).startswith("550") or "no such" in str(err).lower()


def _is_unsupported(err: ftplib.Error) -> bool:
    """The server does not have the command at all (rather than refusing it for this path)."""
    code = str(err)[:3]
    return code in ("500", "502", "504") or (code == "501" and "understood" in str(err).lower())


def _utc(stamp: str | None) -> datetime | None:
    """``YYYYMMDDHHMMSS[.sss]`` (an MLSD ``modify`` fact, an MDTM answer) as an aware UTC time."""
    whole, _, fraction = (stamp or "").strip().partition(".")
    if len(whole) != 14 or not whole.isdigit() or (fraction and not fraction.isdigit()):
        return None
    try:
        moment = datetime.strptime(whole, "%Y%m%d%H%M%S")
    except ValueError:
        return None
    return moment.replace(microsecond=int((fraction + "000000")[:6]), tzinfo=UTC)


def _size_fact(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


def _mlst_facts(reply: str) -> dict[str, str] | None:
    """The facts of an MLST reply (RFC 3659 7.2: the entry is the line that starts with a space)."""
    for line in reply.splitlines():
        if line.startswith(" "):
            found, _, _name = line[1:].partition(" ")
            facts = {}
            for fact in found.rstrip(";").split(";"):
                key, sep, value = fact.partition("=")
                if sep:
                    facts[key.lower()] = value
            return facts or None
    return None


class MoodleFtp(MoodleServer):
    """One FTP or FTPS session to the Moodle server; use it as a context manager.

    :param conn_id: Airflow connection id, ``moodle_ftp`` by default.
    """

    def __init__(self, conn_id: str = "moodle_ftp") -> None:
        super().__init__(conn_id)
        self.hook: MoodleFtpHook | None = None
        self.timeout = float(DEFAULT_TIMEOUT_SECONDS)
        self._forget_features()

    def _forget_features(self) -> None:
        # What this session learnt the server does not have; a new session asks again.
        self.has_mlsd = True
        self.has_mlst = True
        self.has_size = True
        self.has_mdtm = True

    def __enter__(self) -> MoodleFtp:
        self._forget_features()
        conn = MoodleFtpHook.get_connection(self.conn_id)
        self.where = f"{conn.host}:{conn.port or ftplib.FTP_PORT}"
        self.timeout = timeout_of(conn.extra_dejson, self.conn_id)
        self.hook = MoodleFtpHook(ftp_conn_id=self.conn_id)
        try:
            self.ftp.voidcmd("TYPE I")  # binary transfers; also lets SIZE work after a listing
        except FTP_ERRORS as err:
            self._close()
            if isinstance(err, MoodleServerError):
                raise
            raise self._explained(err) from err
        return self

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._close()
        if isinstance(exc, FTP_ERRORS) and not isinstance(exc, MoodleServerError):
            raise self._explained(exc) from exc

    def _explained(self, err: BaseException) -> MoodleServerError:
        return MoodleServerError(f"the Moodle FTP server {self.where} {explain(err, self.timeout)}")

    @property
    def ftp(self) -> ftplib.FTP:
        assert self.hook is not None, "use MoodleFtp as a context manager"
        return self.hook.get_conn()

    def make_folder(self, path: str) -> None:
        try:
            self.hook.create_directory(path)
        except ftplib.error_perm as err:  # 550: exists already (or not allowed: the next call says)
            if not _is_missing(err) and "exist" not in str(err).lower():
                raise

    def names(self, folder: str) -> set[str]:
        return set(self._nlst(folder))

    def entries(self, folder: str) -> list[Entry]:
        """What ``folder`` holds, sorted by name; empty when the folder is missing.

        MLSD when the server has it. Any permanent reply to ``OPTS MLST``/``MLSD`` on a folder
        that exists means it has not: this session then lists with NLST and asks SIZE and MDTM
        (each only while the server has it) and CWD for each name.
        """
        if self.has_mlsd:
            try:
                listing = self._listing(lambda: list(self.ftp.mlsd(folder, facts=list(MLSD_FACTS))))
            except ftplib.error_perm as err:
                if _is_missing(err) and not self._is_folder(folder):
                    return []
                self.has_mlsd = False
                log.info("The Moodle FTP server %s has no usable MLSD (%s): listing with NLST", self.where, err)
            else:
                return self._from_mlsd(folder, listing)
        return sorted((self._probe(folder, name) for name in self._nlst(folder)), key=lambda e: e.name)

    def stat(self, path: str) -> Entry | None:
        """The file at ``path`` as it is now (size, modification time); None when no file is there.

        MLST when the server has it, otherwise SIZE and MDTM; a server with none of them is
        answered from the folder's listing.
        """
        folder, name = posixpath.split(path.rstrip("/"))
        if self.has_mlst:
            try:
                facts = _mlst_facts(self.ftp.sendcmd(f"MLST {path}"))
            except ftplib.error_perm as err:
                if not _is_unsupported(err):
                    return None  # 550: not there
                self.has_mlst = False
            else:
                if facts is not None:
                    return self._file(path, facts) if facts.get("type", "file").lower() == "file" else None
        is_file, size = self._size(path)
        if is_file is False:
            return None
        answered, modified = self._mdtm(path)
        if is_file is None and answered is None:  # neither SIZE nor MDTM here: the listing tells
            return next((e for e in self.entries(folder or "/") if e.name == name and e.kind == "file"), None)
        if is_file is None and answered is False:
            return None
        return Entry(name, "file", size, modified)

    def _binary(self) -> None:
        self.ftp.voidcmd("TYPE I")

    def _listing(self, call: Callable[[], _T]) -> _T:
        """``call`` (ftplib lists in ASCII mode), then back to binary: SIZE needs it."""
        try:
            result = call()
        except (ftplib.error_perm, ftplib.error_temp):
            self._binary()
            raise
        self._binary()
        return result

    def _nlst(self, folder: str) -> list[str]:
        """NLST names, without any path prefix; empty for an empty or missing folder (450/550)."""
        try:
            listing = self._listing(lambda: self.hook.list_directory(folder))
        except (ftplib.error_perm, ftplib.error_temp) as err:
            if _is_missing(err) or str(err).startswith("450"):
                return []
            raise
        names = (posixpath.basename(n.rstrip("/")) for n in listing)
        return sorted({n for n in names if n not in ("", ".", "..")})

    def _from_mlsd(self, folder: str, listing: list[tuple[str, dict[str, str]]]) -> list[Entry]:
        found: dict[str, Entry] = {}
        for raw, facts in listing:
            name = posixpath.basename(raw.rstrip("/"))
            kind = facts.get("type", "").lower()
            if name in ("", ".", "..") or kind in ("cdir", "pdir"):
                continue
            if kind == "dir":
                found[name] = Entry(name, "folder", None, _utc(facts.get("modify")))
            elif kind == "file":
                found[name] = self._file(posixpath.join(folder, name), facts)
            else:  # no type fact, or a link or device: ask as NLST does
                found[name] = self._probe(folder, name)
        return sorted(found.values(), key=lambda e: e.name)

    def _file(self, path: str, facts: dict[str, str]) -> Entry:
        """A file from its MLSD/MLST facts; SIZE and MDTM fill in a fact the server left out."""
        size, modified = _size_fact(facts.get("size")), _utc(facts.get("modify"))
        return Entry(
            posixpath.basename(path),
            "file",
            size if size is not None else self._size(path)[1],
            modified if modified is not None else self._mdtm(path)[1],
        )

    def _probe(self, folder: str, name: str) -> Entry:
        """What ``folder/name`` is: SIZE answers for a file, CWD works for a folder, else a file."""
        path = posixpath.join(folder, name)
        is_file, size = self._size(path)
        if not is_file and self._is_folder(path):
            return Entry(name, "folder", None, None)
        return Entry(name, "file", size, self._mdtm(path)[1])

    def _size(self, path: str) -> tuple[bool | None, int | None]:
        """(is it a file, its size) by SIZE; (None, None) when the server cannot say."""
        if not self.has_size:
            return None, None
        try:
            size = self.ftp.size(path)
        except ftplib.error_perm as err:
            if _is_unsupported(err):
                self.has_size = False
                return None, None
            return False, None  # 550: not a file (a folder, or gone)
        return (True, size) if size is not None else (None, None)

    def _mdtm(self, path: str) -> tuple[bool | None, datetime | None]:
        """(did the file answer, its modification time) by MDTM; (None, None) when the server cannot say."""
        if not self.has_mdtm:
            return None, None
        try:
            reply = self.ftp.sendcmd(f"MDTM {path}")
        except ftplib.error_perm as err:
            if _is_unsupported(err):
                self.has_mdtm = False
                return None, None
            return False, None
        return True, (_utc(reply[4:]) if reply.startswith("213") else None)

    def _is_folder(self, path: str) -> bool:
        """Whether CWD into ``path`` works; the working folder is put back."""
        here = self.ftp.pwd()
        try:
            self.ftp.cwd(path)
        except ftplib.error_perm:
            return False
        self.ftp.cwd(here)
        return True

    def read(self, path: str) -> bytes:
        buf = io.BytesIO()
        self.download(path, buf)
        return buf.getvalue()

    def download(self, path: str, fileobj: IO[bytes]) -> None:
        self.hook.retrieve_file(path, fileobj, block_size=DOWNLOAD_BLOCK_BYTES)

    def write(self, path: str, data: bytes) -> None:
        self.hook.store_file(path, io.BytesIO(data))

    def rename(self, source: str, target: str) -> None:
        self.hook.rename(source, target)

    def delete(self, path: str) -> None:
        self.hook.delete_file(path)
