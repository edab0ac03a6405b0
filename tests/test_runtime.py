import json

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402

from engines import runtime  # noqa: E402
from engines.errors import ModelError  # noqa: E402


@pytest.fixture
def models_dir(tmp_path):
    """A tiny real ONNX model (y = 2x + 1) with its manifest entry."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 3])
    two = helper.make_tensor("two", TensorProto.FLOAT, [], [2.0])
    one = helper.make_tensor("one", TensorProto.FLOAT, [], [1.0])
    graph = helper.make_graph(
        [helper.make_node("Mul", ["x", "two"], ["t"]), helper.make_node("Add", ["t", "one"], ["y"])],
        "affine", [x], [y], [two, one])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path / "affine.onnx"
    onnx.save(model, path)
    manifest = {"affine": {"file": "affine.onnx", "sha256": runtime.sha256_of(path),
                           "inputs": ["x"], "outputs": ["y"]}}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    runtime.clear_cache()
    yield tmp_path
    runtime.clear_cache()


def test_session_runs_and_reports_its_provider(models_dir):
    sess = runtime.session("affine", models_dir)
    out = sess.run(["y"], {"x": np.ones((2, 3), np.float32)})[0]
    np.testing.assert_allclose(out, 3.0)
    assert runtime.session("affine", models_dir) is sess  # cached
    assert "CPUExecutionProvider" in runtime.providers_in_use()["affine"]


def test_corrupt_model_is_refused(models_dir):
    path = models_dir / "affine.onnx"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="corrupt"):
        runtime.session("affine", models_dir)


def test_missing_model_and_unknown_name(models_dir):
    (models_dir / "affine.onnx").unlink()
    with pytest.raises(ModelError, match="missing"):
        runtime.session("affine", models_dir)
    with pytest.raises(ModelError, match="no model named"):
        runtime.session("nope", models_dir)


def test_shipped_manifest_entries_are_intact():
    """Every model the package ships matches its manifest checksum."""
    for name in runtime.load_manifest():
        runtime.verify(runtime.model_info(name))


def test_runtime_distributions_flag_a_mixed_cpu_and_gpu_install(monkeypatch):
    from importlib import metadata

    from engines.runtime import runtime_distributions

    found, problem = runtime_distributions()
    assert found and problem is None  # this environment has exactly one build
    real = metadata.version
    monkeypatch.setattr(metadata, "version", lambda d: "1.20.0" if d == "onnxruntime-gpu" else real(d))
    found, problem = runtime_distributions()
    assert len(found) == 2 and "keep one" in problem


def test_every_session_is_opened_once_per_process(models_dir, monkeypatch):
    import onnxruntime as ort

    opened = []
    real = ort.InferenceSession
    monkeypatch.setattr(ort, "InferenceSession", lambda *a, **k: opened.append(a[0]) or real(*a, **k))
    a = runtime.session("affine", models_dir, cpu_only=True)
    assert runtime.session("affine", models_dir, cpu_only=True) is a
    one = runtime.session("affine", models_dir, cpu_only=True, single_thread=True)  # its own options
    assert runtime.session("affine", models_dir, cpu_only=True, single_thread=True) is one is not a
    assert len(opened) == 2
    out = one.run(["y"], {"x": np.ones((1, 3), np.float32)})[0]
    np.testing.assert_allclose(out, 3.0)


def test_engines_open_their_models_through_the_shared_cache(monkeypatch):
    """The rhythm and performer engines (single-threaded sessions) open each model once per
    process, however many engine objects the adapters make."""
    import onnxruntime as ort

    from engines.performer.infer import MODEL_NAMES as PERFORMER_MODELS, Performer
    from engines.rhythm.infer import MODEL_NAMES as RHYTHM_MODELS, RhythmEngine

    runtime.clear_cache()
    opened = []
    real = ort.InferenceSession
    monkeypatch.setattr(ort, "InferenceSession", lambda *a, **k: opened.append(a[0]) or real(*a, **k))
    try:
        RhythmEngine().load()
        RhythmEngine().load()
        Performer().load()
        Performer().load()
    finally:
        runtime.clear_cache()
    assert len(opened) == len(set(RHYTHM_MODELS)) + len(set(PERFORMER_MODELS)) == len(set(opened))
