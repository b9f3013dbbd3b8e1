"""Formats and rules: pure Python, no Airflow import (a test enforces it)."""
