"""Temporal filtering of per-frame estimates: rotations, root path, and anything else per frame.

One strength setting drives everything: 0 turns filtering off, 1 is the default, larger is smoother.
The filter is the One-Euro filter (Casiez et al., CHI 2012): a low-pass whose cutoff rises with the
signal's speed, so still poses lose their jitter while fast moves keep their timing. The clip is
known in full, so it runs forward and backward and the two passes are averaged: the lag of one pass
cancels the other's.

Rotations are filtered as unit quaternions made sign-continuous over time (q and -q are the same
rotation; flipping to the hemisphere of the previous frame removes the jumps), then renormalised.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.rotations import matrix_to_quaternion, quaternion_to_matrix, sign_continuous

# At strength 1: a 1.2 Hz cutoff at rest, rising by 0.8 Hz per unit of speed (units/s).
_MIN_CUTOFF_HZ = 1.2
_SPEED_COEFFICIENT = 0.8
_DERIVATIVE_CUTOFF_HZ = 1.0


@dataclass(frozen=True)
class OneEuroSettings:
    """min_cutoff_hz: cutoff of a still signal; beta: cutoff gain per unit/s; d_cutoff_hz: speed's own."""

    min_cutoff_hz: float
    beta: float
    d_cutoff_hz: float = _DERIVATIVE_CUTOFF_HZ

    @classmethod
    def from_strength(cls, strength: float) -> "OneEuroSettings":
        """strength > 0: both the rest cutoff and the speed gain fall as 1 / strength."""
        if not strength > 0:
            raise ValueError(f"smoothing strength must be > 0 here, got {strength}")
        return cls(min_cutoff_hz=_MIN_CUTOFF_HZ / strength, beta=_SPEED_COEFFICIENT / strength)


def _alpha(cutoff_hz: np.ndarray | float, fps: float) -> np.ndarray:
    tau = 1.0 / (2 * np.pi * np.asarray(cutoff_hz))
    return 1.0 / (1.0 + tau * fps)


def one_euro_forward(signal: np.ndarray, fps: float, settings: OneEuroSettings) -> np.ndarray:
    """Causal One-Euro filter along axis 0: (T, ...) -> (T, ...), every channel at once."""
    x = np.asarray(signal, dtype=np.float64)
    out = np.empty_like(x)
    if len(x) == 0:
        return out
    out[0] = x[0]
    speed = np.zeros_like(x[0])
    alpha_d = _alpha(settings.d_cutoff_hz, fps)
    # The recursion is inherently sequential in time; each step is vectorised over channels.
    for t in range(1, len(x)):
        raw_speed = (x[t] - out[t - 1]) * fps
        speed = speed + alpha_d * (raw_speed - speed)
        alpha = _alpha(settings.min_cutoff_hz + settings.beta * np.abs(speed), fps)
        out[t] = out[t - 1] + alpha * (x[t] - out[t - 1])
    return out


def one_euro_zero_phase(signal: np.ndarray, fps: float, strength: float) -> np.ndarray:
    """Forward and backward One-Euro passes averaged: (T, ...) -> (T, ...); strength 0 returns a copy."""
    x = np.asarray(signal, dtype=np.float64)
    if strength <= 0 or len(x) < 3:
        return x.copy()
    settings = OneEuroSettings.from_strength(strength)
    forward = one_euro_forward(x, fps, settings)
    backward = one_euro_forward(x[::-1], fps, settings)[::-1]
    return (forward + backward) / 2


def smooth_rotations(rotations: np.ndarray, fps: float, strength: float) -> np.ndarray:
    """(T, J, 3, 3) rotation matrices -> filtered (T, J, 3, 3), via sign-continuous quaternions."""
    if strength <= 0 or len(rotations) < 3:
        return np.array(rotations, dtype=np.float64)
    q = sign_continuous(matrix_to_quaternion(rotations))
    filtered = one_euro_zero_phase(q, fps, strength)
    return quaternion_to_matrix(filtered / np.linalg.norm(filtered, axis=-1, keepdims=True))


def runs_of(mask: np.ndarray) -> list[tuple[int, int]]:
    """(T,) bool -> [(start, end)) of each run of True."""
    m = np.concatenate([[False], np.asarray(mask, dtype=bool), [False]])
    edges = np.flatnonzero(np.diff(m.astype(np.int8)))
    return list(zip(edges[0::2].tolist(), edges[1::2].tolist(), strict=True))


def smooth_segments(values: np.ndarray, valid: np.ndarray, smoother, *args) -> np.ndarray:
    """Apply `smoother(values[run], *args)` on each run of valid frames; other frames are left as they are.

    A filter must not carry a pose across a stretch where the person was not seen.
    """
    out = np.array(values, dtype=np.float64)
    for start, end in runs_of(valid):
        out[start:end] = smoother(out[start:end], *args)
    return out
