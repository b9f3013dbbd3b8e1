"""The student lifecycle rules (SPEC section 4b), pure: no Airflow, no database."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from datetime import date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from powerpro_moodle.formats.lifecycle import (
    CHANGED,
    NEW,
    REACTIVATED,
    RENAMED,
    SUSPENDED,
    Hold,
    check_hold,
    describe_export,
    describe_hold,
    enrolment_access,
    plan_lifecycle,
)
from powerpro_moodle.formats.settings import Settings
from powerpro_moodle.formats.summary import WARNING
from powerpro_moodle.formats.users_file import EnrolmentRecord, ExportedStudent, MoodleUser, users_csv

RUN = date(2026, 6, 15)


def rec(sid=1, number=None, course="BSB50420", cohort="", status="Active", end="2026-12-11", course_flag=True,
        enrolment_flag=True, email="", first="Ann", last="Lee", eid=None):
    number = number or f"S{sid}"
    return EnrolmentRecord(
        enrolment_id=eid or sid * 100 + len(course), student_number=number, first_name=first, last_name=last,
        preferred_name=None, email=f"{number.lower()}@example.edu.au" if email == "" else email, course_code=course,
        moodle_cohort=f"{course}-2026" if cohort == "" else cohort, student_id=sid, status=status, end_date=end,
        course_flag=course_flag, enrolment_flag=enrolment_flag,
    )


def plan(enrolments, state=(), run_date=RUN, full_resync=False, **values):
    return plan_lifecycle(enrolments, state, settings=Settings(**values), run_date=run_date, full_resync=full_resync)


def recorded(plan_, state=()):
    """The state after the plan's file is uploaded, as record_exported_student.sql leaves it."""
    rows = {row.student_number: row for row in state}
    for change in plan_.changes:
        rows.pop(change.state_number, None)
        rows[change.recorded.student_number] = change.recorded
    return list(rows.values())


def read(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))


# --------------------------------------------------------------------------- which enrolment keeps access


@pytest.mark.parametrize(
    "kwargs, keeps",
    [
        pytest.param({}, True, id="active and both flags"),
        pytest.param({"status": "active"}, True, id="status compared case-insensitively"),
        pytest.param({"status": "Withdrawn"}, False, id="withdrawn"),
        pytest.param({"status": "Cancelled"}, False, id="cancelled"),
        pytest.param({"status": "Deferred"}, False, id="deferred"),
        pytest.param({"course_flag": False}, False, id="course flag cleared"),
        pytest.param({"enrolment_flag": False}, False, id="enrolment flag cleared"),
        pytest.param({"status": "Completed", "end": "2026-05-17"}, True, id="completed 29 days after the end"),
        pytest.param({"status": "Completed", "end": "2026-05-16"}, False, id="completed 30 days after the end"),
        pytest.param({"status": "Completed", "end": None}, True, id="completed, course without an end date"),
        pytest.param({"status": "Completed", "end": "2026-12-11"}, True, id="completed before the course ends"),
        pytest.param({"status": "Completed", "end": date(2026, 5, 1)}, False, id="end date as a date"),
        pytest.param({"status": "Completed", "end": datetime(2026, 6, 1, 0, 0)}, True, id="end date as a datetime"),
        pytest.param({"status": "Completed", "end": "not a date"}, True, id="unreadable end date keeps access"),
        pytest.param({"status": "Completed", "end": None, "course_flag": False}, False,
                     id="completed with a flag cleared"),
    ],
)
def test_which_enrolment_keeps_access(kwargs, keeps):
    assert enrolment_access(rec(**kwargs), Settings(), RUN).keeps is keeps


def test_the_keep_access_settings_change_the_window_and_the_statuses():
    assert enrolment_access(rec(status="Completed", end="2026-06-01"), Settings(keep_access_days=7), RUN).keeps is False
    assert enrolment_access(rec(status="Deferred"), Settings(keep_access_statuses=("Deferred",)), RUN).keeps is True
    assert enrolment_access(rec(status="Completed", end=None), Settings(keep_access_statuses=()), RUN).keeps is False


def test_the_reason_a_completion_lost_access_names_the_dates():
    access = enrolment_access(rec(status="Completed", end="2026-04-01"), Settings(), RUN)
    assert access.why == "BSB50420: Completed, course ended 2026-04-01, 75 days ago (access is kept 30 days)"


# --------------------------------------------------------------------------- suspension and reactivation


def test_a_student_who_loses_access_is_suspended_once_with_the_identity_last_sent():
    first = plan([rec(1, first="Ann")])
    state = recorded(first)
    # Withdrawn, and renamed in PowerPro on the same day: Moodle knows the name last sent.
    second = plan([rec(1, status="Withdrawn", first="Anne")], state)
    (change,) = second.changes
    assert change.kind == SUSPENDED and change.reason == "no enrolment keeps Moodle access: BSB50420: Withdrawn"
    assert read(users_csv(second.to_send)) == [
        {"username": "s1", "firstname": "Ann", "lastname": "Lee", "alternatename": "", "email": "s1@example.edu.au",
         "idnumber": "S1", "auth": "manual", "suspended": "1", "cohort1": ""}]
    assert check_hold(second, Settings()).suspensions == 1
    state = recorded(second, state)
    (row,) = state
    assert row.suspended and row.cohorts == ("BSB50420-2026",), "Moodle keeps the membership: the state says so"

    third = plan([rec(1, status="Withdrawn", first="Anne")], state)
    assert third.changes == [] and third.still_suspended == 1


def test_full_resync_sends_suspended_students_suspended_again_and_that_is_no_new_suspension():
    state = recorded(plan([rec(1)]))
    state = recorded(plan([rec(1, status="Withdrawn")], state), state)
    again = plan([rec(1, status="Withdrawn")], state, full_resync=True)
    assert [(c.kind, c.user.suspended, c.resent) for c in again.changes] == [(SUSPENDED, 1, True)]
    assert again.suspensions == [] and check_hold(again, Settings()).suspensions == 0


def test_a_suspended_student_with_access_again_is_reactivated_with_their_cohorts():
    state = recorded(plan([rec(1)]))
    state = recorded(plan([rec(1, status="Deferred")], state), state)
    back = plan([rec(1, status="Deferred"), rec(1, course="HLTAID011")], state)
    (change,) = back.changes
    assert (change.kind, change.user.suspended, change.user.cohorts) == (REACTIVATED, 0, ("HLTAID011-2026",))
    assert back.counts() == {"new": 0, "changed": 0, "suspended": 0, "reactivated": 1}
    # Moodle still holds the student in the first course's cohort: a person must remove them.
    (warning,) = back.anomalies
    assert (warning.code, warning.level, warning.data) == ("cohort_not_removed", WARNING, {"cohorts": ["BSB50420-2026"]})


def test_losing_one_course_of_two_sends_the_student_changed_with_the_other_cohort():
    state = recorded(plan([rec(1), rec(1, course="HLTAID011")]))
    after = plan([rec(1, status="Withdrawn"), rec(1, course="HLTAID011")], state)
    (change,) = after.changes
    assert (change.kind, change.fields, change.user.suspended, change.user.cohorts) == (
        CHANGED, ("cohorts",), 0, ("HLTAID011-2026",))
    assert [a.code for a in after.anomalies] == ["cohort_not_removed"]


@pytest.mark.parametrize(
    "today, code",
    [
        pytest.param(dict(cohort=None), "no_cohort", id="course cohort blank"),
        pytest.param(dict(cohort="42"), "numeric_cohort", id="course cohort numeric"),
        pytest.param(dict(email=None), "no_email", id="email missing"),
    ],
)
def test_an_enrolment_left_out_by_a_data_problem_keeps_access(today, code):
    state = recorded(plan([rec(1)]))
    after = plan([rec(1, **today)], state)
    assert after.changes == [] and after.suspensions == []
    assert [a.code for a in after.anomalies] == [code]


def test_a_student_never_sent_who_has_no_access_is_nobody_s_business():
    assert plan([rec(1, status="Withdrawn")]).changes == []


def test_the_window_keeps_access_but_never_creates_or_reactivates_an_account():
    assert plan([rec(1, status="Completed", end=None)]).changes == []
    state = recorded(plan([rec(1)]))
    state = recorded(plan([rec(1, status="Withdrawn")], state), state)
    after = plan([rec(1, status="Completed", end=None)], state)
    assert after.changes == [] and after.still_suspended == 1


def test_a_completion_inside_the_window_sends_nothing_and_past_it_suspends():
    state = recorded(plan([rec(1, end="2026-06-01")]))
    assert plan([rec(1, status="Completed", end="2026-06-01")], state).changes == []
    late = plan([rec(1, status="Completed", end="2026-06-01")], state, run_date=date(2026, 7, 1))
    assert [c.kind for c in late.changes] == [SUSPENDED]


# --------------------------------------------------------------------------- identity


def test_a_changed_student_number_is_not_exported_and_named_every_run_without_renames():
    state = recorded(plan([rec(1, number="S1")]))
    for _ in range(2):
        after = plan([rec(1, number="S1-X")], state)
        assert after.changes == [] and after.suspensions == []
        (anomaly,) = after.anomalies
        assert anomaly.code == "student_number_changed" and anomaly.key == "S1-X"
        assert "StudentNumber changed from S1 to S1-X" in anomaly.reason
        assert anomaly.data == {"old_student_number": "S1", "new_student_number": "S1-X", "oldusername": "s1",
                                "username": "s1-x"}
    assert plan([rec(1, number="S1")], state).changes == [], "changed back: resolved, nothing to send"


def test_with_renames_the_row_carries_oldusername_and_the_state_follows():
    state = recorded(plan([rec(1, number="S1")]))
    after = plan([rec(1, number="S1-X")], state, allow_renames=True)
    (change,) = after.changes
    assert (change.kind, change.fields, change.state_number) == (RENAMED, ("username", "idnumber", "email"), "S1")
    data = users_csv(after.to_send)
    assert data.decode().splitlines()[0] == (
        "username,firstname,lastname,alternatename,email,idnumber,auth,suspended,oldusername,cohort1")
    assert read(data)[0]["oldusername"] == "s1" and read(data)[0]["username"] == "s1-x"
    (row,) = recorded(after, state)
    assert (row.student_number, row.username, row.student_id) == ("S1-X", "s1-x", 1)


def test_the_header_has_no_oldusername_when_no_row_renames():
    assert "oldusername" not in users_csv(plan([rec(1)]).to_send).decode().splitlines()[0]


def test_a_release_0_1_row_without_student_id_is_adopted_by_student_number():
    sent = plan([rec(1)]).changes[0].user
    old = ExportedStudent("S1", "s1", sent.fingerprint)  # what release 0.1 kept
    after = plan([rec(1)], [old])
    assert after.changes == [] and [u.student_number for u in after.unchanged] == ["S1"]


def test_an_account_nobody_holds_any_more_is_suspended_when_its_identity_is_known():
    known = ExportedStudent("S9", "s9", "f" * 64, firstname="Old", lastname="Student", alternatename="",
                            email="s9@example.edu.au")
    (change,) = plan([], [known]).changes
    assert (change.kind, change.user.username, change.user.firstname, change.student_id) == (
        SUSPENDED, "s9", "Old", None)
    assert change.reason == "no enrolment keeps Moodle access: no enrolment in PowerPro"


def test_an_account_whose_identity_is_unknown_is_not_blanked_but_reported():
    after = plan([], [ExportedStudent("S9", "s9", "f" * 64)])
    assert after.changes == []
    (warning,) = after.anomalies
    assert (warning.code, warning.level, warning.key) == ("identity_unknown", WARNING, "S9")


def test_a_student_number_still_recorded_for_another_student_waits():
    # Under the email username rule a number can move without a rename.
    state = recorded(plan([rec(1, number="S1", email="a@example.edu.au")], username_rule="email"))
    after = plan([rec(1, number="S1", email="a@example.edu.au"), rec(2, number="s1", email="b@example.edu.au")],
                 state, username_rule="email")
    assert after.changes == []
    assert [(a.key, a.code) for a in after.anomalies] == [("s1", "student_number_clash")]


def test_the_fingerprint_is_release_0_1_s():
    user = MoodleUser("S1", "s1", "Ann", "Lee", "", "s1@example.edu.au", "manual", 0, ("B-1", "A-1"))
    # Release 0.1's MoodleUser.fingerprint, as it shipped.
    payload = json.dumps(["s1", "Ann", "Lee", "", "s1@example.edu.au", "S1", "manual", 0, ["A-1", "B-1"]],
                         ensure_ascii=False)
    assert user.fingerprint == hashlib.sha256(payload.encode("utf-8")).hexdigest()
    assert MoodleUser("S1", "s1", "Ann", "Lee", "", "s1@example.edu.au", "manual", 0, ("A-1", "B-1"),
                      oldusername="x").fingerprint == user.fingerprint


# --------------------------------------------------------------------------- the hold


@pytest.mark.parametrize(
    "suspensions, active, percent, minimum, held",
    [
        pytest.param(21, 200, 10, 20, True, id="just over both"),
        pytest.param(20, 100, 10, 20, False, id="over the percent, at the minimum"),
        pytest.param(21, 210, 10, 20, False, id="over the minimum, at the percent"),
        pytest.param(22, 210, 10, 20, True, id="over the minimum, just over the percent"),
        pytest.param(300, 300, 10, 20, True, id="everyone"),
        pytest.param(3, 4, 10, 20, False, id="a small RTO: the minimum protects"),
        pytest.param(3, 40, 2.5, 2, True, id="fractional percent"),
        pytest.param(0, 0, 0, 0, False, id="nothing to suspend"),
    ],
)
def test_the_hold_needs_more_than_the_percent_and_more_than_the_minimum(suspensions, active, percent, minimum, held):
    assert Hold(suspensions, active, percent, minimum).held is held


def test_the_hold_counts_only_suspensions_of_students_active_before():
    students = [rec(i) for i in range(1, 31)]
    state = recorded(plan(students))
    withdrawn = [rec(i, status="Withdrawn" if i <= 4 else "Active") for i in range(1, 31)]
    after = plan(withdrawn, state)
    hold = check_hold(after, Settings(hold_suspension_minimum=3))
    assert (hold.suspensions, hold.active_before, hold.held) == (4, 30, True)
    assert describe_hold(hold) == (
        "held: would suspend 4 students (13%), more than 10% of the 30 students provisioned and not suspended, "
        "and more than 3; nothing uploaded or recorded; check the students listed in Details, then trigger with "
        "approve_mass_suspension: true")


# --------------------------------------------------------------------------- the preview


def test_the_dry_run_message_counts_each_kind_and_says_a_real_run_would_be_held():
    state = recorded(plan([rec(i) for i in range(1, 5)]))
    after = plan([rec(1, status="Withdrawn"), rec(2, last="Changed"), rec(3), rec(4), rec(5)], state)
    hold = check_hold(after, Settings(hold_suspension_minimum=0))
    assert describe_export(after, None, True, hold).startswith(
        "dry run: would send 3 students (1 new, 1 changed, 1 suspended, 0 reactivated); would be held: 1 suspension, "
        "more than 10% of the 4 students provisioned and not suspended, and more than 0; nothing uploaded or recorded"
        "; 2 students unchanged")
    single = plan([rec(1, status="Withdrawn"), rec(2), rec(3), rec(4)], state)
    assert describe_export(single, None, True, check_hold(single, Settings())) == (
        "dry run: would send 1 student (0 new, 0 changed, 1 suspended, 0 reactivated); nothing uploaded or recorded"
        "; 3 students unchanged")
    details = after.details()
    assert details["changes"] == [
        {"student": "S1", "kind": "suspended", "username": "s1",
         "reason": "no enrolment keeps Moodle access: BSB50420: Withdrawn"},
        {"student": "S2", "kind": "changed", "username": "s2", "fields": ["lastname"]},
        {"student": "S5", "kind": "new", "username": "s5"},
    ]
    assert details["change_counts"] == {"changed": 1, "new": 1, "suspended": 1}


def test_details_list_at_most_200_students_suspensions_first():
    state = recorded(plan([rec(i) for i in range(1, 101)]))
    after = plan([rec(i, status="Withdrawn") for i in range(1, 101)] + [rec(i) for i in range(101, 301)], state)
    details = after.details()
    assert len(details["changes"]) == 200 and details["changes_total"] == 300
    assert [c["kind"] for c in details["changes"][:100]] == ["suspended"] * 100
    assert details["change_counts"] == {"new": 200, "suspended": 100}


# --------------------------------------------------------------------------- properties, over many runs

COURSES = {"A": "A-2026", "B": "B-2026", "C": "42"}  # C's cohort is numeric: a data problem
STATUSES = ["Active", "Completed", "Withdrawn", "Cancelled", "Deferred"]
STUDENTS = (1, 2, 3, 4)

enrolment = st.tuples(
    st.sampled_from(sorted(COURSES)),
    st.sampled_from(STATUSES),
    st.sampled_from([True, True, True, False]),  # course flag
    st.sampled_from([True, True, True, False]),  # enrolment flag
    st.one_of(st.none(), st.integers(-20, 60)),  # days between the course's end and the run
)
student_today = st.tuples(
    st.lists(enrolment, max_size=3, unique_by=lambda e: e[0]),
    st.booleans(),  # StudentNumber corrected
    st.sampled_from(["present", "present", "missing"]),  # email
    st.sampled_from(["Lee", "Li"]),  # a name that changes
)
#: A run after the first: each student as they were (None), mostly, or changed.
one_run = st.fixed_dictionaries({sid: st.one_of(st.none(), st.none(), student_today) for sid in STUDENTS})
first_run = st.fixed_dictionaries({sid: student_today for sid in STUDENTS})


def records_of(run: dict, run_date: date) -> list[EnrolmentRecord]:
    out = []
    for sid, (enrolments, corrected, email, last) in run.items():
        number = f"S{sid}X" if corrected else f"S{sid}"
        for n, (course, status, course_flag, enrolment_flag, ended) in enumerate(enrolments):
            out.append(EnrolmentRecord(
                sid * 10 + n, number, "Ann", last, None, f"{number.lower()}@example.edu.au" if email == "present" else None,
                course, COURSES[course], sid, status, None if ended is None else run_date - timedelta(days=ended),
                course_flag, enrolment_flag))
    return out


def keeps_access(enrolments: list, keep_days: int = 30) -> bool:
    """The oracle, from SPEC 4b's words: data problems (cohort, email) play no part."""
    return any(
        course_flag and enrolment_flag and (
            status == "Active" or (status == "Completed" and (ended is None or ended < keep_days)))
        for _, status, course_flag, enrolment_flag, ended in enrolments
    )


def provisionable(enrolments: list) -> bool:
    return any(course_flag and enrolment_flag and status == "Active"
               for _, status, course_flag, enrolment_flag, _ in enrolments)


@hypothesis_settings(max_examples=200, deadline=None)
@given(first=first_run, changes=st.lists(one_run, max_size=6), allow_renames=st.booleans(),
       full_resync_at=st.integers(0, 9), days_between=st.sampled_from([0, 1, 7, 20]))
def test_replaying_runs_suspends_only_students_without_access_once_and_never_resends_the_unchanged(
        first, changes, allow_renames, full_resync_at, days_between):
    rules = Settings(allow_renames=allow_renames)
    state: dict[str, ExportedStudent] = {}  # by StudentNumber, the table's primary key
    runs = [first]
    for later in changes:
        runs.append({sid: runs[-1][sid] if today is None else today for sid, today in later.items()})
    for i, run in enumerate(runs):
        run_date = RUN + timedelta(days=days_between * i)
        full_resync = i == full_resync_at
        result = plan_lifecycle(records_of(run, run_date), state.values(), settings=rules, run_date=run_date,
                                full_resync=full_resync)
        before = {row.student_id: row for row in state.values()}
        for change in result.changes:
            prev = before.get(change.student_id)
            if change.kind == SUSPENDED:
                assert not keeps_access(run[change.student_id][0]), "suspended a student who keeps access"
                assert prev is not None, "suspended a student never sent"
                assert not prev.suspended or full_resync, "sent a suspended student twice"
            elif prev is not None and not prev.suspended and not full_resync:
                assert change.user.fingerprint != prev.fingerprint, "sent an unchanged active student"
            if change.kind == NEW:
                assert prev is None, "a second account for a student sent before"
            if change.kind in (NEW, REACTIVATED):
                assert provisionable(run[change.student_id][0]), "the keep-access window gave access"
            if change.user.oldusername:
                assert allow_renames and change.user.oldusername == prev.username
        for sid in STUDENTS:
            if sid in before and keeps_access(run[sid][0]):
                assert sid not in {c.student_id for c in result.suspensions}
        # Record, as record_exported_student.sql does: update the row the student had, else insert.
        for change in result.changes:
            state.pop(change.state_number, None)
            row = change.recorded
            assert row.student_number not in state, "one StudentNumber recorded for two students"
            state[row.student_number] = row
        ids = [row.student_id for row in state.values()]
        assert len(ids) == len(set(ids)), "two state rows (two Moodle accounts) for one student"
        rerun = plan_lifecycle(records_of(run, run_date), state.values(), settings=rules, run_date=run_date)
        assert rerun.changes == [], "the same run again sends again"
        usernames = [row.username for row in state.values()]
        assert len(usernames) == len(set(usernames))
