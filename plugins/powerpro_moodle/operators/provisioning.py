"""PowerPro -> Moodle: the *Upload users* export (SPEC section 4)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from itertools import repeat
from typing import Any

from powerpro_moodle.formats.lifecycle import (
    LifecyclePlan,
    check_hold,
    describe_export,
    describe_hold,
    plan_lifecycle,
)
from powerpro_moodle.formats.settings import Settings
from powerpro_moodle.formats.summary import TaskSummary
from powerpro_moodle.formats.users_file import users_csv, users_file_name
from powerpro_moodle.operators.base import PowerProMoodleOperator, StepClock, as_bool, fewer_collections

#: The sync's own tables the provisioning DAG uses.
PROVISIONING_TABLES = ["MoodleSyncExportState"]


def _run_time_utc(context: Any) -> datetime:
    """When this run started (UTC): it names the users file, so a scheduled run at 14:21 uploads
    ``…T0321…Z.csv``, not its schedule slot's time. Every try of one run shares it, so a retry
    after a failed upload replaces the earlier copy instead of adding a second file."""
    dag_run = context.get("dag_run")
    for attr in ("start_date", "run_after", "logical_date"):
        value = getattr(dag_run, attr, None)
        if value is not None:
            return value.astimezone(UTC)
    return datetime.now(UTC)


class MoodleUsersExportOperator(PowerProMoodleOperator):
    """Export the students flagged for Moodle as Moodle's *Upload users* CSV over FTP, and
    suspend, reactivate or rename the ones the sync sent before (SPEC sections 4 and 4b).

    Queries ``select_export_enrolments.sql`` and ``select_export_state_keys.sql`` once each, lets
    :func:`~powerpro_moodle.formats.lifecycle_frames.split_students` decide the plain students over
    columns and :func:`~powerpro_moodle.formats.lifecycle.plan_lifecycle` the rest, uploads
    ``powerpro_users_<UTC time>.csv`` to the users folder (atomically: a ``.part`` name renamed
    when complete), then records what was sent. A run that would suspend too many students is
    held: it fails without retry, uploading and recording nothing.

    :param dry_run: compute and log everything; upload and record nothing. (templated)
    :param full_resync: send every student again, changed or not; suspended ones suspended. (templated)
    :param approve_mass_suspension: let a run the mass-suspension hold stops go ahead. (templated)
    """

    template_fields: Sequence[str] = ("dry_run", "full_resync", "approve_mass_suspension")
    direction = "Provisioning"
    ui_color = "#fce8e6"

    def __init__(
        self, *, dry_run: Any = False, full_resync: Any = False, approve_mass_suspension: Any = False, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.dry_run = dry_run
        self.full_resync = full_resync
        self.approve_mass_suspension = approve_mass_suspension

    def sync(self, context: Any) -> TaskSummary:
        with fewer_collections():  # a run over 100,000 students makes millions of short-lived objects
            return self._sync(context)

    def _sync(self, context: Any) -> TaskSummary:
        full_resync = as_bool("full_resync", self.full_resync)
        approved = as_bool("approve_mass_suspension", self.approve_mass_suspension)
        settings = self.settings()
        not_live = self.preview_reason(settings)
        dry_run = as_bool("dry_run", self.dry_run) or not_live is not None
        run_time = _run_time_utc(context)

        clock = StepClock()
        plan = self._plan(settings, run_time.astimezone(settings.tz).date(), full_resync, clock)
        hold = check_hold(plan, settings)
        if hold.held and not approved and not dry_run:
            self.fail(context, self._summary(plan, describe_hold(hold), dry_run, full_resync, sent=False,
                                             held=True))

        file_name = users_file_name(run_time)
        remote_path = None
        if plan.sent_total and not dry_run:
            data = users_csv(plan.to_send, bulk=plan.bulk_new)
            clock.lap("write_file")
            with self.ftp() as ftp:
                remote_path = ftp.upload_atomic(settings.users_folder, file_name, data)
            clock.lap("upload")
            self.log.info("Uploaded %s (%d students)", remote_path, plan.sent_total)
            # Only now, with the file safely on the server, is the export recorded. A re-run of
            # this same DAG run after a failure here re-uploads under the same name, replacing
            # the earlier copy, so one change never gives two files.
            self._record(plan, file_name, datetime.now(settings.tz).replace(tzinfo=None, microsecond=0))
            clock.lap("record")

        message = describe_export(plan, file_name, dry_run, hold, approved)
        if not_live:
            message = f"{message}; {not_live}"
        summary = self._summary(plan, message, dry_run, full_resync, sent=not dry_run)
        summary.extra["file"] = remote_path
        summary.extra["seconds"] = clock.rounded()
        if not_live:
            summary.extra["not_live"] = True
        return summary

    def _plan(self, settings: Settings, run_date: date, full_resync: bool, clock: StepClock) -> LifecyclePlan:
        """Read the enrolments and the state once each, decide the plain students over columns,
        and the rest one by one (reading their full state rows)."""
        from powerpro_moodle.formats.lifecycle_frames import split_students, state_rows

        access_statuses = [s.upper() for s in (*settings.provisioned_statuses, *settings.keep_access_statuses)]
        enrolments = self.db.frame("select_export_enrolments", {"AccessStatuses": access_statuses})
        clock.lap("read_enrolments")
        state_keys = self.db.frame("select_export_state_keys")
        clock.lap("read_state")
        split = split_students(enrolments, state_keys, settings=settings, full_resync=full_resync)
        clock.lap("compare")
        state = state_rows(self.db.fetch_in("select_export_state", "StateNumbers", split.slow_state_numbers))
        slow = plan_lifecycle(split.slow_records(), state, settings=settings, run_date=run_date,
                              full_resync=full_resync)
        self.log.info("%d students decided over columns; %d enrolments and %d state rows of the others one by one",
                      split.decided, len(split.slow_enrolments), len(state))
        clock.lap("decide_one_by_one")
        return split.finish(slow)

    def _record(self, plan: LifecyclePlan, file_name: str, exported_at: datetime) -> None:
        """Record what the uploaded file sent: the rows the students had are deleted and the new
        ones inserted, in batches, in one transaction."""
        # In the order of insert_exported_student.sql's VALUES (…).
        rows: list[tuple[Any, ...]] = []
        replaced = []
        for change in plan.changes:
            sent = change.recorded
            replaced.append(change.state_number)
            rows.append((sent.student_number, sent.student_id, sent.username, sent.firstname, sent.lastname,
                         sent.alternatename, sent.email, sent.auth, sent.fingerprint, int(sent.suspended),
                         ",".join(sent.cohorts or ()), file_name, exported_at))
        if plan.bulk_new is not None:
            bulk = {name: plan.bulk_new[name].tolist() for name in plan.bulk_new.columns}
            rows.extend(zip(
                bulk["student_number"], map(int, bulk["student_id"]), bulk["username"], bulk["firstname"],
                bulk["lastname"], bulk["alternatename"], bulk["email"], bulk["auth"], bulk["fingerprint"],
                repeat(0), map(",".join, bulk["cohorts"]), repeat(file_name), repeat(exported_at),
            ))
        with self.db.transaction() as conn:
            self.db.run_in(conn, "delete_exported_students", "StateNumbers", replaced)
            self.db.insert_rows(conn, "insert_exported_student", rows)

    def _summary(
        self, plan: LifecyclePlan, message: str, dry_run: bool, full_resync: bool, *, sent: bool, held: bool = False
    ) -> TaskSummary:
        numbers = plan.sent_numbers(1000)
        return TaskSummary(
            self.direction,
            rows_read=plan.rows_read,
            rows_written=plan.sent_total if sent else 0,
            rows_skipped=plan.unchanged_total,
            rows_rejected=plan.rejected,
            message=message,
            anomalies=plan.anomalies,
            extra={
                "dry_run": dry_run,
                "full_resync": full_resync,
                **({"held": True} if held else {}),
                "sent" if sent else "would_send": numbers,
                "still_suspended": plan.still_suspended,
                **plan.details(),
            },
        )
