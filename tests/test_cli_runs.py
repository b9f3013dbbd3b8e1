"""Both DAGs the way RTO IT runs them by hand: ``airflow dags test`` in its own process, against
an FTP server running as its own process and a reference-schema database."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.dagrun


@pytest.fixture
def ftp_process(tmp_path):
    """``scripts/ftp_server.py`` in a separate process, as the demo runs it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    root = tmp_path / "ftp"
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "scripts" / "ftp_server.py"), "--root", str(root), "--port", str(port),
         "--password", "cli-pw"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 15
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            assert time.monotonic() < deadline and proc.poll() is None, "FTP server did not start"
            time.sleep(0.1)
    yield root, f"ftp://moodle:cli-pw@127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=10)


def airflow_dags_test(dag_id: str, conn_ftp: str, conf: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "AIRFLOW_CONN_MOODLE_FTP": conn_ftp, "PYTHONPATH": str(ROOT / "plugins")}
    args = [str(Path(sys.executable).parent / "airflow"), "dags", "test", dag_id]
    if conf is not None:
        args += ["-c", json.dumps(conf)]
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=300, cwd=ROOT)


def test_both_dags_from_the_command_line(powerpro, ftp_process, airflow_db):
    root, conn = ftp_process
    s1 = powerpro.student("S1", "Ann", "Lee")
    eid = powerpro.enrol(s1, powerpro.course("BSB50420", "BSB50420-2026"))
    powerpro.enrolment_unit(eid, powerpro.unit("BSBOPS504"))

    done = airflow_dags_test("powerpro_moodle_provisioning", conn, {"full_resync": True})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (users,) = (root / "to_moodle").iterdir()
    assert users.read_text(encoding="utf-8").splitlines()[1].startswith("s1,Ann,Lee,,s1@")

    (root / "from_moodle").mkdir()
    (root / "from_moodle" / "c.csv").write_text(
        "user_idnumber,course_idnumber,timecompleted\r\nS1,BSBOPS504,2026-03-31T14:30:00Z\r\n", encoding="utf-8")
    done = airflow_dags_test("powerpro_moodle_resulting", conn)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert powerpro.rows("SELECT OutcomeCode, OutcomeDate, OutcomeSource FROM EnrolmentUnit") == [
        {"OutcomeCode": "20", "OutcomeDate": "2026-04-01", "OutcomeSource": "Moodle sync"}]
    assert sorted(p.name for p in (root / "from_moodle" / "processed").iterdir()) == ["c.csv"]
    statuses = {(r["DagId"], r["TaskId"], r["Status"]) for r in powerpro.sync_log()}
    assert ("powerpro_moodle_resulting", "import_completion_file", "success") in statuses


def test_a_bad_run_parameter_is_refused_before_anything_runs(powerpro, ftp_process, airflow_db):
    root, conn = ftp_process
    done = airflow_dags_test("powerpro_moodle_provisioning", conn, {"dry_run": "maybe"})
    assert done.returncode != 0
    assert "dry_run" in done.stdout + done.stderr
    assert not (root / "to_moodle").exists()
