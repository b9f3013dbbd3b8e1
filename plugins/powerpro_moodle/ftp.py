"""The Moodle FTP server, shared by both DAGs: atomic uploads, listings, moves that never
overwrite. Built on the FTP provider's hooks; FTPS when the connection's extra says
``{"tls": true}``.
"""

from __future__ import annotations

import ftplib
import io
import posixpath
import ssl
from types import TracebackType

from airflow.providers.ftp.hooks.ftp import FTPHook, FTPSHook

#: Seconds a server may stay silent before the call fails; the connection extra ``timeout`` overrides it.
DEFAULT_TIMEOUT_SECONDS = 120

#: Suffix of a file still being written: Moodle's pickup only takes ``*.csv``.
PARTIAL_SUFFIX = ".part"


#: What goes wrong talking to a server (network, protocol, TLS).
FTP_ERRORS = (OSError, EOFError, ftplib.Error)


class MoodleFtpError(OSError):
    """The Moodle FTP server could not do what the sync asked; the message says which server and why."""


def explain(err: BaseException, timeout: float) -> str:
    """What an FTP failure means, in words RTO staff can act on."""
    text = f"{type(err).__name__}: {err}".rstrip(": ")
    if isinstance(err, TimeoutError):
        return f"did not answer within {timeout:g} s ({text})"
    if isinstance(err, ConnectionRefusedError):
        return f"refused the connection: is it running, and is the port right? ({text})"
    if isinstance(err, ssl.SSLError):
        return f"TLS failed: is the server's certificate trusted here? ({text})"
    if isinstance(err, ftplib.error_perm) and str(err).startswith("530"):
        return f"refused the login: check the moodle_ftp connection's login and password ({text})"
    if isinstance(err, (EOFError, ConnectionResetError)):
        return f"closed the connection ({text})"
    return text


def _is_missing(err: ftplib.error_perm) -> bool:
    # 550 is the usual answer; pyftpdlib answers MLSD on a missing folder with 501.
    return str(err).startswith("550") or "no such" in str(err).lower()


class MoodleFtp:
    """One FTP session to the Moodle server; use it as a context manager.

    :param conn_id: Airflow connection id, ``moodle_ftp`` by default.
    """

    def __init__(self, conn_id: str = "moodle_ftp") -> None:
        self.conn_id = conn_id
        self.hook: FTPHook | None = None

    def __enter__(self) -> MoodleFtp:
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
        try:
            listing = self.hook.list_directory(folder)
        except ftplib.error_perm as err:
            if _is_missing(err) or str(err).startswith("450"):
                return set()
            raise
        return {posixpath.basename(n.rstrip("/")) for n in listing}

    def list_files(self, folder: str, suffix: str) -> list[str]:
        """Names of the files in ``folder`` ending with ``suffix`` (case-insensitive), sorted."""
        try:
            entries = list(self.ftp.mlsd(folder, facts=["type"]))
        except ftplib.error_perm as err:
            if _is_missing(err):
                return []
            if not str(err).startswith("500"):
                raise
            entries = [(name, {"type": "file"}) for name in self.names(folder)]  # server without MLSD
        return sorted(
            name
            for name, facts in entries
            if facts.get("type", "file") == "file" and name.lower().endswith(suffix.lower())
        )

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
