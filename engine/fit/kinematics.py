"""The body model as the fit sees it: joints and keypoints of a pose, and their exact derivatives.

Keypoints regress from skinned vertices (engine.body.lbs). Pushed through linear blend skinning, a keypoint
k is a fixed mix of the bones' rigid motions (the model has no pose correctives, or the fit ignores them):

    kp_k = sum_b  W_b (N_kb - a_kb J_b) + a_kb P_b

with W_b, P_b bone b's world rotation and position, J_b its rest position, a_kb = sum_v r_kv w_vb (how much
of the keypoint's regressor bone b skins) and N_kb = sum_v r_kv w_vb v_v (the same of the rest vertices).
N and J are linear in the shape betas, so given the rotations every keypoint is linear in betas.

Rotations are updated on the right, R_j <- R_j exp([d_j]x) (d_j in joint j's own frame), so for any point X
that joint j moves, dX/dd_j = -[X - P_j]x W_j; a keypoint sums that over the bones below j, weighted by a.
Units: metres, the body model's frame (y up, facing +z at rest); rotations parent-relative.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.body.lbs import kinematic_levels, regressor_support
from engine.body.model import BodyModel


def skew(v: np.ndarray) -> np.ndarray:
    """(..., 3) -> (..., 3, 3) cross-product matrices: skew(a) @ b = a x b."""
    out = np.zeros(v.shape + (3,), dtype=np.result_type(v, np.float64))
    out[..., 0, 1], out[..., 0, 2] = -v[..., 2], v[..., 1]
    out[..., 1, 0], out[..., 1, 2] = v[..., 2], -v[..., 0]
    out[..., 2, 0], out[..., 2, 1] = -v[..., 1], v[..., 0]
    return out


def descendants(parents: np.ndarray) -> np.ndarray:
    """(J, J) bool: [j, b] when bone b is j or below it."""
    j = len(parents)
    below = np.eye(j, dtype=bool)
    for b in range(1, j):
        a = parents[b]
        while a >= 0:
            below[a, b] = True
            a = parents[a]
    return below


@dataclass(frozen=True, eq=False)
class FitBody:
    """A body model prepared for fitting K keypoints (see the module docstring).

    parents (J,); rest_joints (J, 3) at betas 0 and joint_dirs (J, 3, B) their shape directions;
    mix (K, J) = a; mix_points (K, J, 3) = N at betas 0 and mix_dirs (K, J, 3, B); below (J, J) descendants;
    names (K,) keypoint names.
    """

    parents: np.ndarray
    rest_joints: np.ndarray
    joint_dirs: np.ndarray
    mix: np.ndarray
    mix_points: np.ndarray
    mix_dirs: np.ndarray
    below: np.ndarray
    names: tuple[str, ...]

    @property
    def num_joints(self) -> int:
        return len(self.parents)

    @property
    def num_keypoints(self) -> int:
        return len(self.names)

    @property
    def num_betas(self) -> int:
        return self.joint_dirs.shape[-1]

    @classmethod
    def from_body_model(cls, model: BodyModel, sets: tuple[str, ...] = ("coco17", "feet6"),
                        vertex_ids: np.ndarray | None = None) -> "FitBody":
        """The body for the keypoints of `sets`, or (vertex_ids) for those mesh vertices themselves."""
        from scipy import sparse

        if vertex_ids is not None:
            ids = np.asarray(vertex_ids)
            regressor = sparse.csr_matrix((np.ones(len(ids)), (np.arange(len(ids)), ids)),
                                          shape=(len(ids), model.num_vertices))
            return cls._build(model, regressor, tuple(f"vertex_{i}" for i in ids))
        regressor = sparse.vstack([model.keypoint_regressors[s] for s in sets]).tocsr()
        return cls._build(model, regressor, tuple(n for s in sets for n in model.keypoint_names[s]))

    @classmethod
    def _build(cls, model: BodyModel, regressor, names: tuple[str, ...]) -> "FitBody":
        support, dense = regressor_support(regressor)  # (S,), (K, S)
        weights = np.asarray(model.weights, np.float64)[support]  # (S, J)
        verts = np.asarray(model.v_template, np.float64)[support]  # (S, 3)
        dirs = np.asarray(model.shapedirs, np.float64)[support]  # (S, 3, B)
        mix = dense @ weights
        # sum over support vertices s of r_ks w_sj x_s, one matrix product per coordinate of x
        k, s = dense.shape
        mix_points = ((dense[:, None, :] * verts.T[None]) @ weights).transpose(0, 2, 1)  # (K, J, 3)
        flat = dirs.reshape(s, -1)  # (S, 3 * B)
        mix_dirs = ((dense[:, None, :] * flat.T[None]) @ weights).transpose(0, 2, 1).reshape(k, -1, 3, dirs.shape[-1])
        jreg = model.joint_regressor
        rest = np.asarray(jreg @ np.asarray(model.v_template, np.float64))
        joint_dirs = np.asarray(jreg @ np.asarray(model.shapedirs, np.float64).reshape(model.num_vertices, -1))
        return cls(parents=np.asarray(model.parents), rest_joints=rest,
                   joint_dirs=joint_dirs.reshape(model.num_joints, 3, -1), mix=mix, mix_points=mix_points,
                   mix_dirs=mix_dirs, below=descendants(np.asarray(model.parents)), names=names)

    def shaped(self, betas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rest joints (J, 3) and mix points (K, J, 3) of shape `betas` (B,)."""
        betas = np.asarray(betas, np.float64)
        return self.rest_joints + self.joint_dirs @ betas, self.mix_points + self.mix_dirs @ betas


def fit_body(model: BodyModel) -> FitBody:
    """The model's FitBody for BODY23 (coco17 + feet6), built once per model (cached on it)."""
    key = ("fit_body", "coco17", "feet6")
    if key not in model.derived:
        model.derived[key] = FitBody.from_body_model(model)
    return model.derived[key]


def sole_body(model: BodyModel) -> FitBody:
    """The model's FitBody for its sole vertices (left foot's, then right's), cached on it."""
    key = ("fit_body", "soles")
    if key not in model.derived:
        model.derived[key] = FitBody.from_body_model(model, vertex_ids=model.contact_vertex_ids)
    return model.derived[key]


@dataclass(frozen=True, eq=False)
class Posed:
    """T frames of a posed body: world rotations (T, J, 3, 3), joints (T, J, 3), keypoints (T, K, 3), and each
    bone's share of each keypoint, parts (T, K, J, 3) (keypoints = parts.sum over J). Metres."""

    world: np.ndarray
    joints: np.ndarray
    keypoints: np.ndarray
    parts: np.ndarray


def forward_kinematics(body: FitBody, rotations: np.ndarray, trans: np.ndarray, rest: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray]:
    """World rotations (T, J, 3, 3) and joint positions (T, J, 3), metres, from parent-relative rotations
    (T, J, 3, 3), root translations (T, 3) and the shaped rest joints (J, 3)."""
    t = len(rotations)
    world = np.empty_like(rotations, dtype=np.float64)
    joints = np.empty((t, body.num_joints, 3))
    world[:, 0] = rotations[:, 0]
    joints[:, 0] = rest[0] + trans
    offsets = rest - rest[np.maximum(body.parents, 0)]
    for level in kinematic_levels(body.parents):
        up = body.parents[level]
        world[:, level] = world[:, up] @ rotations[:, level]
        joints[:, level] = joints[:, up] + np.einsum("tlij,lj->tli", world[:, up], offsets[level])
    return world, joints


def pose(body: FitBody, rotations: np.ndarray, trans: np.ndarray, betas: np.ndarray) -> Posed:
    """Forward kinematics and keypoints: rotations (T, J, 3, 3) parent-relative, trans (T, 3), betas (B,).

    Keeps each bone's share of each keypoint (T, K, J, 3) for the Jacobians: call it on a window of frames.
    For positions alone over a whole clip use `keypoint_positions`.
    """
    rest, mix_points = body.shaped(betas)
    world, joints = forward_kinematics(body, rotations, trans, rest)
    local = mix_points - body.mix[..., None] * rest[None]  # (K, J, 3): N - a J
    parts = np.einsum("tjab,kjb->tkja", world, local) + body.mix[None, ..., None] * joints[:, None]
    return Posed(world=world, joints=joints, keypoints=parts.sum(axis=2), parts=parts)


def keypoint_positions(body: FitBody, rotations: np.ndarray, trans: np.ndarray, betas: np.ndarray) -> np.ndarray:
    """(T, K, 3) keypoints, metres, as `pose` gives them but without the per-bone parts, so that memory is
    (T, K, 3) however many keypoints (e.g. the soles' vertices over a whole clip)."""
    rest, mix_points = body.shaped(betas)
    world, joints = forward_kinematics(body, rotations, trans, rest)
    t, j = world.shape[:2]
    local = mix_points - body.mix[..., None] * rest[None]  # (K, J, 3)
    # sum over joints j and columns b of W_j[a, b] local[k, j, b]: one (T, 3, J*3) @ (J*3, K) product
    rotated = world.transpose(0, 2, 1, 3).reshape(t, 3, j * 3) @ local.reshape(len(local), j * 3).T
    return rotated.transpose(0, 2, 1) + body.mix @ joints


def keypoint_rotation_jacobian(body: FitBody, posed: Posed) -> np.ndarray:
    """(T, K, 3, J, 3): d keypoint / d rotation increment of each joint (its own frame)."""
    below = body.below.astype(np.float64)
    moved = np.swapaxes(np.swapaxes(posed.parts, -1, -2) @ below.T, -1, -2)  # (T, K, J, 3): what j carries of k
    weight = body.mix @ below.T  # (K, J): sum of a over the bones below j
    lever = moved - weight[None, ..., None] * posed.joints[:, None]  # (T, K, J, 3)
    return _lever_jacobian(lever, posed.world[:, None])


def _lever_jacobian(lever: np.ndarray, world: np.ndarray) -> np.ndarray:
    """-[lever]x W per joint as (..., 3, J, 3): lever (..., J, 3), world (..., J, 3, 3) broadcastable.

    Column c of -[l]x W is W[:, c] x l: three vectorised cross products instead of a 3x3 product per entry.
    """
    cols = [np.cross(world[..., :, c], lever) for c in range(3)]  # each (..., J, 3)
    return np.stack(cols, axis=-1).swapaxes(-3, -2)


def joint_rotation_jacobian(body: FitBody, posed: Posed) -> np.ndarray:
    """(T, J, 3, J, 3): d joint position i / d rotation increment of joint j (zero unless j is above i)."""
    strictly = body.below.T & ~np.eye(body.num_joints, dtype=bool)  # [i, j]: j strictly above i
    lever = (posed.joints[:, :, None] - posed.joints[:, None, :]) * strictly[None, ..., None]  # (T, I, J, 3)
    return _lever_jacobian(lever, posed.world[:, None])


def shape_jacobians(body: FitBody, posed: Posed) -> tuple[np.ndarray, np.ndarray]:
    """d joints / d betas (T, J, 3, B) and d keypoints / d betas (T, K, 3, B) at this pose."""
    t = len(posed.joints)
    dirs = body.joint_dirs
    d_joints = np.empty((t,) + dirs.shape)
    d_joints[:, 0] = dirs[0]
    offsets = dirs - dirs[np.maximum(body.parents, 0)]
    for level in kinematic_levels(body.parents):
        up = body.parents[level]
        d_joints[:, level] = d_joints[:, up] + np.einsum("tlij,ljb->tlib", posed.world[:, up], offsets[level])
    local = body.mix_dirs - body.mix[..., None, None] * dirs[None]  # (K, J, 3, B)
    k, j, _, b = local.shape
    # sum over joints and rows of W: one matrix product (T, 3a, J*3) @ (J*3, K*B)
    w = posed.world.transpose(0, 2, 1, 3).reshape(t, 3, j * 3)
    rotated = (w @ local.transpose(1, 2, 0, 3).reshape(j * 3, k * b)).reshape(t, 3, k, b).transpose(0, 2, 1, 3)
    mixed = (body.mix @ d_joints.reshape(t, j, 3 * b)).reshape(t, k, 3, b)
    return d_joints, rotated + mixed
