"""`planted retarget` end to end on real mocap: BVH or SMPL .npz in, a rig's BVH out."""

import subprocess
import sys

import numpy as np

from engine.motion.bvh import read_bvh
from engine.motion.kinematics import world_transforms
from engine.retarget.metrics import foot_sliding_mm
from engine.rotations import matrix_to_axis_angle
from tests.test_retarget_fixtures import CLIPS, ROOT, foot_points, smpl_clip, smpl_rest_joints, true_contacts


def _planted(*args):
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], capture_output=True, text=True, cwd=ROOT)


def test_bvh_to_mixamo_rig_with_pinned_feet(tmp_path):
    out = tmp_path / "walk_mixamo.bvh"
    done = _planted("retarget", str(CLIPS["131_01.bvh"]), "--target", "mixamo", "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert "foot sliding" in done.stdout
    motion = read_bvh(out, units="m")
    assert motion.num_frames == 994 and motion.fps == 120.0
    assert "mixamorig:LeftToeBase" in motion.skeleton.names
    unlocked = tmp_path / "walk_mixamo_free.bvh"
    assert _planted("retarget", str(CLIPS["131_01.bvh"]), "--target", "mixamo", "-o", str(unlocked),
                    "--no-foot-lock").returncode == 0
    contact = true_contacts("131_01.bvh")
    fs_locked = foot_sliding_mm(foot_points(motion), contact, motion.fps)
    fs_free = foot_sliding_mm(foot_points(read_bvh(unlocked, units="m")), contact, motion.fps)
    assert fs_locked < 1.0 < fs_free


def test_smpl_npz_to_bvh_target_skeleton(tmp_path):
    source = smpl_clip("angry_13_000.bvh")
    rest = smpl_rest_joints()
    npz = tmp_path / "run.npz"
    np.savez(npz, poses=matrix_to_axis_angle(source.rotations).reshape(source.num_frames, 72),
             trans=source.root_translation - rest[0], mocap_framerate=source.fps, betas=np.zeros(10))
    out = tmp_path / "run_on_cmu.bvh"
    done = _planted("retarget", str(npz), "--target", str(CLIPS["131_01.bvh"]), "-o", str(out))
    assert done.returncode == 0, done.stderr
    motion = read_bvh(out, units="m")
    assert motion.skeleton.names == read_bvh(CLIPS["131_01.bvh"]).skeleton.names
    pelvis = world_transforms(motion).positions[:, 0]
    travel = np.linalg.norm(pelvis[-1, [0, 2]] - pelvis[0, [0, 2]])
    src_travel = np.linalg.norm(source.root_translation[-1, [0, 2]] - source.root_translation[0, [0, 2]])
    assert travel > 1.0 and abs(travel / src_travel - 1.0) < 0.25  # the run travels, scaled by leg length


def test_user_mistakes_are_one_line_errors(tmp_path):
    done = _planted("retarget", str(CLIPS["131_01.bvh"]), "--target", "no_such_rig", "-o", str(tmp_path / "x.bvh"))
    assert done.returncode == 2 and "unknown rig" in done.stderr and "Traceback" not in done.stderr
    done = _planted("retarget", str(tmp_path / "missing.bvh"), "-o", str(tmp_path / "x.bvh"))
    assert done.returncode == 2 and "cannot read" in done.stderr and "Traceback" not in done.stderr
    bad = tmp_path / "bad.npz"
    np.savez(bad, poses=np.zeros((3, 72)))
    done = _planted("retarget", str(bad), "-o", str(tmp_path / "x.bvh"))
    assert done.returncode == 2 and "AMASS" in done.stderr and "Traceback" not in done.stderr


def test_a_zup_millimetre_file_from_pose_estimation(tmp_path):
    from tests.retarget_checks import MOCAP

    source = MOCAP / "conventions" / "video2bvh_cxk.bvh"
    out = tmp_path / "cxk_mixamo.bvh"
    done = _planted("retarget", str(source), "--target", "mixamo", "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert "units mm" in done.stdout and "up axis z" in done.stdout
    assert "contacts: detected on the source" in done.stdout
    assert "foot sliding" in done.stdout and "planted frames" in done.stdout
    motion = read_bvh(out, units="m")
    pelvis = world_transforms(motion).positions[:, motion.skeleton.index("mixamorig:Hips")]
    assert 0.7 < np.median(pelvis[:, 1]) < 1.1  # standing, metres, y up
    done = _planted("retarget", str(source), "--target", "mixamo", "-o", str(out), "--units", "m", "--up", "y",
                    "--reference-frame", "5000")
    assert done.returncode == 2 and "--reference-frame" in done.stderr and "Traceback" not in done.stderr


def test_an_unmappable_input_names_the_source_flag(tmp_path):
    bad = tmp_path / "blob.bvh"
    bad.write_text("HIERARCHY\nROOT a\n{\n OFFSET 0 0 0\n CHANNELS 6 Xposition Yposition Zposition Zrotation "
                   "Xrotation Yrotation\n JOINT b\n {\n  OFFSET 0 10 0\n  CHANNELS 3 Zrotation Xrotation Yrotation\n"
                   "  End Site\n  {\n   OFFSET 0 10 0\n  }\n }\n}\nMOTION\nFrames: 2\nFrame Time: 0.0333333\n"
                   + "0 0 0 0 0 0 0 0 0\n" * 2)
    done = _planted("retarget", str(bad), "--target", "mixamo", "-o", str(tmp_path / "x.bvh"))
    assert done.returncode == 2 and "--source-bone-map" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "x.bvh").exists()
