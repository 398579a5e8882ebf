"""Capture every video in a folder, retarget each onto the rig in a .blend, export FBX and/or BVH. Headless.

    .venv/bin/python scripts/batch_retarget.py --videos DIR --target RIG.blend --out DIR [--fbx] [--bvh]
    blender -b --python scripts/batch_retarget.py -- --videos DIR --target RIG.blend --out DIR --fbx

Each video starts from a fresh copy of RIG.blend (the file itself is never saved over). A video that fails
is reported and the rest go on; a summary table ends the run; the exit status is 1 if any failed.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VIDEO_SUFFIXES = {".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg"}


@dataclass
class Row:
    video: str
    status: str = "ok"
    frames: int = 0
    planted_share: float | None = None
    fs_before_mm: float | None = None
    fs_after_mm: float | None = None
    outputs: str = ""
    seconds: float = 0.0


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=Path, required=True, help="folder of videos (one person each)")
    parser.add_argument("--target", type=Path, required=True, help=".blend file holding the rig")
    parser.add_argument("--out", type=Path, required=True, help="folder for the exported files")
    parser.add_argument("--fbx", action="store_true", help="export FBX (the default when neither is given)")
    parser.add_argument("--bvh", action="store_true", help="export BVH")
    parser.add_argument("--armature", help="the rig's object name (default: the only armature in the file)")
    parser.add_argument("--bone-map", type=Path, help="bone-map JSON preset (default: detected by bone names)")
    parser.add_argument("--model", type=Path,
                        help="ONNX model file for the network estimators (default: the shipped one)")
    parser.add_argument("--estimator", choices=("fit", "network", "network+fit"), default="network+fit",
                        help="what turns keypoints into motion (as planted capture --estimator)")
    parser.add_argument("--keypoints", choices=("fast", "balanced", "accurate"), default="balanced")
    parser.add_argument("--device", choices=("auto", "cuda", "cpu"), default="auto")
    parser.add_argument("--no-foot-lock", action="store_true", help="do not pin planted feet")
    args = parser.parse_args(argv)
    if args.model and args.estimator == "fit":
        parser.error("--model gives a network, but --estimator fit runs none: add --estimator network or network+fit")
    if not (args.fbx or args.bvh):
        args.fbx = True
    return args


def _import_addon():
    """The add-on from this repository (with the bpy module, or inside `blender -b`)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import blender_addon

    return blender_addon


def process(video: Path, args: argparse.Namespace) -> Row:
    """One video: capture, retarget onto the rig, export. Raises PlantedError on a user-facing failure."""
    import bpy
    from tqdm import tqdm

    from blender_addon.core import export as export_core
    from blender_addon.core import retarget as retarget_core
    from blender_addon.operators import capture as capture_op
    from engine.errors import PlantedError
    from engine.retarget.bonemap import load_bone_map

    row = Row(video.name)
    bpy.ops.wm.open_mainfile(filepath=str(args.target))
    scene = bpy.context.scene
    settings = scene.planted
    rigs = [o for o in scene.objects if o.type == "ARMATURE"]
    if args.armature:
        target = scene.objects.get(args.armature)
        if target is None or target.type != "ARMATURE":
            raise PlantedError(f"{args.target.name} has no armature named '{args.armature}'")
    elif len(rigs) == 1:
        target = rigs[0]
    else:
        raise PlantedError(f"{args.target.name} holds {len(rigs)} armatures: name the rig with --armature")
    settings.video_path = str(video)
    settings.model_source = "FILE" if args.model else "DEFAULT"
    settings.model_path = str(args.model or "")
    settings.device = args.device
    settings.estimator = args.estimator
    settings.keypoints = args.keypoints
    settings.foot_lock = not args.no_foot_lock
    settings.video_background = False

    path, capture_settings = capture_op.capture_inputs(settings)
    bars: dict[str, tqdm] = {}

    def progress(stage: str, done: int, total: int) -> None:
        bar = bars.get(stage)
        if bar is None:
            bar = bars[stage] = tqdm(total=total or None, desc=f"  {stage}", unit="frame", leave=False)
        bar.n = done
        bar.refresh()

    try:
        result = capture_op.run_capture(path, capture_settings, progress=progress)
    finally:
        for bar in bars.values():
            bar.close()
    capture_op.build_capture(bpy.context, path, result, settings)
    source = bpy.context.view_layer.objects.active
    row.frames = result.num_frames

    bone_map = load_bone_map(args.bone_map) if args.bone_map else retarget_core.detect_bone_map(target)[0]
    # deform bones: what a pipeline's FBX/BVH feeds a game engine (a Rigify control bake's stretched IK legs
    # come back sheared through FBX)
    options = retarget_core.RetargetOptions(foot_lock=not args.no_foot_lock, bake_onto="DEFORM")
    outcome = retarget_core.retarget_onto(bpy.context, source, target, bone_map, options)
    if outcome.planted is not None:
        row.planted_share = float(outcome.planted.any(axis=1).mean())
        if row.planted_share > 0:  # FS is measured over planted frames only
            row.fs_before_mm, row.fs_after_mm = outcome.fs_before_mm, outcome.fs_after_mm

    outputs = []
    if args.fbx:
        export_core.export_fbx(bpy.context, target, str(args.out / f"{video.stem}.fbx"))
        outputs.append(f"{video.stem}.fbx")
    if args.bvh:
        export_core.export_bvh(bpy.context, target, str(args.out / f"{video.stem}.bvh"))
        outputs.append(f"{video.stem}.bvh")
    row.outputs = ", ".join(outputs)
    return row


def summary_table(rows: list[Row]) -> str:
    def mm(value):
        return "-" if value is None else f"{value:.2f}"

    def share(value):
        return "-" if value is None else f"{100 * value:.0f} %"

    header = (f"{'video':<28} {'status':<8} {'frames':>6} {'planted':>7} {'FS before mm':>12} {'FS after mm':>11} "
              f"{'s':>6}  outputs")
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(f"{r.video[:28]:<28} {r.status:<8} {r.frames:>6} {share(r.planted_share):>7} "
                     f"{mm(r.fs_before_mm):>12} {mm(r.fs_after_mm):>11} {r.seconds:>6.1f}  {r.outputs}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else sys.argv[1:]
    args = parse_args(argv)
    addon = _import_addon()
    import bpy

    from engine.errors import PlantedError

    if not args.videos.is_dir():
        print(f"error: video folder not found: {args.videos}", file=sys.stderr)
        return 2
    if not args.target.is_file():
        print(f"error: rig file not found: {args.target}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    videos = sorted(p for p in args.videos.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
    if not videos:
        print(f"error: no videos ({', '.join(sorted(VIDEO_SUFFIXES))}) in {args.videos}", file=sys.stderr)
        return 2
    registered = not hasattr(bpy.types.Scene, "planted")  # inside Blender the add-on may be enabled already
    if registered:
        addon.register()
    try:
        rows = [_process_reported(video, i, len(videos), args, PlantedError) for i, video in enumerate(videos, 1)]
    finally:
        if registered:
            # bpy 4.2 crashes and 4.5 hangs at interpreter exit while Python classes are still registered.
            addon.unregister()
    print()
    print(summary_table(rows))
    return 0 if all(r.status == "ok" for r in rows) else 1


def _process_reported(video: Path, number: int, count: int, args: argparse.Namespace, user_error: type) -> Row:
    """`process`, timed, with a failure turned into its row (the other videos go on)."""
    print(f"[{number}/{count}] {video.name}", flush=True)
    start = time.perf_counter()
    try:
        row = process(video, args)
    except user_error as err:
        row = Row(video.name, status="failed", outputs=str(err))
    except Exception as err:  # a bug: report it, keep going with the other files
        row = Row(video.name, status="error", outputs=f"{type(err).__name__}: {err}")
    row.seconds = time.perf_counter() - start
    print(f"  {row.status}: {row.outputs}", flush=True)
    return row


if __name__ == "__main__":
    status = main()
    from blender_addon.core import compat

    compat.exit_process(status)  # the work's status, whatever bpy's own teardown would do
