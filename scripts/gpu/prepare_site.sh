#!/usr/bin/env bash
# Copy the pure-Python packages training needs and a GPU machine lacks (smplx, ~300 KB) into .cache/gpu_site,
# from this machine's venv, so that they travel with the code (the run tool's carry: [".cache/gpu_site"]).
set -euo pipefail
cd "$(dirname "$0")/../.."
site="$(.venv/bin/python -c 'import smplx, pathlib; print(pathlib.Path(smplx.__file__).parent.parent)')"
mkdir -p .cache/gpu_site
rm -rf .cache/gpu_site/smplx
cp -r "$site/smplx" .cache/gpu_site/
find .cache/gpu_site -name __pycache__ -prune -exec rm -rf {} +
du -sh .cache/gpu_site
