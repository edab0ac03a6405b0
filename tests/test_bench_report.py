"""`studio bench --report/--plot`: the whole run in one JSON, its figures against their targets."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from studio.bench._report import headlines, make_report, plot_report

REPO = Path(__file__).resolve().parents[1]
# the shapes the analysis and render benchmarks print (values from a real run)
ANALYSIS = {"name": "analysis", "ratio_to_decode": 1.663, "realtime_factor": 12.94, "target_ratio": 1.5,
            "target_realtime_factor": 10, "meets_target_ratio": False, "baseline": "pyav_decode"}
RENDER = {"name": "render", "realtime_factor": 21.5, "render_realtime_factor": 28.7, "target_realtime_factor": 20}
EXPLICIT = {"name": "foley", "ms_per_hit": 0.9, "targets": [{"key": "ms_per_hit", "target": 2.0, "better": "lower"}]}


def test_headlines_pair_targets_with_measured_keys_and_direction():
    h = {(x.bench, x.key): x for r in (ANALYSIS, RENDER, EXPLICIT) for x in headlines(r)}
    ratio = h[("analysis", "ratio_to_decode")]
    assert not ratio.higher_is_better and not ratio.meets and ratio.score == pytest.approx(1.5 / 1.663)
    rtf = h[("analysis", "realtime_factor")]
    assert rtf.higher_is_better and rtf.meets and rtf.score == pytest.approx(1.294)
    assert h[("render", "realtime_factor")].meets  # the shortest matching key, not render_realtime_factor
    assert h[("foley", "ms_per_hit")].meets and not h[("foley", "ms_per_hit")].higher_is_better
    assert len(h) == 4


def test_report_and_plot_from_the_command_line(tmp_path):
    report = make_report([ANALYSIS, RENDER, EXPLICIT], {"cpu_count": 2, "processor": "x86_64"})
    assert [d["meets"] for d in report["headlines"]] == [False, True, True, True]
    src = tmp_path / "report.json"
    src.write_text(json.dumps(report))
    png, again = tmp_path / "bench.png", tmp_path / "again.json"
    r = subprocess.run([sys.executable, "-m", "studio", "-q", "bench", "--from-report", str(src), "--plot",
                        str(png), "--report", str(again)], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert r.returncode == 0, r.stderr
    import matplotlib.image

    img = matplotlib.image.imread(png)
    assert img.shape[0] > 150 and img.shape[1] > 600  # a real picture, one bar per headline
    assert json.loads(again.read_text()) == report


def test_plot_without_targets_is_a_clear_error(tmp_path):
    from studio.errors import StudioError

    with pytest.raises(StudioError, match="states a target"):
        plot_report(make_report([{"name": "x", "wall_s": 1.0}], {}), tmp_path / "p.png")
    assert not (tmp_path / "p.png").exists()
