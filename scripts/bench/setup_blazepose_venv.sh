#!/usr/bin/env bash
# Creates .venv-blazepose/ (git-ignored): mediapipe 0.10.21 for the BlazePose comparison in
# scripts/bench/capture.py, which runs scripts/bench/blazepose_runner.py in it as a subprocess.
# mediapipe pins numpy<2, protobuf<5 and opencv-contrib-python, so it never goes into the project's .venv.
# Only BlazePose "full" (model_complexity=1) works offline: its models ship inside the wheel.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
VENV=${BLAZEPOSE_VENV:-.venv-blazepose}
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q "mediapipe==0.10.21"
"$VENV/bin/python" -c "import mediapipe as mp; mp.solutions.pose.Pose(model_complexity=1).close()"
echo "BlazePose venv ready: $VENV/bin/python scripts/bench/blazepose_runner.py VIDEO"
