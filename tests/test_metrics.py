"""training.metrics against hand-computed values on constructed examples."""

from __future__ import annotations

import math

import numpy as np
import pytest

from training import metrics


def _rotation(axis, angle):
    axis = np.asarray(axis, float) / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + math.sin(angle) * k + (1 - math.cos(angle)) * k @ k


@pytest.fixture()
def skeletons():
    return np.random.default_rng(0).normal(0.0, 0.3, (5, 24, 3))


def test_pa_mpjpe_of_rotated_scaled_shifted_copy_is_zero(skeletons):
    moved = 1.7 * skeletons @ _rotation([1, 2, 3], 1.1).T + np.array([0.4, -2.0, 5.0])
    assert metrics.pa_mpjpe(moved, skeletons) == pytest.approx(np.zeros(5), abs=1e-9)
    # MPJPE sees the rotation and scale (not the shift)
    assert (metrics.mpjpe(moved, skeletons) > 50).all()
    # a mirror image is not a rotation: Procrustes without reflections cannot undo it
    assert (metrics.pa_mpjpe(skeletons * np.array([-1, 1, 1]), skeletons) > 10).all()


def test_known_offset_gives_known_mpjpe(skeletons):
    moved = skeletons.copy()
    moved[:, 5] += np.array([0.03, 0.04, 0.0])  # one joint of 24 off by 5 cm, the root unmoved
    assert metrics.mpjpe(moved, skeletons, root_ids=(0,)) == pytest.approx(np.full(5, 50.0 / 24))
    # a global shift costs nothing after root alignment
    assert metrics.mpjpe(skeletons + 3.0, skeletons) == pytest.approx(np.zeros(5), abs=1e-9)
    mask = np.zeros((5, 24), bool)
    mask[:, 5] = True
    assert metrics.mpjpe(moved, skeletons, mask=mask) == pytest.approx(np.full(5, 50.0))
    assert metrics.subset_mpjpe(moved, skeletons, [5, 6], (0,)) == pytest.approx(np.full(5, 25.0))


def test_pve_aligns_roots():
    verts = np.zeros((1, 4, 3))
    moved = verts + 1.0
    moved[0, 2, 1] += 0.008
    assert metrics.pve(moved, verts, np.ones((1, 3)), np.zeros((1, 3)))[0] == pytest.approx(2.0)


def test_contact_confusion_gives_known_scores():
    true = np.array([[1, 1, 1, 0], [0, 0, 1, 1]])
    prob = np.array([[0.9, 0.6, 0.1, 0.7], [0.2, 0.4, 0.5, 0.3]])
    # tp: (0,0) (0,1) (1,2) = 3; fp: (0,3) = 1; fn: (0,2) (1,3) = 2
    scores = metrics.contact_scores(prob, true)
    assert (scores.true_positives, scores.false_positives, scores.false_negatives) == (3, 1, 2)
    assert scores.precision == pytest.approx(0.75) and scores.recall == pytest.approx(0.6)
    assert scores.f1 == pytest.approx(2 * 0.75 * 0.6 / 1.35)
    # a sample without labels does not count
    masked = metrics.contact_scores(prob, true, labelled=np.array([[True], [False]]))
    assert (masked.precision, masked.recall) == (pytest.approx(2 / 3), pytest.approx(2 / 3))
    assert metrics.contact_scores(np.zeros((1, 3)), np.ones((1, 3))).f1 == 0.0


def test_foot_sliding_of_known_drift():
    frames = 10
    points = np.zeros((frames, 2, 3))
    points[:, 0, 0] = 0.002 * np.arange(frames)  # foot 0 drifts 2 mm a frame
    points[:, 1, 2] = 0.05 * np.arange(frames)  # foot 1 swings 50 mm a frame
    contact = np.zeros((frames, 2))
    contact[:, 0] = 1.0  # only foot 0 is planted: its drift is the sliding
    assert metrics.foot_sliding(points, contact) == pytest.approx(2.0)
    contact[5:, 1] = 1.0  # foot 1 planted from frame 5: 4 pairs at 50 mm, 9 at 2 mm
    assert metrics.foot_sliding(points, contact) == pytest.approx((9 * 2.0 + 4 * 50.0) / 13)
    assert math.isnan(metrics.foot_sliding(points, np.zeros((frames, 2))))


def test_acceleration_error():
    frames = np.arange(6, dtype=float)
    true = np.zeros((6, 2, 3))
    pred = true.copy()
    pred[:, 1, 0] = 0.001 * frames ** 2  # second difference 2 mm / frame^2 on one of two joints
    assert metrics.acceleration_error(pred, true) == pytest.approx(1.0)
    # constant velocity has no acceleration
    pred[:, 1, 0] = 0.01 * frames
    assert metrics.acceleration_error(pred, true) == pytest.approx(0.0, abs=1e-9)


def test_pck_and_view_error():
    true = np.zeros((2, 3, 2))
    pred = true.copy()
    pred[0, 0] = [0.15, 0.0]  # within 0.2 x torso 1
    pred[0, 1] = [0.25, 0.0]  # outside
    labelled = np.array([[True, True, False], [True, True, True]])
    torso = np.array([1.0, np.nan])  # the second sample cannot be scored
    assert metrics.pck(pred, true, torso, labelled) == pytest.approx(0.5)
    assert metrics.view_error(pred[:1], true[:1], labelled[:1]) == pytest.approx(0.2)
