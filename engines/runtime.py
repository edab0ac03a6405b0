"""Shared ONNX runtime for the engines: model lookup, integrity checks, provider choice, caching.

Models ship in ``engines/models/`` beside ``manifest.json``, which records for each model its
file, sha256, input/output names, training data and metrics. ``session(name)`` verifies the
checksum once, opens an onnxruntime session on CUDA when onnxruntime-gpu can really use it,
else on the CPU, and caches it per process. The provider actually in use comes from
``session.get_providers()`` (onnxruntime-gpu lists CUDA as available even when it cannot
load it and silently falls back to the CPU).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path

from engines.errors import ModelError

# the shipped models; STUDIO_MODELS_DIR points at another folder laid out the same way (a model
# rebuilt by its training script, or a test's damaged copy)
MODELS_DIR = Path(os.environ.get("STUDIO_MODELS_DIR") or Path(__file__).parent / "models")
_lock = threading.Lock()
_sessions: dict[tuple[str, str], "object"] = {}
_verified: set[str] = set()


@dataclass(frozen=True)
class ModelInfo:
    name: str
    path: Path
    sha256: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    entry: dict


def load_manifest(models_dir: Path = MODELS_DIR) -> dict:
    """The manifest (model name -> entry), checked: a JSON object of objects, else ModelError.
    Each entry's own fields are checked when the model is used (``model_info``)."""
    path = models_dir / "manifest.json"
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"the model manifest {path} is unreadable ({exc}); reinstall the studio") from None
    except RecursionError:
        raise ModelError(f"the model manifest {path} is nested too deeply; reinstall the studio") from None
    if not isinstance(data, dict):
        raise ModelError(f"the model manifest {path} is damaged: it is a JSON {type(data).__name__}, not an "
                         "object of models; reinstall the studio")
    for name, entry in data.items():
        if not isinstance(entry, dict):
            raise ModelError(f"the model manifest {path} is damaged: {name[:80]!r} is a JSON {type(entry).__name__}, "
                             "not an object; reinstall the studio")
    return data


_SHA256 = re.compile(r"[0-9a-f]{64}")


def _entry_problem(e: dict) -> str | None:
    """What is wrong with a manifest entry's run-time fields (file, sha256, inputs, outputs)."""
    f = e.get("file")
    if not isinstance(f, str) or not f or f in (".", "..") or "/" in f or "\\" in f or "\0" in f:
        return "file" + (" is missing" if f is None else f" {f!r} is not a file name in the models folder")
    h = e.get("sha256")
    if not isinstance(h, str) or not _SHA256.fullmatch(h):
        return "sha256" + (" is missing" if h is None else f" {str(h)[:80]!r} is not a sha256 hex digest")
    for key in ("inputs", "outputs"):
        v = e.get(key, [])
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            return f"{key} is not a list of names"
    return None


def model_info(name: str, models_dir: Path = MODELS_DIR) -> ModelInfo:
    manifest = load_manifest(models_dir)
    if name not in manifest:
        raise ModelError(f"no model named {name!r} in {models_dir / 'manifest.json'}")
    e = manifest[name]
    problem = _entry_problem(e)
    if problem:
        raise ModelError(f"the model manifest {models_dir / 'manifest.json'} is damaged: {name}.{problem}; "
                         "reinstall the studio or rebuild the model with its training script")
    return ModelInfo(name, models_dir / e["file"], e["sha256"], tuple(e.get("inputs", ())),
                     tuple(e.get("outputs", ())), e)


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify(info: ModelInfo) -> None:
    """Raise ModelError unless the file exists and matches the manifest's checksum."""
    key = str(info.path)
    if key in _verified:
        return
    if not info.path.exists():
        raise ModelError(f"model file {info.path} is missing; reinstall the studio or rebuild it "
                         f"with the engine's training script")
    if sha256_of(info.path) != info.sha256:
        raise ModelError(f"model file {info.path} is corrupt (checksum mismatch); reinstall the "
                         f"studio or rebuild it with the engine's training script")
    _verified.add(key)


def preferred_providers() -> list[str]:
    import onnxruntime as ort

    available = ort.get_available_providers()
    chosen = [p for p in ("CUDAExecutionProvider",) if p in available]
    return chosen + ["CPUExecutionProvider"]


def open_session(model, *, providers: list[str] | None = None, single_thread: bool = False,
                 intra_threads: int | None = None):
    """The one place an onnxruntime ``InferenceSession`` is made: ``model`` is a path or the
    serialised graph (bytes). No cache and no checksum: :func:`session` adds both for manifest
    models; training and evaluation scripts call this directly for graphs they have just
    exported (not yet in a manifest). ``providers`` default to the CPU. ``single_thread``: one
    intra-op and one inter-op thread, sequential execution; ``intra_threads``: that many intra-op
    threads."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3  # no provider probing noise on stderr
    # idle intra-op threads must not spin after a run: the engines' numpy DSP runs right
    # after each call (measured: Foley synthesis 1.1 -> 0.75 ms per hit with spinning off)
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if single_thread:
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    elif intra_threads:
        opts.intra_op_num_threads = int(intra_threads)
    src = model if isinstance(model, (bytes, bytearray)) else str(model)
    return ort.InferenceSession(src, opts, providers=providers or ["CPUExecutionProvider"])


def session(name: str, models_dir: Path = MODELS_DIR, *, cpu_only: bool = False,
            single_thread: bool = False):
    """A cached onnxruntime InferenceSession for a manifest model, integrity-checked: opened once
    per process for each (file, providers, threading). ``single_thread``: one intra-op and one
    inter-op thread, sequential execution (tiny graphs called hundreds of times, where a thread
    pool only adds latency and jitter: the rhythm and performer engines' decoder steps)."""
    providers = ["CPUExecutionProvider"] if cpu_only else preferred_providers()
    info = model_info(name, models_dir)
    key = (str(info.path), ",".join(providers) + (";1thread" if single_thread else ""))
    with _lock:
        if key in _sessions:
            return _sessions[key]
        verify(info)
        try:
            sess = open_session(info.path, providers=providers, single_thread=single_thread)
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ModelError(f"model {name} ({info.path.name}) cannot be loaded: {exc}") from None
        names = tuple(i.name for i in sess.get_inputs())
        if info.inputs and names != info.inputs:
            raise ModelError(f"model {name} has inputs {names}, the manifest expects {info.inputs}; "
                             f"the file and manifest are out of step")
        _sessions[key] = sess
        return sess


def providers_in_use() -> dict[str, list[str]]:
    """For every session opened so far: the providers onnxruntime really runs it on."""
    with _lock:
        return {Path(k[0]).stem: s.get_providers() for k, s in _sessions.items()}


def clear_cache() -> None:
    with _lock:
        _sessions.clear()
        _verified.clear()


def model_providers(models_dir: Path = MODELS_DIR) -> dict[str, str]:
    """Every shipped model -> the provider onnxruntime really runs it on (opening each session),
    or the one-line reason it cannot be opened ("error: ...")."""
    out: dict[str, str] = {}
    for name in sorted(load_manifest(models_dir)):
        try:
            out[name] = session(name, models_dir).get_providers()[0]
        except ModelError as exc:
            out[name] = f"error: {exc}"
    return out


def runtime_distributions() -> tuple[list[str], str | None]:
    """The onnxruntime distributions installed, and a problem line when both the CPU and the GPU
    build are (they share one import folder, so whichever was installed last wins file by file)."""
    from importlib import metadata

    found = []
    for dist in ("onnxruntime", "onnxruntime-gpu"):
        try:
            found.append(f"{dist} {metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            pass
    problem = None
    if len(found) == 2:
        problem = ("both onnxruntime and onnxruntime-gpu are installed; keep one: "
                   "pip uninstall -y onnxruntime onnxruntime-gpu && pip install onnxruntime-gpu (or onnxruntime)")
    return found, problem
