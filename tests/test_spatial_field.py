"""Spatial engine: the shipped neural fields (ONNX), their errors, and a training smoke test."""
from __future__ import annotations

import json

import numpy as np
import pytest
from model_copies import copy_models

from engines import runtime
from engines.errors import ModelError
from engines.spatial import dsp, infer
from engines.spatial.rooms import PRESETS
from spatial_helpers import itd_ild

SHIPPED = [r for r in PRESETS if infer.model_name(r) in runtime.load_manifest()]


def test_every_preset_room_ships_a_field():
    assert set(SHIPPED) == set(PRESETS)
    assert infer.available_rooms() == list(PRESETS)
    for r in SHIPPED:
        info = runtime.model_info(infer.model_name(r))
        assert info.path.stat().st_size < 20e6
        m = info.entry["metrics"]
        assert {"c50_error_db", "t60_error_pct", "edt_error_s", "params", "query_ms"} <= set(m)


@pytest.mark.parametrize("room", ["studio", "hall"])
def test_field_itd_ild_left_vs_right(room):
    f = infer.field(room)
    lis = np.array(f.room.listener)
    yaw = 0.0  # facing +x: +y is the listener's left
    irs = f.query([lis + [0.0, 1.5, 0.0], lis + [0.0, -1.5, 0.0]], [lis, lis], [yaw, yaw])
    assert irs.shape == (2, 2, f.n) and irs.dtype == np.float32 and np.all(np.isfinite(irs))
    itd_l, ild_l = itd_ild(irs[0])
    itd_r, ild_r = itd_ild(irs[1])
    assert 0.45e-3 <= itd_l <= 0.9e-3 and -0.9e-3 <= itd_r <= -0.45e-3
    assert ild_l > 6.0 and ild_r < -6.0
    # the whole BRIR (reflections and tail included) is still louder on the source's side
    e = np.sum(irs.astype(np.float64) ** 2, axis=-1)
    assert e[0, 0] > e[0, 1] and e[1, 1] > e[1, 0]


def test_field_reverberates_like_its_room():
    """Decay times of the field's IRs rank the rooms as their teachers do."""
    t60 = {}
    for r in SHIPPED:
        f = infer.field(r)
        lis = np.array(f.room.listener)
        ir = f.query(f.room.default_source(), lis, f.room.listener_yaw)[0]
        t60[r] = dsp.t60_s(ir.sum(0))
    assert t60["studio"] < t60["living_room"] < t60["hall"]


def _copy_models(tmp_path, room="studio"):
    copy_models(tmp_path, (infer.model_name(room), infer.HRIR_MODEL))


def test_missing_model_raises_model_error(tmp_path):
    _copy_models(tmp_path)
    (tmp_path / "spatial_studio.onnx").unlink()
    with pytest.raises(ModelError, match="missing"):
        infer.Field("studio", tmp_path)


def test_corrupt_model_raises_model_error(tmp_path):
    _copy_models(tmp_path)
    p = tmp_path / "spatial_hrir.onnx"
    data = bytearray(p.read_bytes())
    data[len(data) // 2] ^= 0xFF
    p.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="corrupt"):
        infer.Field("studio", tmp_path)


def test_garbage_model_with_matching_checksum_raises_model_error(tmp_path):
    _copy_models(tmp_path)
    p = tmp_path / "spatial_studio.onnx"
    p.write_bytes(b"not an onnx file")
    m = json.loads((tmp_path / "manifest.json").read_text())
    m["spatial_studio"]["sha256"] = runtime.sha256_of(p)
    (tmp_path / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(ModelError, match="cannot be loaded"):
        infer.Field("studio", tmp_path)


def test_unknown_room_is_an_engine_error():
    from engines.errors import EngineError

    with pytest.raises(EngineError, match="unknown room"):
        infer.field("cathedral")


def test_training_smoke_writes_only_to_its_output_folder(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("pyroomacoustics")
    from engines.spatial.train import train

    shipped = {n: runtime.sha256_of(runtime.model_info(n).path) for n in
               (infer.model_name("studio"), infer.HRIR_MODEL)}
    metrics = train.main(["studio", "--smoke", "--seed", "5", "--out", str(tmp_path)])
    assert (tmp_path / "spatial_studio.onnx").exists() and (tmp_path / "spatial_hrir.onnx").exists()
    m = json.loads((tmp_path / "manifest.json").read_text())
    assert m["spatial_studio"]["sha256"] == runtime.sha256_of(tmp_path / "spatial_studio.onnx")
    assert metrics["steps"] == 3 and np.isfinite(metrics["c50_error_db"])
    f = infer.Field("studio", tmp_path)  # the freshly trained file loads and answers
    assert f.query(f.room.default_source(), f.room.listener, 0.0).shape == (1, 2, f.n)
    for n, sha in shipped.items():
        assert runtime.sha256_of(runtime.model_info(n).path) == sha
