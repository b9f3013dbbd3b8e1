"""PowerPro database access, shared by both DAGs: SQL loading and the hook from the connection.

The SQL in ``include/sql/`` is written once, in T-SQL, with ``@Name`` parameters so a DBA can
``DECLARE`` them and run a file in SSMS. On SQL Server (conn type ``mssql``) it runs as
written; on the embedded demo engine (conn type ``sqlite``) sqlglot translates it. Either way
the values are bound as parameters through SQLAlchemy, never formatted into the SQL text.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache, cached_property
from itertools import chain, islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlglot
from sqlalchemy import bindparam, inspect, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool
from sqlalchemy.sql.elements import TextClause

if TYPE_CHECKING:
    import pandas as pd

#: ``include/sql`` beside ``plugins/`` (the layout Airflow and the compose file use).
SQL_DIR = Path(os.environ.get("POWERPRO_MOODLE_SQL_DIR", Path(__file__).resolve().parents[2] / "include" / "sql"))

#: conn type -> the sqlglot dialect the shipped T-SQL is translated to (None: run as written).
DIALECTS: dict[str, str | None] = {"mssql": None, "sqlite": "sqlite"}

# @Name, but not @@ROWCOUNT-style globals and not inside an email-like word.
_PARAM = re.compile(r"(?<![@\w])@([A-Za-z_]\w*)")
# A :Name parameter of the statements load_statements gives (not a "::" cast).
_BOUND = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")
# A "--" comment to the end of its line (the shipped SQL has no "--" inside string literals).
_COMMENT = re.compile(r"--[^\n]*")
# SSMS's batch separator: a migration that adds a column and then fills it needs two batches on
# SQL Server, which compiles a whole batch before running it.
_GO = re.compile(r"^\s*GO\s*$", re.IGNORECASE | re.MULTILINE)


#: SQL Server's limits on one statement: rows in a ``VALUES`` list, and parameters.
MAX_ROWS_PER_INSERT = 1000
MAX_PARAMS_PER_STATEMENT = 2100
#: Values bound to one ``IN (@List)`` parameter per statement (within the 2100 parameters).
MAX_IN_VALUES = 2000

# The single row of an INSERT … VALUES (…) file: what comes before its VALUES, and the row.
_INSERT_VALUES = re.compile(r"^(?P<head>\s*INSERT\s+INTO\s.*?\)\s*VALUES)\s*(?P<row>\(.*\))\s*;?\s*$",
                            re.IGNORECASE | re.DOTALL)
# The driver's placeholder for each DBAPI paramstyle (positional).
_PLACEHOLDERS = {"qmark": "?", "format": "%s", "pyformat": "%s", "numeric": ":{n}"}


@dataclass(frozen=True)
class _InsertTemplate:
    """An ``INSERT … VALUES (row)`` statement, ready to be sent with many rows."""

    head: str
    row: str  # the row with the driver's positional placeholder for each parameter
    params: tuple[str, ...]  # the parameters, in the order their values are sent
    numbered: bool  # ``numeric`` paramstyle: placeholders carry their position

    def sql(self, rows: int) -> str:
        if not self.numbered:
            return f"{self.head} {', '.join([self.row] * rows)}"
        k = len(self.params)
        return f"{self.head} " + ", ".join(self.row.format(*range(i * k + 1, (i + 1) * k + 1)) for i in range(rows))


@cache
def _insert_template(name: str, dialect: str | None, paramstyle: str) -> _InsertTemplate:
    statements = load_statements(name, dialect)
    found = _INSERT_VALUES.match(statements[0]) if len(statements) == 1 else None
    if found is None:
        raise ValueError(f"include/sql/{name}.sql must be one INSERT INTO … (…) VALUES (…) statement to insert rows "
                         "in batches")
    row = found["row"]
    params = tuple(m.group(1) for m in _BOUND.finditer(row))
    if not params:
        raise ValueError(f"include/sql/{name}.sql: its VALUES (…) has no parameter")
    placeholder = _PLACEHOLDERS[paramstyle]
    numbered = paramstyle == "numeric"
    if paramstyle in ("format", "pyformat"):
        row = row.replace("%", "%%")
    if numbered:
        row = row.replace("{", "{{").replace("}", "}}")
        counter = iter(range(len(params)))
        row = _BOUND.sub(lambda _: ":{" + str(next(counter)) + "}", row)
    else:
        row = _BOUND.sub(lambda _: placeholder, row)
    return _InsertTemplate(found["head"].strip(), row, params, numbered)


class UnsupportedConnection(ValueError):
    """The ``powerpro_db`` connection has a type the sync cannot talk to."""


class PowerProDbError(RuntimeError):
    """The PowerPro database refused a connection or a statement; the message names which."""


def _first_line(err: DBAPIError) -> str:
    # SQLAlchemy appends the whole statement and its parameters; the driver's message is enough.
    return (str(err.orig).strip() or type(err.orig).__name__).splitlines()[0]


def sql_path(name: str) -> Path:
    path = SQL_DIR / f"{name}.sql"
    if not path.is_file():
        raise FileNotFoundError(f"SQL file {path} is missing")
    return path


def _drop_type_lengths(node: sqlglot.exp.Expression) -> sqlglot.exp.Expression:
    # SQLite takes any type name but not NVARCHAR(MAX)'s "MAX": its types need no length.
    if isinstance(node, sqlglot.exp.DataType) and node.expressions:
        return sqlglot.exp.DataType(this=node.this)
    return node


def translate(source: str, dialect: str | None) -> list[str]:
    """T-SQL text as the statements to send: the batches as written (less comments) for SQL
    Server, or each statement translated by sqlglot for another engine."""
    batches = [b for b in _GO.split(source) if _COMMENT.sub("", b).strip()]
    if dialect is None:
        # As written, less the comments: SQLAlchemy would read a ":word" in one as a parameter.
        return [_COMMENT.sub("", batch) for batch in batches]
    return [
        tree.transform(_drop_type_lengths).sql(dialect, comments=False)
        for batch in batches
        for tree in sqlglot.parse(batch, read="tsql")
        if tree is not None
    ]


@cache
def load_statements(name: str, dialect: str | None, expanding: frozenset[str] = frozenset()) -> tuple[str, ...]:
    """The statements of ``include/sql/<name>.sql`` ready for SQLAlchemy ``text()``.

    :param dialect: ``None`` to keep T-SQL (one batch), else a sqlglot dialect to translate to
        (one string per statement).
    :param expanding: parameters bound to a list, written ``IN (@Name)`` in the file.
    """
    out = []
    for sql in translate(sql_path(name).read_text(encoding="utf-8"), dialect):
        for param in expanding:
            sql = re.sub(rf"\(\s*@{param}\s*\)", f":{param}", sql)
        out.append(_PARAM.sub(r":\1", sql))
    return tuple(out)


class PowerProDb:
    """The PowerPro database behind an Airflow connection (``mssql`` or ``sqlite``).

    Nothing connects until a method is called, so building one at parse time is free.

    :param conn_id: Airflow connection id, ``powerpro_db`` by default.
    :param pooled: ``False`` opens a new database connection for each transaction and closes it
        after (the sync log callback: it must not inherit a connection a failed task left locked).
    """

    def __init__(self, conn_id: str = "powerpro_db", *, pooled: bool = True) -> None:
        self.conn_id = conn_id
        self.pooled = pooled

    @cached_property
    def connection(self):
        from airflow.sdk import BaseHook

        return BaseHook.get_connection(self.conn_id)

    @cached_property
    def dialect(self) -> str | None:
        conn_type = self.connection.conn_type
        if conn_type not in DIALECTS:
            raise UnsupportedConnection(
                f"connection {self.conn_id!r} has type {conn_type!r}; the sync supports "
                f"{', '.join(sorted(DIALECTS))}"
            )
        return DIALECTS[conn_type]

    @cached_property
    def engine(self) -> Engine:
        _ = self.dialect  # fail with a clear message before building a hook of the wrong kind
        engine_kwargs = {} if self.pooled else {"poolclass": NullPool}
        return self.connection.get_hook().get_sqlalchemy_engine(engine_kwargs=engine_kwargs)

    def close(self) -> None:
        """Close the pooled connections (the end of a task); the next call opens new ones."""
        if "engine" in self.__dict__:
            self.__dict__.pop("engine").dispose()

    def statements(self, name: str, params: Mapping[str, Any] | None = None) -> list[TextClause]:
        expanding = frozenset(k for k, v in (params or {}).items() if isinstance(v, (list, tuple)))
        clauses = []
        for sql in load_statements(name, self.dialect, expanding):
            clause = text(sql)
            if expanding:
                clause = clause.bindparams(*(bindparam(k, expanding=True) for k in expanding if f":{k}" in sql))
            clauses.append(clause)
        return clauses

    @contextmanager
    def transaction(self, commit: bool = True) -> Iterator[Connection]:
        """One transaction: committed when the block ends, rolled back if it raises.

        :param commit: ``False`` rolls back even on success (a dry run reads through the same
            statements, scratch rows included, and leaves nothing behind).
        """
        try:
            connection = self.engine.connect()
        except DBAPIError as err:
            raise PowerProDbError(f"cannot connect to the PowerPro database ({self._where()}): {_first_line(err)}") from err
        with connection as conn:
            trans = conn.begin()
            try:
                yield conn
                if commit:
                    try:
                        trans.commit()
                    except DBAPIError as err:
                        raise PowerProDbError(
                            f"the PowerPro database ({self._where()}) could not save the changes: {_first_line(err)}"
                        ) from err
                else:
                    trans.rollback()
            except BaseException:
                # A connection whose statement or commit failed may still hold locks (SQLite keeps
                # its write lock after a failed COMMIT): discard it rather than hand it back to the
                # pool, where the retry or the sync log callback would inherit the lock.
                try:
                    if trans.is_active:
                        trans.rollback()
                except Exception:  # noqa: BLE001 - the original error is the one to raise
                    pass
                conn.invalidate()
                raise

    def _where(self) -> str:
        c = self.connection
        return f"{c.conn_type} {c.host or ''}{':' + str(c.port) if c.port else ''}{'/' + c.schema if c.schema else ''}"

    @contextmanager
    def _naming(self, name: str) -> Iterator[None]:
        # A DBA adapting include/sql must see which file the database refused, and why.
        try:
            yield
        except DBAPIError as err:
            raise PowerProDbError(f"include/sql/{name}.sql failed on the PowerPro database: {_first_line(err)}") from err

    def run(
        self, conn: Connection, name: str, params: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None
    ) -> int:
        """Run a file's statements; a list of parameter sets runs each statement as a batch.

        :return: the rows the last statement affected.
        """
        if params is None:
            params = {}
        if isinstance(params, Sequence) and not params:
            return 0
        sample = params[0] if isinstance(params, Sequence) else params
        rowcount = 0
        with self._naming(name):
            for clause in self.statements(name, sample):
                rowcount = conn.execute(clause, list(params) if isinstance(params, Sequence) else dict(params)).rowcount
        return rowcount

    def insert_rows(self, conn: Connection, name: str, rows: Iterable[Mapping[str, Any] | Sequence[Any]]) -> int:
        """Run ``include/sql/<name>.sql``, one ``INSERT INTO … (…) VALUES (@A, @B, …)``, for many
        rows, in multi-row statements within SQL Server's limits (at most
        :data:`MAX_ROWS_PER_INSERT` rows and :data:`MAX_PARAMS_PER_STATEMENT` parameters each):
        a few round trips, where ``run`` with a list (pymssql's ``executemany``) makes one per row.

        :param rows: each row's values, by parameter name (a mapping) or in the order the
            parameters appear in ``VALUES (…)`` (a sequence); read once, a batch at a time.
        :return: the rows inserted.
        """
        template = _insert_template(name, self.dialect, self.engine.dialect.paramstyle)
        width = len(template.params)
        per_statement = max(1, min(MAX_ROWS_PER_INSERT, MAX_PARAMS_PER_STATEMENT // width))
        rows = iter(rows)
        first = next(rows, None)
        if first is None:
            return 0
        if isinstance(first, Mapping):
            values = chain.from_iterable(
                [row[p] for p in template.params] for row in chain([first], rows))  # type: ignore[index]
        else:
            values = chain.from_iterable(chain([first], rows))
        inserted = 0
        with self._naming(name):
            while batch := tuple(islice(values, per_statement * width)):
                if len(batch) % width:
                    raise ValueError(f"include/sql/{name}.sql takes {width} values a row; a row had another number")
                inserted += conn.exec_driver_sql(template.sql(len(batch) // width), batch).rowcount
        return inserted

    def stream(self, conn: Connection, name: str, params: Mapping[str, Any] | None = None,
               batch_rows: int = 50_000) -> Iterator[tuple[list[str], list[tuple[Any, ...]]]]:
        """Rows of a file's (single) query, a batch at a time, as (column names, the driver's
        tuples): a result of any size in bounded memory."""
        *setup, query = self.statements(name, params)
        with self._naming(name):
            for clause in setup:
                conn.execute(clause, dict(params or {}))
            result = conn.execute(query, dict(params or {}))
            columns = list(result.keys())
            cursor = result.cursor  # the driver's own rows (tuples): no per-row work on the way
            try:
                while batch := cursor.fetchmany(batch_rows):
                    yield columns, batch
            finally:
                result.close()

    def fetch(self, conn: Connection, name: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """Rows of a file's (single) query, as dicts keyed by column name."""
        *setup, query = self.statements(name, params)
        with self._naming(name):
            for clause in setup:
                conn.execute(clause, dict(params or {}))
            return [dict(row) for row in conn.execute(query, dict(params or {})).mappings()]

    def frame(self, name: str, params: Mapping[str, Any] | None = None) -> pd.DataFrame:
        """Rows of a file's (single) query as a DataFrame whose columns hold the driver's values
        as they are (text stays ``str``, NULL stays ``None``): no per-row work on the way."""
        import numpy as np
        import pandas as pd

        with self.transaction() as conn:
            *setup, query = self.statements(name, params)
            with self._naming(name):
                for clause in setup:
                    conn.execute(clause, dict(params or {}))
                result = conn.execute(query, dict(params or {}))
                columns = list(result.keys())
                rows = result.cursor.fetchall()
                result.close()
        table = np.empty((len(rows), len(columns)), dtype=object)
        if rows:
            table[:] = rows
        return pd.DataFrame({c: pd.Series(table[:, i], dtype=object, copy=False) for i, c in enumerate(columns)})

    def fetch_in(self, name: str, param: str, values: Sequence[Any]) -> list[dict[str, Any]]:
        """A query whose ``IN (@param)`` takes many values, sent :data:`MAX_IN_VALUES` at a time
        (SQL Server takes at most 2100 parameters a statement)."""
        out: list[dict[str, Any]] = []
        with self.transaction() as conn:
            for start in range(0, len(values), MAX_IN_VALUES):
                out.extend(self.fetch(conn, name, {param: list(values[start:start + MAX_IN_VALUES])}))
        return out

    def run_in(self, conn: Connection, name: str, param: str, values: Sequence[Any]) -> int:
        """A statement whose ``IN (@param)`` takes many values, :data:`MAX_IN_VALUES` at a time."""
        done = 0
        for start in range(0, len(values), MAX_IN_VALUES):
            done += self.run(conn, name, {param: list(values[start:start + MAX_IN_VALUES])})
        return done

    def query(self, name: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        with self.transaction() as conn:
            return self.fetch(conn, name, params)

    def ensure_tables(self, tables: Sequence[str]) -> list[str]:
        """Create the sync's own tables that are missing (``create_table_<name>.sql``), and bring
        the ones an earlier release created up to date (``migrate_<name>_add_<Column>.sql``).

        Idempotent, and safe when both DAGs start at once. Never touches PowerPro's tables and
        never drops the sync's own data.

        :return: what it did, e.g. ``["created MoodleSyncInboxFile", "MoodleSyncAppliedFile: added Anomalies"]``.
        """
        done = []
        for table in tables:
            if not table.startswith("MoodleSync"):
                raise ValueError(f"{table!r} is not one of the sync's own tables (MoodleSync...)")
            if not inspect(self.engine).has_table(table):
                try:
                    with self.transaction() as conn:
                        self.run(conn, f"create_table_{table}")
                    done.append(f"created {table}")
                except Exception:
                    if not inspect(self.engine).has_table(table):  # not another run's win: a real error
                        raise
                continue
            done.extend(f"{table}: added {column}" for column in self._migrate(table))
        return done

    def _migrate(self, table: str) -> list[str]:
        """Run each ``migrate_<table>_add_<Column>.sql`` whose column the table lacks."""
        added = []
        for path in sorted(SQL_DIR.glob(f"migrate_{table}_add_*.sql")):
            column = path.stem.rsplit("_add_", 1)[1]
            if column in self._columns(table):
                continue
            try:
                with self.transaction() as conn:
                    self.run(conn, path.stem)
                added.append(column)
            except Exception:
                if column not in self._columns(table):  # not a concurrent run's win: a real error
                    raise
        return added

    def sync_has_run(self) -> bool:
        """Whether the sync has ever sent a student or applied a file here (its own tables say so)."""
        for table, name in (("MoodleSyncExportState", "select_any_exported_student"),
                            ("MoodleSyncAppliedFile", "select_any_applied_file")):
            if inspect(self.engine).has_table(table) and self.query(name):
                return True
        return False

    def _columns(self, table: str) -> set[str]:
        return {c["name"] for c in inspect(self.engine).get_columns(table)}
