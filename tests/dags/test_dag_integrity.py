"""Every DAG file imports cleanly and only configures: no connection, variable or heavy import
at parse time, and the operational defaults of SPEC section 7."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DAG_IDS = ["powerpro_moodle_provisioning", "powerpro_moodle_resulting"]


@pytest.fixture
def dagbag(monkeypatch):
    """The DAG folder parsed with the shipped defaults, failing on any connection or variable use."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk import BaseHook, Variable

    for name in ("POWERPRO_MOODLE_RETRIES", "POWERPRO_MOODLE_RETRY_DELAY",
                 "POWERPRO_MOODLE_PROVISIONING_SCHEDULE", "POWERPRO_MOODLE_RESULTING_SCHEDULE"):
        monkeypatch.delenv(name, raising=False)

    def forbidden(*args, **kwargs):
        raise AssertionError(f"DAG parsing touched a connection or variable: {args}")

    monkeypatch.setattr(BaseHook, "get_connection", classmethod(forbidden))
    monkeypatch.setattr(Variable, "get", staticmethod(forbidden))
    bag = DagBag(dag_folder=str(ROOT / "dags"))
    return bag


def test_dag_files_import_without_errors(dagbag):
    assert dagbag.import_errors == {}
    assert sorted(dagbag.dag_ids) == sorted(d for d in DAG_IDS if d in dagbag.dag_ids)
    assert "powerpro_moodle_provisioning" in dagbag.dag_ids


@pytest.mark.parametrize("dag_id", DAG_IDS)
def test_dag_operational_defaults(dagbag, dag_id):
    if dag_id not in dagbag.dag_ids:
        pytest.skip(f"{dag_id} not built yet")
    dag = dagbag.dags[dag_id]
    assert dag.catchup is False
    assert dag.max_active_runs == 1
    assert "powerpro" in dag.tags and "moodle" in dag.tags
    assert dag.doc_md and dag.doc_md.strip().startswith("###")
    assert dag.schedule == "@hourly"
    assert dag.start_date.tzinfo is not None
    assert "dry_run" in dag.params
    for task in dag.tasks:
        assert task.retries == 3, task.task_id
        assert task.retry_delay == timedelta(seconds=300)
        assert task.retry_exponential_backoff
        assert task.on_failure_callback and task.on_success_callback and task.on_retry_callback, task.task_id


def test_retry_policy_and_schedule_come_from_the_environment(monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("POWERPRO_MOODLE_RETRIES", "5")
    monkeypatch.setenv("POWERPRO_MOODLE_RETRY_DELAY", "12")
    monkeypatch.setenv("POWERPRO_MOODLE_PROVISIONING_SCHEDULE", "*/15 * * * *")
    dag = DagBag(dag_folder=str(ROOT / "dags")).dags["powerpro_moodle_provisioning"]
    assert {t.retries for t in dag.tasks} == {5}
    assert {t.retry_delay for t in dag.tasks} == {timedelta(seconds=12)}
    assert dag.schedule == "*/15 * * * *"


def test_a_bad_retry_setting_is_a_clear_import_error(monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("POWERPRO_MOODLE_RETRIES", "three")
    bag = DagBag(dag_folder=str(ROOT / "dags"))
    assert any("POWERPRO_MOODLE_RETRIES must be a number" in err for err in bag.import_errors.values())


def test_parsing_imports_nothing_heavy():
    """Parse-time imports stay light: no SQL translator, no data frame library, no FTP client."""
    code = (
        "import sys, runpy, pathlib\n"
        f"sys.path.insert(0, {str(ROOT / 'plugins')!r})\n"
        f"for f in sorted(pathlib.Path({str(ROOT / 'dags')!r}).glob('*.py')): runpy.run_path(str(f))\n"
        "print(sorted(m for m in ('sqlglot', 'pandas', 'ftplib', 'pymssql') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stderr[-2000:]


def test_formats_layer_imports_no_airflow():
    code = (
        "import sys, pkgutil, importlib\n"
        f"sys.path.insert(0, {str(ROOT / 'plugins')!r})\n"
        "import powerpro_moodle.formats as f\n"
        "for m in pkgutil.iter_modules(f.__path__): importlib.import_module('powerpro_moodle.formats.' + m.name)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'airflow'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr[-2000:]
