"""``make airflow``: Airflow 3 on this machine, on the demo stack, for trying the package.

Not for production: it runs ``airflow standalone`` (SQLite metadata, LocalExecutor) with

* the sample PowerPro database (SQLite, reference schema, ~300 students) as ``powerpro_db``;
* a local FTP server (pyftpdlib on 127.0.0.1) standing in for Moodle's, as ``moodle_ftp``;
* the settings Variable preset (``powerpro_moodle_settings``);
* this repository's ``dags/`` and ``plugins/`` (the E-Learning Sync Log page included);
* a login printed on the screen.

Ctrl-C stops everything it started: the FTP server, and Airflow with every process it forked.
State is kept in ``.airflow-local/`` between runs; ``make clean`` removes it.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HOME = ROOT / ".airflow-local"
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT / "scripts"))

from local_airflow import airflow_environ  # noqa: E402
from powerpro_sample import PowerPro, build_demo_sample, conn_json, create_reference_db  # noqa: E402

#: The settings Variable to start with: a short settle time, so files dropped by hand are taken
#: quickly, and go_live unset, so the first runs only preview, as on a real new install.
SETTINGS = {"file_settle_seconds": 5}


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check, seconds: float, what: str, proc: subprocess.Popen, log: Path | None = None) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text()[-4000:] if log and log.exists() else ""
            raise SystemExit(f"{what}: the process exited early (code {proc.returncode})\n{tail}")
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"{what}: not ready within {seconds:.0f} s" + (f"; see {log}" if log else ""))


def start_ftp_server(root: Path, password: str, attempts: int = 3) -> tuple[subprocess.Popen, int]:
    """The stand-in Moodle FTP server, listening. A free port can be taken by another program
    before the server binds it: then it exits at once, and another port is tried."""
    import socket

    for _ in range(attempts):
        port = free_port()
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "scripts" / "ftp_server.py"), "--root", str(root), "--port", str(port),
             "--password", password],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        deadline = time.monotonic() + 15
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                return proc, port
            except OSError:
                time.sleep(0.1)
        stop(proc, "the FTP server")
    raise SystemExit(f"the stand-in FTP server did not start on a free port ({attempts} tries)")


def stop(proc: subprocess.Popen | None, name: str) -> None:
    """Stop ``proc`` and everything in its process group (Airflow's scheduler, workers, ...)."""
    if proc is None:
        return
    if proc.poll() is not None:
        print(f"{name} had already stopped (exit code {proc.returncode})", flush=True)
        return
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    # Workers that outlived their parent are still in the group: make sure none is left.
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    print(f"stopped {name}", flush=True)


def prepare(home: Path) -> tuple[Path, Path, str]:
    """The sample database and FTP folder (made once), and the admin password (made once)."""
    home.mkdir(parents=True, exist_ok=True)
    db_path, ftp_root = home / "powerpro.db", home / "ftp"
    if not db_path.exists():
        create_reference_db(db_path)
        pp = PowerPro(db_path)
        build_demo_sample(pp)
        pp.close()
    for folder in ("to_moodle", "from_moodle"):
        (ftp_root / folder).mkdir(parents=True, exist_ok=True)
    passwords = home / "passwords.json"
    if not passwords.exists():
        passwords.write_text(json.dumps({"admin": secrets.token_urlsafe(12)}))
    return db_path, ftp_root, json.loads(passwords.read_text())["admin"]


def environment(home: Path, db_path: Path, ftp_port: int, ftp_password: str, port: int) -> dict[str, str]:
    return {
        **os.environ,
        **airflow_environ(home / "airflow", retry_delay_seconds=30),
        # standalone starts its scheduler, API server and the rest as `airflow ...` from PATH.
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        # The default (32) forks 32 workers and needs over 5 GB.
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
        "AIRFLOW_CONN_POWERPRO_DB": conn_json(db_path),
        "AIRFLOW_CONN_MOODLE_FTP": f"ftp://moodle:{ftp_password}@127.0.0.1:{ftp_port}",
    }


def healthy(port: int) -> bool:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/monitor/health", timeout=2) as response:
        health = json.load(response)
    return all(health.get(part, {}).get("status") == "healthy" for part in ("metadatabase", "scheduler"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8080, help="the web UI's port (default 8080; 0 = any free one)")
    parser.add_argument("--home", type=Path, default=HOME, help=argparse.SUPPRESS)
    args = parser.parse_args()
    port = args.port or free_port()
    db_path, ftp_root, admin_password = prepare(args.home)
    logs = args.home / "logs"
    logs.mkdir(exist_ok=True)

    ftp = airflow = None
    stopping = []

    def on_signal(signum, frame):  # Ctrl-C, or a kill from the terminal
        stopping.append(signum)
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    try:
        ftp_password = secrets.token_urlsafe(12)
        ftp, ftp_port = start_ftp_server(ftp_root, ftp_password)
        env = environment(args.home, db_path, ftp_port, ftp_password, port)
        print("Preparing Airflow's metadata database ...", flush=True)
        subprocess.run([str(BIN / "airflow"), "db", "migrate"], env=env, cwd=ROOT, check=True,
                       stdout=(logs / "db_migrate.log").open("w"), stderr=subprocess.STDOUT)
        # A stored Variable (not an AIRFLOW_VAR_ environment variable, which would win over it), so
        # that setting go_live in the UI or with `airflow variables set` takes effect. Kept across restarts.
        known = subprocess.run([str(BIN / "airflow"), "variables", "get", "powerpro_moodle_settings"], env=env,
                               cwd=ROOT, capture_output=True)
        if known.returncode != 0:
            subprocess.run([str(BIN / "airflow"), "variables", "set", "powerpro_moodle_settings", json.dumps(SETTINGS)],
                           env=env, cwd=ROOT, check=True, capture_output=True)
        log = logs / "standalone.log"
        print(f"Starting airflow standalone on port {port} (log: {log.relative_to(ROOT) if log.is_relative_to(ROOT) else log}) ...",
              flush=True)
        airflow = subprocess.Popen([str(BIN / "airflow"), "standalone"], env=env, cwd=ROOT,
                                   stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
        wait_until(lambda: healthy(port), 180, "airflow standalone", airflow, log)
        print(
            f"\nAirflow is ready at http://127.0.0.1:{port}\n"
            f"  login:    admin\n  password: {admin_password}\n"
            f"  Moodle's stand-in FTP server: 127.0.0.1:{ftp_port}, folders in {ftp_root}\n"
            f"  the sample PowerPro database: {db_path}\n"
            "Both DAGs start paused. Press Ctrl-C to stop everything.",
            flush=True,
        )
        while airflow.poll() is None:
            time.sleep(1)
        raise SystemExit(f"airflow standalone stopped by itself (code {airflow.returncode}); see {log}")
    except KeyboardInterrupt:
        print("\nStopping ...", flush=True)
    finally:
        stop(airflow, "Airflow")
        stop(ftp, "the FTP server")


if __name__ == "__main__":
    main()
