"""The PowerPro ⇄ Moodle plugin: the E-Learning Sync Log page in the Airflow UI.

It adds "E-Learning Sync Log" to the UI's navigation (shown inside the UI, in an iframe) and the
FastAPI app behind it at ``/powerpro-moodle`` (:mod:`powerpro_moodle.ui`): the page at
``/powerpro-moodle/sync-log`` and its rows as JSON at ``/powerpro-moodle/api/sync-log``. Every
route needs a user logged in to Airflow.

Airflow imports this file in every process that loads plugins, tasks included: importing it
costs nothing and connects nowhere. The app (FastAPI and Airflow's API security) is imported
only when the API server asks for it.
"""

from __future__ import annotations

from typing import Any

from airflow.plugins_manager import AirflowPlugin

URL_PREFIX = "/powerpro-moodle"
VIEW_NAME = "E-Learning Sync Log"


class PowerProMoodlePlugin(AirflowPlugin):
    name = "powerpro_moodle"
    external_views = [
        {
            "name": VIEW_NAME,
            "href": f"{URL_PREFIX}/sync-log",
            "destination": "nav",
            "url_route": "elearning-sync-log",
            # A button of its own in the navigation, where RTO staff look; the category groups
            # it with other plugins' views in UIs that file them all under "Plugins".
            "nav_top_level": True,
            "category": "PowerPro ⇄ Moodle",
            "icon": f"{URL_PREFIX}/icon.svg",
            "icon_dark_mode": f"{URL_PREFIX}/icon-dark.svg",
        }
    ]

    @property
    def fastapi_apps(self) -> list[dict[str, Any]]:  # type: ignore[override]
        """``[{"app": app, "url_prefix": "/powerpro-moodle", "name": ...}]``, the app imported on
        first use (only the API server asks)."""
        from powerpro_moodle.ui import app

        return [{"app": app, "url_prefix": URL_PREFIX, "name": VIEW_NAME}]
