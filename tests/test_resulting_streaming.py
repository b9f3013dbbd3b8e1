"""A completion file of any size is read a chunk at a time and planned a part at a time (issue 10):
whatever the chunk and the parts, the outcome is the one of reading and planning it whole.

Pure checks (the reader, the planner over parts, the bounded anomaly log, batched inserts) and
one real run with chunks of two rows and a part per few bytes."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
import test_resulting_dag
from bad_input_corpus import CASES
from powerpro_moodle.formats.completion_chunks import CompletionReader, Rows, settle_duplicates
from powerpro_moodle.formats.completion_file import UnreadableFile, parse_completion_file
from powerpro_moodle.formats.ids import id_key
from powerpro_moodle.formats.outcome_frames import eu_frame, plan_rows, student_candidates
from powerpro_moodle.formats.outcomes import EnrolmentUnitRow, plan_outcomes
from powerpro_moodle.formats.settings import OutcomeRules
from powerpro_moodle.formats.summary import REJECTED, WARNING, Anomaly, AnomalyLog, bounded_anomalies, log_lines
from powerpro_moodle.scratch import Partitions, Runs, part_of

#: The college of test_resulting_dag, for the real run below.
college = test_resulting_dag.college
SYDNEY = ZoneInfo("Australia/Sydney")
NOT_BEFORE = datetime(2000, 1, 1, tzinfo=SYDNEY)
NOT_AFTER = datetime(2026, 6, 1, tzinfo=UTC)
HEADER = "user_idnumber,course_idnumber,timecompleted,finalgrade,gradepass,comment\r\n"
T = "1774967400"

#: Every situation at once: repeats and contradictions (some far apart), a cluster course and the
#: unit's own course (superseded), a transfer, conflicts, bad rows of every kind, a quoted cell
#: over several lines, blank lines, a repeated header, an ISO time, unknown ids.
MIXED = (
    HEADER
    + f"S1,U1,{T},80,50,plain\r\n"
    + 'S2,U1,2026-03-31T14:30:00+10:00,,,"two\r\nlines"\r\n'
    + "\r\n"
    + f"s1,u1,{T},80.0,50,repeat of row 1\r\n"
    + f"S3,CLUSTER,{T},,,cluster\r\n"
    + "S3,U2,2026-04-02T01:00:00Z,70,50,own course later\r\n"
    + f"S4,U1,{T},,,manual conflict\r\n"
    + f"S5,U1,{T},,,transfer\r\n"
    + "S6,U1,nope,,,bad time\r\n"
    + f"S6,U2,{T},85,5O,bad grade\r\n"
    + f"S7,U1,{T}\r\n"
    + "USER_IDNUMBER,course_idnumber,TimeCompleted,finalgrade,gradepass,comment\r\n"
    + ",,,,,\r\n"
    + f"S8,U1,{T},,,unknown student\r\n"
    + f"S1,NOPE,{T},,,unknown unit\r\n"
    + f"S2,U1,{T},10,50,contradicts row 2\r\n"
    + "S9,U2,,,,not completed\r\n"
    + f"S10,U1,{T},30,50,not yet competent\r\n"
    + f"S1,U1,{T},80,50,third repeat far away\r\n"
)
STUDENTS = {f"S{n}": f"S{n}" for n in range(1, 11) if n != 8}
COURSES = {"U1": ["U1"], "U2": ["U2"], "CLUSTER": ["U1", "U2"]}


def _units() -> list[EnrolmentUnitRow]:
    rows, eu = [], 0
    for n in range(1, 11):
        if n == 8:
            continue
        for unit in ("U1", "U2"):
            eu += 1
            code, source = ("30", "Trainer") if (n, unit) == (4, "U1") else (None, None)
            rows.append(EnrolmentUnitRow(eu, 100 + n, "Active", f"S{n}", unit, code, None, source))
            if n == 5:  # a transfer: the same unit under a newer, withdrawn enrolment
                eu += 1
                rows.append(EnrolmentUnitRow(eu, 200 + n, "Withdrawn", f"S{n}", unit, None, None, None))
    return rows


def _files() -> list[bytes]:
    return [MIXED.encode(), *(data for case in CASES for _, data in case.files)]


def _parse(data: bytes, **kwargs):
    try:
        return parse_completion_file(data, not_before=NOT_BEFORE, not_after=NOT_AFTER, **kwargs)
    except UnreadableFile as err:
        return str(err)


@pytest.mark.parametrize("chunk_rows", [1, 2, 3, 7])
def test_reading_a_chunk_at_a_time_gives_the_same_file(chunk_rows):
    for data in _files():
        if data.count(b"\n") > 40 * chunk_rows:  # a long file: a few chunk sizes are enough
            continue
        whole, chunked = _parse(data), _parse(data, chunk_rows=chunk_rows)
        if isinstance(whole, str):
            assert chunked == whole
            continue
        assert (chunked.header, chunked.rows_read, chunked.duplicates) == (whole.header, whole.rows_read,
                                                                           whole.duplicates)
        assert chunked.rows == whole.rows
        assert [r.original for r in chunked.rows] == [r.original for r in whole.rows]
        assert chunked.bad_rows == whole.bad_rows


def _plan_in_parts(data: bytes, parts: int, chunk_rows: int):
    """What the resulting DAG does, without the database: read in chunks without the cells, spill
    by student, settle repeats and plan each part with only its own students' rows."""
    with CompletionReader(io.BytesIO(data), not_before=NOT_BEFORE, not_after=NOT_AFTER, chunk_rows=chunk_rows,
                          cells=False) as reader:
        chunks = list(reader)
        named, positions, rows_read = reader.named, reader.positions, reader.rows_read
    notes = [((0, b.row, 0, 0), b.to_anomaly(), {**b.original, "row": b.row, "reason": b.reason})
             for c in chunks for b in c.bad]
    units = _units()
    eu_part = part_of([id_key(u.student_number) for u in units], parts)
    writes, duplicates, counts = [], 0, [0, 0, 0, 0]
    for part in range(parts):
        frames = [c.good[part_of(c.good["user"].str.upper().to_numpy(), parts) == part] for c in chunks]
        import pandas as pd

        rows = Rows(pd.concat(frames, ignore_index=True), named, positions)
        keep, dups, conflicts = settle_duplicates(rows)
        duplicates += dups
        notes += [((0, b.row, 0, 0), b.to_anomaly(), {**b.original, "row": b.row, "reason": b.reason})
                  for b in conflicts]
        planned = plan_rows(rows.take(keep), student_candidates(STUDENTS), COURSES,
                            eu_frame([u for u, p in zip(units, eu_part, strict=True) if p == part]), OutcomeRules(),
                            SYDNEY)
        notes += [(n.position, n.anomaly, n.error) for n in planned.notes]
        writes += list(zip(planned.writes["row"], planned.writes["enrolment_unit_id"], planned.writes["outcome_code"],
                           planned.writes["outcome_date"], strict=True))
        for k, n in enumerate((planned.up_to_date, planned.not_completed, planned.not_yet_competent,
                               planned.superseded)):
            counts[k] += n
    notes.sort(key=lambda n: n[0])
    return rows_read, duplicates, sorted(writes), counts, notes


@pytest.mark.parametrize("parts, chunk_rows", [(1, 50_000), (2, 1), (3, 2), (7, 3)])
def test_planning_by_student_in_parts_gives_the_plan_of_the_whole_file(parts, chunk_rows):
    data = MIXED.encode()
    whole_file = _parse(data)
    whole = plan_outcomes(whole_file, STUDENTS, COURSES, _units(), OutcomeRules(), SYDNEY)
    rows_read, duplicates, writes, counts, notes = _plan_in_parts(data, parts, chunk_rows)
    assert (rows_read, duplicates) == (whole_file.rows_read, whole_file.duplicates)
    assert writes == sorted((w.row, w.enrolment_unit_id, w.outcome_code, w.outcome_date) for w in whole.writes)
    assert counts == [whole.up_to_date, whole.not_completed, whole.not_yet_competent, whole.superseded]
    assert [n[1] for n in notes] == whole.anomalies
    assert [n[2] for n in notes if n[2] is not None] == whole.errors
    # The mix is as rich as it says.
    codes = {a.code for a in whole.anomalies}
    assert {"duplicate_conflict", "bad_time", "bad_grade", "bad_row", "unknown_student", "unknown_unit", "conflict",
            "transfer", "superseded", "not_yet_competent"} <= codes, codes
    assert whole.superseded and whole_file.duplicates == 2 and whole.writes


def _anomalies(n: int) -> list[Anomaly]:
    out = []
    for k in range(n):
        code = ("conflict", "unknown_student", "transfer")[k % 3]
        out.append(Anomaly("student", f"S{k}", code, f"reason {k}", level=WARNING if code == "transfer" else REJECTED))
    return out


@pytest.mark.parametrize("n", [0, 5, 200, 201, 1000])
def test_the_bounded_anomaly_log_says_what_the_whole_list_says(n):
    anomalies = _anomalies(n)
    log = AnomalyLog()
    for k in reversed(range(n)):  # added in any order, placed by position
        log.add(anomalies[k], (k,))
    assert bounded_anomalies(log) == bounded_anomalies(anomalies)
    assert log_lines(log) == log_lines(anomalies)
    assert log.bounded(REJECTED) == bounded_anomalies([a for a in anomalies if a.level == REJECTED])
    assert log.count(REJECTED) == sum(a.level == REJECTED for a in anomalies)


@pytest.mark.parametrize("n", [150, 1000, 5000])
def test_warnings_no_one_will_read_are_counted_not_worded(n):
    """The planner asks the log whether a warning may still be shown before it words it: the log
    says the same as if every warning had been worded."""
    import random

    anomalies = _anomalies(n)
    order = list(range(n))
    random.Random(n).shuffle(order)  # the parts of a file come in any order
    log, worded = AnomalyLog(), 0
    for k in order:
        a = anomalies[k]
        if a.level == WARNING and not log.wants(a, (k,)):
            log.count_unsaid(a.level, a.code)
            continue
        worded += a.level == WARNING
        log.add(a, (k,))
    assert bounded_anomalies(log) == bounded_anomalies(anomalies)
    assert log_lines(log) == log_lines(anomalies)
    if n >= 5000:
        assert worded < 0.75 * n / 3, "many warnings were only counted"


def test_spilled_parts_and_runs_come_back_whole_and_in_order(tmp_path):
    import numpy as np

    parts = Partitions(tmp_path, 3)
    keys = np.array([f"K{k % 10}" for k in range(100)], dtype=object)
    for start in (0, 50):
        block = slice(start, start + 50)
        parts.add("rows", {"key": keys[block], "n": np.arange(start, start + 50),
                           "text": np.array([None if k % 7 == 0 else f"t{k % 4}" for k in range(start, start + 50)],
                                            dtype=object)},
                  keys[block], packed=("text",))
    seen = []
    for part in range(3):
        got = parts.read("rows", part)
        if got is None:
            continue
        assert len(set(part_of(got["key"], 3))) == 1, "a key lives in one part"
        assert list(got["n"]) == sorted(got["n"]), "in the order added"
        seen += [(int(n), t) for n, t in zip(got["n"], got["text"], strict=True)]
    assert sorted(seen) == [(k, None if k % 7 == 0 else f"t{k % 4}") for k in range(100)]

    runs = Runs(tmp_path, "errors")
    runs.write([((0, k), k) for k in range(0, 1000, 3)])
    with runs.run() as run:
        for k in range(1, 1000, 3):
            run.add((0, k), k)
    runs.write([])
    assert list(runs.merged()) == sorted([*range(0, 1000, 3), *range(1, 1000, 3)])


def test_outcomes_of_a_part_go_to_enrolment_units_of_that_part():
    """A student's EnrolmentUnit rows are spilled by the key of their StudentNumber, the rows by
    the key of user_idnumber: the same student, the same part."""
    for number in ("S1", "s1 ", "T043\u200b", "ÉLÈVE-2"):
        for parts in (2, 5, 17):
            assert part_of([id_key(number)], parts) == part_of([id_key(number.strip().upper())], parts)


def test_dates_in_writes_are_dates():
    whole = plan_outcomes(_parse(MIXED.encode()), STUDENTS, COURSES, _units(), OutcomeRules(), SYDNEY)
    assert all(isinstance(w.outcome_date, date) for w in whole.writes)


@pytest.mark.dagrun
def test_a_real_run_in_chunks_of_two_rows_and_many_parts_applies_the_file_as_a_whole(college, ftp_server, run_dag,
                                                                                     monkeypatch):
    """The same file, the same end state, the same errors file and sync log row as
    ``test_resulting_dag.test_applies_a_completion_file_exactly_as_the_rules_say``, read two rows at
    a time and planned in parts of a few bytes (each student's rows in one part)."""
    from powerpro_moodle.formats import completion_chunks
    from powerpro_moodle.operators import resulting

    monkeypatch.setattr(completion_chunks, "CHUNK_ROWS", 2)
    monkeypatch.setattr(resulting, "PART_BYTES", 64)
    test_resulting_dag.test_applies_a_completion_file_exactly_as_the_rules_say(college, ftp_server, run_dag)


@pytest.mark.parametrize("name, width", [("stage_completion_keys", 3), ("stage_outcomes", 4)])
def test_batched_inserts_stay_within_sql_servers_limits(name, width):
    """``PowerProDb.insert_rows``: a few multi-row statements, never more than 1000 rows or 2100
    parameters each (pymssql's executemany would be a round trip per row)."""
    from powerpro_moodle.db import MAX_PARAMS_PER_STATEMENT, MAX_ROWS_PER_INSERT, PowerProDb, load_statements
    from sqlalchemy import create_engine, event

    db = PowerProDb("unused")
    db.__dict__["dialect"] = "sqlite"
    db.__dict__["engine"] = engine = create_engine("sqlite://")
    sent = []
    event.listen(engine, "before_cursor_execute", lambda *a: sent.append(len(a[3])))
    rows = [("b", k, "20", "2026-04-01") if width == 4 else ("b", f"S{k}", "") for k in range(5000)]
    with engine.begin() as conn:
        for table in ("MoodleSyncCompletionStage", "MoodleSyncOutcomeStage"):
            for statement in load_statements(f"create_table_{table}", "sqlite"):
                conn.exec_driver_sql(statement)
        sent.clear()
        assert db.insert_rows(conn, name, rows) == 5000
        assert db.insert_rows(conn, name, iter([])) == 0
        by_name = [dict(zip(("BatchId", "UserKey", "CourseKey"), r, strict=True)) for r in rows[:3]] if width == 3 \
            else [dict(zip(("BatchId", "EnrolmentUnitID", "OutcomeCode", "OutcomeDate"), r, strict=True))
                  for r in rows[:3]]
        assert db.insert_rows(conn, name, by_name) == 3
    per_statement = min(MAX_ROWS_PER_INSERT, MAX_PARAMS_PER_STATEMENT // width)
    assert max(sent) == per_statement * width <= MAX_PARAMS_PER_STATEMENT
    assert sum(sent) == 5003 * width
    assert len(sent) == -(-5000 // per_statement) + 1


def test_batched_inserts_send_sql_server_one_statement_with_its_placeholders():
    from powerpro_moodle.db import _insert_template

    template = _insert_template("stage_outcomes", None, "pyformat")
    assert template.params == ("BatchId", "EnrolmentUnitID", "OutcomeCode", "OutcomeDate")
    assert template.sql(2).endswith("VALUES (%s, %s, %s, %s), (%s, %s, %s, %s)")
    assert template.sql(1).startswith("INSERT INTO MoodleSyncOutcomeStage (BatchId, EnrolmentUnitID, OutcomeCode, ")
