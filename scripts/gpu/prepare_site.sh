#!/usr/bin/env bash
# Build the pack that travels with the code to a bare GPU machine (the run tool's carry: [".cache/gpu_site"]):
#   python/smplx      smplx, pure Python, copied from this machine's venv (~300 KB)
#   wheels/           moderngl 5.13.0 and glcontext 3.1.0, cp312 manylinux x86_64 (the device has Python 3.12)
#   debs/             the EGL/GL loaders (libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2, amd64)
#   mocap/            the training clips of training/data/synthetic/clips.json ("train" only: held-out clips
#                     never travel), at their paths under ../shared/data/mocap
#   backgrounds/      the background photos of training/data/synthetic/appearance.py and vtest.avi
# scripts/gpu/train_recipe.sh uses each piece there only where the machine lacks it.
#   scripts/gpu/prepare_site.sh [--site DIR] [--no-download]
# --no-download: only the pieces copied from this machine (python/, mocap/, backgrounds/), no PyPI or Debian.
set -euo pipefail
cd "$(dirname "$0")/../.."
site=.cache/gpu_site
download=1
while [ $# -gt 0 ]; do
  case "$1" in
    --site) site="$2"; shift 2 ;;
    --no-download) download=0; shift ;;
    *) echo "prepare_site.sh: unknown argument $1 (takes --site DIR, --no-download)" >&2; exit 2 ;;
  esac
done
python="${PYTHON:-.venv/bin/python}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

mkdir -p "$site/python"
rm -rf "$site/python/smplx"
cp -r "$("$python" -c 'import smplx, pathlib; print(pathlib.Path(smplx.__file__).parent)')" "$site/python/"
find "$site/python" -name __pycache__ -prune -exec rm -rf {} +

# the data: lists from the modules that read it, so that the pack holds what they would read here
rm -rf "$site/mocap" "$site/backgrounds"
"$python" - "$site" <<'PY'
import shutil, sys, pathlib
from training.data.synthetic.appearance import BACKGROUND_PHOTOS, EMPTY_STREET_VIDEO, backgrounds_folder
from training.data.synthetic.clips import clip_names, mocap_root

site = pathlib.Path(sys.argv[1])
for name in clip_names("train"):
    target = site / "mocap" / name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(mocap_root() / name, target)
(site / "backgrounds").mkdir(parents=True)
for name in (*BACKGROUND_PHOTOS, EMPTY_STREET_VIDEO):
    if (backgrounds_folder() / name).is_file():
        shutil.copyfile(backgrounds_folder() / name, site / "backgrounds" / name)
    else:
        print(f"prepare_site.sh: no background {backgrounds_folder() / name} here (procedural ones stand in)",
              file=sys.stderr)
PY

if [ "$download" = 1 ]; then
  rm -rf "$site/wheels" "$site/debs"
  mkdir -p "$site/wheels" "$site/debs"
  platforms=""
  for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux1_x86_64; do
    platforms="$platforms --platform $p"
  done
  # shellcheck disable=SC2086  # one word per option
  "$python" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp $platforms \
    -d "$site/wheels" moderngl==5.13.0 glcontext==3.1.0
  lists=/tmp/planted_apt_amd64
  mkdir -p "$lists/partial"
  apt_options=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 "-oDir::State::Lists=$lists" -oAPT::Sandbox::User=root)
  apt-get "${apt_options[@]}" update -qq
  (cd "$site/debs" && apt-get "${apt_options[@]}" download -qq libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
fi
du -sh "$site"/*
du -sh "$site"
