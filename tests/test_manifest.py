"""engines/manifest.py: the one locked, atomic writer of a models folder's manifest.json, and where
training reports go (never among the shipped models)."""
from __future__ import annotations

import json
import multiprocessing as mp
import re
from pathlib import Path

import pytest

from engines import manifest

ROOT = Path(__file__).resolve().parents[1]


def _writer(path: str, who: int, n: int) -> None:
    for k in range(n):
        manifest.update_entry(f"m{who}_{k}", {"file": f"m{who}_{k}.onnx", "who": who}, path)


def test_concurrent_writers_lose_no_entry(tmp_path):
    path = tmp_path / "manifest.json"
    manifest.update_entry("old", {"file": "old.onnx"}, path)
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=_writer, args=(str(path), w, 15)) for w in range(6)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    data = json.loads(path.read_text())
    assert set(data) == {"old"} | {f"m{w}_{k}" for w in range(6) for k in range(15)}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.json"]  # no lock or temporary file left


def test_update_replaces_only_its_entries_and_keeps_what_it_is_told(tmp_path):
    path = tmp_path / "models" / "manifest.json"  # the folder is made
    manifest.update(path, {"a": {"file": "a.onnx", "metrics": {"f1": 0.9}, "licence": "MIT"},
                           "b": {"file": "b.onnx"}})
    manifest.update(path, {"a": {"file": "a2.onnx"}}, keep=("metrics",))
    data = json.loads(path.read_text())
    assert data["a"] == {"file": "a2.onnx", "metrics": {"f1": 0.9}}  # licence not kept: not asked
    assert data["b"] == {"file": "b.onnx"}
    seen = {}
    manifest.update(path, {"b": {}}, prepare=lambda name, new, old: seen.setdefault(name, {**old, "metrics": 1}))
    assert json.loads(path.read_text())["b"] == {"file": "b.onnx", "metrics": 1}
    assert path.read_text().endswith("}\n") and oct(path.stat().st_mode & 0o777) == "0o644"


def test_a_damaged_manifest_is_left_alone(tmp_path):
    path = tmp_path / "manifest.json"
    path.write_text("[1, 2]")
    with pytest.raises(ValueError):
        manifest.update_entry("a", {"file": "a.onnx"}, path)
    assert path.read_text() == "[1, 2]"


def test_reports_go_to_the_engine_not_among_the_shipped_models(tmp_path):
    assert manifest.report_path(tmp_path, "rhythm", "x_train.json") == tmp_path / "x_train.json"
    shipped = manifest.report_path(manifest.SHIPPED_MODELS_DIR, "rhythm", "x_train.json")
    assert shipped == ROOT / "engines" / "rhythm" / "train" / "reports" / "x_train.json"
    assert manifest.is_shipped(ROOT / "engines" / "models") and not manifest.is_shipped(tmp_path)


def test_the_shipped_models_folder_holds_only_models_and_the_manifest():
    models = ROOT / "engines" / "models"
    data = json.loads((models / "manifest.json").read_text())
    shipped = {e["file"] for e in data.values()} | {"manifest.json"}
    assert {p.name for p in models.iterdir()} <= shipped


def test_one_manifest_writer_and_one_session_opener():
    """Only engines/manifest.py writes manifest.json; only engines/runtime.py opens an
    onnxruntime InferenceSession (training and evaluation scripts included)."""
    writers, openers = [], []
    for pkg in ("engines", "studio", "ui", "export"):
        for f in (ROOT / pkg).rglob("*.py"):
            text = f.read_text(encoding="utf-8")
            rel = f.relative_to(ROOT).as_posix()
            if "InferenceSession(" in text:
                openers.append(rel)
            for line in text.splitlines():  # a write on a line naming the manifest (reports aside)
                if (re.search(r"os\.replace\([^)]*manifest|manifest\S*\.write_text\(|json\.dumps?\([^)]*manifest", line)
                        and "report_path" not in line):
                    writers.append(rel)
    assert openers == ["engines/runtime.py"]
    assert writers in ([], ["engines/manifest.py"])
