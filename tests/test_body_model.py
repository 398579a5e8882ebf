"""The body model file: loader round trips and the messages for corrupt, incomplete, misshapen files.

`make_test_arrays` builds a small, valid, SMPL-shaped model (other body tests import it): 24 joints
where SMPL puts them, a cloud of vertices around each, sparse skinning weights, random shape and
non-zero pose-corrective blend shapes, so every step of the forward pass is exercised.
"""

from __future__ import annotations

import numpy as np
import pytest

from engine.body.joints import SMPL_JOINT_NAMES, SMPL_PARENTS
from engine.body.keypoints import KEYPOINT_SETS
from engine.body.model import (
    REQUIRED_KEYS,
    body_model_from_arrays,
    body_model_to_arrays,
    load_body_model,
    save_body_model,
)
from engine.errors import BodyModelError

# Roughly SMPL's rest joints (metres, y up, facing +z).
REST_JOINTS = np.array([
    [0.00, 0.00, 0.00], [0.06, -0.09, 0.00], [-0.06, -0.09, 0.00], [0.00, 0.11, -0.02],
    [0.11, -0.46, 0.00], [-0.11, -0.46, 0.00], [0.00, 0.25, 0.00], [0.07, -0.86, -0.04],
    [-0.07, -0.86, -0.04], [0.00, 0.30, 0.02], [0.12, -0.92, 0.08], [-0.12, -0.92, 0.08],
    [0.00, 0.51, -0.03], [0.08, 0.42, -0.01], [-0.08, 0.42, -0.01], [0.00, 0.57, 0.02],
    [0.19, 0.44, -0.02], [-0.19, 0.44, -0.02], [0.45, 0.43, -0.04], [-0.45, 0.43, -0.04],
    [0.71, 0.44, -0.04], [-0.71, 0.44, -0.04], [0.79, 0.43, -0.05], [-0.79, 0.43, -0.05],
])
VERTICES_PER_JOINT = 12


def make_test_arrays(seed: int = 0, vertices_per_joint: int = VERTICES_PER_JOINT) -> dict[str, np.ndarray]:
    """The arrays of a small valid body model file: V = 24 * 12 vertices, non-zero posedirs."""
    rng = np.random.default_rng(seed)
    n = vertices_per_joint
    owner = np.repeat(np.arange(24), n)
    v_template = REST_JOINTS[owner] + rng.normal(0.0, 0.03, (24 * n, 3))
    num_v = v_template.shape[0]
    j_regressor = np.zeros((24, num_v))
    j_regressor[owner, np.arange(num_v)] = rng.uniform(0.5, 1.0, num_v)
    j_regressor /= j_regressor.sum(axis=1, keepdims=True)
    # Each vertex follows its joint, its parent, and one random joint a little.
    weights = np.zeros((num_v, 24))
    weights[np.arange(num_v), owner] = rng.uniform(0.5, 1.0, num_v)
    parent = np.maximum(np.array(SMPL_PARENTS)[owner], 0)
    weights[np.arange(num_v), parent] += rng.uniform(0.0, 0.4, num_v)
    weights[np.arange(num_v), rng.integers(0, 24, num_v)] += rng.uniform(0.0, 0.1, num_v)
    weights /= weights.sum(axis=1, keepdims=True)
    faces = np.arange(num_v).reshape(-1, 3)
    arrays = {
        "v_template": v_template.astype(np.float32),
        "f": faces.astype(np.int32),
        "J_regressor": j_regressor.astype(np.float32),
        "weights": weights.astype(np.float32),
        "kintree_table": np.stack([np.array(SMPL_PARENTS) % 2**32, np.arange(24)]).astype(np.int64),
        "shapedirs": rng.normal(0.0, 0.01, (num_v, 3, 10)).astype(np.float32),
        "posedirs": rng.normal(0.0, 0.003, (num_v, 3, 207)).astype(np.float32),
        "joint_names": np.array(SMPL_JOINT_NAMES),
        "left_sole_ids": np.flatnonzero(owner == 10).astype(np.int32),
        "right_sole_ids": np.flatnonzero(owner == 11).astype(np.int32),
        "model_id": np.array("test-body"),
        "gender": np.array("neutral"),
        "units": np.array("m"),
        "up_axis": np.array("y"),
        "forward_axis": np.array("+z"),
        "format_version": np.array(1),
        "provenance": np.array("made by tests/test_body_model.py"),
    }
    for name, names in KEYPOINT_SETS.items():
        regressor = np.zeros((len(names), num_v))
        for row in regressor:
            picked = rng.choice(num_v, 3, replace=False)
            row[picked] = rng.dirichlet(np.ones(3))
        arrays[f"keypoint_regressor_{name}"] = regressor.astype(np.float32)
        arrays[f"keypoint_names_{name}"] = np.array(names)
    return arrays


@pytest.fixture
def arrays():
    return make_test_arrays()


def _assert_same_arrays(a: dict, b: dict) -> None:
    assert sorted(a) == sorted(b)
    for key in a:
        assert a[key].dtype.kind == b[key].dtype.kind, key
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_save_load_round_trip(arrays, tmp_path):
    model = body_model_from_arrays(arrays)
    path = save_body_model(model, tmp_path / "body.npz")
    loaded = load_body_model(path)
    _assert_same_arrays(body_model_to_arrays(model), body_model_to_arrays(loaded))
    _assert_same_arrays({k: np.asarray(v) for k, v in arrays.items() if k != "kintree_table"},
                        {k: v for k, v in body_model_to_arrays(loaded).items() if k != "kintree_table"})
    assert loaded.parents.tolist() == list(SMPL_PARENTS)
    assert str(loaded.extras["provenance"]) == "made by tests/test_body_model.py"
    assert loaded.source == str(path)
    # Atomic write: nothing but the file itself is left in the folder.
    assert [p.name for p in tmp_path.iterdir()] == ["body.npz"]


def test_model_properties(arrays):
    model = body_model_from_arrays(arrays)
    assert model.num_vertices == 24 * VERTICES_PER_JOINT
    assert model.has_pose_correctives
    ids = model.contact_vertex_ids
    assert ids.tolist() == arrays["left_sole_ids"].tolist() + arrays["right_sole_ids"].tolist()
    assert model.num_left_contact_vertices == len(arrays["left_sole_ids"])
    betas = np.linspace(-1, 1, 10)
    expected = arrays["J_regressor"].astype(np.float64) @ (
        arrays["v_template"] + arrays["shapedirs"].astype(np.float64) @ betas
    )
    np.testing.assert_allclose(model.rest_joints(betas), expected, atol=1e-9)
    np.testing.assert_allclose(model.rest_joints(), arrays["J_regressor"] @ arrays["v_template"], atol=1e-6)


def test_root_parent_written_as_minus_one_is_accepted(arrays):
    arrays["kintree_table"] = np.stack([np.array(SMPL_PARENTS), np.arange(24)])
    assert body_model_from_arrays(arrays).parents[0] == -1


def test_missing_file_named(tmp_path):
    with pytest.raises(BodyModelError, match="not found.*nowhere.npz"):
        load_body_model(tmp_path / "nowhere.npz")


def test_pickle_path_points_to_import(tmp_path):
    path = tmp_path / "SMPL_NEUTRAL.pkl"
    path.write_bytes(b"\x80\x02}q\x00.")
    with pytest.raises(BodyModelError, match="planted body import"):
        load_body_model(path)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "flipped"])
def test_corrupt_file_refused(arrays, tmp_path, damage):
    path = save_body_model(body_model_from_arrays(arrays), tmp_path / "body.npz")
    data = path.read_bytes()
    if damage == "garbage":
        data = b"this is not a zip file at all" * 10
    elif damage == "truncated":
        data = data[: len(data) // 2]
    else:  # damage the compressed payload of the first member but keep the zip directory
        middle = len(data) // 3
        data = data[:middle] + bytes(b ^ 0xFF for b in data[middle: middle + 64]) + data[middle + 64:]
    path.write_bytes(data)
    with pytest.raises(BodyModelError, match=str(path).replace(".", r"\.")):
        load_body_model(path)


def test_pickled_objects_refused(arrays, tmp_path):
    arrays["provenance"] = np.array([{"evil": 1}], dtype=object)
    path = tmp_path / "body.npz"
    np.savez(path, **arrays)
    with pytest.raises(BodyModelError, match="pickled objects"):
        load_body_model(path)


@pytest.mark.parametrize("key", ["v_template", "posedirs", "keypoint_regressor_feet6", "left_sole_ids", "model_id"])
def test_missing_key_named(arrays, tmp_path, key):
    del arrays[key]
    path = tmp_path / "body.npz"
    np.savez(path, **arrays)
    with pytest.raises(BodyModelError, match=f"body.npz is not a complete body model file: missing key.*{key}"):
        load_body_model(path)


@pytest.mark.parametrize(
    "key, bad_shape, expected",
    [
        ("J_regressor", (23, 288), r"\(24, 288\)"),
        ("weights", (288, 23), r"\(288, 24\)"),
        ("shapedirs", (288, 3, 300), r"\(288, 3, 10\)"),
        ("posedirs", (288, 207), r"\(288, 3, 207\)"),
        ("v_template", (288, 2), r"\(any, 3\)"),
        ("keypoint_regressor_coco17", (18, 288), r"\(17, 288\)"),
    ],
)
def test_wrong_shape_named(arrays, tmp_path, key, bad_shape, expected):
    arrays[key] = np.zeros(bad_shape, dtype=np.float32)
    path = tmp_path / "body.npz"
    np.savez(path, **arrays)
    pattern = rf"body.npz: '{key}' has shape \({bad_shape[0]}, .*expected {expected}"
    with pytest.raises(BodyModelError, match=pattern):
        load_body_model(path)


def test_invalid_values_refused(arrays):
    bad = dict(arrays, weights=arrays["weights"] * 1.1)
    with pytest.raises(BodyModelError, match="'weights' must sum to 1|rows of 'weights' must sum to 1"):
        body_model_from_arrays(bad)
    nan = arrays["shapedirs"].copy()
    nan[3, 1, 2] = np.nan
    with pytest.raises(BodyModelError, match="'shapedirs' holds NaN"):
        body_model_from_arrays(dict(arrays, shapedirs=nan))
    with pytest.raises(BodyModelError, match=r"'f' holds ids outside \[0, 288\)"):
        body_model_from_arrays(dict(arrays, f=arrays["f"] + 5))
    with pytest.raises(BodyModelError, match="'right_sole_ids' holds ids outside"):
        body_model_from_arrays(dict(arrays, right_sole_ids=np.array([-1], dtype=np.int32)))
    kintree = arrays["kintree_table"].copy()
    kintree[0, 13] = 12
    with pytest.raises(BodyModelError, match="kintree_table row 0 .* expected SMPL's parents"):
        body_model_from_arrays(dict(arrays, kintree_table=kintree))
    with pytest.raises(BodyModelError, match="format_version is 2"):
        body_model_from_arrays(dict(arrays, format_version=np.array(2)))
    with pytest.raises(BodyModelError, match="'up_axis' is 'z', expected 'y'"):
        body_model_from_arrays(dict(arrays, up_axis=np.array("z")))


def test_required_keys_cover_every_keypoint_set():
    for name in KEYPOINT_SETS:
        assert f"keypoint_regressor_{name}" in REQUIRED_KEYS and f"keypoint_names_{name}" in REQUIRED_KEYS
