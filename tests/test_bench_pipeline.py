"""`studio bench pipeline --quick`: the whole pipeline on a 10 s 720p video against decoding it."""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_quick_pipeline_bench_reports_stages_memory_and_ratio(tmp_path):
    report_file, png = tmp_path / "report.json", tmp_path / "scaling.png"
    r = subprocess.run([sys.executable, "-m", "studio", "-q", "bench", "pipeline", "--quick",
                        "--report", str(report_file), "--plot", str(png)],
                       capture_output=True, text=True, cwd=REPO, timeout=240)
    assert r.returncode == 0, r.stderr[-3000:]
    result = json.loads(r.stdout.strip().splitlines()[-1])
    assert json.loads(report_file.read_text())["results"][0]["runs"] == result["runs"]
    assert result["name"] == "pipeline" and result["baseline"] == "pyav_decode"
    assert {"rhythm", "soundtrack"} <= set(result["engines"])
    (run,) = result["runs"]
    assert run["video_s"] == 10 and run["frames"] == 300
    for key in ("decode_s", "decode_peak_rss_mb", "generate_s", "total_s", "peak_rss_mb", "ratio_to_decode",
                "realtime_factor", "project_reload_s"):
        assert isinstance(run[key], (int, float)) and run[key] > 0 and math.isfinite(run[key]), key
    assert run["reload_peak_rss_mb"] >= run["peak_rss_mb"]  # the process's peak after the reload
    # every file the pipeline left was written by it (and the render's temporaries besides)
    assert run["disk_dirtied_mb"] >= 0.9 * run["files_mb"] > 0
    assert 0 <= run["disk_discarded_mb"] <= run["disk_dirtied_mb"]
    stages = run["stages_s"]
    for key in ["analysis", "export", "video_export"] + [f"engine_{n}" for n in result["engines"]]:
        assert stages[key] >= 0 and math.isfinite(stages[key]), key
    assert stages["analysis"] > 0 and stages["export"] > 0 and stages["video_export"] > 0
    # the rest of generate: its time outside the timed stages (the engines overlap), never below 0
    assert 0 <= stages["generate_other"] < run["generate_s"]
    assert run["export_stages_s"]["render"] > 0 and run["video_export_stages_s"]["video"] > 0
    assert run["total_s"] == pytest.approx(run["generate_s"] + stages["video_export"], abs=0.01)
    assert run["ratio_to_decode"] == pytest.approx(run["total_s"] / run["decode_s"], rel=0.01)
    # the figures come from a run without a profiler, the profile from a second run of its own
    assert result["profiled"] and result["profile_note"].startswith("timings from runs without")
    assert run["profiled_total_s"] > 0
    assert len(run["profile_top_cumulative"]) == 25 and len(run["profile_top_own"]) == 10
    assert all(row["cumulative_s"] >= 0 and row["function"] for row in run["profile_top_cumulative"])
    import matplotlib.image

    img = matplotlib.image.imread(png)
    assert img.shape[0] > 300 and img.shape[1] > 800  # the scaling figure, not the headline bars


def test_overlapping_stages_count_once_in_the_time_they_cover():
    from studio.bench.pipeline import _covered_s

    assert _covered_s([]) == 0
    assert _covered_s([(0.0, 1.0), (2.0, 3.0)]) == pytest.approx(2.0)
    # three engines at once, one inside another, then the export
    assert _covered_s([(1.0, 3.0), (1.0, 2.5), (1.5, 2.0), (4.0, 6.0), (0.0, 1.0)]) == pytest.approx(5.0)


def test_minutes_are_checked_before_any_work():
    from studio.bench.pipeline import parse_minutes
    from studio.errors import StudioError

    assert parse_minutes(None) == [1.0, 10.0]
    assert parse_minutes("10,1,60,120") == [1.0, 10.0, 60.0, 120.0]
    assert parse_minutes("0.5") == [0.5]
    for bad in ("x", "0", "-1", "1.5", "1000", "nan", ""):
        with pytest.raises(StudioError, match="--minutes"):
            parse_minutes(bad)


def test_bench_options_reach_only_the_benchmarks_that_take_them():
    from studio import bench

    def plain(job=None):
        return {}

    def pipeline(job=None, minutes=None, quick=False):
        return {}

    given = {"minutes": "1,10", "quick": False, "report": None}
    assert bench.options_for(plain, given) == {}
    assert bench.options_for(pipeline, given) == {"minutes": "1,10"}
