"""training.geometry and training.body against the engine's numpy conventions (float64, naive vs fast)."""

from __future__ import annotations

import pathlib

import numpy as np
import pytest
import torch

from engine.body.lbs import body_forward
from engine.body.model import load_body_model
from engine.rotations import axis_angle_to_matrix, matrix_to_rot6d, rot6d_to_matrix
from training.body import BodyModel, config_from_body_model, select_keypoints
from training.geometry import (
    axis_angle_to_rotmat,
    crop_to_pixels,
    orthographic_views,
    pixels_to_crop,
    rot6d_to_rotmat,
    rotmat_to_rot6d,
    soft_argmax,
    weak_perspective_projection,
)
from training.synthetic_body import SYNTHETIC_MODEL_ID, write_synthetic_body_model

FREE_BODY_MODEL = pathlib.Path(__file__).resolve().parents[1] / "engine" / "assets" / "free_body_model.npz"


@pytest.fixture(scope="module")
def body_path(tmp_path_factory):
    return write_synthetic_body_model(tmp_path_factory.mktemp("body") / "body.npz")


@pytest.fixture(scope="module", params=["synthetic", "free"])
def any_body_path(request, body_path):
    if request.param == "synthetic":
        return body_path
    if not FREE_BODY_MODEL.is_file():
        pytest.skip("engine/assets/free_body_model.npz is not built yet")
    return FREE_BODY_MODEL


def test_rot6d_matches_engine_convention():
    rng = np.random.default_rng(0)
    raw = rng.normal(size=(50, 6))
    ours = rot6d_to_rotmat(torch.from_numpy(raw)).numpy()
    assert np.allclose(ours, rot6d_to_matrix(raw), atol=1e-12)
    rotations = axis_angle_to_matrix(rng.normal(size=(50, 3)))
    assert np.allclose(rotmat_to_rot6d(torch.from_numpy(rotations)).numpy(), matrix_to_rot6d(rotations))
    assert np.allclose(rot6d_to_rotmat(rotmat_to_rot6d(torch.from_numpy(rotations))).numpy(), rotations, atol=1e-12)
    aa = rng.normal(size=(20, 3))
    assert np.allclose(axis_angle_to_rotmat(torch.from_numpy(aa)).numpy(), axis_angle_to_matrix(aa), atol=1e-12)


def test_weak_perspective_and_crop_coordinates():
    points = torch.tensor([[[0.1, -0.2, 3.0], [0.0, 0.5, -1.0]]])
    cam = torch.tensor([[2.0, 0.05, 0.1]])
    assert torch.allclose(weak_perspective_projection(points, cam), torch.tensor([[[0.3, -0.2], [0.1, 1.2]]]))
    pixels = torch.tensor([[96.0, 128.0], [0.0, 0.0], [192.0, 256.0]])
    crop = pixels_to_crop(pixels)
    assert torch.allclose(crop, torch.tensor([[0.0, 0.0], [-0.75, -1.0], [0.75, 1.0]]))
    assert torch.allclose(crop_to_pixels(crop), pixels)


def test_orthographic_views_are_mid_hip_centred():
    points = torch.tensor([[[1.2, 0.0, 2.4], [-1.2, 0.0, 2.4], [0.0, -1.2, 3.6]]])  # two hips, a head
    side, top = orthographic_views(points, [0, 1], scale_m=1.2)
    assert torch.allclose(side, torch.tensor([[[0.0, 0.0], [0.0, 0.0], [1.0, -1.0]]]))  # (z, y)
    assert torch.allclose(top, torch.tensor([[[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0]]]))  # (x, z)


def test_soft_argmax_finds_a_sharp_peak():
    heatmaps = torch.zeros(1, 1, 64, 48)
    heatmaps[0, 0, 10, 40] = 1.0
    got = soft_argmax(heatmaps, 256, 192, beta=1000.0)
    want = pixels_to_crop(torch.tensor([40 * 191 / 47, 10 * 255 / 63]))
    assert torch.allclose(got[0, 0], want, atol=1e-5)


def test_body_model_matches_engine_numpy_forward(any_body_path):
    body_path = any_body_path
    torch.manual_seed(0)
    body = BodyModel.from_file(body_path).double()
    rotations = rot6d_to_rotmat(torch.randn(3, 24, 6, dtype=torch.float64))
    betas = torch.randn(3, 10, dtype=torch.float64)
    out = body(rotations, betas)
    engine = body_forward(load_body_model(body_path), rotations.numpy(), betas.numpy(), keypoint_sets=("lsp14",))
    assert np.allclose(out.vertices.numpy(), engine.vertices, atol=1e-9)
    assert np.allclose(out.joints.numpy(), engine.joints, atol=1e-9)
    assert np.allclose(out.keypoints[:, :14].numpy(), engine.keypoints["lsp14"], atol=1e-9)


def test_config_from_body_model_reads_counts_and_names(body_path):
    config = config_from_body_model(body_path, "tiny")
    model_file = load_body_model(body_path)
    _, names = select_keypoints(model_file)
    assert config.body.model_id == SYNTHETIC_MODEL_ID
    assert config.body.num_vertices == model_file.num_vertices
    assert config.model.num_keypoints == len(names) == 30
    assert config.body.contact_vertex_ids == model_file.contact_vertex_ids.tolist()
    assert config.model.num_left_contact_vertices == len(model_file.left_sole_ids)
    assert [names[i] for i in config.body.root_keypoints] == ["left_hip", "right_hip"]
    assert len(set(names)) == len(names)
