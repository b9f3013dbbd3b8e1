"""PowerPro RTO <-> Moodle sync.

Three layers, data flowing one way:

* :mod:`powerpro_moodle.formats`: pure Python, no Airflow import. Moodle's file formats,
  the username, CSV-safety and outcome rules, the settings schema.
* :mod:`powerpro_moodle.db`, :mod:`powerpro_moodle.ftp`, :mod:`powerpro_moodle.config`,
  :mod:`powerpro_moodle.sync_log` and :mod:`powerpro_moodle.operators`: the Airflow edge.
* ``dags/``: configuration only.
"""
