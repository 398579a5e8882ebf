"""Shared helpers of the Blender tests (real bpy, headless): scene reset, rigs built like real ones, readings.

Not a test module itself; test_blender_*.py import from it.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import bpy
import numpy as np
import pytest

from blender_addon.core import axes, compat

ROOT = pathlib.Path(__file__).resolve().parents[1]
DATA = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"
CMU_WALK = DATA / "mocap" / "cmu" / "131_01.bvh"


def reset_scene() -> None:
    bpy.ops.wm.read_factory_settings(use_empty=True)


@pytest.fixture(autouse=True)
def fresh_scene():
    """Every Blender test starts and ends in an empty factory scene."""
    reset_scene()
    yield
    reset_scene()


@pytest.fixture(scope="module", autouse=True)
def addon():
    """The add-on registered from the repository (as Blender would after enabling it) for a whole test
    module, then unregistered. Autouse in each test module that imports it."""
    import blender_addon

    blender_addon.register()
    try:
        yield
    finally:
        blender_addon.unregister()


def world_joint_positions(obj: bpy.types.Object, bone_names, frames) -> np.ndarray:
    """(T, J, 3) engine-frame world positions (metres, y up) of the bones' heads, evaluated by Blender
    at each scene frame of `frames`."""
    scene = bpy.context.scene
    out = np.empty((len(frames), len(bone_names), 3))
    bones = [obj.pose.bones[n] for n in bone_names]
    for t, frame in enumerate(frames):
        scene.frame_set(int(frame))
        world = np.array(obj.matrix_world)
        heads = np.array([b.head for b in bones])
        out[t] = axes.points_to_engine(heads @ world[:3, :3].T + world[:3, 3])
    return out


def snapshot() -> dict:
    """Names and state of every object, action, mesh, armature, collection and marker in the file."""
    bpy.context.view_layer.update()
    state = {
        "objects": {o.name: (tuple(np.round(np.array(o.matrix_world), 9).ravel()), o.parent.name if o.parent else None)
                    for o in bpy.data.objects},
        "actions": {a.name: _action_fingerprint(a) for a in bpy.data.actions},
        "meshes": {m.name: len(m.vertices) for m in bpy.data.meshes},
        "armatures": {a.name: len(a.bones) for a in bpy.data.armatures},
        "collections": sorted(c.name for c in bpy.data.collections),
        "markers": sorted((m.name, m.frame) for s in bpy.data.scenes for m in s.timeline_markers),
        "cameras": sorted(c.name for c in bpy.data.cameras),
        "movieclips": sorted(c.name for c in bpy.data.movieclips),
    }
    return state


def _action_fingerprint(action) -> tuple:
    keys = []
    for fc in compat.action_fcurves(action):
        co = np.empty(2 * len(fc.keyframe_points), dtype=np.float32)
        fc.keyframe_points.foreach_get("co", co)
        keys.append((fc.data_path, fc.array_index, co.tobytes()))
    return tuple(sorted(keys))


def add_user_content(name: str) -> None:
    """A user's scene: an object and an action named `name`, and an animated cube."""
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata([(0, 0, 0), (1, 0, 0), (0, 1, 0)], [], [(0, 1, 2)])
    obj = bpy.data.objects.new(name, mesh)
    bpy.context.scene.collection.objects.link(obj)
    obj.location = (3.0, 1.0, 0.5)
    obj.keyframe_insert("location", frame=1)
    obj.location = (4.0, 1.0, 0.5)
    obj.keyframe_insert("location", frame=20)
    obj.animation_data.action.name = name
    bpy.data.actions.new(f"{name} spare").use_fake_user = True


def build_armature_from_layout(name: str, bones: list[tuple[str, str | None, tuple, tuple, float]],
                               fbx_like: bool = False):
    """An armature from (bone, parent, head, tail, roll) rows, world coordinates (z up, metres).

    fbx_like: lay the bones out as an FBX import does (centimetres, y up inside the armature, the object
    turned 90 degrees about x and scaled 0.01), as Mixamo rigs arrive in Blender.
    """
    data = bpy.data.armatures.new(name)
    obj = bpy.data.objects.new(name, data)
    bpy.context.scene.collection.objects.link(obj)
    if fbx_like:
        obj.rotation_euler = (np.pi / 2, 0.0, 0.0)
        obj.scale = (0.01, 0.01, 0.01)
        bones = [(b, p, _fbx_local(h), _fbx_local(t), r) for b, p, h, t, r in bones]
    bpy.context.view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode="EDIT")
    made = {}
    for bone, parent, head, tail, roll in bones:
        edit = data.edit_bones.new(bone)
        edit.head, edit.tail, edit.roll = head, tail, roll
        if parent is not None:
            edit.parent = made[parent]
        made[bone] = edit
    bpy.ops.object.mode_set(mode="OBJECT")
    return obj


def _fbx_local(point) -> tuple:
    x, y, z = point
    return (100.0 * x, 100.0 * z, -100.0 * y)


def mixamo_layout(leg_scale: float = 1.15) -> list[tuple]:
    """A Mixamo-named rig (mixamorig: names, Mixamo's bone rolls: limbs rolled so X points forward or
    down as Mixamo's FBX rigs come in), legs `leg_scale` times an average adult's."""
    s = leg_scale
    hip_z = 0.95 * s
    rows = [
        ("mixamorig:Hips", None, (0, 0, hip_z), (0, 0, hip_z + 0.1), 0.0),
        ("mixamorig:Spine", "mixamorig:Hips", (0, 0, hip_z + 0.1), (0, 0, hip_z + 0.22), 0.0),
        ("mixamorig:Spine1", "mixamorig:Spine", (0, 0, hip_z + 0.22), (0, 0, hip_z + 0.36), 0.0),
        ("mixamorig:Spine2", "mixamorig:Spine1", (0, 0, hip_z + 0.36), (0, 0, hip_z + 0.52), 0.0),
        ("mixamorig:Neck", "mixamorig:Spine2", (0, 0, hip_z + 0.52), (0, 0, hip_z + 0.62), 0.0),
        ("mixamorig:Head", "mixamorig:Neck", (0, 0, hip_z + 0.62), (0, 0, hip_z + 0.82), 0.0),
    ]
    for side, sign in (("Left", 1.0), ("Right", -1.0)):
        x = 0.09 * sign
        rows += [
            (f"mixamorig:{side}UpLeg", "mixamorig:Hips", (x, 0, hip_z - 0.05), (x, 0.01, 0.5 * s), np.pi),
            (f"mixamorig:{side}Leg", f"mixamorig:{side}UpLeg", (x, 0.01, 0.5 * s), (x, 0.03, 0.08 * s), np.pi),
            (f"mixamorig:{side}Foot", f"mixamorig:{side}Leg", (x, 0.03, 0.08 * s), (x, -0.1, 0.02), 0.0),
            (f"mixamorig:{side}ToeBase", f"mixamorig:{side}Foot", (x, -0.1, 0.02), (x, -0.17, 0.02), 0.0),
            (f"mixamorig:{side}Shoulder", "mixamorig:Spine2", (0.06 * sign, 0, hip_z + 0.47),
             (0.17 * sign, 0, hip_z + 0.47), -np.pi / 2 * sign),
            (f"mixamorig:{side}Arm", f"mixamorig:{side}Shoulder", (0.17 * sign, 0, hip_z + 0.47),
             (0.45 * sign, 0, hip_z + 0.47), -np.pi / 2 * sign),
            (f"mixamorig:{side}ForeArm", f"mixamorig:{side}Arm", (0.45 * sign, 0, hip_z + 0.47),
             (0.70 * sign, 0, hip_z + 0.47), -np.pi / 2 * sign),
            (f"mixamorig:{side}Hand", f"mixamorig:{side}ForeArm", (0.70 * sign, 0, hip_z + 0.47),
             (0.78 * sign, 0, hip_z + 0.47), -np.pi / 2 * sign),
            (f"mixamorig:{side}HandMiddle1", f"mixamorig:{side}Hand", (0.78 * sign, 0, hip_z + 0.47),
             (0.82 * sign, 0, hip_z + 0.47), -np.pi / 2 * sign),
        ]
    return rows


def generate_rigify_rig(path: pathlib.Path) -> pathlib.Path:
    """A real Rigify rig (Blender's bundled add-on: human metarig -> generate), saved to `path`.

    Generated in a bpy process of its own: once enabled, Rigify leaves Python classes behind that make
    bpy 4.2 crash and 4.5 hang at interpreter exit, even after it is disabled, so it never runs inside
    the test process.
    """
    code = (f"from tests.blender_support import _generate_rigify_here; _generate_rigify_here({str(path)!r}); "
            "from blender_addon.core import compat; compat.exit_process(0)")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0 and path.is_file(), run.stdout[-2000:] + run.stderr[-2000:]
    return path


def _generate_rigify_here(path: str) -> None:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.preferences.addon_enable(module="rigify")
    bpy.ops.object.armature_human_metarig_add()
    bpy.ops.pose.rigify_generate()
    bpy.data.objects.remove(bpy.data.objects["metarig"])
    bpy.ops.wm.save_as_mainfile(filepath=path)

