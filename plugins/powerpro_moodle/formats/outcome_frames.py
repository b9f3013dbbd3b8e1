"""The outcome rules of :mod:`outcomes`, applied to many completion rows at once.

:func:`plan_rows` decides what a set of completion rows writes: the same decisions, counts and
messages as :func:`outcomes.plan_outcomes` (which uses it), computed over columns. Only the rows
that need a sentence (a refusal, a warning, a conflict) or a choice between several candidates
(a course transfer, two rows for one unit) go through per-row code.

Every decision about a row depends only on the rows of the same student: a repeated
(user, course) pair, two rows for one unit, are rows of one ``user_idnumber`` key. So the rows
may be planned in parts, each holding *every* row of its students (the resulting DAG partitions a
file by :func:`ids.id_key` of ``user_idnumber``); each part needs only its own students and
EnrolmentUnit rows. Whatever the parts, every anomaly and errors-file entry carries a
*position*, ``(phase, row, unit, step)``, that orders them as one plan of the whole file would:
phase 0 the file's bad rows, 1 the row-by-row decisions, 2 the conflicts found when writing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from powerpro_moodle.formats.completion_chunks import Rows, competent, completed_at, grade, object_frame
from powerpro_moodle.formats.ids import id_key, shown
from powerpro_moodle.formats.settings import OutcomeRules
from powerpro_moodle.formats.summary import REJECTED, WARNING, Anomaly

#: ``OutcomeSource`` of the outcomes this sync writes, compared as :func:`id_key` compares.
_OURS = id_key("Moodle sync")
_EPOCH_DAY = date(1970, 1, 1).toordinal()
_DAY_US = 86_400_000_000

#: The columns of the EnrolmentUnit rows :func:`plan_rows` takes (``select_completion_enrolment_units.sql``).
EU_COLUMNS = ("enrolment_unit_id", "enrolment_id", "enrolment_status", "student_number", "unit_code", "outcome_code",
              "outcome_date", "outcome_source")

Position = tuple[int, int, int, int]


@dataclass
class Note:
    """An anomaly, its errors-file entry (refusals only) and its position in the plan's order."""

    position: Position
    anomaly: Anomaly
    error: dict[str, Any] | None = None


@dataclass
class RowsPlan:
    """What a set of rows writes.

    :param writes: ``enrolment_unit_id``, ``outcome_code``, ``outcome_date`` (a date),
        ``student_number``, ``unit_code``, ``row``, in the order one plan of the file writes them.
    :param notes: the anomalies, unordered (see :attr:`Note.position`).
    :param unsaid: warnings only counted (see ``wanted`` of :func:`plan_rows`).
    """

    writes: pd.DataFrame
    up_to_date: int = 0
    not_completed: int = 0
    not_yet_competent: int = 0
    superseded: int = 0
    notes: list[Note] = field(default_factory=list)
    #: warnings counted but not worded: ``wanted`` said none of them could be shown (code -> n).
    unsaid: Counter[str] = field(default_factory=Counter)


def _norm(values: Any) -> np.ndarray:
    """:func:`id_key` of each value (``None`` as empty): worked out once per distinct value."""
    codes, uniques = pd.factorize(np.asarray(values, dtype=object), use_na_sentinel=True)
    keys = np.empty(len(uniques) + 1, dtype=object)
    keys[:-1] = [id_key(v) for v in uniques]
    keys[-1] = ""  # code -1: None
    return keys[codes]


def _grade_text(text: str) -> str:
    return "none" if not text else str(Decimal(text))


class _Days:
    """Dates from days since 1970, each made once."""

    def __init__(self) -> None:
        self._made: dict[int, date] = {}

    def __call__(self, day: int) -> date:
        made = self._made.get(day)
        if made is None:
            made = self._made[day] = date.fromordinal(_EPOCH_DAY + day)
        return made


def local_days(completed: np.ndarray, tz: ZoneInfo) -> np.ndarray:
    """Each completion time's date in ``tz``, as days since 1970 (``-1`` where not completed)."""
    out = np.full(len(completed), -1, dtype=np.int64)
    done = ~np.isnan(completed)
    if done.any():
        moments = pd.to_datetime(completed[done].astype(np.int64), unit="us", utc=True).tz_convert(tz)
        out[done] = moments.tz_localize(None).as_unit("us").asi8 // _DAY_US
    return out


def _unit_groups(codes: Sequence[str]) -> list[list[str]]:
    """The distinct units ``codes`` name, each as the PowerPro UnitCodes that match it
    case-insensitively: one code is a unit, several (``TU1`` and ``tu1``) are ambiguous."""
    groups: dict[str, list[str]] = {}
    for code in codes:
        if not id_key(code):
            continue
        group = groups.setdefault(id_key(code), [])
        if code.strip() not in group:
            group.append(code.strip())
    return list(groups.values())


def student_candidates(students: Mapping[str, str | Sequence[str]]) -> dict[str, list[str]]:
    """``students`` re-keyed with :func:`id_key`, each with its StudentNumbers (sorted when several)."""
    out: dict[str, list[str]] = {}
    for key, value in students.items():
        if isinstance(value, str):
            out[id_key(key)] = [value]
        else:
            out[id_key(key)] = list(value) if len(value) == 1 else sorted(set(value))
    return out


def plan_rows(
    rows: Rows,
    students: Mapping[str, list[str]],
    course_units: Mapping[str, Sequence[str]],
    enrolment_units: pd.DataFrame,
    rules: OutcomeRules,
    tz: ZoneInfo,
    wanted: Callable[[Anomaly, Position], bool] | None = None,
) -> RowsPlan:
    """Decide what ``rows`` write (see :func:`outcomes.plan_outcomes` for the rules, in order).

    :param rows: good rows with no exact repeat or contradiction left, holding every row of their
        students (:class:`completion_chunks.Rows`: ``row``, ``user``, ``course``, ``completed``,
        ``competent``; the original values and the grades are asked for the rows that need them).
    :param students: :func:`id_key` of ``user_idnumber`` -> the StudentNumbers that match it
        (:func:`student_candidates`).
    :param course_units: :func:`id_key` of ``course_idnumber`` -> the UnitCodes it stands for.
    :param enrolment_units: the EnrolmentUnit rows of those students (:data:`EU_COLUMNS`).
    :param wanted: whether a warning (its code and level, before its reason is worded) at a
        position may still be shown (:meth:`summary.AnomalyLog.wants`); a warning no one will
        read is only counted (:attr:`RowsPlan.unsaid`). Refusals are always worded: each is a line
        of the errors file.
    """
    return _Planner(rows, students, course_units, enrolment_units, rules, tz, wanted).run()


class _Planner:
    def __init__(self, rows: Rows, students: Mapping[str, list[str]], course_units: Mapping[str, Sequence[str]],
                 enrolment_units: pd.DataFrame, rules: OutcomeRules, tz: ZoneInfo,
                 wanted: Callable[[Anomaly, Position], bool] | None = None) -> None:
        self.rows = rows
        self.wanted = wanted
        self.students = students
        self.course_units = {id_key(k): list(v) for k, v in course_units.items()}
        self.rules = rules
        self.tz = tz
        self.days = _Days()
        self.plan = RowsPlan(writes=_writes())
        frame = rows.frame
        self.row = frame["row"].to_numpy()
        self.user = frame["user"].to_numpy()
        self.course = frame["course"].to_numpy()
        self.completed = frame["completed"].to_numpy()
        self.eu = {c: enrolment_units[c].to_numpy() for c in EU_COLUMNS}
        self.n_eu = len(enrolment_units)

    # -- notes -----------------------------------------------------------------------------

    def where(self, j: int) -> str:
        return f"Moodle course {shown(self.course[j])}, file row {self.row[j]}"

    def reject(self, j: int, position: Position, key: str, code: str, reason: str, data: dict[str, Any]) -> None:
        error = {**self.rows.original(j), "row": int(self.row[j]), "reason": reason}
        self.plan.notes.append(Note(position, Anomaly("student", key, code, reason, level=REJECTED, data=data), error))

    def says(self, position: Position, code: str) -> bool:
        """Whether a warning at ``position`` is worded, or only counted."""
        if self.wanted is None or self.wanted(Anomaly("student", "", code, "", level=WARNING), position):
            return True
        self.plan.unsaid[code] += 1
        return False

    def warn(self, position: Position, key: str, code: str, reason: str, data: dict[str, Any]) -> None:
        self.plan.notes.append(Note(position, Anomaly("student", key, code, reason, level=WARNING, data=data)))

    # -- phases ----------------------------------------------------------------------------

    def run(self) -> RowsPlan:
        if not len(self.rows):
            return self.plan
        number = self.match_students()
        units = self.match_units(number)
        pairs = self.units_of_rows(number, units)
        candidates = self.match_enrolment_units(pairs)
        chosen = self.supersede(candidates)
        self.decide(chosen)
        return self.plan

    def match_students(self) -> np.ndarray:
        """Each row's StudentNumber (``None`` for a row refused here: unknown or ambiguous)."""
        codes, users = pd.factorize(self.user)
        get = self.students.get
        found = [get(key) for key in map(str.upper, users)]  # once per distinct user_idnumber
        one = np.empty(len(users) + 1, dtype=object)
        one[:-1] = [f[0] if f is not None and len(f) == 1 else None for f in found]
        number = one[codes]
        for j in np.flatnonzero(number == None):  # noqa: E711 - elementwise
            ids = {"user_idnumber": self.user[j], "course_idnumber": self.course[j], "row": int(self.row[j])}
            position = (1, int(self.row[j]), -1, 0)
            candidates = found[codes[j]]
            if not candidates:
                self.reject(j, position, shown(self.user[j]), "unknown_student",
                            f"Moodle user_idnumber {shown(self.user[j])} matches no PowerPro StudentNumber "
                            f"({self.where(j)})", ids)
            else:
                self.reject(j, position, shown(self.user[j]), "ambiguous_student",
                            f"Moodle user_idnumber {shown(self.user[j])} matches {len(candidates)} PowerPro students "
                            f"({', '.join(map(shown, candidates))}) that differ only in case; the result was written "
                            f"to neither ({self.where(j)})", {**ids, "candidates": candidates})
        return number

    def match_units(self, number: np.ndarray) -> list[list[str] | None]:
        """The units of each course the rows name (by course code, see ``course_code``); rows
        naming an unknown or ambiguous course are refused here (their ``number`` set to ``None``)."""
        self.course_code, courses = pd.factorize(self.course)
        keys = list(map(str.upper, courses))
        units: list[list[str] | None] = []
        refused: dict[int, tuple[str, str, list[str]]] = {}
        for c, key in enumerate(keys):
            groups = _unit_groups(self.course_units.get(key, ()))
            ambiguous = [g for g in groups if len(g) > 1]
            units.append(None if not groups or ambiguous else [g[0] for g in groups])
            if not groups:
                refused[c] = ("unknown_unit", "", [])
            elif ambiguous:
                names = "; ".join(", ".join(map(shown, g)) for g in ambiguous)
                refused[c] = ("ambiguous_unit", names, [c for g in ambiguous for c in g])
        if refused:
            live = number != None  # noqa: E711 - elementwise
            for j in np.flatnonzero(live & np.isin(self.course_code, list(refused))):
                code, names, candidates = refused[int(self.course_code[j])]
                student, course, row = number[j], self.course[j], int(self.row[j])
                data: dict[str, Any] = {"student_number": student, "course_idnumber": course, "row": row}
                if code == "unknown_unit":
                    reason = (f"Moodle course_idnumber {shown(course)} is neither mapped in MoodleCourseUnit nor a "
                              f"PowerPro UnitCode (StudentNumber {shown(student)}, file row {row})")
                else:
                    reason = (f"Moodle course_idnumber {shown(course)} stands for PowerPro units that differ only "
                              f"in case ({names}); the result was written to none of them (StudentNumber "
                              f"{shown(student)}, file row {row})")
                    data["candidates"] = candidates
                self.reject(j, (1, row, -1, 0), student, code, reason, data)
                number[j] = None
        return units

    def units_of_rows(self, number: np.ndarray, units: list[list[str] | None]) -> dict[str, np.ndarray]:
        """One entry per (row, unit) to decide, in the order a plan of the file meets them, with
        the row's outcome: ``j`` (the row), ``i`` (the unit's place in its course), ``unit``,
        ``student``, ``code`` (``None``: not yet competent and only reported), ``day``
        (days since 1970 in the RTO's timezone; ``-1``: not completed)."""
        live = np.flatnonzero(number != None)  # noqa: E711 - elementwise
        per_course = np.array([len(u or ()) for u in units], dtype=np.int64)
        first = np.cumsum(per_course) - per_course
        flat = np.empty(int(per_course.sum()), dtype=object)
        flat[:] = [u for us in units for u in (us or ())]
        course = self.course_code[live]
        counts = per_course[course]
        j = np.repeat(live, counts)
        i = np.arange(len(j)) - np.repeat(np.cumsum(counts) - counts, counts)
        unit = flat[first[self.course_code[j]] + i]
        day = local_days(self.completed, self.tz)
        ok = self.rows.frame["competent"].to_numpy()
        code = np.where(ok, self.rules.competent, None).astype(object)
        if self.rules.not_yet_competent is not None:
            code[~ok] = self.rules.not_yet_competent
        return {"j": j, "i": i, "unit": unit, "student": number[j], "code": code[j], "day": day[j]}

    def match_enrolment_units(self, pairs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Each (row, unit)'s EnrolmentUnit row: refuse those the student is not enrolled in,
        count the not completed, report the not yet competent, choose among several (a course
        transfer). :return: the candidates to write, one per (row, unit), in the plan's order,
        with ``e`` their EnrolmentUnit row (a position in ``enrolment_units``)."""
        n = len(pairs["j"])
        # (student, unit) as one number on both sides, so the match is a join of integers.
        students, s_codes = _codes(_norm(pairs["student"]), _norm(self.eu["student_number"]))
        units, u_codes = _codes(_norm(pairs["unit"]), _norm(self.eu["unit_code"]))
        width = max(len(u_codes), 1)
        wanted = pd.DataFrame({"key": students[0] * width + units[0], "p": np.arange(n)})
        held = pd.DataFrame({"key": students[1] * width + units[1], "e": np.arange(self.n_eu)})
        found = wanted.merge(held, on="key", how="inner")
        found_p, found_e = found["p"].to_numpy(np.int64), found["e"].to_numpy(np.int64)
        n_found = np.bincount(found_p, minlength=n)
        j_of, i_of, student, unit, day = pairs["j"], pairs["i"], pairs["student"], pairs["unit"], pairs["day"]
        row = self.row
        for p in np.flatnonzero(n_found == 0):
            j = int(j_of[p])
            self.reject(j, (1, int(row[j]), int(i_of[p]), 0), student[p], "not_enrolled",
                        f"StudentNumber {student[p]} is not enrolled in unit {unit[p]} ({self.where(j)})",
                        {"student_number": student[p], "unit_code": unit[p], "row": int(row[j])})
        enrolled = n_found > 0
        self.plan.not_completed += int((enrolled & (day < 0)).sum())
        nyc = enrolled & (day >= 0) & (pairs["code"] == None)  # noqa: E711 - elementwise
        at = [p for p in np.flatnonzero(nyc) if self.says((1, int(row[j_of[p]]), int(i_of[p]), 0), "not_yet_competent")]
        grades = self.rows.grades_of(j_of[at])
        for p, (fg, gp) in zip(at, grades, strict=True):
            j = int(j_of[p])
            fg, gp = _grade_text(fg), _grade_text(gp)
            completed = self.days(int(day[p])).isoformat()
            self.warn((1, int(row[j]), int(i_of[p]), 0), student[p], "not_yet_competent",
                      f"StudentNumber {student[p]} completed unit {unit[p]} on {completed} with grade {fg} below the "
                      f"pass mark {gp} ({self.where(j)}): a not-yet-competent candidate for a trainer to assess; "
                      "nothing was written",
                      {"student_number": student[p], "unit_code": unit[p], "row": int(row[j]), "finalgrade": fg,
                       "gradepass": gp, "completed": completed})
        self.plan.not_yet_competent += int(nyc.sum())
        going = enrolled & (day >= 0) & ~nyc
        target = np.full(n, -1, dtype=np.int64)
        single = going[found_p] & (n_found[found_p] == 1)
        target[found_p[single]] = found_e[single]
        several = going[found_p] & (n_found[found_p] > 1)
        if several.any():
            order = np.argsort(found_p[several], kind="stable")
            ps, es = found_p[several][order], found_e[several][order]
            starts = np.flatnonzero(np.r_[True, ps[1:] != ps[:-1]])
            for a, b in zip(starts, [*starts[1:], len(ps)], strict=True):
                target[ps[a]] = self.choose(pairs, int(ps[a]), es[a:b])
        keep = np.flatnonzero(going)
        return {k: v[keep] for k, v in pairs.items()} | {"e": target[keep]}

    def _record(self, e: int) -> Any:
        from powerpro_moodle.formats.outcomes import EnrolmentUnitRow

        values = [self.eu[c][e] for c in EU_COLUMNS]
        values[0], values[1] = int(values[0]), int(values[1])  # the ids, as plain ints for the JSON
        return EnrolmentUnitRow(*values)

    def choose(self, pairs: dict[str, np.ndarray], p: int, options: np.ndarray) -> int:
        """:func:`outcomes.choose_target` among several EnrolmentUnit rows (a course transfer), said."""
        from powerpro_moodle.formats.outcomes import choose_target

        records = {id(r): (int(e), r) for e in options for r in [self._record(int(e))]}
        target, why = choose_target([r for _, r in records.values()])
        j, student = int(pairs["j"][p]), pairs["student"][p]
        position = (1, int(self.row[j]), int(pairs["i"][p]), 0)
        if not self.says(position, "transfer"):
            return records[id(target)][0]
        self.warn(position, student, "transfer", f"{why} ({self.where(j)})",
                  {"student_number": student, "unit_code": pairs["unit"][p], "row": int(self.row[j]),
                   "enrolment_id": target.enrolment_id, "enrolment_unit_id": target.enrolment_unit_id})
        return records[id(target)][0]

    def supersede(self, candidates: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """One candidate per EnrolmentUnit row: of two rows for one unit (a cluster course and the
        unit's own course), the latest completion wins, then the later row, so reruns agree."""
        e = candidates["e"]
        if not len(e):
            return candidates
        eu_id = self.eu["enrolment_unit_id"][e]
        repeated = pd.Series(eu_id).duplicated(keep=False).to_numpy()
        if not repeated.any():
            return candidates
        j_of, i_of, code, day, student = (candidates[k] for k in ("j", "i", "code", "day", "student"))
        completed, row = self.completed, self.row
        groups: dict[Any, list[int]] = {}
        for p in np.flatnonzero(repeated):  # in the plan's order
            groups.setdefault(eu_id[p], []).append(int(p))
        dropped = []
        for group in groups.values():
            champion = group[0]
            for p in group[1:]:
                keep, drop = sorted((champion, p), reverse=True, key=lambda q: (completed[j_of[q]], row[j_of[q]]))
                champion = keep
                dropped.append(drop)
                self.plan.superseded += 1
                position = (1, int(row[j_of[p]]), int(i_of[p]), 1)
                if (code[keep], day[keep]) != (code[drop], day[drop]) and self.says(position, "superseded"):
                    unit = self.eu["unit_code"][e[p]]
                    used, ignored = int(row[j_of[keep]]), int(row[j_of[drop]])
                    self.warn(position, student[p], "superseded",
                              f"StudentNumber {student[p]} unit {unit}: file rows {used} and {ignored} give different "
                              f"outcomes ({code[keep]} on {self.days(int(day[keep])).isoformat()} and {code[drop]} on "
                              f"{self.days(int(day[drop])).isoformat()}); the later completion, row {used}, was used",
                              {"student_number": student[p], "unit_code": unit, "row": int(row[j_of[p]]),
                               "used_row": used, "ignored_row": ignored})
        stay = np.ones(len(e), bool)
        stay[dropped] = False
        return {k: v[stay] for k, v in candidates.items()}

    def decide(self, chosen: dict[str, np.ndarray]) -> None:
        """Write, count as up to date, or refuse as a conflict with an outcome Moodle does not own."""
        e, code, day, j_of, i_of = (chosen[k] for k in ("e", "code", "day", "j", "i"))
        if not len(e):
            return
        existing = _each(self.eu["outcome_code"][e], lambda v: (v or "").strip())
        source = self.eu["outcome_source"][e]
        ours = _norm(source) == _OURS
        same_code = _norm(existing) == _norm(code)
        manual = (existing != "") & ~ours
        same_day = np.zeros(len(e), bool)
        check = np.flatnonzero(ours & same_code)
        if len(check):
            from powerpro_moodle.formats.outcomes import as_date

            dates = self.eu["outcome_date"][e[check]]
            same_day[check] = [as_date(d) == self.days(int(x)) for d, x in zip(dates, day[check], strict=True)]
        up_to_date = (manual & same_code) | (ours & same_code & same_day)
        conflict = manual & ~same_code
        self.plan.up_to_date += int(up_to_date.sum())
        for p in np.flatnonzero(conflict):
            j, k = int(j_of[p]), int(e[p])
            student, unit, src = self.eu["student_number"][k], self.eu["unit_code"][k], source[p]
            said = f"source {src.strip()!r}" if (src or "").strip() else "no source"
            self.reject(j, (2, int(self.row[j]), int(i_of[p]), 0), student, "conflict",
                        f"StudentNumber {student} unit {unit} already has outcome {existing[p]} ({said}) and Moodle "
                        f"gives {code[p]} (Moodle course {self.course[j]}, file row {self.row[j]}): an outcome not "
                        "written by the Moodle sync is never overwritten",
                        {"student_number": student, "unit_code": unit, "existing_outcome": existing[p],
                         "existing_source": src, "moodle_outcome": code[p]})
        w = np.flatnonzero(~(up_to_date | conflict))
        w = w[np.lexsort((i_of[w], self.row[j_of[w]]))]
        k = e[w]
        dates = _each(day[w], lambda x: self.days(int(x)))
        self.plan.writes = object_frame({
            "enrolment_unit_id": self.eu["enrolment_unit_id"][k],
            "outcome_code": code[w],
            "outcome_date": dates,
            "student_number": self.eu["student_number"][k],
            "unit_code": self.eu["unit_code"][k],
            "row": self.row[j_of[w]],
        })


def _each(values: np.ndarray, fn: Any) -> np.ndarray:
    """``fn`` of each value, worked out once per distinct value."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    out = np.empty(len(uniques) + 1, dtype=object)
    out[:-1] = [fn(u) for u in uniques]
    if (codes < 0).any():
        out[-1] = fn(None)  # code -1: a None
    return out[codes]


def _codes(left: np.ndarray, right: np.ndarray) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray]:
    """Codes of the values of both sides in one numbering (equal values, equal codes)."""
    codes, uniques = pd.factorize(np.concatenate([left, right]))
    return (codes[: len(left)].astype(np.int64), codes[len(left) :].astype(np.int64)), uniques


def _upper(stripped: np.ndarray) -> np.ndarray:
    out = np.empty(len(stripped), dtype=object)
    out[:] = list(map(str.upper, stripped))
    return out


def _writes() -> pd.DataFrame:
    return object_frame({c: np.array([], dtype=object) for c in (
        "enrolment_unit_id", "outcome_code", "outcome_date", "student_number", "unit_code", "row")})


class ListRows(Rows):
    """:class:`completion_file.CompletionRow` objects as the rows :func:`plan_rows` takes."""

    def __init__(self, rows: Sequence[Any]) -> None:
        from powerpro_moodle.formats.completion_chunks import _us

        def column(values: list[Any]) -> np.ndarray:
            out = np.empty(len(values), dtype=object)
            out[:] = values
            return out

        finalgrade = column(["" if r.finalgrade is None else str(r.finalgrade) for r in rows])
        gradepass = column(["" if r.gradepass is None else str(r.gradepass) for r in rows])
        super().__init__(object_frame({
            "row": np.array([r.row for r in rows], dtype=np.int64),
            "user": column([r.user_idnumber for r in rows]),
            "course": column([r.course_idnumber for r in rows]),
            "completed": np.array([np.nan if r.completed_at is None else float(_us(r.completed_at)) for r in rows],
                                  dtype=float),
            "finalgrade": finalgrade,
            "gradepass": gradepass,
            "competent": competent(finalgrade, gradepass),
        }), (), {})
        self._originals = [r.original for r in rows]

    def original(self, j: int) -> dict[str, Any]:
        return self._originals[j]


def eu_frame(rows: Sequence[Any]) -> pd.DataFrame:
    """EnrolmentUnit rows (objects with :data:`EU_COLUMNS` attributes) as :func:`plan_rows` takes them."""
    columns = {}
    for c in EU_COLUMNS:
        columns[c] = np.empty(len(rows), dtype=object)
        columns[c][:] = [getattr(r, c) for r in rows]
    return object_frame(columns)


__all__ = ["EU_COLUMNS", "ListRows", "Note", "RowsPlan", "completed_at", "eu_frame", "grade", "local_days",
           "plan_rows", "student_candidates"]
