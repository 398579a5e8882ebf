"""`planted retarget`: a motion (BVH, or an SMPL .npz) onto a target skeleton, feet pinned, written as BVH."""

from __future__ import annotations

import argparse
import pathlib

from engine.errors import MotionFileError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "retarget", help="retarget a BVH or SMPL .npz motion onto a rig and pin its feet",
        description="Retarget a motion onto a target skeleton (a built-in rig or the skeleton of a BVH file), "
                    "pin planted feet with IK on the target, and write a BVH.",
    )
    parser.add_argument("input", help="motion to retarget: .bvh, or .npz with SMPL poses (AMASS keys)")
    parser.add_argument("-o", "--output", required=True, help="BVH file to write")
    parser.add_argument("--target", default="smpl",
                        help="target skeleton: a built-in rig (smpl, mixamo, game_engine, cmu_mb, makehuman) or a "
                             "BVH file whose skeleton to use")
    parser.add_argument("--bone-map", metavar="JSON", help="bone map of the target rig (default: by bone names)")
    parser.add_argument("--source-bone-map", metavar="JSON", help="bone map of the input's skeleton")
    parser.add_argument("--units", default="auto", choices=["auto", "m", "cm", "mm", "inch", "cmu"],
                        help="units of the input BVH (default: detected from the skeleton's size)")
    parser.add_argument("--output-units", default="m", choices=["m", "cm", "mm", "inch", "cmu"])
    parser.add_argument("--no-foot-lock", action="store_true", help="retarget only; do not pin the feet")
    parser.add_argument("--level-feet", action="store_true", help="planted feet lie flat on one ground level")
    parser.add_argument("--blend-seconds", type=float, default=0.1, help="ease feet onto and off their pins")
    parser.add_argument("--max-pelvis-drop", type=float, default=0.05,
                        help="metres the pelvis may lower where a leg cannot reach its pinned foot")
    parser.set_defaults(run=run)


def load_motion(path: pathlib.Path, units: str, body_model: str | None):
    """A Motion from a BVH file, or from an SMPL .npz (AMASS keys: poses, betas, trans, mocap_framerate)."""
    from engine.motion.bvh import read_bvh

    if path.suffix.lower() == ".bvh":
        return read_bvh(path, units=units)
    if path.suffix.lower() != ".npz":
        raise MotionFileError(f"{path}: unknown motion file type; give a .bvh or an SMPL .npz")
    from engine.body.active import load_active_body_model
    from engine.capture.motion_file import read_motion_file

    if not path.is_file():
        raise MotionFileError(f"motion file not found: {path}")
    return read_motion_file(path, body_model=load_active_body_model(body_model)).motion


def load_target(target: str, body_model: str | None):
    from engine.motion.bvh import read_bvh
    from engine.retarget.rigs import builtin_rig

    if pathlib.Path(target).suffix.lower() == ".bvh":
        return read_bvh(target).skeleton
    return builtin_rig(target, body_model)


def run(args: argparse.Namespace) -> int:
    from engine.motion.bvh import write_bvh
    from engine.retarget.bonemap import load_bone_map
    from engine.retarget.footlock import FootLockSettings, lock_feet
    from engine.retarget.retarget import retarget

    body_model = getattr(args, "body_model", None)
    motion = load_motion(pathlib.Path(args.input), args.units, body_model)
    target = load_target(args.target, body_model)
    bone_map = load_bone_map(args.bone_map) if args.bone_map else None
    source_map = load_bone_map(args.source_bone_map) if args.source_bone_map else None
    if motion.contacts is None and not args.no_foot_lock:
        # Contacts belong to the performance: find them on the source, before its feet move differently.
        from engine.motion.motion import Motion
        from engine.retarget.footlock import detect_contacts

        motion = Motion(motion.skeleton, motion.rotations, motion.root_translation, motion.fps,
                        detect_contacts(motion, source_map))
    result = retarget(motion, target, bone_map=bone_map, source_map=source_map)
    if not args.no_foot_lock:
        settings = FootLockSettings(level_planted_feet=args.level_feet, blend_seconds=args.blend_seconds,
                                    max_pelvis_drop=args.max_pelvis_drop)
        result, report = lock_feet(result, settings=settings, bone_map=bone_map)
        print(f"foot sliding {report.fs_before_mm:.2f} -> {report.fs_after_mm:.2f} mm over planted frames; "
              f"pelvis lowered up to {report.pelvis_drop.max(initial=0.0) * 1000:.1f} mm")
    write_bvh(result, args.output, units=args.output_units)
    print(f"wrote {args.output} ({result.num_frames} frames at {result.fps:g} fps, "
          f"{result.skeleton.num_joints} joints)")
    return 0
