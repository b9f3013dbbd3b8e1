"""The Moodle file server, shared by both DAGs: one interface, two transports.

The ``moodle_ftp`` connection's type picks the transport: ``ftp`` (plain, or explicit FTPS when
the extra says ``{"tls": true}``) is :class:`powerpro_moodle.ftp.MoodleFtp`; ``sftp`` is
:class:`powerpro_moodle.sftp.MoodleSftp`. Both implement the few primitives below (list, stat,
read, download, write, rename, delete, make a folder); everything the sync builds on them (uploads a
reader never sees half-written, moves that never overwrite, folders created on demand) lives
here once, so the DAGs and the sync log read the same over either transport.
"""

from __future__ import annotations

import logging
import posixpath
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import IO, Any

#: Seconds a server may stay silent before the call fails; the connection extra ``timeout`` overrides it.
DEFAULT_TIMEOUT_SECONDS = 120

#: Suffix of a file still being written: Moodle's pickup only takes ``*.csv``.
PARTIAL_SUFFIX = ".part"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Entry:
    """One name in a folder on the server."""

    name: str
    kind: str  # "file" | "folder"
    size: int | None  # bytes; None when the server cannot say
    modified: datetime | None  # aware, UTC; None when the server cannot say


class MoodleServerError(OSError):
    """The Moodle file server could not do what the sync asked; the message says which server,
    what went wrong and what to check."""


#: The name the FTP-only releases used; kept so existing imports keep working.
MoodleFtpError = MoodleServerError


def flag(value: Any) -> bool:
    """A connection extra read as a yes/no (JSON true, or the text "true"/"1"/"yes")."""
    return str(value).strip().lower() in ("1", "true", "yes", "on") if value is not None else False


def timeout_of(extra: dict[str, Any], conn_id: str) -> float:
    raw = extra.get("timeout", DEFAULT_TIMEOUT_SECONDS)
    try:
        value = float(raw)
    except (TypeError, ValueError):
        value = -1.0
    if not 0 < value <= 3600:
        raise MoodleServerError(
            f"connection {conn_id!r}: extra 'timeout' must be a number of seconds from 1 to 3600, got {raw!r}"
        )
    return value


class MoodleServer(ABC):
    """One session with the Moodle file server; use it as a context manager.

    Subclasses open and close the session and implement the primitives; this class builds the
    sync's file moves from them.

    :param conn_id: Airflow connection id, ``moodle_ftp`` by default.
    """

    #: ``host:port`` for messages; set when the session opens.
    where: str = "?"
    #: The provider's hook of the open session (FTPHook or SFTPHook); ``None`` when closed.
    hook: Any = None

    def __init__(self, conn_id: str = "moodle_ftp") -> None:
        self.conn_id = conn_id

    # --- the session ------------------------------------------------------------------------

    @abstractmethod
    def __enter__(self) -> MoodleServer: ...

    @abstractmethod
    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: TracebackType | None) -> None: ...

    def _close(self) -> None:
        """Close the session's hook, best effort: the task's own error matters more."""
        if self.hook is not None:
            try:
                self.hook.close_conn()
            except Exception:  # noqa: BLE001 - the session may never have opened
                pass
            self.hook = None

    # --- primitives each transport implements ------------------------------------------------

    @abstractmethod
    def entries(self, folder: str) -> list[Entry]:
        """The files and folders in ``folder``, sorted by name; empty when it is missing."""

    @abstractmethod
    def stat(self, path: str) -> Entry | None:
        """One file's size and modification time; ``None`` when there is no such file."""

    @abstractmethod
    def read(self, path: str) -> bytes: ...

    def download(self, path: str, fileobj: IO[bytes]) -> None:
        """Write the file at ``path`` into ``fileobj`` as it arrives, a block at a time (a file
        of any size in bounded memory). Transports override this; the default reads it whole."""
        fileobj.write(self.read(path))

    @abstractmethod
    def write(self, path: str, data: bytes) -> None:
        """Write ``data`` to ``path``, replacing a file of that name."""

    @abstractmethod
    def rename(self, source: str, target: str) -> None: ...

    @abstractmethod
    def delete(self, path: str) -> None: ...

    @abstractmethod
    def make_folder(self, path: str) -> None:
        """Create one folder; a folder that exists already is not an error."""

    # --- what the sync builds on them -------------------------------------------------------

    def names(self, folder: str) -> set[str]:
        """File and folder names in ``folder`` (empty when the folder is missing)."""
        return {e.name for e in self.entries(folder)}

    def list_files(self, folder: str, suffix: str) -> list[str]:
        """Names of the files in ``folder`` ending with ``suffix`` (case-insensitive), sorted."""
        return [e.name for e in self.entries(folder) if e.kind == "file" and e.name.lower().endswith(suffix.lower())]

    def ensure_folder(self, folder: str) -> None:
        """Create ``folder`` and its parents when missing."""
        path = ""
        for part in [p for p in folder.split("/") if p]:
            path += "/" + part
            self.make_folder(path)

    def upload_atomic(self, folder: str, name: str, data: bytes) -> str:
        """Write ``data`` to ``folder/name`` so a reader never sees it half-written.

        The bytes go to ``name + ".part"`` first and are renamed when complete. Uploading the same
        name again (a re-run of the same DAG run) replaces the earlier copy. Then any other
        ``.part`` file the sync left in the folder (an upload that crashed) is removed, and said.

        :return: the remote path.
        """
        self.ensure_folder(folder)
        final = posixpath.join(folder, name)
        partial = final + PARTIAL_SUFFIX
        self.write(partial, data)
        if self.stat(final) is not None:
            self.delete(final)
        self.rename(partial, final)
        self.remove_leftovers(folder, prefix=name.split("_", 1)[0] + "_", keep=name + PARTIAL_SUFFIX)
        return final

    def remove_leftovers(self, folder: str, prefix: str, keep: str) -> list[str]:
        """Delete the sync's own half-written uploads (``<prefix>*.part``) in ``folder``."""
        removed = []
        for entry in self.entries(folder):
            if (entry.kind == "file" and entry.name.startswith(prefix) and entry.name.endswith(PARTIAL_SUFFIX)
                    and entry.name != keep):
                self.delete(posixpath.join(folder, entry.name))
                log.warning("Removed %s/%s, left by an upload that did not finish", folder, entry.name)
                removed.append(entry.name)
        return removed

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


def open_moodle_server(conn_id: str = "moodle_ftp") -> MoodleServer:
    """The session for the connection's type: FTP(S) or SFTP. Nothing connects until ``with``."""
    from airflow.sdk import BaseHook

    conn_type = (BaseHook.get_connection(conn_id).conn_type or "").lower()
    if conn_type == "sftp":
        from powerpro_moodle.sftp import MoodleSftp

        return MoodleSftp(conn_id)
    if conn_type in ("ftp", "ftps"):
        from powerpro_moodle.ftp import MoodleFtp

        return MoodleFtp(conn_id)
    raise MoodleServerError(
        f"connection {conn_id!r} has type {conn_type!r}; the Moodle server connection must be 'ftp' "
        "(with the extra {\"tls\": true} for FTPS) or 'sftp'"
    )
