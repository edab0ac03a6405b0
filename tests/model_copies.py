"""A private copy of some shipped models (files + their manifest entries), for tests that damage
or remove one and point STUDIO_MODELS_DIR / models_dir at the copy."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from engines import runtime


def copy_models(folder: Path, keep) -> dict:
    """Copy the manifest entries ``keep`` chooses (a name prefix, or a collection of names) and
    their files into ``folder``; returns the copied entries."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    manifest = runtime.load_manifest()
    chosen = {k: v for k, v in manifest.items() if (k.startswith(keep) if isinstance(keep, str) else k in keep)}
    (folder / "manifest.json").write_text(json.dumps(chosen))
    for entry in chosen.values():
        shutil.copy(runtime.MODELS_DIR / entry["file"], folder / entry["file"])
    return chosen
