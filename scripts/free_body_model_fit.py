"""Fitting steps of scripts/build_free_body_model.py that need only numpy and scipy (no anny).

Shapes: N bodies, V vertices, 24 SMPL joints; metres, SMPL's axes (y up, facing +z).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import nnls
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree
from tqdm import tqdm

from engine.body.joints import SMPL_MIRROR, SMPL_PARENTS
from engine.rotations import axis_angle_to_matrix

# J_regressor: each row may use the vertices within CANDIDATE_MARGIN (m) of the joint's nearest vertex;
# it is fitted on the bodies at rest and in random poses (POSE_SIGMA_RAD per axis-angle component).
CANDIDATE_MARGIN, POSE_SIGMA_RAD, SUM_ROW_WEIGHT = 0.15, 0.35, 10.0
CHUNK = 25  # bodies per step where (n, V, 3, 3) arrays are made


def vertex_mirror(vertices: np.ndarray) -> tuple[np.ndarray, float]:
    """For each vertex (V, 3) the id of its mirror image across x = 0, and the worst distance (m)."""
    dist, ids = cKDTree(vertices).query(vertices * np.array([-1.0, 1.0, 1.0]))
    return ids, float(dist.max())


def random_poses(count: int, rng: np.random.Generator) -> np.ndarray:
    """(count, 24, 3, 3) parent-relative rotations, POSE_SIGMA_RAD per axis-angle component, root fixed."""
    axis_angle = rng.normal(0.0, POSE_SIGMA_RAD, (count, 24, 3))
    axis_angle[:, 0] = 0.0
    return axis_angle_to_matrix(axis_angle)


def pose_bodies(verts: np.ndarray, joints: np.ndarray, weights: np.ndarray, rots: np.ndarray):
    """SMPL's forward kinematics and linear blend skinning (no correctives) of rest bodies.

    verts (N, V, 3), joints (N, 24, 3), weights (V, 24), rots (N, 24, 3, 3) -> posed (N, V, 3), (N, 24, 3).
    """
    world = np.empty_like(rots)
    posed_j = np.empty_like(joints)
    world[:, 0], posed_j[:, 0] = rots[:, 0], joints[:, 0]
    for j in range(1, 24):
        p = SMPL_PARENTS[j]
        world[:, j] = world[:, p] @ rots[:, j]
        posed_j[:, j] = posed_j[:, p] + np.einsum("nab,nb->na", world[:, p], joints[:, j] - joints[:, p])
    offsets = posed_j - np.einsum("njab,njb->nja", world, joints)
    posed_v = np.empty_like(verts)
    for start in range(0, verts.shape[0], CHUNK):  # chunks keep the (n, V, 3, 3) blend small
        part = slice(start, start + CHUNK)
        blend = np.einsum("vj,njab->nvab", weights, world[part])
        posed_v[part] = np.einsum("nvab,nvb->nva", blend, verts[part]) + weights @ offsets[part]
    return posed_v, posed_j


def fit_joint_regressor(rest: tuple[np.ndarray, np.ndarray], posed: tuple[np.ndarray, np.ndarray],
                        mirror: np.ndarray | None) -> np.ndarray:
    """Sparse non-negative (24, V) rows summing to 1 with rows @ verts[n] ~ joints[n] for every sample.

    rest, posed: (verts (N, V, 3), joints (N, 24, 3)) of the bodies at rest and in random poses; the
    posed equations keep the rows local and valid on posed meshes (keypoint sets use them so). Each
    row is an NNLS fit over the vertices within CANDIDATE_MARGIN of the nearest one to the joint at
    the mean shape, with the sum-to-1 constraint as a heavily weighted extra equation. With a mirror
    map, left rows are fitted and mirrored to the right, centre rows are symmetrised.
    """
    mean_v, mean_j = rest[0].mean(0), rest[1].mean(0)
    regressor = np.zeros((24, mean_v.shape[0]))
    todo = [j for j in range(24) if mirror is None or SMPL_MIRROR[j] >= j]
    for j in tqdm(todo, desc="J_regressor (NNLS)", unit="joint"):
        dist = np.linalg.norm(mean_v - mean_j[j], axis=1)
        near = np.flatnonzero(dist <= dist.min() + CANDIDATE_MARGIN)
        rows = [(v[:, near] - mean_j[j]).transpose(0, 2, 1).reshape(-1, near.size) for v, _ in (rest, posed)]
        targets = [(jt[:, j] - mean_j[j]).reshape(-1) for _, jt in (rest, posed)]
        a = np.vstack(rows + [np.full((1, near.size), SUM_ROW_WEIGHT)])
        w, _ = nnls(a, np.concatenate(targets + [[SUM_ROW_WEIGHT]]), maxiter=50 * near.size)
        regressor[j, near] = w / w.sum()
    if mirror is not None:
        for j in range(24):
            if SMPL_MIRROR[j] > j:
                regressor[SMPL_MIRROR[j]] = regressor[j, mirror]
            elif SMPL_MIRROR[j] == j:
                regressor[j] = 0.5 * (regressor[j] + regressor[j, mirror])
    return regressor


def regression_error(regressor: np.ndarray, verts: np.ndarray, joints: np.ndarray) -> np.ndarray:
    """(N, 24) distances (m) between regressed joints and the true ones."""
    return np.linalg.norm(np.einsum("jv,nvc->njc", regressor, verts) - joints, axis=-1)


def shape_pca(verts: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """PCA of (N, V, 3) vertices: mean (V, 3), shapedirs (V, 3, count) scaled to one standard deviation
    per unit beta, and the explained variance ratios (count,). Signs: positive beta enlarges the body."""
    mean = verts.mean(0)
    centred = (verts - mean).reshape(verts.shape[0], -1)
    _, sing, comps = np.linalg.svd(centred, full_matrices=False)
    std = sing[:count] / np.sqrt(verts.shape[0] - 1)
    dirs = comps[:count].reshape(count, -1, 3)
    outward = np.einsum("kvc,vc->k", dirs, mean - mean.mean(0))
    dirs *= np.where(outward < 0, -1.0, 1.0)[:, None, None]
    return mean, np.moveaxis(dirs * std[:, None, None], 0, -1), sing[:count] ** 2 / np.sum(sing**2)


def mesh_pieces(faces: np.ndarray, num_vertices: int) -> list[int]:
    """Vertex counts of the mesh's connected pieces, largest first."""
    edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    graph = coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(num_vertices, num_vertices))
    return sorted(np.bincount(connected_components(graph, directed=False)[1]).tolist(), reverse=True)


def stature(v: np.ndarray) -> np.ndarray:
    """Standing height (m) of (..., V, 3) rest vertices: top of the head to the soles."""
    return v[..., 1].max(-1) - v[..., 1].min(-1)
