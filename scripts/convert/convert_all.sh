#!/usr/bin/env bash
# Re-run every conversion (after scripts/convert/setup_venv.sh). The detector's source is the mediapipe wheel:
# it is converted only when .venv-blazepose (scripts/bench/setup_blazepose_venv.sh) has it.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=.venv-convert/bin/python
"$PY" scripts/convert/blazepose_landmarks.py
"$PY" scripts/convert/movenet.py
DETECTOR=$(ls .venv-blazepose/lib/python3*/site-packages/mediapipe/modules/pose_detection/pose_detection.tflite 2>/dev/null || true)
if [ -n "$DETECTOR" ]; then
  "$PY" scripts/convert/blazepose_detector.py --tflite "$DETECTOR"
fi
