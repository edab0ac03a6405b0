"""MediaPipe Pose over a video -> a MediaPipe keypoint JSON file. Runs in the pose environment
(.venv-pose: MediaPipe 0.10.21 + NumPy 1), never inside the studio's own process, so it imports
nothing from the studio:

    .venv-pose/bin/python studio/pose_worker.py VIDEO OUT.json

Writes ``{"fps", "image_width", "image_height", "estimator", "frames": [...]}``, one entry per
decoded frame: ``{"pose_landmarks": [33 x {x, y, z, visibility}]}`` (normalised image
coordinates) or ``null`` where nobody is found, the layout engines/performer/keypoints.py reads.
Progress goes to stdout as ``progress DONE TOTAL`` lines; errors to stderr, exit status 2.
The file is written to OUT.tmp and renamed, so a killed run leaves no partial file.
"""
from __future__ import annotations

import json
import os
import sys


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: pose_worker.py VIDEO OUT.json", file=sys.stderr)
        return 2
    video, out = argv
    os.environ.setdefault("GLOG_minloglevel", "2")  # MediaPipe's C++ logging
    import cv2
    import mediapipe as mp

    cap = cv2.VideoCapture(video)
    if not cap.isOpened():
        print(f"cannot open {video}", file=sys.stderr)
        return 2
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    frames, width, height, seen = [], 0, 0, 0
    with mp.solutions.pose.Pose(static_image_mode=False, model_complexity=1, smooth_landmarks=True) as pose:
        while True:
            ok, bgr = cap.read()
            if not ok:
                break
            height, width = bgr.shape[:2]
            result = pose.process(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            lms = result.pose_landmarks
            if lms is None:
                frames.append(None)
            else:
                seen += 1
                frames.append({"pose_landmarks": [{"x": round(p.x, 5), "y": round(p.y, 5), "z": round(p.z, 5),
                                                   "visibility": round(p.visibility, 4)} for p in lms.landmark]})
            if len(frames) % 30 == 0:
                print(f"progress {len(frames)} {total}", flush=True)
    if not frames:
        print(f"no frames could be decoded from {video}", file=sys.stderr)
        return 2
    if seen == 0:
        print(f"MediaPipe Pose found nobody in the {len(frames)} frames of {video}", file=sys.stderr)
        return 2
    tmp = out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump({"fps": fps, "image_width": width, "image_height": height,
                   "estimator": f"MediaPipe Pose {mp.__version__} (model_complexity 1)", "frames": frames}, fh)
    os.replace(tmp, out)
    print(f"progress {len(frames)} {len(frames)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
