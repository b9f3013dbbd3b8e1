"""A PowerPro reference-schema database on SQLite, for the demo and the tests.

:func:`create_reference_db` builds the schema from ``include/sql/reference/`` (T-SQL, translated
by the same loader the DAGs use); :class:`PowerPro` adds rows with readable calls;
:func:`build_demo_sample` fills a realistic sample with some of every anomaly.
"""

from __future__ import annotations

import json
import random
import sqlite3
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "plugins"))

from powerpro_moodle.db import load_statements  # noqa: E402

REFERENCE_SCHEMA = "reference/powerpro_reference_schema"


def create_reference_db(path: Path) -> None:
    """A new SQLite file holding PowerPro's reference schema (replaces an existing one)."""
    path = Path(path)
    path.unlink(missing_ok=True)
    with sqlite3.connect(path) as conn:
        for statement in load_statements(REFERENCE_SCHEMA, "sqlite"):
            conn.execute(statement)


def conn_json(path: Path) -> str:
    """The ``powerpro_db`` Airflow connection (``AIRFLOW_CONN_POWERPRO_DB``) for a SQLite file."""
    return json.dumps({"conn_type": "sqlite", "host": str(Path(path).resolve())})


class PowerPro:
    """Rows in a reference-schema database, as PowerPro staff would enter them."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.conn = sqlite3.connect(self.path)
        self.conn.row_factory = sqlite3.Row

    def close(self) -> None:
        self.conn.close()

    def _insert(self, table: str, key: str, **values: Any) -> int:
        if values.get(key) is None:
            values[key] = self.conn.execute(f"SELECT COALESCE(MAX({key}), 0) + 1 FROM {table}").fetchone()[0]
        cols = ", ".join(values)
        marks = ", ".join("?" * len(values))
        self.conn.execute(f"INSERT INTO {table} ({cols}) VALUES ({marks})", list(values.values()))
        self.conn.commit()
        return values[key]

    def student(self, number: str, first: str = "Alex", last: str = "Nguyen", email: str | None = "", preferred: str | None = None) -> int:
        if email == "":
            email = f"{number.lower()}@students.example.edu.au"
        return self._insert(
            "Student", "StudentID", StudentID=None, StudentNumber=number, FirstName=first, LastName=last,
            PreferredName=preferred, Email=email,
        )

    def course(self, code: str, cohort: str | None, provision: bool = True, name: str | None = None,
               end_date: str | None = "2026-12-11") -> int:
        """A course; ``end_date`` (``YYYY-MM-DD`` or None for none) starts the keep-access window."""
        return self._insert(
            "Course", "CourseID", CourseID=None, CourseCode=code, CourseName=name or f"Course {code}",
            StartDate="2026-02-02", EndDate=end_date, MoodleProvision=int(provision), MoodleCohort=cohort,
        )

    def enrol(self, student_id: int, course_id: int, status: str = "Active", provision: bool = True, enrolment_id: int | None = None) -> int:
        return self._insert(
            "Enrolment", "EnrolmentID", EnrolmentID=enrolment_id, StudentID=student_id, CourseID=course_id,
            Status=status, MoodleProvision=int(provision),
        )

    def unit(self, code: str, name: str | None = None) -> int:
        return self._insert("Unit", "UnitID", UnitID=None, UnitCode=code, UnitName=name or f"Unit {code}")

    def enrolment_unit(self, enrolment_id: int, unit_id: int, outcome: str | None = None, source: str | None = None,
                       date: str | None = None) -> int:
        return self._insert(
            "EnrolmentUnit", "EnrolmentUnitID", EnrolmentUnitID=None, EnrolmentID=enrolment_id, UnitID=unit_id,
            OutcomeCode=outcome, OutcomeDate=date, OutcomeSource=source,
            ModifiedAt="2026-03-01 09:00:00" if outcome else None,
        )

    def map_course(self, moodle_course_idnumber: str, unit_code: str) -> None:
        self.conn.execute("INSERT INTO MoodleCourseUnit VALUES (?, ?)", (moodle_course_idnumber, unit_code))
        self.conn.commit()

    def rows(self, sql: str, *params: Any) -> list[dict[str, Any]]:
        return [dict(r) for r in self.conn.execute(sql, params)]

    def sync_log(self) -> list[dict[str, Any]]:
        rows = self.rows("SELECT * FROM ELearningSyncLog ORDER BY SyncLogID")
        for row in rows:
            row["Details"] = json.loads(row["Details"]) if row["Details"] else None
        return rows


FIRST = ["Olivia", "Jack", "Charlotte", "Noah", "Amelia", "William", "Isla", "Oliver", "Mia", "Lucas", "Zoë", "Mateo",
         "Aroha", "Jayden", "Siobhan", "Thanh", "Priya", "Muhammad", "Chloé", "Kai", "Ngaio", "Ava", "Liam", "Ruby"]
LAST = ["Smith", "Nguyễn", "Williams", "Brown", "O'Brien", "Taylor", "Wilson", "Singh", "Martin", "Anderson", "Tran",
        "Kelly", "Walker", "Murphy", "Papadopoulos", "Li", "Thompson", "White", "Rossi", "Smith, Jr", "Ng"]

#: (course code, name, cohort, flagged, units)
COURSES = [
    ("BSB50420", "Diploma of Leadership and Management", "BSB50420-2026", True,
     ["BSBLDR523", "BSBOPS504", "BSBCMM511", "BSBPEF502"]),
    ("CHC33021", "Certificate III in Individual Support", "CHC33021-2026", True,
     ["CHCCCS031", "CHCCCS040", "HLTWHS002", "CHCLEG001"]),
    ("SIT30821", "Certificate III in Commercial Cookery", "SIT30821-2026", True, ["SITHCCC023", "SITXFSA005", "SITHKOP010"]),
    ("HLTAID011", "Provide First Aid", "HLTAID011-2026", True, ["HLTAID011"]),
    ("BSB40520", "Certificate IV in Leadership and Management", None, True, ["BSBLDR411", "BSBXCM401"]),
    ("ICT30120", "Certificate III in Information Technology", "42", True, ["ICTICT313", "ICTSAS305"]),
    ("CPC30220", "Certificate III in Carpentry", "CPC30220-2026", False, ["CPCCCA3002", "CPCWHS2001"]),
]


def build_demo_sample(db: PowerPro, students: int = 300, seed: int = 2026) -> dict[str, Any]:
    """A realistic sample: ``students`` students over several courses, some of every anomaly.

    :return: the facts a demo prints (which records carry which anomaly).
    """
    rnd = random.Random(seed)
    courses, units = {}, {}
    for code, name, cohort, flagged, unit_codes in COURSES:
        courses[code] = (db.course(code, cohort, flagged, name), unit_codes)
        for unit_code in unit_codes:
            units.setdefault(unit_code, db.unit(unit_code))
    db.map_course("BSB50420-LEAD", "BSBLDR523")  # one Moodle course covering a cluster of units
    db.map_course("BSB50420-LEAD", "BSBCMM511")

    def enrol(sid: int, code: str, status: str = "Active", provision: bool = True) -> int:
        course_id, unit_codes = courses[code]
        eid = db.enrol(sid, course_id, status, provision)
        for unit_code in unit_codes:
            db.enrolment_unit(eid, units[unit_code])
        return eid

    statuses = ["Active"] * 8 + ["Completed", "Withdrawn", "Deferred"]
    codes = [c[0] for c in COURSES]
    for i in range(students):
        number = f"S{10001 + i}"
        first, last = rnd.choice(FIRST), rnd.choice(LAST)
        preferred = rnd.choice(["Sam", "Bec", "Nick", "Jess"]) if rnd.random() < 0.08 else None
        email = f"{first.lower()[:1]}{i}.{number.lower()}@students.example.edu.au"
        sid = db.student(number, first, last, email, preferred)
        for code in rnd.sample(codes, 2 if rnd.random() < 0.2 else 1):
            enrol(sid, code, rnd.choice(statuses), provision=rnd.random() > 0.05)

    anomalies = {}
    sid = db.student("S20001", "Ellie", "Nomail", None)
    enrol(sid, "BSB50420")
    sid = db.student("S20002", "Tom", "Blank", "  ")
    enrol(sid, "CHC33021")
    sid = db.student("S20003", "Ben", "Typo", "ben.typo@@example")
    enrol(sid, "SIT30821")
    anomalies["no or bad email"] = ["S20001", "S20002", "S20003"]
    sid = db.student("S20004", "Kim", "Upper", "kim.upper@students.example.edu.au")
    enrol(sid, "HLTAID011")
    sid = db.student("s20004", "Kim", "Lower", "kim.lower@students.example.edu.au")
    enrol(sid, "HLTAID011")
    anomalies["username clash"] = ["S20004", "s20004"]
    sid = db.student("S20005", "=HYPERLINK(\"http://evil.example\")", "Formula", "formula@students.example.edu.au")
    enrol(sid, "CHC33021")
    anomalies["name neutralised (warning)"] = ["S20005"]
    sid = db.student("S20006", "Dana", "Transfer", "dana.transfer@students.example.edu.au")
    enrol(sid, "BSB40520", "Withdrawn")  # old course, no Moodle cohort
    enrol(sid, "BSB50420")
    anomalies["course without cohort"] = ["BSB40520"]
    anomalies["course with numeric cohort"] = ["ICT30120"]
    return anomalies


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "powerpro_demo.db")
    create_reference_db(target)
    pp = PowerPro(target)
    print(json.dumps(build_demo_sample(pp), indent=2))
    pp.close()
