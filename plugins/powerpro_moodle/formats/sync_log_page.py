"""The E-Learning Sync Log as the Airflow UI shows it: the rows as JSON, the HTML page and its chart.

Pure Python, no Airflow import: :mod:`powerpro_moodle.ui` reads the rows through ``powerpro_db``
and hands them here. The page is plain server-rendered HTML with the chart drawn as inline SVG:
no JavaScript library and nothing fetched from the internet, because the RTO's network may have
no internet. Every text that comes from the log is HTML-escaped, and the Content-Security-Policy
allows no script but the page's own few lines, so even a row holding markup stays text.
"""

from __future__ import annotations

import base64
import hashlib
import json
import posixpath
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from html import escape
from typing import Any
from urllib.parse import quote, urlencode

#: The ``ELearningSyncLog`` columns, in the table's order: the keys of each JSON object.
COLUMNS = (
    "SyncLogID", "LoggedAt", "Direction", "DagId", "RunId", "TaskId", "MapIndex", "TryNumber", "Status",
    "RowsRead", "RowsWritten", "RowsSkipped", "RowsRejected", "Message", "Details",
)
STATUSES = ("success", "failed", "up_for_retry", "skipped")
DAG_IDS = ("powerpro_moodle_provisioning", "powerpro_moodle_resulting")
DIRECTIONS = {"Provisioning": "PowerPro → Moodle", "Resulting": "Moodle → PowerPro"}
LIMIT_DEFAULT, LIMIT_MAX = 100, 1000
#: The chart shows this many days, the most recent ones with a finished task.
CHART_DAYS = 14

#: The chart's three series: (key in :class:`DayTotals`, label, CSS class).
SERIES = (
    ("outcomes_written", "outcomes written", "s-outcomes"),
    ("students_sent", "students sent", "s-students"),
    ("records_rejected", "records rejected", "s-rejected"),
)


# --- the rows -------------------------------------------------------------------------------


def iso_local(value: Any) -> str | None:
    """``LoggedAt`` as ISO 8601, in the RTO's local time as PowerPro stores it (no zone).

    SQL Server's driver gives a ``datetime``; SQLite gives the text the sync wrote
    (``2026-03-02 14:21:05``).
    """
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    try:
        return datetime.fromisoformat(str(value)).isoformat()
    except ValueError:
        return str(value)


def json_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A sync log row as the JSON API gives it: keyed by the column names, values as stored
    (``Details`` stays the JSON text the callback wrote), ``LoggedAt`` in ISO 8601."""
    out = {column: row.get(column) for column in COLUMNS}
    out["LoggedAt"] = iso_local(out["LoggedAt"])
    return out


def parse_details(text: Any) -> dict[str, Any]:
    """``Details`` as a dict; text that is not a JSON object comes back under ``"text"``."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        return {"text": str(text)}
    return value if isinstance(value, dict) else {"text": str(text)}


def file_name(details: Mapping[str, Any]) -> str | None:
    """The file a task handled (a completion file, or the users file sent), by its name."""
    value = details.get("file")
    if not value:
        return None
    return posixpath.basename(str(value)) or None


def file_like_pattern(text: str) -> str:
    """A ``LIKE`` pattern (escape character ``\\``) that narrows the rows down to those whose
    ``Details`` (where the callback writes ``"file": "<name>"``) holds ``text`` after the file's
    key; :func:`matches_file` then decides on the name itself. ``%``, ``_`` and ``[`` in
    ``text`` are plain characters."""
    escaped = "".join("\\" + c if c in "\\%_[" else c for c in text)
    return f'%"file": "%{escaped}%'


def matches_file(row: Mapping[str, Any], text: str) -> bool:
    """The row's file name contains ``text`` (any case): the exact test behind the LIKE."""
    name = file_name(parse_details(row.get("Details")))
    return name is not None and text.casefold() in name.casefold()


def task_instance_path(dag_id: str, run_id: str, task_id: str, map_index: int | None) -> str:
    """The Airflow UI's path of a task instance: ``/dags/{dag_id}/runs/{run_id}/tasks/{task_id}``,
    and ``…/mapped/{map_index}`` for a mapped one (the UI's routes in Airflow 3, as
    ``TaskInstance.log_url`` builds them), each part URL-encoded."""
    path = f"/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}/tasks/{quote(task_id, safe='')}"
    if map_index is not None and int(map_index) >= 0:
        path += f"/mapped/{int(map_index)}"
    return path


def dag_run_path(dag_id: str, run_id: str) -> str:
    return f"/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"


def nav_icon(color: str) -> str:
    """The navigation's icon: a log page with a bar chart (24 x 24 SVG)."""
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" fill="none" stroke="{color}" '
        'stroke-width="1.8" stroke-linecap="round" stroke-linejoin="round">'
        '<rect x="4" y="3" width="16" height="18" rx="2"/><path d="M8 17v-3M12 17v-7M16 17v-5"/>'
        '<path d="M8 7h8"/></svg>'
    )


# --- the chart ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DayTotals:
    day: date
    outcomes_written: int = 0
    students_sent: int = 0
    records_rejected: int = 0


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def day_totals(rows: Iterable[Mapping[str, Any]]) -> list[DayTotals]:
    """The daily totals (``select_sync_log_daily_totals.sql``), oldest first, with the days
    between that had no finished task filled in as zeros so the chart's days are evenly spaced."""
    by_day = {
        _as_date(r["LoggedOn"]): DayTotals(
            _as_date(r["LoggedOn"]),
            int(r.get("OutcomesWritten") or 0),
            int(r.get("StudentsSent") or 0),
            int(r.get("RecordsRejected") or 0),
        )
        for r in rows
    }
    if not by_day:
        return []
    first, last = min(by_day), max(by_day)
    return [by_day.get(first + timedelta(d), DayTotals(first + timedelta(d))) for d in range((last - first).days + 1)]


def _nice_top(value: int) -> int:
    """The smallest 1, 2 or 5 times a power of ten at or above ``value`` (the y axis' top)."""
    top = 1
    while True:
        for step in (1, 2, 5):
            if step * top >= value:
                return step * top
        top *= 10


def render_chart(days: Sequence[DayTotals]) -> str:
    """Grouped bars per day (outcomes written, students sent, records rejected) as inline SVG."""
    if not days:
        return '<p class="empty">No finished runs to chart yet.</p>'
    width, height = 760, 240
    left, right, top, bottom = 48, 8, 12, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max(max(getattr(d, key) for key, _, _ in SERIES) for d in days)
    y_top = _nice_top(max(peak, 1))
    slot = plot_w / len(days)
    bar = min(slot * 0.8 / len(SERIES), 22)
    group = bar * len(SERIES)

    def y(value: int) -> float:
        return top + plot_h - value / y_top * plot_h

    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-labelledby="chart-title" '
        'xmlns="http://www.w3.org/2000/svg">',
        f'<title id="chart-title">Per day from {days[0].day} to {days[-1].day}: outcomes written, '
        "students sent and records rejected</title>",
    ]
    for i in range(5):  # gridlines and y labels at 0, 1/4 … the top
        value = y_top * i / 4
        label = f"{value:g}" if value == int(value) else f"{value:.1f}"
        parts.append(f'<line class="grid" x1="{left}" x2="{width - right}" y1="{y(value):.1f}" y2="{y(value):.1f}"/>')
        parts.append(f'<text class="ylabel" x="{left - 6}" y="{y(value) + 4:.1f}">{label}</text>')
    for n, d in enumerate(days):
        x0 = left + n * slot + (slot - group) / 2
        for s, (key, label, css) in enumerate(SERIES):
            value = getattr(d, key)
            height_px = max(plot_h * value / y_top, 1.5 if value else 0)
            parts.append(
                f'<rect class="{css}" x="{x0 + s * bar:.1f}" y="{top + plot_h - height_px:.1f}" '
                f'width="{bar - 1:.1f}" height="{height_px:.1f}"><title>{d.day}: {value} {label}</title></rect>'
            )
        parts.append(
            f'<text class="xlabel" x="{left + n * slot + slot / 2:.1f}" y="{height - bottom + 16}">'
            f'{d.day.strftime("%d %b")}</text>'
        )
        if len(days) <= 14 or n % 2 == 0:
            parts.append(
                f'<text class="xlabel weekday" x="{left + n * slot + slot / 2:.1f}" y="{height - bottom + 30}">'
                f'{d.day.strftime("%a")}</text>'
            )
    parts.append(f'<line class="axis" x1="{left}" x2="{width - right}" y1="{top + plot_h}" y2="{top + plot_h}"/>')
    parts.append("</svg>")
    legend = "".join(f'<span class="key"><span class="swatch {css}"></span>{label}</span>' for _, label, css in SERIES)
    numbers = "".join(
        f"<tr><td>{d.day}</td>" + "".join(f'<td class="num">{getattr(d, key)}</td>' for key, _, _ in SERIES) + "</tr>"
        for d in reversed(days)
    )
    table = (
        '<details class="numbers"><summary>The numbers</summary><table><thead><tr><th>Day</th>'
        + "".join(f'<th class="num">{label.capitalize()}</th>' for _, label, _ in SERIES)
        + f"</tr></thead><tbody>{numbers}</tbody></table></details>"
    )
    return f'<div class="legend">{legend}</div>{"".join(parts)}{table}'


# --- the page -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    """What the page shows: each filter is optional (``None``: any)."""

    dag_id: str | None = None
    status: str | None = None
    run_id: str | None = None
    day: date | None = None
    file: str | None = None
    limit: int = LIMIT_DEFAULT

    def query(self, **changes: Any) -> str:
        """The page's query string for these filters with ``changes`` applied."""
        values = {
            "dag_id": self.dag_id, "status": self.status, "run_id": self.run_id,
            "date": self.day.isoformat() if self.day else None, "file": self.file,
            "limit": None if self.limit == LIMIT_DEFAULT else self.limit,
        }
        values.update(changes)
        return urlencode({k: v for k, v in values.items() if v not in (None, "")})


@dataclass
class Run:
    dag_id: str
    run_id: str
    rows: list[Mapping[str, Any]]  # oldest first: the order the tasks ran in

    @property
    def failed(self) -> bool:
        """A task of the run failed for good (its last row says so)."""
        last: dict[tuple[Any, Any], Any] = {}
        for r in self.rows:
            last[(r.get("TaskId"), r.get("MapIndex"))] = r.get("Status")
        return "failed" in last.values()


def group_runs(rows: Iterable[Mapping[str, Any]]) -> list[Run]:
    """Rows (newest first) as runs, the run with the newest row first; each run's rows in the
    order the tasks ran."""
    runs: dict[tuple[str, str], Run] = {}
    for row in rows:
        key = (row["DagId"], row["RunId"])
        runs.setdefault(key, Run(*key, rows=[])).rows.append(row)
    for run in runs.values():
        run.rows.reverse()
    return list(runs.values())


_SCRIPT = """\
// A link to a task instance opens it in the Airflow UI around this page. The UI frames this page
// in a sandbox that may not navigate the top window, but the page shares the UI's origin, so it
// asks the UI's own router to go there; opened on its own, the link is an ordinary link.
document.addEventListener("click", function (event) {
  var link = event.target.closest ? event.target.closest("a[data-airflow]") : null;
  if (!link || window.top === window || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey) return;
  try {
    var url = new URL(link.href, window.location.href);
    window.top.history.pushState(null, "", url.pathname + url.search + url.hash);
    window.top.dispatchEvent(new PopStateEvent("popstate", {state: null}));
    event.preventDefault();
  } catch (e) {
    // another origin: leave the link to the browser
  }
});
"""

_STYLE = """\
:root { color-scheme: light; --fg: #1f2933; --muted: #5f6b7a; --line: #d9dee5; --bg-run: #f3f5f8;
  --ok: #1b7f3b; --bad: #b42318; --warn: #b54708; --skip: #5f6b7a;
  --outcomes: #2e7d32; --students: #1565c0; --rejected: #c62828; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg);
  margin: 16px 20px 40px; background: #fff; }
h1 { font-size: 20px; margin: 0 0 2px; }
h2 { font-size: 16px; margin: 22px 0 6px; }
p.lead, p.note { color: var(--muted); margin: 0 0 12px; }
form.filters { display: flex; flex-wrap: wrap; gap: 10px 14px; align-items: end; padding: 10px 12px;
  background: var(--bg-run); border: 1px solid var(--line); border-radius: 6px; }
form.filters label { display: flex; flex-direction: column; font-size: 12px; color: var(--muted); gap: 2px; }
form.filters input, form.filters select { font: inherit; padding: 3px 6px; border: 1px solid #b8c0cc;
  border-radius: 4px; background: #fff; color: var(--fg); min-width: 9em; }
form.filters button { font: inherit; padding: 4px 14px; border-radius: 4px; border: 1px solid #1565c0;
  background: #1565c0; color: #fff; cursor: pointer; }
a { color: #1155aa; }
.error-box { border: 1px solid var(--bad); background: #fdecea; color: var(--bad); padding: 8px 12px;
  border-radius: 6px; margin: 12px 0; }
.legend { display: flex; gap: 18px; font-size: 13px; margin: 4px 0 2px; }
.key { display: inline-flex; align-items: center; gap: 6px; }
.swatch { display: inline-block; width: 12px; height: 12px; border-radius: 2px; }
.swatch.s-outcomes { background: var(--outcomes); } .swatch.s-students { background: var(--students); }
.swatch.s-rejected { background: var(--rejected); }
svg.chart { width: 100%; max-width: 900px; height: auto; display: block; }
svg.chart rect.s-outcomes { fill: var(--outcomes); } svg.chart rect.s-students { fill: var(--students); }
svg.chart rect.s-rejected { fill: var(--rejected); }
svg.chart .grid { stroke: #e6e9ee; stroke-width: 1; } svg.chart .axis { stroke: #8a94a3; stroke-width: 1; }
svg.chart text { font-size: 11px; fill: var(--muted); }
svg.chart .ylabel { text-anchor: end; } svg.chart .xlabel { text-anchor: middle; }
details.numbers { margin: 4px 0 0; font-size: 13px; }
details.numbers table { border-collapse: collapse; margin-top: 4px; }
details.numbers td, details.numbers th { padding: 2px 10px; border-bottom: 1px solid var(--line); }
table.log { border-collapse: collapse; width: 100%; margin-top: 6px; }
table.log th { text-align: left; font-size: 12px; color: var(--muted); font-weight: 600;
  border-bottom: 2px solid var(--line); padding: 6px 8px; position: sticky; top: 0; background: #fff; }
table.log td { border-bottom: 1px solid var(--line); padding: 6px 8px; vertical-align: top; }
tr.run td { background: var(--bg-run); font-weight: 600; border-top: 2px solid var(--line); }
tr.run .run-id { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-weight: 400; }
tr.run .dir, tr.run .tasks { color: var(--muted); font-weight: 400; }
tr.run .badge { margin-left: 6px; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
td.when { white-space: nowrap; } td.task { white-space: nowrap; min-width: 15em; }
.file { display: block; color: var(--muted); font-size: 12px; white-space: normal; overflow-wrap: anywhere; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600;
  color: #fff; white-space: nowrap; }
.badge.success { background: var(--ok); } .badge.failed { background: var(--bad); }
.badge.up_for_retry { background: var(--warn); } .badge.skipped, .badge.other { background: var(--skip); }
tr.failed td.message .msg { color: var(--bad); }
td.message { max-width: 56em; }
td.message .msg { white-space: pre-wrap; word-break: break-word; }
td.message details { margin-top: 4px; }
td.message summary { cursor: pointer; color: #1155aa; font-size: 13px; }
td.message ul { margin: 4px 0; padding-left: 20px; }
td.message li { margin: 1px 0; }
td.message .code { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12px; color: var(--muted); }
td.message .level-warning { color: var(--warn); } td.message .level-rejected { color: var(--bad); }
td.message pre { white-space: pre-wrap; word-break: break-word; background: #f6f7f9; padding: 6px 8px;
  border-radius: 4px; font-size: 12px; margin: 4px 0; }
td.message dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; font-size: 12px; margin: 4px 0; }
td.message dt { color: var(--muted); } td.message dd { margin: 0; word-break: break-all; }
p.empty { color: var(--muted); font-style: italic; }
"""


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


#: The page's Content-Security-Policy: nothing but its own style and script, and no frame but
#: the Airflow UI (same origin).
CONTENT_SECURITY_POLICY = (
    f"default-src 'none'; style-src {_csp_hash(_STYLE)}; script-src {_csp_hash(_SCRIPT)}; "
    "img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'self'"
)


def _e(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


def _num(value: Any) -> str:
    return "" if value is None else _e(value)


def _when(value: Any) -> str:
    text = iso_local(value) or ""
    return _e(text[:19].replace("T", " "))


def _status_badge(status: Any) -> str:
    css = status if status in STATUSES else "other"
    label = {"up_for_retry": "up for retry"}.get(status, status)
    return f'<span class="badge {_e(css)}">{_e(label)}</span>'


def _anomalies_block(details: Mapping[str, Any]) -> str:
    anomalies = [a for a in details.get("anomalies") or [] if isinstance(a, Mapping)]
    counts = details.get("anomaly_counts") if isinstance(details.get("anomaly_counts"), Mapping) else {}
    total = details.get("anomalies_total")
    total = total if isinstance(total, int) else (sum(v for v in counts.values() if isinstance(v, int)) or len(anomalies))
    if not total:
        return ""
    by_code = ", ".join(f"{_e(n)} × {_e(code)}" for code, n in sorted(counts.items(), key=lambda kv: (-_int(kv[1]), kv[0])))
    items = "".join(
        f'<li><span class="level-{_e(a.get("level", "rejected"))}">{_e(a.get("record", "record"))} '
        f'<strong>{_e(a.get("key", ""))}</strong></span>: {_e(a.get("reason", ""))} '
        f'<span class="code">{_e(a.get("code", ""))}</span></li>'
        for a in anomalies
    )
    more = ""
    if total > len(anomalies):
        where = f" (the errors file {_e(details['errors_file'])}, or the task log)" if details.get("errors_file") else " (the task log)"
        more = f"<li>… and {total - len(anomalies)} more, listed in full elsewhere{where}</li>"
    word = "anomaly" if total == 1 else "anomalies"
    summary = f"{total} {word}" + (f" ({by_code})" if by_code else "")
    return f'<details class="anomalies"><summary>{summary}</summary><ul>{items}{more}</ul></details>'


def _int(value: Any) -> int:
    return value if isinstance(value, int) else 0


_SHOWN_ELSEWHERE = {"anomalies", "anomaly_counts", "anomalies_total", "error", "text"}


def _facts_block(details: Mapping[str, Any]) -> str:
    facts = {k: v for k, v in details.items() if k not in _SHOWN_ELSEWHERE and v not in (None, "", [], {})}
    if not facts:
        return ""
    rows = "".join(
        f"<dt>{_e(k)}</dt><dd>{_e(v if isinstance(v, str) else json.dumps(v, ensure_ascii=False, default=str))}</dd>"
        for k, v in facts.items()
    )
    return f'<details class="facts"><summary>Details</summary><dl>{rows}</dl></details>'


def _error_block(details: Mapping[str, Any]) -> str:
    parts = []
    if details.get("error"):
        parts.append(f'<details class="error"><summary>Error</summary><pre>{_e(details["error"])}</pre></details>')
    if details.get("text"):
        parts.append(f'<details class="raw"><summary>Details</summary><pre>{_e(details["text"])}</pre></details>')
    return "".join(parts)


def _task_row(row: Mapping[str, Any], airflow_base_url: str) -> str:
    details = parse_details(row.get("Details"))
    name = file_name(details)
    map_index = row.get("MapIndex")
    where = f'<span class="file">{_e(name)}</span>' if name else (
        f'<span class="file">#{_e(map_index)}</span>' if map_index is not None else "")
    link = airflow_base_url + task_instance_path(row["DagId"], row["RunId"], row["TaskId"], map_index)
    status = row.get("Status")
    return (
        f'<tr class="task {_e(status)}" data-sync-log-id="{_e(row.get("SyncLogID"))}">'
        f'<td class="when">{_when(row.get("LoggedAt"))}</td>'
        f'<td class="task">{_e(row.get("TaskId"))}{where}</td>'
        f'<td class="num">{_num(row.get("TryNumber"))}</td>'
        f"<td>{_status_badge(status)}</td>"
        f'<td class="num">{_num(row.get("RowsRead"))}</td>'
        f'<td class="num">{_num(row.get("RowsWritten"))}</td>'
        f'<td class="num">{_num(row.get("RowsSkipped"))}</td>'
        f'<td class="num">{_num(row.get("RowsRejected"))}</td>'
        f'<td class="message"><div class="msg">{_e(row.get("Message"))}</div>'
        f"{_anomalies_block(details)}{_error_block(details)}{_facts_block(details)}</td>"
        f'<td><a href="{_e(link)}" target="_top" data-airflow="task-instance" '
        f'title="Open this task instance in Airflow: its logs, XCom and a rerun">Airflow&nbsp;↗</a></td>'
        "</tr>"
    )


def _run_rows(run: Run, airflow_base_url: str) -> str:
    directions = {r.get("Direction") for r in run.rows}
    direction = DIRECTIONS.get(next(iter(directions)), "") if len(directions) == 1 else ""
    link = airflow_base_url + dag_run_path(run.dag_id, run.run_id)
    tasks = len({(r.get("TaskId"), r.get("MapIndex")) for r in run.rows})
    failed = _status_badge("failed") if run.failed else ""
    head = (
        f'<tr class="run{" failed" if run.failed else ""}"><td colspan="10">{_e(run.dag_id)} '
        f'<span class="dir">{_e(direction)}</span> · run <a class="run-id" href="{_e(link)}" target="_top" '
        f'data-airflow="dag-run">{_e(run.run_id)}</a> <span class="tasks">· {tasks} '
        f'{"task" if tasks == 1 else "tasks"}</span>{failed}</td></tr>'
    )
    return f"<tbody>{head}{''.join(_task_row(r, airflow_base_url) for r in run.rows)}</tbody>"


def _options(values: Sequence[str], selected: str | None, any_label: str) -> str:
    values = list(values) + ([selected] if selected and selected not in values else [])
    out = [f'<option value="">{_e(any_label)}</option>']
    for v in values:
        label = {"up_for_retry": "up for retry"}.get(v, v)
        out.append(f'<option value="{_e(v)}"{" selected" if v == selected else ""}>{_e(label)}</option>')
    return "".join(out)


def _filter_form(filters: Filters) -> str:
    run = f'<input type="hidden" name="run_id" value="{_e(filters.run_id)}">' if filters.run_id else ""
    limit = f'<input type="hidden" name="limit" value="{filters.limit}">' if filters.limit != LIMIT_DEFAULT else ""
    return (
        '<form class="filters" method="get" action="sync-log">'
        f'<label>DAG<select name="dag_id">{_options(DAG_IDS, filters.dag_id, "All DAGs")}</select></label>'
        f'<label>Status<select name="status">{_options(STATUSES, filters.status, "Any status")}</select></label>'
        f'<label>Date<input type="date" name="date" value="{_e(filters.day.isoformat() if filters.day else "")}"></label>'
        f'<label>File<input type="search" name="file" value="{_e(filters.file)}" placeholder="part of a file name"></label>'
        f"{run}{limit}<button type=\"submit\">Show</button> <a href=\"sync-log\">Clear</a>"
        "</form>"
    )


def render_page(
    rows: Sequence[Mapping[str, Any]],
    days: Sequence[DayTotals],
    filters: Filters,
    *,
    airflow_base_url: str = "",
    problems: Sequence[str] = (),
) -> str:
    """The whole page.

    :param rows: the sync log rows that match ``filters``, newest first.
    :param days: the chart's daily totals, oldest first (:func:`day_totals`).
    :param airflow_base_url: the Airflow UI's address (``[api] base_url``) the task instance
        links start with; empty for links on this page's own host.
    :param problems: what went wrong reading the log or the filters, in words for the reader.
    """
    base = airflow_base_url.rstrip("/")
    shown = [f"DAG {filters.dag_id}" if filters.dag_id else "", f"status {filters.status}" if filters.status else "",
             f"run {filters.run_id}" if filters.run_id else "", f"on {filters.day}" if filters.day else "",
             f"file containing “{filters.file}”" if filters.file else ""]
    what = ", ".join(s for s in shown if s)
    chart_scope = (f" up to {filters.day}" if filters.day else "") + (f", {filters.dag_id} only" if filters.dag_id else "")
    errors = "".join(f'<div class="error-box" role="alert">{_e(p)}</div>' for p in problems)
    if rows:
        runs = group_runs(rows)
        more = ""
        if len(rows) >= filters.limit and filters.limit < LIMIT_MAX:
            more = (f' <a href="sync-log?{_e(filters.query(limit=LIMIT_MAX))}">Show up to {LIMIT_MAX}</a>.')
        count = (
            f'<p class="note">{len(rows)} task {"row" if len(rows) == 1 else "rows"} in {len(runs)} '
            f'{"run" if len(runs) == 1 else "runs"}{" (" + _e(what) + ")" if what else ""}, newest first; '
            f"at most {filters.limit} rows are shown.{more} "
            f'{"The same rows" if not (filters.day or filters.file) else "Without the date and file filters, the rows"} '
            f'as JSON: <a href="api/sync-log?{_e(filters.query(date=None, file=None))}">api/sync-log</a>.</p>'
        )
        table = (
            '<table class="log"><thead><tr><th>Logged at</th><th>Task</th><th class="num">Try</th><th>Status</th>'
            '<th class="num">Read</th><th class="num">Written</th><th class="num">Skipped</th>'
            '<th class="num">Rejected</th><th>Message</th><th></th></tr></thead>'
            + "".join(_run_rows(run, base) for run in runs)
            + "</table>"
        )
    else:
        count = ""
        table = f'<p class="empty">No sync log rows{" for " + _e(what) if what else ""}.</p>'
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>E-Learning Sync Log</title>"
        f"<style>{_STYLE}</style></head><body>"
        "<h1>E-Learning Sync Log</h1>"
        '<p class="lead">What the PowerPro ⇄ Moodle sync did, task by task, newest run first. Times are '
        "PowerPro's: the RTO's local time. Open a row's anomalies for the records that need a person.</p>"
        f"{errors}{_filter_form(filters)}"
        f"<h2>Per day{_e(chart_scope)}</h2>"
        '<p class="note">Outcomes written into PowerPro, students sent to Moodle and records rejected, on the '
        f"{CHART_DAYS} most recent days with runs. Finished tasks only: a try that was retried and a dry run "
        "are not counted.</p>"
        f"{render_chart(days)}"
        f"<h2>Runs</h2>{count}{table}"
        f"<script>{_SCRIPT}</script>"
        "</body></html>"
    )
