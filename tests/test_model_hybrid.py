"""The hybrid backbone: BlazePose's ONNX trunk converted to torch (parity with ONNX Runtime on real LSP photos),
the config, trainable stages, cached trunk features, checkpoints without the ONNX, export with the trunk
inside and the engine cropping to the file's 256x256."""

from __future__ import annotations

import pathlib
from dataclasses import asdict

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from engine.body.active import resolve_body_model
from engine.capture.crops import CropWindows, crop_frame, frame_to_crop_affine, normalised_to_frame
from engine.capture.infer import PoseEstimator
from engine.capture.network_pass import _crops
from engine.errors import PlantedError
from engine.keypoints.models import model_spec
from engine.model_contract import IMAGENET_MEAN, IMAGENET_STD, InputSpec
from training.body import config_from_body_model
from training.checkpoint import load_checkpoint, save_checkpoint
from training.config import model_config
from training.export import FP32_TOLERANCE, export_onnx, verify_onnx
from training.model.network import PlantedNet
from training.model.trunks import pretrained
from training.model.trunks.cache import trunk_features
from training.model.trunks.pretrained import PretrainedTrunk, TrunkFeature, feature_spec

DATA = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"
LSP = DATA / "images" / "lsp" / "images"
VIDEO = DATA / "video"
FREE_BODY = pathlib.Path(__file__).resolve().parents[1] / "engine" / "assets" / "free_body_model.npz"


@pytest.fixture(scope="module")
def lsp_crops() -> np.ndarray:
    """Four LSP photos resized to 256 x 256, RGB in [0, 1] (the engine's range for BlazePose)."""
    files = sorted(LSP.glob("*.jpg"))[:4]
    assert len(files) == 4, f"LSP images missing under {LSP}"
    return np.stack([cv2.resize(cv2.imread(str(f))[:, :, ::-1], (256, 256)) for f in files]).astype(np.float32) / 255


def _imagenet_nchw(rgb01: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(((rgb01 - IMAGENET_MEAN) / IMAGENET_STD).astype(np.float32)).permute(0, 3, 1, 2)


@pytest.mark.parametrize("trunk", ["blazepose_heavy", "blazepose_full", "blazepose_lite", "movenet_thunder",
                                   "movenet_lightning"])
def test_converted_trunk_matches_onnx_runtime_on_real_photos(trunk, lsp_crops):
    model = onnx.load(str(model_spec(trunk).path))
    names = [feature_spec(trunk, f).tensor for f in ("bottleneck", "decoder")]
    for name in names:  # expose the intermediate tensors as graph outputs
        model.graph.output.append(onnx.helper.make_empty_tensor_value_info(name))
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    side = model_spec(trunk).input_size
    photos = np.stack([cv2.resize(p, (side, side)) for p in lsp_crops])
    scale = 255.0 if trunk.startswith("movenet") else 1.0  # the engine feeds MoveNet 0..255, BlazePose 0..1
    reference = session.run(names, {"image": photos * np.float32(scale)})  # NHWC, as the engine feeds it
    image = _imagenet_nchw(photos)
    for feature, want in zip(("bottleneck", "decoder"), reference, strict=True):
        net = PretrainedTrunk(trunk, feature).eval()
        with torch.no_grad():
            got = net(image).numpy()
        spec = feature_spec(trunk, feature)
        assert got.shape == want.shape == (4, spec.channels, side // spec.stride, side // spec.stride)
        assert np.abs(want).max() > 0.1  # real features, not a blank map
        assert np.abs(got - want).max() / np.abs(want).max() < 1e-3, (trunk, feature)


def test_heavy_trunk_features_are_the_measured_ones():
    assert feature_spec("blazepose_heavy", "bottleneck") == TrunkFeature("t535", 272, 32)
    assert feature_spec("blazepose_heavy", "decoder") == TrunkFeature("t545", 48, 4)
    with pytest.raises(PlantedError, match="unknown trunk"):
        feature_spec("resnet50", "bottleneck")
    with pytest.raises(PlantedError, match="trunk_feature"):
        feature_spec("blazepose_heavy", "pyramid")


def test_hybrid_config_takes_the_trunks_square_input_and_refuses_bad_values():
    cfg = model_config("tiny", backbone="hybrid")
    assert (cfg.image_height, cfg.image_width) == (256, 256)
    assert model_config("tiny").image_width == 192
    assert model_config("tiny", backbone="hybrid", trunk_feature="decoder").resolved_trunk_patch_size == 4
    with pytest.raises(PlantedError, match="trunk must be one of"):
        model_config("tiny", backbone="hybrid", trunk="resnet50")
    with pytest.raises(PlantedError, match="divisible by 32"):
        model_config("tiny", backbone="hybrid", image_height=250)
    with pytest.raises(PlantedError, match="trunk_trainable_stages"):
        model_config("tiny", backbone="hybrid", trunk_trainable_stages=9)
    with pytest.raises(PlantedError, match="backbone must be one of"):
        model_config("tiny", backbone="resnet")


def _hybrid(**overrides):
    cfg = config_from_body_model(FREE_BODY, "tiny", backbone="hybrid", depth=2, regressor_hidden=256,
                                 contact_hidden=256, **overrides)
    torch.manual_seed(0)
    return PlantedNet(**asdict(cfg.model)), cfg


def test_frozen_trunk_gets_no_gradient_and_the_rest_does(lsp_crops):
    net, _ = _hybrid()
    assert not any(p.requires_grad for p in net.trunk.parameters())
    out = net.train()(_imagenet_nchw(lsp_crops[:2]))
    assert out["pred_heatmaps"].shape[2:] == (32, 32)  # 4x the 8 x 8 token grid
    (out["pred_rot6d"].square().sum() + out["pred_kp2d_front"].square().sum()).backward()
    assert net.encoder.patch_embed.proj.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in net.trunk.parameters())


def test_trainable_stages_train_only_the_last_stages(lsp_crops):
    net, _ = _hybrid(trunk_trainable_stages=1)
    stages = net.trunk.net.stages
    assert len(stages) == 5
    net.train()(_imagenet_nchw(lsp_crops[:2]))["pred_rot6d"].square().sum().backward()
    convs = net.trunk.net.convs
    assert all(convs[key].weight.grad is not None and convs[key].weight.grad.abs().sum() > 0 for key in stages[-1])
    assert all(convs[key].weight.grad is None for stage in stages[:-1] for key in stage)
    with pytest.raises(PlantedError, match="0..5 for this trunk"):
        _hybrid(trunk_trainable_stages=6)


def test_forward_from_cached_features_equals_forward_from_the_image(lsp_crops):
    net, _ = _hybrid(trunk_feature="decoder")
    image = _imagenet_nchw(lsp_crops)
    net.eval()
    features = trunk_features(net, image, batch_size=3)  # two chunks
    assert features.shape == (4, 48, 64, 64) and not features.requires_grad
    with torch.no_grad():
        direct, cached = net(image), net(features=features)
    for key, value in direct.items():  # chunks of 3 and 1 round a little differently from one batch of 4
        assert torch.allclose(value.float(), cached[key].float(), rtol=1e-5, atol=1e-5), key
    trainable, _ = _hybrid(trunk_trainable_stages=2)
    with pytest.raises(PlantedError, match="stale"):
        trunk_features(trainable, image)
    vit = PlantedNet(**asdict(model_config("tiny", depth=1)))
    with pytest.raises(PlantedError, match="hybrid"):
        trunk_features(vit, image)


def test_checkpoint_rebuilds_the_trunk_without_its_onnx_file(tmp_path, lsp_crops, monkeypatch):
    net, cfg = _hybrid()
    path = save_checkpoint(tmp_path / "hybrid.pt", net, cfg)

    def no_onnx(*_):
        raise AssertionError("the checkpoint's trunk must not read engine/assets")

    monkeypatch.setattr(pretrained, "_read", no_onnx)
    loaded, loaded_cfg = load_checkpoint(path)
    assert loaded_cfg.model.backbone == "hybrid"
    image = _imagenet_nchw(lsp_crops[:2])
    with torch.no_grad():
        want, got = net.eval()(image), loaded.eval()(image)
    assert torch.equal(want["pred_pose_rotmat"], got["pred_pose_rotmat"])
    assert torch.equal(want["pred_heatmaps"], got["pred_heatmaps"])


def test_square_crops_map_back_to_the_frame():
    frame = np.zeros((480, 640, 3), np.uint8)
    cv2.circle(frame, (400, 200), 3, (255, 255, 255), -1)
    windows = CropWindows(np.array([[350.0, 240.0]]), np.array([320.0]))
    crop = crop_frame(frame, frame_to_crop_affine(windows, (256, 256))[0], (256, 256))
    assert crop.shape == (256, 256, 3)
    y, x = np.argwhere(crop[..., 0] > 128).mean(axis=0)
    normalised = (np.array([[[x, y]]]) - 128.0) / 128.0  # crop centre (128, 128), 128 px per unit
    assert np.allclose(normalised_to_frame(normalised, windows, 256)[0, 0], (400, 200), atol=1.0)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """(file, net, parity report) of a randomly initialised hybrid tiny (2 layers) for the active body model."""
    config = config_from_body_model(resolve_body_model().path, "tiny", backbone="hybrid", depth=2)
    torch.manual_seed(0)
    net = PlantedNet(**asdict(config.model))
    path = tmp_path_factory.mktemp("hybrid") / "hybrid.onnx"
    report = export_onnx(net, config, path, trained=False)
    return path, net, report


@pytest.fixture(scope="module")
def hybrid_file(exported):
    return exported[0]


def test_exported_hybrid_matches_torch(exported):
    path, net, report = exported
    assert report.ok and max(report.max_abs_error.values()) < 1e-4, report.summary()
    again = verify_onnx(path, net, FP32_TOLERANCE, batch=5, seed=3)  # another batch size and other images
    assert again.ok, again.summary()


def test_exported_hybrid_is_one_file_that_the_engine_crops_for(hybrid_file):
    from engine.body.active import load_active_body_model

    model = onnx.load(str(hybrid_file))
    assert len(model.graph.input) == 1 and not any(t.data_location for t in model.graph.initializer)
    assert hybrid_file.stat().st_size > 30e6  # the heavy trunk's ~9.9 M weights are inside (fp32)
    estimator = PoseEstimator(hybrid_file, load_active_body_model(), device="cpu", threads=2)
    assert estimator.input_size == (256, 256)
    assert (estimator.metadata.input.height, estimator.metadata.input.width) == (256, 256)
    capture = cv2.VideoCapture(str(VIDEO / "pose_1.mp4"))
    ok, bgr = capture.read()
    capture.release()
    assert ok
    frame = np.ascontiguousarray(bgr[:, :, ::-1])
    windows = CropWindows(np.array([[frame.shape[1] / 2, frame.shape[0] / 2]]), np.array([frame.shape[0] * 0.9]))
    crops = _crops([frame], windows, estimator.metadata.input)
    assert crops.shape == (1, 3, 256, 256)
    out = estimator.run(crops)
    num_k = len(estimator.metadata.keypoint_names)
    assert out.pose_rotmat.shape == (1, 24, 3, 3) and out.kp2d_front.shape == (1, num_k, 2)
    assert np.isfinite(out.pose_rotmat).all()
    with pytest.raises(PlantedError, match="256x256"):
        estimator.run(_crops([frame], windows, InputSpec()))  # the default 256x192 crop


def test_capture_runs_the_hybrid_network_on_a_real_clip(hybrid_file):
    from engine.capture.pipeline import CaptureSettings, capture

    settings = CaptureSettings(estimator="network", model_path=str(hybrid_file), start=10, end=20, stride=2,
                               threads=2)
    result = capture(VIDEO / "pose_1.mp4", settings)
    assert result.num_frames == 5 and result.motion.rotations.shape == (5, 24, 3, 3)
    assert np.isfinite(result.motion.rotations).all()
