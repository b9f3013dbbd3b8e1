"""PowerPro -> Moodle: the *Upload users* export (SPEC section 4)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from powerpro_moodle.formats.summary import TaskSummary
from powerpro_moodle.formats.users_file import (
    EnrolmentRecord,
    ExportedStudent,
    describe_export,
    plan_users_export,
    users_csv,
    users_file_name,
)
from powerpro_moodle.operators.base import PowerProMoodleOperator, as_bool

#: The sync's own tables the provisioning DAG uses.
PROVISIONING_TABLES = ["MoodleSyncExportState"]

def _run_time_utc(context: Any) -> datetime:
    dag_run = context.get("dag_run")
    for attr in ("run_after", "logical_date"):
        value = getattr(dag_run, attr, None)
        if value is not None:
            return value.astimezone(UTC)
    return datetime.now(UTC)


class MoodleUsersExportOperator(PowerProMoodleOperator):
    """Export the students flagged for Moodle as Moodle's *Upload users* CSV over FTP.

    Queries ``select_provisionable_enrolments.sql``, plans the delta against
    ``MoodleSyncExportState``, uploads ``powerpro_users_<UTC time>.csv`` to the users folder
    (atomically: a ``.part`` name renamed when complete), then records what was sent.

    :param dry_run: compute and log everything; upload and record nothing. (templated)
    :param full_resync: send every exportable student, changed or not. (templated)
    """

    template_fields: Sequence[str] = ("dry_run", "full_resync")
    direction = "Provisioning"
    ui_color = "#fce8e6"

    def __init__(self, *, dry_run: Any = False, full_resync: Any = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dry_run = dry_run
        self.full_resync = full_resync

    def sync(self, context: Any) -> TaskSummary:
        dry_run = as_bool("dry_run", self.dry_run)
        full_resync = as_bool("full_resync", self.full_resync)
        settings = self.settings()

        rows = self.db.query(
            "select_provisionable_enrolments",
            {"ProvisionedStatuses": [s.upper() for s in settings.provisioned_statuses]},
        )
        exported = {
            r["student_number"]: ExportedStudent(
                r["student_number"], r["username"], r["fingerprint"].strip(), bool(r["suspended"])
            )
            for r in self.db.query("select_export_state")
        }
        plan = plan_users_export(
            (EnrolmentRecord(**r) for r in rows),
            exported,
            auth=settings.moodle_auth,
            username_rule=settings.username_rule,
            full_resync=full_resync,
        )

        run_time = _run_time_utc(context)
        file_name = users_file_name(run_time)
        remote_path = None
        if plan.to_send and not dry_run:
            with self.ftp() as ftp:
                remote_path = ftp.upload_atomic(settings.users_folder, file_name, users_csv(plan.to_send))
            self.log.info("Uploaded %s (%d students)", remote_path, len(plan.to_send))
            # Only now, with the file safely on the server, is the export recorded. A re-run of
            # this same DAG run after a failure here re-uploads under the same name, replacing
            # the earlier copy, so one change never gives two files.
            exported_at = datetime.now(settings.tz).replace(tzinfo=None, microsecond=0)
            with self.db.transaction() as conn:
                self.db.run(
                    conn,
                    "record_exported_student",
                    [
                        {
                            "StudentNumber": u.student_number,
                            "Username": u.username,
                            "Fingerprint": u.fingerprint,
                            "Suspended": u.suspended,
                            "Cohorts": ",".join(u.cohorts),
                            "FileName": file_name,
                            "ExportedAt": exported_at,
                        }
                        for u in plan.to_send
                    ],
                )

        return TaskSummary(
            self.direction,
            rows_read=plan.rows_read,
            rows_written=0 if dry_run else len(plan.to_send),
            rows_skipped=len(plan.unchanged),
            rows_rejected=plan.rejected,
            message=describe_export(plan, file_name, dry_run),
            anomalies=plan.anomalies,
            extra={
                "dry_run": dry_run,
                "full_resync": full_resync,
                "file": remote_path,
                "would_send" if dry_run else "sent": [u.student_number for u in plan.to_send][:1000],
            },
        )
