"""Plays Moodle for ``make demo``: turns the users file the provisioning DAG uploaded into a
completions file, as Moodle's scheduled report would, and drops it in the completions folder.

It picks students from the users file and gives them course completions: most pass, one fails
the grade, one names a unit PowerPro does not know, one completes a Moodle course that stands
for a cluster of units, one has not completed yet, and one completes a unit a trainer already
resulted by hand (a conflict the sync must not overwrite).
"""

from __future__ import annotations

import csv
import io
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

HEADER = ["user_idnumber", "course_idnumber", "timecompleted", "finalgrade", "gradepass"]


def _units_of(conn: sqlite3.Connection, student_number: str) -> list[tuple[int, str]]:
    return conn.execute(
        "SELECT eu.EnrolmentUnitID, u.UnitCode FROM EnrolmentUnit eu JOIN Enrolment e ON e.EnrolmentID = eu.EnrolmentID "
        "JOIN Student s ON s.StudentID = e.StudentID JOIN Unit u ON u.UnitID = eu.UnitID "
        "WHERE s.StudentNumber = ? AND e.Status = 'Active' ORDER BY eu.EnrolmentUnitID",
        (student_number,),
    ).fetchall()


def write_completions(users_files: list[Path], db_path: Path, inbox: Path) -> str:
    """Write ``completions_<date>.csv`` into ``inbox``; return a line describing it."""
    students = []
    for path in users_files:
        with path.open(encoding="utf-8", newline="") as f:
            students += [row["idnumber"] for row in csv.DictReader(f)]
    completed = int(datetime(2026, 3, 31, 14, 30, tzinfo=UTC).timestamp())  # 1 April in Sydney
    rows: list[list[str]] = []
    with sqlite3.connect(db_path) as conn:
        picked = [(s, _units_of(conn, s)) for s in students]
        picked = [(s, units) for s, units in picked if units][:16]
        for i, (student, units) in enumerate(picked):
            eu_id, unit = units[0]
            if i == 0:  # a trainer already recorded RPL for this unit
                conn.execute(
                    "UPDATE EnrolmentUnit SET OutcomeCode = '51', OutcomeDate = '2026-02-14', OutcomeSource = NULL "
                    "WHERE EnrolmentUnitID = ?",
                    (eu_id,),
                )
                rows.append([student, unit, str(completed), "88.00", "50.00"])
            elif i == 1:  # failing grade: a trainer decides
                rows.append([student, unit, str(completed), "41.50", "50.00"])
            elif i == 2:
                rows.append([student, "XYZ999", str(completed), "", ""])
            elif i == 3:
                rows.append([student, unit, "", "", ""])  # not completed yet
            else:
                rows.append([student, unit.lower() if i == 4 else unit, "2026-03-31T14:30:00+00:00", "75.00", "50.00"])
        in_leadership = {
            number for (number,) in conn.execute(
                "SELECT s.StudentNumber FROM Student s JOIN Enrolment e ON e.StudentID = s.StudentID "
                "JOIN Course c ON c.CourseID = e.CourseID WHERE c.CourseCode = 'BSB50420' AND e.Status = 'Active'"
            )
        }
        already = {number for number, _ in picked}
        leader = next((s for s in students if s in in_leadership and s not in already), None)
        if leader:
            rows.append([leader, "BSB50420-LEAD", str(completed), "", ""])  # a cluster of two units
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(HEADER)
    writer.writerows(rows)
    inbox.mkdir(parents=True, exist_ok=True)
    target = inbox / "completions_20260401.csv"
    target.write_text(buf.getvalue(), encoding="utf-8")
    return f"Dropped /from_moodle/{target.name}: {len(rows)} rows (passing, 1 failing grade, 1 unknown unit, " \
           "1 not completed, 1 cluster course, 1 unit a trainer already resulted)"


def print_outcomes(db_path: Path, ftp_root: Path) -> None:
    """What the resulting run left: outcomes written, the protected manual one, the files."""
    with sqlite3.connect(db_path) as conn:
        rows = conn.execute(
            "SELECT s.StudentNumber, u.UnitCode, eu.OutcomeCode, eu.OutcomeDate, "
            "COALESCE(eu.OutcomeSource, '(entered by a person)'), COALESCE(eu.ModifiedAt, '') "
            "FROM EnrolmentUnit eu JOIN Enrolment e ON e.EnrolmentID = eu.EnrolmentID "
            "JOIN Student s ON s.StudentID = e.StudentID JOIN Unit u ON u.UnitID = eu.UnitID "
            "WHERE eu.OutcomeCode IS NOT NULL ORDER BY eu.OutcomeSource IS NULL, s.StudentNumber, u.UnitCode"
        ).fetchall()
    print("Unit outcomes in PowerPro now:")
    for number, unit, code, day, source, modified in rows:
        print(f"    {number:8} {unit:10} {code} {day}  [{source}] {modified}")
    for folder in ("processed", "rejected"):
        path = ftp_root / "from_moodle" / folder
        if path.is_dir():
            print(f"/from_moodle/{folder}/: {', '.join(sorted(p.name for p in path.iterdir()))}")
    for errors in sorted((ftp_root / "from_moodle").rglob("*.errors.csv")):
        print(f"{errors.relative_to(ftp_root)}:")
        for line in errors.read_text(encoding="utf-8").splitlines():
            print("    " + line)
