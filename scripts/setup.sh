#!/usr/bin/env bash
# One set-up command: creates .venv and installs everything a developer or CI needs.
#
#   bash scripts/setup.sh                  # .venv: engine, training, bpy 5.0.1, dev tools
#   bash scripts/setup.sh --blender 4.2    # only .venv-blender-4.2: bpy 4.2 LTS, the engine (editable), pytest
#
# --blender VERSION takes 4.2, 4.5 or 5.0 (the newest bpy of that series we test) or an exact bpy version
# (e.g. 4.5.3). Each bpy wheel is about 370 MB; run the Blender tests in it with
#   .venv-blender-4.2/bin/python -m pytest -q tests/test_blender_*.py
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3

# The bpy release of each Blender series the add-on is tested on (PyPI, CPython 3.11 wheels).
bpy_for_series() {
  case "$1" in
    4.2) echo 4.2.23 ;;
    4.5) echo 4.5.15 ;;
    5.0) echo 5.0.1 ;;
    [0-9]*.[0-9]*.[0-9]*) echo "$1" ;;
    *) echo "setup.sh: --blender takes 4.2, 4.5, 5.0 or an exact bpy version such as 4.5.3, not '$1'" >&2
       return 2 ;;
  esac
}

setup_blender_venv() {
  local series=$1 version venv
  version=$(bpy_for_series "$series")
  venv=.venv-blender-$series
  if [ ! -x "$venv/bin/python" ]; then
    "$PY" -m venv "$venv"
  fi
  # setuptools new enough to build wheels itself (scripts/build_extension.py builds the engine wheel).
  "$venv/bin/python" -m pip install -q --upgrade pip "setuptools>=77"
  # The engine (editable, so tests see this checkout) and the test tools; no torch: the Blender tests
  # need only the placeholder model that the main set-up exports into .cache/models.
  "$venv/bin/python" -m pip install -q -e ".[dev]" "bpy==$version"
  "$venv/bin/python" -c "import bpy, numpy, scipy, cv2, onnxruntime, pytest; print('bpy', bpy.app.version_string)"
  if [ ! -f .cache/models/placeholder-tiny.onnx ]; then
    echo "note: no .cache/models/placeholder-tiny.onnx yet; run 'bash scripts/setup.sh' once to export it" >&2
  fi
  echo "set-up done: Blender tests under bpy $version with '$venv/bin/python -m pytest -q tests/test_blender_*.py'"
}

BLENDER=()
while [ $# -gt 0 ]; do
  case "$1" in
    --blender) [ $# -ge 2 ] || { echo "setup.sh: --blender needs a version, e.g. --blender 4.2" >&2; exit 2; }
               BLENDER+=("$2"); shift 2 ;;
    --blender=*) BLENDER+=("${1#--blender=}"); shift ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done

if [ ${#BLENDER[@]} -gt 0 ]; then
  for series in "${BLENDER[@]}"; do
    bpy_for_series "$series" >/dev/null || exit 2
  done
  for series in "${BLENDER[@]}"; do
    setup_blender_venv "$series"
  done
  exit 0
fi

# Synthetic training images render through headless EGL (Mesa's llvmpipe on a CPU): install it where missing.
if ! ldconfig -p 2>/dev/null | grep -q libEGL_mesa; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get install -y -q libegl1 libegl-mesa0 libgl1-mesa-dri >/dev/null \
      || echo "note: could not install Mesa's EGL; the synthetic-rendering tests will be skipped" >&2
  else
    echo "note: no Mesa EGL (apt-get install libegl1 libegl-mesa0 libgl1-mesa-dri); synthetic rendering is off" >&2
  fi
fi
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
