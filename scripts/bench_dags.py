"""Whole-DAG figures for ``make bench`` (issue 10): real ``airflow dags test`` runs, each against
a hand-written floor doing the same job in the same run.

* **resulting**: ``powerpro_moodle_resulting`` on a completion file of N rows (default 100k and
  1M), delivered by a local pyftpdlib server process to a generated reference-schema PowerPro on
  SQLite sized for the largest N (so the database is the same at every size: the slope is the
  file's). The floor: fetch the file over FTP, ``pandas.read_csv`` it (``dtype=str``), load a
  staging table, one set-based ``UPDATE … FROM``. Reported: each run's wall time and the peak
  RSS of the process running the tasks (``airflow dags test`` runs them in its own process; a
  small wrapper reads its ``ru_maxrss``), the import task's own duration (from Airflow's
  metadata) and its steps (its summary's ``seconds``), the floor, and the **marginal** ratio
  ``(time(N2) - time(N1)) / (floor(N2) - floor(N1))``: Airflow's fixed start-up cancels out.
  Also ``rss_ratio = rss(N2) / rss(N1)``.
* **provisioning**: ``powerpro_moodle_provisioning`` at S students (default 10k and 100k): a
  first run, then an unchanged rerun. Floors: ``pandas.read_sql`` of the provisioning join,
  ``to_csv``, one FTP ``STOR`` (first run); the same ``read_sql`` alone (rerun). Reported as for
  resulting, plus the export task's steps (its summary's ``seconds``: read_enrolments,
  read_state, compare, decide_one_by_one, write_file, upload, record). The floor records no
  state; the sync must (hash each student, write MoodleSyncExportState), so that work is all
  above the floor.
* **parse**: how long a DAG processor takes to parse each DAG file, against a trivial DAG file,
  each in a fresh interpreter (best of 5; Airflow itself imported before the clock starts).

Options (environment): ``BENCH_SIZES`` (completion rows, e.g. ``100000,1000000``),
``BENCH_STUDENTS`` (e.g. ``10000,100000``), ``BENCH_REPEATS`` (best of k runs per size, default 1).
"""

from __future__ import annotations

import csv
import ftplib
import json
import os
import random
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "plugins"))

from local_airflow import airflow_environ  # noqa: E402
from powerpro_sample import conn_json, create_reference_db  # noqa: E402

RESULTING_DAG = "powerpro_moodle_resulting"
PROVISIONING_DAG = "powerpro_moodle_provisioning"
DEFAULT_ROWS = (100_000, 1_000_000)
DEFAULT_STUDENTS = (10_000, 100_000)
#: Goals of issue 10 (ratios to the floor; the RSS goal is rss(N2) / rss(N1)).
GOALS = {"resulting_marginal": 2.0, "resulting_rss": 1.2, "provisioning_first_marginal": 2.0,
         "provisioning_rerun_marginal": 2.0, "parse_ms_over_trivial": 50.0}
COURSES = 60
UNITS_PER_COURSE = 6
ROWS_PER_STUDENT = 3.4  # what the generator below averages
FTP_USER = "moodle"
MIB = 1024 * 1024
SYDNEY = ZoneInfo("Australia/Sydney")


def log(text: str) -> None:
    print(f"  [dags] {text}", file=sys.stderr, flush=True)


def sizes_from_env(name: str, default: tuple[int, ...]) -> tuple[int, ...]:
    raw = os.environ.get(name, "").replace("_", "").strip()
    if not raw:
        return default
    values = tuple(sorted({int(v) for v in raw.split(",") if v.strip()}))
    if len(values) != 2 or values[0] <= 0:
        raise SystemExit(f"{name} must be two positive sizes, such as {','.join(map(str, default))}; got {raw!r}")
    return values


def repeats_from_env() -> int:
    return max(1, int(os.environ.get("BENCH_REPEATS", "1")))


# --------------------------------------------------------------------------- the stack


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Stack:
    """A local FTP server process, an Airflow home with a migrated metadata database, and the
    environment ``airflow dags test`` runs with."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.ftp_root = work / "ftp"
        self.ftp_root.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.password = "bench-" + os.urandom(6).hex()
        self.ftp = subprocess.Popen(
            [sys.executable, str(ROOT / "scripts" / "ftp_server.py"), "--root", str(self.ftp_root), "--port",
             str(self.port), "--user", FTP_USER, "--password", self.password],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                break
            except OSError:
                if self.ftp.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("the benchmark's FTP server did not start") from None
                time.sleep(0.1)
        self.home = work / "airflow"
        self.db_path = work / "powerpro.db"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "POWERPRO_MOODLE"))},
            **airflow_environ(self.home, retry_delay_seconds=1),
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
            "AIRFLOW_CONN_POWERPRO_DB": conn_json(self.db_path),
            "AIRFLOW_CONN_MOODLE_FTP": f"ftp://{FTP_USER}:{self.password}@127.0.0.1:{self.port}",
            "AIRFLOW_VAR_POWERPRO_MOODLE_SETTINGS": json.dumps(bench_settings()),
        }
        run = measure([str(BIN / "airflow"), "db", "migrate"], self.env, work / "db_migrate.log")
        if run["exit"] != 0:
            raise SystemExit(f"airflow db migrate failed; see {work / 'db_migrate.log'}")

    def close(self) -> None:
        self.ftp.terminate()
        try:
            self.ftp.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.ftp.kill()
            self.ftp.wait()

    def ftp_session(self) -> ftplib.FTP:
        ftp = ftplib.FTP()
        ftp.connect("127.0.0.1", self.port, timeout=60)
        ftp.login(FTP_USER, self.password)
        return ftp

    def dags_test(self, dag_id: str, log_name: str) -> dict[str, Any]:
        """One ``airflow dags test`` run: wall seconds, peak RSS, exit code, and each task's duration."""
        run = measure([str(BIN / "airflow"), "dags", "test", dag_id], self.env, self.work / "logs" / log_name)
        run["tasks"] = self.task_durations(dag_id)
        if run["exit"] != 0:
            tail = (self.work / "logs" / log_name).read_text(errors="replace")[-3000:]
            raise RuntimeError(f"airflow dags test {dag_id} failed (exit {run['exit']}):\n{tail}")
        return run

    def task_durations(self, dag_id: str) -> dict[str, float]:
        with sqlite3.connect(self.home / "airflow.db") as conn:
            (run_id,) = conn.execute(
                "SELECT run_id FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1", (dag_id,)).fetchone()
            rows = conn.execute(
                "SELECT task_id, map_index, start_date, end_date FROM task_instance WHERE dag_id = ? AND run_id = ?",
                (dag_id, run_id)).fetchall()
        out = {}
        for task_id, map_index, start, end in rows:
            if start and end:
                seconds = (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
                out[task_id + (f"[{map_index}]" if map_index is not None and map_index >= 0 else "")] = round(seconds, 3)
        return out

    def sync_log(self, dag_id: str) -> list[dict[str, Any]]:
        with sqlite3.connect(self.db_path) as conn:
            conn.row_factory = sqlite3.Row
            return [dict(r) for r in conn.execute(
                "SELECT TaskId, Status, RowsRead, RowsWritten, RowsSkipped, RowsRejected, Message, Details FROM ELearningSyncLog "
                "WHERE DagId = ? ORDER BY SyncLogID", (dag_id,))]


def bench_settings() -> dict[str, Any]:
    """The ``powerpro_moodle_settings`` Variable of the benchmark runs: files settle at once, and
    provisioning is live (where the settings have that switch) so it really sends."""
    from powerpro_moodle.formats.settings import Settings

    settings: dict[str, Any] = {"file_settle_seconds": 1}
    if "go_live" in Settings.model_fields:
        settings["go_live"] = True
    return settings


#: Runs a command and reports its resource use. A process forked from this one would start with
#: this process's pages counted as its own (``ru_maxrss`` survives ``exec``): the command is
#: started from this small interpreter instead, which reads its child's ``ru_maxrss``.
_RUSAGE_WRAPPER = """
import json, resource, subprocess, sys
code = subprocess.call(sys.argv[2:])
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
with open(sys.argv[1], "w") as out:
    json.dump({"maxrss_kib": usage.ru_maxrss, "cpu_s": usage.ru_utime + usage.ru_stime, "exit": code}, out)
"""


def measure(cmd: list[str], env: dict[str, str], log_path: Path) -> dict[str, Any]:
    """Run ``cmd`` to the end: its wall time, CPU time and the peak resident memory of its
    process (the largest of it and the children it waited for: ``airflow dags test`` runs the
    tasks in its own process)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    report = log_path.with_suffix(".rusage.json")
    with log_path.open("w") as out:
        started = time.perf_counter()
        subprocess.call([sys.executable, "-c", _RUSAGE_WRAPPER, str(report), *cmd], env=env, cwd=ROOT, stdout=out,
                        stderr=subprocess.STDOUT)
        wall = time.perf_counter() - started
    usage = json.loads(report.read_text())
    return {"wall_s": round(wall, 3), "peak_rss_mib": round(usage["maxrss_kib"] * 1024 / MIB, 1),
            "cpu_s": round(usage["cpu_s"], 3), "exit": usage["exit"]}


def best(runs: list[dict[str, Any]], key: str = "wall_s") -> dict[str, Any]:
    return min(runs, key=lambda r: r[key])


def marginal(small: float, large: float, floor_small: float, floor_large: float) -> float | None:
    slope_floor = floor_large - floor_small
    return round((large - small) / slope_floor, 2) if slope_floor > 0 else None


# --------------------------------------------------------------------------- resulting data


def unit_code(course: int, j: int) -> str:
    return f"UNT{course:02d}{j + 1:02d}"


def course_code(course: int) -> str:
    return f"C{course:02d}MOODLE"


def students_for_rows(rows: int) -> int:
    return max(50, int(rows / ROWS_PER_STUDENT * 1.05) + 10)


def build_resulting_db(path: Path, students: int) -> dict[str, int]:
    """A reference-schema PowerPro: ``students`` students, one Active enrolment each in one of
    COURSES courses of UNITS_PER_COURSE units (1% also under an older, Withdrawn enrolment: a
    course transfer), a cluster Moodle course per course mapped to its units 5 and 6, and some
    outcomes already there (2% by a trainer, equal to Moodle's; 1% by a trainer, different; 10%
    from an earlier Moodle run)."""
    create_reference_db(path)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA journal_mode = MEMORY")
    with conn:
        conn.executemany("INSERT INTO Course VALUES (?, ?, ?, '2026-02-02', '2026-12-11', 1, ?)",
                         [(c + 1, course_code(c), f"Course {c}", f"{course_code(c)}-2026") for c in range(COURSES)])
        conn.executemany("INSERT INTO Unit VALUES (?, ?, ?)",
                         [(c * UNITS_PER_COURSE + j + 1, unit_code(c, j), f"Unit {unit_code(c, j)}")
                          for c in range(COURSES) for j in range(UNITS_PER_COURSE)])
        conn.executemany("INSERT INTO MoodleCourseUnit VALUES (?, ?)",
                         [(f"{course_code(c)}-CLUSTER", unit_code(c, j)) for c in range(COURSES) for j in (4, 5)])
        conn.executemany("INSERT INTO Student VALUES (?, ?, ?, ?, NULL, ?)",
                         ((k + 1, f"S{100001 + k}", "Sam", f"Student{k}", f"s{100001 + k}@example.edu.au")
                          for k in range(students)))
        enrolments, eus = [], []
        eid = euid = 0
        for k in range(students):
            c = k % COURSES
            mine = [(eid + 2, "Active")]
            if k % 100 == 3:
                mine.insert(0, (eid + 1, "Withdrawn"))
            eid += 2
            for enrolment_id, status in mine:
                enrolments.append((enrolment_id, k + 1, c + 1, status, 1))
                for j in range(UNITS_PER_COURSE):
                    euid += 1
                    code = day = source = None
                    if k % 50 == 5 and j == 0:
                        code, day, source = "20", "2026-02-02", "Trainer"
                    elif k % 97 == 11 and j == 1:
                        code, day, source = "30", "2026-02-02", "Trainer"
                    elif k % 10 == 0:
                        code, day, source = "20", "2026-02-01", "Moodle sync"
                    eus.append((euid, enrolment_id, c * UNITS_PER_COURSE + j + 1, code, day, source, None))
        conn.executemany("INSERT INTO Enrolment VALUES (?, ?, ?, ?, ?)", enrolments)
        conn.executemany("INSERT INTO EnrolmentUnit VALUES (?, ?, ?, ?, ?, ?, ?)", eus)
    conn.execute("ANALYZE")
    conn.close()
    return {"students": students, "enrolments": len(enrolments), "enrolment_units": len(eus)}


def completion_cells(rnd: random.Random, i: int, number: str, course: str, start: int,
                     span_days: int) -> tuple[str, str, str, str]:
    """One completion row's user, course, time and grade as real reports carry them: the id in
    another case (1 in 50), an unknown student (1 in 500) or course, a mix of time formats,
    not completed, failing grades (~9% below a pass mark of 50), a few bad grades and times.
    Shared by both benchmarks, so their files are alike."""
    user = number.lower() if i % 50 == 9 else number
    if i % 500 == 29:
        user = "X" + number  # unknown student
    if rnd.random() < 0.0015:
        course = "NOPE101"  # unknown course
    seconds = start + rnd.randrange(span_days * 86400)
    roll = rnd.random()
    if roll < 0.55:
        timecompleted = str(seconds)
    elif roll < 0.75:
        timecompleted = datetime.fromtimestamp(seconds, SYDNEY).isoformat(timespec="seconds")
    elif roll < 0.9:
        timecompleted = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))
    else:
        timecompleted = rnd.choice(["", "0", "-"])
    grade = f"{rnd.uniform(45, 100):.5f}" if rnd.random() < 0.9 else "-"
    if rnd.random() < 0.001:
        grade = "85,5"  # bad grade
    if rnd.random() < 0.001:
        timecompleted = "2026-03-01 10:00"  # bad time: no offset
    return user, course, timecompleted, grade


def write_completions(path: Path, rows: int, seed: int = 2026) -> dict[str, int]:
    """A Moodle completion report of ``rows`` data rows for the first students of
    :func:`build_resulting_db`, with what real reports carry: ids in another case, unknown
    students and courses, cluster courses (some superseded by the unit's own course), a mix of
    time formats, not-completed rows, failing grades, a few bad times and grades, exact repeats."""
    rnd = random.Random(seed)
    start = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp())
    written = 0
    i = 0
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(["user_idnumber", "username", "course_idnumber", "coursename", "timecompleted",
                         "finalgrade", "gradepass"])
        while written < rows:
            number = f"S{100001 + i}"
            c = i % COURSES
            courses = [unit_code(c, j) for j in range(4 if i % 3 == 0 else 3)]
            if i % 20 == 1:
                courses[-1] = f"{course_code(c)}-CLUSTER"
                if i % 40 == 21:
                    courses.append(unit_code(c, 4))
            for course in courses:
                user, course, timecompleted, grade = completion_cells(rnd, i, number, course, start, 80)
                line = [user, number.lower(), course, f"Course {course}", timecompleted, grade, "50.00000"]
                writer.writerow(line)
                written += 1
                if i % 200 == 7 and written < rows:
                    writer.writerow(line)
                    written += 1
                if written >= rows:
                    break
            i += 1
    return {"rows": written, "students_named": i, "bytes": path.stat().st_size}


def age(path: Path, seconds: float = 3600) -> None:
    when = time.time() - seconds
    os.utime(path, (when, when))


# --------------------------------------------------------------------------- resulting floor


def resulting_floor(stack: Stack, db_copy: Path, remote: str, local: Path) -> dict[str, float]:
    """The least any code could do for the same job, timed by part: fetch the file over FTP,
    read it with pandas, load a staging table, apply it with one set-based UPDATE … FROM."""
    import pandas as pd

    t0 = time.perf_counter()
    ftp = stack.ftp_session()
    with local.open("wb") as out:
        ftp.retrbinary(f"RETR {remote}", out.write, blocksize=1 << 20)
    ftp.quit()
    t1 = time.perf_counter()
    frame = pd.read_csv(local, dtype=str, keep_default_na=False)
    t2 = time.perf_counter()
    conn = sqlite3.connect(db_copy)
    conn.execute("CREATE TABLE FloorStage (UserIdNumber TEXT, CourseIdNumber TEXT, TimeCompleted TEXT, "
                 "FinalGrade TEXT, GradePass TEXT)")
    columns = ["user_idnumber", "course_idnumber", "timecompleted", "finalgrade", "gradepass"]
    conn.executemany("INSERT INTO FloorStage VALUES (?, ?, ?, ?, ?)", frame[columns].itertuples(index=False, name=None))
    t3 = time.perf_counter()
    written = conn.execute(
        """UPDATE EnrolmentUnit SET OutcomeCode = '20', OutcomeDate = substr(f.TimeCompleted, 1, 10),
                  OutcomeSource = 'Moodle sync', ModifiedAt = '2026-04-01 09:00:00'
           FROM FloorStage AS f
           JOIN Student AS s ON s.StudentNumber = f.UserIdNumber
           JOIN Unit AS u ON u.UnitCode = f.CourseIdNumber
           JOIN Enrolment AS e ON e.StudentID = s.StudentID
           WHERE EnrolmentUnit.EnrolmentID = e.EnrolmentID AND EnrolmentUnit.UnitID = u.UnitID""").rowcount
    conn.commit()
    t4 = time.perf_counter()
    conn.close()
    del frame
    return {"wall_s": round(t4 - t0, 3), "ftp_retr_s": round(t1 - t0, 3), "read_csv_s": round(t2 - t1, 3),
            "stage_s": round(t3 - t2, 3), "update_from_s": round(t4 - t3, 3), "rows_updated": written}


# --------------------------------------------------------------------------- resulting


def bench_resulting(stack: Stack, sizes: tuple[int, ...], repeats: int) -> dict[str, Any]:
    base = stack.work / "resulting_base.db"
    log(f"resulting: building a PowerPro for {max(sizes):,} completion rows")
    db_facts = build_resulting_db(base, students_for_rows(max(sizes)))
    inbox = stack.ftp_root / "from_moodle"
    inbox.mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {"database": db_facts, "runs": {}}
    for n in sizes:
        name = f"completions_{n}.csv"
        source = stack.work / name
        facts = write_completions(source, n)
        log(f"resulting: {n:,} rows ({facts['bytes'] / MIB:.1f} MiB)")
        dag_runs, floors = [], []
        for k in range(repeats):
            shutil.copyfile(base, stack.db_path)
            shutil.rmtree(inbox, ignore_errors=True)
            inbox.mkdir(parents=True)
            shutil.copyfile(source, inbox / name)
            age(inbox / name)
            run = stack.dags_test(RESULTING_DAG, f"resulting_{n}_{k}.log")
            (row,) = [r for r in stack.sync_log(RESULTING_DAG) if r["TaskId"] == "import_completion_file"]
            if row["Status"] != "success" or row["RowsRead"] != facts["rows"]:
                raise RuntimeError(f"the resulting run did not apply the file: {row}")
            run["sync_log"] = {k2: row[k2] for k2 in ("RowsRead", "RowsWritten", "RowsSkipped", "RowsRejected")}
            # Where the import task's time went, by step (its summary's "seconds").
            run["import_steps_s"] = json.loads(row["Details"] or "{}").get("seconds")
            run["import_task_s"] = next((v for t, v in run["tasks"].items() if t.startswith("import_completion")),
                                        None)
            dag_runs.append(run)
            log(f"resulting: {n:,} rows: dags test {run['wall_s']:.1f} s (import task {run['import_task_s']} s), "
                f"peak RSS {run['peak_rss_mib']:.0f} MiB")
            # The floor on its own copy of the same database, with the same file on the same server.
            shutil.copyfile(base, stack.work / "floor.db")
            shutil.copyfile(source, inbox / name)
            floors.append(resulting_floor(stack, stack.work / "floor.db", f"/from_moodle/{name}",
                                          stack.work / "floor_download.csv"))
            log(f"resulting: {n:,} rows: floor {floors[-1]['wall_s']:.1f} s")
        out["runs"][str(n)] = {"file": facts, "dags_test": best(dag_runs), "dags_test_all_s": [r["wall_s"] for r in dag_runs],
                               "peak_rss_mib": min(r["peak_rss_mib"] for r in dag_runs), "floor": best(floors)}
    small, large = (out["runs"][str(n)] for n in sizes)
    out["marginal_ratio"] = marginal(small["dags_test"]["wall_s"], large["dags_test"]["wall_s"],
                                     small["floor"]["wall_s"], large["floor"]["wall_s"])
    if small["dags_test"]["import_task_s"] is not None and large["dags_test"]["import_task_s"] is not None:
        out["marginal_ratio_import_task"] = marginal(small["dags_test"]["import_task_s"],
                                                     large["dags_test"]["import_task_s"],
                                                     small["floor"]["wall_s"], large["floor"]["wall_s"])
    out["rss_ratio"] = round(large["peak_rss_mib"] / small["peak_rss_mib"], 2)
    out["rss_bytes_per_extra_row"] = round((large["peak_rss_mib"] - small["peak_rss_mib"]) * MIB / (sizes[1] - sizes[0]))
    out["sizes"] = list(sizes)
    out["goals"] = {"marginal_ratio": GOALS["resulting_marginal"], "rss_ratio": GOALS["resulting_rss"]}
    return out


# --------------------------------------------------------------------------- provisioning

#: The provisioning join the floor reads (both flags, a provisioned status).
PROVISIONING_JOIN = """
SELECT s.StudentNumber, s.FirstName, s.LastName, s.PreferredName, s.Email, c.MoodleCohort
FROM Enrolment AS e
JOIN Student AS s ON s.StudentID = e.StudentID
JOIN Course AS c ON c.CourseID = e.CourseID
WHERE c.MoodleProvision = 1 AND e.MoodleProvision = 1 AND e.Status = 'Active'
ORDER BY s.StudentID, e.EnrolmentID
"""


def build_provisioning_db(path: Path, students: int) -> dict[str, int]:
    """``students`` students, each with an Active, flagged enrolment in one of COURSES courses
    (20% with a second one), plus some withdrawn and unflagged enrolments."""
    create_reference_db(path)
    rnd = random.Random(2026)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA synchronous = OFF")
    with conn:
        conn.executemany("INSERT INTO Course VALUES (?, ?, ?, '2026-02-02', '2026-12-11', 1, ?)",
                         [(c + 1, course_code(c), f"Course {c}", f"{course_code(c)}-2026") for c in range(COURSES)])
        conn.executemany("INSERT INTO Student VALUES (?, ?, ?, ?, ?, ?)",
                         ((k + 1, f"S{100001 + k}", rnd.choice(["Sam", "Ngaio", "Zoë", "Thanh"]), f"Student{k}",
                           "Bec" if k % 12 == 0 else None, f"s{100001 + k}@example.edu.au") for k in range(students)))
        enrolments = []
        eid = 0
        for k in range(students):
            courses = [k % COURSES] + ([(k + 7) % COURSES] if k % 5 == 0 else [])
            for c in courses:
                eid += 1
                enrolments.append((eid, k + 1, c + 1, "Active", 1))
            if k % 10 == 3:
                eid += 1
                enrolments.append((eid, k + 1, (k + 3) % COURSES + 1, rnd.choice(["Withdrawn", "Active"]),
                                   rnd.choice([0, 1]) if k % 20 == 3 else 0))
        conn.executemany("INSERT INTO Enrolment VALUES (?, ?, ?, ?, ?)", enrolments)
    conn.execute("ANALYZE")
    conn.close()
    return {"students": students, "enrolments": len(enrolments)}


def provisioning_floor(stack: Stack, db_copy: Path, upload: bool) -> dict[str, float]:
    import io

    import pandas as pd

    t0 = time.perf_counter()
    with sqlite3.connect(db_copy) as conn:
        frame = pd.read_sql(PROVISIONING_JOIN, conn)
    t1 = time.perf_counter()
    out = {"read_sql_s": round(t1 - t0, 3), "rows": len(frame)}
    if upload:
        data = frame.to_csv(index=False).encode("utf-8")
        t2 = time.perf_counter()
        ftp = stack.ftp_session()
        ftp.storbinary("STOR /floor_users.csv", io.BytesIO(data))
        ftp.quit()
        t3 = time.perf_counter()
        out.update(to_csv_s=round(t2 - t1, 3), ftp_stor_s=round(t3 - t2, 3))
    out["wall_s"] = round(time.perf_counter() - t0, 3)
    return out


def bench_provisioning(stack: Stack, sizes: tuple[int, ...], repeats: int) -> dict[str, Any]:
    """First run and unchanged rerun at each size. Measurement only: the provisioning code is
    whatever the tree holds."""
    out: dict[str, Any] = {"runs": {}}
    for n in sizes:
        base = stack.work / f"provisioning_{n}.db"
        facts = build_provisioning_db(base, n)
        log(f"provisioning: {n:,} students ({facts['enrolments']:,} enrolments)")
        firsts, reruns, floor_firsts, floor_reruns = [], [], [], []
        for k in range(repeats):
            shutil.copyfile(base, stack.db_path)
            shutil.rmtree(stack.ftp_root / "to_moodle", ignore_errors=True)
            firsts.append(stack.dags_test(PROVISIONING_DAG, f"provisioning_{n}_first_{k}.log"))
            time.sleep(1.1)  # the users file's name carries the run's second
            reruns.append(stack.dags_test(PROVISIONING_DAG, f"provisioning_{n}_rerun_{k}.log"))
            sent = [r for r in stack.sync_log(PROVISIONING_DAG) if r["TaskId"] == "export_users"]
            firsts[-1]["sync_log"], reruns[-1]["sync_log"] = (
                {**{c: r[c] for c in ("Status", "RowsRead", "RowsWritten", "RowsSkipped", "RowsRejected")},
                 "Message": (r["Message"] or "")[:300]} for r in sent[-2:])
            # Where the export task's time went, by step (its summary's "seconds").
            firsts[-1]["export_steps_s"], reruns[-1]["export_steps_s"] = (
                json.loads(r["Details"] or "{}").get("seconds") for r in sent[-2:])
            log(f"provisioning: {n:,} students: first {firsts[-1]['wall_s']:.1f} s, rerun {reruns[-1]['wall_s']:.1f} s")
            shutil.copyfile(base, stack.work / "floor.db")
            floor_firsts.append(provisioning_floor(stack, stack.work / "floor.db", upload=True))
            floor_reruns.append(provisioning_floor(stack, stack.work / "floor.db", upload=False))
        out["runs"][str(n)] = {"database": facts, "first": best(firsts), "rerun": best(reruns),
                               "floor_first": best(floor_firsts), "floor_rerun": best(floor_reruns)}
    small, large = (out["runs"][str(n)] for n in sizes)
    for kind in ("first", "rerun"):
        out[f"{kind}_marginal_ratio"] = marginal(small[kind]["wall_s"], large[kind]["wall_s"],
                                                 small[f"floor_{kind}"]["wall_s"], large[f"floor_{kind}"]["wall_s"])
        out[f"{kind}_rss_ratio"] = round(large[kind]["peak_rss_mib"] / small[kind]["peak_rss_mib"], 2)
        out[f"{kind}_marginal_ratio_export_task"] = marginal(
            small[kind]["tasks"].get("export_users", 0), large[kind]["tasks"].get("export_users", 0),
            small[f"floor_{kind}"]["wall_s"], large[f"floor_{kind}"]["wall_s"])
    out["sizes"] = list(sizes)
    out["goals"] = {"first_marginal_ratio": GOALS["provisioning_first_marginal"],
                    "rerun_marginal_ratio": GOALS["provisioning_rerun_marginal"]}
    return out


# --------------------------------------------------------------------------- parse

TRIVIAL_DAG = '''
"""A trivial DAG: the parse-time floor."""
import pendulum
from airflow.sdk import DAG
from airflow.providers.standard.operators.empty import EmptyOperator

with DAG(dag_id="bench_trivial", schedule=None, start_date=pendulum.datetime(2026, 1, 1), catchup=False):
    EmptyOperator(task_id="nothing")
'''

_PARSE_PROBE = textwrap.dedent("""
    import sys, time
    from airflow.dag_processing.dagbag import DagBag
    import airflow.sdk
    import airflow.providers.standard.operators.empty  # the trivial DAG's one import, off the clock too
    started = time.perf_counter()
    bag = DagBag(dag_folder=sys.argv[1], safe_mode=False)
    elapsed = time.perf_counter() - started
    assert not bag.import_errors, bag.import_errors
    print(f"PARSE_MS {elapsed * 1000:.3f} {len(bag.dags)}")
""")


def bench_parse(stack: Stack | None, work: Path, rounds: int = int(os.environ.get("BENCH_PARSE_ROUNDS", "5"))) -> dict[str, Any]:
    """Each DAG file parsed by a DagBag in a fresh interpreter (Airflow imported first, off the
    clock), best of ``rounds``, against a trivial DAG parsed the same way."""
    env = stack.env if stack is not None else {**os.environ, **airflow_environ(work / "airflow")}
    trivial = work / "trivial_dag" / "bench_trivial.py"
    trivial.parent.mkdir(parents=True, exist_ok=True)
    trivial.write_text(TRIVIAL_DAG, encoding="utf-8")
    files = {"trivial": trivial, **{p.stem: p for p in sorted((ROOT / "dags").glob("*.py"))}}
    times: dict[str, list[float]] = {name: [] for name in files}
    for _ in range(rounds):
        for name, path in files.items():  # interleaved, so all files see the same load
            proc = subprocess.run([sys.executable, "-c", _PARSE_PROBE, str(path)], env=env, cwd=ROOT,
                                  capture_output=True, text=True, check=False)
            line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("PARSE_MS ")), None)
            if line is None:
                raise RuntimeError(f"parsing {path} failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
            times[name].append(float(line.split()[1]))
    floor = min(times["trivial"])
    return {
        "trivial_ms": round(floor, 1),
        "files": {name: {"parse_ms": round(min(t), 1), "over_trivial_ms": round(min(t) - floor, 1)}
                  for name, t in times.items() if name != "trivial"},
        "rounds": rounds,
        "goal_over_trivial_ms": GOALS["parse_ms_over_trivial"],
    }


# --------------------------------------------------------------------------- entry


def run_parts(parts: set[str]) -> dict[str, Any]:
    """Run the whole-DAG parts asked for (``resulting``, ``provisioning``, ``parse``)."""
    results: dict[str, Any] = {}
    wanted = parts & {"resulting", "provisioning", "parse"}
    if not wanted:
        return results
    repeats = repeats_from_env()
    with tempfile.TemporaryDirectory(prefix="powerpro_bench_dags_") as tmp:
        work = Path(tmp)
        stack = Stack(work) if wanted & {"resulting", "provisioning"} else None
        try:
            steps: list[tuple[str, Callable[[], dict[str, Any]]]] = []
            if "parse" in wanted:
                steps.append(("parse", lambda: bench_parse(stack, work)))
            if "resulting" in wanted:
                steps.append(("resulting",
                              lambda: bench_resulting(stack, sizes_from_env("BENCH_SIZES", DEFAULT_ROWS), repeats)))
            if "provisioning" in wanted:
                steps.append(("provisioning", lambda: bench_provisioning(
                    stack, sizes_from_env("BENCH_STUDENTS", DEFAULT_STUDENTS), repeats)))
            for name, fn in steps:
                log(f"{name} ...")
                try:
                    results[name] = fn()
                except Exception as err:  # noqa: BLE001 - one part failing must not lose the others' figures
                    results[name] = {"error": f"{type(err).__name__}: {err}"[:4000]}
                    log(f"{name} FAILED: {err}")
        finally:
            if stack is not None:
                stack.close()
            if os.environ.get("BENCH_KEEP"):
                kept = ROOT / ".bench" / "work"
                shutil.rmtree(kept, ignore_errors=True)
                shutil.copytree(work, kept, ignore=shutil.ignore_patterns("*.db", "*.csv"))
    return results


def print_dags(results: dict[str, Any]) -> None:
    """The whole-DAG figures as a few lines."""
    if "parse" in results and "error" not in results["parse"]:
        p = results["parse"]
        files = ", ".join(f"{k} {v['parse_ms']:.0f} ms (+{v['over_trivial_ms']:.0f})" for k, v in p["files"].items())
        print(f"DAG file parse (best of {p['rounds']}, fresh interpreter): trivial DAG {p['trivial_ms']:.0f} ms; {files}"
              f"  [goal: within {p['goal_over_trivial_ms']:.0f} ms of trivial]")
    r = results.get("resulting")
    if r and "error" not in r:
        n1, n2 = r["sizes"]
        a, b = r["runs"][str(n1)], r["runs"][str(n2)]
        print(f"resulting, airflow dags test, {n1:,} -> {n2:,} completion rows:")
        for n, x in ((n1, a), (n2, b)):
            d = x["dags_test"]
            print(f"  {n:>9,} rows: {d['wall_s']:7.1f} s (import task {d['import_task_s']} s), peak RSS "
                  f"{x['peak_rss_mib']:7.1f} MiB; floor {x['floor']['wall_s']:6.2f} s "
                  f"(ftp {x['floor']['ftp_retr_s']}, read_csv {x['floor']['read_csv_s']}, stage {x['floor']['stage_s']}, "
                  f"update {x['floor']['update_from_s']})")
        print(f"  marginal ratio {r['marginal_ratio']} (import task alone {r.get('marginal_ratio_import_task')}) "
              f"[goal <= {r['goals']['marginal_ratio']}]; peak RSS ratio {r['rss_ratio']} "
              f"({r['rss_bytes_per_extra_row']} B per extra row) [goal <= {r['goals']['rss_ratio']}]")
    p = results.get("provisioning")
    if p and "error" not in p:
        n1, n2 = p["sizes"]
        print(f"provisioning, airflow dags test, {n1:,} -> {n2:,} students:")
        for n in (n1, n2):
            x = p["runs"][str(n)]
            print(f"  {n:>9,} students: first {x['first']['wall_s']:.1f} s ({x['first']['peak_rss_mib']:.0f} MiB), "
                  f"rerun {x['rerun']['wall_s']:.1f} s ({x['rerun']['peak_rss_mib']:.0f} MiB); floors "
                  f"{x['floor_first']['wall_s']:.2f} s / {x['floor_rerun']['wall_s']:.2f} s")
        for kind in ("first", "rerun"):
            steps = p["runs"][str(n2)][kind].get("export_steps_s") or {}
            print(f"  {n2:,} students, {kind}: export task steps " + ", ".join(f"{k} {v:.2f} s" for k, v in steps.items()))
        print(f"  marginal ratio first {p['first_marginal_ratio']}, rerun {p['rerun_marginal_ratio']} "
              f"(export task alone {p.get('first_marginal_ratio_export_task')}, "
              f"{p.get('rerun_marginal_ratio_export_task')}) [goal <= {p['goals']['first_marginal_ratio']}]")
    for name in ("parse", "resulting", "provisioning"):
        if name in results and "error" in results[name]:
            print(f"{name}: FAILED: {results[name]['error'][:500]}")
