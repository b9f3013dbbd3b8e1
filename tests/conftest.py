"""Real parts for the tests: a pyftpdlib server on 127.0.0.1, a reference-schema SQLite
PowerPro, and an Airflow home with a migrated metadata database for ``dag.test()``."""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

from local_airflow import airflow_environ  # noqa: E402

# Airflow reads its configuration when first imported: set it up before anything imports it.
_HOME = Path(tempfile.mkdtemp(prefix="powerpro_moodle_airflow_"))
os.environ.update(airflow_environ(_HOME))
# The tests exercise a site that is live; tests of the safe first run set go_live themselves.
LIVE = {"go_live": True}
os.environ["AIRFLOW_VAR_POWERPRO_MOODLE_SETTINGS"] = json.dumps(LIVE)

import logging  # noqa: E402

import pytest  # noqa: E402

pytest.register_assert_rewrite("real_servers")
from ftp_server import start_in_thread  # noqa: E402
from powerpro_sample import PowerPro, conn_json, create_reference_db  # noqa: E402
from real_servers import (  # noqa: E402, F401 - fixtures for the tests
    KINDS,
    proftpd_server,
    proftpd_tls_server,
    pure_ftpd_server,
    real_ftp_server,
    sftp_server,
    skip_reason,
)

FTP_USER, FTP_PASSWORD = "moodle", "ftp-Secr3t-pw"


@pytest.fixture(scope="session")
def airflow_db():
    """Airflow's metadata database, migrated once per session."""
    from airflow.utils.db import initdb

    initdb()
    return _HOME


class FtpServer:
    def __init__(self, root: Path, port: int) -> None:
        self.root, self.port = root, port

    def path(self, remote: str) -> Path:
        return self.root / remote.lstrip("/")

    def files(self, folder: str) -> list[str]:
        path = self.path(folder)
        return sorted(p.name for p in path.iterdir() if p.is_file()) if path.is_dir() else []

    def put(self, remote: str, data: bytes | str, age_seconds: float = 3600) -> None:
        """Deliver a file. It was written ``age_seconds`` ago (an hour by default: long settled,
        as a file Moodle's host left there earlier); ``age_seconds=0`` is a file just written."""
        target = self.path(remote)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
        self.age(remote, age_seconds)

    def age(self, remote: str, seconds: float = 3600) -> None:
        """Make a file's last change ``seconds`` ago (it has long stopped changing)."""
        when = time.time() - seconds
        os.utime(self.path(remote), (when, when))


@pytest.fixture
def ftp_server(tmp_path, monkeypatch):
    """A real FTP server on 127.0.0.1 behind the ``moodle_ftp`` connection."""
    logging.getLogger("pyftpdlib").setLevel(logging.WARNING)
    root = tmp_path / "ftp"
    root.mkdir()
    server, port = start_in_thread(root, FTP_USER, FTP_PASSWORD)
    monkeypatch.setenv("AIRFLOW_CONN_MOODLE_FTP", f"ftp://{FTP_USER}:{FTP_PASSWORD}@127.0.0.1:{port}")
    yield FtpServer(root, port)
    server.close_all()


@pytest.fixture
def powerpro(tmp_path, monkeypatch):
    """A reference-schema PowerPro database on SQLite behind the ``powerpro_db`` connection."""
    path = tmp_path / "powerpro.db"
    create_reference_db(path)
    monkeypatch.setenv("AIRFLOW_CONN_POWERPRO_DB", conn_json(path))
    db = PowerPro(path)
    yield db
    db.close()


@pytest.fixture
def settings(monkeypatch):
    """Set the ``powerpro_moodle_settings`` Variable (JSON) for a test (live, unless it says)."""
    def _set(**values):
        monkeypatch.setenv("AIRFLOW_VAR_POWERPRO_MOODLE_SETTINGS", json.dumps({**LIVE, **values}))

    return _set


def _load_dag(dag_id: str):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags"))
    assert not bag.import_errors, bag.import_errors
    return bag.dags[dag_id]


@pytest.fixture
def run_dag(airflow_db):
    """Run a DAG for real with ``dag.test()``; returns the DagRun (it does not raise on failure)."""

    def _run(dag_id: str, **conf):
        dag = _load_dag(dag_id)
        return dag.test(run_conf=conf or None)

    return _run


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """One clear line when the real FTP/SFTP servers are not installed here, and how to fix it."""
    missing = sorted({reason.split(" test server")[0] for kind in KINDS if (reason := skip_reason(kind))})
    if missing:
        terminalreporter.write_line(
            f"real-server tests skipped ({', '.join(missing)} not installed or not root): "
            "install them with `sudo bash scripts/install-test-servers.sh`", yellow=True)
