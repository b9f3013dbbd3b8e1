"""What every operator of the sync shares: connection ids, lazy hooks, settings, and turning
a :class:`~powerpro_moodle.formats.summary.TaskSummary` into the XCom the sync log reads."""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import TYPE_CHECKING, Any, NoReturn

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from powerpro_moodle.config import MOODLE_CONN_ID, POWERPRO_CONN_ID
from powerpro_moodle.formats.settings import Settings, SettingsError
from powerpro_moodle.formats.summary import TaskSummary, log_lines
from powerpro_moodle.rto_settings import load_settings
from powerpro_moodle.sync_log import SUMMARY_KEY

if TYPE_CHECKING:
    from powerpro_moodle.db import PowerProDb
    from powerpro_moodle.moodle_server import MoodleServer


def as_bool(name: str, value: Any) -> bool:
    """A run parameter as a bool (templated values may arrive as text)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0", "yes", "no"):
        return value.strip().lower() in ("true", "1", "yes")
    raise AirflowFailException(f"run parameter {name!r} must be true or false, got {value!r}")


class PowerProMoodleOperator(BaseOperator):
    """Base of the sync's operators.

    Subclasses implement :meth:`sync` and return a :class:`TaskSummary`; this class returns it
    as the task's XCom, which the sync log callback writes to ``ELearningSyncLog``.

    :param powerpro_conn_id: the PowerPro database connection (``mssql``, or ``sqlite`` for the demo).
    :param moodle_conn_id: the Moodle file server connection (``ftp``, FTPS, or ``sftp``).
    """

    direction: str = ""
    ui_color = "#e8f0fe"

    def __init__(
        self, *, powerpro_conn_id: str = POWERPRO_CONN_ID, moodle_conn_id: str = MOODLE_CONN_ID, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.powerpro_conn_id = powerpro_conn_id
        self.moodle_conn_id = moodle_conn_id

    @cached_property
    def db(self) -> PowerProDb:
        from powerpro_moodle.db import PowerProDb

        return PowerProDb(self.powerpro_conn_id)

    def ftp(self) -> MoodleServer:
        """A session with the Moodle file server (FTP, FTPS or SFTP, by the connection's type)."""
        from powerpro_moodle.moodle_server import open_moodle_server

        return open_moodle_server(self.moodle_conn_id)

    def settings(self) -> Settings:
        try:
            return load_settings()
        except SettingsError as err:  # bad configuration: retrying cannot help
            raise AirflowFailException(str(err)) from err

    def preview_reason(self, settings: Settings) -> str | None:
        """Why this run may only preview although no dry run was asked for; ``None`` when it is live.

        Until someone has read a dry run and set ``go_live``, nothing is uploaded or written: a
        new install previews on every run, scheduled or manual. A site that already ran for real
        (an upgrade from a release without the setting) stays live; ``go_live: false`` pauses any site.
        """
        if settings.go_live is True or (settings.go_live is None and self.db.sync_has_run()):
            return None
        return ("not live yet, so this run only previews: read it, then set \"go_live\": true in the Variable "
                "powerpro_moodle_settings")

    def execute(self, context: Any) -> dict[str, Any]:
        from powerpro_moodle.db import UnsupportedConnection

        try:
            summary = self.sync(context)
        except UnsupportedConnection as err:
            raise AirflowFailException(str(err)) from err
        finally:
            if "db" in self.__dict__:
                self.db.close()  # nothing of this try's connections outlives it
        for line in log_lines(summary.anomalies):
            self.log.warning("%s", line)
        self.log.info("%s", summary.message)
        out = summary.to_xcom()
        context["ti"].xcom_push(key=SUMMARY_KEY, value=out)  # the one place the sync log reads it
        return out

    def fail(self, context: Any, summary: TaskSummary) -> NoReturn:
        """Fail this task without retry; the sync log shows ``summary`` and its message as they are."""
        summary.failure = True
        context["ti"].xcom_push(key=SUMMARY_KEY, value=summary.to_xcom())
        raise AirflowFailException(summary.message)

    def sync(self, context: Any) -> TaskSummary:
        raise NotImplementedError


class EnsureSyncTablesOperator(PowerProMoodleOperator):
    """Create the sync's own ``MoodleSync…`` tables that are missing (idempotent).

    :param tables: the tables this DAG uses; each has ``include/sql/create_table_<name>.sql``.
    :param direction: ``Provisioning`` or ``Resulting``, for the sync log.
    """

    ui_color = "#f1f3f4"

    def __init__(self, *, tables: list[str], direction: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.tables = tables
        self.direction = direction

    def sync(self, context: Any) -> TaskSummary:
        done = self.db.ensure_tables(self.tables)
        message = "sync tables: " + "; ".join(done) if done else "sync tables present and up to date"
        return TaskSummary(self.direction, message=message, extra={"table_changes": done})


class StepClock:
    """Where a task's time goes, by step (for the log and the summary's ``seconds``)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self._last = time.perf_counter()
        self._last_cpu = time.process_time()

    def lap(self, step: str) -> None:
        now, cpu = time.perf_counter(), time.process_time()
        self.seconds[step] = self.seconds.get(step, 0.0) + now - self._last
        self.cpu[step] = self.cpu.get(step, 0.0) + cpu - self._last_cpu
        self._last, self._last_cpu = now, cpu

    def rounded(self, cpu: bool = False) -> dict[str, float]:
        return {k: round(v, 3) for k, v in (self.cpu if cpu else self.seconds).items()}


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Keep Python's garbage collector from walking the task's whole heap again and again.

    A completion file of a million rows, or a users file of 100,000 students, makes millions of
    short-lived objects; each of the collector's full
    passes walks every live object, Airflow's included, which cost a third of the task's time.
    The objects alive before the file are set aside (``gc.freeze``) and the young generation is
    collected less often; both are put back after.
    """
    threshold = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(100_000, *threshold[1:])
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()
