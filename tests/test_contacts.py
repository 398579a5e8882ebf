"""Planted intervals (hysteresis, minimum duration) and contacts from a foot's height and speed."""

import numpy as np

from engine.retarget.contacts import (
    contact_probability_from_motion,
    foot_probability,
    foot_speeds,
    ground_levels,
    hysteresis,
    planted_intervals,
    planted_mask,
    runs,
)
from tests.test_retarget_fixtures import clip, foot_points, true_contacts


def _naive_hysteresis(p, on, off):
    state, out = False, []
    for value in p:
        if value >= on:
            state = True
        elif value < off:
            state = False
        out.append(state)
    return np.array(out)


def test_hysteresis_matches_a_naive_loop():
    rng = np.random.default_rng(3)
    p = np.clip(np.cumsum(rng.normal(0, 0.15, size=(500, 3)), axis=0) % 1.0, 0, 1)
    fast = hysteresis(p, 0.6, 0.4)
    for k in range(3):
        np.testing.assert_array_equal(fast[:, k], _naive_hysteresis(p[:, k], 0.6, 0.4))


def test_intervals_need_the_on_threshold_and_a_minimum_duration():
    p = np.array([0.0, 0.5, 0.7, 0.5, 0.45, 0.3, 0.9, 0.9, 0.2, 0.65, 0.5, 0.5, 0.5, 0.5, 0.1])
    np.testing.assert_array_equal(planted_intervals(p, 0.6, 0.4), [[2, 5], [6, 8], [9, 14]])
    np.testing.assert_array_equal(planted_intervals(p, 0.6, 0.4, min_frames=3), [[2, 5], [9, 14]])
    np.testing.assert_array_equal(runs(np.zeros(4, bool)), np.zeros((0, 2)))


def test_walk_contacts_alternate_and_hop_keeps_the_raised_foot_off():
    walk = true_contacts("131_01.bvh")
    feet = foot_probability(walk.astype(float)) > 0.5
    # Walking: each foot is planted a large share of the time and nearly always one foot is (a heel
    # or toe speeding up past 0.3 m/s in the roll from heel to toe leaves short gaps).
    assert 0.3 < feet[:, 0].mean() < 0.9 and 0.3 < feet[:, 1].mean() < 0.9
    assert feet.any(axis=1).mean() > 0.8
    # Steps: each foot lands several times.
    assert len(runs(feet[:, 0])) >= 3 and len(runs(feet[:, 1])) >= 3

    hop = clip("131_03.bvh")
    points = foot_points(hop)
    heights = points[..., 1] - ground_levels(*foot_speeds(points, hop.fps))[None]
    prob = contact_probability_from_motion(points, hop.fps)
    airborne = heights > 0.1
    assert airborne.any()
    assert prob[airborne].max() < 0.1


def test_planted_mask_ignores_jitter_around_the_threshold():
    rng = np.random.default_rng(0)
    p = 0.5 + rng.normal(0, 0.05, size=(200, 1))  # never clearly on or off
    p[50:120] = 0.9
    mask = planted_mask(p, 0.6, 0.4, min_frames=5)
    assert runs(mask[:, 0]).shape[0] == 1


def _one_camera_feet(frames: int, fps: float):
    """Foot points (T, 4, 3) in a camera frame (y down, floor 1.5 m below the camera, 4 m away): the left foot
    stands still in the image while its fitted depth drifts along its ray (so its fitted height changes), the
    right foot is held 30 cm up and rises slowly."""
    from engine.fit.camera import Camera

    camera = Camera.monocular(1280, 720, 1000.0)
    t = np.arange(frames) / fps
    on_floor = np.array([[-0.1, 1.5, 4.0], [-0.1, 1.5, 4.2]])  # left heel, toe
    drift = (1.0 - 0.1 * np.sin(2 * np.pi * t))[:, None, None]  # up to 10 % nearer along the ray: 15 cm up
    left = on_floor[None] * drift
    right = np.array([[0.15, 1.2, 4.0], [0.15, 1.2, 4.2]])[None] - np.array([0, 0.1, 0]) * t[:, None, None]
    return np.concatenate([left, right], axis=1), camera


def test_one_camera_counts_the_still_lowest_foot_as_carrying_the_body():
    from engine.fit.contacts import image_plane_speeds, support_probability

    fps = 30.0
    feet, camera = _one_camera_feet(60, fps)
    speeds = image_plane_speeds(feet, camera, fps)
    support = foot_probability(support_probability(feet, camera, speeds, fps))
    assert (support[:, 0] > 0.9).all()  # the standing foot, however high the fit drifted it
    assert (support[:, 1] == 0).all()  # the raised foot shows higher in the image
    heights = -feet[..., 1]
    assert (heights[:, :2].max(axis=0) - heights[:, :2].min(axis=0) > 0.1).all()  # the height alone would not tell


def test_a_moment_of_stillness_is_not_support():
    """A jump's apex: the feet are still across the image for a tenth of a second, moving fast otherwise."""
    from engine.fit.contacts import image_plane_speeds, support_probability

    fps = 30.0
    feet, camera = _one_camera_feet(60, fps)
    sideways = np.zeros((60, 1, 3))
    sideways[:, 0, 0] = np.cumsum(np.where(np.abs(np.arange(60) - 30) <= 1, 0.0, 1.5 / fps))  # 1.5 m/s but 3 frames
    moving = feet + sideways
    support = support_probability(moving, camera, image_plane_speeds(moving, camera, fps), fps)
    assert (support == 0).all()
    longer = foot_probability(support_probability(moving, camera, np.zeros((60, 4)), fps))  # still all the clip
    assert (longer[:, 0] > 0.9).all() and (longer[:, 1] == 0).all()
