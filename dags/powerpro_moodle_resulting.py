"""
### Moodle → PowerPro resulting

Writes Moodle course completions into PowerPro as **unit outcomes**, marked *Moodle sync*.

1. **ensure_sync_tables**: creates the sync's own ledger and scratch tables if missing.
2. **list_completion_files**: lists the `*.csv` completion files Moodle left in the FTP
   completions folder (`/from_moodle` by default).
3. **import_completion_file**: one task per file (the file name shows in the UI). Applies the
   file's outcomes in one transaction, then moves it to `processed/` with an `.errors.csv` beside
   it listing each refused row and conflict. An unreadable file goes to `rejected/` and its task
   fails (red) without retry; the other files carry on.

An outcome entered by a person is **never overwritten**: it is reported as a conflict in the
**E-Learning Sync Log**. A file is applied **exactly once**, even if delivered again or re-run.

**Trigger with config:** `dry_run` reads and decides everything, writes and moves nothing.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param
from powerpro_moodle.config import default_args, schedule
from powerpro_moodle.operators.base import EnsureSyncTablesOperator
from powerpro_moodle.operators.resulting import (
    RESULTING_TABLES,
    ImportCompletionFileOperator,
    ListCompletionFilesOperator,
)

with DAG(
    dag_id="powerpro_moodle_resulting",
    description="Moodle completion files on FTP → PowerPro unit outcomes, exactly once",
    schedule=schedule("resulting"),
    start_date=pendulum.datetime(2026, 1, 1, tz="Australia/Sydney"),
    catchup=False,
    max_active_runs=1,
    default_args=default_args("Resulting"),
    render_template_as_native_obj=True,
    params={
        "dry_run": Param(False, type="boolean", description="Read and decide everything; write, record and move nothing."),
    },
    tags=["powerpro", "moodle", "resulting"],
    doc_md=__doc__,
) as dag:
    ensure_sync_tables = EnsureSyncTablesOperator(
        task_id="ensure_sync_tables", tables=RESULTING_TABLES, direction="Resulting"
    )
    list_completion_files = ListCompletionFilesOperator(task_id="list_completion_files")
    import_completion_file = ImportCompletionFileOperator.partial(
        task_id="import_completion_file",
        dry_run="{{ params.dry_run }}",
        map_index_template="{{ task.file_name }}",
    ).expand(file_name=list_completion_files.output)
    ensure_sync_tables >> list_completion_files
