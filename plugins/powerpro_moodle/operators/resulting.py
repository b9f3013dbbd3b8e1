"""Moodle -> PowerPro: completion files on FTP become unit outcomes (SPEC section 5)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import posixpath
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from typing import Any, NoReturn

from powerpro_moodle.formats.completion_file import (
    CompletionFile,
    UnreadableFile,
    errors_csv,
    errors_file_name,
    parse_completion_file,
)
from powerpro_moodle.formats.inbox import first_look, second_look, wait_before_second_look
from powerpro_moodle.formats.outcomes import (
    EnrolmentUnitRow,
    OutcomePlan,
    as_date,
    describe_plan,
    plan_outcomes,
    units_for_courses,
)
from powerpro_moodle.formats.settings import Settings
from powerpro_moodle.formats.summary import REJECTED, Anomaly, TaskSummary, bounded_anomalies, plural
from powerpro_moodle.operators.base import PowerProMoodleOperator, as_bool
from powerpro_moodle.sync_log import SUMMARY_KEY

#: Files one run takes on: one mapped task each, well under Airflow's max_map_length (1024).
#: The rest wait in the inbox for the next run, oldest name first.
MAX_FILES_PER_RUN = 500

#: The sync's own tables the resulting DAG uses.
RESULTING_TABLES = ["MoodleSyncAppliedFile", "MoodleSyncInboxFile", "MoodleSyncCompletionStage",
                    "MoodleSyncOutcomeStage"]


def _run_start(context: Any) -> datetime:
    dag_run = context.get("dag_run")
    for attr in ("start_date", "run_after", "logical_date"):
        value = getattr(dag_run, attr, None)
        if value is not None:
            return value.astimezone(UTC)
    return datetime.now(UTC)


def _local_now(settings: Settings) -> datetime:
    return datetime.now(settings.tz).replace(tzinfo=None, microsecond=0)


class ListCompletionFilesOperator(PowerProMoodleOperator):
    """List the completion files (``*.csv``) waiting in the completions folder, once they have
    stopped changing (the ``file_settle_seconds`` setting).

    Returns the file names, which the import task maps over (one task instance per file). Every
    inbox entry it does not take is named in the sync log with the reason.
    """

    direction = "Resulting"
    ui_color = "#e6f4ea"

    def sync(self, context: Any) -> TaskSummary:
        settings = self.settings()
        inbox, settle = settings.completions_folder, settings.file_settle_seconds
        with self.ftp() as ftp:
            now = datetime.now(UTC)
            own = [posixpath.basename(f) for f in (settings.processed_folder, settings.rejected_folder)
                   if posixpath.dirname(f) == inbox]
            look = first_look(ftp.entries(inbox), now, settle, own)
            wait = 0.0
            if look.unsettled:
                wait = wait_before_second_look(look, now, settle)
                self.log.info("Waiting %.0f s to see whether %s stopped changing", wait, ", ".join(look.unsettled))
                time.sleep(wait)
                look = second_look(look, {e.name: e for e in ftp.entries(inbox)})
        files = look.taken[:MAX_FILES_PER_RUN]
        listed = f": {', '.join(files[:20])}" + (" …" if len(files) > 20 else "") if files else ""
        message = f"{plural(len(look.taken), 'completion file')} waiting in {inbox}{listed}"
        if len(look.taken) > len(files):
            message += f"; this run takes the first {len(files)}, {len(look.taken) - len(files)} left for the next run"
        if look.ignored:
            names = ", ".join(f"{a.key} ({a.reason.split(': ', 1)[1]})" for a in look.anomalies()[:20])
            message += f"; {plural(len(look.ignored), 'entry', 'entries')} not taken: {names}"
        return TaskSummary(
            self.direction, rows_read=len(look.taken), rows_skipped=len(look.taken) - len(files) + len(look.ignored),
            message=message, anomalies=look.anomalies(), extra={"files": files, "second_look_after_seconds": wait},
        )

    def execute(self, context: Any) -> list[str]:
        summary = super().execute(context)
        context["ti"].xcom_push(key=SUMMARY_KEY, value=summary)
        return summary["files"]


class _FileChanged(Exception):
    """The completion file changed on the server after it was downloaded."""


class ImportCompletionFileOperator(PowerProMoodleOperator):
    """Apply one Moodle completion file to PowerPro, exactly once.

    The file is identified by its content (SHA-256) in ``MoodleSyncAppliedFile``. Its outcomes,
    and the ledger rows, are written in one transaction; then the file moves to the processed
    folder with its errors file (refused rows and conflicts) beside it. A file that cannot be
    read as a whole moves to the rejected folder and fails this task without retry; the same
    content is rejected again, with the same reason, wherever and whenever it reappears.
    ``MoodleSyncInboxFile`` remembers what each run did with each file, so a cleared task that
    runs again after its file left the inbox restates what happened instead of doing nothing.

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
        ti = context["ti"]
        ids = {"RunId": ti.run_id, "FileName": name}
        with self.ftp() as ftp:
            before = ftp.stat(path)
            if before is None:
                return self._gone(context, ftp, settings, name, ids)
            data = ftp.read(path)
            if before.size is not None and len(data) != before.size:
                return self._changed(name, "while it was being downloaded; nothing was written")
            content_hash = hashlib.sha256(data).hexdigest()
            file = {**ids, "DagId": ti.dag_id, "ContentHash": content_hash, "path": path}
            rejected = self.db.query("select_rejected_content", {"ContentHash": content_hash})
            if rejected:
                earlier = rejected[0]
                self._reject(context, ftp, settings, file, earlier["reason"], dry_run, earlier=earlier)
            applied = self.db.query("select_applied_file", {"ContentHash": content_hash})
            if applied:
                return self._seen_again(ftp, settings, file, applied[0], dry_run)
            try:
                parsed = parse_completion_file(
                    data,
                    not_before=datetime.combine(settings.earliest_completion_date, clock(0), tzinfo=settings.tz),
                    not_after=_run_start(context) + timedelta(hours=24),
                )
            except UnreadableFile as err:
                self._reject(context, ftp, settings, file, str(err), dry_run)
            target = None if dry_run else ftp.reserve(settings.processed_folder, name)

            def unchanged() -> bool:
                return ftp.stat(path) == before

            try:
                plan, errors = self._apply(context, settings, file, parsed, target, dry_run, unchanged)
            except _FileChanged:
                return self._changed(name, "while it was being applied; nothing was written")
            extra: dict[str, Any] = {"file": name, "sha256": content_hash, "dry_run": dry_run}
            message = f"{name}: {describe_plan(plan, parsed.rows_read, dry_run)}"
            if not dry_run:
                if unchanged():
                    extra.update(self._file_away(ftp, file, target, errors))
                else:
                    # The bytes applied are the bytes moved: new bytes are a corrected file, which
                    # the next run applies as such.
                    message += "; the file changed after it was read, so it stays in the inbox for the next run"
        return TaskSummary(
            self.direction,
            rows_read=parsed.rows_read,
            rows_written=0 if dry_run else plan.rows_written,
            rows_skipped=plan.rows_skipped + parsed.duplicates,
            rows_rejected=plan.rows_rejected,
            message=message,
            anomalies=plan.anomalies,
            extra={**extra, "conflicts": sum(1 for a in plan.anomalies if a.code == "conflict")},
        )

    def _apply(self, context: Any, settings: Settings, file: dict[str, Any], parsed: CompletionFile,
               target: str | None, dry_run: bool, unchanged: Callable[[], bool]) -> tuple[OutcomePlan, bytes | None]:
        """Read what the file needs, decide, write: one transaction (rolled back on a dry run, or
        when the file changed on the server meanwhile).

        :return: the plan, and the errors file (``None`` when no row was refused).
        """
        batch = uuid.uuid4().hex
        db = self.db
        with db.transaction(commit=not dry_run) as conn:
            keys = sorted({row.key for row in parsed.rows})
            db.run(conn, "stage_completion_keys", [{"BatchId": batch, "UserKey": u, "CourseKey": c} for u, c in keys])
            students: dict[str, list[str]] = defaultdict(list)
            for r in db.fetch(conn, "select_completion_students", {"BatchId": batch}):
                students[r["user_key"]].append(r["student_number"])
            course_units = units_for_courses(db.fetch(conn, "select_completion_course_units", {"BatchId": batch}))
            enrolment_units = [
                EnrolmentUnitRow(**{**r, "outcome_date": as_date(r["outcome_date"])})
                for r in db.fetch(conn, "select_completion_enrolment_units", {"BatchId": batch})
            ]
            plan = plan_outcomes(parsed, students, course_units, enrolment_units, settings.outcome_rules, settings.tz)
            now = _local_now(settings)
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
                refused = [a for a in plan.anomalies if a.level == REJECTED]
                db.run(conn, "record_applied_file", {
                    "ContentHash": file["ContentHash"], "FileName": file["FileName"], "AppliedAt": now,
                    "DagId": file["DagId"], "RunId": file["RunId"],
                    "RowsRead": parsed.rows_read, "RowsWritten": plan.rows_written,
                    "RowsSkipped": plan.rows_skipped + parsed.duplicates, "RowsRejected": plan.rows_rejected,
                    "ErrorsCsv": errors.decode("utf-8") if errors else None,
                    "Anomalies": json.dumps(bounded_anomalies(refused), ensure_ascii=False, default=str),
                })
                self._record(conn, settings, file, "applied", target)
                if not unchanged():
                    raise _FileChanged
        return plan, errors

    def _record(self, conn: Any, settings: Settings, file: dict[str, Any], outcome: str, target: str | None,
                reason: str | None = None) -> None:
        self.db.run(conn, "record_inbox_file", {
            "RunId": file["RunId"], "FileName": file["FileName"], "DagId": file["DagId"],
            "ContentHash": file["ContentHash"], "Outcome": outcome, "Reason": reason, "MoveTarget": target,
            "HandledAt": _local_now(settings),
        })

    def _file_away(self, ftp: Any, file: dict[str, Any], target: str, errors: bytes | None) -> dict[str, str]:
        """Move the file to ``target`` (reserved, never overwriting), its errors file beside it,
        and note where it went.

        The errors file is written first, under the name the moved file will take: if the task
        dies between the two, the retry reserves the same name and simply writes it again.
        """
        folder = posixpath.dirname(target)
        if ftp.stat(target) is not None:  # taken since it was reserved: never overwrite
            target = ftp.reserve(folder, posixpath.basename(target))
        out = {"moved_to": target}
        if errors is not None:
            out["errors_file"] = posixpath.join(folder, errors_file_name(posixpath.basename(target)))
            ftp.write(out["errors_file"], errors)
        ftp.rename(file["path"], target)
        with self.db.transaction() as conn:
            self.db.run(conn, "record_file_moved", {
                "RunId": file["RunId"], "FileName": file["FileName"], "ContentHash": file["ContentHash"],
                "MovedTo": target,
            })
        return out

    def _changed(self, name: str, when: str) -> TaskSummary:
        return TaskSummary(
            self.direction,
            message=f"{name} changed on the server {when}; it stays in the inbox and the next run takes it "
                    "once it has stopped changing",
            extra={"file": name, "changed": True},
        )

    def _seen_again(self, ftp: Any, settings: Settings, file: dict[str, Any], applied: dict[str, Any],
                    dry_run: bool) -> TaskSummary:
        """Content applied before (a retry after a crash, a re-run, a repeat delivery): nothing is
        written again; the file leaves the inbox and the first application's record is restated."""
        name = file["FileName"]
        recovering = applied["moved_to"] is None  # the earlier try committed, then stopped before the move
        how = "which stopped before filing it away" if recovering else "a repeat delivery"
        extra: dict[str, Any] = {"file": name, "sha256": applied["content_hash"]}
        if dry_run:
            where = "; dry run: would move it to the processed folder"
        else:
            target = ftp.reserve(settings.processed_folder, name)
            outcome = "applied" if applied["run_id"] == file["RunId"] else "repeat"
            with self.db.transaction() as conn:
                self._record(conn, settings, file, outcome, target)
            errors = applied["errors_csv"].encode("utf-8") if recovering and applied["errors_csv"] else None
            extra.update(self._file_away(ftp, file, target, errors))
            where = f"; moved to {extra['moved_to']}"
        return self._restated(applied, f"{name}: {_first_applied(applied)} ({how}); nothing written again{where}",
                              extra)

    def _gone(self, context: Any, ftp: Any, settings: Settings, name: str, ids: dict[str, str]) -> TaskSummary:
        """The file is no longer in the inbox: restate what this run did with it, if anything."""
        handled = self.db.query("select_inbox_file", ids)
        if not handled:
            return TaskSummary(self.direction, message=(
                f"{name} is no longer in {settings.completions_folder} and this run has no record of it "
                "(moved by hand, or taken by another run): nothing to do"), extra={"file": name})
        row = handled[0]
        file = {**ids, "ContentHash": row["content_hash"]}
        moved = row["moved_to"]
        if moved is None and row["move_target"] and ftp.stat(row["move_target"]) is not None:
            # The move happened but the try stopped before noting it: note it now.
            moved = row["move_target"]
            with self.db.transaction() as conn:
                self.db.run(conn, "record_file_moved", {**file, "MovedTo": moved})
        where = f"moved to {moved}" if moved else (
            f"but it is not at {row['move_target']} either: look for it in {settings.processed_folder} "
            f"and {settings.rejected_folder}")
        if row["outcome"] == "rejected":
            self.fail(context, TaskSummary(
                self.direction, rows_rejected=1,
                message=f"{name} rejected: {row['reason']}; {where}",
                extra={"file": name, "sha256": row["content_hash"], "moved_to": moved},
            ))
        (applied,) = self.db.query("select_applied_file", {"ContentHash": row["content_hash"]})
        return self._restated(applied, f"{name}: {_first_applied(applied)}; this try wrote nothing again; {where}",
                              {"file": name, "sha256": row["content_hash"], "moved_to": moved})

    def _restated(self, applied: dict[str, Any], message: str, extra: dict[str, Any]) -> TaskSummary:
        """This attempt's counts (it wrote nothing), with the first application's conflicts and
        refused rows again, so a query of the sync log for them never misses one."""
        read = applied["rows_read"] or 0
        return TaskSummary(
            self.direction, rows_read=read, rows_skipped=read, message=message,
            anomalies=restated_anomalies(applied),
            extra={**extra, "first_applied": {
                "at": str(applied["applied_at"])[:19], "run_id": applied["run_id"], "file": applied["file_name"],
                "rows_written": applied["rows_written"], "rows_rejected": applied["rows_rejected"],
            }},
        )

    def _reject(self, context: Any, ftp: Any, settings: Settings, file: dict[str, Any], reason: str, dry_run: bool,
                earlier: dict[str, Any] | None = None) -> NoReturn:
        """Move an unreadable file to the rejected folder, record why, and fail without retry."""
        name, reason = file["FileName"], reason.rstrip(".")
        extra: dict[str, Any] = {"file": name, "sha256": file["ContentHash"], "dry_run": dry_run}
        where = "left in place (dry run)"
        if not dry_run:
            target = ftp.reserve(settings.rejected_folder, name)
            with self.db.transaction() as conn:
                self._record(conn, settings, file, "rejected", target, reason)
            extra.update(self._file_away(ftp, file, target, errors_csv([], [{"row": "", "reason": reason}])))
            where = f"moved to {extra['moved_to']}"
        again = ""
        if earlier is not None:
            again = f" (this content was rejected before, as {earlier['file_name']} on {str(earlier['handled_at'])[:19]})"
        self.fail(context, TaskSummary(self.direction, rows_rejected=1, message=f"{name} rejected: {reason}{again}; {where}",
                                       extra=extra))


def _first_applied(applied: dict[str, Any]) -> str:
    return (f"already applied on {str(applied['applied_at'])[:19]} by run {applied['run_id']} "
            f"as {applied['file_name']}")


def restated_anomalies(applied: dict[str, Any]) -> list[Anomaly]:
    """The refused rows and conflicts recorded when the content was first applied: from the
    ledger's ``Anomalies``, or, for a file applied by release 0.1, from its errors file."""
    if applied.get("anomalies"):
        return [Anomaly(**a) for a in json.loads(applied["anomalies"]).get("anomalies", [])]
    if not applied.get("errors_csv"):
        return []
    return [
        Anomaly("row", f"row {r.get('row', '')}", "earlier_refusal", r.get("reason", ""))
        for r in csv.DictReader(io.StringIO(applied["errors_csv"], newline=""))
    ]
