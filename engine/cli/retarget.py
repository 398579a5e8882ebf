"""`planted retarget`: a motion (BVH, or an SMPL .npz) onto a target skeleton, feet pinned, written as BVH."""

from __future__ import annotations

import argparse
import pathlib

from engine.errors import MotionFileError

UNIT_CHOICES = ["m", "dm", "cm", "mm", "inch", "cmu"]
UP_CHOICES = ["y", "z", "x", "-y", "-z", "-x"]


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "retarget", help="retarget a BVH or SMPL .npz motion onto a rig and pin its feet",
        description="Retarget a motion onto a target skeleton (a built-in rig or the skeleton of a BVH file), "
                    "pin the feet the motion plants with IK on the target, and write a BVH.",
    )
    parser.add_argument("input", help="motion to retarget: .bvh, or .npz with SMPL poses (AMASS keys)")
    parser.add_argument("-o", "--output", required=True, help="BVH file to write")
    parser.add_argument("--target", default="smpl",
                        help="target skeleton: a built-in rig (smpl, mixamo, game_engine, cmu_mb, makehuman) or a "
                             "BVH file whose skeleton to use")
    parser.add_argument("--bone-map", metavar="JSON", help="bone map of the target rig (default: found from its "
                                                          "bone names and structure)")
    parser.add_argument("--source-bone-map", metavar="JSON",
                        help="bone map of the input's skeleton (default: found from its bone names and structure)")
    parser.add_argument("--units", default="auto", choices=["auto"] + UNIT_CHOICES,
                        help="units of the input BVH (default: detected from the figure's size)")
    parser.add_argument("--up", default="auto", choices=["auto"] + UP_CHOICES,
                        help="up axis of the input BVH (default: detected from where the chest is above the feet)")
    parser.add_argument("--reference-frame", type=int, metavar="N",
                        help="input frame whose pose the bones are aligned in (default: the rest pose when it is a "
                             "standing body, else the straightest standing frame)")
    parser.add_argument("--output-units", default="m", choices=UNIT_CHOICES)
    parser.add_argument("--no-foot-lock", action="store_true", help="retarget only; do not pin the feet")
    parser.add_argument("--level-feet", action="store_true", help="planted feet lie flat on one ground level")
    parser.add_argument("--blend-seconds", type=float, default=0.1, help="ease feet onto and off their pins")
    parser.add_argument("--max-pelvis-drop", type=float, default=0.1,
                        help="metres the pelvis may lower where a leg cannot reach its pinned foot")
    parser.set_defaults(run=run)


def load_motion(path: pathlib.Path, units: str, body_model: str | None, up: str = "auto"):
    """A Motion from a BVH file, or from an SMPL .npz (AMASS keys: poses, betas, trans, mocap_framerate)."""
    return load_motion_and_conventions(path, units, body_model, up)[0]


def load_motion_and_conventions(path: pathlib.Path, units: str, body_model: str | None, up: str = "auto"):
    """(Motion, FileConventions or None): a BVH's conventions say what was detected and why."""
    from engine.motion.bvh import read_bvh_conventions

    if path.suffix.lower() == ".bvh":
        return read_bvh_conventions(path, units=units, up=up)
    if path.suffix.lower() != ".npz":
        raise MotionFileError(f"{path}: unknown motion file type; give a .bvh or an SMPL .npz")
    from engine.body.active import load_active_body_model
    from engine.capture.motion_file import read_motion_file

    if not path.is_file():
        raise MotionFileError(f"motion file not found: {path}")
    return read_motion_file(path, body_model=load_active_body_model(body_model)).motion, None


def load_target(target: str, body_model: str | None):
    from engine.motion.bvh import read_bvh
    from engine.retarget.rigs import builtin_rig

    if pathlib.Path(target).suffix.lower() == ".bvh":
        return read_bvh(target).skeleton
    return builtin_rig(target, body_model)


def _mapping_line(what: str, skeleton, bone_map, flag: str) -> str:
    from engine.retarget.rigs import auto_map, describe_mapping

    if bone_map is not None:
        return f"{what}: bone map from {flag} ({len(bone_map.joints)} joints)"
    found, unmapped = auto_map(skeleton)
    return f"{what}: {describe_mapping(found, unmapped)}" + (f" (map them with {flag})" if unmapped else "")


def run(args: argparse.Namespace) -> int:
    from engine.motion.bvh import write_bvh
    from engine.retarget.bonemap import SOURCE_FLAG, TARGET_FLAG, load_bone_map
    from engine.retarget.footlock import FootLockSettings
    from engine.retarget.transfer import retarget_and_lock

    body_model = getattr(args, "body_model", None)
    motion, conventions = load_motion_and_conventions(pathlib.Path(args.input), args.units, body_model, args.up)
    if conventions is not None:
        print(f"input: {conventions.summary()}")
    target = load_target(args.target, body_model)
    bone_map = load_bone_map(args.bone_map) if args.bone_map else None
    source_map = load_bone_map(args.source_bone_map) if args.source_bone_map else None
    print(_mapping_line("input", motion.skeleton, source_map, SOURCE_FLAG))
    print(_mapping_line("target", target, bone_map, TARGET_FLAG))
    settings = FootLockSettings(level_planted_feet=args.level_feet, blend_seconds=args.blend_seconds,
                                max_pelvis_drop=args.max_pelvis_drop)
    result = retarget_and_lock(motion, target, bone_map=bone_map, source_map=source_map, settings=settings,
                               foot_lock=not args.no_foot_lock, reference_frame=args.reference_frame)
    print(result.summary())
    write_bvh(result.motion, args.output, units=args.output_units)
    print(f"wrote {args.output} ({result.motion.num_frames} frames at {result.motion.fps:g} fps, "
          f"{result.motion.skeleton.num_joints} joints)")
    return 0
