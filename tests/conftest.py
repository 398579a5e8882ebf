"""Fixtures shared by several test modules (imported lazily: the Blender ones need bpy, which only the Blender
tests' interpreters have)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def rigify_file(tmp_path_factory):
    """A real Rigify rig, generated once per test module by Blender's bundled Rigify add-on."""
    from tests.blender_support import generate_rigify_rig

    return generate_rigify_rig(tmp_path_factory.mktemp("rigify") / "rigify_rig.blend")


@pytest.fixture(scope="module")
def smpl_walk():
    """CMU walk 131_01 (994 frames at 120 fps: start, walk, stop) retargeted by the engine onto the active body
    model's SMPL skeleton."""
    from engine.motion.bvh import read_bvh
    from engine.retarget.retarget import retarget
    from engine.retarget.rigs import smpl_rest_joints, smpl_skeleton
    from tests.blender_support import CMU_WALK

    return retarget(read_bvh(CMU_WALK), smpl_skeleton(smpl_rest_joints()))

