"""The failure email RTO staff receive (SPEC section 8): who it is about, what the E-Learning
Sync Log says, where to look. Pure: the Airflow edge (:mod:`powerpro_moodle.alerts`) sends it."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

#: What each DAG is called in words staff use.
DAG_TITLES = {
    "powerpro_moodle_provisioning": "PowerPro → Moodle provisioning (students into Moodle)",
    "powerpro_moodle_resulting": "Moodle → PowerPro resulting (unit outcomes into PowerPro)",
}


@dataclass(frozen=True)
class FailedTask:
    dag_id: str
    task_id: str
    run_id: str
    try_number: int
    logged_at: str  # the RTO's local time, as the sync log shows it
    message: str  # the sync log row's Message
    link: str  # the task instance in the Airflow UI
    file: str | None = None  # the completion file, for a mapped import


def alert_subject(task: FailedTask) -> str:
    what = "held for approval" if task.message.startswith("held:") else "failed"
    about = f" ({task.file})" if task.file else ""
    return f"Moodle sync {what}: {task.dag_id} / {task.task_id}{about}"


def alert_html(task: FailedTask) -> str:
    """The body, as HTML (every value escaped): what happened, what the sync log says, where to look."""
    title = DAG_TITLES.get(task.dag_id, task.dag_id)
    held = task.message.startswith("held:")
    if held:
        action = ("Nothing was uploaded or recorded. Check the students listed in the sync log; if the change "
                  "is right, trigger the DAG again with <b>approve_mass_suspension</b> set to true.")
    else:
        action = ("Nothing is lost: files stay on the server and outcomes are written once. Fix the cause the "
                  "message names, then clear the task in Airflow (or wait for the next scheduled run).")
    file_line = f"<tr><th align='left'>File</th><td>{escape(task.file)}</td></tr>" if task.file else ""
    return f"""<p>The Moodle sync task <b>{escape(task.task_id)}</b> of <b>{escape(title)}</b>
{'was held' if held else 'failed'} at {escape(task.logged_at)} (try {task.try_number}).</p>
<table>
<tr><th align='left'>What the E-Learning Sync Log says</th><td>{escape(task.message)}</td></tr>
{file_line}<tr><th align='left'>Run</th><td>{escape(task.run_id)}</td></tr>
</table>
<p>{action}</p>
<p><a href="{escape(task.link, quote=True)}">Open the task in Airflow</a> ({escape(task.link)})</p>
<p>The full row, with each record's reason, is in PowerPro (Web &gt; View &gt; E-Learning Sync Log) and on the
E-Learning Sync Log page in Airflow.</p>
"""
