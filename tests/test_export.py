"""ONNX export: the contract's inputs, outputs and metadata, ORT-vs-torch parity (fp32 and fp16), per-sample trees."""

from __future__ import annotations

import pathlib
from dataclasses import asdict

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from engine.body.model import load_body_model
from engine.errors import PlantedError
from engine.model_contract import METADATA_KEY, OUTPUT_NAMES, ModelMetadata
from training.body import config_from_body_model
from training.checkpoint import load_checkpoint, save_checkpoint
from training.export import ContractWrapper, export_onnx, export_random_model, main
from training.model.network import PlantedNet
from training.model.rktd import RKTDecoder
from training.synthetic_body import write_synthetic_body_model

FREE_BODY_MODEL = pathlib.Path(__file__).resolve().parents[1] / "engine" / "assets" / "free_body_model.npz"


@pytest.fixture(scope="module")
def body_path(tmp_path_factory):
    """The shipped free body model where it exists, else a synthetic one in the same layout."""
    if FREE_BODY_MODEL.is_file():
        return FREE_BODY_MODEL
    return write_synthetic_body_model(tmp_path_factory.mktemp("body") / "body.npz")


def _session(path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _metadata(path) -> ModelMetadata:
    props = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
    return ModelMetadata.from_json(props[METADATA_KEY], str(path))


def test_cli_exports_a_checkpoint_that_meets_the_contract(body_path, tmp_path, capsys):
    config = config_from_body_model(body_path, "tiny")
    torch.manual_seed(0)
    net = PlantedNet(**asdict(config.model)).eval()
    with torch.no_grad():  # livelier than the init: heatmaps with peaks, poses far from the rest pose
        for layer in (net.cvf.front_head.deconv_layers[0], net.cvf.front_head.deconv_layers[3],
                      net.cvf.front_head.final_layer):
            torch.nn.init.normal_(layer.weight, std=0.05)
        for tree in net.decoder.trees:
            torch.nn.init.normal_(tree.feature_part.weight, std=0.05)
    checkpoint = save_checkpoint(tmp_path / "tiny.pt", net, config)
    out = tmp_path / "model.onnx"
    assert main([str(checkpoint), "-o", str(out), "--model-version", "2.3.4"]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    assert [p.name for p in out.parent.iterdir() if p.name.endswith(".tmp")] == []

    session = _session(out)
    assert [(i.name, i.type, i.shape[1:]) for i in session.get_inputs()] == [("image", "tensor(float)", [3, 256, 192])]
    assert tuple(o.name for o in session.get_outputs()) == OUTPUT_NAMES
    body = load_body_model(body_path)
    meta = _metadata(out)
    assert meta.trained is True and meta.model_version == "2.3.4"
    assert meta.body_model_id == body.model_id and meta.body_model_num_vertices == body.num_vertices
    assert meta.mismatches(body.model_id, body.num_vertices, body.contact_vertex_ids) == []
    assert meta.num_left_contact_vertices == len(body.left_sole_ids)
    assert len(meta.keypoint_names) == config.model.num_keypoints and meta.joint_names[0] == "pelvis"

    reloaded, _ = load_checkpoint(checkpoint)
    for batch in (1, 2):  # dynamic batch axis (verification inside the export ran batch 3)
        image = torch.randn(batch, 3, 256, 192, generator=torch.Generator().manual_seed(batch))
        got = session.run(None, {"image": image.numpy()})
        with torch.no_grad():
            want = ContractWrapper(reloaded.eval())(image)
        shapes = [(batch, 24, 3, 3), (batch, 10), (batch, 3), (batch, len(body.contact_vertex_ids))] + [
            (batch, config.model.num_keypoints, 2)] * 3
        for name, g, w, shape in zip(OUTPUT_NAMES, got, want, shapes, strict=True):
            assert g.shape == shape, name
            assert np.abs(g - w.numpy()).max() < 1e-4, name
        if batch > 1:  # the outputs depend on the image (a constant network would pass parity trivially)
            assert np.abs(got[0][0] - got[0][1]).max() > 1e-2 and np.abs(got[4][0] - got[4][1]).max() > 1e-3


def test_random_model_exports_in_half_precision(body_path, tmp_path):
    out = export_random_model(tmp_path / "half.onnx", "tiny", body_model_path=body_path, seed=3, fp16=True)
    model = onnx.load(str(out))
    dtypes = {init.data_type for init in model.graph.initializer if len(init.dims) >= 2}
    assert dtypes == {onnx.TensorProto.FLOAT16}
    # stored half, computed in float32: every cast in the graph goes to float32
    cast_to = {a.i for n in model.graph.node if n.op_type == "Cast" for a in n.attribute if a.name == "to"}
    assert onnx.TensorProto.FLOAT in cast_to and onnx.TensorProto.FLOAT16 not in cast_to
    assert out.stat().st_size < 0.6 * export_random_model(tmp_path / "full.onnx", "tiny", body_model_path=body_path,
                                                          seed=3).stat().st_size
    assert _metadata(out).trained is False
    config = config_from_body_model(body_path, "tiny")
    torch.manual_seed(3)
    net = PlantedNet(**asdict(config.model)).eval()
    image = torch.randn(2, 3, 256, 192, generator=torch.Generator().manual_seed(7))
    got = _session(out).run(None, {"image": image.numpy()})
    with torch.no_grad():
        want = ContractWrapper(net)(image)
    for name, g, w in zip(OUTPUT_NAMES, got, want, strict=True):
        assert g.dtype == np.float32
        assert np.abs(g - w.numpy()).max() < 2e-2, name


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_per_sample_tree_choice_survives_onnx(tmp_path):
    """Only the decoder: contacts set per sample so one batch uses all three trees in ONNX Runtime too."""
    torch.manual_seed(4)
    vc = 8
    decoder = RKTDecoder(vc, vc, 4, "rktd", hidden=16, dropout=0.0, contact_hidden=vc).eval()
    with torch.no_grad():
        decoder.contact_head[0].weight.copy_(torch.eye(vc))
        decoder.contact_head[0].bias.zero_()
        decoder.contact_head[2].weight.copy_(torch.eye(vc))
        decoder.contact_head[2].bias.fill_(-1.0)
        for tree in decoder.trees:
            torch.nn.init.normal_(tree.feature_part.weight, std=0.3)

    class Rot(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.decoder = decoder

        def forward(self, feature):
            out = self.decoder(feature)
            return out["pred_pose_rotmat"], out["pred_tree"]

    # left 3 / right 1 -> left tree; 1 / 3 -> right; 0 / 0 (airborne) -> base
    feature = torch.tensor([[5, 5, 5, -5, 5, -5, -5, -5], [5, -5, -5, -5, 5, 5, 5, -5],
                            [-5, -5, -5, -5, -5, -5, -5, -5]], dtype=torch.float32)
    path = tmp_path / "decoder.onnx"
    torch.onnx.export(Rot(), (feature[:1],), str(path), input_names=["feature"], output_names=["rot", "tree"],
                      dynamic_axes={"feature": {0: "b"}, "rot": {0: "b"}, "tree": {0: "b"}}, dynamo=False)
    rot, tree = _session(path).run(None, {"feature": feature.numpy()})
    assert tree.tolist() == [1, 2, 0]
    with torch.no_grad():
        want_rot, _ = Rot()(feature)
    assert np.abs(rot - want_rot.numpy()).max() < 1e-5


def test_export_refuses_what_the_contract_cannot_hold(body_path, tmp_path, capsys):
    config = config_from_body_model(body_path, "tiny", depth=1, views="front_top")
    net = PlantedNet(**asdict(config.model))
    checkpoint = save_checkpoint(tmp_path / "ablation.pt", net, config)
    assert main([str(checkpoint), "-o", str(tmp_path / "x.onnx")]) == 2
    assert "three views" in capsys.readouterr().err
    assert not (tmp_path / "x.onnx").exists()
    assert main([str(tmp_path / "missing.pt"), "-o", str(tmp_path / "x.onnx")]) == 2
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(PlantedError, match="body model"):
        export_random_model(tmp_path / "y.onnx", "tiny", body_model_path=tmp_path / "nope.npz")


def test_hybrid_backbone_exports_in_half_precision_within_tolerance(body_path, tmp_path):
    """The hybrid (BlazePose heavy trunk inside) in fp16: parity within the fp16 tolerance, input 256x256."""
    config = config_from_body_model(body_path, "tiny", backbone="hybrid", depth=2)
    torch.manual_seed(0)
    net = PlantedNet(**asdict(config.model))
    out = tmp_path / "hybrid16.onnx"
    report = export_onnx(net, config, out, fp16=True, trained=False)
    assert report.ok, report.summary()
    assert _metadata(out).input.height == 256 and _metadata(out).input.width == 256
    shape = [d.dim_value or d.dim_param for d in onnx.load(str(out)).graph.input[0].type.tensor_type.shape.dim]
    assert shape == ["batch", 3, 256, 256]
