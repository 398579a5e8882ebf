"""scripts/batch_retarget.py on a real clip and a broken file: the clip is exported, the failure reported,
the summary table printed (a subprocess, as users run it)."""

from __future__ import annotations

import subprocess
import sys

import bpy

from tests.blender_support import (
    DATA,
    ROOT,
    build_armature_from_layout,
    fresh_scene,  # noqa: F401  (autouse fixture)
    mixamo_layout,
)
from tests.capture_support import placeholder_model


def _run_batch(tmp_path, broken: bool, *flags: str) -> tuple[subprocess.CompletedProcess, object]:
    """scripts/batch_retarget.py on the dribble clip (and a broken file) onto a Mixamo-named rig .blend;
    returns the run and the output folder."""
    videos = tmp_path / "videos"
    videos.mkdir()
    (videos / "dribble.mp4").symlink_to(DATA / "video" / "basketball_dribble.mp4")
    if broken:
        (videos / "broken.mp4").write_text("not a video")
    build_armature_from_layout("Character", mixamo_layout(), fbx_like=True)
    rig = tmp_path / "rig.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(rig))
    out = tmp_path / "out"
    run = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "batch_retarget.py"), "--videos", str(videos), "--target", str(rig),
         "--out", str(out), *flags],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
    )
    return run, out


def test_batch_exports_each_video_and_reports_failures(tmp_path):
    run, out = _run_batch(tmp_path, True, "--fbx", "--bvh", "--model", str(placeholder_model()),
                          "--estimator", "network", "--device", "cpu")
    assert run.returncode == 1, run.stdout[-2000:] + run.stderr[-2000:]  # one file failed
    assert sorted(p.name for p in out.iterdir()) == ["dribble.bvh", "dribble.fbx"]
    table = run.stdout[run.stdout.index("video "):]
    assert "broken.mp4" in table and "failed" in table
    assert "dribble.mp4" in table and " ok " in table
    assert "[1/2] broken.mp4" in run.stdout and "[2/2] dribble.mp4" in run.stdout
    assert "Traceback" not in run.stdout + run.stderr
    from engine.motion.bvh import read_bvh

    motion = read_bvh(out / "dribble.bvh", units="m")
    # 40 video frames at 12 fps (3.25 s) keyed in the rig file's 24 fps scene: 79 frames, the same 3.25 s.
    assert motion.num_frames == 79 and motion.fps == 24 and "mixamorig:Hips" in motion.skeleton.names


def test_batch_exits_0_after_a_successful_run(tmp_path):
    """Exit status 0 on every supported bpy: the add-on is unregistered and the process ends with the
    work's status (bpy 4.2 used to die with SIGSEGV and 4.5 hang at exit after the summary)."""
    run, out = _run_batch(tmp_path, False, "--bvh", "--device", "cpu")
    assert run.returncode == 0, (run.returncode, run.stdout[-2000:] + run.stderr[-2000:])
    assert sorted(p.name for p in out.iterdir()) == ["dribble.bvh"]
    assert " ok " in run.stdout[run.stdout.index("video "):]
