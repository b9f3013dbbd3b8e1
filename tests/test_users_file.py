"""The Moodle *Upload users* format and the provisioning rules (SPEC section 4), no Airflow."""

from __future__ import annotations

import csv
import io
from datetime import UTC

import pytest
from powerpro_moodle.formats.summary import REJECTED, WARNING
from powerpro_moodle.formats.users_file import (
    EnrolmentRecord,
    ExportedStudent,
    plan_users_export,
    users_csv,
    users_file_name,
)


def enrolment(number="S001", course="BSB50420", cohort="BSB50420-2026", first="Ann", last="Lee", email=None,
              preferred=None, eid=1):
    return EnrolmentRecord(eid, number, first, last, preferred,
                           email if email is not None else f"{number.lower()}@example.edu.au", course, cohort)


def read_csv(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))


def test_one_row_per_student_with_a_cohort_column_per_course():
    plan = plan_users_export(
        [
            enrolment("S001", "BSB50420", "BSB50420-2026", eid=1),
            enrolment("S001", "HLTAID011", "HLTAID011-2026", eid=2),
            enrolment("S002", "BSB50420", "BSB50420-2026", first="Bo", eid=3),
        ],
        {},
    )
    data = users_csv(plan.to_send)
    lines = data.decode("utf-8").split("\r\n")
    assert lines[0] == "username,firstname,lastname,alternatename,email,idnumber,auth,suspended,cohort1,cohort2"
    assert lines[1] == "s001,Ann,Lee,,s001@example.edu.au,S001,manual,0,BSB50420-2026,HLTAID011-2026"
    assert lines[2] == "s002,Bo,Lee,,s002@example.edu.au,S002,manual,0,BSB50420-2026,"
    assert plan.rows_read == 3 and plan.new_students == 2 and plan.anomalies == []


def test_file_is_utf8_without_bom_and_quotes_per_rfc4180():
    plan = plan_users_export(
        [enrolment("S001", first="Zoë", last='Smith, "Jr"', preferred="Nguyễn Thị")], {}
    )
    data = users_csv(plan.to_send)
    assert not data.startswith(b"\xef\xbb\xbf")
    assert 'Zoë,"Smith, ""Jr""",Nguyễn Thị' in data.decode("utf-8")
    assert read_csv(data)[0]["lastname"] == 'Smith, "Jr"'
    assert read_csv(data)[0]["alternatename"] == "Nguyễn Thị"


def test_username_is_lowercase_student_number_and_idnumber_keeps_case():
    plan = plan_users_export([enrolment("AbC123")], {})
    row = read_csv(users_csv(plan.to_send))[0]
    assert (row["username"], row["idnumber"]) == ("abc123", "AbC123")


def test_username_rule_email_and_auth_setting():
    plan = plan_users_export([enrolment("S1", email="Ann.Lee@Example.edu.au")], {}, auth="ldap", username_rule="email")
    row = read_csv(users_csv(plan.to_send))[0]
    assert (row["username"], row["email"], row["auth"]) == ("ann.lee@example.edu.au", "Ann.Lee@Example.edu.au", "ldap")


@pytest.mark.parametrize(
    "cohort, code",
    [
        pytest.param(None, "no_cohort", id="no cohort"),
        pytest.param("  ", "no_cohort", id="blank cohort"),
        pytest.param("42", "numeric_cohort", id="numeric cohort is an internal id to Moodle"),
        pytest.param("=cmd", "unsafe_identifier", id="formula-like cohort"),
    ],
)
def test_course_without_a_usable_cohort_is_reported_and_not_exported(cohort, code):
    plan = plan_users_export([enrolment("S1", "BAD01", cohort), enrolment("S2", "GOOD1", "GOOD1-2026", eid=2),
                              enrolment("S1", "GOOD1", "GOOD1-2026", eid=3)], {})
    assert [(a.record, a.key, a.code) for a in plan.anomalies] == [("course", "BAD01", code)]
    assert "1 enrolment" in plan.anomalies[0].reason
    assert plan.anomalies[0].data == {"enrolments": 1, "students": ["S1"]}
    # S1 still goes, with the good course's cohort only.
    assert {u.student_number: u.cohorts for u in plan.to_send} == {"S1": ("GOOD1-2026",), "S2": ("GOOD1-2026",)}


@pytest.mark.parametrize(
    "email, code",
    [
        pytest.param(None, "no_email", id="no email"),
        pytest.param("   ", "no_email", id="blank email"),
        pytest.param("ann@@example", "bad_email", id="malformed email"),
        pytest.param("ann lee@example.edu.au", "bad_email", id="space in email"),
        pytest.param("-ann@example.edu.au", "unsafe_identifier", id="formula-like email"),
    ],
)
def test_student_without_a_usable_email_is_reported_by_student_number(email, code):
    records = [enrolment("S1"), enrolment("S2", eid=2)]
    records[1] = EnrolmentRecord(2, "S2", "Bo", "Lee", None, email, "BSB50420", "BSB50420-2026")
    plan = plan_users_export(records, {})
    assert [u.student_number for u in plan.to_send] == ["S1"]
    assert [(a.record, a.key, a.code, a.level) for a in plan.anomalies] == [("student", "S2", code, REJECTED)]
    assert plan.rejected == 1


def test_identifier_starting_with_a_formula_character_is_not_exported():
    plan = plan_users_export([enrolment("+61400")], {})
    assert plan.to_send == []
    assert plan.anomalies[0].code == "unsafe_identifier" and plan.anomalies[0].key == "+61400"


@pytest.mark.parametrize("prefix", ["=", "+", "-", "@", "\t", "\r"])
def test_formula_names_are_neutralised_with_a_quote_and_warned(prefix):
    plan = plan_users_export([enrolment("S1", first=f"{prefix}SUM(A1)")], {})
    row = read_csv(users_csv(plan.to_send))[0]
    assert row["firstname"] == f"'{prefix}SUM(A1)"
    assert [(a.key, a.code, a.level) for a in plan.anomalies] == [("S1", "formula_neutralised", WARNING)]
    assert plan.rejected == 0


def test_usernames_that_collide_in_one_run_are_all_refused():
    plan = plan_users_export([enrolment("S1"), enrolment("s1", eid=2), enrolment("S2", eid=3)], {})
    assert [u.student_number for u in plan.to_send] == ["S2"]
    clashes = {a.key: a.reason for a in plan.anomalies if a.code == "username_clash"}
    assert set(clashes) == {"S1", "s1"}
    assert "shared with StudentNumber s1" in clashes["S1"]


def test_username_already_exported_for_another_student_is_refused_and_the_owner_kept():
    exported = {"S1": ExportedStudent("S1", "s1", "x")}
    plan = plan_users_export([enrolment("S1"), enrolment("s1", eid=2)], exported)
    assert [u.student_number for u in plan.to_send] == ["S1"]
    assert [(a.key, a.code) for a in plan.anomalies] == [("s1", "username_clash")]
    assert "already belongs to StudentNumber S1" in plan.anomalies[0].reason


def test_delta_sends_new_and_changed_students_only():
    first = plan_users_export([enrolment("S1"), enrolment("S2", eid=2)], {})
    exported = {u.student_number: ExportedStudent(u.student_number, u.username, u.fingerprint) for u in first.to_send}
    again = plan_users_export([enrolment("S1"), enrolment("S2", eid=2, last="Changed")], exported)
    assert [u.student_number for u in again.to_send] == ["S2"]
    assert [u.student_number for u in again.unchanged] == ["S1"]
    assert again.new_students == 0
    full = plan_users_export([enrolment("S1"), enrolment("S2", eid=2)], exported, full_resync=True)
    assert [u.student_number for u in full.to_send] == ["S1", "S2"]


def test_cohort_order_does_not_count_as_a_change():
    a = plan_users_export([enrolment("S1", "A", "A-1", eid=1), enrolment("S1", "B", "B-1", eid=2)], {})
    b = plan_users_export([enrolment("S1", "B", "B-1", eid=2), enrolment("S1", "A", "A-1", eid=1)], {})
    assert a.to_send[0].fingerprint == b.to_send[0].fingerprint


def test_a_student_suspended_before_is_sent_again():
    first = plan_users_export([enrolment("S1")], {})
    u = first.to_send[0]
    again = plan_users_export([enrolment("S1")], {"S1": ExportedStudent("S1", u.username, u.fingerprint, suspended=True)})
    assert [x.suspended for x in again.to_send] == [0]


def test_file_name_is_the_runs_utc_time():
    from datetime import datetime

    assert users_file_name(datetime(2026, 3, 31, 14, 30, 5, tzinfo=UTC)) == "powerpro_users_20260331T143005Z.csv"


def test_a_clash_shared_by_many_names_a_few_and_counts_the_rest():
    records = [enrolment(f"S{i}", email="noemail@example.edu.au", eid=i) for i in range(1, 101)]
    plan = plan_users_export(records, {}, username_rule="email")
    assert plan.to_send == [] and len(plan.anomalies) == 100
    reason = next(a.reason for a in plan.anomalies if a.key == "S1")
    assert reason == ("username 'noemail@example.edu.au' would be shared with StudentNumber "
                      "S10, S100, S11, S12, S13 and 94 others")
