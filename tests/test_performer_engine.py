"""Performer engine: keypoint readers, gesture models, generation quality, determinism, errors."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import mir_eval
import numpy as np
import pytest

from engines.errors import EngineError, ModelError
from engines.performer import gestures as G
from engines.performer.keypoints import JOINTS, J, Keypoints, load_keypoints, save_keypoints
from engines.performer.keypoints import _MP_POSE, _OP_BODY

REPO = Path(__file__).resolve().parents[1]
MODELS = REPO / "engines" / "models"


def _groove(seconds=12.0, bpm=100.0):
    """A known drum performance: kick on 1 and 3, snare on 2 and 4, hi-hat eighths."""
    beat = 60.0 / bpm
    notes = []
    t, k = 0.5, 0
    while t < seconds - 0.5:
        notes.append((t, 0.1, 42, 80 + 10 * (k % 2 == 0)))
        if k % 4 == 0:
            notes.append((t, 0.1, 36, 100))
        if k % 4 == 2:
            notes.append((t, 0.1, 38, 105))
        t += beat / 2
        k += 1
    return notes


def _strums(seconds=12.0, bpm=90.0):
    beat = 60.0 / bpm
    chords = [(40, 47, 52, 56), (45, 52, 57, 61), (43, 50, 55, 59), (38, 45, 50, 54)]
    notes, t, k = [], 0.5, 0
    while t < seconds - 0.5:
        for p in chords[(k // 4) % 4]:
            notes.append((t, beat * 0.9, p, 85))
        t += beat
        k += 1
    return notes


@pytest.fixture(scope="module")
def drum_kp():
    return G.synthesize(_groove(), "drums", 30.0, seed=4242)


def _pixels(kp: Keypoints, scale=150.0, off=(320.0, 200.0)):
    return kp.xy * scale + np.array(off)


# -- readers -------------------------------------------------------------------------------
def _mediapipe_frames(kp, w=640.0, h=480.0, hands=True):
    px = _pixels(kp)
    frames = []
    for i in range(kp.n_frames):
        pose = [{"x": 0.0, "y": 0.0, "z": 0.0, "visibility": 0.0} for _ in range(33)]
        for name, k in _MP_POSE.items():
            x, y = px[i, J[name]]
            pose[k] = {"x": x / w, "y": y / h, "z": 0.0, "visibility": float(kp.conf[i, J[name]])}
        fr = {"pose_landmarks": pose}
        if hands:
            for side, s in (("left", "l"), ("right", "r")):
                hand = [{"x": px[i, J[f"{s}_wrist"], 0] / w, "y": px[i, J[f"{s}_wrist"], 1] / h, "z": 0.0}
                        for _ in range(21)]
                for name, k in (("thumb", 4), ("index", 8), ("pinky", 20)):
                    x, y = px[i, J[f"{s}_{name}"]]
                    hand[k] = {"x": x / w, "y": y / h, "z": 0.0}
                fr[f"{side}_hand_landmarks"] = hand
        frames.append(fr)
    return frames


def test_mediapipe_json_with_aspect_and_hands(tmp_path, drum_kp):
    p = tmp_path / "mp.json"
    p.write_text(json.dumps({"fps": 30, "image_width": 640, "image_height": 480,
                             "frames": _mediapipe_frames(drum_kp)}))
    kp = load_keypoints(p)
    assert kp.fps == 30 and kp.xy.shape == (drum_kp.n_frames, len(JOINTS), 2)
    seen = drum_kp.conf >= 0.3
    err = np.abs(kp.xy - drum_kp.xy)[seen]
    assert np.median(err) < 0.02  # same skeleton back (neck rebuilt from the shoulders)
    # a bare list of frames, fps given by the caller
    p2 = tmp_path / "mp_list.json"
    p2.write_text(json.dumps(_mediapipe_frames(drum_kp, 1.0, 1.0, hands=False)[:40]))
    kp2 = load_keypoints(p2, fps=25)
    assert kp2.fps == 25 and kp2.n_frames == 40


def _openpose_frame(kp, i, extra_person=True):
    px = _pixels(kp)
    body = np.zeros((25, 3))
    for name, k in _OP_BODY.items():
        body[k] = [*px[i, J[name]], kp.conf[i, J[name]]]
    hands = {}
    for side, s in (("left", "l"), ("right", "r")):
        h = np.zeros((21, 3))
        h[:, :2] = px[i, J[f"{s}_wrist"]]
        h[:, 2] = 0.8
        for name, k in (("thumb", 4), ("index", 8), ("pinky", 20)):
            h[k] = [*px[i, J[f"{s}_{name}"]], 0.9]
        hands[f"hand_{side}_keypoints_2d"] = h.ravel().tolist()
    people = [{"pose_keypoints_2d": body.ravel().tolist(), **hands}]
    if extra_person:  # a smaller bystander, listed first
        small = body.copy()
        small[:, :2] = small[:, :2] * 0.3 + 900
        people.insert(0, {"pose_keypoints_2d": small.ravel().tolist()})
    return {"version": 1.3, "people": people}


def test_openpose_folder_picks_the_player(tmp_path, drum_kp):
    d = tmp_path / "op"
    d.mkdir()
    for i in range(60):
        (d / f"clip_{i:012d}_keypoints.json").write_text(json.dumps(_openpose_frame(drum_kp, i)))
    kp = load_keypoints(d, fps=30)
    assert kp.n_frames == 60
    seen = drum_kp.conf[:60] >= 0.3
    assert np.median(np.abs(kp.xy - drum_kp.xy[:60])[seen]) < 0.02
    # one JSON list of frames
    p = tmp_path / "op.json"
    p.write_text(json.dumps([_openpose_frame(drum_kp, i, False) for i in range(30)]))
    assert load_keypoints(p).n_frames == 30


def test_own_formats_round_trip(tmp_path, drum_kp):
    for name in ("kp.json", "kp.npz"):
        save_keypoints(tmp_path / name, drum_kp)
        back = load_keypoints(tmp_path / name)
        assert back.fps == drum_kp.fps and back.n_frames == drum_kp.n_frames
        assert np.allclose(back.xy, drum_kp.xy, atol=0.02)


def test_missing_joints_are_interpolated_and_flagged():
    t = 50
    xy = np.tile(np.array([[0, -0.9], [0, 0], [-0.5, 0], [-0.6, 0.8], [-0.5, 1.5], [0.5, 0], [0.6, 0.8], [0.5, 1.5]]
                          + [[0, 2]] * (len(JOINTS) - 8), np.float64)[None], (t, 1, 1)) * 100 + 300
    xy[:, J["r_wrist"], 0] += np.linspace(0, 50, t)
    conf = np.ones((t, len(JOINTS)))
    conf[20:30, J["r_wrist"]] = 0.0
    from engines.performer.keypoints import normalise

    kp = normalise(xy, conf, 30)
    w = kp.xy[:, J["r_wrist"], 0]
    assert np.allclose(np.diff(w), np.diff(w).mean(), atol=1e-4)  # a straight line through the gap
    assert (kp.conf[20:30, J["r_wrist"]] < 0.3).all() and np.isfinite(kp.xy).all()


@pytest.mark.parametrize("content,match", [
    ("not json {", "not readable JSON"),
    ("[]", "zero frames"),
    ('{"hello": 1}', "unknown layout"),
    ('[{"pose_landmarks": [{"x": 0, "y": 0}]}]', "33 landmarks"),
    ('[{"people": [{"pose_keypoints_2d": [1, 2, 3]}]}]', "75 numbers"),
    ('[{"pose_landmarks": ' + json.dumps([{"x": 0.5, "y": 0.5, "visibility": 0.0}] * 33) + '}]', "shoulders"),
    ('{"format": "performer-keypoints", "fps": 1e9, "xy": [[[0, 0]]]}', "joints"),
])
def test_bad_files_are_engine_errors(tmp_path, content, match):
    p = tmp_path / "bad.json"
    p.write_text(content)
    with pytest.raises(EngineError, match=match):
        load_keypoints(p)


def test_bad_paths_and_arrays(tmp_path):
    with pytest.raises(EngineError, match="does not exist"):
        load_keypoints(tmp_path / "nope.json")
    (tmp_path / "empty").mkdir()
    with pytest.raises(EngineError, match="no OpenPose"):
        load_keypoints(tmp_path / "empty")
    (tmp_path / "x.npz").write_bytes(b"garbage")
    with pytest.raises(EngineError, match="npz"):
        load_keypoints(tmp_path / "x.npz")
    np.savez(tmp_path / "y.npz", fps=30.0, xy=np.zeros((10, 5, 2)))
    with pytest.raises(EngineError, match="joints"):
        load_keypoints(tmp_path / "y.npz")
    np.savez(tmp_path / "z.npz", fps=1e6, xy=np.ones((10, len(JOINTS), 2)))
    with pytest.raises(EngineError, match="fps"):
        load_keypoints(tmp_path / "z.npz")
    np.savez(tmp_path / "w.npz", fps=30.0, xy=np.zeros((0, len(JOINTS), 2)))
    with pytest.raises(EngineError, match="zero frames"):
        load_keypoints(tmp_path / "w.npz")


# -- gestures ------------------------------------------------------------------------------
@pytest.mark.parametrize("instrument,notes", [("drums", _groove()), ("guitar", _strums())])
def test_gesture_onsets_follow_the_notes(instrument, notes):
    kp = G.synthesize(notes, instrument, 30.0, seed=7, realism=0.5)
    ref = np.unique(np.round([n[0] for n in notes], 3))
    f, _, _ = mir_eval.onset.f_measure(ref, G.gesture_onsets(kp, instrument), 0.05)
    assert f > 0.7


# -- generation ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def performer():
    from engines.performer.infer import Performer

    return Performer().load()


def _onset_f1(ref, est):
    ri = np.array([[n[0], n[0] + 0.1] for n in ref])
    ei = np.array([[n.start_s, n.start_s + 0.1] for n in est]) if est else np.zeros((0, 2))
    if not len(ei):
        return 0.0
    return mir_eval.transcription.onset_precision_recall_f1(ri, ei, onset_tolerance=0.05)[2]


def test_generation_follows_the_drummer(performer, drum_kp):
    notes = _groove()
    est = performer.generate(drum_kp, "drums", seed=0)
    f = _onset_f1(notes, est)
    rng = np.random.default_rng(0)
    rs = np.sort(rng.uniform(0, drum_kp.duration_s, len(notes)))
    rand = [type(est[0])(float(s), 0.1, 42, 80) for s in rs]
    f_rand = _onset_f1(notes, rand)
    assert f_rand < 0.35 < f, (f, f_rand)
    assert all(1 <= n.velocity <= 127 and n.pitch in (36, 38, 42, 46, 45, 48, 50, 49, 51) for n in est)
    pitches = {n.pitch for n in est}
    assert {36, 42} & pitches  # kick / hi-hat among the hits


def test_generation_is_seeded_and_covers_any_length(performer):
    kp = G.synthesize(_strums(9.0), "guitar", 25.0, seed=3)
    a = performer.generate(kp, "guitar", seed=5)
    b = performer.generate(kp, "guitar", seed=5)
    c = performer.generate(kp, "guitar", seed=6)
    assert a == b and a and a != c
    assert max(n.start_s for n in a) > 6.0 and all(40 <= n.pitch <= 88 for n in a)
    short = Keypoints(30.0, kp.xy[:10], kp.conf[:10])  # shorter than one window
    assert isinstance(performer.generate(short, "violin", temperature=0), list)
    seen = []
    performer.generate(short, "piano", progress=lambda f, msg: seen.append(f))
    assert seen and seen[-1] == 1.0


def test_unknown_instrument_lists_the_choices(performer, drum_kp):
    with pytest.raises(EngineError, match="drums, guitar, violin, piano"):
        performer.generate(drum_kp, "kazoo")
    with pytest.raises(EngineError, match="joint list"):
        performer.generate(Keypoints(30.0, np.zeros((40, 5, 2), np.float32), np.ones((40, 5), np.float32)), "drums")


def _damaged_copy(tmp_path):
    d = tmp_path / "models"
    d.mkdir()
    shutil.copy(MODELS / "manifest.json", d / "manifest.json")
    for n in ("performer_encoder.onnx", "performer_decoder.onnx"):
        shutil.copy(MODELS / n, d / n)
    data = bytearray((d / "performer_decoder.onnx").read_bytes())
    data[len(data) // 2: len(data) // 2 + 64] = b"\x00" * 64
    (d / "performer_decoder.onnx").write_bytes(bytes(data))
    return d


def test_corrupt_model_is_a_model_error(tmp_path, drum_kp):
    from engines.performer.infer import Performer

    d = _damaged_copy(tmp_path)
    with pytest.raises(ModelError, match="corrupt"):
        Performer(d).generate(drum_kp, "drums")
    code = ("import numpy as np\nfrom engines.errors import ModelError\nfrom engines.performer import gestures as G\n"
            "from engines.performer.infer import Performer\n"
            "kp = G.synthesize([(0.5, 0.1, 38, 90)], 'drums', 30.0)\n"
            "try:\n    Performer().generate(kp, 'drums')\nexcept ModelError as e:\n    print('MODELERROR', e)\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                       env={**os.environ, "STUDIO_MODELS_DIR": str(d)}, timeout=60)
    assert "MODELERROR" in r.stdout and "corrupt" in r.stdout, r.stderr
