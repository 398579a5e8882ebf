#!/usr/bin/env bash
# Creates .venv-blazepose/ (git-ignored): mediapipe 0.10.21 for the BlazePose comparison in
# scripts/bench/capture.py, which runs scripts/bench/blazepose_runner.py in it as a subprocess.
# mediapipe pins numpy<2, protobuf<5 and opencv-contrib-python, so it never goes into the project's .venv.
# BlazePose "full" (model_complexity=1) ships inside the wheel; "heavy" (2) and "lite" (0) would download their
# models, so this copies them from the npm tarball @mediapipe/pose@0.5.1675469404 into the wheel's modules folder.
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
MODULES=$("$VENV/bin/python" -c "import mediapipe, os; print(os.path.join(os.path.dirname(mediapipe.__file__), 'modules', 'pose_landmark'))")
NPM=.cache/npm/mediapipe-pose
if [ ! -d "$NPM/package" ]; then
  mkdir -p "$NPM" && (cd "$NPM" && npm pack --silent @mediapipe/pose@0.5.1675469404 >/dev/null && tar xzf ./*.tgz)
fi
cp "$NPM/package/pose_landmark_heavy.tflite" "$NPM/package/pose_landmark_lite.tflite" "$MODULES/"
for c in 0 1 2; do
  "$VENV/bin/python" -c "import mediapipe as mp; mp.solutions.pose.Pose(model_complexity=$c).close()"
done
echo "BlazePose venv ready: $VENV/bin/python scripts/bench/blazepose_runner.py VIDEO"
