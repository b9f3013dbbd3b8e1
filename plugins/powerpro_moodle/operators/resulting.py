"""Moodle -> PowerPro: completion files on FTP become unit outcomes (SPEC section 5)."""

from __future__ import annotations

import hashlib
import posixpath
import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, NoReturn

from airflow.sdk.exceptions import AirflowFailException

from powerpro_moodle.formats.completion_file import (
    CompletionFile,
    UnreadableFile,
    errors_csv,
    errors_file_name,
    parse_completion_file,
)
from powerpro_moodle.formats.outcomes import EnrolmentUnitRow, OutcomePlan, plan_outcomes
from powerpro_moodle.formats.settings import Settings
from powerpro_moodle.formats.summary import REJECTED, TaskSummary, count_codes, plural
from powerpro_moodle.operators.base import PowerProMoodleOperator, as_bool
from powerpro_moodle.sync_log import SUMMARY_KEY

#: Files one run takes on: one mapped task each, well under Airflow's max_map_length (1024).
#: The rest wait in the inbox for the next run, oldest name first.
MAX_FILES_PER_RUN = 500

#: The sync's own tables the resulting DAG uses.
RESULTING_TABLES = ["MoodleSyncAppliedFile", "MoodleSyncCompletionStage", "MoodleSyncOutcomeStage"]

_REJECTED_WORDS = {
    "conflict": ("conflict with a manual result", "conflicts with manual results"),
    "unknown_student": ("unknown student", "unknown students"),
    "unknown_unit": ("unknown unit", "unknown units"),
    "not_enrolled": ("student not enrolled in the unit", "students not enrolled in the unit"),
    "bad_time": ("bad completion time", "bad completion times"),
    "bad_grade": ("bad grade", "bad grades"),
    "missing_id": ("row without an id", "rows without an id"),
    "duplicate_conflict": ("contradicting duplicate row", "contradicting duplicate rows"),
}


def _as_date(value: Any) -> date | None:
    # pymssql returns a date; SQLite returns the ISO text.
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def describe(plan: OutcomePlan, file: CompletionFile, dry_run: bool) -> str:
    """The one-line message staff read, e.g. "applied 120 outcomes, 3 conflicts with manual results"."""
    verb = "dry run: would apply" if dry_run else "applied"
    parts = [f"{verb} {plural(plan.rows_written, 'outcome')} from {plural(file.rows_read, 'row')}"]
    for code, n in sorted(count_codes(plan.anomalies, REJECTED).items(), key=lambda kv: (-kv[1], kv[0])):
        one, many = _REJECTED_WORDS.get(code, (code, code))
        parts.append(f"{n} {one if n == 1 else many}")
    if plan.up_to_date:
        parts.append(f"{plan.up_to_date} already up to date")
    if plan.not_completed:
        parts.append(f"{plan.not_completed} not completed")
    if plan.not_yet_competent:
        parts.append(f"{plural(plan.not_yet_competent, 'not-yet-competent candidate')} for a trainer")
    transfers = sum(1 for a in plan.anomalies if a.code == "transfer")
    if transfers:
        parts.append(f"{plural(transfers, 'course transfer')} resolved")
    return ", ".join(parts)


class ListCompletionFilesOperator(PowerProMoodleOperator):
    """List the completion files (``*.csv``) waiting in the completions folder.

    Returns the file names, which the import task maps over (one task instance per file).
    """

    direction = "Resulting"
    ui_color = "#e6f4ea"

    def sync(self, context: Any) -> TaskSummary:
        settings = self.settings()
        with self.ftp() as ftp:
            waiting = [
                name for name in ftp.list_files(settings.completions_folder, ".csv")
                if not name.lower().endswith(".errors.csv")
            ]
        files = waiting[:MAX_FILES_PER_RUN]
        message = (
            f"{plural(len(waiting), 'completion file')} waiting in {settings.completions_folder}"
            + (f": {', '.join(files[:20])}" + (" …" if len(files) > 20 else "") if files else "")
        )
        if len(waiting) > len(files):
            message += f"; this run takes the first {len(files)}, {len(waiting) - len(files)} left for the next run"
        return TaskSummary(
            self.direction, rows_read=len(waiting), rows_skipped=len(waiting) - len(files), message=message,
            extra={"files": files},
        )

    def execute(self, context: Any) -> list[str]:
        summary = super().execute(context)
        context["ti"].xcom_push(key=SUMMARY_KEY, value=summary)
        return summary["files"]


class ImportCompletionFileOperator(PowerProMoodleOperator):
    """Apply one Moodle completion file to PowerPro, exactly once.

    The file is identified by its content (SHA-256) in ``MoodleSyncAppliedFile``. Its outcomes,
    and the ledger row, are written in one transaction; then the file moves to the processed
    folder with its errors file (refused rows and conflicts) beside it. A file that cannot be
    read as a whole moves to the rejected folder and fails this task without retry.

    :param file_name: the file's name in the completions folder. (templated)
    :param dry_run: read and decide everything; write, record and move nothing. (templated)
    """

    template_fields: Sequence[str] = ("file_name", "dry_run")
    direction = "Resulting"
    ui_color = "#e6f4ea"

    def __init__(self, *, file_name: str, dry_run: Any = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.file_name = file_name
        self.dry_run = dry_run

    def sync(self, context: Any) -> TaskSummary:
        dry_run = as_bool("dry_run", self.dry_run)
        settings = self.settings()
        name = posixpath.basename(self.file_name)
        path = posixpath.join(settings.completions_folder, name)
        with self.ftp() as ftp:
            if name not in ftp.names(settings.completions_folder):
                return TaskSummary(
                    self.direction, message=f"{name} is no longer in {settings.completions_folder}: nothing to do",
                    extra={"file": name},
                )
            data = ftp.read(path)
            content_hash = hashlib.sha256(data).hexdigest()
            applied = self.db.query("select_applied_file", {"ContentHash": content_hash})
            if applied:
                return self._already_applied(ftp, settings, name, path, applied[0], dry_run)
            try:
                parsed = parse_completion_file(data)
            except UnreadableFile as err:
                self._reject(context, ftp, settings, name, path, str(err), dry_run)
            plan, errors = self._apply(context, settings, name, content_hash, parsed, dry_run)
            extra: dict[str, Any] = {"file": name, "sha256": content_hash, "dry_run": dry_run}
            if not dry_run:
                extra.update(self._file_away(ftp, path, settings.processed_folder, errors))
                with self.db.transaction() as conn:
                    self.db.run(
                        conn, "record_applied_file_moved", {"ContentHash": content_hash, "MovedTo": extra["moved_to"]}
                    )
        for anomaly in plan.anomalies:
            self.log.warning("%s %s: %s", anomaly.record, anomaly.key, anomaly.reason)
        return TaskSummary(
            self.direction,
            rows_read=parsed.rows_read,
            rows_written=0 if dry_run else plan.rows_written,
            rows_skipped=plan.rows_skipped + parsed.duplicates,
            rows_rejected=plan.rows_rejected,
            message=f"{name}: {describe(plan, parsed, dry_run)}",
            anomalies=plan.anomalies,
            extra={**extra, "conflicts": sum(1 for a in plan.anomalies if a.code == "conflict")},
        )

    def _apply(
        self, context: Any, settings: Settings, name: str, content_hash: str, parsed: CompletionFile, dry_run: bool
    ) -> tuple[OutcomePlan, bytes | None]:
        """Read what the file needs, decide, write: one transaction (rolled back on a dry run).

        :return: the plan, and the errors file (``None`` when no row was refused).
        """
        batch = uuid.uuid4().hex
        db = self.db
        with db.transaction(commit=not dry_run) as conn:
            keys = {(r.user_idnumber.strip().upper(), r.course_idnumber.strip().upper()) for r in parsed.rows}
            db.run(conn, "stage_completion_keys", [{"BatchId": batch, "UserKey": u, "CourseKey": c} for u, c in sorted(keys)])
            students = {r["user_key"]: r["student_number"] for r in db.fetch(conn, "select_completion_students", {"BatchId": batch})}
            mapped: dict[str, list[str]] = defaultdict(list)
            direct: dict[str, list[str]] = defaultdict(list)
            for r in db.fetch(conn, "select_completion_course_units", {"BatchId": batch}):
                (mapped if r["mapped"] else direct)[r["course_key"]].append(r["unit_code"])
            course_units = {**direct, **mapped}  # an explicit MoodleCourseUnit mapping wins
            enrolment_units = [
                EnrolmentUnitRow(**{**r, "outcome_date": _as_date(r["outcome_date"])})
                for r in db.fetch(conn, "select_completion_enrolment_units", {"BatchId": batch})
            ]
            plan = plan_outcomes(parsed, students, course_units, enrolment_units, settings.outcome_rules, settings.tz)
            now = datetime.now(settings.tz).replace(tzinfo=None, microsecond=0)
            if plan.writes:
                db.run(conn, "stage_outcomes", [
                    {"BatchId": batch, "EnrolmentUnitID": w.enrolment_unit_id, "OutcomeCode": w.outcome_code,
                     "OutcomeDate": w.outcome_date}
                    for w in plan.writes
                ])
                written = db.run(conn, "apply_staged_outcomes", {"BatchId": batch, "ModifiedAt": now})
                if written != len(plan.writes):
                    # Someone entered outcomes between the read and the write: the guarded UPDATE
                    # left theirs alone. Say so rather than report a count that is not true.
                    self.log.warning("%d of %d outcomes were not written: their rows changed meanwhile",
                                     len(plan.writes) - written, len(plan.writes))
                    plan.writes = plan.writes[:written]
            db.run(conn, "delete_completion_stage", {"BatchId": batch})
            errors = errors_csv(parsed.header, plan.errors) if plan.errors else None
            if not dry_run:
                db.run(conn, "record_applied_file", {
                    "ContentHash": content_hash, "FileName": name, "AppliedAt": now,
                    "DagId": context["ti"].dag_id, "RunId": context["ti"].run_id,
                    "RowsRead": parsed.rows_read, "RowsWritten": plan.rows_written,
                    "RowsSkipped": plan.rows_skipped + parsed.duplicates, "RowsRejected": plan.rows_rejected,
                    "ErrorsCsv": errors.decode("utf-8") if errors else None,
                })
        return plan, errors

    def _file_away(self, ftp: Any, path: str, folder: str, errors: bytes | None) -> dict[str, str]:
        """Move ``path`` into ``folder`` (never overwriting), its errors file beside it.

        The errors file is written first, under the name the moved file will take: if the task
        dies between the two, the retry reserves the same name and simply writes it again.
        """
        target = ftp.reserve(folder, posixpath.basename(path))
        out = {"moved_to": target}
        if errors is not None:
            out["errors_file"] = posixpath.join(folder, errors_file_name(posixpath.basename(target)))
            ftp.write(out["errors_file"], errors)
        ftp.rename(path, target)
        return out

    def _already_applied(self, ftp: Any, settings: Settings, name: str, path: str, applied: dict[str, Any],
                         dry_run: bool) -> TaskSummary:
        """A file whose content was applied before: it only leaves the inbox."""
        when = f"{applied['applied_at']}"[:19]
        recovering = applied["moved_to"] is None  # the earlier run committed, then died before the move
        how = "applied by an earlier run that stopped before moving it" if recovering else "a repeat delivery"
        extra: dict[str, Any] = {"file": name, "sha256": applied["content_hash"], "already_applied_at": when}
        if dry_run:
            message = f"{name}: dry run: already applied on {when} as {applied['file_name']} ({how}); would move it"
        else:
            errors = applied["errors_csv"].encode("utf-8") if recovering and applied["errors_csv"] else None
            extra.update(self._file_away(ftp, path, settings.processed_folder, errors))
            moved = extra["moved_to"]
            if recovering:
                with self.db.transaction() as conn:
                    self.db.run(conn, "record_applied_file_moved", {"ContentHash": applied["content_hash"], "MovedTo": moved})
            message = (
                f"{name}: already applied on {when} as {applied['file_name']} ({how}); nothing written again, "
                f"moved to {moved}"
            )
        return TaskSummary(self.direction, rows_read=applied["rows_read"], rows_skipped=applied["rows_read"],
                           message=message, extra=extra)

    def _reject(self, context: Any, ftp: Any, settings: Settings, name: str, path: str, reason: str,
                dry_run: bool) -> NoReturn:
        """Move an unreadable file to the rejected folder, log why, and fail without retry."""
        extra: dict[str, Any] = {"file": name, "dry_run": dry_run}
        where = "left in place (dry run)"
        if not dry_run:
            extra.update(
                self._file_away(ftp, path, settings.rejected_folder, errors_csv([], [{"row": "", "reason": reason}]))
            )
            where = f"moved to {extra['moved_to']}"
        summary = TaskSummary(self.direction, rows_rejected=1, message=f"{name} rejected: {reason}; {where}", extra=extra)
        context["ti"].xcom_push(key=SUMMARY_KEY, value=summary.to_xcom())
        raise AirflowFailException(f"{name} cannot be read as a completion file: {reason} ({where})")
