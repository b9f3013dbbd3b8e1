"""The plain students decided over columns (formats/lifecycle_frames.py) give exactly the plan
that deciding every student one by one (formats/lifecycle.py) gives: the same file, the same
state, the same counts, anomalies, Details and message, on generated runs replayed one after
another."""

from __future__ import annotations

from dataclasses import astuple, replace
from datetime import date, timedelta

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from powerpro_moodle.formats.lifecycle import NEW, Change, LifecyclePlan, check_hold, describe_export, plan_lifecycle
from powerpro_moodle.formats.lifecycle_frames import ENROLMENT_COLUMNS, STATE_KEY_COLUMNS, split_students
from powerpro_moodle.formats.settings import Settings
from powerpro_moodle.formats.users_file import EnrolmentRecord, ExportedStudent, MoodleUser, users_csv

RUN = date(2026, 11, 30)
#: Course code -> Moodle cohort: usable ones, and each kind of problem.
COURSES = {"A": "A-2026", "B": " B-2026 ", "C": "42", "D": None, "E": "=cmd", "F": "A-2026"}
STATUSES = ["Active", "Active", "active ", "Completed", "Completed", "Withdrawn", None]


def frame_of(records: list[EnrolmentRecord]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([getattr(r, c) for r in records], dtype=object) for c in ENROLMENT_COLUMNS})


def state_frame(state: list[ExportedStudent]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([getattr(r, c) for r in state], dtype=object) for c in STATE_KEY_COLUMNS})


def split_plan(records, state, settings, full_resync=False) -> LifecyclePlan:
    split = split_students(frame_of(records), state_frame(state), settings=settings, full_resync=full_resync)
    numbers = set(split.slow_state_numbers)
    slow = plan_lifecycle(split.slow_records(), [r for r in state if r.student_number in numbers],
                          settings=settings, run_date=RUN, full_resync=full_resync)
    return split.finish(slow)


def every_change(plan: LifecyclePlan) -> list[Change]:
    out = list(plan.changes)
    if plan.bulk_new is not None:
        for row in plan.bulk_new.to_dict("records"):
            user = MoodleUser(row["student_number"], row["username"], row["firstname"], row["lastname"],
                              row["alternatename"], row["email"], row["auth"], 0, row["cohorts"])
            assert user.fingerprint == row["fingerprint"]
            out.append(Change(NEW, user, int(row["student_id"]), row["student_number"]))
    return sorted(out, key=lambda c: c.user.username)


def same_plans(exact: LifecyclePlan, fast: LifecyclePlan, settings: Settings) -> None:
    assert [astuple(c) for c in every_change(fast)] == [astuple(c) for c in exact.changes]
    assert [astuple(a) for a in fast.anomalies] == [astuple(a) for a in exact.anomalies]
    assert (fast.rows_read, fast.still_suspended, fast.active_before, fast.unchanged_total, fast.sent_total) == (
        exact.rows_read, exact.still_suspended, exact.active_before, len(exact.unchanged), len(exact.changes))
    assert fast.counts() == exact.counts()
    assert fast.details(limit=3) == exact.details(limit=3)
    assert fast.details() == exact.details()
    assert fast.sent_numbers(2) == [c.user.student_number for c in exact.changes][:2]
    hold = check_hold(exact, settings)
    assert describe_export(fast, "f.csv", False, check_hold(fast, settings)) == describe_export(exact, "f.csv", False, hold)
    assert users_csv(fast.to_send, bulk=fast.bulk_new) == users_csv(exact.to_send)


def record(state: list[ExportedStudent], plan: LifecyclePlan) -> list[ExportedStudent]:
    """The state after the file is uploaded, as the operator records it (delete, then insert)."""
    gone = {c.state_number for c in plan.changes}
    return [r for r in state if r.student_number not in gone] + [c.recorded for c in plan.changes]


student = st.fixed_dictionaries({
    "number": st.sampled_from(["S{sid}", "S{sid}", "S{sid}", "s1", "S1 ", "=S{sid}"]),
    "first": st.sampled_from(["Ann", "Ann", "Zoë", "", "+Ann"]),
    "last": st.sampled_from(["Lee", "Lee", "Li", "-Li", "Lee \"Jr\""]),
    "preferred": st.sampled_from([None, None, "Bec", "@Bec"]),
    "email": st.sampled_from(["{n}@example.edu.au", "{n}@example.edu.au", "shared@example.edu.au", None, "bad",
                              " {n}@Example.edu.au "]),
    "enrolments": st.lists(st.tuples(
        st.sampled_from(sorted(COURSES)), st.sampled_from(STATUSES), st.sampled_from([1, 1, 1, 0, None]),
        st.sampled_from([True, True, False]), st.sampled_from([None, -3, 5, 29, 30, 45])), max_size=3),
})
run_of = st.dictionaries(st.integers(1, 7), student, max_size=7)


def records_of(run: dict) -> list[EnrolmentRecord]:
    out = []
    for sid, s in sorted(run.items()):
        number = s["number"].format(sid=sid)
        email = s["email"].format(n=number.strip().lower()) if s["email"] else None
        for k, (course, status, course_flag, enrolment_flag, ended) in enumerate(s["enrolments"]):
            out.append(EnrolmentRecord(
                sid * 10 + k, number, s["first"], s["last"], s["preferred"], email, course, COURSES[course], sid,
                status, None if ended is None else (RUN - timedelta(days=ended)).isoformat(), course_flag,
                enrolment_flag))
    return out


def mangle(state: list[ExportedStudent], how: int) -> list[ExportedStudent]:
    """What an upgrade from release 0.1 or a hand edit leaves: an orphan row, unknown identity."""
    if not state:
        return state
    row = state[how % len(state)]
    if how % 3 == 0:
        row = replace(row, student_id=None)
    elif how % 3 == 1:
        row = replace(row, firstname=None, email=None, cohorts=None)
    else:
        row = replace(row, suspended=not row.suspended)
    return [row if r is state[how % len(state)] else r for r in state]


@hypothesis_settings(max_examples=200, deadline=None)
@given(runs=st.lists(run_of, min_size=1, max_size=4), rule=st.sampled_from(["student_number", "email"]),
       allow_renames=st.booleans(), resync_at=st.integers(0, 6), mangle_at=st.integers(0, 6),
       how=st.integers(0, 20))
def test_deciding_plain_students_over_columns_gives_the_same_plan(runs, rule, allow_renames, resync_at, mangle_at,
                                                                   how):
    settings = Settings(username_rule=rule, allow_renames=allow_renames)
    state: list[ExportedStudent] = []
    for i, run in enumerate(runs):
        if i == mangle_at:
            state = mangle(state, how)
        records = records_of(run)
        exact = plan_lifecycle(records, state, settings=settings, run_date=RUN, full_resync=i == resync_at)
        fast = split_plan(records, state, settings, full_resync=i == resync_at)
        same_plans(exact, fast, settings)
        state = record(state, exact)
        again = split_plan(records, state, settings)
        same_plans(plan_lifecycle(records, state, settings=settings, run_date=RUN), again, settings)


def rec(sid, course="A", status="Active", ended=None, number=None, email=None, **kw):
    number = number or f"S{sid}"
    return EnrolmentRecord(sid * 10 + ord(course) - 64, number, kw.get("first", "Ann"), "Lee", None,
                           email or f"{number.lower()}@example.edu.au", course, COURSES[course], sid, status,
                           None if ended is None else (RUN - timedelta(days=ended)).isoformat(),
                           kw.get("course_flag", 1), kw.get("enrolment_flag", True))


#: Cases the generated runs reach only now and then, each as (first run, later run, settings).
CASES = {
    "a completion inside the window adds its cohort": ([rec(1), rec(1, "B", "Completed", 3)], None, {}),
    "a completion past the window adds nothing": ([rec(1), rec(1, "B", "Completed", 45)], None, {}),
    "a completion keeps access, then passes the window": (
        [rec(1), rec(1, "B", "Completed", 3)], [rec(1, "A", "Withdrawn"), rec(1, "B", "Completed", 45)], {}),
    "a course without a cohort leaves the other": ([rec(1), rec(1, "D"), rec(2, "D")], None, {}),
    "one email for two students": ([rec(1, email="x@example.edu.au"), rec(2, email="x@example.edu.au"), rec(3)],
                                   None, {"username_rule": "email"}),
    "a StudentNumber corrected": ([rec(1), rec(2)], [rec(1, number="S1X"), rec(2)], {"allow_renames": True}),
    "a StudentNumber taken by another student": ([rec(1), rec(2)], [rec(2, number="S1"), rec(3)], {}),
    "withdrawn, then back": ([rec(1), rec(2)], [rec(1, status="Withdrawn"), rec(2)], {}),
    "a name changed": ([rec(1), rec(2)], [rec(1, first="Anne"), rec(2)], {}),
    "a formula in a name": ([rec(1, first="=SUM(A1)"), rec(2)], None, {}),
    "an enrolment flag cleared": ([rec(1), rec(2)], [rec(1, enrolment_flag=False), rec(2)], {}),
}


@pytest.mark.parametrize("first,later,values", CASES.values(), ids=CASES.keys())
def test_each_case_gives_the_same_plan_both_ways(first, later, values):
    settings = Settings(**values)
    state: list[ExportedStudent] = []
    for records in (first, later or first, first):
        for full_resync in (False, True):
            exact = plan_lifecycle(records, state, settings=settings, run_date=RUN, full_resync=full_resync)
            same_plans(exact, split_plan(records, state, settings, full_resync), settings)
        state = record(state, plan_lifecycle(records, state, settings=settings, run_date=RUN))
        same_plans(plan_lifecycle(records, state, settings=settings, run_date=RUN),
                   split_plan(records, state, settings), settings)


def test_a_plain_rerun_is_decided_entirely_over_columns():
    """The common case takes the fast road: nobody is left to decide one by one."""
    settings = Settings()
    records = [EnrolmentRecord(k, f"S{k}", "Ann", "Lee", None, f"s{k}@example.edu.au", "A", "A-2026", k)
               for k in range(1, 51)]
    records.append(EnrolmentRecord(99, "S7", "Ann", "Lee", None, "s7@example.edu.au", "B", "B-2026", 7,
                                   "Withdrawn"))
    first = split_students(frame_of(records), state_frame([]), settings=settings)
    assert len(first.new_users) == 50 and first.slow_enrolments.empty and first.rows_read == 50
    state = [ExportedStudent.from_user(MoodleUser(r["student_number"], r["username"], r["firstname"], r["lastname"],
                                                  r["alternatename"], r["email"], r["auth"], 0, r["cohorts"]),
                                       int(r["student_id"])) for r in first.new_users.to_dict("records")]
    rerun = split_students(frame_of(records), state_frame(state), settings=settings)
    assert (len(rerun.new_users), rerun.unchanged, rerun.slow_enrolments.empty, rerun.slow_state_numbers) == (
        0, 50, True, [])


@pytest.mark.parametrize("change", ["email", "withdrawn", "shared_email"])
def test_only_the_students_with_something_to_decide_are_decided_one_by_one(change):
    settings = Settings(username_rule="email")
    records = [EnrolmentRecord(k, f"S{k}", "Ann", "Lee", None, f"s{k}@example.edu.au", "A", "A-2026", k)
               for k in range(1, 11)]
    first = split_plan(records, [], settings)
    state = record([], replace(first, changes=every_change(first), bulk_new=None))
    if change == "email":
        records[2] = replace(records[2], email="new3@example.edu.au")
    elif change == "withdrawn":
        records[2] = replace(records[2], status="Withdrawn")
    else:
        records[2] = replace(records[2], email="s4@example.edu.au")
    split = split_students(frame_of(records), state_frame(state), settings=settings)
    slow = sorted(set(split.slow_enrolments["student_id"]))
    assert slow == ([3, 4] if change == "shared_email" else [3])
    assert split.unchanged == 10 - len(slow)


def test_two_students_with_one_student_number_are_neither_sent():
    """PowerPro lets two students share a StudentNumber; Moodle and the state need one each."""
    settings = Settings(username_rule="email")
    records = [EnrolmentRecord(1, "S1", "Ann", "Lee", None, "a@example.edu.au", "A", "A-2026", 1),
               EnrolmentRecord(2, "s1 ", "Bo", "Li", None, "b@example.edu.au", "A", "A-2026", 2),
               EnrolmentRecord(3, "S3", "Cy", "Ng", None, "c@example.edu.au", "A", "A-2026", 3)]
    plan = split_plan(records, [], settings)
    assert [c.user.student_number for c in every_change(plan)] == ["S3"]
    assert [(a.key, a.code) for a in plan.anomalies] == [("S1", "student_number_shared"),
                                                        ("s1 ", "student_number_shared")]
    assert "2 students (2 StudentNumber shared by two students)" in describe_export(plan, "f.csv", False)
