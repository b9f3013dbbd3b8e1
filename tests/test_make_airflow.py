"""``make airflow`` (scripts/airflow_local.py): a real ``airflow standalone`` on the demo stack,
reachable with the printed login, both DAGs loaded and paused, and Ctrl-C leaves nothing running."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def processes_using(home: Path) -> list[int]:
    """Processes whose environment points Airflow at ``home`` (what `make airflow` started)."""
    marker = f"AIRFLOW_HOME={home}/airflow".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker in (entry / "environ").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def call(url: str, data: dict | None = None, token: str | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=json.dumps(data).encode() if data else None,
                                     headers={"Content-Type": "application/json",
                                              **({"Authorization": f"Bearer {token}"} if token else {})})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, json.load(response)


def test_make_airflow_starts_a_usable_airflow_and_ctrl_c_stops_all_of_it(tmp_path):
    home = tmp_path / "airflow-local"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "POWERPRO_MOODLE"))}
    proc = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "airflow_local.py"), "--port", "0",
                             "--home", str(home)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines = []
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "Press Ctrl-C" in line:
                break
        text = "".join(lines)
        url = re.search(r"Airflow is ready at (http://127\.0\.0\.1:\d+)", text)
        password = re.search(r"password: (\S+)", text)
        assert url and password, text
        url = url.group(1)

        status, token = call(f"{url}/auth/token", {"username": "admin", "password": password.group(1)})
        assert status == 201
        _, dags = call(f"{url}/api/v2/dags", token=token["access_token"])
        assert {(d["dag_id"], d["is_paused"]) for d in dags["dags"]} == {
            ("powerpro_moodle_provisioning", True), ("powerpro_moodle_resulting", True)}, "loaded, and paused"
        _, variable = call(f"{url}/api/v2/variables/powerpro_moodle_settings", token=token["access_token"])
        assert "go_live" not in json.loads(variable["value"]), "stored, not live: setting go_live in the UI works"
        _, errors = call(f"{url}/api/v2/importErrors", token=token["access_token"])
        assert errors["total_entries"] == 0
        assert processes_using(home), "Airflow's processes are running"
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in the terminal sends
        out, _ = proc.communicate(timeout=60)
    assert "stopped Airflow" in out and "stopped the FTP server" in out
    time.sleep(1)
    assert processes_using(home) == [], "no stray scheduler, worker or API server left"
