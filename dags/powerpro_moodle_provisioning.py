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

**Trigger with config:** `dry_run` computes and logs without uploading or recording;
`full_resync` sends every student again. Re-running any task is safe.
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
    )
    ensure_sync_tables >> export_users
