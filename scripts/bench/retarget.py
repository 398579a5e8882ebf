"""Benchmark: retarget + foot locking of a 10,000-frame motion, FS before/after on the real clips, and every
BVH file of ../shared/data/mocap onto the built-in rigs (directions, floor, foot sliding; PNG sheets).

    .venv/bin/python scripts/bench/retarget.py [--frames 10000] [--repeats 5] [--json] [--sheets DIR]

Per file (tests/retarget_checks.py, each onto every built-in rig, the worst rig shown): the largest
bone-direction error (degrees, any frame, any bone group), the largest height of a planted foot above
the floor where the source's is on it (cm), foot sliding over the source's planted frames before and
after locking (mm, the mean over the rigs), the frames the source plants, and the reference pose.
--sheets DIR writes a stick-figure PNG per file (source and target side by side, onto mixamo).

The long motion is the CMU walk 131_01 on the SMPL skeleton (free body model), played back and forth
to 10,000 frames, retargeted onto a Mixamo-like rig with 15 % longer legs and foot-locked (contacts
from the heels' and toes' height and speed). Pin it to one core for the target figure:
`OMP_NUM_THREADS=1 taskset -c 0 ...`. FS per clip: the clean capture's contacts, as in the tests; with the
largest boundary jerk (m/s^3, metrics.boundary_jerk) and the deepest foot point below the ground (mm).
"""

from __future__ import annotations

import argparse
import json
import pathlib
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))

from engine.motion.bvh import read_bvh  # noqa: E402
from engine.motion.motion import Motion  # noqa: E402
from engine.retarget.contacts import foot_speeds, ground_levels  # noqa: E402
from engine.retarget.footlock import lock_feet  # noqa: E402
from engine.retarget.metrics import boundary_jerk, foot_sliding_mm, penetration_mm  # noqa: E402
from engine.retarget.retarget import retarget  # noqa: E402
from engine.retarget.rigs import builtin_rig, builtin_rig_names  # noqa: E402
from engine.retarget.transfer import retarget_and_lock  # noqa: E402
from tests.retarget_checks import BVH_FILES, check  # noqa: E402
from tests.test_retarget_fixtures import (  # noqa: E402
    CLIPS,
    foot_points,
    mixamo_like,
    smpl_clip,
    true_contact_probability,
    true_contacts,
)


def long_motion(frames: int) -> Motion:
    base = smpl_clip("131_01.bvh")
    order = np.concatenate([np.arange(base.num_frames), np.arange(base.num_frames)[::-1]])
    idx = np.resize(order, frames)
    return Motion(base.skeleton, base.rotations[idx], base.root_translation[idx], base.fps)


def file_table(sheets: pathlib.Path | None) -> dict:
    """Per BVH file: the worst direction error, floor distance, and FS before/after over the built-in rigs."""
    rows = {}
    rigs = builtin_rig_names()
    targets = {rig: builtin_rig(rig) for rig in rigs}
    for path in BVH_FILES:
        source = read_bvh(path)
        checks = {}
        for rig in rigs:
            result = retarget_and_lock(source, targets[rig])
            checks[rig] = check(source, result)
            if sheets is not None and rig == "mixamo":
                from scripts.bench.stick_sheet import sheet

                sheet(source, result, sheets / f"{path.stem}.png", title=f"{path.name} -> mixamo")
        worst_rig, worst_deg = max(((rig, max(v for v in c.direction_deg.values() if v == v))
                                    for rig, c in checks.items()), key=lambda x: x[1])
        rows[path.name] = {
            "direction_deg": round(worst_deg, 2), "direction_rig": worst_rig,
            "worst_bone": max(checks[worst_rig].direction_deg.items(),
                              key=lambda kv: kv[1] if kv[1] == kv[1] else -1.0)[0],
            "floor_cm": round(max(c.floor_cm for c in checks.values()), 2),
            "fs_before_mm": round(statistics.mean(c.fs_before_mm for c in checks.values()), 2),
            "fs_after_mm": round(statistics.mean(c.fs_after_mm for c in checks.values()), 3),
            "fs_after_worst_mm": round(max(c.fs_after_mm for c in checks.values()), 3),
            "root_path_pct": round(max(c.root_path_pct for c in checks.values()), 3),
            "planted_frames": checks[rigs[0]].planted_frames, "frames": source.num_frames,
        }
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--sheets", type=pathlib.Path, help="folder for a stick-figure PNG per file")
    parser.add_argument("--no-files", action="store_true", help="only the speed and the SMPL clips' tables")
    args = parser.parse_args()

    target = mixamo_like()
    motion = long_motion(args.frames)
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        lock_feet(retarget(motion, target))
        times.append(time.perf_counter() - start)
    seconds = statistics.median(times)

    clips = {}
    for name in CLIPS:
        moved = retarget(smpl_clip(name), target)
        locked, _ = lock_feet(moved, contacts=true_contact_probability(name))
        contact = true_contacts(name)
        before, after = foot_points(moved), foot_points(locked)
        ground = ground_levels(*foot_speeds(before, moved.fps))
        clips[name] = {"fs_before_mm": round(foot_sliding_mm(before, contact, moved.fps), 3),
                       "fs_after_mm": round(foot_sliding_mm(after, contact, moved.fps), 3),
                       "boundary_jerk_before": round(boundary_jerk(before, contact, moved.fps), 1),
                       "boundary_jerk_after": round(boundary_jerk(after, contact, moved.fps), 1),
                       "penetration_before_mm": round(penetration_mm(before[..., 1], ground), 2),
                       "penetration_after_mm": round(penetration_mm(after[..., 1], ground), 2)}

    files = {} if args.no_files else file_table(args.sheets)
    result = {"frames": args.frames, "median_seconds": round(seconds, 4),
              "frames_per_s": round(args.frames / seconds, 1), "clips": clips, "files": files}
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"retarget + foot lock, {args.frames} frames, median of {args.repeats}: "
          f"{seconds * 1000:.0f} ms = {result['frames_per_s']:,.0f} frames/s (target > 20,000)")
    print(f"{'clip':<22}{'FS before (mm)':>16}{'FS after (mm)':>16}{'jerk before':>14}{'jerk after':>14}"
          f"{'pen. before (mm)':>18}{'pen. after (mm)':>18}")
    for name, row in clips.items():
        print(f"{name:<22}{row['fs_before_mm']:>16.3f}{row['fs_after_mm']:>16.3f}{row['boundary_jerk_before']:>14.0f}"
              f"{row['boundary_jerk_after']:>14.0f}{row['penetration_before_mm']:>18.1f}{row['penetration_after_mm']:>18.1f}")
    if files:
        print(f"\n{'file':<38}{'frames':>7}{'planted':>8}{'dir. err (deg)':>15}  {'worst (rig, bone)':<24}"
              f"{'floor (cm)':>11}{'root (%)':>9}{'FS before':>10}{'FS after':>9}{'worst':>7}")
        for name, row in files.items():
            where = f"{row['direction_rig']}, {row['worst_bone']}"
            print(f"{name:<38}{row['frames']:>7}{row['planted_frames']:>8}{row['direction_deg']:>15.2f}  {where:<24}"
                  f"{row['floor_cm']:>11.2f}{row['root_path_pct']:>9.2f}{row['fs_before_mm']:>10.2f}"
                  f"{row['fs_after_mm']:>9.3f}{row['fs_after_worst_mm']:>7.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
