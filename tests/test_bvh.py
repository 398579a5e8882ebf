"""BVH reader/writer on the real CMU and Xia clips, and on hand-written files for the odd cases."""

import numpy as np
import pytest

from engine.errors import MotionFileError
from engine.motion.bvh import UNIT_SCALES, read_bvh, write_bvh
from engine.motion.kinematics import forward_kinematics, local_from_world, world_transforms
from engine.motion.motion import Motion
from engine.rotations import euler_to_matrix
from tests.test_retarget_fixtures import CLIPS, mixamo_like, smpl_clip


@pytest.mark.parametrize("name", sorted(CLIPS))
def test_real_clips_round_trip_exactly(name, tmp_path):
    motion = read_bvh(CLIPS[name])
    assert motion.fps == 120.0 and motion.skeleton.num_joints == 31
    write_bvh(motion, tmp_path / "out.bvh")
    again = read_bvh(tmp_path / "out.bvh")
    assert again.skeleton.names == motion.skeleton.names
    np.testing.assert_array_equal(again.skeleton.parents, motion.skeleton.parents)
    np.testing.assert_allclose(again.skeleton.offsets, motion.skeleton.offsets, atol=1e-6)
    ends = np.linalg.norm(motion.skeleton.end_offsets, axis=1) > 0
    np.testing.assert_allclose(again.skeleton.end_offsets[ends], motion.skeleton.end_offsets[ends], atol=1e-6)
    # Zero-length End Sites (Blender drops them with a warning) are written as a continuation of the bone.
    leaves = ~np.isin(np.arange(again.skeleton.num_joints), again.skeleton.parents)
    assert np.all(np.linalg.norm(again.skeleton.end_offsets[leaves & ~ends], axis=1) >= 0.02 - 1e-9)
    np.testing.assert_allclose(again.rotations, motion.rotations, atol=1e-6)
    np.testing.assert_allclose(again.root_translation, motion.root_translation, atol=1e-6)
    assert not list(tmp_path.glob(".*tmp")), "the temporary file of the atomic write was left behind"


def test_cmu_units_detected_and_subject_is_human_sized():
    motion = read_bvh(CLIPS["131_01.bvh"])
    explicit = read_bvh(CLIPS["131_01.bvh"], units="cmu")
    np.testing.assert_allclose(motion.root_translation, explicit.root_translation)
    hips_height = np.median(motion.root_translation[:, 1])
    assert 0.8 < hips_height < 1.05  # metres, a standing adult's hips
    scaled = read_bvh(CLIPS["131_01.bvh"], scale=0.01)
    np.testing.assert_allclose(scaled.root_translation * UNIT_SCALES["cmu"] / 0.01, motion.root_translation)


def test_mixed_channel_orders_match_the_euler_convention():
    # 131_01's arms are "Zrotation Xrotation Yrotation", its legs "Zrotation Yrotation Xrotation".
    text = CLIPS["131_01.bvh"].read_text()
    motion = read_bvh(CLIPS["131_01.bvh"])
    first = np.array(text.split("Frame Time:")[1].split("\n")[1].split(), dtype=float)
    elbow = motion.skeleton.index("LeftElbow")
    # Column of LeftElbow's channels: count channels before it in file order.
    counts = [6] + [3] * 30
    col = sum(counts[:elbow])
    expected = euler_to_matrix(np.deg2rad(first[col:col + 3]), "ZXY")
    np.testing.assert_allclose(motion.rotations[0, elbow], expected, atol=1e-12)


BANDAI_STYLE = """HIERARCHY
ROOT Hips
{
  OFFSET 0 90 0
  CHANNELS 6 Xposition Yposition Zposition Yrotation Xrotation Zrotation
  JOINT Spine
  {
    OFFSET 0 10 0
    CHANNELS 6 Xposition Yposition Zposition Yrotation Xrotation Zrotation
    End Site
    {
      OFFSET 0 30 0
    }
  }
  JOINT LeftUpLeg
  {
    OFFSET 10 -5 0
    CHANNELS 6 Xposition Yposition Zposition Xrotation Zrotation Yrotation
    End Site
    {
      OFFSET 0 -80 0
    }
  }
}
MOTION
Frames: 2
Frame Time: 0.0333333
1 90 2 10 20 30 0 10 0 5 0 0 10 -5 0 -30 0 15
1.5 91 2 11 21 31 0 10 0 6 0 0 10 -5 0 -31 0 16
"""


def test_six_channels_on_every_joint_and_end_sites(tmp_path):
    path = tmp_path / "bandai.bvh"
    path.write_text(BANDAI_STYLE)
    motion = read_bvh(path, units="cm")
    assert motion.fps == 30.0
    np.testing.assert_allclose(motion.root_translation[1], [0.015, 0.91, 0.02])
    np.testing.assert_allclose(motion.skeleton.offsets[2], [0.1, -0.05, 0.0])
    np.testing.assert_allclose(motion.skeleton.end_offsets[2], [0.0, -0.8, 0.0])
    expected = euler_to_matrix(np.deg2rad([-30.0, 0.0, 15.0]), "XZY")
    np.testing.assert_allclose(motion.rotations[0, 2], expected, atol=1e-12)
    write_bvh(motion, tmp_path / "out.bvh", units="cm", rotation_order="YXZ")
    again = read_bvh(tmp_path / "out.bvh", units="cm")
    np.testing.assert_allclose(again.rotations, motion.rotations, atol=1e-6)


def test_truncated_and_malformed_files_raise_clear_errors(tmp_path):
    bad = tmp_path / "short.bvh"
    bad.write_text(BANDAI_STYLE.replace("Frames: 2", "Frames: 3"))
    with pytest.raises(MotionFileError, match="truncated"):
        read_bvh(bad)
    bad.write_text("HIERARCHY\nROOT Hips\n{\n OFFSET 0 0 0\n CHANNELS 3 Xrotation Yrotation Wrotation\n}\nMOTION\n")
    with pytest.raises(MotionFileError, match="unknown channel"):
        read_bvh(bad)
    with pytest.raises(MotionFileError, match="cannot read"):
        read_bvh(tmp_path / "missing.bvh")
    with pytest.raises(MotionFileError, match="does not exist"):
        write_bvh(read_bvh(CLIPS["angry_13_000.bvh"]), tmp_path / "no" / "such" / "dir.bvh")


def test_rig_with_rest_orientations_is_written_world_aligned(tmp_path):
    # A Blender-like rig (non-identity rest rotations) must keep its world pose through BVH.
    target = mixamo_like()
    source = smpl_clip("angry_13_000.bvh")
    from engine.retarget.retarget import retarget

    motion = retarget(source, target)
    write_bvh(motion, tmp_path / "rig.bvh")
    again = read_bvh(tmp_path / "rig.bvh", units="m")
    order = [again.skeleton.index(n) for n in motion.skeleton.names]  # BVH lists joints depth first
    np.testing.assert_allclose(world_transforms(again).positions[:, order], world_transforms(motion).positions,
                               atol=1e-6)


def test_local_from_world_inverts_forward_kinematics():
    motion = read_bvh(CLIPS["neutral_16_000.bvh"])
    world = world_transforms(motion)
    again = local_from_world(motion.skeleton, world.rotations)
    np.testing.assert_allclose(again, motion.rotations, atol=1e-10)
    fk = forward_kinematics(motion.skeleton, again, motion.root_translation)
    np.testing.assert_allclose(fk.positions, world.positions, atol=1e-10)
    assert isinstance(motion, Motion)
