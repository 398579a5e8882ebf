#!/usr/bin/env bash
# One set-up command: creates .venv and installs everything a developer or CI needs.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
# torch first and pinned: the CPU wheel; anything later that wants torch then finds it satisfied.
.venv/bin/python -m pip install -q "torch==2.13.0"
.venv/bin/python -m pip install -q -e ".[training,blender,dev]"
# `pip check` flags bpy's wheel tag on these machines although it runs: check by importing instead.
.venv/bin/python -c "import numpy, scipy, cv2, onnxruntime, onnx, torch, smplx, bpy, pytest"
.venv/bin/python scripts/make_placeholder_model.py  # untrained model for `planted capture` until one ships
echo "set-up done: activate with 'source .venv/bin/activate'"
