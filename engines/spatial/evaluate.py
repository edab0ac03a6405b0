"""Held-out evaluation of the shipped spatial fields against the image-source teacher.

    python -m engines.spatial.evaluate [ROOM ...] [--models DIR] [--positions N] [--levels N]
    python -m engines.spatial.evaluate --quick          # studio, 2 + 2 positions (tests, ~10 s)

Prints JSON, per room:

* ``field``: mean absolute C50 (dB), T60 (%) and EDT (s) errors of the field's BRIRs against the
  (diffuse-field equalised) teacher's, both ears, on the room's held-out positions (the 64 after
  the 400 training positions of seed 0, ``train.equalise.held_out``), measured exactly as the
  model card's results table (``train.train.evaluate``); ``ceiling``: the same errors of the
  teacher's own early part and fitted tail put through the field's assembly (what the layout
  loses by itself); ``query_ms``: one position, ONNX runs + assembly, median;
* ``levels``: early (0-100 ms, direct path excluded) and tail (after 100 ms) energy of the engine
  minus the teacher's, mean and worst over positions no field was trained or evaluated on, and
  the tail over the direct path in the 500 Hz / 1 kHz / 2 kHz bands for engine, teacher and
  Barron's diffuse-field theory (``train.report.compare``);
* ``recorded``: the manifest's figures for the same file, for comparison.

Each model's sha256 is checked against the manifest first. Needs the ``[train]`` extra (the
teacher: pyroomacoustics, h5py). Writes nothing.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from engines import runtime
from engines.spatial import infer
from engines.spatial.rooms import PRESETS

FULL_POSITIONS = 64  # every held-out position of a field
FULL_LEVELS = 12  # as the model card's level figures (train/report.py)
QUICK = {"rooms": ["studio"], "positions": 2, "levels": 2}


def _round(v, nd: int = 4):
    if isinstance(v, float):
        return round(v, nd)
    if isinstance(v, dict):
        return {k: _round(x, nd) for k, x in v.items()}
    return v


def evaluate_room(room: str, models: Path = runtime.MODELS_DIR, positions: int = FULL_POSITIONS,
                  levels: int = FULL_LEVELS) -> dict:
    """One room's figures (see the module docstring); ``levels`` 0 skips the level comparison."""
    from engines.spatial.train import equalise, report

    name = infer.model_name(room)
    for n in (name, infer.HRIR_MODEL):
        runtime.verify(runtime.model_info(n, models))
    ev = equalise.evaluate(room, models, n=positions)
    out = {"field": ev["field"], "ceiling": ev["ceiling"], "query_ms": ev["query_ms"], "n_test": ev["n_test"]}
    if levels:
        if Path(models).resolve() != runtime.MODELS_DIR.resolve():
            raise SystemExit("--levels compares the shipped fields only (train.report reads engines/models): "
                             "add --levels 0 with --models")
        out["levels"] = report.compare(room, levels)["after"]
        out["levels"]["n_positions"] = levels
    rec = runtime.load_manifest(models)[name].get("metrics", {})
    out["recorded"] = {k: rec[k] for k in ("c50_error_db", "t60_error_pct", "edt_error_s", "n_test") if k in rec}
    return _round(out)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("rooms", nargs="*", help=f"rooms (default: every preset: {', '.join(PRESETS)})")
    ap.add_argument("--models", type=Path, default=runtime.MODELS_DIR, help="models folder with a manifest.json")
    ap.add_argument("--positions", type=int, default=FULL_POSITIONS, help="held-out positions per room (max 64)")
    ap.add_argument("--levels", type=int, default=FULL_LEVELS, help="positions for the level comparison (0: skip)")
    ap.add_argument("--quick", action="store_true",
                    help=f"{QUICK['rooms'][0]} only, {QUICK['positions']} held-out + {QUICK['levels']} level positions")
    a = ap.parse_args(argv)
    rooms = a.rooms or (QUICK["rooms"] if a.quick else list(PRESETS))
    unknown = [r for r in rooms if r not in PRESETS]
    if unknown:
        raise SystemExit(f"unknown room {unknown[0]!r}; rooms: {', '.join(PRESETS)}")
    if a.quick:
        a.positions, a.levels = min(a.positions, QUICK["positions"]), min(a.levels, QUICK["levels"])
    if not 1 <= a.positions <= FULL_POSITIONS:
        raise SystemExit(f"--positions must be 1..{FULL_POSITIONS}")
    t0 = time.perf_counter()
    res = {"held_out": f"the first {a.positions} of each field's {FULL_POSITIONS} held-out positions (seed 0)",
           "quick": bool(a.quick),
           "rooms": {r: evaluate_room(r, a.models, a.positions, max(0, a.levels)) for r in rooms}}
    res["eval_wall_s"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(res, indent=1))
    return res


if __name__ == "__main__":
    main()
