#!/usr/bin/env bash
# The GPU training recipe (scripts/gpu/train_recipe.py has the flags). Run from the repository root:
#   scripts/gpu/train_recipe.sh --out "$OUT/run" --minutes 9.5
# smplx is pure Python and may be missing on the GPU machine: scripts/gpu/prepare_site.sh copies it into
# .cache/gpu_site beforehand (carry that folder), and this wrapper puts it on PYTHONPATH.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PYTHONPATH="$PWD:$PWD/.cache/gpu_site${PYTHONPATH:+:$PYTHONPATH}"
exec "${PYTHON:-python3}" scripts/gpu/train_recipe.py "$@"
