#!/usr/bin/env bash
# Make the working tree small enough to travel to the device machine (64 MiB a call, tracked + untracked-not-
# ignored files + carried paths), and put it back afterwards:
#   scripts/gpu/slim_tree.sh stash     # before the device call: move the assets below out of the tree
#   scripts/gpu/slim_tree.sh restore   # after it, always: move them back (safe to repeat; never overwrites)
#   scripts/gpu/slim_tree.sh size      # what would travel now, with the carried pack
# The GPU recipe needs engine/, training/, the body model, BlazePose full's ONNX (the trunk) and .cache/gpu_site;
# STASHED lists the files it does not need (~73 MB). They go to $PLANTED_SLIM_STASH (default
# /tmp/planted_slim_stash/<checkout name>-<path hash>), outside the repository; `git checkout -- engine/assets`
# also brings them back, after which restore just drops the stashed copies that match.
# Exit status: 0; 1 when restore finds a file in the tree that differs from its stashed copy (both are kept).
set -euo pipefail
cd "$(dirname "$0")/../.."
root="$PWD"
STASHED=(
  engine/assets/blazepose_landmark_heavy.onnx engine/assets/blazepose_landmark_lite.onnx
  engine/assets/movenet_thunder.onnx engine/assets/movenet_lightning.onnx
  engine/assets/person_detector.onnx engine/assets/planted_default.onnx
  assets/demo/pose_squats.mp4
)
CARRIED=(.cache/gpu_site)
LIMIT_MIB=64
stash="${PLANTED_SLIM_STASH:-/tmp/planted_slim_stash/$(basename "$root")-$(printf %s "$root" | sha1sum | cut -c1-8)}"

travelling_bytes() {
  # tracked and untracked-not-ignored files as they are in the tree now (links as links), plus the carried paths
  local files carried=0
  # (stashed files are still listed by git: stat skips them)
  files=$(git ls-files -z --cached --others --exclude-standard | { xargs -0 -r stat -c %s 2>/dev/null || true; } |
          awk '{s += $1} END {print s + 0}')
  for path in "${CARRIED[@]}"; do
    if [ -e "$path" ]; then carried=$((carried + $(du -sb "$path" | cut -f1))); fi
  done
  echo $((files + carried))
}

report_size() {
  local bytes
  bytes=$(travelling_bytes)
  awk -v b="$bytes" -v limit="$LIMIT_MIB" 'BEGIN {
    printf "slim_tree: %.1f MiB would travel (with %s; limit %d MiB)%s\n", b / 1048576, "'"${CARRIED[*]}"'",
           limit, (b > limit * 1048576 ? ": TOO LARGE" : "") }'
}

do_stash() {
  local path
  for path in "${STASHED[@]}"; do
    [ -e "$path" ] || continue  # stashed already, or not in this checkout
    mkdir -p "$stash/$(dirname "$path")"
    if [ -e "$stash/$path" ]; then
      if cmp -s "$path" "$stash/$path"; then rm "$path"; continue; fi
      echo "slim_tree: $stash/$path exists and differs from $path: run restore first" >&2
      exit 1
    fi
    mv "$path" "$stash/$path"
  done
  echo "slim_tree: stashed in $stash"
}

do_restore() {
  local path status=0
  for path in "${STASHED[@]}"; do
    [ -e "$stash/$path" ] || continue
    if [ ! -e "$path" ]; then
      mkdir -p "$(dirname "$path")"
      mv "$stash/$path" "$path"
    elif cmp -s "$path" "$stash/$path"; then
      rm "$stash/$path"  # git checkout brought it back already
    else
      echo "slim_tree: $path differs from its stashed copy $stash/$path: kept both, compare by hand" >&2
      status=1
    fi
  done
  echo "slim_tree: restored from $stash"
  return $status
}

case "${1:-}" in
  stash) do_stash; report_size ;;
  restore) status=0; do_restore || status=$?; report_size; exit $status ;;
  size) report_size ;;
  *) echo "usage: scripts/gpu/slim_tree.sh stash|restore|size" >&2; exit 2 ;;
esac
