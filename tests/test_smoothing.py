"""Temporal filtering: sign-continuous quaternions, zero-phase One-Euro, one strength, segments; gaps."""

from __future__ import annotations

import numpy as np

from engine.capture.gaps import classify_gaps, fill_linear, fill_rotations
from engine.capture.smoothing import (
    OneEuroSettings,
    one_euro_forward,
    one_euro_zero_phase,
    runs_of,
    smooth_rotations,
    smooth_segments,
)
from engine.rotations import axis_angle_to_matrix, matrix_to_quaternion, sign_continuous

FPS = 30.0


def angle_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Geodesic angle (radians) between rotation matrices (..., 3, 3)."""
    cos = (np.trace(np.swapaxes(a, -1, -2) @ b, axis1=-2, axis2=-1) - 1) / 2
    return np.arccos(np.clip(cos, -1, 1))


def noisy_swing(frames: int = 150, joints: int = 3, noise_rad: float = 0.05, seed: int = 0):
    rng = np.random.default_rng(seed)
    t = np.arange(frames) / FPS
    clean_aa = np.zeros((frames, joints, 3))
    clean_aa[..., 1] = 1.2 * np.sin(2 * np.pi * 0.5 * t)[:, None]  # a 0.5 Hz swing of +-69 degrees
    clean = axis_angle_to_matrix(clean_aa)
    noisy = clean @ axis_angle_to_matrix(rng.normal(0, noise_rad, (frames, joints, 3)))
    return clean, noisy


def test_smoothing_removes_jitter_and_keeps_the_motion():
    clean, noisy = noisy_swing()
    smoothed = smooth_rotations(noisy, FPS, strength=1.0)
    before = angle_between(noisy, clean).mean()
    after = angle_between(smoothed, clean).mean()
    assert after < 0.5 * before
    assert np.allclose(smoothed @ np.swapaxes(smoothed, -1, -2), np.eye(3), atol=1e-9)


def test_one_strength_orders_the_result():
    clean, noisy = noisy_swing()
    jitter = [np.abs(np.diff(matrix_to_quaternion(smooth_rotations(noisy, FPS, s)), axis=0)).mean()
              for s in (0.0, 0.5, 1.0, 3.0)]
    assert jitter[0] > jitter[1] > jitter[2] > jitter[3]
    assert np.allclose(smooth_rotations(noisy, FPS, 0.0), noisy)


def test_quaternion_sign_flips_do_not_break_the_filter():
    clean, _ = noisy_swing(noise_rad=0.0)
    q = matrix_to_quaternion(clean)
    flipped = q * np.where(np.arange(len(q)) % 2 == 0, 1, -1)[:, None, None]
    continuous = sign_continuous(flipped)
    assert (np.sum(continuous[1:] * continuous[:-1], axis=-1) > 0).all()
    smoothed = smooth_rotations(clean, FPS, 1.0)
    assert angle_between(smoothed, clean).max() < 0.1


def test_zero_phase_has_no_lag_on_a_ramp():
    ramp = np.linspace(0, 3, 90)[:, None]
    causal = one_euro_forward(ramp, FPS, OneEuroSettings.from_strength(1.0))
    centred = one_euro_zero_phase(ramp, FPS, 1.0)
    middle = slice(30, 60)
    assert np.abs(centred[middle] - ramp[middle]).max() < 0.2 * np.abs(causal[middle] - ramp[middle]).max()


def test_fast_moves_are_cut_less_than_slow_jitter():
    # One-Euro's point: the cutoff rises with speed, so a quick step keeps its timing.
    step = np.where(np.arange(60) < 30, 0.0, 1.0)[:, None]
    smoothed = one_euro_zero_phase(step, FPS, 1.0)
    assert smoothed[25, 0] < 0.2 and smoothed[35, 0] > 0.8


def test_segments_are_filtered_apart():
    values = np.concatenate([np.zeros(20), np.full(20, 100.0), np.ones(20)])[:, None]
    valid = np.ones(60, bool)
    valid[20:40] = False
    out = smooth_segments(values, valid, one_euro_zero_phase, FPS, 2.0)
    assert np.allclose(out[:20], 0.0) and np.allclose(out[40:], 1.0) and np.allclose(out[20:40], 100.0)
    assert runs_of(valid) == [(0, 20), (40, 60)]


def test_short_gaps_interpolated_long_gaps_missing():
    observed = np.ones(30, bool)
    observed[5:8] = False  # 3 frames
    observed[15:25] = False  # 10 frames
    observed[:2] = False  # before the first sight: nothing to interpolate from
    masks = classify_gaps(observed, max_gap_frames=4)
    assert masks.interpolated[5:8].all() and not masks.interpolated[15:25].any()
    assert masks.missing[15:25].all() and masks.missing[:2].all()
    assert not (masks.interpolated & masks.missing).any()
    values = np.arange(30, dtype=float)[:, None] * 2
    filled = fill_linear(np.where(observed[:, None], values, -1.0), masks)
    assert np.allclose(filled[5:8, 0], values[5:8, 0])  # a line is interpolated exactly
    assert np.allclose(filled[15:20, 0], values[14, 0]) and np.allclose(filled[20:25, 0], values[25, 0])


def test_rotation_gaps_are_slerped():
    angles = np.linspace(0, 1.0, 11)
    rots = axis_angle_to_matrix(np.stack([np.zeros(11), angles, np.zeros(11)], axis=1))[:, None]
    observed = np.ones(11, bool)
    observed[3:8] = False
    garbage = rots.copy()
    garbage[3:8] = np.eye(3)
    filled = fill_rotations(garbage, classify_gaps(observed, 5))
    assert angle_between(filled, rots).max() < 1e-9
