"""Render the performer engines' demo clips (bundled in studio/assets/):

    python -m studio.demo_performers --out studio/assets

* ``piano_demo.mp4``: 12 s, 640x360, 30 fps: a keyboard seen from above (the piano engine's
  renderer: placement, hands, lighting, x264) playing ``demo_piece()`` (a melody over broken
  chords written here); ``studio generate piano_demo.mp4 --piano`` transcribes it.
* ``drummer_demo.mp4``: 12 s, 480x480, of a drummer (the movement engine's gesture model playing
  a rock groove at 100 BPM) drawn as a flat-shaded person that MediaPipe Pose tracks, and
  ``drummer_demo.mp4.keypoints.json``: the exact keypoints beside it in the engine's own format;
  ``studio generate drummer_demo.mp4 --performer drums`` plays from the file beside it, ``studio
  pose drummer_demo.mp4`` estimates them from the picture.

Seeded, so the output is reproducible.
"""
from __future__ import annotations

import argparse
from fractions import Fraction
from pathlib import Path

import numpy as np

DURATION_S = 12.0
FPS = 30


def demo_piece(seed: int = 3, duration_s: float = DURATION_S) -> list[tuple[float, float, int, int]]:
    """(start_s, dur_s, pitch, velocity): a C-major melody over broken chords at 100 BPM."""
    rng = np.random.default_rng(seed)
    beat = 0.6
    chords = ([48, 52, 55], [45, 48, 52], [41, 45, 48], [43, 47, 50])
    scale = [60, 62, 64, 65, 67, 69, 71, 72, 74, 76]
    notes, t, k, deg = [], 0.2, 0, 4
    while t < duration_s - 1.0:
        chord = chords[(k // 4) % 4]
        # every key rises for at least 2 frames before it is struck again: a key re-struck
        # within one frame of its release cannot be seen (engines/piano/README.md)
        notes.append((t, beat * 0.8, chord[k % 3], int(rng.integers(50, 90))))
        deg = int(np.clip(deg + rng.integers(-2, 3), 0, len(scale) - 1))
        notes.append((t, beat * (0.38 if k % 2 else 0.8), scale[deg], int(rng.integers(60, 110))))
        if k % 2:
            notes.append((t + beat / 2, beat * 0.38, scale[max(0, deg - 1)], int(rng.integers(60, 110))))
        t += beat
        k += 1
    return notes


def rock_groove(bpm: float = 100.0, duration_s: float = DURATION_S) -> list[tuple[float, float, int, int]]:
    """Kick on 1 and 3, snare on 2 and 4, closed hi-hat on the eighths, a crash on bar starts."""
    beat = 60.0 / bpm
    notes, k = [], 0
    t = 0.5
    while t < duration_s - 0.5:
        notes.append((t, 0.1, 42, 70 if k % 2 else 90))
        if k % 2 == 0:
            notes.append((t, 0.1, 36 if (k // 2) % 2 == 0 else 38, 105))
        t += beat / 2
        k += 1
    return notes


def _write(path: Path, frames, size) -> None:
    import av

    with av.open(str(path), "w", options={"movflags": "+faststart"}) as c:
        s = c.add_stream("libx264", rate=Fraction(FPS))
        s.width, s.height, s.pix_fmt = size[0], size[1], "yuv420p"
        s.options = {"crf": "26", "preset": "veryslow"}
        for img in frames:
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)


def draw_player(xy, size=(480, 480), scale: float = 90.0, origin=(240, 110)) -> np.ndarray:
    """A flat-shaded person (skin, shirt, trousers, a face) posed by normalised keypoints ``xy``
    (J, 2): plain enough to render anywhere, human enough for MediaPipe Pose to track."""
    import cv2

    from engines.performer.keypoints import J

    W, H = size
    img = np.full((H, W, 3), (210, 205, 200), np.uint8)
    P = lambda n: tuple(int(v) for v in np.round(np.asarray(xy[J[n]]) * scale + np.asarray(origin)))
    skin, shirt, sleeve, trousers = (235, 200, 170), (160, 90, 60), (120, 70, 50), (40, 50, 60)  # RGB
    w = int(0.32 * scale)
    torso = np.array([P("r_shoulder"), P("l_shoulder"), P("l_hip"), P("r_hip")])
    cv2.fillConvexPoly(img, torso, shirt, cv2.LINE_AA)
    for a, b, colour, width in (("r_hip", "r_knee", trousers, w), ("r_knee", "r_ankle", trousers, int(w * 0.8)),
                                ("l_hip", "l_knee", trousers, w), ("l_knee", "l_ankle", trousers, int(w * 0.8)),
                                ("r_shoulder", "r_elbow", sleeve, int(w * 0.75)),
                                ("l_shoulder", "l_elbow", sleeve, int(w * 0.75)),
                                ("r_elbow", "r_wrist", skin, int(w * 0.55)), ("l_elbow", "l_wrist", skin, int(w * 0.55))):
        # outlined, so an arm in front of the body stays visible (as light and shade do on film)
        cv2.line(img, P(a), P(b), (25, 20, 20), width + 4, cv2.LINE_AA)
        cv2.line(img, P(a), P(b), colour, width, cv2.LINE_AA)
    for hand in ("r_wrist", "l_wrist"):
        cv2.circle(img, P(hand), int(0.13 * scale) + 2, (25, 20, 20), -1, cv2.LINE_AA)
        cv2.circle(img, P(hand), int(0.13 * scale), skin, -1, cv2.LINE_AA)
    nose = P("nose")
    cv2.line(img, P("neck"), nose, skin, int(0.25 * scale), cv2.LINE_AA)
    cv2.ellipse(img, nose, (int(0.3 * scale), int(0.38 * scale)), 0, 0, 360, skin, -1, cv2.LINE_AA)
    cv2.ellipse(img, (nose[0], nose[1] - int(0.2 * scale)), (int(0.31 * scale), int(0.22 * scale)), 0, 180, 360,
                (60, 40, 40), -1, cv2.LINE_AA)  # hair
    for dx in (-0.11, 0.11):
        cv2.circle(img, (nose[0] + int(dx * scale), nose[1] - int(0.02 * scale)), 4, (30, 30, 40), -1, cv2.LINE_AA)
    cv2.ellipse(img, (nose[0], nose[1] + int(0.17 * scale)), (int(0.09 * scale), 3), 0, 0, 360, (160, 80, 80), -1,
                cv2.LINE_AA)
    return img


def main(argv: list[str] | None = None) -> int:
    from engines.performer.gestures import synthesize
    from engines.performer.keypoints import save_keypoints
    from engines.piano.train.synth_video import write_video

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="studio/assets", type=Path)
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    write_video(args.out / "piano_demo.mp4", demo_piece(), fps=FPS, size=(640, 360), seed=8, crf=26,
                n_frames=int(DURATION_S * FPS))
    kp = synthesize(rock_groove(), "drums", fps=FPS, duration_s=DURATION_S, seed=5, realism=0.5)
    _write(args.out / "drummer_demo.mp4", (draw_player(kp.xy[t]) for t in range(kp.n_frames)), (480, 480))
    save_keypoints(args.out / "drummer_demo.mp4.keypoints.json", kp)
    print(f"wrote piano_demo.mp4, drummer_demo.mp4 and its keypoints to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
