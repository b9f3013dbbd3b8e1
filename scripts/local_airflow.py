"""The environment for a throwaway local Airflow (demo and tests): its own home and SQLite
metadata database, this repository's ``dags/`` and ``plugins/``, and quick retries.

Airflow reads its configuration when first imported, so apply this before anything imports it.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def airflow_environ(home: Path, retry_delay_seconds: int = 0) -> dict[str, str]:
    home = Path(home)
    home.mkdir(parents=True, exist_ok=True)
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        "PYTHONPATH": str(ROOT / "plugins"),
        # One quick retry, so a failure shows its retry row without waiting minutes.
        "POWERPRO_MOODLE_RETRIES": "1",
        "POWERPRO_MOODLE_RETRY_DELAY": str(retry_delay_seconds),
    }
