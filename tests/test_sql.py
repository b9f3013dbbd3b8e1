"""The SQL in include/sql is valid T-SQL, runs on the embedded engine, and binds its values."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlglot
from powerpro_moodle.db import SQL_DIR, load_statements, translate
from sqlglot.errors import ErrorLevel

SQL_FILES = sorted(p for p in SQL_DIR.rglob("*.sql"))
#: The sync's own tables as release 0.1 created them: what an upgrade in place starts from.
PREVIOUS_RELEASE = Path(__file__).parent / "fixtures" / "release_0_1"


#: The files with an ``IN (@List)`` parameter, and a list for it.
LIST_PARAMS = {
    "select_export_enrolments": {"AccessStatuses": ["ACTIVE", "COMPLETED"]},
    "select_export_state": {"StateNumbers": ["S1001", "S1002"]},
    "delete_exported_students": {"StateNumbers": ["S1001", "S1002"]},
}


def test_every_list_parameter_is_known():
    """A file written ``IN (@Name)`` must be sent with a list: the checks below bind one."""
    found = {p.stem for p in SQL_FILES if re.search(r"IN\s*\(\s*@\w+\s*\)", p.read_text(encoding="utf-8"))}
    assert found == set(LIST_PARAMS)


def test_there_is_sql_to_check():
    assert len(SQL_FILES) >= 5


@pytest.mark.parametrize("path", SQL_FILES, ids=lambda p: str(p.relative_to(SQL_DIR)))
def test_sql_file_parses_as_tsql(path: Path):
    trees = sqlglot.parse(path.read_text(encoding="utf-8"), read="tsql", error_level=ErrorLevel.RAISE)
    assert [t for t in trees if t is not None], f"{path.name} holds no statement"


@pytest.mark.parametrize("path", SQL_FILES, ids=lambda p: str(p.relative_to(SQL_DIR)))
def test_sql_values_are_bound_not_formatted(path: Path):
    text = path.read_text(encoding="utf-8")
    assert not re.search(r"\{[a-z_]*\}|%\(?\w*\)?s", text), "SQL must use @Name parameters, not Python formatting"


@pytest.mark.parametrize("path", SQL_FILES, ids=lambda p: str(p.relative_to(SQL_DIR)))
def test_sql_translates_for_the_embedded_engine(path: Path):
    import sqlite3

    name = str(path.relative_to(SQL_DIR).with_suffix(""))
    conn = sqlite3.connect(":memory:")
    for statement in load_statements("reference/powerpro_reference_schema", "sqlite"):
        conn.execute(statement)
    if name.startswith("migrate_"):
        # A migration runs on the tables as the previous release created them.
        for create in sorted(PREVIOUS_RELEASE.glob("create_table_*.sql")):
            for statement in translate(create.read_text(encoding="utf-8"), "sqlite"):
                conn.execute(statement)
    else:
        for create in sorted(SQL_DIR.glob("create_table_*.sql")):
            for statement in load_statements(create.stem, "sqlite"):
                conn.execute(statement)
    for statement in load_statements(name, "sqlite"):
        if name.startswith(("reference/", "create_table_")):
            continue
        params = {p: None for p in re.findall(r":(\w+)", statement)}
        if name.startswith("migrate_"):
            # A migration's later batches use what its first one added: run it for real.
            conn.execute(statement, params)
            continue
        # EXPLAIN compiles the statement against the schema without running it.
        conn.execute("EXPLAIN " + statement, params)


def test_tsql_text_keeps_its_parameters_for_sql_server():
    (batch,) = load_statements("select_export_enrolments", None, frozenset({"AccessStatuses"}))
    assert "IN :AccessStatuses" in batch and "--" not in batch


def test_the_sql_server_path_sends_tsql_with_bound_parameters(monkeypatch):
    """SQL Server itself cannot run here; what the sync would send it can still be checked: the
    hook from an ``mssql`` connection, and every statement compiled by its dialect (pymssql's
    %(name)s parameters) still parses as T-SQL."""
    from powerpro_moodle.db import PowerProDb

    monkeypatch.setenv("AIRFLOW_CONN_POWERPRO_DB", "mssql://svc:s3cret@sql.example.internal:1433/PowerPro")
    db = PowerProDb()
    assert db.dialect is None
    engine = db.engine  # builds the engine; connects to nothing
    assert engine.url.drivername == "mssql+pymssql"
    assert (engine.url.host, engine.url.database) == ("sql.example.internal", "PowerPro")
    names = [p.stem for p in SQL_DIR.glob("*.sql")]
    assert names
    for name in names:
        params = LIST_PARAMS.get(name, {})
        for clause in db.statements(name, params):
            if params:
                clause = clause.params(**params)
            compiled = clause.compile(dialect=engine.dialect, compile_kwargs={"render_postcompile": True})
            sql = compiled.string
            assert ":" not in re.sub(r"'[^']*'", "", sql), f"{name}: a parameter was left unbound"
            tsql = re.sub(r"%\((\w+)\)s", r"@\1", sql)
            trees = sqlglot.parse(tsql, read="tsql", error_level=ErrorLevel.RAISE)
            assert [t for t in trees if t is not None], name
            for param in params:
                assert re.search(rf"IN \(@{param}_\w+, @{param}_\w+\)", tsql), tsql
