"""Seconds to put a 10,000-frame motion into Blender, and to retarget and bake it onto a Rigify rig.

    .venv/bin/python scripts/bench/blender_import.py [--frames 10000] [--runs 3] [--fbx-frames 994]
        [--render PNG] [--json]

The motion is real mocap: CMU walk 131_01 (../shared/data/mocap) retargeted by the engine onto the
active body model's SMPL skeleton, repeated end to end (each repeat continues from where the last one
ended) to the asked length. Timed, median of --runs runs each, in a fresh factory scene:
- import: a new SMPL armature with a new action holding every frame (the add-on's create_body, the
  body mesh left out; its build time is reported beside it), goal under 3 s;
- retarget + bake: the add-on's retarget of that armature's action onto a real Rigify rig (Blender's
  bundled Rigify, human metarig -> generate): read the source action, engine retarget and
  foot-contact-pinned IK on the rig's skeleton, bake into a new action: onto its deform bones (Bake onto:
  Deform bones) and onto its FK and IK controls (Bake onto: Controls);
- FBX size (not timed) of the Controls bake of --fbx-frames frames for each export choice (Deform bones
  only, All bones). --render PNG: a side view of the source's and the control rig's evaluated joints.
With --json: one JSON object with import_10k_s, retarget_bake_10k_s (deform bones),
control_bake_10k_s and the FBX sizes (and the other columns).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

CMU_WALK = ROOT.parent / "shared" / "data" / "mocap" / "cmu" / "131_01.bvh"


def long_motion(frames: int):
    """The CMU walk on the SMPL skeleton, repeated to `frames` frames with a continuous root path."""
    import numpy as np

    from engine.motion.bvh import read_bvh
    from engine.motion.motion import Motion
    from engine.retarget.retarget import retarget
    from engine.retarget.rigs import smpl_rest_joints, smpl_skeleton

    walk = retarget(read_bvh(CMU_WALK), smpl_skeleton(smpl_rest_joints()))
    repeats = -(-frames // walk.num_frames)
    step = walk.root_translation[-1] - walk.root_translation[0]
    step[1] = 0.0
    root = np.concatenate([walk.root_translation + k * step for k in range(repeats)])[:frames]
    rotations = np.concatenate([walk.rotations] * repeats)[:frames]
    return Motion(walk.skeleton, rotations, root, walk.fps)


def rigify_file(folder: Path) -> Path:
    import bpy

    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.preferences.addon_enable(module="rigify")
    bpy.ops.object.armature_human_metarig_add()
    bpy.ops.pose.rigify_generate()
    bpy.data.objects.remove(bpy.data.objects["metarig"])
    path = folder / "rigify.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    bpy.ops.preferences.addon_disable(module="rigify")  # its file handlers expect its own properties
    return path


def time_import(motion) -> float:
    import bpy

    from blender_addon.core.body import create_body

    bpy.ops.wm.read_factory_settings(use_empty=True)
    start = time.perf_counter()
    create_body(bpy.context, motion, "bench")
    return time.perf_counter() - start


def time_mesh(motion) -> float:
    import bpy

    from blender_addon.core.armature import build_body_mesh
    from engine.body.active import load_active_body_model

    model = load_active_body_model()
    bpy.ops.wm.read_factory_settings(use_empty=True)
    arm = bpy.data.objects.new("arm", bpy.data.armatures.new("arm"))
    bpy.context.scene.collection.objects.link(arm)
    start = time.perf_counter()
    build_body_mesh("body", model.rest_vertices(), model.faces, model.weights, tuple(model.joint_names), arm,
                    bpy.context.scene.collection)
    return time.perf_counter() - start


def time_retarget(motion, rig_path: Path, bake_onto: str = "DEFORM") -> tuple[float, float | None, float | None]:
    import bpy

    from blender_addon.core import retarget as retarget_core
    from blender_addon.core.body import create_body

    bpy.ops.wm.open_mainfile(filepath=str(rig_path))
    made = create_body(bpy.context, motion, "bench")
    source, target = bpy.data.objects[made.armature], bpy.data.objects["rig"]
    start = time.perf_counter()
    bone_map, _ = retarget_core.detect_bone_map(target)
    outcome = retarget_core.retarget_onto(bpy.context, source, target, bone_map,
                                          retarget_core.RetargetOptions(bake_onto=bake_onto))
    return time.perf_counter() - start, outcome.fs_before_mm, outcome.fs_after_mm


def fbx_sizes(motion, rig_path: Path, folder: Path) -> dict[str, float]:
    """MB of the FBX file of the Controls bake for each export choice."""
    import bpy

    time_retarget(motion, rig_path, "CONTROLS")
    bpy.context.view_layer.objects.active = bpy.data.objects["rig"]
    sizes = {}
    for choice in ("DEFORM", "ALL"):
        bpy.context.scene.planted.export_bones = choice
        path = folder / f"{choice}.fbx"
        bpy.ops.planted.export_fbx(filepath=str(path))
        sizes[choice] = path.stat().st_size / 1e6
    return sizes


def render_side_view(motion, rig_path: Path, png: Path, frames=(1, 200, 400, 600, 800)) -> None:
    """Side view (right: forward, up: up) at `frames`, one column each: the source body's bones (grey, left)
    and the control rig's DEF bones as Blender evaluates them after the Controls bake (blue, right), each
    about its own pelvis; DEF feet red, the ground line at height 0."""
    import bpy
    import cv2
    import numpy as np

    from blender_addon.core import axes

    time_retarget(motion, rig_path, "CONTROLS")
    rig = bpy.data.objects["rig"]
    source = next(o for o in bpy.data.objects if o.type == "ARMATURE" and o.name != "rig")

    def segments(obj, names, frame):
        bpy.context.scene.frame_set(frame)
        world = np.array(obj.matrix_world)
        ends = [np.array([getattr(obj.pose.bones[n], end) for n in names]) @ world[:3, :3].T + world[:3, 3]
                for end in ("head", "tail")]
        return [axes.points_to_engine(e)[:, [2, 1]] for e in ends]  # (forward z, up y), metres

    deform = [b.name for b in rig.data.bones if b.use_deform and not b.name.startswith(("DEF-f_", "DEF-palm",
                                                                                        "DEF-breast"))]
    feet = ["DEF-foot.L", "DEF-toe.L", "DEF-foot.R", "DEF-toe.R"]
    scale, column = 220.0, 2.0  # pixels per metre, metres per frame column
    width, height = int(column * len(frames) * scale), int(2.3 * scale)
    image = np.full((height, width, 3), 255, np.uint8)

    def px(p, shift):
        return int((p[0] + shift) * scale), int((2.1 - p[1]) * scale)

    for k, frame in enumerate(frames):
        for obj, names, colour, width_px, offset in ((source, [b.name for b in source.data.bones], (150, 150, 150), 3,
                                                      0.5), (rig, deform, (200, 90, 20), 1, 1.4)):
            heads, tails = segments(obj, names, frame)
            shift = k * column + offset - heads[0, 0]
            for a, b in zip(heads, tails, strict=True):
                cv2.line(image, px(a, shift), px(b, shift), colour, width_px, cv2.LINE_AA)
            if obj is rig:
                for p in segments(rig, feet, frame)[0]:
                    cv2.circle(image, px(p, shift), 3, (0, 0, 230), -1, cv2.LINE_AA)
        cv2.putText(image, f"frame {frame}", (int((k * column + 0.6) * scale), height - 12),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.line(image, (0, int(2.1 * scale)), (width, int(2.1 * scale)), (0, 160, 0), 1)
    cv2.putText(image, "grey: source body   blue: Rigify DEF bones driven by its baked controls (evaluated)   "
                "red: DEF feet   green: height 0", (10, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.imwrite(str(png), image)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--fbx-frames", type=int, default=994, help="frames of the bake the FBX sizes are for")
    parser.add_argument("--render", type=Path, help="write a side-view PNG of the control rig bake here")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    args = parser.parse_args(argv)

    import bpy

    motion = long_motion(args.frames)
    with tempfile.TemporaryDirectory() as temp:
        rig = rigify_file(Path(temp))
        imports = [time_import(motion) for _ in range(args.runs)]
        meshes = [time_mesh(motion) for _ in range(args.runs)]
        retargets = [time_retarget(motion, rig) for _ in range(args.runs)]
        controls = [time_retarget(motion, rig, "CONTROLS") for _ in range(args.runs)]
        import blender_addon

        blender_addon.register()  # the export operator and its settings
        try:
            sizes = fbx_sizes(long_motion(args.fbx_frames), rig, Path(temp))
            if args.render:
                render_side_view(long_motion(994), rig, args.render)
        finally:
            bpy.ops.wm.read_factory_settings(use_empty=True)
            blender_addon.unregister()
    bpy.ops.wm.read_factory_settings(use_empty=True)
    result = {
        "frames": args.frames,
        "runs": args.runs,
        "blender": bpy.app.version_string,
        "import_10k_s": statistics.median(imports),
        "body_mesh_s": statistics.median(meshes),
        "retarget_bake_10k_s": statistics.median(r[0] for r in retargets),
        "fs_before_mm": retargets[0][1],
        "fs_after_mm": retargets[0][2],
        "control_bake_10k_s": statistics.median(r[0] for r in controls),
        "fbx_frames": args.fbx_frames,
        "fbx_deform_only_mb": sizes["DEFORM"],
        "fbx_all_bones_mb": sizes["ALL"],
    }
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"Blender {result['blender']}, {args.frames} frames of CMU 131_01 on SMPL, median of {args.runs} runs")
    print(f"{'step':<44} {'seconds':>8}")
    print(f"{'import: SMPL armature + action (goal < 3 s)':<44} {result['import_10k_s']:>8.3f}")
    print(f"{'body mesh (skinned, vertex groups)':<44} {result['body_mesh_s']:>8.3f}")
    print(f"{'retarget + foot lock + bake onto Rigify DEF':<44} {result['retarget_bake_10k_s']:>8.3f}")
    print(f"{'retarget + foot lock + bake onto its controls':<44} {result['control_bake_10k_s']:>8.3f}")
    print(f"FBX of the controls bake, {args.fbx_frames} frames: deform bones only "
          f"{result['fbx_deform_only_mb']:.1f} MB, all bones {result['fbx_all_bones_mb']:.1f} MB")
    print(f"FS on the Rigify rig: {result['fs_before_mm']:.2f} mm before pinning, {result['fs_after_mm']:.2f} mm after")
    return 0


if __name__ == "__main__":
    sys.exit(main())
