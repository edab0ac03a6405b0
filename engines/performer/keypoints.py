"""Keypoint files -> one common upper-body skeleton, normalised.

Readers (``load_keypoints(path, fps=None, person=None)``):

* MediaPipe JSON: a list of per-frame objects, or ``{"fps": .., "frames": [...]}`` (optional
  ``"image_width"``/``"image_height"`` to undo the normalised coordinates' aspect ratio). Each
  frame holds ``"pose_landmarks"`` (or ``"landmarks"``) = 33 ``{x, y, z, visibility}`` and
  optionally ``"left_hand_landmarks"``/``"right_hand_landmarks"`` = 21 points. A frame may hold
  ``"people"``/``"poses"``: a list of such objects (several people).
* OpenPose: a folder of per-frame ``*_keypoints.json`` (``people[i].pose_keypoints_2d`` BODY_25 =
  75 floats x, y, c; ``hand_left_keypoints_2d``/``hand_right_keypoints_2d`` = 63 floats, pixels),
  or one JSON list of such frames.
* Own format (``save_keypoints``): ``{"format": "performer-keypoints", "fps", "joints", "xy",
  "conf"}`` JSON, or ``.npz`` with ``fps`` and ``xy`` (T, J, 2) or (T, J, 3) (third = confidence).

Several people: the one with the largest mean (confidence-weighted) shoulder width, kept
frame to frame by nearest neck (or ``person=i``). Normalisation: centre on the neck (mid
shoulders), scale by the median shoulder width, image axes (x right, y down). Joints below
``MIN_CONF`` are filled by linear interpolation over time (gaps up to 1 s; longer gaps and
never-seen joints stay at a rest position) and keep their low confidence as the flag.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engines.errors import EngineError

JOINTS = ("nose", "neck", "r_shoulder", "r_elbow", "r_wrist", "l_shoulder", "l_elbow", "l_wrist",
          "r_hip", "l_hip", "r_knee", "l_knee", "r_ankle", "l_ankle",
          "r_thumb", "r_index", "r_pinky", "l_thumb", "l_index", "l_pinky")
J = {n: i for i, n in enumerate(JOINTS)}
N_JOINTS = len(JOINTS)
BONES = (("nose", "neck"), ("neck", "r_shoulder"), ("r_shoulder", "r_elbow"), ("r_elbow", "r_wrist"),
         ("neck", "l_shoulder"), ("l_shoulder", "l_elbow"), ("l_elbow", "l_wrist"),
         ("r_shoulder", "r_hip"), ("l_shoulder", "l_hip"), ("r_hip", "l_hip"), ("r_hip", "r_knee"),
         ("l_hip", "l_knee"), ("r_knee", "r_ankle"), ("l_knee", "l_ankle"),
         ("r_wrist", "r_thumb"), ("r_wrist", "r_index"), ("r_wrist", "r_pinky"),
         ("l_wrist", "l_thumb"), ("l_wrist", "l_index"), ("l_wrist", "l_pinky"))
MIN_CONF = 0.3
MAX_FRAMES = 100_000  # ~55 min at 30 fps
MAX_FILE_BYTES = 512 * 1024 * 1024
# rest position of each joint (normalised units) for joints never seen
REST = np.array([[0, -0.9], [0, 0], [-0.5, 0], [-0.65, 0.8], [-0.55, 1.5], [0.5, 0], [0.65, 0.8], [0.55, 1.5],
                 [-0.35, 1.9], [0.35, 1.9], [-0.4, 2.9], [0.4, 2.9], [-0.4, 3.8], [0.4, 3.8],
                 [-0.45, 1.65], [-0.55, 1.75], [-0.6, 1.7], [0.45, 1.65], [0.55, 1.75], [0.6, 1.7]], np.float32)

# MediaPipe Pose (33) and Hand (21) indices; OpenPose BODY_25 indices
_MP_POSE = {"nose": 0, "l_shoulder": 11, "r_shoulder": 12, "l_elbow": 13, "r_elbow": 14, "l_wrist": 15,
            "r_wrist": 16, "l_pinky": 17, "r_pinky": 18, "l_index": 19, "r_index": 20, "l_thumb": 21,
            "r_thumb": 22, "l_hip": 23, "r_hip": 24, "l_knee": 25, "r_knee": 26, "l_ankle": 27, "r_ankle": 28}
_OP_BODY = {"nose": 0, "neck": 1, "r_shoulder": 2, "r_elbow": 3, "r_wrist": 4, "l_shoulder": 5, "l_elbow": 6,
            "l_wrist": 7, "r_hip": 9, "r_knee": 10, "r_ankle": 11, "l_hip": 12, "l_knee": 13, "l_ankle": 14}
_HAND = {"thumb": 4, "index": 8, "pinky": 20}  # fingertips in the 21-point hand model (both)


@dataclass
class Keypoints:
    fps: float
    xy: np.ndarray  # (T, J, 2) float32, normalised (neck at 0, shoulder width 1, y down)
    conf: np.ndarray  # (T, J) float32 0..1 (< MIN_CONF: filled in, not seen)

    @property
    def n_frames(self) -> int:
        return int(self.xy.shape[0])

    @property
    def duration_s(self) -> float:
        return self.n_frames / self.fps


def _check_fps(fps) -> float:
    try:
        fps = float(fps)
    except (TypeError, ValueError):
        raise EngineError(f"keypoint file: fps {fps!r} is not a number") from None
    if not np.isfinite(fps) or not 1.0 <= fps <= 1000.0:
        raise EngineError(f"keypoint file: fps {fps} is outside 1..1000")
    return fps


def normalise(raw: np.ndarray, conf: np.ndarray, fps: float) -> Keypoints:
    """raw (T, J, 2) image coordinates (any unit) + conf (T, J) -> Keypoints (see module doc)."""
    raw = np.asarray(raw, np.float64)
    conf = np.nan_to_num(np.asarray(conf, np.float64), nan=0.0).clip(0, 1)
    t = raw.shape[0]
    if t == 0:
        raise EngineError("keypoint file has zero frames")
    if t > MAX_FRAMES:
        raise EngineError(f"keypoint file has {t} frames (more than {MAX_FRAMES}); split it")
    bad = ~np.isfinite(raw).all(-1)
    conf = np.where(bad, 0.0, conf)
    raw = np.where(bad[..., None], 0.0, raw)
    rs, ls = J["r_shoulder"], J["l_shoulder"]
    both = (conf[:, rs] >= MIN_CONF) & (conf[:, ls] >= MIN_CONF)
    neck_ok = conf[:, J["neck"]] >= MIN_CONF
    mid = 0.5 * (raw[:, rs] + raw[:, ls])
    raw[:, J["neck"]] = np.where((both & ~neck_ok)[:, None], mid, raw[:, J["neck"]])
    conf[:, J["neck"]] = np.where(both & ~neck_ok, np.minimum(conf[:, rs], conf[:, ls]), conf[:, J["neck"]])
    if not both.any():
        raise EngineError("keypoint file: the shoulders are never detected (no upper body in view?)")
    width = np.linalg.norm(raw[both, rs] - raw[both, ls], axis=-1)
    scale = float(np.median(width))
    if not scale > 1e-6:
        raise EngineError("keypoint file: the shoulders have zero width (degenerate coordinates)")
    seen = conf >= MIN_CONF
    xy = raw.copy()
    fr = np.arange(t)
    for j in range(raw.shape[1]):
        ok = seen[:, j]
        if ok.all():
            continue
        if not ok.any():
            xy[:, j] = np.nan
            continue
        for d in range(2):
            xy[:, j, d] = np.interp(fr, fr[ok], raw[ok, j, d])
        # gaps longer than 1 s are not trusted to interpolation
        idx = np.flatnonzero(ok)
        gap = np.minimum(np.abs(fr[:, None] - idx[None, :]).min(1), 10 ** 9)
        xy[gap > fps, j] = np.nan
    neck = xy[:, J["neck"]]
    neck = np.where(np.isfinite(neck), neck, np.nanmedian(neck, axis=0))
    xy = (xy - neck[:, None]) / scale
    xy = np.where(np.isfinite(xy), xy, REST[None, : xy.shape[1]])
    xy = np.clip(xy, -20, 20)
    return Keypoints(float(fps), xy.astype(np.float32), conf.astype(np.float32))


# -- readers --------------------------------------------------------------------------------
def _read_json(path: Path):
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise EngineError(f"keypoint file {path.name} is larger than {MAX_FILE_BYTES >> 20} MB")
        return json.loads(path.read_text(encoding="utf-8"))
    except EngineError:
        raise
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EngineError(f"keypoint file {path.name} is not readable JSON ({exc})") from None


def _pick(cands: list, prev_neck):
    """Index of the person to follow: nearest neck to the previous frame's, else the largest."""
    if not cands:
        return None
    if prev_neck is not None:
        d = [np.linalg.norm(c[0][J["neck"]] - prev_neck) if c[1][J["neck"]] >= MIN_CONF else np.inf for c in cands]
        if np.isfinite(min(d)):
            return int(np.argmin(d))
    size = [np.linalg.norm(c[0][J["r_shoulder"]] - c[0][J["l_shoulder"]]) * min(c[1][J["r_shoulder"]], c[1][J["l_shoulder"]])
            for c in cands]
    return int(np.argmax(size))


def _stack(frames: list[list], person: int | None):
    """frames: per frame a list of candidate (xy (J,2), conf (J,)) -> (T,J,2), (T,J)."""
    t = len(frames)
    xy = np.zeros((t, N_JOINTS, 2))
    conf = np.zeros((t, N_JOINTS))
    prev = None
    if person is None and frames:  # start from the most prominent person of the first busy frame
        for c in frames:
            if c:
                k = _pick(c, None)
                prev = c[k][0][J["neck"]] if c[k][1][J["neck"]] >= MIN_CONF else None
                break
    for i, cands in enumerate(frames):
        if person is not None:
            k = person if person < len(cands) else None
        else:
            k = _pick(cands, prev)
        if k is None:
            continue
        xy[i], conf[i] = cands[k]
        if conf[i, J["neck"]] >= MIN_CONF:
            prev = xy[i, J["neck"]]
    return xy, conf


def _num(v, what):
    try:
        a = np.asarray(v, np.float64)
    except (TypeError, ValueError):
        raise EngineError(f"keypoint file: {what} holds non-numbers") from None
    return a


def _mp_points(lms, n, what):
    if isinstance(lms, dict) and "landmark" in lms:
        lms = lms["landmark"]
    if not isinstance(lms, list) or len(lms) != n:
        raise EngineError(f"keypoint file: {what} must be a list of {n} landmarks")
    pts = np.zeros((n, 2))
    c = np.zeros(n)
    for i, p in enumerate(lms):
        if isinstance(p, dict):
            pts[i] = [_num(p.get("x", np.nan), what), _num(p.get("y", np.nan), what)]
            c[i] = float(p.get("visibility", p.get("presence", 1.0)) or 0.0)
        elif isinstance(p, (list, tuple)) and len(p) >= 2:
            pts[i] = _num(p[:2], what)
            c[i] = float(p[3]) if len(p) >= 4 else 1.0
        else:
            raise EngineError(f"keypoint file: {what} landmark {i} is not an object {{x, y, ...}}")
    return pts, c


def _mp_person(obj: dict, aspect: float):
    lms = obj.get("pose_landmarks", obj.get("landmarks"))
    if lms is None:
        return None
    pts, c = _mp_points(lms, 33, "pose_landmarks")
    pts[:, 0] *= aspect
    xy = np.zeros((N_JOINTS, 2))
    conf = np.zeros(N_JOINTS)
    for name, k in _MP_POSE.items():
        xy[J[name]], conf[J[name]] = pts[k], c[k]
    for side in ("left", "right"):
        h = obj.get(f"{side}_hand_landmarks")
        if h:
            hp, hc = _mp_points(h, 21, f"{side}_hand_landmarks")
            hp[:, 0] *= aspect
            s = side[0]
            for name, k in _HAND.items():
                xy[J[f"{s}_{name}"]], conf[J[f"{s}_{name}"]] = hp[k], max(hc[k], 0.9) if hc[k] > 0 else 0.9
    return xy, conf


def _mediapipe(data, fps, person) -> Keypoints:
    frames = data
    aspect = 1.0
    if isinstance(data, dict):
        frames = data.get("frames")
        fps = fps or data.get("fps")
        w, h = data.get("image_width"), data.get("image_height")
        if w and h:
            aspect = float(w) / float(h)
    if not isinstance(frames, list):
        raise EngineError("keypoint file: MediaPipe JSON needs a list of frames")
    cands = []
    for i, fr in enumerate(frames):
        if fr is None:
            cands.append([])
            continue
        if not isinstance(fr, dict):
            raise EngineError(f"keypoint file: frame {i} is not an object")
        people = fr.get("people", fr.get("poses"))
        objs = people if isinstance(people, list) else [fr]
        c = []
        for o in objs:
            p = _mp_person(o, aspect) if isinstance(o, dict) else None
            if p is not None:
                c.append(p)
        cands.append(c)
    xy, conf = _stack(cands, person)
    return normalise(xy, conf, _check_fps(fps or 30.0))


def _op_person(p: dict):
    body = _num(p.get("pose_keypoints_2d", []), "pose_keypoints_2d").ravel()
    if body.size < 75 or body.size % 3:
        raise EngineError("keypoint file: OpenPose pose_keypoints_2d must hold 75 numbers (BODY_25)")
    body = body.reshape(-1, 3)
    xy = np.zeros((N_JOINTS, 2))
    conf = np.zeros(N_JOINTS)
    for name, k in _OP_BODY.items():
        xy[J[name]], conf[J[name]] = body[k, :2], body[k, 2]
    for side, s in (("left", "l"), ("right", "r")):
        h = _num(p.get(f"hand_{side}_keypoints_2d") or [], "hand keypoints").ravel()
        if h.size == 63:
            h = h.reshape(21, 3)
            for name, k in _HAND.items():
                xy[J[f"{s}_{name}"]], conf[J[f"{s}_{name}"]] = h[k, :2], h[k, 2]
    return xy, conf


def _openpose(frames: list, fps, person) -> Keypoints:
    cands = []
    for i, fr in enumerate(frames):
        if not isinstance(fr, dict) or not isinstance(fr.get("people", None), list):
            raise EngineError(f"keypoint file: OpenPose frame {i} has no 'people' list")
        cands.append([_op_person(p) for p in fr["people"] if isinstance(p, dict)])
    xy, conf = _stack(cands, person)
    return normalise(xy, conf, _check_fps(fps or 30.0))


def _own(data: dict, fps) -> Keypoints:
    try:
        xy = np.asarray(data["xy"], np.float64)
    except (KeyError, TypeError, ValueError):
        raise EngineError("keypoint file: 'xy' must be a (frames, joints, 2) array") from None
    conf = data.get("conf")
    return _from_array(xy, None if conf is None else np.asarray(conf, np.float64), fps or data.get("fps"),
                       data.get("joints"), bool(data.get("normalised", False)))


def _from_array(xy, conf, fps, joints=None, normalised: bool = False) -> Keypoints:
    if xy.ndim != 3 or xy.shape[2] not in (2, 3):
        raise EngineError(f"keypoint file: array of shape {xy.shape}, expected (frames, joints, 2 or 3)")
    if joints is not None and tuple(joints) != JOINTS:
        raise EngineError("keypoint file: its joint list differs from this engine's")
    if xy.shape[1] != N_JOINTS:
        raise EngineError(f"keypoint file: {xy.shape[1]} joints, expected {N_JOINTS} ({', '.join(JOINTS)})")
    if xy.shape[2] == 3:
        conf = xy[..., 2] if conf is None else conf
        xy = xy[..., :2]
    if conf is None:
        conf = np.ones(xy.shape[:2])
    if conf.shape != xy.shape[:2]:
        raise EngineError("keypoint file: 'conf' must have shape (frames, joints)")
    if normalised:  # written by save_keypoints: already in the engine's frame
        if xy.shape[0] == 0:
            raise EngineError("keypoint file has zero frames")
        if xy.shape[0] > MAX_FRAMES:
            raise EngineError(f"keypoint file has {xy.shape[0]} frames (more than {MAX_FRAMES}); split it")
        if not np.isfinite(xy).all() or np.abs(xy).max() > 100:
            raise EngineError("keypoint file: normalised coordinates are not finite or absurdly large")
        return Keypoints(_check_fps(fps if fps is not None else 30.0), xy.astype(np.float32),
                         np.nan_to_num(conf).clip(0, 1).astype(np.float32))
    return normalise(xy, conf, _check_fps(fps if fps is not None else 30.0))


def load_keypoints(path, fps: float | None = None, person: int | None = None) -> Keypoints:
    """Read any supported keypoint file or OpenPose folder (module doc) -> Keypoints."""
    path = Path(path)
    if not path.exists():
        raise EngineError(f"keypoint file {path} does not exist")
    if path.is_dir():
        files = sorted(path.glob("*_keypoints.json")) or sorted(path.glob("*.json"))
        if not files:
            raise EngineError(f"keypoint folder {path} holds no OpenPose *_keypoints.json files")
        if len(files) > MAX_FRAMES:
            raise EngineError(f"keypoint folder {path} holds {len(files)} frames (more than {MAX_FRAMES})")
        return _openpose([_read_json(f) for f in files], fps, person)
    if path.suffix.lower() == ".npz":
        try:
            with np.load(path, allow_pickle=False) as z:
                d = {k: z[k] for k in z.files}
        except Exception as exc:
            raise EngineError(f"keypoint file {path.name} is not a readable .npz ({exc})") from None
        if "xy" not in d:
            raise EngineError(f"keypoint file {path.name} has no 'xy' array")
        f = fps or (float(d["fps"]) if "fps" in d else None)
        return _from_array(np.asarray(d["xy"], np.float64), d.get("conf"), f, None,
                           bool(d["normalised"]) if "normalised" in d else False)
    data = _read_json(path)
    if isinstance(data, dict) and data.get("format") == "performer-keypoints":
        return _own(data, fps)
    if isinstance(data, dict) and "xy" in data:
        return _own(data, fps)
    frames = data.get("frames") if isinstance(data, dict) else data
    if isinstance(data, dict) and "people" in data:  # a single OpenPose frame
        return _openpose([data], fps, person)
    if not isinstance(frames, list):
        raise EngineError(f"keypoint file {path.name}: unknown layout (expected MediaPipe, OpenPose or "
                          f"performer-keypoints JSON)")
    if not frames:
        raise EngineError(f"keypoint file {path.name} has zero frames")
    first = next((f for f in frames if isinstance(f, dict)), None)
    if first is not None and "people" in first and first["people"] and isinstance(first["people"][0], dict) \
            and "pose_keypoints_2d" in first["people"][0]:
        return _openpose(frames, fps or (data.get("fps") if isinstance(data, dict) else None), person)
    if first is not None and any(k in first for k in ("pose_landmarks", "landmarks", "people", "poses")):
        return _mediapipe(data, fps, person)
    if first is not None and "people" in first:
        return _openpose(frames, fps, person)
    raise EngineError(f"keypoint file {path.name}: unknown layout (expected MediaPipe, OpenPose or "
                      f"performer-keypoints JSON)")


def save_keypoints(path, kp: Keypoints) -> None:
    """Write the engine's own JSON format (or .npz by suffix), atomically (a temporary file
    beside it, then renamed: an interrupted write leaves the old file or none)."""
    import os

    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    if path.suffix.lower() == ".npz":
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, fps=np.float64(kp.fps), xy=kp.xy, conf=kp.conf, normalised=np.int8(1))
    else:
        tmp.write_text(json.dumps({"format": "performer-keypoints", "fps": kp.fps, "joints": list(JOINTS),
                                   "normalised": True, "xy": np.round(kp.xy, 4).tolist(),
                                   "conf": np.round(kp.conf, 3).tolist()}))
    os.replace(tmp, path)


def adjacency() -> np.ndarray:
    """(J, J) symmetric-normalised adjacency with self loops (the graph conv's A)."""
    a = np.eye(N_JOINTS, dtype=np.float32)
    for u, v in BONES:
        a[J[u], J[v]] = a[J[v], J[u]] = 1.0
    d = 1.0 / np.sqrt(a.sum(1))
    return (a * d[:, None] * d[None, :]).astype(np.float32)


def resample(kp: Keypoints, fps: float) -> Keypoints:
    """Linear resampling to another frame rate."""
    if abs(kp.fps - fps) < 1e-6:
        return kp
    n = max(1, int(round(kp.n_frames * fps / kp.fps)))
    src = np.arange(kp.n_frames) / kp.fps
    dst = np.arange(n) / fps
    flat = kp.xy.reshape(kp.n_frames, -1)
    xy = np.stack([np.interp(dst, src, flat[:, i]) for i in range(flat.shape[1])], 1)
    cf = np.stack([np.interp(dst, src, kp.conf[:, i]) for i in range(kp.conf.shape[1])], 1)
    return Keypoints(fps, xy.reshape(n, N_JOINTS, 2).astype(np.float32), cf.astype(np.float32))


@dataclass
class PeopleBoxes:
    """Where each person of a keypoint file is in the picture, frame by frame, in the file's
    order (the order ``load_keypoints(person=i)`` picks from): per frame a list of boxes
    ``(x0, y0, x1, y1)`` or None (no confident joint). ``units``: "px" (OpenPose: video pixels),
    "image" (MediaPipe: fractions of the picture) or "" (the engine's own normalised format,
    which keeps no image positions: one person, no box)."""

    fps: float
    frames: list
    units: str


def _box(xy: np.ndarray, conf: np.ndarray, pad: float = 0.12):
    ok = conf >= MIN_CONF
    if not ok.any():
        return None
    (x0, y0), (x1, y1) = xy[ok].min(0), xy[ok].max(0)
    w, h = max(x1 - x0, 1e-6), max(y1 - y0, 1e-6)
    # the joints lie inside the body: pad the box (more above: the head reaches over the nose)
    return float(x0 - pad * w), float(y0 - 2.5 * pad * h), float(x1 + pad * w), float(y1 + pad * h)


def people_boxes(path, fps: float | None = None) -> PeopleBoxes:
    """Each person's box per frame in the keypoint file ``path`` (:class:`PeopleBoxes`)."""
    path = Path(path)
    if not path.exists():
        raise EngineError(f"keypoint file {path} does not exist")
    if path.is_dir() or path.suffix.lower() != ".npz":
        data = [_read_json(f) for f in sorted(path.glob("*_keypoints.json")) or sorted(path.glob("*.json"))] \
            if path.is_dir() else _read_json(path)
        own = isinstance(data, dict) and (data.get("format") == "performer-keypoints" or "xy" in data)
        if not own:
            frames = data.get("frames", [data] if "people" in data else None) if isinstance(data, dict) else data
            rate = _check_fps(fps or (data.get("fps") if isinstance(data, dict) else None) or 30.0)
            if not isinstance(frames, list) or not frames:
                raise EngineError(f"keypoint file {path.name}: unknown layout or no frames")
            return PeopleBoxes(rate, [_frame_boxes(fr, i) for i, fr in enumerate(frames)], _units(frames))
    kp = load_keypoints(path, fps)
    return PeopleBoxes(kp.fps, [[None] for _ in range(kp.n_frames)], "")


def _units(frames: list) -> str:
    first = next((f for f in frames if isinstance(f, dict) and f.get("people")), None)
    people = first.get("people") if first is not None else None
    return "px" if people and isinstance(people[0], dict) and "pose_keypoints_2d" in people[0] else "image"


def _frame_boxes(fr, i: int) -> list:
    """One frame's boxes (OpenPose ``people``, or MediaPipe's ``people``/``poses``/one pose)."""
    if fr is None:
        return []
    if not isinstance(fr, dict):
        raise EngineError(f"keypoint file: frame {i} is not an object")
    people = fr.get("people", fr.get("poses"))
    objs = people if isinstance(people, list) else [fr]
    out = []
    for o in objs:
        if not isinstance(o, dict):
            continue
        cand = _op_person(o) if "pose_keypoints_2d" in o else _mp_person(o, 1.0)
        if cand is not None:
            out.append(_box(*cand))
    return out
