"""The student lifecycle through real runs of ``powerpro_moodle_provisioning`` (SPEC section 4b):
pyftpdlib on 127.0.0.1, a reference-schema PowerPro on SQLite, ``dag.test()``. Each test reads
the users file Moodle would get, the sync's ``MoodleSyncExportState`` and the sync log row."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from test_provisioning_dag import DAG_ID, export_row, moodle_consumes, read_users_file, users_files

pytestmark = pytest.mark.dagrun

HEADER = ["username", "firstname", "lastname", "alternatename", "email", "idnumber", "auth", "suspended"]


def today_in_sydney():
    return datetime.now(ZoneInfo("Australia/Sydney")).date()


def state(pp):
    return pp.rows("SELECT StudentNumber, StudentID, Username, Suspended, Cohorts FROM MoodleSyncExportState "
                   "ORDER BY StudentNumber")


def run_and_read(run_dag, ftp_server, **conf):
    """One run; the users file it uploaded (rows), or [] when it uploaded none. Moodle then takes it."""
    dr = run_dag(DAG_ID, **conf)
    names = users_files(ftp_server)
    assert len(names) <= 1, names
    rows = read_users_file(ftp_server, names[0]) if names else []
    moodle_consumes(ftp_server)
    return dr, rows


def row(username, first, last, idnumber, suspended, *cohorts, email=None, alternatename=""):
    out = {"username": username, "firstname": first, "lastname": last, "alternatename": alternatename,
           "email": email or f"{username}@example.edu.au", "idnumber": idnumber, "auth": "manual",
           "suspended": str(suspended)}
    for i, cohort in enumerate(cohorts or ("",), start=1):
        out[f"cohort{i}"] = cohort
    return out


def sql(pp, statement, *params):
    pp.conn.execute(statement, params)
    pp.conn.commit()


@pytest.fixture
def ann(powerpro):
    """S1 Ann Lee, active in one flagged course."""
    pp = powerpro
    lead = pp.course("BSB50420", "BSB50420-2026")
    pp.enrol(pp.student("S1", "Ann", "Lee", "s1@example.edu.au"), lead)
    return pp


@pytest.mark.parametrize(
    "change",
    [
        pytest.param("UPDATE Enrolment SET Status = 'Withdrawn'", id="withdrawn"),
        pytest.param("UPDATE Enrolment SET Status = 'Cancelled'", id="cancelled"),
        pytest.param("UPDATE Enrolment SET Status = 'Deferred'", id="deferred"),
        pytest.param("UPDATE Enrolment SET MoodleProvision = 0", id="enrolment flag cleared"),
        pytest.param("UPDATE Course SET MoodleProvision = 0", id="course flag cleared"),
    ],
)
def test_a_student_who_loses_access_is_suspended_once(ann, ftp_server, run_dag, change):
    pp = ann
    _, rows = run_and_read(run_dag, ftp_server)
    assert rows == [row("s1", "Ann", "Lee", "S1", 0, "BSB50420-2026")]

    sql(pp, change)
    sql(pp, "UPDATE Student SET FirstName = 'Annie'")  # the suspension row carries what Moodle was last sent
    dr, rows = run_and_read(run_dag, ftp_server)
    assert dr.state == "success"
    assert list(rows[0]) == [*HEADER, "cohort1"]
    assert rows == [row("s1", "Ann", "Lee", "S1", 1)]
    assert state(pp) == [{"StudentNumber": "S1", "StudentID": 1, "Username": "s1", "Suspended": 1,
                          "Cohorts": "BSB50420-2026"}]
    log = export_row(pp, dr.run_id)
    assert (log["Status"], log["RowsWritten"], log["RowsSkipped"], log["RowsRejected"]) == ("success", 1, 0, 0)
    assert log["Message"].startswith("sent 1 student in powerpro_users_")
    assert "(0 new, 0 changed, 1 suspended, 0 reactivated)" in log["Message"]
    (suspended,) = log["Details"]["changes"]
    assert (suspended["student"], suspended["kind"]) == ("S1", "suspended")
    assert suspended["reason"].startswith("no enrolment keeps Moodle access: BSB50420")

    dr, rows = run_and_read(run_dag, ftp_server)  # sent once
    assert rows == []
    assert export_row(pp, dr.run_id)["Message"].startswith("nothing to send, no file uploaded")
    assert state(pp)[0]["Suspended"] == 1


def test_a_learner_with_two_courses_who_withdraws_from_one_is_sent_with_the_other(ann, ftp_server, run_dag):
    pp = ann
    aid = pp.course("HLTAID011", "HLTAID011-2026")
    pp.enrol(1, aid)
    _, rows = run_and_read(run_dag, ftp_server)
    assert rows == [row("s1", "Ann", "Lee", "S1", 0, "BSB50420-2026", "HLTAID011-2026")]

    sql(pp, "UPDATE Enrolment SET Status = 'Withdrawn' WHERE CourseID = 1")
    dr, rows = run_and_read(run_dag, ftp_server)
    assert rows == [row("s1", "Ann", "Lee", "S1", 0, "HLTAID011-2026")]
    assert state(pp) == [{"StudentNumber": "S1", "StudentID": 1, "Username": "s1", "Suspended": 0,
                          "Cohorts": "HLTAID011-2026"}]
    log = export_row(pp, dr.run_id)
    assert "(0 new, 1 changed, 0 suspended, 0 reactivated)" in log["Message"]
    assert "1 warning (1 cohort membership to remove in Moodle)" in log["Message"]
    assert log["Details"]["changes"] == [{"student": "S1", "kind": "changed", "username": "s1", "fields": ["cohorts"]}]
    (warning,) = log["Details"]["anomalies"]
    assert (warning["code"], warning["level"], warning["data"]) == (
        "cohort_not_removed", "warning", {"cohorts": ["BSB50420-2026"]})


@pytest.mark.parametrize(
    "ended_days_ago, suspended",
    [
        pytest.param(10, False, id="completed inside the window"),
        pytest.param(45, True, id="completed outside the window"),
        pytest.param(None, False, id="completed, course without an end date"),
    ],
)
def test_a_completed_learner_keeps_access_for_the_window(powerpro, ftp_server, run_dag, ended_days_ago, suspended):
    pp = powerpro
    end = None if ended_days_ago is None else (today_in_sydney() - timedelta(days=ended_days_ago)).isoformat()
    pp.enrol(pp.student("S1", "Ann", "Lee", "s1@example.edu.au"), pp.course("BSB50420", "BSB50420-2026", end_date=end))
    run_and_read(run_dag, ftp_server)

    sql(pp, "UPDATE Enrolment SET Status = 'Completed'")
    dr, rows = run_and_read(run_dag, ftp_server)
    log = export_row(pp, dr.run_id)
    if suspended:
        assert rows == [row("s1", "Ann", "Lee", "S1", 1)]
        assert log["Details"]["changes"][0]["reason"] == (
            f"no enrolment keeps Moodle access: BSB50420: Completed, course ended {end}, "
            f"{ended_days_ago} days ago (access is kept 30 days)")
    else:
        assert rows == [], "a completion inside the window sends nothing"
        assert log["Message"].startswith("nothing to send, no file uploaded; 1 student unchanged")
    assert state(pp)[0]["Suspended"] == int(suspended)
    assert log["RowsRead"] == 0, "a completed enrolment is not a provisionable one"


def test_a_suspended_student_enrolled_again_is_reactivated(ann, ftp_server, run_dag):
    pp = ann
    run_and_read(run_dag, ftp_server)
    sql(pp, "UPDATE Enrolment SET Status = 'Deferred'")
    run_and_read(run_dag, ftp_server)

    sql(pp, "UPDATE Enrolment SET Status = 'Active'")
    dr, rows = run_and_read(run_dag, ftp_server)
    assert rows == [row("s1", "Ann", "Lee", "S1", 0, "BSB50420-2026")]
    assert state(pp) == [{"StudentNumber": "S1", "StudentID": 1, "Username": "s1", "Suspended": 0,
                          "Cohorts": "BSB50420-2026"}]
    log = export_row(pp, dr.run_id)
    assert "(0 new, 0 changed, 0 suspended, 1 reactivated)" in log["Message"]
    assert [c["kind"] for c in log["Details"]["changes"]] == ["reactivated"]
    assert run_and_read(run_dag, ftp_server)[1] == [], "and then nothing more"


def test_an_enrolment_left_out_by_a_data_problem_keeps_access(ann, ftp_server, run_dag):
    pp = ann
    run_and_read(run_dag, ftp_server)
    sql(pp, "UPDATE Course SET MoodleCohort = '42'")
    dr, rows = run_and_read(run_dag, ftp_server)
    assert rows == []
    assert state(pp)[0]["Suspended"] == 0
    log = export_row(pp, dr.run_id)
    assert [(a["key"], a["code"]) for a in log["Details"]["anomalies"]] == [("BSB50420", "numeric_cohort")]


def school_of(pp, students):
    lead = pp.course("BSB50420", "BSB50420-2026")
    for i in range(1, students + 1):
        pp.enrol(pp.student(f"S{i:03}", "Ann", "Lee", f"s{i:03}@example.edu.au"), lead)


@pytest.mark.parametrize(
    "students, minimum, withdrawn, held",
    [
        pytest.param(40, 2, 4, False, id="at the percent (10% of 40), over the minimum: goes ahead"),
        pytest.param(40, 2, 5, True, id="just over the percent and the minimum: held"),
        pytest.param(20, 3, 3, False, id="over the percent, at the minimum: goes ahead"),
        pytest.param(20, 3, 4, True, id="just over the minimum and the percent: held"),
    ],
)
def test_a_mass_suspension_is_held_until_approved(powerpro, ftp_server, run_dag, settings, students, minimum,
                                                  withdrawn, held):
    pp = powerpro
    settings(hold_suspension_minimum=minimum)
    school_of(pp, students)
    run_and_read(run_dag, ftp_server)
    sql(pp, "UPDATE Enrolment SET Status = 'Withdrawn' WHERE StudentID <= ?", withdrawn)

    dr, rows = run_and_read(run_dag, ftp_server)
    log = export_row(pp, dr.run_id)
    if not held:
        assert dr.state == "success"
        assert [r["suspended"] for r in rows] == ["1"] * withdrawn
        assert sum(r["Suspended"] for r in state(pp)) == withdrawn
        return

    assert dr.state == "failed"
    assert rows == [], "a held run uploads nothing"
    assert sum(r["Suspended"] for r in state(pp)) == 0, "and records nothing"
    attempts = [r for r in pp.sync_log() if r["TaskId"] == "export_users" and r["RunId"] == dr.run_id]
    assert [(r["Status"], r["TryNumber"]) for r in attempts] == [("failed", 1)], "held: no retry"
    assert log["Message"] == (
        f"held: would suspend {withdrawn} students ({withdrawn * 100 / students:.0f}%), more than 10% of the "
        f"{students} students provisioned and not suspended, and more than {minimum}; nothing uploaded or recorded; "
        "check the students listed in Details, then trigger with approve_mass_suspension: true")
    assert log["RowsWritten"] == 0
    assert log["Details"]["held"] is True
    assert [(c["student"], c["kind"]) for c in log["Details"]["changes"]] == [
        (f"S{i:03}", "suspended") for i in range(1, withdrawn + 1)]

    dr, rows = run_and_read(run_dag, ftp_server, approve_mass_suspension=True)
    assert dr.state == "success"
    assert [(r["idnumber"], r["suspended"]) for r in rows] == [(f"S{i:03}", "1") for i in range(1, withdrawn + 1)]
    assert sum(r["Suspended"] for r in state(pp)) == withdrawn
    log = export_row(pp, dr.run_id)
    assert f"mass suspension approved ({withdrawn} students, approve_mass_suspension)" in log["Message"]


def test_a_dry_run_is_never_held_but_says_it_would_be(powerpro, ftp_server, run_dag, settings):
    pp = powerpro
    settings(hold_suspension_minimum=2)
    school_of(pp, 20)
    run_and_read(run_dag, ftp_server)
    sql(pp, "UPDATE Enrolment SET Status = 'Withdrawn' WHERE StudentID <= 3")
    sql(pp, "UPDATE Student SET LastName = 'Lee-Jones' WHERE StudentID = 4")
    pp.enrol(pp.student("S100", "New", "Student", "s100@example.edu.au"), 1)

    dr, rows = run_and_read(run_dag, ftp_server, dry_run=True)
    assert dr.state == "success" and rows == []
    log = export_row(pp, dr.run_id)
    assert log["Message"].startswith(
        "dry run: would send 5 students (1 new, 1 changed, 3 suspended, 0 reactivated); would be held: "
        "3 suspensions, more than 10% of the 20 students provisioned and not suspended, and more than 2; "
        "nothing uploaded or recorded; 16 students unchanged")
    assert log["Details"]["changes"] == [
        {"student": "S001", "kind": "suspended", "username": "s001",
         "reason": "no enrolment keeps Moodle access: BSB50420: Withdrawn"},
        {"student": "S002", "kind": "suspended", "username": "s002",
         "reason": "no enrolment keeps Moodle access: BSB50420: Withdrawn"},
        {"student": "S003", "kind": "suspended", "username": "s003",
         "reason": "no enrolment keeps Moodle access: BSB50420: Withdrawn"},
        {"student": "S004", "kind": "changed", "username": "s004", "fields": ["lastname"]},
        {"student": "S100", "kind": "new", "username": "s100"},
    ]
    assert log["Details"]["change_counts"] == {"changed": 1, "new": 1, "suspended": 3}
    assert log["RowsWritten"] == 0
    assert sum(r["Suspended"] for r in state(pp)) == 0 and len(state(pp)) == 20


def test_a_changed_student_number_is_not_exported_without_renames(ann, ftp_server, run_dag):
    pp = ann
    run_and_read(run_dag, ftp_server)
    sql(pp, "UPDATE Student SET StudentNumber = 'S1-2026'")
    for _ in range(2):  # every run says so, until it is resolved
        dr, rows = run_and_read(run_dag, ftp_server)
        assert dr.state == "success" and rows == []
        assert state(pp) == [{"StudentNumber": "S1", "StudentID": 1, "Username": "s1", "Suspended": 0,
                              "Cohorts": "BSB50420-2026"}]
        log = export_row(pp, dr.run_id)
        (anomaly,) = log["Details"]["anomalies"]
        assert (anomaly["key"], anomaly["code"]) == ("S1-2026", "student_number_changed")
        assert anomaly["reason"].startswith("StudentNumber changed from S1 to S1-2026: not exported")
        assert "not exported: 1 student (1 StudentNumber changed)" in log["Message"]
        assert log["RowsRejected"] == 1


def test_a_changed_student_number_renames_the_account_with_renames(ann, ftp_server, run_dag, settings):
    pp = ann
    run_and_read(run_dag, ftp_server)
    sql(pp, "UPDATE Student SET StudentNumber = 'S1-2026'")
    settings(allow_renames=True)
    dr, rows = run_and_read(run_dag, ftp_server)
    assert list(rows[0]) == [*HEADER, "oldusername", "cohort1"]
    assert rows == [{**row("s1-2026", "Ann", "Lee", "S1-2026", 0, "BSB50420-2026", email="s1@example.edu.au"),
                     "oldusername": "s1"}]
    assert state(pp) == [{"StudentNumber": "S1-2026", "StudentID": 1, "Username": "s1-2026", "Suspended": 0,
                          "Cohorts": "BSB50420-2026"}]
    log = export_row(pp, dr.run_id)
    assert "(0 new, 1 changed, 0 suspended, 0 reactivated); 1 account renamed (oldusername)" in log["Message"]
    assert log["Details"]["changes"] == [
        {"student": "S1-2026", "kind": "renamed", "username": "s1-2026", "fields": ["username", "idnumber"],
         "oldusername": "s1", "old_student_number": "S1"}]
    assert run_and_read(run_dag, ftp_server)[1] == [], "one account, sent once"
