"""Levenberg-Marquardt over all frames of a window at once, on the normal equations' banded structure.

Per-frame rows make the normal matrix block-diagonal (P x P blocks, one per frame); temporal rows couple a
frame with its neighbours up to two frames away. Taking frames in pairs makes H block-tridiagonal (2P x 2P
blocks), which a block Cholesky factors in one pass along the window: its cost grows linearly with the
number of frames, each step a few dense BLAS calls. The window's shape (B betas) couples every frame: it is
eliminated by the Schur complement (the frame part solved for B + 1 right-hand sides at once).

The step solves (H + lambda diag(H)) d = -g. A step that lowers the cost is kept and lambda follows the gain
ratio rho (the actual decrease over the one the quadratic model predicts): lambda *= max(1/3, 1 - (2 rho - 1)^3);
one that does not is retried with lambda *= nu, nu doubling each time (Nielsen's update, as in Madsen, Nielsen
and Tingleff, "Methods for non-linear least squares problems", 2004). Marquardt's fixed factors (x4 on a
failure, /3 on a success) rejected about every second step on real clips, each rejection costing a full
evaluation of the window.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.linalg.blas import dtrsm
from scipy.linalg.lapack import dpotrf

from engine.fit.state import FrameBlock, JointTemporalBlock, State, TemporalBlock, block_cost

log = logging.getLogger(__name__)
_MAX_OFFSET = 2


@dataclass
class NormalEquations:
    """H and g of a T-frame window with P parameters a frame and B shape parameters.

    diag (T, P, P); upper[d - 1] (T - d, P, P) the blocks between frames t and t + d; frame_shape (T, P, B);
    shape (B, B); g_frames (T, P); g_shape (B,).
    """

    diag: np.ndarray
    upper: list[np.ndarray]
    frame_shape: np.ndarray
    shape: np.ndarray
    g_frames: np.ndarray
    g_shape: np.ndarray

    @classmethod
    def zeros(cls, frames: int, params: int, betas: int) -> "NormalEquations":
        return cls(np.zeros((frames, params, params)),
                   [np.zeros((max(frames - d, 0), params, params)) for d in range(1, _MAX_OFFSET + 1)],
                   np.zeros((frames, params, betas)), np.zeros((betas, betas)), np.zeros((frames, params)),
                   np.zeros(betas))

    def add_frames(self, block: FrameBlock) -> None:
        j, r = block.jacobian, block.residuals
        jt = np.swapaxes(j, 1, 2)
        self.diag += jt @ j
        self.g_frames += (jt @ r[..., None])[..., 0]
        if block.shape_jacobian is not None:
            b = block.shape_jacobian
            self.frame_shape += jt @ b
            flat = b.reshape(-1, b.shape[-1])
            self.shape += flat.T @ flat
            self.g_shape += flat.T @ r.reshape(-1)

    def add_temporal(self, block: TemporalBlock) -> None:
        t = len(self.diag)
        # A block's centres are distinct frames, so each offset's rows touch each frame once: plain
        # fancy-index adds are safe (and far faster than np.add.at).
        for o1, j1 in block.jacobians.items():
            frames1 = block.centres + o1
            j1t = np.swapaxes(j1, 1, 2)
            self.g_frames[frames1] += (j1t @ block.residuals[..., None])[..., 0]
            for o2, j2 in block.jacobians.items():
                if o2 < o1:
                    continue
                product = j1t @ j2
                if o2 == o1:
                    self.diag[frames1] += product
                else:
                    ok = (frames1 >= 0) & (frames1 + (o2 - o1) < t)
                    self.upper[o2 - o1 - 1][frames1[ok]] += product[ok]

    def add_joint_temporal(self, block: JointTemporalBlock) -> None:
        """Per-joint temporal rows: each joint's 3 x 3 products land on that joint's diagonal block."""
        f = block.residuals.shape[1]
        rows = 3 * np.arange(f)[:, None, None] + np.arange(3)[None, :, None]  # (F, 3, 1)
        cols = 3 * np.arange(f)[:, None, None] + np.arange(3)[None, None, :]  # (F, 1, 3)
        rows, cols = np.broadcast_arrays(rows, cols)
        flat_g = (3 * np.arange(f)[:, None] + np.arange(3)[None, :]).ravel()
        for o1, j1 in block.jacobians.items():
            frames1 = block.centres + o1
            j1t = np.swapaxes(j1, -1, -2)  # (N, F, 3c, 3r)
            self.g_frames[frames1[:, None], flat_g[None, :]] += (j1t @ block.residuals[..., None])[..., 0].reshape(
                len(frames1), -1)
            for o2, j2 in block.jacobians.items():
                if o2 < o1:
                    continue
                product = j1t @ j2  # (N, F, 3, 3)
                target = self.diag if o2 == o1 else self.upper[o2 - o1 - 1]
                target[frames1[:, None, None, None], rows[None], cols[None]] += product

    def add(self, block) -> None:
        if isinstance(block, FrameBlock):
            self.add_frames(block)
        elif isinstance(block, JointTemporalBlock):
            self.add_joint_temporal(block)
        else:
            self.add_temporal(block)

    def add_shape_prior(self, betas: np.ndarray, weight: float) -> float:
        """The prior weight * |betas|^2 / 2 on the shape; returns its cost."""
        self.shape += weight * np.eye(len(betas))
        self.g_shape += weight * betas
        return 0.5 * weight * float(betas @ betas)

    def solve(self, damping: float, solve_shape: bool, held: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The damped step: (T, P) frame parameter changes and (B,) shape changes. held (P,) bool: parameters
        that stay as they are (their rows and columns of H are replaced by the identity, g by 0)."""
        t, p = self.g_frames.shape
        diag = self.diag.copy()
        upper = self.upper
        g = self.g_frames
        frame_shape = self.frame_shape
        if held is not None and held.any():
            keep = (~held).astype(np.float64)
            outer = keep[:, None] * keep[None, :]
            diag = diag * outer + np.diag(held.astype(np.float64))
            upper = [u * outer for u in upper]
            g = g * keep
            frame_shape = frame_shape * keep[:, None]
        idx = np.arange(p)
        diag[:, idx, idx] += damping * np.maximum(np.einsum("tii->ti", diag), 1e-9) + 1e-9
        blocks, couplings = _pair_frames(diag, upper)
        rhs = g[..., None]
        if solve_shape:
            rhs = np.concatenate([rhs, frame_shape], axis=2)
        rhs = _pair_rhs(rhs)
        sol = block_tridiagonal_solve(blocks, couplings, rhs).reshape(-1, rhs.shape[-1])[:t * p]
        if not solve_shape:
            return -sol[:, 0].reshape(t, p), np.zeros(len(self.g_shape))
        c = frame_shape.reshape(t * p, -1)
        a_inv_g, a_inv_c = sol[:, 0], sol[:, 1:]
        schur = self.shape + damping * np.diag(np.maximum(np.diag(self.shape), 1e-9)) - c.T @ a_inv_c
        d_shape = -np.linalg.solve(schur, self.g_shape - c.T @ a_inv_g)
        d_frames = -(a_inv_g + a_inv_c @ d_shape)
        return d_frames.reshape(t, p), d_shape

    def predicted_decrease(self, d_frames: np.ndarray, d_shape: np.ndarray) -> float:
        """-(g.d + d.H.d / 2): the cost decrease the quadratic model predicts for the step (d_frames, d_shape)."""
        hd = np.einsum("tij,tj->ti", self.diag, d_frames) + self.frame_shape @ d_shape
        for offset, upper in enumerate(self.upper, start=1):
            if len(upper):
                hd[:-offset] += np.einsum("tij,tj->ti", upper, d_frames[offset:])
                hd[offset:] += np.einsum("tji,tj->ti", upper, d_frames[:-offset])
        hd_shape = np.einsum("tpb,tp->b", self.frame_shape, d_frames) + self.shape @ d_shape
        gd = float(np.sum(self.g_frames * d_frames) + self.g_shape @ d_shape)
        dhd = float(np.sum(d_frames * hd) + d_shape @ hd_shape)
        return -(gd + 0.5 * dhd)


def _pair_frames(diag: np.ndarray, upper: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Frames (diag (T, P, P), upper[0] (T-1, ...), upper[1] (T-2, ...)) as pairs: block-tridiagonal
    diagonal (n, 2P, 2P) and super-diagonal (n - 1, 2P, 2P) blocks; an odd T gets an identity frame."""
    t, p, _ = diag.shape
    n = (t + 1) // 2
    full = np.zeros((2 * n, p, p))
    full[:t] = diag
    full[t:] = np.eye(p)
    off1 = np.zeros((2 * n, p, p))
    off1[:t - 1] = upper[0]
    off2 = np.zeros((2 * n, p, p))
    off2[:max(t - 2, 0)] = upper[1]
    blocks = np.zeros((n, 2 * p, 2 * p))
    blocks[:, :p, :p], blocks[:, p:, p:] = full[0::2], full[1::2]
    blocks[:, :p, p:] = off1[0::2]
    blocks[:, p:, :p] = np.swapaxes(off1[0::2], 1, 2)
    couplings = np.zeros((max(n - 1, 0), 2 * p, 2 * p))
    couplings[:, :p, :p] = off2[0:2 * n - 2:2]  # frame 2i -> 2i + 2
    couplings[:, p:, :p] = off1[1:2 * n - 2:2]  # frame 2i + 1 -> 2i + 2
    couplings[:, p:, p:] = off2[1:2 * n - 2:2]  # frame 2i + 1 -> 2i + 3
    return blocks, couplings


def _pair_rhs(rhs: np.ndarray) -> np.ndarray:
    """(T, P, K) -> (n, 2P, K), zero-padded to an even number of frames."""
    t, p, k = rhs.shape
    n = (t + 1) // 2
    padded = np.zeros((2 * n, p, k))
    padded[:t] = rhs
    return padded.reshape(n, 2 * p, k)


def block_tridiagonal_solve(diag: np.ndarray, upper: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Solve A x = rhs for symmetric positive definite block-tridiagonal A.

    diag (n, m, m) the diagonal blocks, upper (n - 1, m, m) the blocks above them (A[i, i + 1]), rhs (n, m, k).
    Block Cholesky A = L L^T: L_i L_i^T = D_i - W_i^T W_i with W_i = L_{i-1}^-1 U_{i-1}, then forward and
    back substitution.
    """
    n = len(diag)
    factors, couplings, y = [], [], []
    for i in range(n):
        d = diag[i]
        r = rhs[i]
        if i > 0:
            w = _lower_solve(factors[-1], upper[i - 1])
            couplings.append(w)
            d = d - w.T @ w
            r = r - w.T @ y[-1]
        factor, info = dpotrf(d, lower=1, clean=1, overwrite_a=0)
        if info != 0:
            raise np.linalg.LinAlgError(f"the normal matrix is not positive definite (block {i}, LAPACK info {info})")
        factors.append(factor)
        y.append(_lower_solve(factor, r))
    x = [None] * n
    x[-1] = _lower_solve(factors[-1], y[-1], transpose=True)
    for i in range(n - 2, -1, -1):
        x[i] = _lower_solve(factors[i], y[i] - couplings[i] @ x[i + 1], transpose=True)
    return np.stack(x)


def _lower_solve(lower: np.ndarray, b: np.ndarray, transpose: bool = False) -> np.ndarray:
    """L^-1 b (or L^-T b) for lower-triangular L, straight through BLAS's triangular solve."""
    return dtrsm(1.0, lower, b, side=0, lower=1, trans_a=int(transpose))


Evaluate = Callable[[State], tuple[list, float]]
Apply = Callable[[State, np.ndarray, np.ndarray], State]


@dataclass(frozen=True)
class SolveReport:
    """How a solve went: iterations taken, cost at the start and the end, and the final damping."""

    iterations: int
    initial_cost: float
    final_cost: float
    damping: float


def levenberg_marquardt(state: State, evaluate: Evaluate, apply: Apply, params: int, solve_shape: bool,
                        shape_prior: float, max_iterations: int = 15, tolerance: float = 1e-4,
                        damping: float = 1e-3, held: np.ndarray | None = None) -> tuple[State, SolveReport]:
    """Minimise the blocks `evaluate(state)` returns (a list of FrameBlock / TemporalBlock and the cost of
    rows that carry no Jacobian) over the frames' parameters (and the shape when solve_shape); `held` (P,)
    bool marks parameters that stay fixed. BLAS runs on one thread: the matrices are small (a few hundred
    rows), where threads cost more than they give, and they starve the other work of a 2-core machine."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        return _levenberg_marquardt(state, evaluate, apply, params, solve_shape, shape_prior, max_iterations,
                                    tolerance, damping, held)


def _levenberg_marquardt(state, evaluate, apply, params, solve_shape, shape_prior, max_iterations, tolerance,
                         damping, held) -> tuple[State, SolveReport]:
    blocks, extra = evaluate(state)
    cost = _total_cost(blocks, extra, state, shape_prior)
    initial = cost
    iterations = 0
    while iterations < max_iterations:
        iterations += 1
        eqs = NormalEquations.zeros(state.num_frames, params, len(state.betas))
        for block in blocks:
            eqs.add(block)
        eqs.add_shape_prior(state.betas, shape_prior)
        improved = False
        growth = 2.0
        for _ in range(8):
            d_frames, d_shape = eqs.solve(damping, solve_shape, held)
            candidate = apply(state, d_frames, d_shape)
            new_blocks, new_extra = evaluate(candidate)
            new_cost = _total_cost(new_blocks, new_extra, candidate, shape_prior)
            if np.isfinite(new_cost) and new_cost < cost:
                improved = True
                break
            damping *= growth
            growth *= 2.0
        if not improved:
            break
        predicted = eqs.predicted_decrease(d_frames, d_shape)
        gain = (cost - new_cost) / predicted if predicted > 0 else 1.0
        damping = max(damping * max(1.0 / 3.0, 1.0 - (2.0 * gain - 1.0) ** 3), 1e-7)
        relative = (cost - new_cost) / max(cost, 1e-12)
        state, blocks, extra, cost = candidate, new_blocks, new_extra, new_cost
        if relative < tolerance:
            break
    log.debug("LM: %d iterations, cost %.4g -> %.4g", iterations, initial, cost)
    return state, SolveReport(iterations, initial, cost, damping)


def _total_cost(blocks, extra: float, state: State, shape_prior: float) -> float:
    return sum(block_cost(b) for b in blocks) + extra + 0.5 * shape_prior * float(state.betas @ state.betas)
