"""Moodle -> PowerPro: completion files on FTP become unit outcomes (SPEC section 5)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import posixpath
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from itertools import chain, repeat
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NoReturn

from powerpro_moodle.formats.completion_file import (
    ORIGINAL_TEXT,
    UnreadableFile,
    errors_csv,
    errors_file_name,
    write_errors_csv,
)
from powerpro_moodle.formats.inbox import first_look, second_look, wait_before_second_look
from powerpro_moodle.formats.outcomes import PlanTotals, describe_plan, units_for_courses
from powerpro_moodle.formats.settings import Settings
from powerpro_moodle.formats.summary import REJECTED, WARNING, Anomaly, AnomalyLog, TaskSummary, plural
from powerpro_moodle.operators.base import PowerProMoodleOperator, StepClock, as_bool, fewer_collections
from powerpro_moodle.sync_log import SUMMARY_KEY

if TYPE_CHECKING:
    import pandas as pd

    from powerpro_moodle.scratch import Partitions, Runs

#: Files one run takes on: one mapped task each, well under Airflow's max_map_length (1024).
#: The rest wait in the inbox for the next run, oldest name first.
MAX_FILES_PER_RUN = 500

#: How much of a completion file (bytes) is planned at a time: a file is split into parts of about
#: this size by student, and the memory a task needs is bounded by one part (and one chunk of
#: :data:`~powerpro_moodle.formats.completion_chunks.CHUNK_ROWS` rows), whatever the file's size.
PART_BYTES = 4 << 20

#: The columns of a good row spilled to scratch (:attr:`~powerpro_moodle.formats.completion_chunks.Chunk.good`).
_SPILLED = ("row", "user", "course", "completed", "competent", "text")

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

    A file of any size is streamed (issue 10): it is downloaded to the task's temporary folder,
    hashed as it arrives, read a chunk at a time (``completion_chunks``) and spilled there by
    student; the ids it names are staged with multi-row INSERTs and PowerPro's rows for them read
    by one query each, spilled the same way; each part (about :data:`PART_BYTES` of the file,
    every row of its students) is then planned on its own (``outcome_frames``), its outcomes
    staged, and all of them applied by one set-based UPDATE. Memory is bounded by a chunk and a
    part, not by the file. What still grows with the file: the errors file, held whole for the
    ledger (``ErrorsCsv``) and the upload (it grows with the refused rows, not the others); the
    units of the courses it names (bounded by PowerPro's catalogue); and one record, if a single
    quoted cell spans many lines (a quote never closed holds the rest of the file before the file
    is rejected). The temporary folder needs about twice the file's size.

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
        settings = self.settings()
        not_live = self.preview_reason(settings)
        summary = self._sync(context, settings, as_bool("dry_run", self.dry_run) or not_live is not None)
        if not_live:
            summary.message = f"{summary.message}; {not_live}"
            summary.extra["not_live"] = True
        return summary

    def _sync(self, context: Any, settings: Settings, dry_run: bool) -> TaskSummary:
        name = posixpath.basename(self.file_name)
        path = posixpath.join(settings.completions_folder, name)
        ti = context["ti"]
        ids = {"RunId": ti.run_id, "FileName": name}
        clock = StepClock()
        with self.ftp() as ftp, tempfile.TemporaryDirectory(prefix="powerpro_moodle_") as scratch, fewer_collections():
            before = ftp.stat(path)
            if before is None:
                return self._gone(context, ftp, settings, name, ids)
            local = Path(scratch) / "completions.csv"
            with local.open("wb") as out:
                hashing = _Hashing(out)
                ftp.download(path, hashing)
            clock.lap("download")
            if before.size is not None and hashing.size != before.size:
                return self._changed(name, "while it was being downloaded; nothing was written")
            content_hash = hashing.sha256.hexdigest()
            file = {**ids, "DagId": ti.dag_id, "ContentHash": content_hash, "path": path}
            rejected = self.db.query("select_rejected_content", {"ContentHash": content_hash})
            if rejected:
                earlier = rejected[0]
                self._reject(context, ftp, settings, file, earlier["reason"], dry_run, earlier=earlier)
            applied = self.db.query("select_applied_file", {"ContentHash": content_hash})
            if applied:
                return self._seen_again(ftp, settings, file, applied[0], dry_run)
            clock.lap("ledger")
            try:
                parsed = self._read(local, Path(scratch), settings, context)
                clock.lap("read")
            except UnreadableFile as err:
                self._reject(context, ftp, settings, file, str(err), dry_run)
            target = None if dry_run else ftp.reserve(settings.processed_folder, name)

            def unchanged() -> bool:
                return ftp.stat(path) == before

            try:
                with _closing_on_error(parsed):
                    plan, errors = self._apply(context, settings, file, parsed, target, dry_run, unchanged,
                                               clock=clock)
            except _FileChanged:
                return self._changed(name, "while it was being applied; nothing was written")
            extra: dict[str, Any] = {"file": name, "sha256": content_hash, "dry_run": dry_run}
            message = f"{name}: {describe_plan(plan, parsed.rows_read, dry_run)}"
            if not dry_run:
                if unchanged():
                    extra.update(self._file_away(ftp, file, target, errors))
                    clock.lap("file_away")
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
            extra={**extra, "conflicts": plan.anomalies.count(code="conflict"), "seconds": clock.rounded()},
        )

    def _read(self, local: Path, scratch: Path, settings: Settings, context: Any) -> _SpilledFile:
        """Read the downloaded file once, a chunk at a time: its bad rows go to the errors runs
        and the anomalies, its good rows to the parts (by student), the ids it names to a list
        that is staged in the database later.

        :raises UnreadableFile: the file cannot be read as a whole.
        """
        import numpy as np
        import pandas as pd

        from powerpro_moodle.formats.completion_chunks import CompletionReader
        from powerpro_moodle.scratch import Partitions, Runs, objects, part_of

        size = local.stat().st_size
        spilled = _SpilledFile(
            parts=Partitions(scratch, -(-size // PART_BYTES)), keys=Partitions(scratch / "keys", 1),
            errors=Runs(scratch, "errors"), anomalies=AnomalyLog(),
        )
        spilled.keys.folder.mkdir()
        bounds = {
            "not_before": datetime.combine(settings.earliest_completion_date, clock(0), tzinfo=settings.tz),
            "not_after": _run_start(context) + timedelta(hours=24),
        }
        with local.open("rb") as binary, CompletionReader(binary, cells=False, **bounds) as reader, \
                spilled.errors.run() as run, _closing_on_error(spilled):
            for chunk in reader:
                for bad in chunk.bad:
                    position = (0, bad.row, 0, 0)
                    spilled.anomalies.add(bad.to_anomaly(), position)
                    spilled.add_error(run, position, {**bad.original, "row": bad.row, "reason": bad.reason})
                good = chunk.good
                if len(good):
                    # Each distinct id is keyed, hashed to its part and staged once per chunk.
                    user_codes, user_ids, user_keys = _distinct_keys(good["user"].to_numpy())
                    course_codes, course_ids, course_keys = _distinct_keys(good["course"].to_numpy())
                    part = part_of(user_keys, spilled.parts.parts)[user_codes]
                    # The rest of a row (its cells, its grades) is in its text, for the few that need it.
                    spilled.parts.add("rows", {c: good[c].to_numpy() for c in _SPILLED}, part=part,
                                      packed=("user", "course"),
                                      factorized={"user": (user_codes, user_ids), "course": (course_codes, course_ids)})
                    for kind, keys in (("users", user_keys), ("courses", course_keys)):
                        distinct = objects(pd.unique(keys))
                        spilled.keys.add(kind, {"key": distinct}, part=np.zeros(len(distinct), np.int64))
            spilled.header, spilled.named, spilled.rows_read = reader.header, reader.named, reader.rows_read
            spilled.positions = reader.positions
        return spilled

    def _apply(self, context: Any, settings: Settings, file: dict[str, Any], parsed: _SpilledFile,
               target: str | None, dry_run: bool, unchanged: Callable[[], bool],
               clock: StepClock | None = None) -> tuple[PlanTotals, bytes | None]:
        """Read what the file needs, decide, write: one transaction (rolled back on a dry run, or
        when the file changed on the server meanwhile).

        The ids the file names are staged, and PowerPro's rows for them read, in one set-based
        query each (streamed into the parts); each part is then planned on its own, its outcomes
        staged in multi-row INSERTs, and all of them applied by one set-based UPDATE.

        :return: the plan's counts and anomalies, and the errors file (``None`` when no row was refused).
        """
        batch = uuid.uuid4().hex
        db = self.db
        clock = clock or StepClock()
        with db.transaction(commit=not dry_run) as conn:
            users, courses = (parsed.keys.read(kind, 0) or {"key": []} for kind in ("users", "courses"))
            db.insert_rows(conn, "stage_completion_keys", chain(
                zip(repeat(batch), users["key"], repeat(""), strict=False),
                zip(repeat(batch), repeat(""), courses["key"], strict=False)))
            clock.lap("stage_keys")
            self._look_up(conn, parsed, batch, clock)
            course_units = units_for_courses(db.fetch(conn, "select_completion_course_units", {"BatchId": batch}))
            clock.lap("select_course_units")
            plan = PlanTotals(anomalies=parsed.anomalies)
            staged = 0
            for part in range(parsed.parts.parts):
                writes = self._plan_part(parsed, part, course_units, settings, plan)
                clock.lap("plan")
                staged += db.insert_rows(conn, "stage_outcomes", zip(
                    repeat(batch), writes["enrolment_unit_id"].tolist(), writes["outcome_code"].tolist(),
                    _iso_dates(writes["outcome_date"].to_numpy()), strict=False))
                clock.lap("stage_outcomes")
            now = _local_now(settings)
            plan.rows_written = staged
            if staged:
                written = db.run(conn, "apply_staged_outcomes", {"BatchId": batch, "ModifiedAt": now})
                if written != staged:
                    # Someone entered outcomes between the read and the write: the guarded UPDATE
                    # left theirs alone. Say so rather than report a count that is not true.
                    self.log.warning("%d of %d outcomes were not written: their rows changed meanwhile",
                                     staged - written, staged)
                    plan.rows_written = written
            clock.lap("apply_staged_outcomes")
            db.run(conn, "delete_completion_stage", {"BatchId": batch})
            clock.lap("delete_stage")
            errors = parsed.errors_file() if parsed.errors else None
            clock.lap("errors_file")
            if not dry_run:
                db.run(conn, "record_applied_file", {
                    "ContentHash": file["ContentHash"], "FileName": file["FileName"], "AppliedAt": now,
                    "DagId": file["DagId"], "RunId": file["RunId"],
                    "RowsRead": parsed.rows_read, "RowsWritten": plan.rows_written,
                    "RowsSkipped": plan.rows_skipped + parsed.duplicates, "RowsRejected": plan.rows_rejected,
                    "ErrorsCsv": errors.decode("utf-8") if errors else None,
                    "Anomalies": json.dumps(plan.anomalies.bounded(REJECTED), ensure_ascii=False, default=str),
                })
                self._record(conn, settings, file, "applied", target)
                if not unchanged():
                    raise _FileChanged
        clock.lap("ledger_and_commit")
        return plan, errors

    def _look_up(self, conn: Any, parsed: _SpilledFile, batch: str, clock: StepClock) -> None:
        """The students and EnrolmentUnit rows of the staged ids, each read by one query and
        spilled to the part of its student as it streams."""
        import numpy as np
        import pandas as pd

        from powerpro_moodle.scratch import objects, part_of

        for name, kind, key in (("select_completion_students", "students", "user_key"),
                                ("select_completion_enrolment_units", "eus", "student_number")):
            for columns, rows in self.db.stream(conn, name, {"BatchId": batch}):
                values = {c: np.fromiter(v, np.int64, len(v)) if c.endswith("_id") else objects(v)
                          for c, v in zip(columns, zip(*rows, strict=True), strict=True)}
                codes, uniques = pd.factorize(values[key], use_na_sentinel=True)
                part = part_of(_keys(objects([*uniques, None])), parsed.parts.parts)[codes]
                # Text that repeats (a status, a unit, a student's six units) is spilled as codes.
                parsed.parts.add(kind, values, part=part, packed=[c for c in columns if not c.endswith("_id")])
            clock.lap(name)

    def _plan_part(self, parsed: _SpilledFile, part: int, course_units: dict[str, list[str]], settings: Settings,
                   plan: PlanTotals) -> pd.DataFrame:
        """Plan one part (every row of its students): its anomalies and errors-file entries join
        the file's, its counts the plan's. :return: its writes."""
        import pandas as pd

        from powerpro_moodle.formats.completion_chunks import Rows, object_frame, settle_duplicates
        from powerpro_moodle.formats.outcome_frames import EU_COLUMNS, plan_rows, student_candidates
        from powerpro_moodle.scratch import objects

        spilled, students, eus = (parsed.parts.read(kind, part) for kind in ("rows", "students", "eus"))
        if spilled is None:
            return pd.DataFrame({c: [] for c in ("enrolment_unit_id", "outcome_code", "outcome_date")})
        rows = Rows(object_frame(spilled), parsed.named, parsed.positions)
        keep, duplicates, conflicts = settle_duplicates(rows)
        parsed.duplicates += duplicates
        rows = rows.take(keep)
        found: dict[str, list[str]] = {}
        if students is not None:
            for key, number in zip(students["user_key"], students["student_number"], strict=True):
                found.setdefault(key, []).append(number)
        eu = object_frame({c: eus[c] if eus is not None else objects([]) for c in EU_COLUMNS})
        planned = plan_rows(rows, student_candidates(found), course_units, eu, settings.outcome_rules, settings.tz,
                            wanted=plan.anomalies.wants)
        entries = [((0, bad.row, 0, 0), bad.to_anomaly(), {**bad.original, "row": bad.row, "reason": bad.reason})
                   for bad in conflicts]
        entries += [(n.position, n.anomaly, n.error) for n in planned.notes]
        entries.sort(key=lambda e: e[0])
        with parsed.errors.run() as run:
            for position, anomaly, error in entries:
                plan.anomalies.add(anomaly, position)
                if error is not None:
                    parsed.add_error(run, position, error)
        for code, n in planned.unsaid.items():
            plan.anomalies.count_unsaid(WARNING, code, n)
        plan.up_to_date += planned.up_to_date
        plan.not_completed += planned.not_completed
        plan.not_yet_competent += planned.not_yet_competent
        plan.superseded += planned.superseded
        return planned.writes

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


@contextmanager
def _closing_on_error(spilled: _SpilledFile) -> Iterator[None]:
    """Close the scratch files a failed step left open (the folder goes with the task's try)."""
    try:
        yield
    except BaseException:
        spilled.parts.close()
        spilled.keys.close()
        raise


class _Hashing:
    """A file object that writes through to ``out`` and hashes (SHA-256) and counts what passes."""

    def __init__(self, out: IO[bytes]) -> None:
        self.out = out
        self.sha256 = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.sha256.update(data)
        self.size += len(data)
        return self.out.write(data)


@dataclass
class _SpilledFile:
    """A completion file read once and spilled to the task's scratch folder.

    :param parts: the good rows by student (``rows``), later the students (``students``) and
        EnrolmentUnit rows (``eus``) they name.
    :param keys: the (user, course) keys each chunk names, to stage.
    :param errors: the errors-file entries, in runs by position.
    :param anomalies: every anomaly, bounded.
    """

    parts: Partitions
    keys: Partitions
    errors: Runs
    anomalies: AnomalyLog
    header: Sequence[str] = ()
    named: Sequence[tuple[int, str]] = ()
    positions: dict[str, int] = field(default_factory=dict)
    rows_read: int = 0
    duplicates: int = 0
    original_text: bool = False

    def add_error(self, run: Any, position: tuple[int, ...], entry: dict[str, Any]) -> None:
        self.original_text = self.original_text or bool(entry.get(ORIGINAL_TEXT))
        run.add(position, entry)

    def errors_file(self) -> bytes:
        buf = io.StringIO(newline="")
        write_errors_csv(buf, self.header, self.errors.merged(), self.original_text)
        return buf.getvalue().encode("utf-8")


def _iso_dates(dates: Any) -> list[str]:
    """Dates as ``YYYY-MM-DD`` (a DATE literal SQL Server and SQLite read alike), each made once."""
    import pandas as pd

    codes, uniques = pd.factorize(dates)
    return list(_column([u.isoformat() for u in uniques])[codes])


def _distinct_keys(values: Any) -> tuple[Any, Any, Any]:
    """Ids already stripped as (codes, distinct ids, :func:`~powerpro_moodle.formats.ids.id_key`
    of each distinct id), ``pd.factorize``'s codes and distinct ids: ``keys[codes]`` are the ids' keys."""
    import pandas as pd

    codes, uniques = pd.factorize(values)
    return codes, uniques, _column(list(map(str.upper, uniques)))


def _keys(values: Any) -> Any:
    """:func:`~powerpro_moodle.formats.ids.id_key` of each value."""
    from powerpro_moodle.formats.ids import id_key

    try:
        return _column(list(map(str.upper, map(str.strip, values))))
    except TypeError:  # a None among them
        return _column([id_key(v) for v in values])


def _column(values: Sequence[Any]) -> Any:
    """Values as an array of Python objects (ints stay ints, for the database and the JSON)."""
    import numpy as np

    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _no_enrolment_units(columns: Sequence[str]) -> pd.DataFrame:
    from powerpro_moodle.formats.completion_chunks import object_frame

    return object_frame({c: _column([]) for c in columns})
