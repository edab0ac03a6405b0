"""The one writer of a models folder's ``manifest.json`` (training and evaluation scripts only;
the run time reads it through ``engines.runtime.load_manifest``), and where training reports go.

Every entry is owned by the script that trains or evaluates that model, and several scripts may
finish at once, so :func:`update` is a read-modify-write of only the given entries under an
exclusive ``fcntl`` lock held on the models folder itself (no lock file lands among the shipped
files), written to a temporary file in the same folder and moved over the manifest with
``os.replace`` (a reader sees the old or the new manifest, never half of one).
"""
from __future__ import annotations

import fcntl
import json
import os
import tempfile
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from pathlib import Path

ENGINES_DIR = Path(__file__).resolve().parent
SHIPPED_MODELS_DIR = ENGINES_DIR / "models"


@contextmanager
def locked(folder: Path):
    """Exclusive lock on ``folder`` (flock on the directory's own descriptor) for the block."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the last descriptor releases the lock


def _read(path: Path) -> dict:
    if not path.exists():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path} is not a JSON object of models")
    return data


def update(manifest: Path | str, entries: dict[str, dict], *, keep: Iterable[str] = (),
           prepare: Callable[[str, dict, dict], dict] | None = None) -> dict:
    """Replace ``entries`` (name -> entry) in ``manifest``, leaving every other entry as it is on
    disk at the moment of writing. ``keep``: fields carried over from an entry's previous version
    when the new one lacks them (e.g. ``metrics`` written by the evaluation). ``prepare(name, new,
    old)``: a last change to each entry made under the lock, seeing the previous version. Returns
    the manifest as written. The folder is created when missing."""
    path = Path(manifest)
    path.parent.mkdir(parents=True, exist_ok=True)
    keep = tuple(keep)
    with locked(path.parent):
        data = _read(path)
        for name, entry in entries.items():
            old = data.get(name, {})
            new = dict(entry)
            for k in keep:
                if k in old and k not in new:
                    new[k] = old[k]
            if prepare is not None:
                new = prepare(name, new, old)
            data[name] = new
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(data, fh, indent=1, sort_keys=True)
                fh.write("\n")
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return data


def update_entry(name: str, entry: dict, manifest: Path | str, **kw) -> dict:
    """:func:`update` of one entry."""
    return update(manifest, {name: entry}, **kw)


def is_shipped(folder: Path | str) -> bool:
    """Whether ``folder`` is the shipped models folder (``engines/models``)."""
    return Path(folder).resolve() == SHIPPED_MODELS_DIR.resolve()


def report_path(out_dir: Path | str, engine: str, filename: str) -> Path:
    """Where a training / evaluation report (``*_train.json``, ``*_eval.json``) goes: beside the
    models in ``out_dir``, except when ``out_dir`` is the shipped models folder, which holds only
    shipped files: then ``engines/<engine>/train/reports/`` (created when missing)."""
    if is_shipped(out_dir):
        folder = ENGINES_DIR / engine / "train" / "reports"
        folder.mkdir(parents=True, exist_ok=True)
        return folder / filename
    return Path(out_dir) / filename
