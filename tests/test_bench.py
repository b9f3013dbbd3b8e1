"""``make bench`` runs end to end at tiny sizes: the whole-DAG parts (real ``airflow dags test``
runs, floors, the parse of each DAG file) write the figures the issue asks for. Nothing here is
timed: the checks are on the shape of ``results.json``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.dagrun


def positive(value) -> bool:
    return isinstance(value, (int, float)) and value > 0


def test_make_bench_at_tiny_sizes_writes_every_figure(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "POWERPRO_MOODLE"))}
    env.update(BENCH_PARTS="resulting,provisioning,parse", BENCH_SIZES="150,300", BENCH_STUDENTS="20,40",
               BENCH_PARSE_ROUNDS="1", BENCH_OUT=str(tmp_path))
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "bench.py")], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "marginal ratio" in done.stdout and "peak RSS ratio" in done.stdout

    latest = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    dated = [p for p in tmp_path.glob("results-*.json")]
    assert len(dated) == 1 and json.loads(dated[0].read_text(encoding="utf-8")) == latest
    assert latest["results"] == [], "the piece-level part was not asked for"
    dags = latest["dags"]
    assert set(dags) == {"resulting", "provisioning", "parse"}, dags

    resulting = dags["resulting"]
    assert "error" not in resulting, resulting
    assert resulting["sizes"] == [150, 300]
    for size in ("150", "300"):
        run = resulting["runs"][size]
        assert positive(run["dags_test"]["wall_s"]) and positive(run["peak_rss_mib"])
        assert positive(run["dags_test"]["import_task_s"])
        assert run["dags_test"]["sync_log"]["RowsRead"] == int(size)
        assert run["dags_test"]["sync_log"]["RowsWritten"] > 0
        assert positive(run["dags_test"]["import_steps_s"]["read"])
        assert positive(run["floor"]["wall_s"]) and run["floor"]["rows_updated"] > 0
    for key in ("marginal_ratio", "marginal_ratio_import_task", "rss_ratio", "rss_bytes_per_extra_row"):
        assert key in resulting and isinstance(resulting[key], (int, float, type(None))), key
    assert positive(resulting["rss_ratio"])

    provisioning = dags["provisioning"]
    assert "error" not in provisioning, provisioning
    for size in ("20", "40"):
        run = provisioning["runs"][size]
        assert run["first"]["sync_log"]["RowsWritten"] == int(size), run["first"]["sync_log"]
        assert run["rerun"]["sync_log"]["RowsWritten"] == 0, run["rerun"]["sync_log"]
        for kind in ("first", "rerun", "floor_first", "floor_rerun"):
            assert positive(run[kind]["wall_s"]), (size, kind)
        assert positive(run["first"]["peak_rss_mib"])
        # Where the export task's time went: every step of a first run, no upload on the rerun.
        assert set(run["first"]["export_steps_s"]) == {"read_enrolments", "read_state", "compare",
                                                      "decide_one_by_one", "write_file", "upload", "record"}
        assert "upload" not in run["rerun"]["export_steps_s"] and positive(run["rerun"]["export_steps_s"]["compare"])
    for key in ("first_marginal_ratio", "rerun_marginal_ratio", "first_rss_ratio", "rerun_rss_ratio",
                "first_marginal_ratio_export_task", "rerun_marginal_ratio_export_task"):
        assert key in provisioning

    parse = dags["parse"]
    assert positive(parse["trivial_ms"])
    assert set(parse["files"]) == {p.stem for p in (ROOT / "dags").glob("*.py")}
    assert all(positive(f["parse_ms"]) for f in parse["files"].values())
