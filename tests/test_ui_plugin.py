"""The E-Learning Sync Log in the Airflow UI: the plugin, its page and its JSON.

Most tests go through a real ``airflow api-server`` (simple auth manager, real users and
passwords, this repository's plugins folder, a seeded sync log: see ``airflow_server.py``);
the SQL, the rendering and the plugin's import cost are also checked in-process.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from datetime import date
from pathlib import Path

import httpx
import pytest
from powerpro_moodle.formats.sync_log_page import (
    COLUMNS,
    DayTotals,
    Filters,
    day_totals,
    file_like_pattern,
    iso_local,
    json_row,
    matches_file,
    render_page,
    task_instance_path,
)
from sync_log_sample import (
    FAILED_FILE,
    FAILED_MESSAGE,
    FAILED_RUN,
    MARKUP_MESSAGE,
    MARKUP_REASON,
    MARKUP_RUN,
    RESULTING,
    RETRY_RUN,
    SAME_SECOND,
    insert_rows,
)

pytest_plugins = ["airflow_server"]

ROOT = Path(__file__).resolve().parents[1]
API = "/powerpro-moodle/api/sync-log"
PAGE = "/powerpro-moodle/sync-log"
ISO_LOCAL = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?$")


def stored(server, sql: str = "SELECT * FROM ELearningSyncLog", *params) -> list[dict]:
    with sqlite3.connect(server.powerpro_db) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute(sql, params)]


def newest_first(rows: list[dict]) -> list[dict]:
    return sorted(rows, key=lambda r: (r["LoggedAt"], r["SyncLogID"]), reverse=True)


# --- authentication -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        pytest.param(PAGE, id="page"),
        pytest.param(API, id="json"),
        pytest.param("/powerpro-moodle/docs", id="docs"),
        pytest.param("/powerpro-moodle/redoc", id="redoc"),
        pytest.param("/powerpro-moodle/openapi.json", id="openapi"),
        pytest.param("/powerpro-moodle/", id="index"),
        pytest.param("/powerpro-moodle/icon.svg", id="icon"),
        pytest.param("/powerpro-moodle/no-such-page", id="unknown path"),
    ],
)
def test_anonymous_callers_get_401_and_a_bad_token_403(airflow_api_server, path):
    assert airflow_api_server.get(path, user=None).status_code == 401
    with httpx.Client(base_url=airflow_api_server.url, timeout=30) as client:
        assert client.get(path, headers={"Authorization": "Bearer not-a-jwt"}).status_code == 403
    with httpx.Client(base_url=airflow_api_server.url, timeout=30, cookies={"_token": "not-a-jwt"}) as client:
        assert client.get(path).status_code == 403


def test_a_token_from_auth_token_reads_the_rows(airflow_api_server):
    answer = airflow_api_server.get(API, user="viewer")
    assert answer.status_code == 200, answer.text
    rows = answer.json()
    assert isinstance(rows, list) and len(rows) == 100
    assert all(list(r) == list(COLUMNS) for r in rows)


def test_the_uis_token_cookie_reads_the_page_and_the_rows(airflow_api_server):
    page = airflow_api_server.get(PAGE, user="admin", cookie=True)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "E-Learning Sync Log" in page.text
    assert airflow_api_server.get(API, user="admin", cookie=True, limit=3).json()[0]["Status"] == "failed"


def test_generated_docs_are_off_for_a_logged_in_user_too(airflow_api_server):
    for path in ("/powerpro-moodle/docs", "/powerpro-moodle/redoc", "/powerpro-moodle/openapi.json"):
        assert airflow_api_server.get(path).status_code == 404


# --- the JSON -------------------------------------------------------------------------------


def test_rows_are_the_columns_with_their_stored_values(airflow_api_server):
    rows = airflow_api_server.get(API, limit=1000).json()
    by_id = {r["SyncLogID"]: r for r in stored(airflow_api_server)}
    for row in rows:
        want = by_id[row["SyncLogID"]]
        assert ISO_LOCAL.match(row["LoggedAt"]), row["LoggedAt"]
        assert row["LoggedAt"].replace("T", " ") == want["LoggedAt"]
        assert {k: v for k, v in row.items() if k != "LoggedAt"} == {k: v for k, v in want.items() if k != "LoggedAt"}
    failed = next(r for r in rows if r["SyncLogID"] == airflow_api_server.seeded.failed_sync_log_id)
    assert isinstance(failed["Details"], str) and json.loads(failed["Details"])["file"] == FAILED_FILE


def test_rows_are_newest_first_by_logged_at_then_sync_log_id(airflow_api_server):
    rows = airflow_api_server.get(API, limit=1000).json()
    expected = newest_first(stored(airflow_api_server))[:1000]
    assert [r["SyncLogID"] for r in rows] == [r["SyncLogID"] for r in expected]
    same = [r for r in rows if r["LoggedAt"] == SAME_SECOND.replace(" ", "T")]
    assert [r["Message"] for r in same] == ["same second, inserted second", "same second, inserted first"]
    assert rows[0]["Message"] == FAILED_MESSAGE


@pytest.mark.parametrize(
    "params, expect",
    [
        pytest.param({"dag_id": RESULTING}, lambda r: r["DagId"] == RESULTING, id="dag_id"),
        pytest.param({"status": "failed"}, lambda r: r["Status"] == "failed", id="status"),
        pytest.param({"run_id": RETRY_RUN}, lambda r: r["RunId"] == RETRY_RUN, id="run_id"),
        pytest.param({"dag_id": RESULTING, "status": "up_for_retry", "run_id": RETRY_RUN},
                     lambda r: r["DagId"] == RESULTING and r["Status"] == "up_for_retry" and r["RunId"] == RETRY_RUN,
                     id="all three"),
        pytest.param({"dag_id": "powerpro_moodle_provisioning", "run_id": FAILED_RUN}, lambda r: False,
                     id="a run of the other DAG: none"),
        pytest.param({"dag_id": "", "status": ""}, lambda r: True, id="blank means any"),
    ],
)
def test_filters_combine(airflow_api_server, params, expect):
    rows = airflow_api_server.get(API, limit=1000, **params).json()
    everything = newest_first(stored(airflow_api_server))
    assert [r["SyncLogID"] for r in rows] == [r["SyncLogID"] for r in everything if expect(r)][:1000]
    if params.get("run_id") == RETRY_RUN and "status" not in params:
        assert [r["TryNumber"] for r in rows] == [2, 1]


@pytest.mark.parametrize(
    "limit, status, count",
    [
        pytest.param(None, 200, 100, id="default 100"),
        pytest.param(1, 200, 1, id="1"),
        pytest.param(1000, 200, 1000, id="1000"),
        pytest.param(0, 422, None, id="0"),
        pytest.param(1001, 422, None, id="1001"),
        pytest.param(-5, 422, None, id="negative"),
        pytest.param("ten", 422, None, id="not a number"),
    ],
)
def test_limit_is_1_to_1000(airflow_api_server, limit, status, count):
    params = {} if limit is None else {"limit": limit}
    answer = airflow_api_server.get(API, **params)
    assert answer.status_code == status, answer.text
    if count is not None:
        assert len(answer.json()) == count
    assert airflow_api_server.seeded.rows > 1000
    page = airflow_api_server.get(PAGE, **params)
    assert page.status_code == status


# --- the page -------------------------------------------------------------------------------


def test_page_escapes_row_text(airflow_api_server):
    page = airflow_api_server.get(PAGE, run_id=MARKUP_RUN)
    assert page.status_code == 200
    assert "<script>alert" not in page.text and "<img src=x" not in page.text
    assert "&lt;script&gt;alert(&#x27;sync log&#x27;)&lt;/script&gt;" in page.text
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in page.text
    assert MARKUP_MESSAGE not in page.text and MARKUP_REASON not in page.text


def test_page_may_be_framed_by_the_airflow_ui_only_and_runs_no_foreign_script(airflow_api_server):
    page = airflow_api_server.get(PAGE)
    assert "x-frame-options" not in page.headers
    csp = page.headers["content-security-policy"]
    assert "frame-ancestors 'self'" in csp and "default-src 'none'" in csp
    assert "unsafe-inline" not in csp
    # Nothing is fetched: no script, style sheet or image from anywhere, the chart is inline SVG.
    assert re.findall(r"<[a-z]+\s[^>]*\bsrc=|<link\b|@import", page.text) == []
    assert '<svg class="chart"' in page.text


def test_page_shows_the_failed_run_first_with_a_link_to_its_task_instance(airflow_api_server):
    page = airflow_api_server.get(PAGE).text
    first_run = page.index('<tr class="run')
    assert FAILED_RUN in page[first_run:first_run + 1000]
    ti = (f"{airflow_api_server.url}/dags/powerpro_moodle_resulting/runs/manual__2026-03-14T05%3A30%3A00%2B00%3A00"
          "/tasks/import_completion_file/mapped/1")
    row = page[page.index(f'data-sync-log-id="{airflow_api_server.seeded.failed_sync_log_id}"'):]
    row = row[:row.index("</tr>")]
    assert FAILED_MESSAGE in row and 'class="badge failed"' in row
    assert f'href="{ti}"' in row
    assert FAILED_FILE in row  # the file's name where the UI would show a map index
    assert "<details" in row and "AirflowFailException" in row  # the error, expandable


@pytest.mark.parametrize(
    "params, present, absent",
    [
        pytest.param({"status": "failed"}, [FAILED_MESSAGE], ["same second, inserted first"], id="status"),
        pytest.param({"dag_id": "powerpro_moodle_provisioning"}, ["export_users"], ["import_completion_file"],
                     id="dag"),
        pytest.param({"file": "20260314_163"}, [FAILED_MESSAGE], ["completions_20260314_1629.csv: 18"], id="file"),
        pytest.param({"date": "2026-03-02"}, ["2026-03-02 23:00:09"], ["2026-03-03 00:00", "2026-03-01 23:"],
                     id="date"),
        pytest.param({"date": "2026-03-02", "dag_id": RESULTING, "file": "completions_20260302"},
                     ["completions_20260302_"], ["export_users", "2026-03-03 "], id="date, dag and file"),
        pytest.param({"file": "100%_"}, ["No sync log rows"], [], id="a LIKE wildcard is a plain character"),
        pytest.param({"date": "14/03/2026"}, ["is not a date (YYYY-MM-DD)", FAILED_MESSAGE], [], id="a bad date"),
        pytest.param({"dag_id": "", "status": "", "date": "", "file": ""}, [FAILED_MESSAGE], [],
                     id="an empty form is no filter"),
    ],
)
def test_page_filters(airflow_api_server, params, present, absent):
    page = airflow_api_server.get(PAGE, limit=1000, **params)
    assert page.status_code == 200
    for text in present:
        assert text in page.text, text
    for text in absent:
        assert text not in page.text, text


def test_plugin_is_listed_with_its_view_and_no_import_errors(airflow_api_server):
    plugins = airflow_api_server.get("/api/v2/plugins").json()["plugins"]
    (plugin,) = [p for p in plugins if p["name"] == "powerpro_moodle"]
    assert plugin["fastapi_apps"] == [
        {"app": "fastapi.applications.FastAPI", "url_prefix": "/powerpro-moodle", "name": "E-Learning Sync Log"}
    ]
    (view,) = plugin["external_views"]
    assert view["name"] == "E-Learning Sync Log"
    assert (view["href"], view["destination"], view["url_route"]) == (PAGE, "nav", "elearning-sync-log")
    assert airflow_api_server.get("/api/v2/plugins/importErrors").json() == {"import_errors": [], "total_entries": 0}
    assert airflow_api_server.get(view["icon"]).headers["content-type"].startswith("image/svg+xml")


# --- in-process: SQL, rendering, import cost ------------------------------------------------


def test_daily_totals_count_finished_real_runs_only(powerpro):
    from powerpro_moodle.db import PowerProDb

    def row(at, direction, status, written, rejected, **details):
        return {"LoggedAt": at, "Direction": direction, "DagId": f"powerpro_moodle_{direction.lower()}",
                "RunId": "r", "TaskId": "t", "Status": status, "RowsWritten": written, "RowsRejected": rejected,
                "Details": json.dumps({"anomalies": [], **details})}

    insert_rows(powerpro.path, [
        row("2026-03-01 09:00:00", "Resulting", "success", 5, 1),
        row("2026-03-01 10:00:00", "Resulting", "up_for_retry", 9, 9),  # retried: its last try counts
        row("2026-03-01 10:05:00", "Resulting", "failed", 0, 2),
        row("2026-03-01 11:00:00", "Provisioning", "success", 0, 3, dry_run=True),  # a dry run
        row("2026-03-01 23:59:59", "Provisioning", "success", 4, 0),
        row("2026-03-03 00:00:00", "Provisioning", "success", 2, 1),
        row("2026-03-03 01:00:00", "Provisioning", "skipped", 7, 7),
    ])
    raw = PowerProDb().query("select_sync_log_daily_totals", {"Days": 14, "DagId": None, "LoggedBefore": None})
    assert day_totals(raw) == [
        DayTotals(date(2026, 3, 1), outcomes_written=5, students_sent=4, records_rejected=3),
        DayTotals(date(2026, 3, 2)),
        DayTotals(date(2026, 3, 3), outcomes_written=0, students_sent=2, records_rejected=1),
    ]
    one_day = PowerProDb().query("select_sync_log_daily_totals",
                                 {"Days": 1, "DagId": "powerpro_moodle_resulting", "LoggedBefore": date(2026, 3, 2)})
    assert day_totals(one_day) == [DayTotals(date(2026, 3, 1), outcomes_written=5, records_rejected=3)]


def test_a_file_filter_is_literal_text_in_the_file_name(powerpro):
    from powerpro_moodle.db import PowerProDb

    names = ["results_100%.csv", "results_1000.csv", "a_b.csv", "axb.csv", "x[1].csv"]
    insert_rows(powerpro.path, [
        {"LoggedAt": f"2026-03-01 09:00:0{i}", "Direction": "Resulting", "DagId": RESULTING, "RunId": "r",
         "TaskId": "import_completion_file", "MapIndex": i, "Status": "success",
         "Details": json.dumps({"file": name, "anomalies": [{"reason": "axb.csv"}]}, ensure_ascii=False)}
        for i, name in enumerate(names)
    ])

    def files(text):
        # What the page does: the SQL narrows the rows down, the file name decides.
        rows = PowerProDb().query("select_sync_log", {
            "DagId": None, "Status": None, "RunId": None, "LoggedFrom": None, "LoggedBefore": None,
            "FilePattern": file_like_pattern(text), "Limit": 100})
        return sorted(json.loads(r["Details"])["file"] for r in rows if matches_file(r, text))

    assert files("100%") == ["results_100%.csv"]
    assert files("a_b") == ["a_b.csv"]
    assert files("[1]") == ["x[1].csv"]
    assert files("AXB") == ["axb.csv"]  # any case, as SQL Server's collation compares


def test_page_without_rows_or_days_and_with_a_problem_renders():
    html = render_page([], [], Filters(status="failed"), problems=["The E-Learning Sync Log could not be read <x>"])
    assert "No sync log rows for status failed." in html
    assert "could not be read &lt;x&gt;" in html and "No finished runs to chart yet." in html


@pytest.mark.parametrize(
    "args, path",
    [
        pytest.param(("d", "scheduled__2026-03-01T03:00:00+00:00", "t", None),
                     "/dags/d/runs/scheduled__2026-03-01T03%3A00%3A00%2B00%3A00/tasks/t", id="unmapped"),
        pytest.param(("d", "manual/2026 a", "t", 0), "/dags/d/runs/manual%2F2026%20a/tasks/t/mapped/0", id="mapped 0"),
        pytest.param(("d", "r", "t", -1), "/dags/d/runs/r/tasks/t", id="map index -1 is unmapped"),
    ],
)
def test_task_instance_path_is_the_airflow_ui_route(args, path):
    assert task_instance_path(*args) == path


def test_logged_at_is_iso_8601_local_time_as_stored():
    from datetime import datetime

    assert iso_local("2026-03-02 14:21:05") == "2026-03-02T14:21:05"
    assert iso_local(datetime(2026, 3, 2, 14, 21, 5)) == "2026-03-02T14:21:05"  # SQL Server's driver
    assert iso_local("2026-03-02 14:21:05.1234567") == "2026-03-02T14:21:05.123456"
    assert json_row({"LoggedAt": None, "Details": '{"a": 1}'})["Details"] == '{"a": 1}'


def test_plugin_import_is_cheap_and_connects_nowhere():
    """Airflow imports the plugin file in every process that loads plugins, tasks included: the
    app, FastAPI's security and the database are not imported until the API server asks."""
    code = """
import json, socket, sys
def no_network(*args, **kwargs):
    raise AssertionError("the plugin connected at import")
socket.socket.connect = no_network
from airflow import plugins_manager
before = set(sys.modules)
plugins, errors = plugins_manager._get_plugins()
new = sorted(m for m in set(sys.modules) - before if not m.startswith("airflow"))
security = "airflow.api_fastapi.core_api.security" in sys.modules
apps = plugins[0].fastapi_apps
print(json.dumps({"plugins": [p.name for p in plugins], "errors": errors, "new": new, "security": security,
                  "app": "powerpro_moodle.ui" in sys.modules and apps[0]["url_prefix"]}))
"""
    env = {**os.environ, "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert (seen["plugins"], seen["errors"]) == (["powerpro_moodle"], {})
    # Only the plugin file: the package's modules are not walked as plugins (plugins/.airflowignore),
    # and neither the app nor Airflow's API security is imported ...
    assert seen["new"] == ["powerpro_moodle_plugin"] and not seen["security"]
    # ... until the API server asks for the app.
    assert seen["app"] == "/powerpro-moodle"


def test_the_page_rendering_imports_no_airflow():
    code = ("import sys, powerpro_moodle.formats.sync_log_page; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('airflow', 'fastapi', 'sqlalchemy')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          cwd=ROOT / "plugins")
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "conn, reason",
    [
        pytest.param("sqlite", "ELearningSyncLog", id="a database without the table"),
        pytest.param("mssql://svc:s3cret-pw@127.0.0.1:1/PowerPro", "cannot connect", id="SQL Server not there"),
    ],
)
def test_the_page_and_json_answer_503_without_secrets_when_powerpro_cannot_be_read(tmp_path, monkeypatch, conn,
                                                                                   reason):
    from fastapi.testclient import TestClient
    from powerpro_moodle.ui import app

    (auth,) = app.router.dependencies
    app.dependency_overrides[auth.dependency] = lambda: None  # the real check is tested above
    if conn == "sqlite":
        conn = json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "empty.db")})
    monkeypatch.setenv("AIRFLOW_CONN_POWERPRO_DB", conn)
    try:
        with TestClient(app) as client:
            answer = client.get("/api/sync-log")
            page = client.get("/sync-log")
    finally:
        app.dependency_overrides.clear()
    assert answer.status_code == 503 and "could not be read from powerpro_db" in answer.json()["detail"]
    assert reason in answer.json()["detail"]
    assert page.status_code == 503 and "could not be read from powerpro_db" in page.text
    assert "s3cret-pw" not in answer.text + page.text
