"""Real faults during a real resulting run (``dag.test()``, pyftpdlib, the SQLite reference
PowerPro), each injected at an exact step of ``import_completion_file``:

- the FTP server really stops (``close_all()``: listener and connections gone) during the
  download, right after the commit, during the errors-file upload, and at the move, and is back
  (a new server, same port and root) for the retry;
- a second process holds a lock on the PowerPro database right before the import's commit.

``POWERPRO_MOODLE_RETRIES=1`` with no delay (conftest): try 2 runs at once. After recovery each
test checks the end state SPEC sections 5 to 7 promise: outcomes written exactly once, one ledger
row with the file's place, the inbox empty, processed/ holding the file and its errors file
once, the sync log telling the story, and the file's conflict still found by the README's query.
"""

from __future__ import annotations

import io
import json
import sqlite3
import time

import pytest
import test_resulting_dag
from faults import LockHolder, StoppableFtpServer, other_process_writes_at_once, write_lock_free
from test_resulting_dag import COMPLETIONS, DAG_ID, import_rows, read_csv

pytestmark = pytest.mark.dagrun

#: The students in every situation SPEC section 5 names (the fixture test_resulting_dag uses).
college = test_resulting_dag.college

FTP_USER, FTP_PASSWORD = "moodle", "ftp-Fault-pw-7"

FILE = "completions_0601.csv"
INBOX = f"/from_moodle/{FILE}"
PROCESSED = f"/from_moodle/processed/{FILE}"
ERRORS = "/from_moodle/processed/completions_0601.errors.csv"

#: What one clean run of COMPLETIONS leaves in EnrolmentUnit (test_resulting_dag's first test):
#: (StudentNumber, UnitCode, Enrolment status) -> (OutcomeCode, OutcomeDate, OutcomeSource).
WRITTEN = ("20", "2026-04-01", "Moodle sync")
NOTHING = (None, None, None)
ONE_CLEAN_RUN = {
    ("S1", "BSBLDR523", "Active"): WRITTEN, ("S1", "BSBOPS504", "Active"): WRITTEN,
    ("S1", "BSBCMM511", "Active"): WRITTEN, ("S1", "HLTAID011", "Active"): NOTHING,
    ("S2", "BSBLDR523", "Active"): NOTHING, ("S2", "BSBOPS504", "Active"): NOTHING,
    ("S2", "BSBCMM511", "Active"): NOTHING,
    ("S3", "BSBLDR523", "Withdrawn"): NOTHING, ("S3", "BSBOPS504", "Withdrawn"): NOTHING,
    ("S3", "BSBCMM511", "Withdrawn"): NOTHING,
    ("S3", "BSBLDR523", "Active"): NOTHING, ("S3", "BSBOPS504", "Active"): WRITTEN,
    ("S3", "BSBCMM511", "Active"): NOTHING,
    ("S4", "BSBLDR523", "Active"): NOTHING, ("S4", "BSBOPS504", "Active"): ("51", "2026-02-01", None),
    ("S4", "BSBCMM511", "Active"): NOTHING,
    ("S5", "BSBLDR523", "Active"): NOTHING, ("S5", "BSBOPS504", "Active"): ("20", "2026-02-02", "Trainer"),
    ("S5", "BSBCMM511", "Active"): NOTHING,
    ("S6", "BSBLDR523", "Active"): NOTHING, ("S6", "BSBOPS504", "Active"): ("20", "2026-04-02", "Moodle sync"),
    ("S6", "BSBCMM511", "Active"): NOTHING,
    ("S7", "BSBLDR523", "Active"): NOTHING, ("S7", "BSBOPS504", "Active"): NOTHING,
    ("S7", "BSBCMM511", "Active"): NOTHING,
}
#: The rows the run writes (they get ModifiedAt); S4 and S5 keep the time staff entered theirs.
WRITTEN_ROWS = {("S1", "BSBLDR523", "Active"), ("S1", "BSBOPS504", "Active"), ("S1", "BSBCMM511", "Active"),
                ("S3", "BSBOPS504", "Active"), ("S6", "BSBOPS504", "Active")}
ERRORS_FILE_ROWS = [
    ("12", "S1", "BSBCMM511", "Bad, time"), ("4", "S2", "HLTAID011", "Not enrolled"),
    ("5", "S9", "BSBOPS504", "Unknown student"), ("6", "S1", "NOPE101", "Unknown unit"),
    ("8", "S4", "BSBOPS504", "Manual RPL"),
]
S4_CONFLICT = {"StudentNumber": "S4", "UnitCode": "BSBOPS504", "ExistingOutcome": "51", "ExistingSource": None,
               "MoodleOutcome": "20"}

#: README section 9's conflict query, on SQLite: json_each stands for OPENJSON.
CONFLICT_QUERY = """
SELECT l.SyncLogID, l.Status, l.TryNumber,
       json_extract(a.value, '$.data.student_number') AS StudentNumber,
       json_extract(a.value, '$.data.unit_code') AS UnitCode,
       json_extract(a.value, '$.data.existing_outcome') AS ExistingOutcome,
       json_extract(a.value, '$.data.existing_source') AS ExistingSource,
       json_extract(a.value, '$.data.moodle_outcome') AS MoodleOutcome
FROM ELearningSyncLog AS l, json_each(l.Details, '$.anomalies') AS a
WHERE l.DagId = 'powerpro_moodle_resulting' AND json_extract(a.value, '$.code') = 'conflict'
ORDER BY l.SyncLogID
"""


def enrolment_units(path) -> dict[tuple[str, str, str], dict]:
    """Every EnrolmentUnit row, keyed by student, unit and enrolment status; read through a
    connection of its own (a fault hook may run while the test's connection is busy)."""
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        rows = conn.execute(
            "SELECT s.StudentNumber, u.UnitCode, e.Status, eu.OutcomeCode, eu.OutcomeDate, eu.OutcomeSource, "
            "eu.ModifiedAt FROM EnrolmentUnit eu JOIN Enrolment e ON e.EnrolmentID = eu.EnrolmentID "
            "JOIN Student s ON s.StudentID = e.StudentID JOIN Unit u ON u.UnitID = eu.UnitID").fetchall()
    finally:
        conn.close()
    return {(r["StudentNumber"], r["UnitCode"], r["Status"]): dict(r) for r in rows}


def assert_outcomes_of_one_clean_run(pp) -> dict:
    rows = enrolment_units(pp.path)
    assert {k: (r["OutcomeCode"], r["OutcomeDate"], r["OutcomeSource"]) for k, r in rows.items()} == ONE_CLEAN_RUN
    for key, row in rows.items():
        if key in WRITTEN_ROWS:
            assert row["ModifiedAt"] is not None and row["ModifiedAt"] != "2026-03-01 09:00:00", (key, row)
        elif key in (("S4", "BSBOPS504", "Active"), ("S5", "BSBOPS504", "Active")):
            assert row["ModifiedAt"] == "2026-03-01 09:00:00", (key, row)
        else:
            assert row["ModifiedAt"] is None, (key, row)
    return rows


def assert_filed_away_once(pp, ftp, dr):
    """The file left the inbox once, for good: ledger, inbox record, folders, errors file."""
    assert pp.rows("SELECT FileName, RowsRead, RowsWritten, RowsRejected, MovedTo FROM MoodleSyncAppliedFile") == [
        {"FileName": FILE, "RowsRead": 12, "RowsWritten": 5, "RowsRejected": 5, "MovedTo": PROCESSED}]
    assert pp.rows("SELECT RunId, FileName, Outcome, MoveTarget, MovedTo FROM MoodleSyncInboxFile") == [
        {"RunId": dr.run_id, "FileName": FILE, "Outcome": "applied", "MoveTarget": PROCESSED, "MovedTo": PROCESSED}]
    assert ftp.files("/from_moodle") == []
    assert ftp.files("/from_moodle/processed") == [FILE, "completions_0601.errors.csv"]  # no -2 copies
    assert ftp.path(PROCESSED).read_bytes() == COMPLETIONS.encode("utf-8")  # the bytes applied, moved
    errors = read_csv(ftp.path(ERRORS))
    assert [(e["row"], e["User_IdNumber"], e["Course_IdNumber"], e["fullname"]) for e in errors] == ERRORS_FILE_ROWS
    assert "already has outcome 51" in {e["row"]: e["reason"] for e in errors}["8"]


def assert_conflict_still_found(pp, dr):
    """README's conflict query finds S4/BSBOPS504 once, in the run's final (success) row."""
    found = pp.rows(CONFLICT_QUERY)
    (final,) = [r for r in import_rows(pp, dr.run_id) if r["Status"] == "success"]
    assert [{k: r[k] for k in S4_CONFLICT} for r in found] == [S4_CONFLICT], found
    assert [(r["SyncLogID"], r["Status"], r["TryNumber"]) for r in found] == [(final["SyncLogID"], "success", 2)]


def assert_other_tasks_succeeded_once(pp, dr):
    rows = [(r["TaskId"], r["Status"], r["TryNumber"]) for r in pp.sync_log()
            if r["RunId"] == dr.run_id and r["TaskId"] != "import_completion_file"]
    assert sorted(rows) == [("ensure_sync_tables", "success", 1), ("list_completion_files", "success", 1)]


@pytest.fixture
def stoppable_ftp(tmp_path, monkeypatch):
    """A real FTP server behind ``moodle_ftp`` that a test can stop and start on the same port."""
    import logging

    logging.getLogger("pyftpdlib").setLevel(logging.WARNING)
    root = tmp_path / "ftp"
    root.mkdir()
    server = StoppableFtpServer(root, FTP_USER, FTP_PASSWORD)
    monkeypatch.setenv("AIRFLOW_CONN_MOODLE_FTP", f"ftp://{FTP_USER}:{FTP_PASSWORD}@127.0.0.1:{server.port}")
    yield server
    server.close()


# ---------------------------------------------------------------------------------------------
# The FTP server stops at an exact step, and is back for the retry.
# ---------------------------------------------------------------------------------------------


def _stop_during_download(monkeypatch, server, after_commit):
    """At the RETR of the completion file: nothing has been read or written yet."""
    from powerpro_moodle.ftp import MoodleFtp

    real = MoodleFtp.download

    def download(self, path, fileobj):
        if path == INBOX and not server.stops:
            server.stop()
        return real(self, path, fileobj)

    monkeypatch.setattr(MoodleFtp, "download", download)


def _stop_after_commit(monkeypatch, server, after_commit):
    """Right after ``_apply``'s transaction committed (outcomes and ledger row written): the next
    FTP command (the check that the file is unchanged) meets a dead server."""
    from powerpro_moodle.operators.resulting import ImportCompletionFileOperator

    real = ImportCompletionFileOperator._apply

    def apply_then_stop(self, *args, **kwargs):
        result = real(self, *args, **kwargs)
        if not server.stops:
            after_commit()
            server.stop()
        return result

    monkeypatch.setattr(ImportCompletionFileOperator, "_apply", apply_then_stop)


def _stop_during_errors_upload(monkeypatch, server, after_commit):
    """In the middle of the errors file's STOR: the server has accepted the upload and opened the
    file; the server stops as the client reads the first block to send."""
    from powerpro_moodle.ftp import MoodleFtp

    real = MoodleFtp.write

    class StopsMidway(io.BytesIO):
        def read(self, size=-1):
            chunk = super().read(size)
            if chunk and server.running:
                server.stop()
            return chunk

    def write(self, path, data):
        if not path.endswith(".errors.csv") or server.stops:
            return real(self, path, data)
        after_commit()
        hook = self.hook
        store = hook.store_file
        hook.store_file = lambda remote, _buffer, *a, **k: store(remote, StopsMidway(data), *a, **k)
        try:
            return real(self, path, data)
        finally:
            if self.hook is hook:
                del hook.store_file

    monkeypatch.setattr(MoodleFtp, "write", write)


def _stop_at_the_move(monkeypatch, server, after_commit):
    """At the RNFR/RNTO of the file into processed/: the errors file is there already."""
    from powerpro_moodle.ftp import MoodleFtp

    real = MoodleFtp.rename

    def rename(self, source, target):
        if "/processed/" in target and not server.stops:
            after_commit()
            server.stop()
        return real(self, source, target)

    monkeypatch.setattr(MoodleFtp, "rename", rename)


def _restart_when_the_session_ends(monkeypatch, server, seen):
    """Start the server again when the FTP session that met the outage closes.

    Why there: ``MoodleFtp.__exit__`` runs as the failing try leaves its ``with self.ftp()``
    block, after the stop has really made an FTP command fail and before Airflow records the
    failure, fires the retry callback and starts try 2. So the outage is always seen by try 1
    and never by try 2, with no timer to race (a restart "after 0.5 s" in a thread could come
    before the failing command on a slow machine, or after try 2 started on a fast one).
    ``seen`` gets the error the session closed with and what processed/ held then (name: size).
    """
    from powerpro_moodle.ftp import MoodleFtp

    real = MoodleFtp.__exit__

    def exit_then_restart(self, exc_type, exc, tb):
        try:
            return real(self, exc_type, exc, tb)
        finally:
            if not server.running:
                folder = server.path("/from_moodle/processed")
                left = {p.name: p.stat().st_size for p in folder.iterdir()} if folder.is_dir() else {}
                seen.append((exc, left))
                server.start()

    monkeypatch.setattr(MoodleFtp, "__exit__", exit_then_restart)


@pytest.mark.parametrize(
    "inject, committed, left_behind",
    [
        pytest.param(_stop_during_download, False, None, id="during the download"),
        pytest.param(_stop_after_commit, True, None, id="right after the commit"),
        pytest.param(_stop_during_errors_upload, True, "partial", id="during the errors-file upload"),
        pytest.param(_stop_at_the_move, True, "complete", id="at the move"),
    ],
)
def test_the_ftp_server_stops_mid_import_and_the_retry_finishes_exactly_once(
        college, stoppable_ftp, run_dag, monkeypatch, inject, committed, left_behind):
    """``left_behind``: the errors file the outage left in processed/ (none, cut short, whole);
    try 2 writes it again under the same name, never a ``-2`` copy."""
    pp, ftp = college, stoppable_ftp
    after_commit_state: dict = {}

    def after_commit():
        # What try 1 committed, as the outage begins: the retry must leave it exactly so.
        after_commit_state["rows"] = enrolment_units(pp.path)
        after_commit_state["processed"] = ftp.files("/from_moodle/processed")

    seen: list = []
    inject(monkeypatch, ftp, after_commit)
    _restart_when_the_session_ends(monkeypatch, ftp, seen)
    ftp.put(INBOX, COMPLETIONS)
    port = ftp.port

    dr = run_dag(DAG_ID)

    # The outage happened once, in try 1, and the server came back on the same port.
    assert (ftp.stops, ftp.starts, ftp.port) == (1, 2, port)
    ((error, left),) = seen
    assert isinstance(error, (OSError, EOFError)), error
    full_size = ftp.path(ERRORS).stat().st_size
    if left_behind is None:
        assert left == {}
    else:
        assert list(left) == ["completions_0601.errors.csv"]
        size = left["completions_0601.errors.csv"]
        if left_behind == "partial":
            assert size < full_size, "the upload was cut short"
        else:
            assert size == full_size
    assert dr.state == "success"

    rows = import_rows(pp, dr.run_id)
    assert [(r["Status"], r["TryNumber"], r["MapIndex"]) for r in rows] == [("up_for_retry", 1, 0), ("success", 2, 0)]
    retry, success = rows
    assert retry["Message"].startswith(f"try 1 failed, will retry: the Moodle FTP server 127.0.0.1:{port} ")
    assert FTP_PASSWORD not in json.dumps(retry)
    assert_other_tasks_succeeded_once(pp, dr)

    final = assert_outcomes_of_one_clean_run(pp)
    if committed:
        # Try 1 wrote the outcomes; try 2 wrote nothing: every row as try 1 left it, ModifiedAt too.
        assert final == after_commit_state["rows"]
        assert (success["RowsRead"], success["RowsWritten"], success["RowsSkipped"]) == (12, 0, 12)
        assert success["Message"].endswith(
            f"(which stopped before filing it away); nothing written again; moved to {PROCESSED}")
        # Nothing was moved before the outage (at most the errors file, written again by try 2).
        assert FILE not in after_commit_state["processed"]
    else:
        assert (success["RowsRead"], success["RowsWritten"], success["RowsRejected"]) == (12, 5, 5)
        assert success["Message"].startswith(f"{FILE}: applied 5 outcomes from 12 rows")
    assert success["Details"]["moved_to"] == PROCESSED
    assert_filed_away_once(pp, ftp, dr)
    assert_conflict_still_found(pp, dr)


# ---------------------------------------------------------------------------------------------
# A second process holds a lock on the PowerPro database.
# ---------------------------------------------------------------------------------------------


def test_a_lock_held_by_another_process_at_the_commit_fails_try_1_and_try_2_applies_once(
        college, stoppable_ftp, run_dag, monkeypatch):
    """Right before the import's commit a second process opens the PowerPro file and holds a
    read transaction (SQLite's SHARED lock: a report or a backup reading). The import's COMMIT
    needs the EXCLUSIVE lock, waits out pysqlite's 5 s busy timeout and fails with "database is
    locked". (The holder cannot take BEGIN EXCLUSIVE or IMMEDIATE at that moment: the import's
    transaction already holds the RESERVED lock since its first write, so only a reader can get
    in, and a reader is what blocks a commit.) The holder lets go 1 s after the failure, so the
    retry callback's own commit has to wait for it too; then try 2 applies the file.

    The up_for_retry row being there proves the callback wrote through a fresh connection and
    that the task's failed connection, which kept its write lock after the failed COMMIT, was
    discarded: otherwise that lock would have refused the callback's INSERT.
    """
    from powerpro_moodle.operators.resulting import ImportCompletionFileOperator

    pp, ftp = college, stoppable_ftp
    holder = LockHolder(pp.path, "read", most=20)
    seen: dict = {}
    real_record, real_apply = ImportCompletionFileOperator._record, ImportCompletionFileOperator._apply

    def record_then_lock(self, conn, settings, file, outcome_, target, reason=None):
        real_record(self, conn, settings, file, outcome_, target, reason)
        if outcome_ == "applied" and holder.proc is None:
            # _record is the last statement of _apply's transaction; the commit comes next.
            holder.start()

    def apply_watching_the_commit(self, *args, **kwargs):
        try:
            return real_apply(self, *args, **kwargs)
        except Exception as err:
            if "error" not in seen:
                seen["error"] = err
                seen["waited"] = time.monotonic() - holder.held_at
                # The transaction block is left: its connection must not hold the write lock any more.
                seen["write_lock_free"] = write_lock_free(pp.path)
                holder.release_later(1.0)
            raise

    monkeypatch.setattr(ImportCompletionFileOperator, "_record", record_then_lock)
    monkeypatch.setattr(ImportCompletionFileOperator, "_apply", apply_watching_the_commit)
    ftp.put(INBOX, COMPLETIONS)
    try:
        dr = run_dag(DAG_ID)
    finally:
        holder.kill()

    assert "database is locked" in str(seen.get("error")), seen
    assert seen["waited"] >= 4.5, "the commit waited out the busy timeout"
    assert seen["write_lock_free"], "the failed connection was discarded with its lock"
    assert holder.released_at is not None and holder.proc.returncode == 0
    assert dr.state == "success"

    rows = import_rows(pp, dr.run_id)
    assert [(r["Status"], r["TryNumber"]) for r in rows] == [("up_for_retry", 1), ("success", 2)]
    retry, success = rows
    assert retry["Message"].startswith("try 1 failed, will retry: the PowerPro database (sqlite ") and retry["Message"].endswith(
        "could not save the changes: database is locked"), retry["Message"]
    assert "database is locked" in retry["Details"]["error"]
    assert (success["RowsRead"], success["RowsWritten"], success["RowsRejected"]) == (12, 5, 5)
    assert success["Message"].startswith(f"{FILE}: applied 5 outcomes from 12 rows")
    assert_other_tasks_succeeded_once(pp, dr)
    assert_outcomes_of_one_clean_run(pp)
    assert pp.rows("SELECT COUNT(*) AS n FROM MoodleSyncCompletionStage") == [{"n": 0}]
    assert pp.rows("SELECT COUNT(*) AS n FROM MoodleSyncOutcomeStage") == [{"n": 0}]
    assert_filed_away_once(pp, ftp, dr)
    assert_conflict_still_found(pp, dr)


def test_a_lock_held_when_the_move_is_noted_fails_try_1_and_try_2_notes_it(college, stoppable_ftp, run_dag,
                                                                           monkeypatch):
    """The same lock, later: the file is already in processed/ when the second process starts
    reading, so the small transaction that notes the move (``record_file_moved``) cannot commit.
    Try 2 no longer finds the file in the inbox, finds where this run put it, notes that, and
    restates the first application (conflicts included), writing nothing again."""
    from powerpro_moodle.ftp import MoodleFtp
    from powerpro_moodle.operators.resulting import ImportCompletionFileOperator

    pp, ftp = college, stoppable_ftp
    holder = LockHolder(pp.path, "read", most=20)
    seen: dict = {}
    real_rename, real_file_away = MoodleFtp.rename, ImportCompletionFileOperator._file_away

    def rename_then_lock(self, source, target):
        real_rename(self, source, target)
        if "/processed/" in target and holder.proc is None:
            seen["after_commit"] = enrolment_units(pp.path)
            holder.start()  # record_file_moved's commit comes next

    def file_away_watching_the_commit(self, *args, **kwargs):
        try:
            return real_file_away(self, *args, **kwargs)
        except Exception as err:
            if "error" not in seen:
                seen["error"] = err
                seen["write_lock_free"] = write_lock_free(pp.path)
                holder.release_later(1.0)
            raise

    monkeypatch.setattr(MoodleFtp, "rename", rename_then_lock)
    monkeypatch.setattr(ImportCompletionFileOperator, "_file_away", file_away_watching_the_commit)
    ftp.put(INBOX, COMPLETIONS)
    try:
        dr = run_dag(DAG_ID)
    finally:
        holder.kill()

    assert "database is locked" in str(seen.get("error")), seen
    assert seen["write_lock_free"], "the failed connection was discarded with its lock"
    assert dr.state == "success"
    rows = import_rows(pp, dr.run_id)
    assert [(r["Status"], r["TryNumber"]) for r in rows] == [("up_for_retry", 1), ("success", 2)]
    retry, success = rows
    assert "database is locked" in retry["Message"]
    assert (success["RowsRead"], success["RowsWritten"], success["RowsSkipped"]) == (12, 0, 12)
    assert success["Message"].endswith(f"this try wrote nothing again; moved to {PROCESSED}")
    assert_other_tasks_succeeded_once(pp, dr)
    assert assert_outcomes_of_one_clean_run(pp) == seen["after_commit"]
    assert_filed_away_once(pp, ftp, dr)
    assert_conflict_still_found(pp, dr)


def test_a_connection_whose_commit_failed_is_discarded_not_pooled(powerpro):
    """PowerProDb itself: a COMMIT refused because another process holds a lock leaves SQLite's
    write lock on that connection. Once the other process lets go, the same (pooled) PowerProDb
    must write again, nothing of the failed transaction may come back, and another process must
    be able to take an exclusive lock at once: no pooled connection kept a lock."""
    from powerpro_moodle.db import PowerProDb
    from sqlalchemy import text

    insert = text("INSERT INTO MoodleCourseUnit VALUES (:course, :unit)")
    db = PowerProDb()
    assert db.pooled
    holder = LockHolder(powerpro.path, "read", most=20)
    try:
        with pytest.raises(Exception, match="database is locked"):  # noqa: PT012 - the commit is the block's end
            with db.transaction() as conn:
                conn.execute(insert, {"course": "FAILED-COMMIT", "unit": "U1"})
                holder.start()  # another process reads: the commit cannot take its exclusive lock
        assert time.monotonic() - holder.held_at >= 4.5, "the commit waited out the busy timeout"
        holder.release()

        with db.transaction() as conn:  # the same instance, the same pool
            conn.execute(insert, {"course": "SECOND", "unit": "U2"})
        done = other_process_writes_at_once(powerpro.path)
        assert done.returncode == 0 and done.stdout.strip() == "written", done.stderr
    finally:
        holder.kill()
        db.close()
    assert powerpro.rows("SELECT * FROM MoodleCourseUnit ORDER BY MoodleCourseIdNumber") == [
        {"MoodleCourseIdNumber": "OTHER-PROCESS", "UnitCode": "X"},
        {"MoodleCourseIdNumber": "SECOND", "UnitCode": "U2"},
    ]
