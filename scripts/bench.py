"""``make bench``: speed and memory of the sync's heavy paths, at a large RTO's sizes.

Machines are shared and noisy, so nothing here is compared with a fixed number: every measure
runs in rounds with a *floor* (the least any code could do for the same job, e.g. csv.writer
over prepared tuples) measured in the same run, and the figure that matters is the ratio.
Times are the best of 5 rounds (3 for calls that take seconds), by time.perf_counter, with the
fixtures frozen out of the garbage collector's way. Peak memory is one more run of each call
under tracemalloc (Python allocations made during the call, its result included); tracemalloc
slows a call 5-10x, so those runs happen in forked children on both cores, never beside a
timed run.

1. Provisioning: plan_users_export (first export; a delta where 1% of students changed) and
   users_csv, against csv.writer writing the same rows from tuples.
2. Completions: parse_completion_file on a 100k-row file (row objects, for small files and
   tests) and the streamed reader the DAG uses, against csv.reader over the same decoded text;
   plan_outcomes over it, against the same floor; errors_csv.
3. The embedded engine (SQLite, reference schema): select_export_enrolments against a
   plain ``SELECT * FROM Enrolment``; staging + the set-based apply of 20k outcomes against an
   executemany UPDATE by primary key.

These piece-level figures need no Airflow and no network (under a minute on 2 cores). Then
``scripts/bench_dags.py`` measures the whole DAGs (issue 10): real ``airflow dags test`` runs of
``powerpro_moodle_resulting`` (100k and 1M completion rows) and ``powerpro_moodle_provisioning``
(10k and 100k students, first run and unchanged rerun) against hand-written floors in the same
run, as marginal ratios, with the peak RSS of the task process; and the parse time of each DAG
file against a trivial DAG. About 15 minutes on 2 cores.

Options (environment variables, e.g. ``BENCH_PARTS=resulting BENCH_SIZES=10000,100000 make bench``):

* ``BENCH_PARTS``: a comma-separated choice of ``pieces``, ``resulting``, ``provisioning``,
  ``parse`` (default: all);
* ``BENCH_SIZES`` (completion rows) and ``BENCH_STUDENTS``: the two sizes of the whole-DAG runs;
* ``BENCH_REPEATS``: best of this many whole-DAG runs per size (default 1);
* ``BENCH_PARSE_ROUNDS``: fresh interpreters per DAG file parse (default 5);
* ``BENCH_OUT``: where ``results.json`` and its dated copy ``results-<UTC time>.json`` go
  (default ``.bench/``); ``BENCH_KEEP=1`` keeps the runs' logs in ``.bench/work``.

Figures are printed and written to ``results.json`` (and a dated copy, to compare over time).
"""

from __future__ import annotations

import csv
import gc
import io
import json
import multiprocessing
import os
import platform
import random
import shutil
import sqlite3
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "plugins"))
sys.path.insert(0, str(ROOT / "scripts"))

import sqlalchemy  # noqa: E402
from powerpro_moodle.db import load_statements  # noqa: E402
from powerpro_moodle.formats.completion_chunks import CompletionReader  # noqa: E402
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

REPEATS = 5  # best of 5 ...
MIN_REPEATS = 3  # ... or of 3 for the calls that take seconds
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
    runs: int = 0
    cpu_ratio: float | None = None  # the same ratio in process CPU time (see best_of)
    peak_job: str | None = None  # key into PEAK_JOBS; filled in as peak_mib at the end
    per: tuple[str, int] | None = None  # ("student", n): report the peak per student as well
    peak_mib: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        return self.time_ms / self.floor_ms if self.floor_ms else float("nan")


#: name -> factory run (untraced) in a forked child, returning the one call whose peak is traced.
PEAK_JOBS: dict[str, Callable[[], Callable[[], Any]]] = {}


@dataclass
class Timing:
    floor_ms: float
    times_ms: list[float]  # per subject, best wall time (perf_counter)
    cpu_ratios: list[float]  # per subject, best process CPU time / the floor's
    rounds: int


def clocks() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def best_of(
    floor: Callable[[], Any],
    *subjects: Callable[[], Any],
    self_timed: bool = False,
    budget_s: float = 4.0,
    keep: list[Any] | None = None,
) -> Timing:
    """Best times of a floor and the subjects measured against it, run in rounds (floor, then
    each subject) so that all of them see the same load.

    Runs REPEATS rounds, or fewer (never under MIN_REPEATS) once the rounds have used ``budget_s``.
    Process CPU time is kept beside the wall time: a neighbour taking the CPU stretches a long
    call's wall time more than a short floor's, but hardly its CPU time, so a CPU ratio well
    below the wall ratio means the run was contended.

    :param self_timed: the calls return their own (wall, cpu) seconds (work with an untimed
        setup or rollback around it).
    :param keep: receives the last subject's result from the last round (it runs last, so no
        kept result is alive during another timed call); saves a separate fixture call.
    """
    last: list[Any] = [None]

    def once(fn: Callable[[], Any]) -> tuple[float, float]:
        last[0] = None
        gc.collect()
        if self_timed:
            return fn()
        wall, cpu = clocks()
        value = fn()
        wall_end, cpu_end = clocks()
        if keep is not None and fn is subjects[-1]:
            last[0] = value
        del value
        return wall_end - wall, cpu_end - cpu

    n = 1 + len(subjects)
    best_wall, best_cpu = [float("inf")] * n, [float("inf")] * n
    spent = 0.0
    rounds = 0
    while rounds < REPEATS and (rounds < MIN_REPEATS or spent < budget_s):
        for k, fn in enumerate((floor, *subjects)):
            wall, cpu = once(fn)
            best_wall[k], best_cpu[k] = min(best_wall[k], wall), min(best_cpu[k], cpu)
            spent += wall
        rounds += 1
    if keep is not None:
        keep.append(last[0])
    return Timing(
        best_wall[0] * 1000,
        [w * 1000 for w in best_wall[1:]],
        [c / best_cpu[0] if best_cpu[0] else float("nan") for c in best_cpu[1:]],
        rounds,
    )


def peak_mib(fn: Callable[[], Any]) -> float:
    """Peak Python memory (MiB) allocated during one call, its result included (tracemalloc)."""
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        result = fn()
        _, peak = tracemalloc.get_traced_memory()
        del result
    finally:
        tracemalloc.stop()
    return peak / MIB


def _peak_job(name: str) -> tuple[float, float]:
    t0 = time.perf_counter()
    peak = peak_mib(PEAK_JOBS[name]())
    return peak, time.perf_counter() - t0


class Peaks:
    """Peak-memory runs of some results' jobs, in forked children on up to two cores.

    tracemalloc slows a traced call 5-10x; the bytes it counts do not depend on CPU contention,
    so the jobs run side by side, and the parent only does untimed work (building fixtures)
    until :meth:`finish`: nothing is ever timed while a traced job runs.
    """

    def __init__(self, results: list[Result]) -> None:
        self.jobs = sorted((r for r in results if r.peak_job and r.peak_mib is None), key=lambda r: -r.time_ms)
        names = [r.peak_job for r in self.jobs]
        try:
            cpus = len(os.sched_getaffinity(0))
        except AttributeError:
            cpus = os.cpu_count() or 1
        self.pool = None
        if cpus > 1 and "fork" in multiprocessing.get_all_start_methods():
            # maxtasksperchild=1: each job in a fresh fork, so no job sees another's leftovers.
            self.pool = multiprocessing.get_context("fork").Pool(min(2, cpus), maxtasksperchild=1)
            self.pending = self.pool.map_async(_peak_job, names, chunksize=1)
        else:
            self.names = names

    def finish(self) -> None:
        if self.pool is not None:
            peaks = self.pending.get()
            self.pool.close()
            self.pool.join()
        else:
            peaks = [_peak_job(name) for name in self.names]
        for r, (peak, seconds) in zip(self.jobs, peaks, strict=True):
            r.peak_mib = peak
            r.extra["peak_job_s"] = round(seconds, 1)
            if r.per:
                r.extra[f"bytes_per_{r.per[0]}"] = round(peak * MIB / r.per[1])


def settle() -> None:
    """Collect, then freeze what is alive: the fixtures built so far are not part of any measured
    call, so neither the collections inside the calls nor the collect() before each run walk them
    (with a few million fixture objects, one full collection costs ~0.2 s). It also keeps forked
    peak jobs from copying the parent's pages."""
    gc.collect()
    gc.freeze()


_STARTED = time.perf_counter()


def step(label: str) -> None:
    print(f"  {time.perf_counter() - _STARTED:5.1f} s  {label}", file=sys.stderr, flush=True)


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
    n_students = len({r.student_number for r in records})
    n_users = len(first.to_send)
    size = f"{len(records):,} enr / {n_students:,} st"

    # The delta: everything exported once, then 1% of the students changed (a name or an
    # email), the way a day's edits in PowerPro look.
    exported = {u.student_number: ExportedStudent(u.student_number, u.username, u.fingerprint) for u in first.to_send}
    changed = set(rnd.sample(sorted(exported), int(len(exported) * CHANGED)))
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
    settle()

    def plan_first():
        return plan_users_export(records, {})

    def plan_delta():
        return plan_users_export(delta_records, exported)

    def write_file():
        return users_csv(first.to_send)

    measures = (
        ("users_first", "plan_users_export first", plan_first, len(records), size),
        ("users_delta", f"plan_users_export delta {CHANGED:.0%}", plan_delta, len(records), size),
        ("users_csv", "users_csv first export", write_file, n_users, f"{n_users:,} users"),
    )
    timing = best_of(floor, *(m[2] for m in measures), budget_s=8.0)
    f, runs = timing.floor_ms, timing.rounds
    out = []
    for (key, label, fn, n, what), t, cpu in zip(measures, timing.times_ms, timing.cpu_ratios, strict=True):
        PEAK_JOBS[key] = lambda fn=fn: fn
        out.append(Result(label, what, t, f, floor_label, runs, cpu, key, ("student", n_students),
                          extra={"rows_per_s": round(n / (t / 1000))}))
    out[0].extra.update(to_send=len(first.to_send), anomalies=len(first.anomalies))
    out[1].extra.update(to_send=len(delta.to_send), unchanged=len(delta.unchanged))
    out[2].extra.update(file_bytes=len(write_file()))
    PEAK_JOBS["users_floor"] = lambda: floor
    out.append(Result("floor: csv.writer users rows", f"{n_users:,} rows", f, f, floor_label, runs, 1.0,
                      "users_floor", ("student", n_students)))
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
    from bench_dags import completion_cells

    codes = {c - 1: code for c, code, _ in sample.courses}
    start = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp())
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(["user_idnumber", "username", "course_idnumber", "coursename", "timecompleted", "finalgrade",
                     "gradepass"])
    rows = 0
    numbers = [s[1] for s in sample.students]
    unit_names = {c: [(unit_code(c, j), f"Unit {unit_code(c, j)}") for j in range(4)] for c in codes}
    i = 0
    while rows < COMPLETION_ROWS:
        number = numbers[i % len(numbers)]
        c = sample.primary_course[number]
        courses = unit_names[c][: 4 if i % 3 == 0 else 3]
        if i % 20 == 1:  # a cluster course standing for the course's last two units
            courses[-1] = (f"{codes[c]}-CLUSTER", f'Cluster "{codes[c]}", units 5 and 6')
            if i % 40 == 21:  # ... and unit 5's own course too: one of the two completions is superseded
                courses.append((unit_code(c, 4), f"Unit {unit_code(c, 4)}"))
        for course, name in courses:
            user, course, timecompleted, grade = completion_cells(rnd, i, number, course, start, 200)
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
    rules = OutcomeRules()

    def parse():
        return parse_completion_file(data)

    step("completions: parse_completion_file")
    kept: list[Any] = []
    timing = best_of(floor, parse, keep=kept)
    f, (t,), (cpu,), runs = timing.floor_ms, timing.times_ms, timing.cpu_ratios, timing.rounds
    parsed = kept.pop()
    settle()
    PEAK_JOBS["parse"] = lambda: parse
    parse_row = Result("parse_completion_file", size, t, f, floor_label, runs, cpu, "parse", ("row", COMPLETION_ROWS),
                       extra={"rows_per_s": round(COMPLETION_ROWS / (t / 1000)), "good_rows": len(parsed.rows),
                              "bad_rows": len(parsed.bad_rows), "duplicates": parsed.duplicates,
                              "file_bytes": len(data)})
    # What the resulting DAG runs: the reader, a chunk at a time, without building row objects.
    def stream() -> int:
        with CompletionReader(io.BytesIO(data), cells=False) as reader:
            return sum(len(chunk.good) for chunk in reader)

    step("completions: CompletionReader (streamed)")
    timing = best_of(floor, stream)
    stream_row = Result("  … streamed (CompletionReader)", size, timing.times_ms[0], timing.floor_ms, floor_label,
                        timing.rounds, timing.cpu_ratios[0], "stream", ("row", COMPLETION_ROWS),
                        extra={"rows_per_s": round(COMPLETION_ROWS / (timing.times_ms[0] / 1000))})
    PEAK_JOBS["stream"] = lambda: stream
    PEAK_JOBS["reader_floor"] = lambda: floor
    floor_row = Result("floor: csv.reader completions", size, f, f, floor_label, runs, 1.0, "reader_floor",
                       ("row", COMPLETION_ROWS))

    def plan():
        return plan_outcomes(parsed, comp.students, comp.course_units, comp.enrolment_units, rules, TZ)

    step("completions: plan_outcomes")
    timing = best_of(floor, plan, keep=kept)
    f, (t,), (cpu,), runs = timing.floor_ms, timing.times_ms, timing.cpu_ratios, timing.rounds
    result = kept.pop()
    settle()
    PEAK_JOBS["plan"] = lambda: plan
    plan_row = Result("plan_outcomes", f"{len(parsed.rows):,} rows / {len(comp.enrolment_units):,} EU", t, f,
                      floor_label, runs, cpu, "plan", ("row", len(parsed.rows)),
                      extra={"rows_per_s": round(len(parsed.rows) / (t / 1000)), "writes": len(result.writes),
                             "up_to_date": result.up_to_date, "not_completed": result.not_completed,
                             "not_yet_competent": result.not_yet_competent, "superseded": result.superseded,
                             "anomalies": len(result.anomalies), "errors": len(result.errors)})

    # errors_csv on this file's errors, against csv.writer of the same cells.
    header = parsed.header
    columns = ["row", *[h for h in header if h and h not in ("row", "reason")], "reason"]
    err_rows = [tuple(str(e.get(c, "")) for c in columns) for e in result.errors]

    def write_errors():
        return errors_csv(header, result.errors)

    timing = best_of(csv_floor(columns, err_rows), write_errors)
    PEAK_JOBS["errors_csv"] = lambda: write_errors
    errors_row = Result("errors_csv", f"{len(result.errors):,} rows", timing.times_ms[0], timing.floor_ms,
                        f"csv.writer {len(err_rows):,} tuples × {len(columns)} cols", timing.rounds,
                        timing.cpu_ratios[0], "errors_csv")
    return [parse_row, stream_row, plan_row, errors_row, floor_row]


# --------------------------------------------------------------------------- 3. database


def fill_db(path: Path, sample: Sample) -> int:
    """A reference-schema SQLite file holding the sample, filled in one transaction.

    :return: the number of EnrolmentUnit rows.
    """
    create_reference_db(path)
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA synchronous = OFF")  # this connection only: the fill is scratch work
        conn.execute("PRAGMA journal_mode = MEMORY")
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
            for table in ("MoodleSyncOutcomeStage", "MoodleSyncCompletionStage", "MoodleSyncExportState"):
                for statement in load_statements(f"create_table_{table}", "sqlite"):
                    conn.execute(statement)
        conn.execute("ANALYZE")
    finally:
        conn.close()
    return len(eu)


class DbCalls:
    """The database calls measured, on one engine (the timing run's, or a peak job's own copy)."""

    def __init__(self, path: Path, outcome_ids: list[int]) -> None:
        self.engine = create_engine(f"sqlite:///{path}")
        # A first export: the state is empty, so the query returns the provisionable enrolments.
        (sql,) = load_statements("select_export_enrolments", "sqlite", frozenset({"AccessStatuses"}))
        self.query_sql = sql
        self.query = text(sql).bindparams(bindparam("AccessStatuses", expanding=True))
        self.params = {"AccessStatuses": ["ACTIVE"]}
        self.floor_query = text("SELECT * FROM Enrolment")

        batch = "b" * 32
        self.stage_params = [
            {"BatchId": batch, "EnrolmentUnitID": i, "OutcomeCode": "20", "OutcomeDate": date(2026, 3, 31)}
            for i in outcome_ids
        ]
        (stage_sql,) = load_statements("stage_outcomes", "sqlite")
        (apply_sql,) = load_statements("apply_staged_outcomes", "sqlite")
        self.apply_sql = apply_sql
        self.stage, self.apply = text(stage_sql), text(apply_sql)
        self.apply_params = {"BatchId": batch, "ModifiedAt": datetime(2026, 4, 1, 9, 0)}
        self.update = text("UPDATE EnrolmentUnit SET OutcomeCode = :OutcomeCode WHERE EnrolmentUnitID = :EnrolmentUnitID")
        self.update_params = [{"OutcomeCode": "20", "EnrolmentUnitID": i} for i in outcome_ids]
        self.split = {"stage_ms": float("inf"), "apply_ms": float("inf")}

    # -- reads
    def select_floor(self) -> list:
        with self.engine.connect() as conn:
            return conn.execute(self.floor_query).fetchall()

    def select_fetchall(self) -> list:
        with self.engine.connect() as conn:
            return conn.execute(self.query, self.params).fetchall()

    def select_records(self) -> list[EnrolmentRecord]:
        # What PowerProDb.fetch and the provisioning operator make of the rows.
        with self.engine.connect() as conn:
            return [EnrolmentRecord(**dict(r)) for r in conn.execute(self.query, self.params).mappings()]

    # -- writes: one transaction per run, rolled back untimed so every run starts from the same rows
    def _rolled_back(self, fn: Callable[[Any], Any]) -> tuple[float, float]:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1")).fetchall()  # the connection is open before the clock starts
            wall, cpu = clocks()
            fn(conn)
            wall_end, cpu_end = clocks()
            conn.rollback()
        return wall_end - wall, cpu_end - cpu

    def _staged(self, conn) -> None:
        t0 = time.perf_counter()
        conn.execute(self.stage, self.stage_params)
        t1 = time.perf_counter()
        written = conn.execute(self.apply, self.apply_params).rowcount
        t2 = time.perf_counter()
        assert written == len(self.stage_params), written
        self.split["stage_ms"] = min(self.split["stage_ms"], (t1 - t0) * 1000)
        self.split["apply_ms"] = min(self.split["apply_ms"], (t2 - t1) * 1000)

    def _by_key(self, conn) -> None:
        assert conn.execute(self.update, self.update_params).rowcount == len(self.update_params)

    def write_staged(self) -> tuple[float, float]:
        return self._rolled_back(self._staged)

    def write_by_key(self) -> tuple[float, float]:
        return self._rolled_back(self._by_key)

    def explain(self, sql: str) -> list[str]:
        sql = sql.replace(":AccessStatuses", "('ACTIVE')").replace(":BatchId", "'x'")
        with self.engine.connect() as conn:
            return [r[-1] for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql.replace(":ModifiedAt", "NULL"))]


def db_peak_job(path: Path, outcome_ids: list[int], method: str) -> Callable[[], Callable[[], Any]]:
    """A peak job on its own copy of the database, so jobs running side by side never lock each other."""

    def factory() -> Callable[[], Any]:
        copy = path.with_name(f"peak_{method}_{os.getpid()}.db")
        shutil.copyfile(path, copy)
        fn = getattr(DbCalls(copy, outcome_ids), method)
        fn()  # warm, as the best-of timing runs are
        return fn

    return factory


def bench_database(sample: Sample, rnd: random.Random, path: Path, n_eu: int) -> list[Result]:
    ids = sorted(rnd.sample(range(1, n_eu + 1), OUTCOME_WRITES))
    db = DbCalls(path, ids)
    n_enrolments = len(sample.records) + len(sample.other_enrolments)
    got = len(db.select_fetchall())
    assert got == ENROLMENTS, got
    settle()
    out = []

    step("database: select_export_enrolments")
    floor_label = f"SELECT * FROM Enrolment fetchall ({n_enrolments:,} rows)"
    timing = best_of(db.select_floor, db.select_fetchall, db.select_records)
    f, runs = timing.floor_ms, timing.rounds
    (t, t_records), (cpu, cpu_records) = timing.times_ms, timing.cpu_ratios
    PEAK_JOBS["db_select"] = db_peak_job(path, ids, "select_fetchall")
    out.append(Result("select_export_enrolments", f"{got:,} of {n_enrolments:,} enr", t, f, floor_label, runs,
                      cpu, "db_select", extra={"rows_per_s": round(got / (t / 1000)),
                                               "query_plan": db.explain(db.query_sql)}))
    PEAK_JOBS["db_records"] = db_peak_job(path, ids, "select_records")
    out.append(Result("  … as dicts → EnrolmentRecord", f"{got:,} rows", t_records, f, floor_label, runs,
                      cpu_records, "db_records", extra={"rows_per_s": round(got / (t_records / 1000))}))
    PEAK_JOBS["db_select_floor"] = db_peak_job(path, ids, "select_floor")
    out.append(Result("floor: SELECT * FROM Enrolment", f"{n_enrolments:,} rows", f, f, floor_label, runs, 1.0,
                      "db_select_floor"))

    step("database: stage_outcomes + apply_staged_outcomes")
    floor_label = f"executemany UPDATE by PK ({OUTCOME_WRITES:,})"
    timing = best_of(db.write_by_key, db.write_staged, self_timed=True)
    f, (t,), (cpu,), runs = timing.floor_ms, timing.times_ms, timing.cpu_ratios, timing.rounds
    PEAK_JOBS["db_staged"] = db_peak_job(path, ids, "write_staged")
    out.append(Result("stage_outcomes + apply_staged", f"{OUTCOME_WRITES:,} of {n_eu:,} EU", t, f, floor_label, runs,
                      cpu, "db_staged", extra={"stage_ms": round(db.split["stage_ms"], 1),
                                          "apply_ms": round(db.split["apply_ms"], 1),
                                          "query_plan": db.explain(db.apply_sql)}))
    PEAK_JOBS["db_by_key"] = db_peak_job(path, ids, "write_by_key")
    out.append(Result("floor: executemany UPDATE by PK", f"{OUTCOME_WRITES:,} rows", f, f, floor_label, runs, 1.0,
                      "db_by_key"))
    db.engine.dispose()
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
        "sqlite": sqlite3.sqlite_version,
        "sqlalchemy": sqlalchemy.__version__,
    }


def load() -> list[float] | None:
    return [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None


def short_extra(r: Result) -> str:
    parts = []
    if "rows_per_s" in r.extra:
        parts.append(f"{r.extra['rows_per_s'] / 1000:,.0f}k rows/s")
    for unit in ("student", "row"):
        if f"bytes_per_{unit}" in r.extra:
            parts.append(f"{r.extra[f'bytes_per_{unit}']:,} B/{unit}")
    if "stage_ms" in r.extra:
        parts.append(f"stage {r.extra['stage_ms']:,.0f} + apply {r.extra['apply_ms']:,.0f} ms")
    return ", ".join(parts)


def print_table(results: list[Result], info: dict[str, Any]) -> None:
    head = ["measure", "size", "time ms", "floor ms", "ratio", "peak MiB", "runs", "notes"]
    body = [
        [r.measure, r.size, f"{r.time_ms:,.1f}", f"{r.floor_ms:,.1f}", f"{r.ratio:.2f}",
         "—" if r.peak_mib is None else f"{r.peak_mib:,.1f}", str(r.runs), short_extra(r)]
        for r in results
    ]
    widths = [max(len(row[i]) for row in [head, *body]) for i in range(len(head))]
    right = {2, 3, 4, 5, 6}

    def line(cells: list[str]) -> str:
        return " | ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths,
                                                                                                   strict=True))).rstrip()

    print(line(head))
    print("-+-".join("-" * w for w in widths))
    for row in body:
        print(line(row))
    print()
    print(
        "time = best of 'runs' rounds (perf_counter), each round running the floor then the measures; "
        "ratio = time / floor; peak = tracemalloc, one more run, result included"
    )
    contended = [r for r in results if r.cpu_ratio and abs(r.ratio / r.cpu_ratio - 1) > 0.15]
    if contended:
        print("contended (wall ratio vs CPU-time ratio): " + "; ".join(
            f"{r.measure.strip(' …')} {r.ratio:.2f} vs {r.cpu_ratio:.2f}" for r in contended))
    print(
        f"machine: Python {info['python']} ({info['implementation']}) on {info['platform']} {info['machine']}, "
        f"{info['cpu_count']} CPUs ({info['cpus_usable']} usable), SQLite {info['sqlite']}, "
        f"SQLAlchemy {info['sqlalchemy']}; load {info['load_before']} -> {info['load_after']}; total {info['total_s']:.0f} s"
    )


#: What ``make bench`` runs; ``BENCH_PARTS`` (comma-separated) picks some.
PARTS = ("pieces", "resulting", "provisioning", "parse")


def parts_from_env() -> set[str]:
    raw = os.environ.get("BENCH_PARTS", "").strip()
    parts = {p.strip() for p in raw.split(",") if p.strip()} if raw else set(PARTS)
    unknown = parts - set(PARTS)
    if unknown:
        raise SystemExit(f"BENCH_PARTS: unknown part(s) {', '.join(sorted(unknown))}; choose from {', '.join(PARTS)}")
    return parts


def bench_pieces() -> list[Result]:
    rnd = random.Random(SEED)
    step(f"building {STUDENTS:,} students, {ENROLMENTS:,} provisionable enrolments")
    sample = build_sample(rnd)
    results: list[Result] = []
    results += bench_provisioning(sample, rnd)
    results += bench_completions(sample, rnd)
    with tempfile.TemporaryDirectory(prefix="powerpro_bench_") as tmp:
        step(f"peak memory: {len(PEAK_JOBS)} tracemalloc runs in forked children, beside the database build")
        peaks = Peaks(results)
        path = Path(tmp) / "powerpro_bench.db"
        n_eu = fill_db(path, sample)
        peaks.finish()
        results += bench_database(sample, rnd, path, n_eu)
        step("peak memory: the database runs")
        Peaks(results).finish()
    return results


def main() -> None:
    started = time.perf_counter()
    parts = parts_from_env()
    info = machine()
    info["load_before"] = load()
    info["parts"] = sorted(parts)
    results = bench_pieces() if "pieces" in parts else []
    import bench_dags

    dags = bench_dags.run_parts(parts)
    info["total_s"] = time.perf_counter() - started
    info["load_after"] = load()
    if results:
        print_table(results, info)
    if dags:
        print()
        bench_dags.print_dags(dags)

    out = Path(os.environ.get("BENCH_OUT") or RESULTS.parent)
    out.mkdir(parents=True, exist_ok=True)
    report = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {k: round(v, 2) if isinstance(v, float) else v for k, v in info.items()},
        "sizes": {"students": STUDENTS, "provisionable_enrolments": ENROLMENTS, "other_enrolments": OTHER_ENROLMENTS,
                  "completion_rows": COMPLETION_ROWS, "outcome_writes": OUTCOME_WRITES},
        "results": [
            {"measure": r.measure.strip(" …"), "size": r.size, "time_ms": round(r.time_ms, 2), "floor": r.floor,
             "floor_ms": round(r.floor_ms, 2), "ratio": round(r.ratio, 2),
             "cpu_ratio": None if r.cpu_ratio is None else round(r.cpu_ratio, 2), "runs": r.runs,
             "peak_mib": None if r.peak_mib is None else round(r.peak_mib, 2), **r.extra}
            for r in results
        ],
        "dags": dags,
    }
    text_out = json.dumps(report, indent=2, ensure_ascii=False) + "\n"
    latest = out / RESULTS.name
    dated = out / f"results-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    latest.write_text(text_out, encoding="utf-8")
    dated.write_text(text_out, encoding="utf-8")
    print(f"written: {latest} and {dated.name}")


if __name__ == "__main__":
    main()
