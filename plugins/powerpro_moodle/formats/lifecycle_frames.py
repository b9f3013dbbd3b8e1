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

from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import pandas as pd

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
    """

    slow_enrolments: pd.DataFrame
    slow_state_numbers: list[str]
    new_users: pd.DataFrame
    unchanged: int
    still_suspended: int
    rows_read: int
    active_before: int

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


def _text(values: Any) -> np.ndarray:
    """A column as an object array of str (None and NaN as "")."""
    arr = np.asarray(values, dtype=object)
    if len(arr) and not all(type(v) is str for v in arr):
        arr = np.array(["" if v is None or v != v else str(v) for v in arr], dtype=object)
    return arr


def _strip(arr: np.ndarray) -> np.ndarray:
    return np.array([v.strip() for v in arr], dtype=object)


def _each(test: Callable[[Any], bool], values: Any) -> np.ndarray:
    """``test`` of each value, as a boolean array."""
    values = list(values)
    return np.fromiter((test(v) for v in values), dtype=bool, count=len(values))


def _truthy(values: Any) -> np.ndarray:
    return _each(lambda v: bool(v) and v == v, values)


def _formula(arr: np.ndarray) -> np.ndarray:
    return _each(lambda v: v.startswith(FORMULA_PREFIXES), arr)


def _conflicted(keys: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The keys some value of which is shared with another key."""
    pairs = pd.DataFrame({"k": keys, "v": values}).drop_duplicates()
    shared = pairs["v"].duplicated(keep=False).to_numpy()
    return pairs["k"].to_numpy()[shared]


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
    numbers = _text(e["student_number"])
    status = np.array([s.upper() for s in _strip(_text(e["status"]))], dtype=object)
    flags = _truthy(e["course_flag"]) & _truthy(e["enrolment_flag"])
    provisioned = {s.strip().upper() for s in settings.provisioned_statuses}
    keep = {s.strip().upper() for s in settings.keep_access_statuses}
    prov = flags & np.isin(status, list(provisioned))
    window = flags & ~prov & np.isin(status, list(keep))

    s_numbers = _text(state["student_number"])
    s_ids = state["student_id"].to_numpy(dtype=object)
    s_suspended = _truthy(state["suspended"])
    orphan = _each(lambda v: v is None or v != v, s_ids)

    split_of = Split(e.iloc[:0], [], pd.DataFrame(columns=list(NEW_USER_COLUMNS)), 0, 0, 0, 0)
    if n and any(v is None or v != v for v in ids):  # a student known only by number: decide all one by one
        split_of.slow_enrolments = e
        split_of.slow_state_numbers = s_numbers.tolist()
        return split_of
    ids = ids.astype(np.int64) if n else np.zeros(0, dtype=np.int64)

    # The row each student would get today, from their first provisionable enrolment.
    raw_cohort = _text(e["moodle_cohort"])
    cohort = _strip(raw_cohort)
    bad_cohort = prov & _each(
        lambda c: not c or bool(_NUMERIC.match(c)) or c.startswith(FORMULA_PREFIXES) or _SEP in c, cohort)
    email_raw = _text(e["email"])
    email = _strip(email_raw)
    source = email if settings.username_rule == "email" else numbers
    username = np.array([v.strip().lower() for v in source], dtype=object)
    first = _text(e["first_name"])
    last = _text(e["last_name"])
    alternate = _text(e["preferred_name"])
    problem = (
        _each(lambda v: not v.strip(), first) | _each(lambda v: not v.strip(), last)
        | _each(lambda v: not v or _EMAIL.match(v) is None, email)
        | (username == "")
        | _formula(username) | _formula(numbers) | _formula(email)
        | _formula(first) | _formula(last) | _formula(alternate)  # would be neutralised: a warning
    )

    students = pd.DataFrame({"sid": ids, "prov": prov, "window": window, "bad": prov & (bad_cohort | problem)})
    per = students.groupby("sid", sort=False).agg(prov=("prov", "any"), window=("window", "any"), bad=("bad", "any"))

    # The state, by StudentID (orphans: release 0.1 rows with none, always decided one by one).
    state_ids = s_ids[~orphan].astype(np.int64) if (~orphan).any() else np.zeros(0, dtype=np.int64)
    by_id = pd.DataFrame({
        "sid": state_ids,
        "s_username": _text(state["username"])[~orphan],
        "s_fingerprint": _strip(_text(state["fingerprint"]))[~orphan],
        "suspended": s_suspended[~orphan],
    })
    twice = by_id["sid"].duplicated(keep=False).to_numpy()

    # Shared usernames and StudentNumbers: every student and state row involved is slow.
    orphan_keys = np.array([f"orphan:{k}" for k in range(int(orphan.sum()))], dtype=object)
    keeps_row = prov | window
    name_keys = np.concatenate([ids[keeps_row].astype(object), state_ids.astype(object), orphan_keys])
    name_values = np.concatenate([username[keeps_row], _text(state["username"])[~orphan],
                                  _text(state["username"])[orphan]])
    id_keys = np.concatenate([ids.astype(object), state_ids.astype(object), orphan_keys])
    id_values = np.concatenate([np.array([v.strip().upper() for v in numbers], dtype=object),
                                np.array([v.strip().upper() for v in s_numbers], dtype=object)[~orphan],
                                np.array([v.strip().upper() for v in s_numbers], dtype=object)[orphan]])
    shared = set(_conflicted(name_keys, name_values).tolist()) | set(_conflicted(id_keys, id_values).tolist())
    shared |= set(state_ids[twice].tolist())

    everyone = per.join(by_id.drop_duplicates("sid", keep="last").set_index("sid"), how="outer")
    has_prov, has_window, has_bad = (_truthy(everyone[c]) for c in ("prov", "window", "bad"))
    has_state = everyone["s_username"].notna().to_numpy()
    suspended = _truthy(everyone["suspended"])
    sid_all = everyone.index.to_numpy()
    is_shared = np.isin(sid_all, np.array(sorted(k for k in shared if isinstance(k, (int, np.integer))),
                                           dtype=np.int64))
    no_access = ~has_prov & ~has_window
    plain = ~has_window & ~is_shared & ~(has_state & full_resync)

    nothing = plain & no_access & ~has_state
    still = plain & no_access & has_state & suspended
    candidate = plain & has_prov & ~has_bad & ~(has_state & suspended)

    # Today's rows of the candidates: the first provisionable enrolment, and every cohort.
    cand_ids = sid_all[candidate]
    in_cand = prov & np.isin(ids, cand_ids)
    firsts = np.flatnonzero(in_cand)
    firsts = firsts[~pd.Series(ids[firsts]).duplicated().to_numpy()]
    order = pd.DataFrame({"sid": ids[in_cand], "c": cohort[in_cand]}).drop_duplicates().sort_values(
        ["sid", "c"], kind="stable")
    joined: dict[int, str] = {}
    for sid, c in zip(order["sid"].tolist(), order["c"].tolist(), strict=True):
        joined[sid] = joined[sid] + _SEP + c if sid in joined else c
    cohort_key = pd.Series([joined[s] for s in ids[firsts]], dtype=object)
    tuples = {k: tuple(k.split(_SEP)) for k in set(cohort_key)}
    users = pd.DataFrame({
        "student_id": ids[firsts],
        "student_number": numbers[firsts],
        "username": username[firsts],
        "firstname": first[firsts],
        "lastname": last[firsts],
        "alternatename": alternate[firsts],
        "email": email[firsts],
        "auth": settings.moodle_auth,
        "cohorts": cohort_key.map(tuples).to_numpy(dtype=object),
    })
    users["fingerprint"] = fingerprints(users)
    users = users.join(everyone[["s_username", "s_fingerprint"]], on="student_id")
    new = users["s_username"].isna().to_numpy()
    same = (~new & (users["s_username"].to_numpy() == users["username"].to_numpy())
            & (users["s_fingerprint"].to_numpy() == users["fingerprint"].to_numpy()))
    decided = set(sid_all[nothing | still].tolist()) | set(users["student_id"].to_numpy()[new | same].tolist())

    slow_rows = ~np.isin(ids, np.array(sorted(decided), dtype=np.int64))
    slow_ids = set(ids[slow_rows].tolist()) | (set(sid_all[~np.isin(sid_all, list(decided))].tolist()))
    slow_state = orphan.copy()
    if (~orphan).any():
        slow_state[~orphan] = np.isin(state_ids, np.array(sorted(slow_ids), dtype=np.int64))

    split_of.slow_enrolments = e[slow_rows]
    split_of.rows_read = int(prov[~slow_rows].sum())
    split_of.active_before = int((~s_suspended & ~slow_state).sum())
    split_of.slow_state_numbers = s_numbers[slow_state].tolist()
    split_of.new_users = users.loc[new, list(NEW_USER_COLUMNS)].sort_values("username", kind="stable").reset_index(
        drop=True)
    split_of.unchanged = int(same.sum())
    split_of.still_suspended = int(still.sum())
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


