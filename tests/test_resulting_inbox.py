"""What the resulting DAG takes from the inbox, and when: files still being written, files that
change under it, entries that are not completion files. Real runs on a real FTP server."""

from __future__ import annotations

import time

import pytest
from test_resulting_dag import DAG_ID, HEADER, import_rows, outcome

pytestmark = pytest.mark.dagrun


@pytest.fixture
def two_students(powerpro):
    pp = powerpro
    unit = pp.unit("BSBOPS504")
    course = pp.course("BSB50420", "BSB50420-2026")
    for number in ("S1", "S2"):
        pp.enrolment_unit(pp.enrol(pp.student(number), course), unit)
    return pp


def list_row(pp, run_id):
    (row,) = [r for r in pp.sync_log() if r["TaskId"] == "list_completion_files" and r["RunId"] == run_id]
    return row


def test_a_file_still_being_written_is_left_whole_for_the_next_run(two_students, ftp_server, run_dag, settings,
                                                                    monkeypatch):
    """Moodle's host is still appending rows while the sync looks: nothing of it is applied, the
    listing row says why, and the next run takes the finished file whole. The host's writes are
    made just before each look the sync takes (an exact moment, so a loaded machine cannot make
    the writer miss the window)."""
    from powerpro_moodle.ftp import MoodleFtp

    settings(file_settle_seconds=1)
    path = ftp_server.path("/from_moodle/growing.csv")
    ftp_server.put("/from_moodle/growing.csv", HEADER + "S1,BSBOPS504,1774962000,,,first\r\n", age_seconds=0)
    real_entries, looks = MoodleFtp.entries, []

    def look_while_the_host_writes(self, folder):
        looks.append(folder)
        with path.open("a") as f:  # the host has just appended another row when the sync looks
            f.write(f"S9{len(looks)},BSBOPS504,1774962000,,,more\r\n")
        return real_entries(self, folder)

    monkeypatch.setattr(MoodleFtp, "entries", look_while_the_host_writes)
    dr = run_dag(DAG_ID)
    monkeypatch.setattr(MoodleFtp, "entries", real_entries)
    assert looks == ["/from_moodle", "/from_moodle"], "two looks"
    with path.open("a") as f:
        f.write("S2,BSBOPS504,1774962000,,,last\r\n")
    assert dr.state == "success"
    assert ftp_server.files("/from_moodle") == ["growing.csv"]
    assert outcome(two_students, "S1", "BSBOPS504") == (None, None, None)
    assert import_rows(two_students) == []
    row = list_row(two_students, dr.run_id)
    assert "growing.csv (still being written: it changed between two looks)" in row["Message"]
    assert [a["code"] for a in row["Details"]["anomalies"]] == ["inbox_settling"]

    time.sleep(1.1)  # the writer has finished: the file's last change is now older than the settle time
    dr = run_dag(DAG_ID)
    assert dr.state == "success"
    assert outcome(two_students, "S1", "BSBOPS504") == ("20", "2026-04-01", "Moodle sync")
    assert outcome(two_students, "S2", "BSBOPS504") == ("20", "2026-04-01", "Moodle sync"), "the last row too"
    assert ftp_server.files("/from_moodle") == []
    (log,) = import_rows(two_students, dr.run_id)
    assert log["RowsRead"] == 2 + log["RowsRejected"] and log["RowsRejected"] >= 1  # S91... are unknown students


def test_a_new_file_that_does_not_change_is_taken_after_a_second_look(two_students, ftp_server, run_dag, settings):
    settings(file_settle_seconds=4)
    ftp_server.put("/from_moodle/fresh.csv", HEADER + "S1,BSBOPS504,1774962000,,,x\r\n", age_seconds=0)
    dr = run_dag(DAG_ID)
    assert dr.state == "success"
    assert list_row(two_students, dr.run_id)["Details"]["second_look_after_seconds"] > 0, "it looked twice"
    assert outcome(two_students, "S1", "BSBOPS504") == ("20", "2026-04-01", "Moodle sync")
    assert ftp_server.files("/from_moodle/processed") == ["fresh.csv"]


def test_entries_that_are_not_completion_files_are_named_with_the_reason(two_students, ftp_server, run_dag):
    ftp_server.put("/from_moodle/notes.txt", "hello")
    ftp_server.put("/from_moodle/old.errors.csv", "row,reason\r\n")
    ftp_server.path("/from_moodle/archive.csv").mkdir(parents=True)
    ftp_server.put("/from_moodle/c.CSV", HEADER + "S1,BSBOPS504,1774962000,,,x\r\n")
    dr = run_dag(DAG_ID)
    assert dr.state == "success"
    assert outcome(two_students, "S1", "BSBOPS504") == ("20", "2026-04-01", "Moodle sync")
    assert ftp_server.files("/from_moodle") == ["notes.txt", "old.errors.csv"], "what is not taken stays"
    row = list_row(two_students, dr.run_id)
    assert row["Message"] == (
        "1 completion file waiting in /from_moodle: c.CSV; 3 entries not taken: archive.csv (a folder), "
        "notes.txt (not a .csv file), old.errors.csv (an errors file the sync wrote, which belongs beside its file in "
        "processed/ or rejected/)")
    assert (row["RowsRead"], row["RowsSkipped"]) == (1, 3)
    assert row["Details"]["anomaly_counts"] == {"inbox_errors_file": 1, "inbox_folder": 1, "inbox_not_csv": 1}


def test_a_file_that_changes_before_the_commit_writes_nothing_and_is_taken_whole_later(
        two_students, ftp_server, run_dag, monkeypatch):
    """The bytes applied are the bytes moved: a file rewritten after the download is rolled back."""
    from powerpro_moodle.ftp import MoodleFtp

    real_download = MoodleFtp.download
    path = ftp_server.path("/from_moodle/c.csv")

    def download_then_file_grows(self, remote, fileobj):
        real_download(self, remote, fileobj)
        if not getattr(download_then_file_grows, "done", False):
            download_then_file_grows.done = True
            with path.open("a") as f:  # Moodle's host appends its second row now
                f.write("S2,BSBOPS504,1774962000,,,late\r\n")

    monkeypatch.setattr(MoodleFtp, "download", download_then_file_grows)
    ftp_server.put("/from_moodle/c.csv", HEADER + "S1,BSBOPS504,1774962000,,,x\r\n")
    dr = run_dag(DAG_ID)
    assert dr.state == "success"
    assert outcome(two_students, "S1", "BSBOPS504") == (None, None, None), "rolled back"
    assert ftp_server.files("/from_moodle") == ["c.csv"]
    assert two_students.rows("SELECT COUNT(*) AS n FROM MoodleSyncAppliedFile") == [{"n": 0}]
    (log,) = import_rows(two_students, dr.run_id)
    assert log["Message"] == ("c.csv changed on the server while it was being applied; nothing was written; it stays "
                              "in the inbox and the next run takes it once it has stopped changing")

    ftp_server.age("/from_moodle/c.csv")  # later: the file has stopped changing
    dr = run_dag(DAG_ID)
    assert dr.state == "success"
    assert outcome(two_students, "S1", "BSBOPS504") == ("20", "2026-04-01", "Moodle sync")
    assert outcome(two_students, "S2", "BSBOPS504") == ("20", "2026-04-01", "Moodle sync")
    assert ftp_server.files("/from_moodle/processed") == ["c.csv"]


def test_a_file_that_changes_after_the_commit_is_not_moved_and_its_new_content_is_applied_next(
        two_students, ftp_server, run_dag, monkeypatch):
    from powerpro_moodle.operators.resulting import ImportCompletionFileOperator

    real_apply = ImportCompletionFileOperator._apply
    path = ftp_server.path("/from_moodle/c.csv")

    def apply_then_file_grows(self, *args, **kwargs):
        result = real_apply(self, *args, **kwargs)
        if not getattr(apply_then_file_grows, "done", False):
            apply_then_file_grows.done = True
            with path.open("a") as f:
                f.write("S2,BSBOPS504,1774962000,,,late\r\n")
        return result

    monkeypatch.setattr(ImportCompletionFileOperator, "_apply", apply_then_file_grows)
    ftp_server.put("/from_moodle/c.csv", HEADER + "S1,BSBOPS504,1774962000,,,x\r\n")
    dr = run_dag(DAG_ID)
    assert dr.state == "success"
    assert outcome(two_students, "S1", "BSBOPS504") == ("20", "2026-04-01", "Moodle sync")
    assert ftp_server.files("/from_moodle") == ["c.csv"], "not moved: these are not the bytes applied"
    (log,) = import_rows(two_students, dr.run_id)
    assert log["Message"].endswith("the file changed after it was read, so it stays in the inbox for the next run")

    ftp_server.age("/from_moodle/c.csv")
    dr = run_dag(DAG_ID)
    assert dr.state == "success"
    assert outcome(two_students, "S2", "BSBOPS504") == ("20", "2026-04-01", "Moodle sync")
    assert ftp_server.files("/from_moodle") == []
    assert ftp_server.files("/from_moodle/processed") == ["c.csv"]
    (log,) = import_rows(two_students, dr.run_id)
    assert (log["RowsRead"], log["RowsWritten"], log["RowsSkipped"]) == (2, 1, 1)


def test_clearing_a_rejected_files_task_fails_it_again_with_the_same_reason(two_students, ftp_server, run_dag,
                                                                            monkeypatch):
    """Re-running the task after its file went to rejected/ must not turn it green."""
    from airflow.sdk.exceptions import AirflowFailException
    from powerpro_moodle.operators.resulting import ImportCompletionFileOperator

    ftp_server.put("/from_moodle/bad.csv", "student;unit;completed\r\nS1;BSBOPS504;1774962000\r\n")
    dr = run_dag(DAG_ID)
    assert dr.state == "failed"
    assert ftp_server.files("/from_moodle/rejected") == ["bad.csv", "bad.errors.csv"]
    (first,) = import_rows(two_students, dr.run_id)

    # The same task instance again (what Clear in the UI does): same run id, same file name.
    op = ImportCompletionFileOperator(task_id="import_completion_file", file_name="bad.csv")

    class Ti:
        run_id, dag_id, task_id, map_index, try_number = dr.run_id, DAG_ID, "import_completion_file", 0, 2
        pushed: dict = {}

        def xcom_push(self, key, value):
            self.pushed[key] = value

    ti = Ti()
    with pytest.raises(AirflowFailException) as failed:
        op.execute({"ti": ti, "dag_run": dr})
    assert str(failed.value) == first["Message"]
    assert ti.pushed["sync_summary"]["message"] == first["Message"]
    assert "';'" in first["Message"] and first["Message"].endswith("moved to /from_moodle/rejected/bad.csv")
    assert ftp_server.files("/from_moodle/rejected") == ["bad.csv", "bad.errors.csv"]


def test_the_same_rejected_content_delivered_again_is_rejected_again(two_students, ftp_server, run_dag):
    bad = "student;unit;completed\r\nS1;BSBOPS504;1774962000\r\n"
    ftp_server.put("/from_moodle/bad.csv", bad)
    assert run_dag(DAG_ID).state == "failed"
    ftp_server.put("/from_moodle/bad_again.csv", bad)
    dr = run_dag(DAG_ID)
    assert dr.state == "failed"
    assert ftp_server.files("/from_moodle/rejected") == ["bad.csv", "bad.errors.csv", "bad_again.csv",
                                                         "bad_again.errors.csv"]
    (log,) = import_rows(two_students, dr.run_id)
    assert log["Status"] == "failed"
    assert "this content was rejected before, as bad.csv on" in log["Message"]
