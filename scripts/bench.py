"""``make bench``: speed and memory of the sync's heavy paths, at a large RTO's sizes.

Machines are shared and noisy, so nothing here is compared with a fixed number: every measure
runs interleaved with a *floor* (the least any code could do for the same job, e.g. csv.writer
over prepared tuples) measured in the same run, and the figure that matters is the ratio.
Times are the best of N runs (time.perf_counter); peak memory is one more run under
tracemalloc (Python allocations made during the call, its result included). The figures are
printed as a table and written to ``.bench/results.json``.

1. Provisioning: plan_users_export (first export; a delta where 1% of students changed) and
   users_csv, against csv.writer writing the same rows from tuples.
2. Completions: parse_completion_file on a 100k-row file, against csv.reader over the same
   decoded text; plan_outcomes over it, against the same floor; errors_csv.
3. The embedded engine (SQLite, reference schema): select_provisionable_enrolments against a
   plain ``SELECT * FROM Enrolment``; staging + the set-based apply of 20k outcomes against an
   executemany UPDATE by primary key.

No Airflow, no network. Runs in well under a minute on 2 cores.
"""

from __future__ import annotations

import csv
import gc
import io
import json
import os
import platform
import random
import sqlite3
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "plugins"))
sys.path.insert(0, str(ROOT / "scripts"))

from powerpro_moodle.db import load_statements  # noqa: E402
from powerpro_moodle.formats.completion_file import errors_csv, parse_completion_file  # noqa: E402
from powerpro_moodle.formats.outcomes import EnrolmentUnitRow, plan_outcomes  # noqa: E402
from powerpro_moodle.formats.settings import OutcomeRules  # noqa: E402
from powerpro_moodle.formats.users_file import (  # noqa: E402
    BASE_COLUMNS,
    EnrolmentRecord,
    ExportedStudent,
    plan_users_export,
    users_csv,
)
from powerpro_sample import create_reference_db  # noqa: E402
from sqlalchemy import bindparam, create_engine, text  # noqa: E402

# Sizes of a large RTO.
STUDENTS = 30_000
ENROLMENTS = 50_000  # provisionable ones
OTHER_ENROLMENTS = 10_000  # withdrawn / completed / not flagged: in the database, not provisioned
COURSES = 60
UNITS_PER_COURSE = 6
COMPLETION_ROWS = 100_000
OUTCOME_WRITES = 20_000
CHANGED = 0.01  # share of students changed between the first export and the delta run

REPEATS = 5
SEED = 2026
MIB = 1024 * 1024
TZ = ZoneInfo("Australia/Sydney")
RESULTS = ROOT / ".bench" / "results.json"

FIRST = ["Olivia", "Jack", "Charlotte", "Noah", "Amelia", "William", "Isla", "Oliver", "Mia", "Lucas", "Zoë", "Mateo",
         "Aroha", "Jayden", "Siobhan", "Thanh", "Priya", "Muhammad", "Chloé", "Kai", "Ngaio", "Ava", "Liam", "Ruby"]
LAST = ["Smith", "Nguyễn", "Williams", "Brown", "O'Brien", "Taylor", "Wilson", "Singh", "Martin", "Anderson", "Tran",
        "Kelly", "Walker", "Murphy", "Papadopoulos", "Li", "Thompson", "White", "Rossi", "Smith, Jr", "Ng"]


# --------------------------------------------------------------------------- measuring


@dataclass
class Result:
    measure: str
    size: str
    time_ms: float
    floor_ms: float
    floor: str
    peak_mib: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        return self.time_ms / self.floor_ms if self.floor_ms else float("nan")


def best_of(
    subject: Callable[[], Any],
    floor: Callable[[], Any],
    repeats: int = REPEATS,
    around: Callable[[Callable[[], Any]], float] | None = None,
) -> tuple[float, float]:
    """Best time in ms of ``subject`` and of ``floor``, run alternately so both see the same load.

    :param around: runs one call and returns its own elapsed seconds (for work that needs an
        untimed setup or rollback around it); by default the call itself is timed.
    """

    def once(fn: Callable[[], Any]) -> float:
        gc.collect()
        if around is not None:
            return around(fn)
        t0 = time.perf_counter()
        fn()
        return time.perf_counter() - t0

    best_s, best_f = float("inf"), float("inf")
    for _ in range(repeats):
        best_f = min(best_f, once(floor))
        best_s = min(best_s, once(subject))
    return best_s * 1000, best_f * 1000


def peak_mib(fn: Callable[[], Any], around: Callable[[Callable[[], Any]], float] | None = None) -> float:
    """Peak Python memory (MiB) allocated during one call, its result included."""
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        if around is not None:
            around(fn)
        else:
            result = fn()
            del result
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak / MIB


def step(label: str) -> None:
    print(f"  … {label}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- sample data


@dataclass
class Sample:
    students: list[tuple[int, str, str, str, str | None, str | None]]  # id, number, first, last, preferred, email
    courses: list[tuple[int, str, str | None]]  # id, code, cohort
    records: list[EnrolmentRecord]  # the provisionable enrolments, in the query's order
    other_enrolments: list[tuple[int, int, int, str, int]]  # id, student id, course id, status, flag
    primary_course: dict[str, int]  # StudentNumber -> course index of the first enrolment


def unit_code(course: int, j: int) -> str:
    return f"UNT{course:02d}{j + 1:02d}"


def build_sample(rnd: random.Random) -> Sample:
    courses = []
    for c in range(COURSES):
        code = f"C{c:02d}{rnd.randrange(10000, 99999)}"
        cohort: str | None = f"{code}-2026"
        if c == COURSES - 1:
            cohort = None  # flagged for Moodle without a cohort: reported as an anomaly
        elif c == COURSES - 2:
            cohort = "42"  # numeric cohort: reported as an anomaly
        courses.append((c + 1, code, cohort))
    # The two bad courses are small, as in real life.
    weights = [1.0] * COURSES
    weights[-1] = weights[-2] = 0.05

    students = []
    for i in range(STUDENTS):
        number = f"S{100001 + i}"
        first, last = rnd.choice(FIRST), rnd.choice(LAST)
        preferred = rnd.choice(["Sam", "Bec", "Nick", "Jess"]) if rnd.random() < 0.08 else None
        email: str | None = f"{first.lower()[:1]}{i}.{number.lower()}@students.example.edu.au"
        roll = rnd.random()
        if roll < 0.002:
            email = None
        elif roll < 0.003:
            email = "typo@@example"
        elif roll < 0.0035:
            first = "=HYPERLINK(1)"
        students.append((i + 1, number, first, last, preferred, email))

    # Every student has one enrolment; the rest go to random students, in another course.
    course_of: list[list[int]] = []
    for _ in range(STUDENTS):
        course_of.append([rnd.choices(range(COURSES), weights)[0]])
    for _ in range(ENROLMENTS - STUDENTS):
        taken = course_of[rnd.randrange(STUDENTS)]
        c = rnd.choices(range(COURSES), weights)[0]
        while c in taken:
            c = rnd.randrange(COURSES - 2)
        taken.append(c)

    records: list[EnrolmentRecord] = []
    eid = 0
    for (_, number, first, last, preferred, email), cs in zip(students, course_of, strict=True):
        for c in cs:
            eid += 1
            _, code, cohort = courses[c]
            records.append(EnrolmentRecord(eid, number, first, last, preferred, email, code, cohort))
    records.sort(key=lambda r: (r.student_number, r.enrolment_id))

    others = []
    for _ in range(OTHER_ENROLMENTS):
        eid += 1
        sid = rnd.randrange(STUDENTS) + 1
        status, flag = rnd.choice([("Withdrawn", 1), ("Completed", 1), ("Deferred", 1), ("Active", 0)])
        others.append((eid, sid, rnd.randrange(COURSES) + 1, status, flag))
    return Sample(students, courses, records, others, {s[1]: cs[0] for s, cs in zip(students, course_of, strict=True)})


def user_rows(users) -> tuple[list[tuple], int]:
    """The users file's rows as plain tuples (what the floor writes)."""
    width = max((len(u.cohorts) for u in users), default=0)
    rows = [
        (u.username, u.firstname, u.lastname, u.alternatename, u.email, u.student_number, u.auth, u.suspended,
         *u.cohorts, *[""] * (width - len(u.cohorts)))
        for u in users
    ]
    return rows, width


def csv_floor(header: list[str], rows: list[tuple]) -> Callable[[], bytes]:
    def write() -> bytes:
        buf = io.StringIO(newline="")
        writer = csv.writer(buf, lineterminator="\r\n")
        writer.writerow(header)
        writer.writerows(rows)
        return buf.getvalue().encode("utf-8")

    return write


# --------------------------------------------------------------------------- 1. provisioning


def bench_provisioning(sample: Sample, rnd: random.Random) -> list[Result]:
    step("provisioning: plan_users_export, users_csv")
    records = sample.records
    first = plan_users_export(records, {})
    rows, width = user_rows(first.to_send)
    header = [*BASE_COLUMNS, *(f"cohort{i}" for i in range(1, width + 1))]
    floor = csv_floor(header, rows)
    floor_label = f"csv.writer {len(rows):,} tuples × {len(header)} cols"
    n_students = len(first.to_send)
    size = f"{len(records):,} enr / {len({r.student_number for r in records}):,} st"

    # The delta: everything exported once, then 1% of the students changed (a name, an email
    # or a new course), the way a day's edits in PowerPro look.
    exported = {u.student_number: ExportedStudent(u.student_number, u.username, u.fingerprint) for u in first.to_send}
    numbers = sorted(exported)
    changed = set(rnd.sample(numbers, int(len(numbers) * CHANGED)))
    delta_records = []
    for rec in records:
        if rec.student_number in changed:
            if int(rec.student_number[1:]) % 2:
                rec = replace(rec, last_name=rec.last_name + "-Jones")
            else:
                rec = replace(rec, email="new." + rec.email)
        delta_records.append(rec)
    delta = plan_users_export(delta_records, exported)
    assert len(delta.to_send) == len(changed), (len(delta.to_send), len(changed))

    out = []
    for label, fn in (
        ("plan_users_export first", lambda: plan_users_export(records, {})),
        (f"plan_users_export delta {CHANGED:.0%}", lambda: plan_users_export(delta_records, exported)),
        ("users_csv first export", lambda: users_csv(first.to_send)),
    ):
        t, f = best_of(fn, floor)
        peak = peak_mib(fn)
        out.append(
            Result(
                label, size if label.startswith("plan") else f"{n_students:,} users", t, f, floor_label, peak,
                {
                    "rows_per_s": round(len(records if label.startswith("plan") else first.to_send) / (t / 1000)),
                    "bytes_per_student": round(peak * MIB / n_students),
                },
            )
        )
    out[0].extra.update(to_send=len(first.to_send), anomalies=len(first.anomalies))
    out[1].extra.update(to_send=len(delta.to_send), unchanged=len(delta.unchanged))
    out[2].extra.update(file_bytes=len(users_csv(first.to_send)))
    floor_peak = peak_mib(floor)
    out.append(Result("floor: csv.writer users rows", f"{n_students:,} rows", out[2].floor_ms, out[2].floor_ms,
                      floor_label, floor_peak, {"bytes_per_student": round(floor_peak * MIB / n_students)}))
    return out


# --------------------------------------------------------------------------- 2. completions


@dataclass
class Completions:
    data: bytes
    students: dict[str, str]
    course_units: dict[str, list[str]]
    enrolment_units: list[EnrolmentUnitRow]


def build_completions(sample: Sample, rnd: random.Random) -> Completions:
    """A Moodle completion report of COMPLETION_ROWS rows for the sample's students, and the
    PowerPro side plan_outcomes matches it against (as the resulting DAG reads it)."""
    codes = {c - 1: code for c, code, _ in sample.courses}
    start = datetime(2026, 1, 1, tzinfo=UTC)
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(["user_idnumber", "username", "course_idnumber", "coursename", "timecompleted", "finalgrade",
                     "gradepass"])
    rows = 0
    numbers = [s[1] for s in sample.students]
    i = 0
    while rows < COMPLETION_ROWS:
        number = numbers[i % len(numbers)]
        c = sample.primary_course[number]
        units = [unit_code(c, j) for j in range(4 if i % 3 == 0 else 3)]
        courses = [(u, f"Unit {u}") for u in units]
        if i % 20 == 1:  # a cluster course standing for the course's last two units
            courses[-1] = (f"{codes[c]}-CLUSTER", f'Cluster "{codes[c]}", units 5 and 6')
        for course, name in courses:
            user = number.lower() if i % 50 == 9 else number
            if i % 500 == 29:
                user = "X" + number  # unknown student
            if rnd.random() < 0.0015:
                course = "NOPE101"  # unknown course
            when = start + timedelta(seconds=rnd.randrange(200 * 86400))
            roll = rnd.random()
            if roll < 0.55:
                timecompleted = str(int(when.timestamp()))
            elif roll < 0.75:
                timecompleted = when.astimezone(TZ).isoformat(timespec="seconds")
            elif roll < 0.9:
                timecompleted = when.isoformat(timespec="seconds").replace("+00:00", "Z")
            else:
                timecompleted = rnd.choice(["", "0", "-"])
            grade = f"{rnd.uniform(35, 100):.5f}" if rnd.random() < 0.9 else "-"
            if rnd.random() < 0.001:
                grade = "85,5"  # bad grade
            if rnd.random() < 0.001:
                timecompleted = "2026-03-01 10:00"  # bad time: no offset
            writer.writerow([user, f"{number.lower()}", course, name, timecompleted, grade, "50.00000"])
            rows += 1
            if i % 200 == 7 and rows < COMPLETION_ROWS:  # an exact repeat (dropped as a duplicate)
                writer.writerow([user, f"{number.lower()}", course, name, timecompleted, grade, "50.00000"])
                rows += 1
            if rows >= COMPLETION_ROWS:
                break
        i += 1
    data = buf.getvalue().encode("utf-8")

    students = {n.upper(): n for n in numbers}
    course_units: dict[str, list[str]] = {}
    for c, code in codes.items():
        for j in range(UNITS_PER_COURSE):
            course_units[unit_code(c, j).upper()] = [unit_code(c, j)]
        course_units[f"{code}-CLUSTER".upper()] = [unit_code(c, 4), unit_code(c, 5)]

    eus: list[EnrolmentUnitRow] = []
    euid = 0
    eid = 0
    for k, number in enumerate(numbers):
        c = sample.primary_course[number]
        enrolments = [(eid + 1, "Active")]
        if k % 100 == 3:  # a course transfer: the same units under an older, withdrawn enrolment
            enrolments.insert(0, (eid + 2, "Withdrawn"))
        eid += 2
        for enrolment_id, status in enrolments:
            for j in range(UNITS_PER_COURSE):
                euid += 1
                code, day, source = None, None, None
                if k % 50 == 5 and j == 0:
                    code, source = "20", "Trainer"  # a person already recorded competent
                elif k % 97 == 11 and j == 1:
                    code, source = "30", "Trainer"  # a manual outcome Moodle disagrees with
                elif k % 10 == 0:
                    code, day, source = "20", date(2026, 2, 1), "Moodle sync"  # written by an earlier run
                eus.append(EnrolmentUnitRow(euid, enrolment_id, status, number, unit_code(c, j), code, day, source))
    return Completions(data, students, course_units, eus)


def bench_completions(sample: Sample, rnd: random.Random) -> list[Result]:
    step("completions: building a 100k-row file")
    comp = build_completions(sample, rnd)
    data = comp.data

    def floor() -> int:
        n = 0
        for _ in csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")):
            n += 1
        return n

    floor_label = "csv.reader over the decoded bytes"
    size = f"{COMPLETION_ROWS:,} rows, {len(data) / MIB:.1f} MiB"
    step("completions: parse_completion_file, plan_outcomes")
    parsed = parse_completion_file(data)
    rules = OutcomeRules()

    def plan():
        return plan_outcomes(parsed, comp.students, comp.course_units, comp.enrolment_units, rules, TZ)

    out = []
    t, f = best_of(lambda: parse_completion_file(data), floor)
    peak = peak_mib(lambda: parse_completion_file(data))
    out.append(Result("parse_completion_file", size, t, f, floor_label, peak,
                      {"rows_per_s": round(COMPLETION_ROWS / (t / 1000)), "good_rows": len(parsed.rows),
                       "bad_rows": len(parsed.bad_rows), "duplicates": parsed.duplicates,
                       "bytes_per_row": round(peak * MIB / COMPLETION_ROWS)}))
    result = plan()
    t, f = best_of(plan, floor)
    out.append(Result("plan_outcomes", f"{len(parsed.rows):,} rows / {len(comp.enrolment_units):,} EU", t, f,
                      floor_label, peak_mib(plan),
                      {"rows_per_s": round(len(parsed.rows) / (t / 1000)), "writes": len(result.writes),
                       "up_to_date": result.up_to_date, "not_completed": result.not_completed,
                       "not_yet_competent": result.not_yet_competent, "anomalies": len(result.anomalies),
                       "errors": len(result.errors)}))
    t, f = best_of(lambda: parse_completion_file(data) and plan(), floor)
    out.append(Result("parse + plan_outcomes", size, t, f, floor_label, None,
                      {"rows_per_s": round(COMPLETION_ROWS / (t / 1000))}))

    # errors_csv on this file's errors, against csv.writer of the same cells.
    header = parsed.header
    columns = ["row", *[h for h in header if h and h not in ("row", "reason")], "reason"]
    err_rows = [tuple(str(e.get(c, "")) for c in columns) for e in result.errors]
    t, f = best_of(lambda: errors_csv(header, result.errors), csv_floor(columns, err_rows))
    out.append(Result("errors_csv", f"{len(result.errors):,} rows", t, f,
                      f"csv.writer {len(err_rows):,} tuples × {len(columns)} cols",
                      peak_mib(lambda: errors_csv(header, result.errors))))
    out.append(Result("floor: csv.reader completions", size, out[0].floor_ms, out[0].floor_ms, floor_label,
                      peak_mib(floor)))
    return out


# --------------------------------------------------------------------------- 3. database


def fill_db(path: Path, sample: Sample) -> int:
    """A reference-schema SQLite file holding the sample, filled in one transaction.

    :return: the number of EnrolmentUnit rows.
    """
    create_reference_db(path)
    conn = sqlite3.connect(path)
    try:
        with conn:
            conn.executemany("INSERT INTO Student VALUES (?, ?, ?, ?, ?, ?)", sample.students)
            conn.executemany(
                "INSERT INTO Course VALUES (?, ?, ?, '2026-02-02', '2026-12-11', 1, ?)",
                [(cid, code, f"Course {code}", cohort) for cid, code, cohort in sample.courses],
            )
            sid_of = {s[1]: s[0] for s in sample.students}
            cid_of = {code: cid for cid, code, _ in sample.courses}
            enrolments = [(r.enrolment_id, sid_of[r.student_number], cid_of[r.course_code], "Active", 1)
                          for r in sample.records]
            enrolments += sample.other_enrolments
            conn.executemany("INSERT INTO Enrolment VALUES (?, ?, ?, ?, ?)", enrolments)
            conn.executemany(
                "INSERT INTO Unit VALUES (?, ?, ?)",
                [(c * UNITS_PER_COURSE + j + 1, unit_code(c, j), f"Unit {unit_code(c, j)}")
                 for c in range(COURSES) for j in range(UNITS_PER_COURSE)],
            )
            eu = [
                (n, eid, (cid - 1) * UNITS_PER_COURSE + j + 1, None, None, None, None)
                for n, (eid, cid, j) in enumerate(
                    ((eid, cid, j) for eid, _, cid, _, _ in enrolments for j in range(UNITS_PER_COURSE)), start=1
                )
            ]
            conn.executemany("INSERT INTO EnrolmentUnit VALUES (?, ?, ?, ?, ?, ?, ?)", eu)
            for table in ("MoodleSyncOutcomeStage", "MoodleSyncCompletionStage"):
                for statement in load_statements(f"create_table_{table}", "sqlite"):
                    conn.execute(statement)
        conn.execute("ANALYZE")
    finally:
        conn.close()
    return len(eu)


def bench_database(sample: Sample, rnd: random.Random, workdir: Path) -> list[Result]:
    step("database: building the reference-schema SQLite file")
    path = workdir / "powerpro_bench.db"
    n_eu = fill_db(path, sample)
    engine = create_engine(f"sqlite:///{path}")
    out = []

    # -- the provisioning query
    (sql,) = load_statements("select_provisionable_enrolments", "sqlite", frozenset({"ProvisionedStatuses"}))
    query = text(sql).bindparams(bindparam("ProvisionedStatuses", expanding=True))
    params = {"ProvisionedStatuses": ["ACTIVE"]}
    floor_sql = text("SELECT * FROM Enrolment")
    n_enrolments = len(sample.records) + len(sample.other_enrolments)

    def floor() -> list:
        with engine.connect() as conn:
            return conn.execute(floor_sql).fetchall()

    def fetchall() -> list:
        with engine.connect() as conn:
            return conn.execute(query, params).fetchall()

    def as_fetch() -> list:
        # What PowerProDb.fetch and the provisioning operator do with the rows.
        with engine.connect() as conn:
            return [EnrolmentRecord(**dict(r)) for r in conn.execute(query, params).mappings()]

    with engine.connect() as conn:
        got = len(conn.execute(query, params).fetchall())
        plan_rows = [r[-1] for r in conn.exec_driver_sql(
            "EXPLAIN QUERY PLAN " + sql.replace(":ProvisionedStatuses", "('ACTIVE')")).fetchall()]
    assert got == ENROLMENTS, got
    step("database: select_provisionable_enrolments")
    floor_label = f"SELECT * FROM Enrolment fetchall ({n_enrolments:,} rows)"
    t, f = best_of(fetchall, floor)
    out.append(Result("select_provisionable_enrolments", f"{got:,} of {n_enrolments:,} enr", t, f, floor_label,
                      peak_mib(fetchall), {"rows_per_s": round(got / (t / 1000)), "query_plan": plan_rows}))
    t, f = best_of(as_fetch, floor)
    out.append(Result("  … + mappings → EnrolmentRecord", f"{got:,} rows", t, f, floor_label, peak_mib(as_fetch),
                      {"rows_per_s": round(got / (t / 1000))}))
    out.append(Result("floor: SELECT * FROM Enrolment", f"{n_enrolments:,} rows", f, f, floor_label, peak_mib(floor)))

    # -- the resulting writes: stage + one set-based UPDATE, against executemany by primary key
    step("database: stage_outcomes + apply_staged_outcomes")
    ids = sorted(rnd.sample(range(1, n_eu + 1), OUTCOME_WRITES))
    batch = "b" * 32
    stage_params = [{"BatchId": batch, "EnrolmentUnitID": i, "OutcomeCode": "20", "OutcomeDate": date(2026, 3, 31)}
                    for i in ids]
    (stage_sql,) = load_statements("stage_outcomes", "sqlite")
    (apply_sql,) = load_statements("apply_staged_outcomes", "sqlite")
    stage, apply = text(stage_sql), text(apply_sql)
    apply_params = {"BatchId": batch, "ModifiedAt": datetime(2026, 4, 1, 9, 0)}
    floor_update = text("UPDATE EnrolmentUnit SET OutcomeCode = :OutcomeCode WHERE EnrolmentUnitID = :EnrolmentUnitID")
    floor_params = [{"OutcomeCode": "20", "EnrolmentUnitID": i} for i in ids]
    split: dict[str, float] = {"stage_ms": float("inf"), "apply_ms": float("inf")}

    def rolled_back(fn: Callable[[Any], Any]) -> float:
        # One transaction per run, rolled back (untimed) so every run starts from the same rows.
        with engine.connect() as conn:
            conn.execute(text("SELECT 1")).fetchall()
            t0 = time.perf_counter()
            fn(conn)
            elapsed = time.perf_counter() - t0
            conn.rollback()
        return elapsed

    def staged(conn) -> None:
        t0 = time.perf_counter()
        conn.execute(stage, stage_params)
        t1 = time.perf_counter()
        written = conn.execute(apply, apply_params).rowcount
        t2 = time.perf_counter()
        assert written == OUTCOME_WRITES, written
        split["stage_ms"] = min(split["stage_ms"], (t1 - t0) * 1000)
        split["apply_ms"] = min(split["apply_ms"], (t2 - t1) * 1000)

    def by_key(conn) -> None:
        assert conn.execute(floor_update, floor_params).rowcount == OUTCOME_WRITES

    with engine.connect() as conn:
        apply_plan = [r[-1] for r in conn.exec_driver_sql(
            "EXPLAIN QUERY PLAN " + apply_sql.replace(":BatchId", "'x'").replace(":ModifiedAt", "NULL")).fetchall()]
    t, f = best_of(lambda: rolled_back(staged), lambda: rolled_back(by_key), around=lambda fn: fn())
    out.append(Result("stage_outcomes + apply_staged", f"{OUTCOME_WRITES:,} of {n_eu:,} EU", t, f,
                      f"executemany UPDATE by PK ({OUTCOME_WRITES:,})",
                      peak_mib(lambda: rolled_back(staged)),
                      {"stage_ms": round(split["stage_ms"], 1), "apply_ms": round(split["apply_ms"], 1),
                       "query_plan": apply_plan}))
    out.append(Result("floor: executemany UPDATE by PK", f"{OUTCOME_WRITES:,} rows", f, f,
                      f"executemany UPDATE by PK ({OUTCOME_WRITES:,})", peak_mib(lambda: rolled_back(by_key))))
    engine.dispose()
    return out


# --------------------------------------------------------------------------- report


def machine() -> dict[str, Any]:
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(terse=True),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": usable,
        "loadavg": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
        "sqlite": sqlite3.sqlite_version,
        "repeats": REPEATS,
    }


def short_extra(r: Result) -> str:
    parts = []
    if "rows_per_s" in r.extra:
        parts.append(f"{r.extra['rows_per_s'] / 1000:,.0f}k rows/s")
    if "bytes_per_student" in r.extra:
        parts.append(f"{r.extra['bytes_per_student']:,} B/student")
    if "bytes_per_row" in r.extra:
        parts.append(f"{r.extra['bytes_per_row']:,} B/row")
    if "stage_ms" in r.extra:
        parts.append(f"stage {r.extra['stage_ms']:,.0f} ms + apply {r.extra['apply_ms']:,.0f} ms")
    return ", ".join(parts)


def print_table(results: list[Result], info: dict[str, Any], total_s: float) -> None:
    head = ["measure", "size", "time ms", "floor ms", "ratio", "peak MiB", "notes"]
    body = [
        [r.measure, r.size, f"{r.time_ms:,.1f}", f"{r.floor_ms:,.1f}", f"{r.ratio:.2f}",
         "—" if r.peak_mib is None else f"{r.peak_mib:,.1f}", short_extra(r)]
        for r in results
    ]
    widths = [max(len(row[i]) for row in [head, *body]) for i in range(len(head))]
    right = {2, 3, 4, 5}

    def line(cells: list[str]) -> str:
        return " | ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths,
                                                                                                   strict=True)))

    print(line(head))
    print("-+-".join("-" * w for w in widths))
    for row in body:
        print(line(row))
    print()
    print("floors: " + "; ".join(sorted({r.floor for r in results})))
    print(
        f"machine: Python {info['python']} ({info['implementation']}) on {info['platform']} {info['machine']}, "
        f"{info['cpu_count']} CPUs ({info['cpus_usable']} usable), load {info['loadavg']}, SQLite {info['sqlite']}; "
        f"best of {info['repeats']}, floor interleaved with each measure; total {total_s:.1f} s"
    )


def main() -> None:
    started = time.perf_counter()
    rnd = random.Random(SEED)
    info = machine()
    step(f"building {STUDENTS:,} students, {ENROLMENTS:,} provisionable enrolments")
    sample = build_sample(rnd)
    results: list[Result] = []
    results += bench_provisioning(sample, rnd)
    results += bench_completions(sample, rnd)
    with tempfile.TemporaryDirectory(prefix="powerpro_bench_") as tmp:
        results += bench_database(sample, rnd, Path(tmp))
    total = time.perf_counter() - started
    print_table(results, info, total)

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "machine": info,
                "total_s": round(total, 2),
                "sizes": {"students": STUDENTS, "provisionable_enrolments": ENROLMENTS,
                          "other_enrolments": OTHER_ENROLMENTS, "completion_rows": COMPLETION_ROWS,
                          "outcome_writes": OUTCOME_WRITES},
                "results": [
                    {"measure": r.measure.strip(" …"), "size": r.size, "time_ms": round(r.time_ms, 2),
                     "floor": r.floor, "floor_ms": round(r.floor_ms, 2), "ratio": round(r.ratio, 2),
                     "peak_mib": None if r.peak_mib is None else round(r.peak_mib, 2), **r.extra}
                    for r in results
                ],
            },
            indent=2,
            ensure_ascii=False,
        )
        + "\n",
        encoding="utf-8",
    )
    print(f"written: {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
