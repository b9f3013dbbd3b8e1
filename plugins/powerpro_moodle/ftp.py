"""The Moodle FTP server, shared by both DAGs: atomic uploads, listings, moves that never
overwrite. Built on the FTP provider's hooks; FTPS when the connection's extra says
``{"tls": true}``.

Listings work on servers that differ from pyftpdlib (AIRFLOW-NOTES "Real FTP servers differ"):
MLSD when the server offers it, otherwise NLST with SIZE, MDTM and CWD to tell files from
folders and to learn their size and modification time, where the server has those.
"""

from __future__ import annotations

import ftplib
import io
import logging
import posixpath
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import TypeVar

from airflow.providers.ftp.hooks.ftp import FTPHook, FTPSHook

#: Seconds a server may stay silent before the call fails; the connection extra ``timeout`` overrides it.
DEFAULT_TIMEOUT_SECONDS = 120

#: Suffix of a file still being written: Moodle's pickup only takes ``*.csv``.
PARTIAL_SUFFIX = ".part"


#: What goes wrong talking to a server (network, protocol, TLS).
FTP_ERRORS = (OSError, EOFError, ftplib.Error)

#: The MLSD facts a listing asks for.
MLSD_FACTS = ("type", "size", "modify")

log = logging.getLogger(__name__)

_T = TypeVar("_T")


@dataclass(frozen=True)
class Entry:
    """One name in a folder on the server."""

    name: str
    kind: str  # "file" | "folder"
    size: int | None  # bytes; None when the server cannot say
    modified: datetime | None  # aware, UTC; None when the server cannot say


class MoodleFtpError(OSError):
    """The Moodle FTP server could not do what the sync asked; the message says which server and why."""


def explain(err: BaseException, timeout: float) -> str:
    """What an FTP failure means, in words RTO staff can act on (the server's own words in
    brackets; no Python class names: the sync log's Details keeps those for IT)."""
    said = " ".join(str(err).split())
    if isinstance(err, TimeoutError):
        return f"did not answer within {timeout:g} s"
    if isinstance(err, ConnectionRefusedError):
        return f"refused the connection: is it running, and is the port right? ({said or 'connection refused'})"
    if isinstance(err, ssl.SSLError):
        return f"TLS failed: is the server's certificate trusted here? ({said})"
    if isinstance(err, ftplib.error_perm) and said.startswith("530"):
        return f"refused the login: check the moodle_ftp connection's login and password ({said})"
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


class MoodleFtp:
    """One FTP session to the Moodle server; use it as a context manager.

    :param conn_id: Airflow connection id, ``moodle_ftp`` by default.
    """

    def __init__(self, conn_id: str = "moodle_ftp") -> None:
        self.conn_id = conn_id
        self.hook: FTPHook | None = None
        self._forget_features()

    def _forget_features(self) -> None:
        # What this session learnt the server does not have; a new session asks again.
        self.has_mlsd = True
        self.has_mlst = True
        self.has_size = True
        self.has_mdtm = True

    def __enter__(self) -> MoodleFtp:
        self._forget_features()
        conn = FTPHook.get_connection(self.conn_id)
        extra = conn.extra_dejson
        self.where = f"{conn.host}:{conn.port or ftplib.FTP_PORT}"
        tls = str(extra.get("tls", "false")).lower() in ("1", "true", "yes")
        # The provider's client waits for ever; a stalled server should fail the try (and be
        # retried), not hold the DAG's only run slot until the task's execution timeout.
        self.timeout = float(extra.get("timeout", DEFAULT_TIMEOUT_SECONDS))
        self.hook = (FTPSHook if tls else FTPHook)(ftp_conn_id=self.conn_id)
        try:
            self.ftp.timeout = self.timeout  # ftplib uses it for each data connection
            if self.ftp.sock is not None:
                self.ftp.sock.settimeout(self.timeout)  # and this is the control connection
            self.ftp.voidcmd("TYPE I")  # binary transfers; also lets SIZE work after a listing
        except FTP_ERRORS as err:
            self._close()
            raise self._explained(err) from err
        return self

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._close()
        if isinstance(exc, FTP_ERRORS) and not isinstance(exc, MoodleFtpError):
            raise self._explained(exc) from exc

    def _explained(self, err: BaseException) -> MoodleFtpError:
        return MoodleFtpError(f"the Moodle FTP server {self.where} {explain(err, self.timeout)}")

    def _close(self) -> None:
        if self.hook is not None:
            try:
                self.hook.close_conn()
            except Exception:  # noqa: BLE001 - best effort: the session may never have opened
                pass  # and the task's own error matters more
            self.hook = None

    @property
    def ftp(self) -> ftplib.FTP:
        assert self.hook is not None, "use MoodleFtp as a context manager"
        return self.hook.get_conn()

    def ensure_folder(self, folder: str) -> None:
        """Create ``folder`` and its parents when missing."""
        path = ""
        for part in [p for p in folder.split("/") if p]:
            path += "/" + part
            try:
                self.hook.create_directory(path)
            except ftplib.error_perm as err:  # 550: exists already (or not allowed: next call says)
                if not _is_missing(err):
                    raise

    def names(self, folder: str) -> set[str]:
        """File and folder names in ``folder`` (empty when the folder is missing)."""
        return set(self._nlst(folder))

    def list_files(self, folder: str, suffix: str) -> list[str]:
        """Names of the files in ``folder`` ending with ``suffix`` (case-insensitive), sorted."""
        return [e.name for e in self.entries(folder) if e.kind == "file" and e.name.lower().endswith(suffix.lower())]

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
        self.hook.retrieve_file(path, buf)
        return buf.getvalue()

    def write(self, path: str, data: bytes) -> None:
        self.hook.store_file(path, io.BytesIO(data))

    def upload_atomic(self, folder: str, name: str, data: bytes) -> str:
        """Write ``data`` to ``folder/name`` so a reader never sees it half-written.

        The bytes go to ``name + ".part"`` first and are renamed when complete. Uploading the same
        name again (a re-run of the same DAG run) replaces the earlier copy.

        :return: the remote path.
        """
        self.ensure_folder(folder)
        final = posixpath.join(folder, name)
        partial = final + PARTIAL_SUFFIX
        self.write(partial, data)
        if name in self.names(folder):
            self.hook.delete_file(final)
        self.hook.rename(partial, final)
        return final

    def free_name(self, folder: str, name: str) -> str:
        """``name``, or ``stem-2.ext``, ``stem-3.ext``... whichever is not taken in ``folder``."""
        taken = self.names(folder)
        stem, ext = posixpath.splitext(name)
        candidate, n = name, 1
        while candidate in taken:
            n += 1
            candidate = f"{stem}-{n}{ext}"
        return candidate

    def reserve(self, folder: str, name: str) -> str:
        """The path ``name`` would take in ``folder`` (created if missing) without overwriting."""
        self.ensure_folder(folder)
        return posixpath.join(folder, self.free_name(folder, name))

    def rename(self, source: str, target: str) -> None:
        self.hook.rename(source, target)
