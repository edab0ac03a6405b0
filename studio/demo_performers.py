"""Render the performer engines' demo clips (bundled in studio/assets/):

    python -m studio.demo_performers --out studio/assets

* ``piano_demo.mp4``: 12 s, 640x360, 30 fps: a keyboard seen from above (the piano engine's
  renderer: placement, hands, lighting, x264) playing ``demo_piece()`` (a melody over broken
  chords written here); ``studio generate piano_demo.mp4 --piano`` transcribes it.
* ``drummer_demo.mp4`` and ``drummer_demo.mp4.keypoints.json``: 12 s of a drummer's skeleton
  (the movement engine's gesture model playing a rock groove at 100 BPM) drawn as a stick figure
  over a drum kit, with the keypoints beside it in the engine's own format, as a pose estimator
  would have written them; ``studio generate drummer_demo.mp4 --performer drums`` plays it.

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


def drummer_frames(kp, size=(480, 360)):
    """The skeleton of ``kp`` (normalised: neck at 0, shoulder width 1) over a drum kit."""
    import cv2

    from engines.performer.keypoints import BONES, J

    W, H = size
    scale, origin = 70.0, np.array([W / 2, H * 0.22])
    to_px = lambda p: tuple(int(v) for v in np.round(np.asarray(p) * scale + origin))
    kit = [((0.15, 1.45), 30, (150, 150, 160)), ((0.55, 1.25), 26, (200, 180, 90)),
           ((-0.2, 1.15), 22, (150, 150, 160)), ((0.2, 1.15), 22, (150, 150, 160)),
           ((-0.65, 1.5), 28, (150, 150, 160))]
    for t in range(kp.n_frames):
        img = np.full((H, W, 3), 34, np.uint8)
        cv2.circle(img, to_px((0.0, 2.6)), 42, (90, 60, 50), -1, cv2.LINE_AA)  # bass drum
        for centre, r, colour in kit:
            cv2.ellipse(img, to_px(centre), (r, r // 3), 0, 0, 360, colour, -1, cv2.LINE_AA)
        xy = kp.xy[t]
        for a, b in BONES:
            cv2.line(img, to_px(xy[J[a]]), to_px(xy[J[b]]), (235, 225, 210), 3, cv2.LINE_AA)
        cv2.circle(img, to_px(xy[J["nose"]]), 14, (235, 225, 210), 2, cv2.LINE_AA)
        yield img


def main(argv: list[str] | None = None) -> int:
    from engines.performer.gestures import synthesize
    from engines.performer.keypoints import save_keypoints
    from engines.piano.synth_video import write_video

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="studio/assets", type=Path)
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    write_video(args.out / "piano_demo.mp4", demo_piece(), fps=FPS, size=(640, 360), seed=8, crf=26,
                n_frames=int(DURATION_S * FPS))
    kp = synthesize(rock_groove(), "drums", fps=FPS, duration_s=DURATION_S, seed=5, realism=0.5)
    _write(args.out / "drummer_demo.mp4", drummer_frames(kp), (480, 360))
    save_keypoints(args.out / "drummer_demo.mp4.keypoints.json", kp)
    print(f"wrote piano_demo.mp4, drummer_demo.mp4 and its keypoints to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
