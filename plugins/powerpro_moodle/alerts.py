"""Failure emails (SPEC section 8): when a task of either DAG fails for good (a held run
included; never on a retry), the addresses in the setting ``alert_emails`` get an email through
the SMTP provider's notifier and Airflow's ``smtp_default`` connection (sender: its
``from_email``). A failing alert is logged and never hides the task's own error."""

from __future__ import annotations

import logging
from typing import Any

from powerpro_moodle.formats.alert_email import FailedTask, alert_html, alert_subject
from powerpro_moodle.rto_settings import alert_recipients

log = logging.getLogger(__name__)

SMTP_CONN_ID = "smtp_default"


def failed_task(context: dict[str, Any], direction: str) -> FailedTask:
    from powerpro_moodle.sync_log import build_row

    ti = context["ti"]
    row = build_row(context, direction=direction, status="failed")
    map_index = getattr(ti, "map_index", -1)
    return FailedTask(
        dag_id=ti.dag_id, task_id=ti.task_id, run_id=ti.run_id, try_number=ti.try_number,
        logged_at=str(row["LoggedAt"]), message=row["Message"], link=ti.log_url,
        file=getattr(context.get("task"), "file_name", None) if map_index is not None and map_index >= 0 else None,
    )


def send_failure_alert(context: dict[str, Any], *, direction: str) -> None:
    """The ``on_failure_callback`` that emails staff. Never raises."""
    try:
        recipients = alert_recipients()
        if not recipients:
            return
        from airflow.providers.smtp.notifications.smtp import SmtpNotifier

        task = failed_task(context, direction)
        # .notify() sends the text as given: a "{{" in an error message is not run as a template.
        SmtpNotifier(to=recipients, smtp_conn_id=SMTP_CONN_ID, subject=alert_subject(task),
                     html_content=alert_html(task)).notify(context)
        log.info("Failure alert sent to %s", ", ".join(recipients))
    except Exception:
        log.exception("Could not send the failure alert email; the task's own error above is unchanged")
