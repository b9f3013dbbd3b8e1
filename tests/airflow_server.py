"""A real ``airflow api-server`` for the UI tests: the simple auth manager with two users and their
passwords (not all-admins mode), this repository's plugins, and a seeded PowerPro sync log.

Used as a pytest plugin (``pytest_plugins = ["airflow_server"]`` in a test module) so the
session-scoped :func:`airflow_api_server` fixture is one fixture, started once per test process
whichever module asks first, and stopped (its whole process group) when the session ends.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from local_airflow import airflow_environ
from powerpro_sample import conn_json, create_reference_db
from sync_log_sample import Seeded, seed

ROOT = Path(__file__).resolve().parents[1]
AIRFLOW = Path(sys.executable).parent / "airflow"
#: user -> (role, password)
USERS = {"admin": ("admin", "admin-Pa55word"), "viewer": ("viewer", "viewer-Pa55word")}
JWT_SECRET = "powerpro-moodle-ui-tests-jwt-secret-0123456789"
START_DEADLINE_SECONDS = 120


@dataclass
class ApiServer:
    url: str
    home: Path
    log: Path
    powerpro_db: Path
    seeded: Seeded
    env: dict[str, str] = field(repr=False)
    _tokens: dict[str, str] = field(default_factory=dict, repr=False)

    def password(self, user: str) -> str:
        return USERS[user][1]

    def token(self, user: str = "viewer") -> str:
        """A JWT for ``user`` from ``POST /auth/token`` (answers 201), cached per user."""
        if user not in self._tokens:
            answer = httpx.post(f"{self.url}/auth/token", json={"username": user, "password": self.password(user)}, timeout=30)
            assert answer.status_code == 201, (answer.status_code, answer.text)
            self._tokens[user] = answer.json()["access_token"]
        return self._tokens[user]

    def get(self, path: str, *, user: str | None = "viewer", cookie: bool = False, **params) -> httpx.Response:
        """``GET path`` as ``user`` (``None``: anonymous), with a Bearer token or, with
        ``cookie=True``, the ``_token`` cookie the UI's iframe sends."""
        headers, cookies = {}, {}
        if user is not None:
            if cookie:
                cookies["_token"] = self.token(user)
            else:
                headers["Authorization"] = f"Bearer {self.token(user)}"
        with httpx.Client(base_url=self.url, cookies=cookies, timeout=60) as client:
            return client.get(path, headers=headers, params=params or None)

    def log_tail(self, chars: int = 6000) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")[-chars:] if self.log.exists() else "(no log)"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_environ(home: Path, port: int, powerpro_db: Path) -> dict[str, str]:
    """The API server's environment: its own home and metadata DB, the repository's dags/ and
    plugins/, the simple auth manager with real users and passwords, and ``powerpro_db``."""
    passwords = home / "passwords.json"
    passwords.write_text(json.dumps({user: password for user, (_, password) in USERS.items()}), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "_AIRFLOW"))}
    env.update(airflow_environ(home))
    env.update({
        "AIRFLOW__CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(f"{u}:{role}" for u, (role, _) in USERS.items()),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
        "AIRFLOW__API_AUTH__JWT_SECRET": JWT_SECRET,
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW_CONN_POWERPRO_DB": conn_json(powerpro_db),
        "PYTHONUNBUFFERED": "1",
    })
    return env


def _stop(process: subprocess.Popen) -> None:
    """Stop the server and every process it started (its process group)."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    except ProcessLookupError:
        pass


def _wait_healthy(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_DEADLINE_SECONDS
    last = "no answer yet"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"airflow api-server exited with {process.returncode} before it was healthy; its log:\n"
                        + log.read_text(encoding="utf-8", errors="replace")[-6000:])
        try:
            answer = httpx.get(f"{url}/api/v2/monitor/health", timeout=5)
            if answer.status_code == 200:
                return
            last = f"{answer.status_code} {answer.text[:200]}"
        except httpx.HTTPError as err:
            last = repr(err)
        time.sleep(0.5)
    _stop(process)
    pytest.fail(f"airflow api-server not healthy at {url} within {START_DEADLINE_SECONDS} s ({last}); its log:\n"
                + log.read_text(encoding="utf-8", errors="replace")[-6000:])


@pytest.fixture(scope="session")
def airflow_api_server(tmp_path_factory):
    """``airflow api-server`` on a free loopback port, healthy, with the sync log seeded."""
    home = tmp_path_factory.mktemp("ui_airflow_home")
    powerpro_db = home / "powerpro.db"
    create_reference_db(powerpro_db)
    seeded = seed(powerpro_db)
    port = free_port()
    env = server_environ(home, port, powerpro_db)
    log = home / "api-server.log"
    migrated = subprocess.run([str(AIRFLOW), "db", "migrate"], env=env, cwd=home, capture_output=True, text=True)
    assert migrated.returncode == 0, migrated.stdout[-3000:] + migrated.stderr[-3000:]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(AIRFLOW), "api-server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
            env=env, cwd=home, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, process, log)
        yield ApiServer(url=url, home=home, log=log, powerpro_db=powerpro_db, seeded=seeded, env=env)
    finally:
        _stop(process)
