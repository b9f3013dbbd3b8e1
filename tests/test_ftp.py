"""MoodleFtp's listings and stat() against real pyftpdlib servers on 127.0.0.1, including
handlers that behave like the servers pyftpdlib is not (AIRFLOW-NOTES "Real FTP servers
differ from pyftpdlib"): no MLSD, ``501`` to ``OPTS MLST``, path-prefixed NLST names,
``450``/``550`` for an empty folder's NLST, no SIZE and no MDTM."""

from __future__ import annotations

import logging
import os
import posixpath
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from powerpro_moodle.ftp import Entry, MoodleFtp
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer

USER, PASSWORD = "moodle", "ftp-Secr3t-pw"

JUNE_1 = datetime(2025, 6, 1, 8, 30, 15, tzinfo=UTC)
JUNE_2 = datetime(2025, 6, 2, 23, 59, 59, tzinfo=UTC)


class Recording(FTPHandler):
    """pyftpdlib as it is, writing down every command it receives (``seen``, one list per server)."""

    seen: list[str] = []

    def pre_process_command(self, line, cmd, arg):
        if cmd != "PASS":
            self.seen.append(line)
        return super().pre_process_command(line, cmd, arg)


def _without(*commands: str) -> dict:
    return {k: v for k, v in FTPHandler.proto_cmds.items() if k not in commands}


class NoMlsd(Recording):
    """Has MLST (so ``OPTS MLST`` works) but no MLSD: ``500 Command "MLSD" not understood.``"""

    proto_cmds = _without("MLSD")


class OptsRefused(Recording):
    """Answers ``OPTS MLST ...`` as one widely used server does."""

    def ftp_OPTS(self, line):
        if line.upper().startswith("MLST"):
            self.respond("501 Option not understood.")
        else:
            super().ftp_OPTS(line)


class NoMlsdNoMlst(Recording):
    """Neither MLSD nor MLST: pyftpdlib then refuses ``OPTS MLST`` with a 501."""

    proto_cmds = _without("MLSD", "MLST")


class PrefixedNlst(NoMlsdNoMlst):
    """NLST answers ``/folder/name`` rather than ``name``."""

    def ftp_NLST(self, path):
        if not self.fs.isdir(path):
            return super().ftp_NLST(path)
        folder = self.fs.fs2ftp(path)
        names = sorted(self.fs.listdir(path))
        data = "".join(posixpath.join(folder, n) + "\r\n" for n in names).encode(self.encoding)
        self.push_dtp_data(data, cmd="NLST")
        return path


class EmptyNlst450(NoMlsdNoMlst):
    """NLST of an empty folder answers ``450 No files found`` (ProFTPD does)."""

    empty_reply = "450 No files found"

    def ftp_NLST(self, path):
        if self.fs.isdir(path) and not self.fs.listdir(path):
            self.respond(self.empty_reply)
            return None
        return super().ftp_NLST(path)


class EmptyNlst550(EmptyNlst450):
    empty_reply = "550 No files found"


class NoSizeNoMdtm(Recording):
    """No MLSD, MLST, SIZE or MDTM: all that is left is NLST and CWD."""

    proto_cmds = _without("MLSD", "MLST", "SIZE", "MDTM")


class FractionalMdtm(NoMlsdNoMlst):
    """MDTM answers with milliseconds, ``213 YYYYMMDDHHMMSS.sss``."""

    def ftp_MDTM(self, path):
        secs = self.fs.getmtime(path)
        self.respond("213 " + datetime.fromtimestamp(secs, UTC).strftime("%Y%m%d%H%M%S") + ".250")
        return path


@pytest.fixture
def serve(tmp_path, monkeypatch):
    """Start a pyftpdlib server with the given handler behind ``moodle_ftp``; returns its root."""
    logging.getLogger("pyftpdlib").setLevel(logging.WARNING)
    servers: list[FTPServer] = []

    def _serve(handler: type[FTPHandler] = Recording) -> tuple[Path, list[str]]:
        root = tmp_path / "ftp"
        root.mkdir(exist_ok=True)
        authorizer = DummyAuthorizer()
        authorizer.add_user(USER, PASSWORD, str(root), perm="elradfmwMT")
        seen: list[str] = []
        cls = type(handler.__name__, (handler,), {"authorizer": authorizer, "seen": seen})
        server = FTPServer(("127.0.0.1", 0), cls)
        servers.append(server)
        threading.Thread(target=server.serve_forever, kwargs={"timeout": 0.1, "blocking": True}, daemon=True).start()
        monkeypatch.setenv("AIRFLOW_CONN_MOODLE_FTP", f"ftp://{USER}:{PASSWORD}@127.0.0.1:{server.address[1]}")
        return root, seen

    yield _serve
    for server in servers:
        server.close_all()


def _put(root: Path, remote: str, data: bytes, modified: datetime | None = None) -> None:
    target = root / remote.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    if modified is not None:
        os.utime(target, (modified.timestamp(), modified.timestamp()))


def _inbox(root: Path) -> None:
    """``/inbox``: two files with known sizes and times, an upper-case one, a folder, an empty file."""
    _put(root, "/inbox/b.csv", b"x" * 1234, JUNE_2)
    _put(root, "/inbox/a.csv", b"abc", JUNE_1)
    _put(root, "/inbox/C.CSV", b"12345", JUNE_1)
    _put(root, "/inbox/empty.txt", b"", JUNE_2)
    _put(root, "/inbox/archive/old.csv", b"old", JUNE_1)


FULL = [
    Entry("C.CSV", "file", 5, JUNE_1),
    Entry("a.csv", "file", 3, JUNE_1),
    Entry("archive", "folder", None, None),
    Entry("b.csv", "file", 1234, JUNE_2),
    Entry("empty.txt", "file", 0, JUNE_2),
]


def _without_folder_time(entries: list[Entry]) -> list[Entry]:
    # MLSD gives a folder's time too; NLST + MDTM does not: compare the rest.
    return [Entry(e.name, e.kind, e.size, None) if e.kind == "folder" else e for e in entries]


def _count(seen: list[str], prefix: str) -> int:
    return sum(1 for line in seen if line.upper().startswith(prefix))


def _last_type(seen: list[str]) -> str:
    return [line.upper() for line in seen if line.upper().startswith("TYPE")][-1]


def test_entries_with_mlsd(ftp_server):
    _inbox(ftp_server.root)
    with MoodleFtp("moodle_ftp") as ftp:
        entries = ftp.entries("/inbox")
        assert _without_folder_time(entries) == FULL
        (folder,) = [e for e in entries if e.kind == "folder"]
        assert folder.modified is not None and folder.modified.tzinfo is UTC
        assert ftp.has_mlsd
        assert ftp.entries("/inbox/archive") == [Entry("old.csv", "file", 3, JUNE_1)]
        assert ftp.entries("/nowhere") == []
        assert ftp.has_mlsd, "pyftpdlib's 501 for a missing folder is not 'no MLSD'"
        assert ftp.list_files("/inbox", ".csv") == ["C.CSV", "a.csv", "b.csv"]
        assert ftp.ftp.size("/inbox/a.csv") == 3, "back in binary mode after the listing"


def test_an_empty_folder_is_listed_as_empty(ftp_server):
    (ftp_server.root / "inbox").mkdir()
    with MoodleFtp("moodle_ftp") as ftp:
        assert ftp.entries("/inbox") == []
        assert ftp.list_files("/inbox", ".csv") == []


@pytest.mark.parametrize("handler", [NoMlsd, OptsRefused, NoMlsdNoMlst])
def test_entries_without_mlsd_fall_back_to_nlst_once_per_session(serve, handler):
    root, seen = serve(handler)
    _inbox(root)
    with MoodleFtp("moodle_ftp") as ftp:
        ftp.ftp.cwd("/inbox")
        assert ftp.entries("/inbox") == FULL
        assert not ftp.has_mlsd
        assert ftp.entries("/inbox/archive") == [Entry("old.csv", "file", 3, JUNE_1)]
        assert ftp.list_files("/inbox", ".CSV") == ["C.CSV", "a.csv", "b.csv"]
        assert ftp.entries("/nowhere") == []
        assert ftp.ftp.pwd() == "/inbox", "CWD probes put the working folder back"
        assert _last_type(seen) == "TYPE I"
        assert ftp.ftp.size("/inbox/b.csv") == 1234
    attempts = _count(seen, "MLSD") + _count(seen, "OPTS MLST")
    assert attempts == (2 if handler is NoMlsd else 1), seen  # NoMlsd: OPTS passes, then MLSD fails
    assert _count(seen, "NLST") == 4

    with MoodleFtp("moodle_ftp") as ftp:  # a new session asks again
        assert ftp.list_files("/inbox", ".csv") == ["C.CSV", "a.csv", "b.csv"]
    assert _count(seen, "MLSD") + _count(seen, "OPTS MLST") == 2 * attempts


def test_nlst_with_path_prefixed_names(serve):
    root, seen = serve(PrefixedNlst)
    _inbox(root)
    with MoodleFtp("moodle_ftp") as ftp:
        assert ftp.entries("/inbox") == FULL
        assert ftp.entries("/inbox/archive/") == [Entry("old.csv", "file", 3, JUNE_1)]
        assert ftp.names("/inbox") == {"C.CSV", "a.csv", "archive", "b.csv", "empty.txt"}
        assert ftp.free_name("/inbox", "a.csv") == "a-2.csv"
        assert ftp.list_files("/inbox", ".csv") == ["C.CSV", "a.csv", "b.csv"]
    assert any(line.upper().startswith("NLST") for line in seen)


@pytest.mark.parametrize("handler", [EmptyNlst450, EmptyNlst550])
def test_nlst_refusing_an_empty_folder_is_an_empty_listing(serve, handler):
    root, seen = serve(handler)
    (root / "inbox").mkdir()
    with MoodleFtp("moodle_ftp") as ftp:
        assert ftp.entries("/inbox") == []
        assert ftp.names("/inbox") == set()
        assert ftp.entries("/nowhere") == []
        _put(root, "/inbox/a.csv", b"abc", JUNE_1)
        assert ftp.entries("/inbox") == [Entry("a.csv", "file", 3, JUNE_1)]
        assert _last_type(seen) == "TYPE I"
    assert any(line == "NLST /inbox" for line in seen)


def test_without_size_and_mdtm_files_are_still_told_from_folders(serve):
    root, seen = serve(NoSizeNoMdtm)
    _inbox(root)
    with MoodleFtp("moodle_ftp") as ftp:
        ftp.ftp.cwd("/inbox")
        assert ftp.entries("/inbox") == [
            Entry("C.CSV", "file", None, None),
            Entry("a.csv", "file", None, None),
            Entry("archive", "folder", None, None),
            Entry("b.csv", "file", None, None),
            Entry("empty.txt", "file", None, None),
        ]
        assert ftp.list_files("/inbox", ".csv") == ["C.CSV", "a.csv", "b.csv"]
        assert ftp.ftp.pwd() == "/inbox"
        assert (ftp.has_size, ftp.has_mdtm) == (False, False)
        assert ftp.stat("/inbox/a.csv") == Entry("a.csv", "file", None, None)
        assert ftp.stat("/inbox/gone.csv") is None
        assert ftp.stat("/inbox/archive") is None
    # each asked once, then remembered for the session
    assert (_count(seen, "SIZE"), _count(seen, "MDTM")) == (1, 1)
    assert _last_type(seen) == "TYPE I"


def test_mdtm_with_milliseconds(serve):
    root, _ = serve(FractionalMdtm)
    _put(root, "/inbox/a.csv", b"abc", JUNE_1)
    with MoodleFtp("moodle_ftp") as ftp:
        expected = Entry("a.csv", "file", 3, JUNE_1.replace(microsecond=250000))
        assert ftp.entries("/inbox") == [expected]
        assert ftp.stat("/inbox/a.csv") == expected


@pytest.mark.parametrize("handler", [Recording, NoMlsdNoMlst])
def test_stat_sees_a_file_change(serve, handler):
    root, seen = serve(handler)
    _put(root, "/inbox/a.csv", b"abc", JUNE_1)
    with MoodleFtp("moodle_ftp") as ftp:
        assert ftp.stat("/inbox/a.csv") == Entry("a.csv", "file", 3, JUNE_1)
        assert ftp.stat("/inbox/missing.csv") is None
        assert ftp.stat("/nowhere/a.csv") is None
        assert ftp.stat("/inbox") is None, "a folder is not a file"
        _put(root, "/inbox/a.csv", b"abc,def\r\n", JUNE_2)
        assert ftp.stat("/inbox/a.csv") == Entry("a.csv", "file", 9, JUNE_2)
        assert ftp.read("/inbox/a.csv") == b"abc,def\r\n"
    if handler is Recording:
        assert _count(seen, "MLST") == 5 and _count(seen, "SIZE") == 0
    else:
        assert _count(seen, "MLST") == 1, "no MLST: asked once, then SIZE and MDTM"
        assert _count(seen, "SIZE") == 5


def test_upload_and_moves_still_work_without_mlsd(serve):
    root, _ = serve(PrefixedNlst)
    with MoodleFtp("moodle_ftp") as ftp:
        assert ftp.upload_atomic("/out", "users.csv", b"one") == "/out/users.csv"
        assert ftp.upload_atomic("/out", "users.csv", b"two") == "/out/users.csv"
        assert ftp.entries("/out") == [Entry("users.csv", "file", 3, ftp.stat("/out/users.csv").modified)]
        target = ftp.reserve("/out/done", "users.csv")
        ftp.rename("/out/users.csv", target)
        assert ftp.entries("/out/done") == [Entry("users.csv", "file", 3, ftp.stat(target).modified)]
    assert (root / "out" / "done" / "users.csv").read_bytes() == b"two"
