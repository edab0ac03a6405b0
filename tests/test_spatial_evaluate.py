"""engines/spatial/evaluate.py: the shipped fields against the teacher on held-out positions."""
from __future__ import annotations

import json
import math

import pytest

pytest.importorskip("pyroomacoustics")


def test_quick_evaluation_prints_the_card_figures(capsys):
    from engines.spatial import evaluate

    res = evaluate.main(["--quick"])
    assert json.loads(capsys.readouterr().out) == res
    (room,) = res["rooms"]
    r = res["rooms"][room]
    assert r["n_test"] == 2 and r["levels"]["n_positions"] == 2
    for k in ("c50_error_db", "t60_error_pct", "edt_error_s"):
        assert math.isfinite(r["field"][k]) and math.isfinite(r["ceiling"][k]) and k in r["recorded"]
    # the same order as the model card's figures on all 64 positions, not a broken field
    assert r["field"]["c50_error_db"] < 4 and r["field"]["t60_error_pct"] < 40 and r["field"]["edt_error_s"] < 0.3
    assert abs(r["levels"]["tail_engine_vs_teacher_db"]) < 3 and abs(r["levels"]["early_engine_vs_teacher_db"]) < 3


def test_a_corrupt_field_is_refused_before_any_teacher_work(tmp_path):
    from engines import runtime
    from engines.errors import ModelError
    from engines.spatial import evaluate

    for f in ("manifest.json", "spatial_hrir.onnx"):
        (tmp_path / f).write_bytes((runtime.MODELS_DIR / f).read_bytes())
    (tmp_path / "spatial_studio.onnx").write_bytes(b"not a model")
    with pytest.raises(ModelError, match="corrupt"):
        evaluate.main(["studio", "--models", str(tmp_path), "--positions", "1", "--levels", "0"])
    with pytest.raises(SystemExit, match="unknown room"):
        evaluate.main(["attic"])
