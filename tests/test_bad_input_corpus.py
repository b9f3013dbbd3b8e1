"""The bad-input corpus (``tests/bad_input_corpus.py``), each case a real
``powerpro_moodle_resulting`` run: files on a real FTP server, the reference PowerPro on SQLite,
``dag.test()``. Each case asserts the exact end state a user sees: every outcome PowerPro holds,
the files in the inbox, processed/ and rejected/, the errors file, and the sync log row."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections import Counter

import pytest
from bad_input_corpus import (
    BASELINE,
    CASES,
    END,
    START,
    TROUBLESHOOTING,
    Case,
    message_pattern,
    render_table,
    table_section,
)

DAG_ID = "powerpro_moodle_resulting"
INBOX = "/from_moodle"
pytestmark = pytest.mark.dagrun

#: What a Message staff read must never hold: Python's words.
PYTHON_WORDS = ("Error:", "Exception", "Traceback", "<class ", "Errno")


@pytest.fixture
def college(powerpro):
    """The small college of ``bad_input_corpus``'s docstring."""
    pp = powerpro
    units = {code: pp.unit(code) for code in ("TU1", "TU2", "TU3", "AMB1", "amb1")}
    current = pp.course("TC1", "TC1-2026")
    old = pp.course("TC0", None)
    pp.map_course("TCLUSTER", "TU2")
    pp.map_course("TCLUSTER", "TU3")
    manual = {("T009", "TU1"): ("51", None, "2026-02-01"), ("T010", "TU2"): ("20", "Trainer", "2026-02-02")}
    for n in range(1, 11):
        number = f"T{n:03d}"
        sid = pp.student(number)
        eid = pp.enrol(sid, current)
        for code in ("TU1", "TU2", "TU3", "AMB1", "amb1"):
            if (number, code) == ("T007", "TU3"):
                continue
            outcome, source, date = manual.get((number, code), (None, None, None))
            pp.enrolment_unit(eid, units[code], outcome=outcome, source=source, date=date)
        if number == "T008":  # transferred: TU1 also under a newer, Withdrawn enrolment
            pp.enrolment_unit(pp.enrol(sid, old, "Withdrawn", enrolment_id=900), units["TU1"])
    for number in ("S20004", "s20004"):
        eid = pp.enrol(pp.student(number), current)
        pp.enrolment_unit(eid, units["TU1"])
        pp.enrolment_unit(eid, units["AMB1"])
        pp.enrolment_unit(eid, units["amb1"])
    assert outcomes(pp) == sorted(BASELINE, key=_key)
    return pp


def _key(row):
    return tuple("" if v is None else v for v in row)


def outcomes(pp) -> list[tuple]:
    """Every outcome PowerPro holds: (StudentNumber, UnitCode, OutcomeCode, OutcomeDate, OutcomeSource)."""
    rows = pp.rows(
        "SELECT s.StudentNumber, u.UnitCode, eu.OutcomeCode, eu.OutcomeDate, eu.OutcomeSource FROM EnrolmentUnit eu "
        "JOIN Enrolment e ON e.EnrolmentID = eu.EnrolmentID JOIN Student s ON s.StudentID = e.StudentID "
        "JOIN Unit u ON u.UnitID = eu.UnitID WHERE eu.OutcomeCode IS NOT NULL"
    )
    return sorted(((r["StudentNumber"], r["UnitCode"], r["OutcomeCode"], r["OutcomeDate"], r["OutcomeSource"])
                   for r in rows), key=_key)


def deliver(ftp_server, files) -> None:
    for name, data in files:
        ftp_server.put(f"{INBOX}/{name}", data)


def read_errors(path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"), newline="")))


def repeats_itself(message: str, span: int = 30) -> str | None:
    """A stretch of ``span`` characters the message says twice, if any."""
    for i in range(len(message) - span + 1):
        chunk = message[i : i + span]
        if message.find(chunk, i + span) != -1:
            return chunk
    return None


def _params():
    for case in CASES:
        marks = [pytest.mark.xfail(strict=True, reason=case.xfail)] if case.xfail else []
        yield pytest.param(case, id=case.id, marks=marks)


@pytest.mark.parametrize("case", list(_params()))
def test_bad_input(case: Case, college, ftp_server, run_dag, settings):
    pp = college
    if case.settings is not None:
        settings(**case.settings)
    if case.earlier:
        deliver(ftp_server, case.earlier)
        run_dag(DAG_ID)
    deliver(ftp_server, case.files)
    dr = run_dag(DAG_ID)
    logs = [r for r in pp.sync_log() if r["RunId"] == dr.run_id]

    # What PowerPro holds: every outcome, so a wrong write anywhere fails.
    assert outcomes(pp) == sorted([*BASELINE, *case.written], key=_key)
    assert pp.rows("SELECT eu.EnrolmentUnitID FROM EnrolmentUnit eu JOIN Enrolment e ON e.EnrolmentID = eu.EnrolmentID "
                   "WHERE e.Status <> 'Active' AND eu.OutcomeCode IS NOT NULL") == [], "written to a withdrawn enrolment"

    # Where the files went; none is lost or altered.
    assert (ftp_server.files(INBOX), ftp_server.files(f"{INBOX}/processed"), ftp_server.files(f"{INBOX}/rejected")) == (
        sorted(case.inbox), sorted(case.processed), sorted(case.rejected))
    for path in case.keep:
        assert ftp_server.path(f"{INBOX}/{path}").is_file(), path
    kept = {hashlib.sha256(p.read_bytes()).hexdigest() for p in ftp_server.root.rglob("*") if p.is_file()}
    for name, data in (*case.earlier, *case.files):
        assert hashlib.sha256(data).hexdigest() in kept, f"{name} was lost or altered"

    # The errors file.
    if case.errors_file is not None:
        errors = read_errors(ftp_server.path(f"{INBOX}/{case.errors_file}"))
        if case.errors_count is None:
            assert [e["row"] for e in errors] == [row for row, _ in case.errors]
        else:
            assert len(errors) == case.errors_count
        by_row = {e["row"]: e for e in errors}
        for row, reason in case.errors:
            assert reason in by_row[row]["reason"], (row, by_row[row]["reason"])
        for row, text in case.original_text:
            assert by_row[row]["original_text"] == text
        for row, column, value in case.errors_cells:
            assert by_row[row][column] == value

    # The sync log.
    for log in logs:
        message = log["Message"] or ""
        assert len(message) < 4000, (log["TaskId"], len(message))
        assert not [w for w in PYTHON_WORDS if w in message], message
        assert repeats_itself(message) is None, f"says {repeats_itself(message)!r} twice: {message}"
    (listing,) = [r for r in logs if r["TaskId"] == "list_completion_files"]
    if case.task == "list_completion_files":
        row, name = listing, ""
        assert case.says in row["Message"], row["Message"]
    else:
        rows = [r for r in logs if r["TaskId"] == "import_completion_file" and r["Details"].get("file") == case.file]
        assert len(rows) == 1, [(r["Status"], r["TryNumber"], r["Message"]) for r in rows]
        (row,) = rows
        name = case.file
        assert row["Message"].startswith(name + case.says), row["Message"]
    if case.readme_says is not None:
        assert message_pattern(name + case.readme_says).fullmatch(row["Message"]), row["Message"]
    assert row["Status"] == case.status, row["Message"]
    if case.counts is not None:
        assert (row["RowsRead"], row["RowsWritten"], row["RowsRejected"]) == case.counts, row["Message"]
    if case.skipped is not None:
        assert row["RowsSkipped"] == case.skipped
    for text in case.message_has:
        assert text in row["Message"], row["Message"]
    if case.message_is is not None:
        assert row["Message"] == case.message_is
    details = row["Details"]
    assert len(details["anomalies"]) <= 200
    codes = Counter(a["code"] for a in details["anomalies"])
    assert set(case.anomaly_codes) <= set(codes), codes
    if case.anomaly_counts is not None:
        assert details["anomaly_counts"] == case.anomaly_counts
    reasons = json.dumps([a["reason"] for a in details["anomalies"]], ensure_ascii=False)
    for text in case.details_has:
        assert json.dumps(text, ensure_ascii=False)[1:-1] in reasons, reasons[:2000]
    assert dr.state == case.state


def test_corpus_is_big_enough_and_ids_are_unique():
    assert len(CASES) >= 45
    assert len({c.id for c in CASES}) == len(CASES)
    actions: dict[str, set[str]] = {}
    for case in CASES:
        actions.setdefault(case.symptom, set()).add(case.action)
        assert case.symptom and case.action and case.says
    assert {s: a for s, a in actions.items() if len(a) > 1} == {}, "one symptom, one action"


def test_the_troubleshooting_table_is_generated_from_the_corpus():
    text = TROUBLESHOOTING.read_text(encoding="utf-8")
    assert text.count(START) == 1 and text.count(END) == 1
    assert table_section(text) == render_table(), "run: .venv/bin/python tests/bad_input_corpus.py"
