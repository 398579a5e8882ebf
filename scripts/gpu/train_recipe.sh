#!/usr/bin/env bash
# The GPU training recipe (scripts/gpu/train_recipe.py has the flags and the device call). Run from anywhere:
#   bash scripts/gpu/train_recipe.sh --out "$OUT/recipe" --minutes 9       # on the device machine
#   scripts/gpu/train_recipe.sh --out DIR --run-dir RUN --smoke             # on a CPU
# Sets up what a bare GPU machine lacks from .cache/gpu_site (scripts/gpu/prepare_site.sh builds it here; the
# device call carries it), each step only where it is missing, so that on a machine that has it all (this
# one's venv) nothing is installed or shadowed:
#   1. the EGL/GL loaders (debs/*.deb, dpkg -x to /) when the dynamic linker knows no libEGL.so.1 (root only);
#   2. moderngl + glcontext (wheels/, cp312) into /tmp/planted_gpu_site when moderngl is not importable;
#   3. smplx (python/) on PYTHONPATH, the training clips (mocap/) and background photos (backgrounds/) as
#      PLANTED_MOCAP_ROOT and PLANTED_BACKGROUNDS, unless already set;
#   4. __EGL_VENDOR_LIBRARY_FILENAMES = the NVIDIA driver's vendor file when EGL opens no context without it.
# PLANTED_RECIPE_STARTED (epoch seconds) lets --minutes count this setup too.
set -euo pipefail
export PLANTED_RECIPE_STARTED="${PLANTED_RECIPE_STARTED:-$(date +%s.%N)}"
cd "$(dirname "$0")/../.."
site="$PWD/.cache/gpu_site"
python="${PYTHON:-python3}"
export PYTHONPATH="$PWD:$site/python${PYTHONPATH:+:$PYTHONPATH}"

if ! ldconfig -p 2>/dev/null | grep 'libEGL\.so\.1' >/dev/null; then  # no -q: an early exit would fail the pipe
  if compgen -G "$site/debs/*.deb" >/dev/null && [ "$(id -u)" = 0 ]; then
    for deb in "$site"/debs/*.deb; do dpkg -x "$deb" /; done
    ldconfig
  else
    echo "train_recipe.sh: no libEGL.so.1 here and no loader debs to unpack (as root) from $site/debs" >&2
  fi
fi

if ! "$python" -c 'import moderngl' 2>/dev/null; then
  if compgen -G "$site/wheels/*.whl" >/dev/null; then
    "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
      --target /tmp/planted_gpu_site "$site"/wheels/*.whl
    export PYTHONPATH="$PYTHONPATH:/tmp/planted_gpu_site"  # last: it holds moderngl and glcontext alone
  fi
fi

if [ -d "$site/mocap" ]; then export PLANTED_MOCAP_ROOT="${PLANTED_MOCAP_ROOT:-$site/mocap}"; fi
if [ -d "$site/backgrounds" ]; then export PLANTED_BACKGROUNDS="${PLANTED_BACKGROUNDS:-$site/backgrounds}"; fi

nvidia_egl=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
if [ -z "${__EGL_VENDOR_LIBRARY_FILENAMES:-}" ] && [ -f "$nvidia_egl" ] && \
   ! "$python" -c 'import moderngl; moderngl.create_standalone_context(backend="egl").release()' 2>/dev/null; then
  export __EGL_VENDOR_LIBRARY_FILENAMES="$nvidia_egl"
fi

exec "$python" scripts/gpu/train_recipe.py "$@"
