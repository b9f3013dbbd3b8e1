"""The E-Learning Sync Log in the Airflow UI: the FastAPI app the plugin mounts at ``/powerpro-moodle``.

* ``/powerpro-moodle/sync-log``: the page (an external view in the UI's navigation, shown in an
  iframe), filterable by DAG, status, date and file, with a chart per day;
* ``/powerpro-moodle/api/sync-log``: the rows as JSON, for the page's readers and the data team's
  scripts (``dag_id``, ``status``, ``run_id``, ``limit`` 1..1000, default 100).

Airflow mounts a plugin's app as it is, with none of its own authentication: the app-wide
``requires_authenticated()`` dependency is what makes every route answer 401 (no token) or 403
(a bad one) to anyone not logged in to Airflow. It reads the ``Authorization: Bearer`` header, or
the ``_token`` cookie the UI's iframe sends. FastAPI's generated docs routes would not be covered
by that dependency, so they are turned off.

The rows are read through the ``powerpro_db`` connection with the sync's own SQL
(``select_sync_log.sql``, ``select_sync_log_daily_totals.sql``); :mod:`.formats.sync_log_page`
turns them into JSON and HTML.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta
from typing import Annotated, Any

from airflow.api_fastapi.core_api.security import requires_authenticated
from fastapi import Depends, FastAPI, HTTPException, Query
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from powerpro_moodle.formats.sync_log_page import (
    CHART_DAYS,
    CONTENT_SECURITY_POLICY,
    LIMIT_DEFAULT,
    LIMIT_MAX,
    Filters,
    day_totals,
    file_like_pattern,
    json_row,
    matches_file,
    nav_icon,
    render_page,
)

POWERPRO_CONN_ID = "powerpro_db"

log = logging.getLogger(__name__)

app = FastAPI(
    title="E-Learning Sync Log",
    dependencies=[Depends(requires_authenticated())],
    docs_url=None,
    redoc_url=None,
    openapi_url=None,
)

Limit = Annotated[int, Query(ge=1, le=LIMIT_MAX, description=f"at most this many rows (1..{LIMIT_MAX})")]


class SyncLogUnavailable(RuntimeError):
    """The sync log could not be read; the message says why, without secrets."""


def _blank_is_none(value: str | None) -> str | None:
    # An HTML form sends an empty field as "name=": that means "any", as leaving it out does.
    value = (value or "").strip()
    return value or None


def _read(name: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows of an ``include/sql`` query on ``powerpro_db``, on a connection of its own for this
    request (closed after it), so a change to the connection applies at the next page load."""
    from powerpro_moodle.db import PowerProDb

    db = PowerProDb(POWERPRO_CONN_ID, pooled=False)
    try:
        return db.query(name, params)
    except Exception as err:
        # The reader needs to know the log could not be read, and why, in words without secrets.
        from powerpro_moodle.sync_log import redact

        try:
            secrets = [db.connection.password] if db.connection.password else []
        except Exception:  # noqa: BLE001 - the connection itself may be what is missing
            secrets = []
        reason = redact(str(err).splitlines()[0] if str(err) else type(err).__name__, secrets)
        log.warning("E-Learning Sync Log page: %s failed: %s", name, reason)
        raise SyncLogUnavailable(f"The E-Learning Sync Log could not be read from {POWERPRO_CONN_ID}: {reason}") from err
    finally:
        db.close()


def _query_params(filters: Filters) -> dict[str, Any]:
    return {
        "DagId": filters.dag_id,
        "Status": filters.status,
        "RunId": filters.run_id,
        "LoggedFrom": filters.day,
        "LoggedBefore": filters.day + timedelta(days=1) if filters.day else None,
        "FilePattern": file_like_pattern(filters.file) if filters.file else None,
        "Limit": filters.limit,
    }


def _airflow_base_url() -> str:
    from airflow.configuration import conf

    return (conf.get("api", "base_url", fallback="") or "").rstrip("/")


@app.get("/", include_in_schema=False)
def index() -> RedirectResponse:
    return RedirectResponse("sync-log")


@app.get("/icon.svg", include_in_schema=False)
def icon() -> Response:
    return Response(nav_icon("#3f4a59"), media_type="image/svg+xml", headers={"Cache-Control": "private, max-age=86400"})


@app.get("/icon-dark.svg", include_in_schema=False)
def icon_dark() -> Response:
    return Response(nav_icon("#e2e8f0"), media_type="image/svg+xml", headers={"Cache-Control": "private, max-age=86400"})


@app.api_route("/api/sync-log", methods=["GET", "HEAD"])
def sync_log_rows(
    dag_id: str | None = None,
    status: str | None = None,
    run_id: str | None = None,
    limit: Limit = LIMIT_DEFAULT,
) -> JSONResponse:
    """The ``ELearningSyncLog`` rows, newest first (``LoggedAt``, then ``SyncLogID``)."""
    filters = Filters(dag_id=_blank_is_none(dag_id), status=_blank_is_none(status),
                      run_id=_blank_is_none(run_id), limit=limit)
    try:
        rows = _read("select_sync_log", _query_params(filters))
    except SyncLogUnavailable as err:
        return JSONResponse({"detail": str(err)}, status_code=503)
    return JSONResponse([json_row(r) for r in rows])


@app.api_route("/sync-log", methods=["GET", "HEAD"], response_class=HTMLResponse)
def sync_log_page(
    dag_id: str | None = None,
    status: str | None = None,
    run_id: str | None = None,
    date_: Annotated[str | None, Query(alias="date", description="a day, YYYY-MM-DD")] = None,
    file: str | None = None,
    limit: Limit = LIMIT_DEFAULT,
) -> HTMLResponse:
    """The sync log page."""
    problems = []
    day = None
    if _blank_is_none(date_):
        try:
            day = date.fromisoformat(date_.strip())
        except ValueError:
            problems.append(f"“{date_}” is not a date (YYYY-MM-DD): showing every date.")
    filters = Filters(dag_id=_blank_is_none(dag_id), status=_blank_is_none(status), run_id=_blank_is_none(run_id),
                      day=day, file=_blank_is_none(file), limit=limit)
    rows, days, status_code = [], [], 200
    try:
        rows = _read("select_sync_log", _query_params(filters))
        if filters.file:
            rows = [r for r in rows if matches_file(r, filters.file)]
        days = day_totals(_read("select_sync_log_daily_totals", {
            "Days": CHART_DAYS,
            "DagId": filters.dag_id,
            "LoggedBefore": filters.day + timedelta(days=1) if filters.day else None,
        }))
    except SyncLogUnavailable as err:
        problems.append(str(err))
        status_code = 503
    html = render_page(rows, days, filters, airflow_base_url=_airflow_base_url(), problems=problems)
    return HTMLResponse(html, status_code=status_code, headers={
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
    })


@app.api_route("/{path:path}", methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
               include_in_schema=False)
def not_found(path: str) -> None:
    """Any other path, ``/docs`` and ``/openapi.json`` included: 401/403 to anyone not logged in
    (the app's dependency runs first), 404 to a user who is."""
    raise HTTPException(status_code=404, detail="Not Found")
