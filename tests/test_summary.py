"""Sync log rows stay readable and bounded, whatever a file holds (SPEC section 6, size rule)."""

from __future__ import annotations

import pytest
from powerpro_moodle.formats.summary import REJECTED, WARNING, Anomaly, TaskSummary, bounded_anomalies, log_lines
from powerpro_moodle.sync_log import readable_error


def unknown(n: int) -> list[Anomaly]:
    return [Anomaly("student", f"X{i}", "unknown_student", f"X{i} matches no StudentNumber") for i in range(n)]


def test_details_list_at_most_200_anomalies_and_count_them_all():
    anomalies = unknown(200_000) + [Anomaly("student", "S1", "conflict", "manual 51")]
    out = TaskSummary("Resulting", anomalies=anomalies).to_xcom()
    assert len(out["anomalies"]) == 200
    assert out["anomaly_counts"] == {"conflict": 1, "unknown_student": 200_000}
    assert out["anomalies_total"] == 200_001
    assert out["anomalies"][0]["code"] == "conflict", "when the list is cut, conflicts are kept first"


def test_a_short_list_keeps_its_order():
    anomalies = [Anomaly("student", "S2", "transfer", "t", level=WARNING), Anomaly("student", "S1", "conflict", "c")]
    assert [a["key"] for a in bounded_anomalies(anomalies)["anomalies"]] == ["S2", "S1"]


def test_the_task_log_lists_200_then_counts_per_reason():
    anomalies = unknown(250) + [Anomaly("row", "row 9", "bad_time", "bad", level=REJECTED)] * 3
    lines = log_lines(anomalies)
    assert len(lines) == 200 + 3
    assert lines[199] == "student X199: X199 matches no StudentNumber"
    assert lines[200:] == ["... and 53 more, not listed one by one:", "  50 x unknown_student", "  3 x bad_time"]


@pytest.mark.parametrize(
    "error, expected",
    [
        pytest.param(ValueError("first line\nsecond line"), "first line", id="first line only"),
        pytest.param(TimeoutError(), "the task ran longer than its time limit (POWERPRO_MOODLE_TASK_TIMEOUT_MINUTES)",
                     id="silent timeout"),
        pytest.param(RuntimeError(), "an error without a message; the task log has the details", id="no message"),
    ],
)
def test_errors_read_as_words_without_class_names(error, expected):
    assert readable_error(error) == expected
