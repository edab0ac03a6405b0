"""Screenshots of the keypoint features for docs/screenshots (run under a display, e.g.
``xvfb-run -s "-screen 0 1366x768x24" python -m ui.screenshots_keypoints docs/screenshots``):

* ``separate-track.png``: two drawn players whose audio is a held-out two-player mixture of the
  separation engine (engines/separate), person 1 picked in the preview and Edit › Separate Player
  run: "Person 1 (separated)" and "Without person 1" on the timeline, the original audio muted;
* ``motion-sections.png``: a drawn player who waves, walks, claps, then waves again (the motion
  engine's synthetic actions, keypoints beside the video), the Motion sections lane, and a
  soundtrack generated with "Follow motion sections" (its sections start at the lane's boundaries).

The clips are made here, in a temporary folder (seeded: the same pictures each time). ``--only
NAME`` makes one of them.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from ui.screenshots import Shots, open_window, settle  # the same window set-up as the other shots

TESTS = Path(__file__).resolve().parents[1] / "tests"  # videogen: the fixtures' video writer (audio muxed)
_OP = {"nose": 0, "neck": 1, "r_shoulder": 2, "r_elbow": 3, "r_wrist": 4, "l_shoulder": 5, "l_elbow": 6,
       "l_wrist": 7, "r_hip": 9, "r_knee": 10, "r_ankle": 11, "l_hip": 12, "l_knee": 13, "l_ankle": 14}


def duet_clip(folder: Path) -> Path:
    """4 s, 640x360: two players side by side (studio.demo_performers.draw_player) posed by the
    keypoints of a held-out separation mixture, its audio, and their OpenPose file beside it."""
    from scipy.signal import resample_poly

    from engines.performer.keypoints import J, resample
    from engines.separate import data as D
    from studio.demo_performers import draw_player
    from videogen import write_video

    srcs, _ = D.mixtures(1, 2)[0]
    people = [resample(s.kp, 30.0) for s in srcs]
    n = min(kp.n_frames for kp in people)
    scale, origin = 52.0, (160, 100)  # the heads inside the picture, the feet too
    frames = []
    for i in range(n):
        ps = []
        for k, kp in enumerate(people):
            body = np.zeros((25, 3))
            for name, j in _OP.items():
                body[j] = (*(kp.xy[i, J[name]] * scale + (origin[0] + 320 * k, origin[1])), 0.9)
            ps.append({"pose_keypoints_2d": body.ravel().tolist()})
        frames.append({"people": ps})
    video = folder / "duet.mp4"
    (folder / "duet.mp4.keypoints.json").write_text(json.dumps({"fps": 30.0, "frames": frames}))
    x = sum(resample_poly(s.audio, 640, 147).astype(np.float32) for s in srcs)  # 11025 -> 48000 Hz

    def draw(t: float) -> np.ndarray:
        i = min(n - 1, int(t * 30.0))
        return np.hstack([draw_player(kp.xy[i], (320, 360), scale, origin) for kp in people])

    return write_video(video, draw, duration_s=n / 30.0, fps=30, size=(640, 360), audio=np.stack([x, x]),
                       sample_rate=48000)


def dancer_clip(folder: Path) -> Path:
    """24 s, 360x360: a player who waves, walks, claps and waves again (engines/motion/synth.py),
    the exact keypoints beside the video."""
    from engines.motion import synth as S
    from engines.performer.keypoints import save_keypoints
    from studio.demo_performers import draw_player
    from videogen import write_video

    kp, _, _ = S.synthesize([("wave", 6.0), ("walk", 6.0), ("clap", 6.0), ("wave", 6.0)], 30.0, seed=11)
    video = folder / "dancer.mp4"
    save_keypoints(folder / "dancer.mp4.keypoints.json", kp)
    return write_video(video, lambda t: draw_player(kp.xy[min(kp.n_frames - 1, int(t * 30.0))], (360, 360), 55.0,
                                                    (180, 80)), duration_s=kp.n_frames / 30.0, fps=30, size=(360, 360))


def _separate_shot(app, w, shots: Shots, folder: Path) -> None:
    w.controller.open_video(duet_clip(folder))
    settle(app, 60, lambda: w.doc.analysis is not None and not w.controller.busy and w.preview.people is not None)
    w.preview.choose_person(1)
    w.act_separate.trigger()
    settle(app, 60, lambda: len(w.doc.project.tracks) == 3 and not w.controller.busy)
    w.doc.select(w.doc.project.tracks[1].id)
    w.inspector_dock.raise_()
    w.timeline.canvas.fit()  # the whole 4 s clip
    w.playback.seek(1.3)
    settle(app, 2.0)
    shots.take("separate-track.png")


def _motion_shot(app, w, shots: Shots, folder: Path) -> None:
    w.doc.undo_stack.setClean()
    w.controller.open_video(dancer_clip(folder))
    settle(app, 60, lambda: w.doc.analysis is not None and not w.controller.busy
            and w.timeline.canvas.motion is not None)
    w.show_generate()
    panel = w.generate_panel
    for name, cb in panel.checks.items():
        cb.setChecked(name == "soundtrack")
    panel.motion_sections.setChecked(True)
    panel.generate_button.click()
    settle(app, 180, lambda: len(w.doc.project.tracks) > 1 and not w.controller.busy)
    w.playback.seek(12.5)
    settle(app, 2.0)
    shots.take("motion-sections.png")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("--only", action="append", default=[], metavar="NAME")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(TESTS))
    app, w = open_window(False)
    w.resize(1366, 740)
    args.out.mkdir(parents=True, exist_ok=True)
    shots = Shots(w, args.out, args.only)
    with tempfile.TemporaryDirectory(prefix="studio-shots-clips-") as tmp:
        if shots.wanted("separate-track.png"):
            _separate_shot(app, w, shots, Path(tmp))
        if shots.wanted("motion-sections.png"):
            _motion_shot(app, w, shots, Path(tmp))
    w.doc.undo_stack.setClean()
    w.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
