"""``make demo``: the whole sync on the embedded default, on this machine.

1. builds a sample PowerPro database (SQLite, reference schema, a few hundred students, some of
   every anomaly) in ``.demo/``;
2. starts a local FTP server (pyftpdlib on 127.0.0.1) standing in for Moodle's;
3. runs ``powerpro_moodle_provisioning`` with ``airflow dags test``, twice (the second run shows
   the delta: nothing changed, nothing sent), and prints the users file and the sync log;
4. plays Moodle: turns the users file into a completions file and drops it in ``/from_moodle``;
5. runs ``powerpro_moodle_resulting`` and prints the outcomes written and the sync log;
6. delivers the same completions file again and shows that nothing is applied twice;
7. the student lifecycle: a withdrawal is suspended, the student enrolled again is
   reactivated, and a mass change (a course's flag cleared) is held, then approved with
   ``approve_mass_suspension``;
8. stops the FTP server. Running it again starts from scratch.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / ".demo"
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT / "scripts"))

import moodle_standin  # noqa: E402
from local_airflow import airflow_environ  # noqa: E402
from powerpro_sample import PowerPro, build_demo_sample, conn_json, create_reference_db  # noqa: E402


def say(title: str) -> None:
    print(f"\n=== {title} ===", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the FTP server exited early (code {proc.returncode})")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"the FTP server did not listen on 127.0.0.1:{port} within {seconds}s")


def airflow_env(db_path: Path, ftp_port: int, ftp_password: str) -> dict[str, str]:
    return {
        **os.environ,
        **airflow_environ(DEMO / "airflow", retry_delay_seconds=2),
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        "AIRFLOW_CONN_POWERPRO_DB": conn_json(db_path),
        "AIRFLOW_CONN_MOODLE_FTP": f"ftp://moodle:{ftp_password}@127.0.0.1:{ftp_port}",
        # The stand-in drops its file the moment before the run; a real inbox waits a minute.
        "AIRFLOW_VAR_POWERPRO_MOODLE_SETTINGS": json.dumps({"file_settle_seconds": 3, "go_live": True}),
    }


def airflow(env: dict[str, str], *args: str, log_name: str, expect_failure: bool = False) -> None:
    log = DEMO / "logs" / log_name
    log.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with log.open("w") as out:
        code = subprocess.call([str(BIN / "airflow"), *args], env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    if (code != 0) != expect_failure:
        print(log.read_text()[-6000:])
        outcome = f"failed (exit {code})" if code else "succeeded where it should have failed"
        raise SystemExit(f"`airflow {' '.join(args)}` {outcome}; full log: {log}")
    result = "failed, as expected" if expect_failure else "ok"
    print(f"(airflow {' '.join(args[:3])}: {result} in {time.monotonic() - started:.0f}s, log {log.relative_to(ROOT)})")


def print_sync_log(db_path: Path, dag_id: str) -> None:
    with sqlite3.connect(db_path) as conn:
        conn.row_factory = sqlite3.Row
        rows = conn.execute(
            "SELECT SyncLogID, LoggedAt, TaskId, MapIndex, TryNumber, Status, RowsRead, RowsWritten, RowsSkipped, "
            "RowsRejected, Message, Details FROM ELearningSyncLog WHERE DagId = ? ORDER BY SyncLogID",
            (dag_id,),
        ).fetchall()
    for r in rows:
        task = r["TaskId"] + (f"[{r['MapIndex']}]" if r["MapIndex"] is not None else "")
        print(
            f"#{r['SyncLogID']} {r['LoggedAt']} {task} try {r['TryNumber']} {r['Status'].upper()} "
            f"read={r['RowsRead']} written={r['RowsWritten']} skipped={r['RowsSkipped']} rejected={r['RowsRejected']}"
        )
        print(f"    {r['Message']}")
        anomalies = json.loads(r["Details"] or "{}").get("anomalies", [])
        for a in anomalies[:12]:
            print(f"      - {a['level']}: {a['record']} {a['key']}: {a['reason']}")
        if len(anomalies) > 12:
            print(f"      … and {len(anomalies) - 12} more in Details")


def main() -> None:
    DEMO.mkdir(exist_ok=True)
    db_path = DEMO / "powerpro_demo.db"
    ftp_root = DEMO / "ftp"
    if ftp_root.exists():
        import shutil

        shutil.rmtree(ftp_root)
    ftp_root.mkdir(parents=True)

    say("1. Sample PowerPro database (SQLite, reference schema)")
    create_reference_db(db_path)
    pp = PowerPro(db_path)
    planted = build_demo_sample(pp)
    counts = {t: pp.rows(f"SELECT COUNT(*) AS n FROM {t}")[0]["n"] for t in ("Student", "Course", "Enrolment", "EnrolmentUnit")}
    pp.close()
    print(f"{db_path.relative_to(ROOT)}: " + ", ".join(f"{n} {t}" for t, n in counts.items()))
    print("Planted anomalies: " + "; ".join(f"{k}: {', '.join(v)}" for k, v in planted.items()))

    say("2. Local FTP server standing in for Moodle's")
    port, password = free_port(), secrets.token_urlsafe(12)
    ftp = subprocess.Popen(
        [sys.executable, str(ROOT / "scripts" / "ftp_server.py"), "--root", str(ftp_root), "--port", str(port),
         "--password", password],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, ftp)
        print(f"pyftpdlib on 127.0.0.1:{port}, serving {ftp_root.relative_to(ROOT)}")
        env = airflow_env(db_path, port, password)
        airflow(env, "db", "migrate", log_name="db_migrate.log")

        say("3. Provisioning: airflow dags test powerpro_moodle_provisioning")
        airflow(env, "dags", "test", "powerpro_moodle_provisioning", log_name="provisioning_1.log")
        users = sorted((ftp_root / "to_moodle").glob("*.csv"))
        for path in users:
            lines = path.read_text(encoding="utf-8").splitlines()
            print(f"Uploaded /to_moodle/{path.name}: {len(lines) - 1} students. First rows:")
            for line in lines[:6]:
                print("    " + line)
        print("\nE-Learning Sync Log:")
        print_sync_log(db_path, "powerpro_moodle_provisioning")

        say("3b. Provisioning again: nothing changed, so nothing is sent")
        time.sleep(1)  # file names carry the run's time to the second
        airflow(env, "dags", "test", "powerpro_moodle_provisioning", log_name="provisioning_2.log")
        print(f"Files in /to_moodle: {len(sorted((ftp_root / 'to_moodle').glob('*.csv')))} (unchanged)")
        print(f"Latest export_users row: {latest_message(db_path, 'export_users')}")

        resulting_demo(env, db_path, ftp_root, users)
        lifecycle_demo(env, db_path, ftp_root)
        say("Summary")
        print(summary_line(db_path))
    finally:
        ftp.terminate()
        ftp.wait(timeout=10)
        say("Done. The FTP server is stopped")
        print(f"Everything the demo made is in {DEMO.relative_to(ROOT)}/ (run `make demo` again to start over).")


def summary_line(db_path: Path) -> str:
    """What the sync log says about the whole demo, in one line: every run's tasks and how they ended."""
    with sqlite3.connect(db_path) as conn:
        rows = conn.execute("SELECT Status, COUNT(*) FROM ELearningSyncLog GROUP BY Status ORDER BY Status").fetchall()
        held = conn.execute("SELECT COUNT(*) FROM ELearningSyncLog WHERE Status = 'failed' AND Message LIKE 'held:%'"
                            ).fetchone()[0]
    counts = dict(rows)
    failed = counts.get("failed", 0)
    verdict = ("every step worked" if failed == held else
               f"{failed - held} task(s) failed unexpectedly: see the sync log rows above and .demo/logs/")
    told = ", ".join(f"{n} {status}" for status, n in rows)
    return (f"E-Learning Sync Log: {sum(counts.values())} task rows ({told}; {held} held for approval, as "
            f"planted); {verdict}.")


def latest_message(db_path: Path, task_id: str) -> str:
    with sqlite3.connect(db_path) as conn:
        (message,) = conn.execute(
            "SELECT Message FROM ELearningSyncLog WHERE TaskId = ? ORDER BY SyncLogID DESC LIMIT 1", (task_id,)
        ).fetchone()
    return message


def resulting_demo(env: dict[str, str], db_path: Path, ftp_root: Path, users: list[Path]) -> None:
    """Moodle's side, then the resulting DAG."""
    say("4. Moodle stand-in: completions for some of the provisioned students")
    made = moodle_standin.write_completions(users, db_path, ftp_root / "from_moodle")
    print(made)

    say("5. Resulting: airflow dags test powerpro_moodle_resulting")
    airflow(env, "dags", "test", "powerpro_moodle_resulting", log_name="resulting_1.log")
    moodle_standin.print_outcomes(db_path, ftp_root)
    print("\nE-Learning Sync Log:")
    print_sync_log(db_path, "powerpro_moodle_resulting")

    say("6. Moodle delivers the same file again: exactly once, nothing is written twice")
    processed = ftp_root / "from_moodle" / "processed" / "completions_20260401.csv"
    (ftp_root / "from_moodle" / processed.name).write_bytes(processed.read_bytes())
    airflow(env, "dags", "test", "powerpro_moodle_resulting", log_name="resulting_2.log")
    print(f"Latest import_completion_file row: {latest_message(db_path, 'import_completion_file')}")


def change_powerpro(db_path: Path, statement: str, *params: object) -> int:
    """What PowerPro staff do in PowerPro; returns the rows changed."""
    with sqlite3.connect(db_path) as conn:
        return conn.execute(statement, params).rowcount


def provision(env: dict[str, str], db_path: Path, ftp_root: Path, log_name: str, conf: str | None = None,
              expect_failure: bool = False, rows: int = 4) -> None:
    """One provisioning run; prints the users file it uploaded (if any) and its sync log row."""
    time.sleep(1)  # file names carry the run's time to the second
    before = set((ftp_root / "to_moodle").glob("*.csv"))
    args = ["dags", "test", "powerpro_moodle_provisioning", *(["-c", conf] if conf else [])]
    airflow(env, *args, log_name=log_name, expect_failure=expect_failure)
    for path in sorted(set((ftp_root / "to_moodle").glob("*.csv")) - before):
        lines = path.read_text(encoding="utf-8").splitlines()
        print(f"Uploaded /to_moodle/{path.name}: {len(lines) - 1} students. First rows:")
        for line in lines[: rows + 1]:
            print("    " + line)
    with sqlite3.connect(db_path) as conn:
        status, message, details = conn.execute(
            "SELECT Status, Message, Details FROM ELearningSyncLog WHERE TaskId = 'export_users' "
            "ORDER BY SyncLogID DESC LIMIT 1").fetchone()
    print(f"export_users {status.upper()}: {message}")
    for change in json.loads(details or "{}").get("changes", [])[:3]:
        print(f"      - {change['kind']}: {change['student']} {change.get('reason') or change.get('fields') or ''}")


def lifecycle_demo(env: dict[str, str], db_path: Path, ftp_root: Path) -> None:
    """Section 4b: suspension, reactivation, the mass-suspension hold and its approval."""
    with sqlite3.connect(db_path) as conn:
        # A learner the sync sent, with one enrolment only.
        student_id, number = conn.execute(
            "SELECT s.StudentID, s.StudentNumber FROM MoodleSyncExportState x JOIN Student s ON s.StudentID = x.StudentID "
            "WHERE x.Suspended = 0 AND (SELECT COUNT(*) FROM Enrolment e WHERE e.StudentID = s.StudentID) = 1 "
            "ORDER BY s.StudentNumber LIMIT 1").fetchone()

    say(f"7. Lifecycle: {number} withdraws in PowerPro, and is suspended in Moodle (once)")
    change_powerpro(db_path, "UPDATE Enrolment SET Status = 'Withdrawn' WHERE StudentID = ?", student_id)
    provision(env, db_path, ftp_root, "provisioning_withdrawal.log")

    say(f"7b. {number} is enrolled again: reactivated")
    change_powerpro(db_path, "UPDATE Enrolment SET Status = 'Active' WHERE StudentID = ?", student_id)
    provision(env, db_path, ftp_root, "provisioning_reactivation.log")

    say("7c. Someone clears HLTAID011's \"provision to Moodle\" flag: the mass-suspension hold stops the run")
    change_powerpro(db_path, "UPDATE Course SET MoodleProvision = 0 WHERE CourseCode = 'HLTAID011'")
    provision(env, db_path, ftp_root, "provisioning_held.log", expect_failure=True)
    print(f"Files in /to_moodle: {len(list((ftp_root / 'to_moodle').glob('*.csv')))} (nothing uploaded)")

    say("7d. The change was intended: approved with approve_mass_suspension")
    provision(env, db_path, ftp_root, "provisioning_approved.log", conf='{"approve_mass_suspension": true}', rows=3)
    with sqlite3.connect(db_path) as conn:
        (suspended,) = conn.execute("SELECT COUNT(*) FROM MoodleSyncExportState WHERE Suspended = 1").fetchone()
    print(f"MoodleSyncExportState: {suspended} students suspended")


if __name__ == "__main__":
    main()
