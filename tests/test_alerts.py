"""Failure emails through a real SMTP server on loopback (aiosmtpd) and real DAG runs: one email
per failed task (never for a retry), to the ``alert_emails`` setting, with the sync log message
and a link to the task; no email when nobody is listed; an SMTP server that is down changes
nothing about what the run shows."""

from __future__ import annotations

import email
import json
import socket
from email import policy

import pytest
from test_provisioning_dag import school  # noqa: F401 - the fixture

pytestmark = pytest.mark.dagrun
DAG_ID = "powerpro_moodle_provisioning"


class Inbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.messages.append((envelope.rcpt_tos, email.message_from_bytes(envelope.content, policy=policy.default)))
        return "250 OK"


def smtp_connection(port: int) -> str:
    return json.dumps({"conn_type": "smtp", "host": "127.0.0.1", "port": port,
                       "extra": {"disable_tls": True, "disable_ssl": True, "from_email": "moodle-sync@rto.example",
                                 "timeout": 5, "retry_limit": 1}})


@pytest.fixture
def smtp(monkeypatch):
    from aiosmtpd.controller import Controller

    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", smtp_connection(port))
    yield inbox
    controller.stop()


def free_port() -> int:
    """A port nothing listens on (the OS hands out a fresh one next)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def unreachable_ftp(monkeypatch):
    port = free_port()
    monkeypatch.setenv("AIRFLOW_CONN_MOODLE_FTP", f"ftp://moodle:pw@127.0.0.1:{port}")
    return port


def export_rows(pp):
    return [r for r in pp.sync_log() if r["TaskId"] == "export_users"]


def test_a_failed_task_emails_the_listed_addresses_once(school, smtp, unreachable_ftp, settings, run_dag):  # noqa: F811
    settings(alert_emails=["it@rto.example", "data@rto.example"])
    dr = run_dag(DAG_ID)
    assert dr.state == "failed"
    rows = export_rows(school)
    assert [r["Status"] for r in rows] == ["up_for_retry", "failed"]
    (recipients, message), = smtp.messages  # the retry sent nothing; the final failure one email
    assert sorted(recipients) == ["data@rto.example", "it@rto.example"]
    assert message["From"] == "moodle-sync@rto.example"
    assert message["Subject"] == "Moodle sync failed: powerpro_moodle_provisioning / export_users"
    body = message.get_body(("html",)).get_content()
    assert rows[-1]["Message"] in body.replace("&#x27;", "'").replace("&quot;", '"')
    assert f"/dags/powerpro_moodle_provisioning/runs/{dr.run_id.replace('+', '%2B').replace(':', '%3A')}" \
           "/tasks/export_users" in body
    assert "Open the task in Airflow" in body and "clear the task" in body


def test_no_email_when_nobody_is_listed(school, smtp, unreachable_ftp, run_dag):  # noqa: F811
    assert run_dag(DAG_ID).state == "failed"
    assert smtp.messages == []
    assert [r["Status"] for r in export_rows(school)] == ["up_for_retry", "failed"]


def test_an_smtp_server_that_is_down_changes_nothing_about_the_failure(school, unreachable_ftp, settings,  # noqa: F811
                                                                        monkeypatch, run_dag):
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", smtp_connection(free_port()))
    settings(alert_emails=["it@rto.example"])
    dr = run_dag(DAG_ID)
    assert dr.state == "failed"
    final = export_rows(school)[-1]
    assert final["Status"] == "failed"
    assert final["Message"].startswith(f"failed: the Moodle FTP server 127.0.0.1:{unreachable_ftp} refused the "
                                       "connection"), "the task's own error, not the email's"
