"""Fit the body fit's pose prior: a Gaussian mixture over SMPL body poses from real motion capture.

    .venv/bin/python scripts/fit_pose_prior.py [--components 8]

The real clips of ../shared/data/mocap that the engine retargets onto SMPL's skeleton correctly today
(CLIPS: CMU walks and hop, Xia walk, run and jump, a boxer, a dancer, walks in four more conventions; the
Z-up files and the degenerate rest poses wait for the retargeting issue), every clip resampled to 30 fps,
each frame also mirrored left for right. The pose is the 23 non-root joints' axis-angle (69 numbers,
radians, parent-relative, SMPL's T-pose rest), the same convention as SMPLify's prior (which was fitted on
CMU). EM with full covariances, each floored at 0.02 rad^2 (about 8 degrees) on the diagonal so joints
the clips barely move keep some freedom. Writes engine/assets/pose_prior.npz: weights (C,), means (C, 69),
precision_cholesky (C, 69, 69) (L with inverse covariance L L^T), log_norm (C,) (the log of each
component's weight times its normalising constant), and the clips and frame counts it came from.
"""

from __future__ import annotations

import argparse
import logging
import pathlib
import sys

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.body.joints import SMPL_JOINT_NAMES  # noqa: E402
from engine.motion.bvh import read_bvh  # noqa: E402
from engine.retarget.retarget import retarget  # noqa: E402
from engine.retarget.rigs import builtin_rig  # noqa: E402
from engine.rotations import matrix_to_axis_angle  # noqa: E402

MOCAP = ROOT.parent / "shared" / "data" / "mocap"
CLIPS = ("cmu/131_01.bvh", "cmu/131_02.bvh", "cmu/131_03.bvh", "xia/neutral_01_000.bvh", "xia/angry_13_000.bvh",
         "xia/neutral_16_000.bvh", "conventions/assimp_Boxing_Toes.bvh", "conventions/bvhtoolbox_walk01.bvh",
         "conventions/mixamo_20tab_freebvh.bvh", "conventions/perfume_A_dance.bvh", "conventions/pymo_AV_8Walk.bvh")
OUT = ROOT / "engine" / "assets" / "pose_prior.npz"
FPS = 30.0
VARIANCE_FLOOR = 0.02


def mirror(pose_aa: np.ndarray) -> np.ndarray:
    """(N, 24, 3) axis-angle -> the mirror image across the body's sagittal plane (x -> -x)."""
    swap = [SMPL_JOINT_NAMES.index(n.replace("left", "#").replace("right", "left").replace("#", "right"))
            for n in SMPL_JOINT_NAMES]
    out = pose_aa[:, swap].copy()
    out[..., 1:] *= -1
    return out


def clip_poses(path: pathlib.Path, smpl) -> np.ndarray:
    motion = retarget(read_bvh(path), smpl)
    step = max(1, round(motion.fps / FPS))
    return matrix_to_axis_angle(motion.rotations[::step])


def em(x: np.ndarray, components: int, iterations: int = 200, seed: int = 0):
    """Gaussian mixture by EM: weights (C,), means (C, D), covariances (C, D, D)."""
    rng = np.random.default_rng(seed)
    n, d = x.shape
    means = x[rng.choice(n, components, replace=False)]
    cov = np.tile(np.cov(x.T) + VARIANCE_FLOOR * np.eye(d), (components, 1, 1))
    weights = np.full(components, 1 / components)
    previous = -np.inf
    for _ in range(iterations):
        log_p = np.stack([log_gaussian(x, means[c], cov[c]) for c in range(components)], axis=1) + np.log(weights)
        top = log_p.max(axis=1, keepdims=True)
        total = top[:, 0] + np.log(np.exp(log_p - top).sum(axis=1))
        resp = np.exp(log_p - total[:, None])
        nk = resp.sum(axis=0) + 1e-9
        weights = nk / n
        means = (resp.T @ x) / nk[:, None]
        for c in range(components):
            diff = x - means[c]
            cov[c] = (resp[:, c, None] * diff).T @ diff / nk[c] + VARIANCE_FLOOR * np.eye(d)
        if total.mean() - previous < 1e-6:
            break
        previous = total.mean()
    return weights, means, cov, float(total.mean())


def log_gaussian(x: np.ndarray, mean: np.ndarray, cov: np.ndarray) -> np.ndarray:
    chol = np.linalg.cholesky(cov)
    z = np.linalg.solve(chol, (x - mean).T)
    return -0.5 * (z**2).sum(axis=0) - np.log(np.diag(chol)).sum() - 0.5 * len(mean) * np.log(2 * np.pi)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--components", type=int, default=8)
    parser.add_argument("--out", type=pathlib.Path, default=OUT)
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    smpl = builtin_rig("smpl")
    poses, counts = [], []
    for clip in CLIPS:
        aa = clip_poses(MOCAP / clip, smpl)
        poses += [aa, mirror(aa)]
        counts.append(len(aa))
        print(f"{clip}: {len(aa)} frames at {FPS:g} fps")
    x = np.concatenate(poses)[:, 1:].reshape(-1, 69)
    weights, means, cov, mean_log_lik = em(x, args.components)
    precision_chol = np.stack([np.linalg.cholesky(np.linalg.inv(c)) for c in cov])
    log_norm = np.log(weights) - 0.5 * np.linalg.slogdet(cov)[1] - 0.5 * x.shape[1] * np.log(2 * np.pi)
    tmp = args.out.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, weights=weights.astype(np.float32), means=means.astype(np.float32),
                        precision_cholesky=precision_chol.astype(np.float32), log_norm=log_norm.astype(np.float32),
                        clips=np.array(CLIPS), clip_frames=np.array(counts), fps=np.float32(FPS),
                        mean_log_likelihood=np.float32(mean_log_lik))
    tmp.replace(args.out)
    print(f"{len(x)} poses (mirrored included), {args.components} components, mean log-likelihood "
          f"{mean_log_lik:.1f}; wrote {args.out} ({args.out.stat().st_size / 1e3:.0f} kB)")


if __name__ == "__main__":
    main()
