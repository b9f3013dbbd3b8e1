"""PowerPro database access, shared by both DAGs: SQL loading and the hook from the connection.

The SQL in ``include/sql/`` is written once, in T-SQL, with ``@Name`` parameters so a DBA can
``DECLARE`` them and run a file in SSMS. On SQL Server (conn type ``mssql``) it runs as
written; on the embedded demo engine (conn type ``sqlite``) sqlglot translates it. Either way
the values are bound as parameters through SQLAlchemy, never formatted into the SQL text.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import cache, cached_property
from pathlib import Path
from typing import Any

import sqlglot
from sqlalchemy import bindparam, inspect, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.elements import TextClause

#: ``include/sql`` beside ``plugins/`` (the layout Airflow and the compose file use).
SQL_DIR = Path(os.environ.get("POWERPRO_MOODLE_SQL_DIR", Path(__file__).resolve().parents[2] / "include" / "sql"))

#: conn type -> the sqlglot dialect the shipped T-SQL is translated to (None: run as written).
DIALECTS: dict[str, str | None] = {"mssql": None, "sqlite": "sqlite"}

# @Name, but not @@ROWCOUNT-style globals and not inside an email-like word.
_PARAM = re.compile(r"(?<![@\w])@([A-Za-z_]\w*)")
# A "--" comment to the end of its line (the shipped SQL has no "--" inside string literals).
_COMMENT = re.compile(r"--[^\n]*")


class UnsupportedConnection(ValueError):
    """The ``powerpro_db`` connection has a type the sync cannot talk to."""


class PowerProDbError(RuntimeError):
    """The PowerPro database refused a connection or a statement; the message names which."""


def _first_line(err: DBAPIError) -> str:
    # SQLAlchemy appends the whole statement and its parameters; the driver's message is enough.
    return f"{type(err.orig).__name__}: {err.orig}".splitlines()[0]


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


@cache
def load_statements(name: str, dialect: str | None, expanding: frozenset[str] = frozenset()) -> tuple[str, ...]:
    """The statements of ``include/sql/<name>.sql`` ready for SQLAlchemy ``text()``.

    :param dialect: ``None`` to keep T-SQL (one batch), else a sqlglot dialect to translate to
        (one string per statement).
    :param expanding: parameters bound to a list, written ``IN (@Name)`` in the file.
    """
    source = sql_path(name).read_text(encoding="utf-8")
    if dialect is None:
        # As written, less the comments: SQLAlchemy would read a ":word" in one as a parameter.
        statements = [_COMMENT.sub("", source)]
    else:
        statements = [
            tree.transform(_drop_type_lengths).sql(dialect, comments=False)
            for tree in sqlglot.parse(source, read="tsql")
            if tree is not None
        ]
    out = []
    for sql in statements:
        for param in expanding:
            sql = re.sub(rf"\(\s*@{param}\s*\)", f":{param}", sql)
        out.append(_PARAM.sub(r":\1", sql))
    return tuple(out)


class PowerProDb:
    """The PowerPro database behind an Airflow connection (``mssql`` or ``sqlite``).

    Nothing connects until a method is called, so building one at parse time is free.

    :param conn_id: Airflow connection id, ``powerpro_db`` by default.
    """

    def __init__(self, conn_id: str = "powerpro_db") -> None:
        self.conn_id = conn_id

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
        return self.connection.get_hook().get_sqlalchemy_engine()

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
            except BaseException:
                trans.rollback()
                raise
            if commit:
                trans.commit()
            else:
                trans.rollback()

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

    def fetch(self, conn: Connection, name: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """Rows of a file's (single) query, as dicts keyed by column name."""
        *setup, query = self.statements(name, params)
        with self._naming(name):
            for clause in setup:
                conn.execute(clause, dict(params or {}))
            return [dict(row) for row in conn.execute(query, dict(params or {})).mappings()]

    def query(self, name: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        with self.transaction() as conn:
            return self.fetch(conn, name, params)

    def ensure_tables(self, tables: Sequence[str]) -> list[str]:
        """Create the sync's own tables that are missing (``create_table_<name>.sql``).

        Idempotent, and safe when both DAGs start at once. Never touches PowerPro's tables.

        :return: the tables it created.
        """
        created = []
        for table in tables:
            if not table.startswith("MoodleSync"):
                raise ValueError(f"{table!r} is not one of the sync's own tables (MoodleSync...)")
            if inspect(self.engine).has_table(table):
                continue
            try:
                with self.transaction() as conn:
                    self.run(conn, f"create_table_{table}")
                created.append(table)
            except Exception:
                if not inspect(self.engine).has_table(table):  # not another run's win: a real error
                    raise
        return created
