"""Diffuse-field equalisation and level calibration of trained fields, without retraining.

The teacher renders every image source through an HRIR; diffuse-field equalisation
(:func:`engines.spatial.hrtf.diffuse_field_eq`) filters *every* HRIR by the same
minimum-phase FIR g. The teacher is linear in the HRIRs, so the teacher with equalised HRIRs is
g * (teacher with raw HRIRs), up to the HRIRs' cut to 128 taps. A field trained on the raw
teacher is brought to the equalised one by the same filter on its output:

* early part (2 x 2400 at 24 kHz): convolved with g designed at 24 kHz (the equalised table's
  measured correction below 12 kHz), a causal ``Conv`` appended to the ONNX graph;
* tail parameters: each ear's octave-band level L_b moves by the band's energy gain for a
  diffuse field at that ear, 10 log10(sum_f |F_b|^2 P_eq / sum_f |F_b|^2 P_raw) (F_b the tail's
  band filter, P the ear's diffuse-field power response of the raw / equalised table), an
  ``Add`` on the tail output.

Then a calibration against the (current) teacher at 32 fresh positions (seed 31: never used for
training or evaluation): one early gain (the learned early part comes out ~2 dB low in the hall,
the regression to the mean of a waveform it cannot fully predict) folded into the Conv, and mean
offsets of the tail parameters per ear and band (above all the lowest band, whose fitted level
held the teacher's sub-20 Hz build-up before ``teacher.dc_block``) added to the tail.

``python -m engines.spatial.train.equalise [ROOM ...] [--models DIR]`` patches the named rooms'
fields in place (metadata ``hrtf_eq``, ``early_gain_db``; a field already calibrated is left
alone; a field trained on the equalised teacher gets the calibration only), rebuilds
``spatial_hrir`` from the equalised table, evaluates each field on its 64 held-out positions
against the current teacher and rewrites the manifest entries (sha256, bytes, metrics).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from engines.spatial import dsp
from engines.spatial.train.export import save_onnx_atomic

EQ_KEY = "hrtf_eq"
EQ_PATCHED = "diffuse-field (output filter)"
EQ_TRAINED = "diffuse-field (teacher)"


def field_filters(sample_rate: int = dsp.IR_RATE, taps: int = 128, n_fft: int = 4096
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(g at FIELD_RATE (K,), tail level offsets (2, bands) dB): what diffuse-field equalisation
    did to the HRIR table the teacher uses, measured on the tables themselves (equalised over raw,
    diffuse-field power responses per ear), so the 128-tap cut of the equalised HRIRs (which
    keeps ~12 dB of the low-frequency correction where the inverse asks for up to 18 dB) is
    matched too."""
    from engines.spatial import hrtf

    raw = hrtf.default_hrtf(sample_rate, taps, equalise=False)
    eq = hrtf.default_hrtf(sample_rate, taps)
    w = hrtf.solid_angle_weights(raw.dirs)
    f = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)

    def per_ear(h):
        P = np.abs(np.fft.rfft(h.ir.astype(np.float64), n_fft, axis=-1)) ** 2
        return np.einsum("m,mef->ef", w, P) / w.sum()

    P_raw, P_eq = per_ear(raw), per_ear(eq)  # (2, F)
    ratio_db = 10 * np.log10(hrtf.third_octave_smooth(f, P_eq.mean(0)) / hrtf.third_octave_smooth(f, P_raw.mean(0)))
    g24 = hrtf.min_phase_fir(f, ratio_db, dsp.FIELD_RATE, 96)
    F2 = np.abs(np.fft.rfft(dsp.octave_filters(sample_rate), n_fft, axis=-1)) ** 2  # (bands, F)
    dl = 10 * np.log10(np.einsum("bf,ef->eb", F2, P_eq) / np.einsum("bf,ef->eb", F2, P_raw))
    return g24.astype(np.float32), dl.astype(np.float32)


def patch_model(model, g: np.ndarray, add_tail: np.ndarray):
    """The field's ONNX graph with the FIR ``g`` appended to ``early`` and ``add_tail`` (2, bands, 2)
    added to ``tail``."""
    from onnx import TensorProto, helper, numpy_helper

    graph = model.graph
    outs = {o.name: o for o in graph.output}
    if set(outs) != {"early", "tail"}:
        raise ValueError(f"not a spatial field (outputs {sorted(outs)})")
    for node in graph.node:
        node.output[:] = [{"early": "early_raw", "tail": "tail_raw"}.get(o, o) for o in node.output]
    K = len(g)
    add = np.asarray(add_tail, np.float32).reshape(1, 2, dsp.N_BANDS, 2)
    graph.initializer.extend([
        numpy_helper.from_array(g[::-1].reshape(1, 1, K).astype(np.float32), "dfeq_w"),  # Conv correlates
        numpy_helper.from_array(np.array([-1, 1], np.int64), "dfeq_minus1_1"),
        numpy_helper.from_array(add, "dfeq_tail"),
    ])
    # (N, 2, T) -> (2N, 1, T): the last axis keeps T (0 = copy in Reshape)
    graph.node.extend([
        helper.make_node("Shape", ["early_raw"], ["dfeq_shape"]),
        helper.make_node("Shape", ["early_raw"], ["dfeq_T"], start=2),
        helper.make_node("Concat", ["dfeq_minus1_1", "dfeq_T"], ["dfeq_flat_shape"], axis=0),
        helper.make_node("Reshape", ["early_raw", "dfeq_flat_shape"], ["dfeq_x"]),
        helper.make_node("Conv", ["dfeq_x", "dfeq_w"], ["dfeq_y"], pads=[K - 1, 0], kernel_shape=[K]),
        helper.make_node("Reshape", ["dfeq_y", "dfeq_shape"], ["early"]),
        helper.make_node("Add", ["tail_raw", "dfeq_tail"], ["tail"]),
    ])
    del graph.value_info[:]
    early_t = helper.make_tensor_value_info("early", TensorProto.FLOAT, None)
    tail_t = helper.make_tensor_value_info("tail", TensorProto.FLOAT, None)
    early_t.type.CopyFrom(outs["early"].type)
    tail_t.type.CopyFrom(outs["tail"].type)
    del graph.output[:]
    graph.output.extend([early_t, tail_t])
    return model


def metadata(model) -> dict:
    return {p.key: p.value for p in model.metadata_props}


CAL_SEED = 31  # calibration positions: a seed no field was trained or evaluated on
CAL_POSITIONS = 32


def _session(model):
    from engines.runtime import open_session

    return open_session(model.SerializeToString(), intra_threads=1)


def calibration(model, room: str, n: int = CAL_POSITIONS, seed: int = CAL_SEED, log=print) -> dict:
    """What is left between the (equalised) field and the teacher at ``n`` fresh positions:
    early gain (dB: mean over positions and ears of 10 log10 of the teacher's over the field's
    energy, 0-100 ms, both as the IR assembly renders them) and mean tail-parameter offsets
    (teacher's fit minus field, per ear and band: level dB, slope dB/s)."""
    from engines.spatial import teacher
    from engines.spatial.rooms import room as get_room
    from engines.spatial.train.data import early_part, fit_tail, positions

    r = get_room(room)
    pos = positions(r, n, seed).astype(np.float32)
    early, tail = _session(model).run(None, {"src": pos[:, 0:3], "lis": pos[:, 3:6], "yaw": pos[:, 6:7]})
    m = int(round(dsp.EARLY_S * dsp.IR_RATE))
    d_early, d_tail = [], []
    for i, p in enumerate(pos):
        ir = teacher.brir(r, p[0:3], p[3:6], float(p[6]))
        rev = ir.ir - ir.direct
        e_t = np.sum(dsp.early_to_ir_rate(early_part(rev), m).astype(np.float64) ** 2, axis=-1)
        e_f = np.sum(dsp.early_to_ir_rate(early[i], m).astype(np.float64) ** 2, axis=-1)
        d_early.append(10 * np.log10(e_t / e_f))
        d_tail.append(fit_tail(rev) - tail[i])
    d_early, d_tail = np.asarray(d_early), np.asarray(d_tail)
    if log:
        log(f"spatial_{room}: early part {-d_early.mean():+.2f} dB against the teacher at {n} fresh positions "
            f"(spread {d_early.std():.2f} dB); tail levels {(-d_tail[..., 0].mean(0)).round(1).tolist()} dB")
    return {"early_gain_db": float(d_early.mean()), "tail": d_tail.mean(0).astype(np.float32)}


def equalise_field(path: Path, room: str, calibrate: bool = True, log=print) -> dict | None:
    """Patch one field file in place (diffuse-field EQ unless it was trained on the equalised
    teacher; calibration of the early level and tail parameters); None when it is already done."""
    import onnx

    model = onnx.load(str(path))
    meta = metadata(model)
    if "early_gain_db" in meta or (EQ_KEY in meta and not calibrate):
        return None
    trained_eq = meta.get(EQ_KEY) == EQ_TRAINED
    if trained_eq:
        g, dl = np.ones(1, np.float32), np.zeros((2, dsp.N_BANDS), np.float32)
    else:
        g, dl = field_filters()
    add = np.zeros((2, dsp.N_BANDS, 2), np.float32)
    add[..., 0] = dl
    gain, cal_tail = 0.0, np.zeros_like(add)
    if calibrate:
        c = calibration(patch_model(onnx.load(str(path)), g, add), room, log=log)
        gain, cal_tail = c["early_gain_db"], c["tail"]
    model = patch_model(model, (g * 10 ** (gain / 20)).astype(np.float32), add + cal_tail)
    props = {EQ_KEY: EQ_TRAINED if trained_eq else EQ_PATCHED,
             "hrtf_eq_tail_db": json.dumps(np.round(dl.astype(np.float64), 2).tolist())}
    if calibrate:
        props["early_gain_db"] = f"{gain:.3f}"
        props["tail_calibration"] = json.dumps(np.round(cal_tail.astype(np.float64), 2).tolist())
    kept = [p for p in model.metadata_props if p.key not in props]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    for k, v in props.items():
        model.metadata_props.append(onnx.StringStringEntryProto(key=k, value=v))
    onnx.checker.check_model(model)
    save_onnx_atomic(model, path)
    return {"method": props[EQ_KEY], "early_filter_taps_24k": int(len(g)),
            "tail_level_offsets_db": np.round(dl[0].astype(np.float64), 2).tolist(),
            "early_gain_db": round(gain, 3),
            "tail_calibration_level_db": np.round(cal_tail[..., 0].astype(np.float64), 2).tolist(),
            "tail_calibration_slope_db_s": np.round(cal_tail[..., 1].astype(np.float64), 1).tolist(),
            "calibration": f"{CAL_POSITIONS} teacher positions, seed {CAL_SEED}"}


def held_out(room: str, n_train: int = 400, n_test: int = 64) -> np.ndarray:
    """The shipped fields' held-out positions (the first data set of every rebuild: seed 0)."""
    from engines.spatial.rooms import room as get_room
    from engines.spatial.train.data import positions

    return positions(get_room(room), n_train + n_test, 0)[n_train:]


def evaluate(room: str, models: Path, n: int | None = None) -> dict:
    """The field against the (equalised) teacher on its held-out positions (the first ``n`` of
    them; all 64 by default): C50 / T60 / EDT errors as ``train.evaluate`` measures them, and the
    layout's ceiling."""
    from engines.spatial import teacher
    from engines.spatial.rooms import room as get_room
    from engines.spatial.train import train as train_mod
    from engines.spatial.train.data import early_part, fit_tail

    r = get_room(room)
    pos = held_out(room)[:n].astype(np.float32)
    full, early, tails = [], [], []
    for p in pos:
        ir = teacher.brir(r, p[0:3], p[3:6], float(p[6]))
        rev = ir.ir - ir.direct
        full.append(ir.ir)
        early.append(early_part(rev))
        tails.append(fit_tail(rev))
    data = {"n_train": 0, "pos": pos, "test_full": np.stack(full), "early": np.stack(early), "tail": np.stack(tails)}
    return train_mod.evaluate(models / f"spatial_{room}.onnx", models / "spatial_hrir.onnx", data)


def main(argv=None) -> None:
    from engines.spatial.rooms import PRESETS
    from engines.spatial.train import export

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("rooms", nargs="*", default=list(PRESETS))
    ap.add_argument("--models", default=str(Path(__file__).resolve().parents[2] / "models"))
    ap.add_argument("--no-calibrate", action="store_true", help="diffuse-field EQ only, no early-level gain")
    ap.add_argument("--no-evaluate", action="store_true", help="skip the held-out evaluation")
    a = ap.parse_args(argv)
    models = Path(a.models)
    info = export.build_hrir_onnx(models / "spatial_hrir.onnx")
    manifest = json.loads((models / "manifest.json").read_text(encoding="utf-8"))
    h = dict(manifest["spatial_hrir"])
    h["metrics"] = info
    h["description"] = export.HRIR_DESCRIPTION
    entries = {"spatial_hrir": h}
    for r in a.rooms:
        name = f"spatial_{r}"
        done = equalise_field(models / f"{name}.onnx", r, calibrate=not a.no_calibrate)
        print(f"{name}: {'patched ' + json.dumps(done) if done else 'already done'}")
        e = dict(manifest[name])
        if done:
            e["hrtf_eq"] = {**done, "by": f"python -m engines.spatial.train.equalise {r}"}
        if not a.no_evaluate:
            export.update_manifest(models, {"spatial_hrir": h})  # the new lookup, checksummed
            ev = evaluate(r, models)
            m = dict(e.get("metrics", {}))
            if "before_hrtf_eq" not in m:
                m["before_hrtf_eq"] = {k: m[k] for k in ("c50_error_db", "t60_error_pct", "edt_error_s", "ceiling")
                                       if k in m}
            m.update({k: round(v, 4) for k, v in ev["field"].items()})
            m["ceiling"] = {k: round(v, 4) for k, v in ev["ceiling"].items()}
            m["query_ms"] = round(ev["query_ms"], 3)
            m["evaluated_against"] = "diffuse-field equalised teacher, 64 held-out positions (seed 0)"
            e["metrics"] = m
            print(f"{name}: {json.dumps(ev)}")
        entries[name] = e
    export.update_manifest(models, entries)


if __name__ == "__main__":
    main()
