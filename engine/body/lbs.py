"""SMPL's forward pass in numpy: shape blend shapes, forward kinematics, linear blend skinning.

Each step is a small function named for what it computes (as in smplx's lbs.py); `body_forward`
composes them. Conventions: metres, y up, the body faces +z at rest; pose θ = 0 is the T-pose and
rotations are relative to the parent joint's frame, joint frames world-aligned at rest (SMPL's);
the translation is added to every output (joints, vertices, keypoints), as smplx does.

dtype follows the inputs: float64 when any of pose, betas, trans is float64, else float32.
Vertices are processed in chunks of frames so thousands of frames fit in memory; joints alone
never touch vertices (the joint regressor is pre-applied to v_template and shapedirs).

Inside the mesh steps, point arrays are coordinate-major, (T, 3, N): every step is then one matrix
product or an operation on contiguous rows (twice as fast as (T, N, 3) here); `body_forward`
returns the usual (T, V, 3).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from engine.body.model import NUM_BETAS, BodyModel
from engine.rotations import axis_angle_to_matrix

# Frames per chunk: one chunk's (frames, V, 12) skinning matrices stay near this many elements (cache
# sized), with at least _MIN_CHUNK_FRAMES frames so the Python loop runs over chunks, not frames.
_CHUNK_ELEMENTS = 1 << 20
_MIN_CHUNK_FRAMES = 8


@dataclass(frozen=True)
class BodyOutput:
    """The posed body, world frame (y up, metres), translation included.

    joints: (T, 24, 3) SMPL joint positions (forward kinematics of the shaped rest joints).
    vertices: (T, V, 3) skinned mesh vertices, or None when not asked for.
    keypoints: set name -> (T, K, 3), each set's regressor applied to the posed vertices.
    world_transforms: (T, 24, 4, 4) each joint's frame in the world: rotation relative to the
        world-aligned rest frame, and the joint's position.
    """

    joints: np.ndarray
    vertices: np.ndarray | None
    keypoints: dict[str, np.ndarray]
    world_transforms: np.ndarray


def pose_to_rotation_matrices(pose: np.ndarray, num_joints: int, dtype: np.dtype) -> np.ndarray:
    """SMPL pose -> (T, J, 3, 3) parent-relative rotation matrices.

    pose: axis-angle radians (T, J, 3) or (T, J*3), or rotation matrices (T, J, 3, 3); one frame
    without the leading T axis is also accepted (then T = 1).
    """
    pose = np.asarray(pose, dtype=dtype)
    j = num_joints
    if pose.shape in ((j * 3,), (j, 3), (j, 3, 3)):
        pose = pose[None]
    if pose.ndim == 4 and pose.shape[1:] == (j, 3, 3):
        return pose
    if pose.ndim == 2 and pose.shape[1] == j * 3:
        pose = pose.reshape(-1, j, 3)
    if pose.ndim == 3 and pose.shape[1:] == (j, 3):
        return axis_angle_to_matrix(pose).astype(dtype, copy=False)
    raise ValueError(
        f"pose has shape {pose.shape}; expected axis-angle (T, {j}, 3) or (T, {j * 3}) "
        f"or rotation matrices (T, {j}, 3, 3)"
    )


def blend_shapes(betas: np.ndarray, shape_dirs: np.ndarray) -> np.ndarray:
    """Displacements of the shape blend shapes: betas (T, B), shape_dirs (B, ...) -> (T, ...) metres.

    shape_dirs is (B, 3, V) for the mesh (coordinate-major) and (B, 24, 3) for the joints
    (J_regressor @ shapedirs).
    """
    return np.tensordot(betas, shape_dirs, axes=1)


def vertices_to_joints(regressor: np.ndarray | sparse.spmatrix, vertices: np.ndarray) -> np.ndarray:
    """Regress points from vertices: regressor (K, V) dense or sparse, vertices (T, V, 3) -> (T, K, 3)."""
    if sparse.issparse(regressor):
        support, dense = regressor_support(regressor)
        return np.einsum("ks,tsc->tkc", dense.astype(vertices.dtype), vertices[:, support])
    return np.einsum("kv,tvc->tkc", np.asarray(regressor, dtype=vertices.dtype), vertices)


def regressor_support(regressor: sparse.spmatrix) -> tuple[np.ndarray, np.ndarray]:
    """The vertices a sparse (K, V) regressor reads: ids (S,) and the dense (K, S) weights on them."""
    csc = sparse.csc_matrix(regressor)
    support = np.flatnonzero(np.diff(csc.indptr))
    return support, csc[:, support].toarray()


def pose_features(rot_mats: np.ndarray) -> np.ndarray:
    """SMPL's pose-corrective features: (T, 24, 3, 3) -> (T, 207), the flattened (R - I) of joints 1-23."""
    eye = np.eye(3, dtype=rot_mats.dtype)
    return (rot_mats[:, 1:] - eye).reshape(rot_mats.shape[0], -1)


def pose_blend_shapes(rot_mats: np.ndarray, posedirs: np.ndarray) -> np.ndarray:
    """Pose-corrective displacements: rot_mats (T, 24, 3, 3), posedirs (207, 3, V) -> (T, 3, V) metres."""
    return np.tensordot(pose_features(rot_mats), posedirs, axes=1)


def kinematic_levels(parents: np.ndarray) -> list[np.ndarray]:
    """Joints grouped by depth in the tree (root first), so each level is one batched step."""
    depth = np.zeros(len(parents), dtype=np.int64)
    for j in range(1, len(parents)):
        depth[j] = depth[parents[j]] + 1
    return [np.flatnonzero(depth == d) for d in range(1, int(depth.max()) + 1)]


def forward_kinematics(
    rot_mats: np.ndarray, rest_joints: np.ndarray, parents: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Chain parent-relative rotations down the tree.

    rot_mats: (T, J, 3, 3) parent-relative rotations; rest_joints: (T, J, 3) metres, rest pose;
    parents: (J,) with -1 for the root, each parent before its children.
    Returns global rotations (T, J, 3, 3) (relative to the world-aligned rest frames) and the
    posed joint positions (T, J, 3), both with the root at its rest position (no translation).
    """
    bones = rest_joints[:, 1:] - rest_joints[:, parents[1:]]
    bones = np.concatenate([rest_joints[:, :1], bones], axis=1)
    global_rots = np.empty_like(rot_mats)
    posed = np.empty_like(rest_joints)
    global_rots[:, 0] = rot_mats[:, 0]
    posed[:, 0] = rest_joints[:, 0]
    for level in kinematic_levels(parents):
        up = parents[level]
        global_rots[:, level] = global_rots[:, up] @ rot_mats[:, level]
        posed[:, level] = posed[:, up] + (global_rots[:, up] @ bones[:, level, :, None])[..., 0]
    return global_rots, posed


def skinning_transforms(global_rots: np.ndarray, posed_joints: np.ndarray, rest_joints: np.ndarray) -> np.ndarray:
    """Per-joint maps from rest-pose points to posed points: (T, J, 3, 4) = [R | p - R @ rest_joint]."""
    offset = posed_joints - (global_rots @ rest_joints[..., None])[..., 0]
    return np.concatenate([global_rots, offset[..., None]], axis=-1)


def skin_vertices(weights: np.ndarray, transforms: np.ndarray, v_posed: np.ndarray) -> np.ndarray:
    """Linear blend skinning: weights (J, V), transforms (T, J, 3, 4), v_posed (T or 1, 3, V) -> (T, 3, V).

    Blends the 12 numbers of the joints' transforms per vertex in one matrix product, then applies
    the blended [R | t] to the rest points column by column.
    """
    frames, num_joints = transforms.shape[:2]
    by_column = transforms.transpose(0, 3, 2, 1).reshape(frames * 12, num_joints)  # [t, column, row] x J
    blended = (by_column @ weights).reshape(frames, 4, 3, -1)
    skinned = blended[:, 3]  # the translation column; blended is a temporary, so add in place
    for column in range(3):
        skinned += blended[:, column] * v_posed[:, column : column + 1]
    return skinned


@dataclass(frozen=True)
class _Mesh:
    """A model's per-vertex arrays in one dtype, coordinate-major, for all vertices or a subset of them."""

    v_template: np.ndarray  # (3, N)
    shapedirs: np.ndarray  # (B, 3, N)
    posedirs: np.ndarray | None  # (207, 3, N), None when the model has no pose correctives
    weights: np.ndarray  # (J, N)

    def subset(self, ids: np.ndarray) -> _Mesh:
        posedirs = None if self.posedirs is None else np.ascontiguousarray(self.posedirs[..., ids])
        return _Mesh(*(np.ascontiguousarray(a[..., ids]) for a in (self.v_template, self.shapedirs)),
                     posedirs, np.ascontiguousarray(self.weights[:, ids]))


def _mesh(model: BodyModel, dtype: np.dtype) -> _Mesh:
    """The model's per-vertex arrays cast to `dtype`, coordinate-major, cached on the model."""
    key = ("mesh", np.dtype(dtype).str)
    if key not in model.derived:
        def layout(a: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
            return np.ascontiguousarray(a.transpose(axes), dtype=dtype)

        posedirs = layout(model.posedirs, (2, 1, 0)) if model.has_pose_correctives else None
        model.derived[key] = _Mesh(
            layout(model.v_template, (1, 0)), layout(model.shapedirs, (2, 1, 0)), posedirs,
            layout(model.weights, (1, 0)),
        )
    return model.derived[key]


def _keypoint_regressor(model: BodyModel, name: str, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """Keypoint set `name` as (vertex ids (S,), weights (K, S) in `dtype`), cached on the model."""
    key = ("regressor", name, np.dtype(dtype).str)
    if key not in model.derived:
        ids, weights = regressor_support(model.keypoint_regressors[name])
        model.derived[key] = (ids, weights.astype(dtype))
    return model.derived[key]


def _keypoint_mesh(model: BodyModel, names: tuple[str, ...], dtype: np.dtype) -> tuple[np.ndarray, _Mesh]:
    """The vertices (S,) that keypoint sets `names` read, and the mesh restricted to them (cached)."""
    key = ("keypoint_mesh", names, np.dtype(dtype).str)
    if key not in model.derived:
        support = np.unique(np.concatenate([_keypoint_regressor(model, n, dtype)[0] for n in names]))
        model.derived[key] = (support, _mesh(model, dtype).subset(support))
    return model.derived[key]


def _posed_vertices(
    mesh: _Mesh, betas: np.ndarray, rot_mats: np.ndarray, transforms: np.ndarray, trans: np.ndarray
) -> np.ndarray:
    """Shape, pose-correct, skin and translate the mesh's vertices, chunk by chunk of frames -> (T, N, 3).

    betas (T or 1, B); rot_mats (T, J, 3, 3); transforms (T, J, 3, 4); trans (T or 1, 1, 3) metres.
    """
    frames, num_v = rot_mats.shape[0], mesh.v_template.shape[1]
    out = np.empty((frames, num_v, 3), dtype=rot_mats.dtype)
    if betas.shape[0] == 1:
        shaped_once = mesh.v_template + blend_shapes(betas, mesh.shapedirs)
    chunk = max(_MIN_CHUNK_FRAMES, _CHUNK_ELEMENTS // max(1, num_v * 12))
    for start in range(0, frames, chunk):
        frame = slice(start, start + chunk)
        if betas.shape[0] == 1:
            v_posed = shaped_once
        else:
            v_posed = mesh.v_template + blend_shapes(betas[frame], mesh.shapedirs)
        if mesh.posedirs is not None:
            v_posed = v_posed + pose_blend_shapes(rot_mats[frame], mesh.posedirs)
        out[frame] = skin_vertices(mesh.weights, transforms[frame], v_posed).transpose(0, 2, 1)
        out[frame] += trans if trans.shape[0] == 1 else trans[frame]
    return out


def _regress_keypoints(
    model: BodyModel,
    names: tuple[str, ...],
    verts: np.ndarray | None,
    betas: np.ndarray,
    rot_mats: np.ndarray,
    transforms: np.ndarray,
    trans: np.ndarray,
) -> dict[str, np.ndarray]:
    """Keypoint sets `names` -> {name: (T, K, 3)}; skins only the vertices they read when verts is None."""
    if not names:
        return {}
    dtype = rot_mats.dtype
    if verts is None:
        support, mesh = _keypoint_mesh(model, tuple(sorted(set(names))), dtype)
        source = _posed_vertices(mesh, betas, rot_mats, transforms, trans)
        position = np.zeros(model.num_vertices, dtype=np.int64)
        position[support] = np.arange(support.size)
    else:
        source, position = verts, np.arange(model.num_vertices)
    keypoints = {}
    for name in names:
        ids, weights = _keypoint_regressor(model, name, dtype)
        keypoints[name] = np.einsum("ks,tsc->tkc", weights, source[:, position[ids]])
    return keypoints


def _per_frame(value: np.ndarray | None, frames: int, width: int, dtype: np.dtype, name: str) -> np.ndarray:
    """betas or trans as (T, width), or (1, width) when every frame holds the same values."""
    if value is None:
        return np.zeros((1, width), dtype=dtype)
    value = np.asarray(value, dtype=dtype)
    if value.shape == (width,):
        return value[None]
    if value.ndim != 2 or value.shape[1] != width or value.shape[0] not in (1, frames):
        raise ValueError(f"{name} has shape {value.shape}; expected ({frames}, {width}) or ({width},)")
    if value.shape[0] > 1 and np.all(value == value[:1]):
        return value[:1]
    return value


def _dtype_of(*values: np.ndarray | None) -> np.dtype:
    wide = any(v is not None and np.asarray(v).dtype == np.float64 for v in values)
    return np.dtype(np.float64 if wide else np.float32)


def body_forward(
    model: BodyModel,
    pose: np.ndarray,
    betas: np.ndarray | None = None,
    trans: np.ndarray | None = None,
    *,
    vertices: bool = True,
    keypoint_sets: Iterable[str] = (),
) -> BodyOutput:
    """Pose and shape the body for T frames at once.

    pose: (T, 24, 3) or (T, 72) axis-angle radians, or (T, 24, 3, 3) rotation matrices, parent-relative.
    betas: (T, 10) or (10,) shape coefficients (None: zeros, the model's mean body).
    trans: (T, 3) or (3,) metres, added to every output (None: zeros).
    vertices: compute the skinned mesh; False for joints (and keypoints) only, which is much cheaper.
    keypoint_sets: names of the model's keypoint sets to regress ("coco17", "feet6", ...); without
        full vertices only the vertices those regressors read are skinned.
    """
    dtype = _dtype_of(pose, betas, trans)
    rot_mats = pose_to_rotation_matrices(pose, model.num_joints, dtype)
    frames = rot_mats.shape[0]
    betas = _per_frame(betas, frames, NUM_BETAS, dtype, "betas")
    trans = _per_frame(trans, frames, 3, dtype, "trans")[:, None]
    keypoint_sets = tuple(keypoint_sets)
    unknown = [s for s in keypoint_sets if s not in model.keypoint_regressors]
    if unknown:
        raise ValueError(f"unknown keypoint set(s) {unknown}; the model has {sorted(model.keypoint_regressors)}")

    # 1. Rest joints of this shape, straight from the joint-space blend shapes.
    joint_template = model.joint_template.astype(dtype)
    joint_shapedirs = np.moveaxis(model.joint_shapedirs, -1, 0).astype(dtype)  # (B, 24, 3)
    rest_joints = joint_template + blend_shapes(betas, joint_shapedirs)
    rest_joints = np.broadcast_to(rest_joints, (frames,) + joint_template.shape)
    # 2. Forward kinematics.
    global_rots, posed_joints = forward_kinematics(rot_mats, rest_joints, model.parents)
    verts, keypoints = None, {}
    if vertices or keypoint_sets:
        transforms = skinning_transforms(global_rots, posed_joints, rest_joints)
        if vertices:  # 3. Shape, pose-correct and skin the mesh.
            verts = _posed_vertices(_mesh(model, dtype), betas, rot_mats, transforms, trans)
        # 4. Keypoints, from the mesh or from just the vertices their regressors read.
        keypoints = _regress_keypoints(model, keypoint_sets, verts, betas, rot_mats, transforms, trans)

    world = np.zeros((frames, model.num_joints, 4, 4), dtype=dtype)
    world[..., :3, :3] = global_rots
    world[..., :3, 3] = posed_joints + trans
    world[..., 3, 3] = 1.0
    return BodyOutput(joints=posed_joints + trans, vertices=verts, keypoints=keypoints, world_transforms=world)
