"""Real faults for the fault tests (``test_resulting_faults.py``), injected at an exact moment.

- :class:`StoppableFtpServer`: a pyftpdlib server on 127.0.0.1 that a test can really stop
  (``close_all()``: the listening socket and every client connection are closed) and start again
  on the same port and root folder, so the ``moodle_ftp`` connection string keeps working.
- :class:`LockHolder`: a second process that opens the SQLite PowerPro file and holds a lock
  until it is told to let go.
"""

from __future__ import annotations

import os
import select
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

from ftp_server import make_server


class StoppableFtpServer:
    """The same server the other DAG tests use (``scripts/ftp_server.make_server``), served by a
    loop of our own so that it can be stopped from the server's own thread.

    ``stop()`` asks the serving thread to call ``close_all()`` and waits until it has: when
    ``stop()`` returns, nothing listens on the port and every client connection is closed, so the
    client's next command fails at once (EOF / connection reset), never half the time.
    (Calling ``close_all()`` from another thread while the server's thread sits in ``epoll`` makes
    that thread die with "I/O operation on closed epoll object": a race, not a clean stop.)

    ``start()`` binds a new server to the same port (pyftpdlib sets ``SO_REUSEADDR``) and root.
    """

    def __init__(self, root: Path, user: str, password: str) -> None:
        self.root, self.user, self.password = Path(root), user, password
        self.port = 0
        self.stops = 0
        self.starts = 0
        self._server = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.start()

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> None:
        assert not self.running, "the server is running already"
        server = make_server(self.root, self.user, self.password, self.port)
        self.port = server.address[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(server, self._stop), daemon=True,
                                        name=f"ftp-{self.port}")
        self._server = server
        self.starts += 1
        self._thread.start()

    @staticmethod
    def _serve(server, stop: threading.Event) -> None:
        while not stop.is_set():
            server.ioloop.loop(0.02, blocking=False)
        server.close_all()

    def stop(self) -> None:
        assert self.running, "the server is stopped already"
        self._stop.set()
        self._thread.join(timeout=10)
        assert not self._thread.is_alive(), "the FTP server did not stop"
        self._server = None
        self.stops += 1

    def close(self) -> None:
        if self.running:
            self.stop()

    # The helpers of conftest's FtpServer, for the same assertions.
    def path(self, remote: str) -> Path:
        return self.root / remote.lstrip("/")

    def files(self, folder: str) -> list[str]:
        path = self.path(folder)
        return sorted(p.name for p in path.iterdir() if p.is_file()) if path.is_dir() else []

    def put(self, remote: str, data: bytes | str, age_seconds: float = 3600) -> None:
        target = self.path(remote)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
        when = time.time() - age_seconds
        os.utime(target, (when, when))


# A second process holding a lock on the SQLite file. "read" holds a SHARED lock (an open read
# transaction, as a long report or a backup does): SQLite's COMMIT needs an EXCLUSIVE lock, which
# it cannot get while another connection holds SHARED, so the commit waits out its busy timeout
# and fails with "database is locked". "exclusive" holds BEGIN EXCLUSIVE (no one may read or write).
_HOLDER = textwrap.dedent("""
    import select, sqlite3, sys
    path, mode, most = sys.argv[1], sys.argv[2], float(sys.argv[3])
    conn = sqlite3.connect(path, timeout=0, isolation_level=None)
    if mode == "read":
        conn.execute("BEGIN")
        conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
    else:
        conn.execute("BEGIN EXCLUSIVE")
    print("holding", flush=True)
    select.select([sys.stdin], [], [], most)  # until told (a line, or stdin closed) or `most` seconds
    conn.execute("ROLLBACK")
    conn.close()
    print("released", flush=True)
""")


class LockHolder:
    """A ``python -c`` process that takes a lock on the SQLite file and holds it until
    :meth:`release` (or ``most`` seconds, so a failing test never leaves it behind)."""

    def __init__(self, path: Path, mode: str = "read", most: float = 20.0) -> None:
        self.path, self.mode, self.most = Path(path), mode, most
        self.proc: subprocess.Popen | None = None
        self.held_at: float | None = None
        self.released_at: float | None = None

    def start(self, wait: float = 10.0) -> None:
        """Launch the holder; returns once it reports it holds the lock."""
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _HOLDER, str(self.path), self.mode, str(self.most)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        ready, _, _ = select.select([self.proc.stdout], [], [], wait)
        line = self.proc.stdout.readline() if ready else ""
        if line.strip() != "holding":
            self.proc.kill()
            raise RuntimeError(f"the lock holder did not take its lock: {line!r} {self.proc.stderr.read()!r}")
        self.held_at = time.monotonic()

    def release(self) -> None:
        """Tell the holder to let go; returns once it has."""
        if self.proc is None or self.released_at is not None:
            return
        try:
            self.proc.stdin.write("release\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, ValueError):
            pass
        out, err = self.proc.communicate(timeout=10)
        assert self.proc.returncode == 0 and out.strip() == "released", (out, err)
        self.released_at = time.monotonic()

    def release_later(self, seconds: float) -> threading.Timer:
        timer = threading.Timer(seconds, self.release)
        timer.daemon = True
        timer.start()
        return timer

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


def write_lock_free(path: Path) -> bool:
    """Whether a new connection can take SQLite's write lock at once (``BEGIN IMMEDIATE`` without
    waiting): False while any connection holds RESERVED, PENDING or EXCLUSIVE."""
    conn = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        conn.close()


_TAKE_EXCLUSIVE = textwrap.dedent("""
    import sqlite3, sys
    conn = sqlite3.connect(sys.argv[1], timeout=0, isolation_level=None)
    conn.execute("BEGIN EXCLUSIVE")
    conn.execute("INSERT INTO MoodleCourseUnit VALUES ('OTHER-PROCESS', 'X')")
    conn.execute("COMMIT")
    print("written", flush=True)
""")


def other_process_writes_at_once(path: Path) -> subprocess.CompletedProcess:
    """A second process takes ``BEGIN EXCLUSIVE`` with no busy wait (timeout 0) and writes a row:
    it succeeds only when no connection anywhere holds any lock on the file."""
    return subprocess.run([sys.executable, "-c", _TAKE_EXCLUSIVE, str(path)], capture_output=True, text=True,
                          timeout=30)
