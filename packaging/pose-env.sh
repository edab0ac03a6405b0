#!/usr/bin/env bash
# Make the pose estimator's environment: packaging/pose-env.sh [VENV] (default .venv-pose).
# MediaPipe Pose runs there as a separate process (studio/pose_worker.py); see pose-requirements.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${1:-.venv-pose}"
test -x "$VENV/bin/python" || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --upgrade pip
"$VENV/bin/pip" install -q -r packaging/pose-requirements.txt
"$VENV/bin/pip" install -q --no-deps "mediapipe==0.10.21"
"$VENV/bin/python" -c "import mediapipe.python.solutions.pose" # the bundled model loads
