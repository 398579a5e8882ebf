"""Foot-contact-pinned IK on real mocap (the issue's tests 1-3) and the two-bone IK it rests on."""

import numpy as np
import pytest

from engine.motion.kinematics import world_transforms
from engine.retarget.contacts import foot_speeds, ground_levels
from engine.retarget.footlock import FootLockSettings, leg_joints, lock_feet
from engine.retarget.ik import two_bone_ik
from engine.retarget.metrics import boundary_jerk, foot_sliding_mm, penetration_mm
from engine.retarget.retarget import retarget
from engine.retarget.rigs import auto_map
from tests.test_retarget_fixtures import (
    add_estimator_noise,
    clip,
    foot_points,
    mixamo_like,
    smpl_clip,
    true_contact_probability,
    true_contacts,
)


def test_two_bone_ik_reaches_bends_towards_the_pole_and_never_overstraightens():
    rng = np.random.default_rng(7)
    n = 2000
    hip = rng.normal(size=(n, 3))
    thigh = rng.normal(size=(n, 3))
    thigh *= (0.45 / np.linalg.norm(thigh, axis=-1))[:, None]
    shin = rng.normal(size=(n, 3))
    shin *= (0.42 / np.linalg.norm(shin, axis=-1))[:, None]
    knee, ankle = hip + thigh, hip + thigh + shin
    direction = rng.normal(size=(n, 3))
    direction /= np.linalg.norm(direction, axis=-1, keepdims=True)
    distance = rng.uniform(0.1, 1.0, size=n)
    target = hip + direction * distance[:, None]
    pole = knee + rng.normal(scale=0.3, size=(n, 3))
    sol = two_bone_ik(hip, knee, ankle, target, pole, np.tile([1.0, 0, 0], (n, 1)), max_extension=0.99)
    # Bones keep their lengths.
    np.testing.assert_allclose(np.linalg.norm(sol.knee - hip, axis=-1), 0.45, atol=1e-9)
    np.testing.assert_allclose(np.linalg.norm(sol.ankle - sol.knee, axis=-1), 0.42, atol=1e-9)
    reachable = distance <= 0.87 * 0.99
    np.testing.assert_allclose(sol.ankle[reachable], target[reachable], atol=1e-7)
    # Never straighter than the limit, or than the leg already was.
    limit = np.maximum(0.87 * 0.99, np.linalg.norm(ankle - hip, axis=-1))
    assert np.all(np.linalg.norm(sol.ankle - hip, axis=-1) <= limit + 1e-9)
    # Out of reach: the ankle lies on the line to the target.
    far = ~reachable & (distance > 0.9)
    along = (sol.ankle[far] - hip[far]) / np.linalg.norm(sol.ankle[far] - hip[far], axis=-1, keepdims=True)
    np.testing.assert_allclose(along, direction[far], atol=1e-7)
    # The knee lies in the plane of hip, target and pole, on the pole's side.
    axis = direction
    knee_side = sol.knee - hip - axis * np.sum((sol.knee - hip) * axis, -1, keepdims=True)
    pole_side = pole - hip - axis * np.sum((pole - hip) * axis, -1, keepdims=True)
    cos = np.sum(knee_side * pole_side, -1) / (np.linalg.norm(knee_side, axis=-1) * np.linalg.norm(pole_side, axis=-1))
    assert np.quantile(cos[reachable & (distance < 0.8)], 0.01) > 0.999
    # World deltas reproduce the solved positions.
    np.testing.assert_allclose(hip + np.einsum("nab,nb->na", sol.hip_delta, thigh), sol.knee, atol=1e-9)
    np.testing.assert_allclose(sol.knee + np.einsum("nab,nb->na", sol.knee_delta, shin), sol.ankle, atol=1e-9)


def _locked_walk():
    target = retarget(smpl_clip("131_01.bvh"), mixamo_like())
    locked, report = lock_feet(target, contacts=true_contact_probability("131_01.bvh"))
    return target, locked, report


def test_walk_on_a_longer_legged_rig_plants_its_feet():
    # Issue test 1: CMU walk -> SMPL -> Mixamo-like rig with 15 % longer legs.
    target, locked, report = _locked_walk()
    contact = true_contacts("131_01.bvh")
    before, after = foot_points(target), foot_points(locked)
    fs_before = foot_sliding_mm(before, contact, target.fps)
    fs_after = foot_sliding_mm(after, contact, target.fps)
    assert fs_before > 3.0  # mm per 30 fps frame: feet visibly slide without pinning (WHAM-level sliding)
    assert fs_after < 1.0
    ground = ground_levels(*foot_speeds(before, target.fps))
    assert penetration_mm(after[..., 1], ground) <= 5.0
    # No worse than the capture played on this rig (the same boundaries, the same skeleton).
    assert boundary_jerk(after, contact, target.fps) <= boundary_jerk(before, contact, target.fps) * (1 + 1e-9)
    assert report.fs_after_mm < report.fs_before_mm
    assert report.pelvis_drop.max() <= FootLockSettings().max_pelvis_drop + 1e-12


@pytest.mark.parametrize("name", ["131_01.bvh", "angry_13_000.bvh"])
def test_estimator_noise_sliding_cut_tenfold_and_free_frames_kept(name):
    # Issue test 2: 1.5 cm RMS per-frame noise on joint positions, through the rotations; the contacts
    # are given as a model gives them (here: the clean capture's).
    clean = smpl_clip(name)
    noisy = add_estimator_noise(clean, 0.015, seed=1)
    rms = np.sqrt(np.mean(np.sum((world_transforms(noisy).positions - world_transforms(clean).positions) ** 2, -1)))
    assert abs(rms - 0.015) < 0.001
    locked, report = lock_feet(noisy, contacts=true_contact_probability(name))
    contact = true_contacts(name)
    fs_noisy = foot_sliding_mm(foot_points(noisy), contact, noisy.fps)
    fs_locked = foot_sliding_mm(foot_points(locked), contact, noisy.fps)
    assert fs_locked * 10 <= fs_noisy
    # Outside a foot's contacts (its pin weight 0) its leg and the pelvis stay within 2 cm of the input.
    # The floor (a free foot dipping under the ground is lifted) is a separate fix: off for this check.
    locked, report = lock_feet(noisy, contacts=true_contact_probability(name),
                               settings=FootLockSettings(keep_feet_above_ground=False))
    legs = leg_joints(noisy.skeleton, auto_map(noisy.skeleton)[0])
    moved = np.linalg.norm(world_transforms(locked).positions - world_transforms(noisy).positions, axis=-1)
    for side in range(2):
        free = (report.weight[:, 2 * side:2 * side + 2] == 0).all(axis=1)
        chain = [0, legs.hip[side], legs.knee[side], legs.ankle[side], legs.toe[side]]
        assert free.sum() > 10 and moved[free][:, chain].max() < 0.02


def test_noisy_walk_without_contacts_detects_them_itself():
    # No contacts given: found from the noisy heels' and toes' height and speed (Xia walk).
    clean = smpl_clip("neutral_01_000.bvh")
    noisy = add_estimator_noise(clean, 0.015, seed=2)
    locked, _ = lock_feet(noisy)
    contact = true_contacts("neutral_01_000.bvh")
    fs_noisy = foot_sliding_mm(foot_points(noisy), contact, noisy.fps)
    assert foot_sliding_mm(foot_points(locked), contact, noisy.fps) * 10 <= fs_noisy


@pytest.mark.parametrize("name", ["131_03.bvh", "neutral_16_000.bvh"])
def test_no_foot_is_pinned_in_the_air(name):
    # Issue test 3: hop and jump, contacts found from the motion itself.
    motion = smpl_clip(name)
    _, report = lock_feet(motion)
    points = foot_points(clip(name))  # the clean capture tells when a foot is in the air
    height = points[..., 1] - ground_levels(*foot_speeds(points, motion.fps))[None]
    for side in range(2):
        airborne = (height[:, 2 * side:2 * side + 2] > 0.05).all(axis=1)
        assert airborne.sum() > 10
        assert not report.planted[airborne, 2 * side:2 * side + 2].any()


def test_settings_turn_features_off():
    target = retarget(smpl_clip("angry_13_000.bvh"), mixamo_like())
    settings = FootLockSettings(max_pelvis_drop=0.0, contact_on=1.1, keep_feet_above_ground=False)
    locked, report = lock_feet(target, settings=settings)
    assert not report.planted.any() and report.pelvis_drop.max() == 0.0
    # Nothing planted, no floor: the motion is unchanged (up to the IK's round-off).
    np.testing.assert_allclose(world_transforms(locked).positions, world_transforms(target).positions, atol=1e-9)


def test_report_matches_forward_kinematics_of_the_locked_motion():
    target = retarget(smpl_clip("neutral_01_000.bvh"), mixamo_like())
    locked, report = lock_feet(target)
    fk = foot_points(locked)
    planted = report.planted
    assert abs(foot_sliding_mm(fk, planted, locked.fps) - report.fs_after_mm) < 1e-6


def test_level_planted_feet_rest_heel_and_toe_on_the_ground():
    target = retarget(smpl_clip("neutral_01_000.bvh"), mixamo_like())
    locked, report = lock_feet(target, contacts=true_contact_probability("neutral_01_000.bvh"),
                               settings=FootLockSettings(level_planted_feet=True))
    after = foot_points(locked)
    for side in range(2):
        flat = report.planted[:, 2 * side] & report.planted[:, 2 * side + 1]
        assert flat.sum() > 20
        for k in (2 * side, 2 * side + 1):
            reached = np.abs(after[flat, k, 1] - report.ground[k])
            assert np.median(reached) < 1e-3 and np.quantile(reached, 0.9) < 5e-3


def test_xia_run_on_a_longer_legged_rig_plants_its_feet():
    # A run's short contacts found from the motion itself: heel and toe pins come from different frames, yet
    # neither slides while the other eases on or off (FS < 1 mm during planted intervals, from FK).
    target = retarget(smpl_clip("angry_13_000.bvh"), mixamo_like())
    locked, report = lock_feet(target)
    assert report.planted.any(axis=0).all()
    fs = foot_sliding_mm(foot_points(locked), report.planted, target.fps)
    assert fs < 1.0 and report.fs_before_mm > 3.0
    assert fs < 0.05  # a rigid foot's pins hold exactly (0.17 mm when heel pins slid towards their toe's)
    assert abs(fs - report.fs_after_mm) < 1e-6
    # Boundary jerk on the clip's true contacts (given as a model would): 1.38x the capture's measured, 1.73x
    # before heel and toe pins were made a foot apart; held under 1.5x (not yet the capture's own).
    locked, _ = lock_feet(target, contacts=true_contact_probability("angry_13_000.bvh"))
    contact = true_contacts("angry_13_000.bvh")
    assert boundary_jerk(foot_points(locked), contact, target.fps) <= boundary_jerk(
        foot_points(target), contact, target.fps) * 1.5
