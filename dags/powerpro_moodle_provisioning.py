"""
### PowerPro → Moodle provisioning

Puts the students whose enrolments are flagged for Moodle into the right Moodle **cohort**.

1. **ensure_sync_tables**: creates the sync's own `MoodleSyncExportState` table if it is
   missing (never touches PowerPro's tables).
2. **export_users**: reads the enrolments with *both* "provision to Moodle" flags ticked (Course
   and Enrolment) and a provisioned status, and uploads Moodle's *Upload users* CSV
   (`powerpro_users_<UTC time>.csv`) to the Moodle FTP users folder. Only new or changed
   students are sent; courses without a usable cohort and students without an email or with a
   clashing username are reported in the **E-Learning Sync Log**, not exported.
   A student the sync sent before who keeps no Moodle access (withdrawn, cancelled, deferred,
   a flag cleared, completed more than `keep_access_days` ago) is sent once with
   `suspended=1`; one who gets access back is reactivated. A run that would suspend more than
   `hold_suspension_percent` % of the active students **and** more than
   `hold_suspension_minimum` students is **held** (fails, sends nothing) until it is
   triggered with `approve_mass_suspension`.

**Trigger with config:** `dry_run` previews who would be created, changed, suspended and
reactivated, without uploading or recording; `full_resync` sends every student again;
`approve_mass_suspension` lets a held run go ahead. Re-running any task is safe.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param
from powerpro_moodle.config import default_args, schedule
from powerpro_moodle.operators.base import EnsureSyncTablesOperator
from powerpro_moodle.operators.provisioning import PROVISIONING_TABLES, MoodleUsersExportOperator

with DAG(
    dag_id="powerpro_moodle_provisioning",
    description="PowerPro enrolments flagged for Moodle → Moodle Upload users CSV (cohorts) over FTP",
    schedule=schedule("provisioning"),
    start_date=pendulum.datetime(2026, 1, 1, tz="Australia/Sydney"),
    catchup=False,
    max_active_runs=1,
    default_args=default_args("Provisioning"),
    render_template_as_native_obj=True,
    params={
        "dry_run": Param(False, type="boolean", description="Compute and log everything; upload and record nothing."),
        "full_resync": Param(False, type="boolean", description="Send every provisioned student, changed or not."),
        "approve_mass_suspension": Param(
            False,
            type="boolean",
            description="Let a run that the mass-suspension hold stopped go ahead: it suspends more students "
            "than hold_suspension_percent and hold_suspension_minimum allow. Check the held run's sync log "
            "Details (or a dry run) first.",
        ),
    },
    tags=["powerpro", "moodle", "provisioning"],
    doc_md=__doc__,
) as dag:
    ensure_sync_tables = EnsureSyncTablesOperator(
        task_id="ensure_sync_tables", tables=PROVISIONING_TABLES, direction="Provisioning"
    )
    export_users = MoodleUsersExportOperator(
        task_id="export_users",
        dry_run="{{ params.dry_run }}",
        full_resync="{{ params.full_resync }}",
        approve_mass_suspension="{{ params.approve_mass_suspension }}",
    )
    ensure_sync_tables >> export_users
