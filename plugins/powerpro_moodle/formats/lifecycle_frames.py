"""The student lifecycle of :mod:`lifecycle`, decided over columns for the plain cases (issue 10).

Most students in a provisioning run are plain: never sent and exportable as they are (sent new),
or sent before, active, and unchanged (nothing to do), or suspended before and still without
access. :func:`split_students` decides those over whole columns, computing each student's
fingerprint set-wise and comparing it with the state in one join. Every other student (a
change, a suspension, a reactivation, a rename, a data problem, the keep-access window, anything
sharing a username or a StudentNumber with another student or state row) is left to
:func:`lifecycle.plan_lifecycle`, one by one, with *all* of their enrolments and state rows.
:meth:`Split.finish` puts the two together into the plan :func:`lifecycle.plan_lifecycle` would
have made of everyone (a property test compares them on generated runs).

A student is decided set-wise only when nothing about them depends on anyone decided one by one:
each username and each StudentNumber (compared as :func:`ids.id_key` compares) that a plain
student has today or in the state belongs to no other student or state row.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import pandas as pd

from powerpro_moodle.formats.completion_chunks import object_frame
from powerpro_moodle.formats.ids import id_key
from powerpro_moodle.formats.lifecycle import LifecyclePlan
from powerpro_moodle.formats.settings import Settings
from powerpro_moodle.formats.text_safety import FORMULA_PREFIXES
from powerpro_moodle.formats.users_file import _EMAIL, _NUMERIC, EnrolmentRecord, ExportedStudent, fingerprints

#: The columns of an enrolment frame (``select_export_enrolments.sql``): EnrolmentRecord's fields.
ENROLMENT_COLUMNS = tuple(f.name for f in fields(EnrolmentRecord))
#: The columns of a state frame (``select_export_state_keys.sql``): what the plain cases need.
STATE_KEY_COLUMNS = ("student_number", "student_id", "username", "fingerprint", "suspended")
#: The columns of :attr:`Split.new_users`, one row per student sent new (sorted by username).
NEW_USER_COLUMNS = ("student_id", "student_number", "username", "firstname", "lastname", "alternatename", "email",
                    "auth", "cohorts", "fingerprint")
# Joins one student's cohorts into one key; a cohort holding it is decided one by one.
_SEP = "\x1f"


@dataclass
class Split:
    """The students decided over columns, and the rest, still to be decided one by one.

    :param slow_enrolments: every enrolment row of the students left to decide one by one.
    :param slow_state_numbers: the StudentNumber of each state row that belongs to them (to read
        in full: ``select_export_state.sql``).
    :param new_users: the students sent new, one row each (:data:`NEW_USER_COLUMNS`).
    :param unchanged: active students sent before whose row today is the one last sent.
    :param still_suspended: students suspended before, still without access.
    :param rows_read: provisionable enrolments of the students decided here.
    :param active_before: state rows not suspended of the students decided here.
    :param decided: students decided here (sent new, unchanged, still suspended, or nothing to do).
    """

    slow_enrolments: pd.DataFrame
    slow_state_numbers: list[str]
    new_users: pd.DataFrame
    unchanged: int
    still_suspended: int
    rows_read: int
    active_before: int
    decided: int = 0

    def slow_records(self) -> list[EnrolmentRecord]:
        """The slow students' enrolments, in the order the query gave them."""
        frame = self.slow_enrolments
        columns = [frame[c].tolist() for c in ENROLMENT_COLUMNS]
        return [EnrolmentRecord(*values) for values in zip(*columns, strict=True)]

    def finish(self, slow: LifecyclePlan) -> LifecyclePlan:
        """The whole run's plan: ``slow`` (:func:`lifecycle.plan_lifecycle` of the slow students)
        with the students decided here added."""
        slow.rows_read += self.rows_read
        slow.active_before += self.active_before
        slow.still_suspended += self.still_suspended
        slow.bulk_unchanged = self.unchanged
        slow.bulk_new = self.new_users if len(self.new_users) else None
        return slow


def _missing(arr: np.ndarray) -> np.ndarray:
    """Which values are NULL (None, as the database drivers give them)."""
    return np.equal(arr, None) if len(arr) else np.zeros(0, dtype=bool)


def _text(values: Any) -> np.ndarray:
    """A column as an object array of str (NULL as "")."""
    arr = np.array(values, dtype=object)
    missing = _missing(arr)
    if missing.any():
        arr[missing] = ""
    if len(arr) and pd.api.types.infer_dtype(arr, skipna=False) != "string":
        arr = np.array([v if type(v) is str else str(v) for v in arr], dtype=object)
    return arr


def _by_value(values: np.ndarray, test: Callable[[Any], Any], dtype: Any = bool) -> np.ndarray:
    """``test`` of each value, worked out once per distinct value (statuses, flags, cohorts)."""
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    return np.array([test(v) for v in uniques], dtype=dtype)[codes] if len(values) else np.zeros(0, dtype=dtype)


def _truthy(values: Any) -> np.ndarray:
    """Flags as Python's truth reads them (NULL and NaN: false)."""
    return _by_value(np.array(values, dtype=object), lambda v: v is not None and v == v and bool(v))


def _keys(arr: np.ndarray) -> np.ndarray:
    """Identifiers as :func:`ids.id_key` compares them."""
    return np.array([id_key(v) for v in arr], dtype=object)


#: A value that starts like a formula, found in many values joined by newlines at once.
_FORMULA_START = re.compile("\n[" + re.escape("".join(FORMULA_PREFIXES)) + "]")


def _formula(*arrays: np.ndarray) -> np.ndarray:
    """Which rows have a value in any of ``arrays`` that starts like a formula."""
    out = np.zeros(len(arrays[0]), dtype=bool)
    for arr in arrays:
        if _FORMULA_START.search("\n" + "\n".join(arr)):  # rare: then value by value
            out |= np.array([v.startswith(FORMULA_PREFIXES) for v in arr], dtype=bool)
    return out


def _shared(keys: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The distinct keys (ints) holding a value that another key holds too."""
    if not len(keys):
        return keys
    value_codes, _ = pd.factorize(values, use_na_sentinel=False)
    key_codes, key_uniques = pd.factorize(keys)
    width = len(key_uniques)
    pairs = np.unique(value_codes.astype(np.int64) * width + key_codes)
    holders = np.bincount(pairs // width)
    return key_uniques[(pairs % width)[holders[pairs // width] > 1]]


def split_students(
    enrolments: pd.DataFrame, state: pd.DataFrame, *, settings: Settings, full_resync: bool = False
) -> Split:
    """Decide the plain students over columns (see the module's text); leave the rest.

    :param enrolments: :data:`ENROLMENT_COLUMNS`, every row ``select_export_enrolments.sql`` gives.
    :param state: :data:`STATE_KEY_COLUMNS`, one row per ``MoodleSyncExportState`` row.
    """
    e = enrolments.reset_index(drop=True)
    n = len(e)
    ids = e["student_id"].to_numpy(dtype=object)
    s_ids = state["student_id"].to_numpy(dtype=object)
    s_numbers = _text(state["student_number"])
    split_of = Split(e.iloc[:0], [], object_frame({c: np.zeros(0, dtype=object) for c in NEW_USER_COLUMNS}), 0, 0, 0, 0)
    if _missing(ids).any():  # a student known only by StudentNumber: everyone one by one
        split_of.slow_enrolments = e
        split_of.slow_state_numbers = s_numbers.tolist()
        return split_of
    ids = ids.astype(np.int64)

    # Each enrolment: provisionable, or in a keep-access status (the window: one by one).
    provisioned = {s.strip().upper() for s in settings.provisioned_statuses}
    keep = {s.strip().upper() for s in settings.keep_access_statuses}
    status = _text(e["status"])
    flags = _truthy(e["course_flag"]) & _truthy(e["enrolment_flag"])
    prov = flags & _by_value(status, lambda v: v.strip().upper() in provisioned)
    window = flags & ~prov & _by_value(status, lambda v: v.strip().upper() in keep)
    cohort = _by_value(_text(e["moodle_cohort"]), str.strip, object)
    bad_cohort = prov & _by_value(
        cohort, lambda c: not c or _NUMERIC.match(c) is not None or c.startswith(FORMULA_PREFIXES) or _SEP in c)
    numbers = _text(e["student_number"])
    email = np.array([v.strip() for v in _text(e["email"])], dtype=object)
    keeps_row = prov | window
    username = np.empty(n, dtype=object)
    source = email if settings.username_rule == "email" else numbers
    username[keeps_row] = [v.strip().lower() for v in source[keeps_row]]

    # The state rows; orphans (release 0.1 rows without a StudentID) are decided one by one.
    orphan = _missing(s_ids)
    s_suspended = _truthy(state["suspended"])
    s_username = _text(state["username"])
    state_ids = s_ids[~orphan].astype(np.int64)

    # One code per student, enrolled or in the state.
    student, students = pd.factorize(np.concatenate([ids, state_ids]))
    count = len(students)
    of_row, of_state = student[:n], student[n:]

    def any_of(mask: np.ndarray, where: np.ndarray = of_row) -> np.ndarray:
        out = np.zeros(count, dtype=bool)
        out[where[mask]] = True
        return out

    has_prov, has_window, has_bad = any_of(prov), any_of(window), any_of(bad_cohort)
    has_state = any_of(np.ones(len(state_ids), dtype=bool), of_state)
    twice = np.bincount(of_state, minlength=count) > 1
    suspended = np.zeros(count, dtype=bool)
    suspended[of_state] = s_suspended[~orphan]
    last_username = np.empty(count, dtype=object)
    last_username[of_state] = s_username[~orphan]
    last_fingerprint = np.empty(count, dtype=object)
    last_fingerprint[of_state] = [v.strip() for v in _text(state["fingerprint"])[~orphan]]

    # A username or StudentNumber held by more than one student or state row: all of them one
    # by one (orphans take negative keys).
    orphan_keys = -1 - np.arange(int(orphan.sum()), dtype=np.int64)
    shared = np.concatenate([
        _shared(np.concatenate([ids[keeps_row], state_ids, orphan_keys]),
                np.concatenate([username[keeps_row], s_username[~orphan], s_username[orphan]])),
        _shared(np.concatenate([ids, state_ids, orphan_keys]),
                np.concatenate([_keys(numbers), _keys(s_numbers[~orphan]), _keys(s_numbers[orphan])])),
    ])
    is_shared = np.isin(students, shared) | twice

    # The row each student with a provisionable enrolment would get today: their first one's.
    prov_rows = np.flatnonzero(prov)
    firsts = prov_rows[np.unique(of_row[prov_rows], return_index=True)[1]]
    first, last, alternate = (_text(e[c].to_numpy(dtype=object)[firsts])
                              for c in ("first_name", "last_name", "preferred_name"))
    problem = (
        (np.array([v.strip() for v in first], dtype=object) == "")
        | (np.array([v.strip() for v in last], dtype=object) == "")
        | np.array([_EMAIL.match(v) is None for v in email[firsts]], dtype=bool)
        | (username[firsts] == "")
        # (a formula-like name would be neutralised, with a warning)
        | _formula(username[firsts], numbers[firsts], email[firsts], first, last, alternate)
    )
    has_problem = any_of(problem, of_row[firsts])

    no_access = ~has_prov & ~has_window
    plain = ~has_window & ~is_shared & ~(has_state & full_resync)
    nothing = plain & no_access & ~has_state
    still = plain & no_access & has_state & suspended
    candidate = plain & has_prov & ~has_bad & ~has_problem & ~(has_state & suspended)

    # The candidates' cohorts: each student's distinct cohorts, sorted.
    take = candidate[of_row[firsts]]
    firsts, first, last, alternate = firsts[take], first[take], last[take], alternate[take]
    rows = prov_rows[candidate[of_row[prov_rows]]]
    cohort_code, cohort_names = pd.factorize(cohort[rows], sort=True)
    width = max(len(cohort_names), 1)
    pairs = np.unique(of_row[rows].astype(np.int64) * width + cohort_code)
    owner, names = pairs // width, np.asarray(cohort_names, dtype=object)[pairs % width]
    starts = np.searchsorted(owner, of_row[firsts])
    ends = np.searchsorted(owner, of_row[firsts], side="right")
    singles = {name: (name,) for name in cohort_names}
    names = names.tolist()
    cohorts = pd.Series([singles[names[a]] if b - a == 1 else tuple(names[a:b])
                         for a, b in zip(starts.tolist(), ends.tolist(), strict=True)], dtype=object)

    users = object_frame({
        "student_id": ids[firsts],
        "student_number": numbers[firsts],
        "username": username[firsts],
        "firstname": first,
        "lastname": last,
        "alternatename": alternate,
        "email": email[firsts],
        "auth": np.full(len(firsts), settings.moodle_auth, dtype=object),
        "cohorts": cohorts.to_numpy(),
    })
    users["fingerprint"] = fingerprints(users)
    code = of_row[firsts]
    new = ~has_state[code]
    same = ~new & (last_username[code] == username[firsts]) & (last_fingerprint[code] == users["fingerprint"].to_numpy())

    decided = nothing | still
    decided[code[new | same]] = True
    slow_rows = ~decided[of_row]
    slow_state = orphan.copy()
    slow_state[~orphan] = ~decided[of_state]

    split_of.slow_enrolments = e[slow_rows]
    split_of.slow_state_numbers = s_numbers[slow_state].tolist()
    split_of.rows_read = int(prov[~slow_rows].sum())
    split_of.active_before = int((~s_suspended & ~slow_state).sum())
    split_of.new_users = users[new].sort_values("username", kind="stable").reset_index(drop=True)
    split_of.unchanged = int(same.sum())
    split_of.still_suspended = int(still.sum())
    split_of.decided = int(decided.sum())
    return split_of


def state_rows(records: Iterable[dict[str, Any]]) -> list[ExportedStudent]:
    """``select_export_state.sql``'s rows as :class:`ExportedStudent`."""
    out = []
    for row in records:
        cohorts = row["cohorts"]
        out.append(ExportedStudent(
            student_number=row["student_number"],
            username=row["username"],
            fingerprint=row["fingerprint"].strip(),
            suspended=bool(row["suspended"]),
            student_id=row["student_id"],
            firstname=row["firstname"],
            lastname=row["lastname"],
            alternatename=row["alternatename"],
            email=row["email"],
            auth=row["auth"],
            cohorts=tuple(c for c in cohorts.split(",") if c) if cohorts is not None else None,
        ))
    return out


