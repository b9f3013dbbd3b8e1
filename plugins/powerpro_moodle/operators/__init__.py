"""Custom operators: the Airflow edge around the Moodle file formats."""
