"""The installed extension zip as an animator uses it: a fresh Blender with only the zip installed (its bundled
wheels, no repository on the path) captures a clip, retargets it onto a real Rigify rig's controls with
planted feet, and exports FBX, each step through the panel's operators.

Slow: the full zip (~170 MB, every dependency wheel) is built unless PLANTED_EXTENSION_ZIP names one
already built from this tree (scripts/build_extension.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.blender_support import DATA, ROOT, generate_rigify_rig

CLIP = DATA / "video" / "pose_squats.mp4"

_ANIMATOR_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import bpy
    import numpy as np

    zip_path, rig_path, video, out_dir = sys.argv[-4:]
    assert bpy.ops.extensions.package_install_files(filepath=zip_path, repo="user_default",
                                                    enable_on_install=True) == {"FINISHED"}
    module = "bl_ext.user_default.planted"
    import engine
    from bl_ext.user_default.planted.core import axes, compat, retarget as rc
    from engine.retarget.contacts import FOOT_POINTS
    from engine.retarget.metrics import foot_sliding_mm

    bpy.ops.wm.open_mainfile(filepath=rig_path)
    rig = bpy.data.objects["rig"]
    scene = bpy.context.scene
    settings = scene.planted
    # Capture: the panel's defaults (Model Default, Estimator Fit, Keep scene rate), a frame range, CPU.
    settings.video_path = video
    settings.device, settings.build_mesh = "cpu", False
    settings.use_frame_range, settings.video_frame_start, settings.video_frame_end = True, 0, 15
    assert bpy.ops.planted.capture() == {"FINISHED"}
    body = bpy.data.objects["pose_squats"]
    # Retarget: Source the captured body, Target the rig, Detect Bone Map, Bake onto Controls (the default).
    settings.source, settings.target = body, rig
    assert settings.bake_onto == "CONTROLS"
    assert bpy.ops.planted.bone_map_detect() == {"FINISHED"}
    assert bpy.ops.planted.retarget() == {"FINISHED"}
    baked = rig.animation_data.action
    paths = {fc.data_path for fc in compat.action_fcurves(baked)}
    # The same bake by the installed add-on's core, for its planted frames (the source's).
    bone_map, _ = rc.detect_bone_map(rig)
    outcome = rc.retarget_onto(bpy.context, body, rig, bone_map, rc.RetargetOptions())
    feet = [bone_map.joints[p] for p in FOOT_POINTS]
    positions = []
    for frame in range(1, outcome.frames + 1):
        scene.frame_set(frame)
        world = np.array(rig.matrix_world)
        heads = np.array([rig.pose.bones[n].head for n in feet])
        positions.append(axes.points_to_engine(heads @ world[:3, :3].T + world[:3, 3]))
    fs = foot_sliding_mm(np.array(positions), outcome.planted, scene.render.fps / scene.render.fps_base)
    # Export: Deform bones only (the default), to a folder: the file name is completed.
    bpy.context.view_layer.objects.active = rig
    assert bpy.ops.planted.export_fbx(filepath=out_dir + "/") == {"FINISHED"}
    print("RESULT", json.dumps({
        "engine": engine.__file__, "summary": outcome.summary("rig"), "fs_mm": fs, "controls": outcome.controls,
        "planted_frames": int(outcome.planted.any(axis=1).sum()), "frames": outcome.frames,
        "foot_ik_keyed": 'pose.bones["foot_ik.L"].location' in paths,
        "deform_keyed": any(p.startswith('pose.bones["DEF-') for p in paths),
        "fps": scene.render.fps, "fbx": sorted(p.name for p in __import__("pathlib").Path(out_dir).iterdir()),
    }))
    bpy.ops.preferences.addon_disable(module=module)
    print("OK")
    """
)


def _zip(tmp_path: Path) -> Path:
    given = os.environ.get("PLANTED_EXTENSION_ZIP")
    if given:
        return Path(given)
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "build_extension.py"), "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr + out.stdout
    (zip_path,) = tmp_path.glob("planted-*.zip")
    return zip_path


@pytest.mark.slow
def test_installed_zip_captures_retargets_onto_rigify_controls_and_exports(tmp_path):
    zip_path = _zip(tmp_path)
    rig = generate_rigify_rig(tmp_path / "rigify.blend")
    script = tmp_path / "animator.py"
    script.write_text(_ANIMATOR_SCRIPT)
    exports = tmp_path / "exports"
    exports.mkdir()
    env = dict(os.environ, BLENDER_USER_RESOURCES=str(tmp_path / "blender_user"))
    env.pop("PYTHONPATH", None)
    # Outside the repository, so that `engine` and the add-on can only come from the installed zip.
    run = subprocess.run([sys.executable, str(script), str(zip_path), str(rig), str(CLIP), str(exports)],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0 and "OK" in run.stdout, run.stdout[-4000:] + run.stderr[-4000:]
    result = json.loads(next(line for line in run.stdout.splitlines() if line.startswith("RESULT"))[7:])
    print("\n".join(line for line in (run.stdout + run.stderr).splitlines() if "Info:" in line or "Detected" in line))
    assert result["engine"].startswith(str(tmp_path / "blender_user")), result["engine"]
    assert result["controls"] >= 30 and result["foot_ik_keyed"] and not result["deform_keyed"]
    assert result["fps"] == 24  # Keep scene rate: the scene's own
    assert result["planted_frames"] > 0.5 * result["frames"]  # a squat: feet down throughout
    assert result["fs_mm"] < 1.0, result
    assert result["fbx"] == ["rig.fbx"]
