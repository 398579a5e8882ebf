"""Export a checkpoint to the ONNX file the engine runs, and verify it in the same call.

    python -m training.export CHECKPOINT -o model.onnx [--fp16] [--model-version X.Y.Z]

--fp16 stores the weights in half precision (half the file) and keeps the arithmetic in float32: each
weight is a float16 initializer cast to float32 in the graph, which ONNX Runtime folds once at load. Half
precision arithmetic would not pay on the CPU, where ONNX Runtime lacks float16 kernels for most
operators and casts around each of them (measured on the default model, batch 1, 2 threads: 18.6 ms
against 15.8 ms for half weights and float32 arithmetic).

The file follows DESIGN.md's model contract (engine/model_contract.py): input `image` (N, 3, H, W) float32,
H x W the config's image size (256 x 192 for the ViT, 256 x 256 for the hybrid backbone, whose pretrained
trunk is inside the same file) and the metadata's `input.height` / `input.width`; outputs pose_rotmat, betas,
cam, contact, kp2d_front, kp2d_side, kp2d_top with a dynamic batch axis, and metadata_props["planted"] =
ModelMetadata.to_json(). RKTD's per-sample tree choice is exported whole (all trees evaluated, gathered per sample).

Verification: onnx.checker, then ONNX Runtime (CPU) against the fp32 torch network on seeded random
images at a batch size other than the traced one. Tolerances (max absolute difference per output):
1e-4 for fp32; 2e-2 for --fp16 (weights rounded to ~3 significant digits, through 12-24 transformer
layers; the measured error is logged). A sample whose tree choice differs (a contact
probability within rounding of the 0.5 threshold) is left out of the pose comparison and reported;
every sample flipping is a failure. The file appears (atomically) only when verification passes.
"""

from __future__ import annotations

import argparse
import logging
import os
import pathlib
import sys
import warnings
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import nn

from engine.atomic import atomic_path
from engine.body.joints import SMPL_JOINT_NAMES
from engine.errors import PlantedError, command_exit_code
from engine.model_contract import METADATA_KEY, OUTPUT_NAMES, InputSpec, ModelMetadata
from training.config import Config
from training.model.network import PlantedNet
from training.model.rktd import select_tree

logger = logging.getLogger(__name__)

FP32_TOLERANCE = 1e-4
FP16_TOLERANCE = 2e-2
DEFAULT_OPSET = 17


class ContractWrapper(nn.Module):
    """PlantedNet -> the contract's output tuple."""

    def __init__(self, net: PlantedNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, image: torch.Tensor):
        pred = self.net(image)
        return tuple(pred[f"pred_{name}"].float() for name in OUTPUT_NAMES)


@dataclass
class ParityReport:
    """Max absolute ORT-vs-torch difference per output, the tolerance, and samples whose tree choice flipped."""

    max_abs_error: dict[str, float] = field(default_factory=dict)
    tolerance: float = FP32_TOLERANCE
    batch: int = 0
    tree_flips: int = 0

    @property
    def ok(self) -> bool:
        return all(v <= self.tolerance for v in self.max_abs_error.values()) and self.tree_flips < self.batch

    def summary(self) -> str:
        errors = ", ".join(f"{k} {v:.2e}" for k, v in self.max_abs_error.items())
        return f"max |ORT - torch| per output (tolerance {self.tolerance:g}, batch {self.batch}): {errors}; " \
               f"tree flips {self.tree_flips}"


def metadata_for(config: Config, trained: bool = False, model_version: str = ModelMetadata.model_version
                 ) -> ModelMetadata:
    """The contract metadata of a network built from `config` (its body model reference must be filled)."""
    body, model = config.body, config.model
    if not body.contact_vertex_ids or body.model_id == "unknown":
        raise PlantedError("the checkpoint's config names no body model: build it with "
                           "training.body.config_from_body_model")
    if len(body.contact_vertex_ids) != model.num_contact_vertices or len(body.keypoint_names) != model.num_keypoints:
        raise PlantedError("the checkpoint's body model reference disagrees with its network sizes "
                           f"({len(body.contact_vertex_ids)} contact ids vs {model.num_contact_vertices} outputs, "
                           f"{len(body.keypoint_names)} keypoint names vs {model.num_keypoints})")
    return ModelMetadata(
        body_model_id=body.model_id, body_model_num_vertices=body.num_vertices, joint_names=SMPL_JOINT_NAMES,
        keypoint_names=tuple(body.keypoint_names), contact_vertex_ids=tuple(body.contact_vertex_ids),
        num_left_contact_vertices=body.num_left_contact_vertices, trained=trained, model_version=model_version,
        input=InputSpec(height=model.image_height, width=model.image_width),
        config={"size": config.size, "keypoint_set": body.keypoint_set, "model": asdict(model)},
    )


def _trace_to_onnx(net: PlantedNet, path: pathlib.Path, opset: int) -> None:
    wrapper = ContractWrapper(net).eval()
    dummy = torch.zeros(1, 3, *_image_size(net))
    dynamic = {name: {0: "batch"} for name in ("image", *OUTPUT_NAMES)}
    # dynamo=False: the TorchScript exporter (the dynamo one needs onnxscript, which is not installed);
    # torch marks it deprecated, which is noise here
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(wrapper, (dummy,), str(path), input_names=["image"], output_names=list(OUTPUT_NAMES),
                          dynamic_axes=dynamic, opset_version=opset, dynamo=False)


# Smaller constants (shapes, scalars) stay float32: a cast would cost more than the bytes it saves.
_HALF_MIN_ELEMENTS = 16


def store_weights_half(path: pathlib.Path) -> None:
    """Rewrite the ONNX file so that each float32 weight is stored as float16 and cast back to float32 in
    the graph (module docstring: --fp16)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(path))
    graph = model.graph
    initializers, casts = [], []
    for init in graph.initializer:
        if init.data_type != TensorProto.FLOAT or int(np.prod(init.dims)) < _HALF_MIN_ELEMENTS:
            initializers.append(init)
            continue
        half = numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float16), f"{init.name}__fp16")
        initializers.append(half)
        casts.append(helper.make_node("Cast", [half.name], [init.name], to=TensorProto.FLOAT,
                                      name=f"{init.name}__cast"))
    nodes = list(graph.node)
    del graph.initializer[:], graph.node[:]
    graph.initializer.extend(initializers)
    graph.node.extend(casts + nodes)
    onnx.save(model, str(path))


def _image_size(net: PlantedNet) -> tuple[int, int]:
    return net.cvf.image_size


def _write_metadata(path: pathlib.Path, metadata: ModelMetadata) -> None:
    import onnx

    model = onnx.load(str(path))
    del model.metadata_props[:]
    entry = model.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, metadata.to_json()
    onnx.save(model, str(path))


def verify_onnx(path: pathlib.Path, net: PlantedNet, tolerance: float, batch: int = 3, seed: int = 0,
                num_threads: int = 2) -> ParityReport:
    """onnx.checker, then ORT CPU against the fp32 torch network on seeded random images."""
    import onnx
    import onnxruntime as ort

    onnx.checker.check_model(str(path))
    options = ort.SessionOptions()
    options.intra_op_num_threads = num_threads
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    generator = torch.Generator().manual_seed(seed)
    image = torch.randn(batch, 3, *_image_size(net), generator=generator)
    ours = session.run(list(OUTPUT_NAMES), {"image": image.numpy()})
    with torch.no_grad():
        pred = net.float().eval()(image)
    reference = [pred[f"pred_{name}"] for name in OUTPUT_NAMES]
    tree_torch = pred["pred_tree"].numpy()
    decoder = net.decoder
    tree_ort = select_tree(torch.from_numpy(ours[3]), decoder.num_left, decoder.contact_threshold,
                           decoder.tree_rule).numpy()
    same_tree = tree_ort == tree_torch if decoder.decoder == "rktd" else np.ones(batch, bool)
    report = ParityReport(tolerance=tolerance, batch=batch, tree_flips=int((~same_tree).sum()))
    for name, got, want in zip(OUTPUT_NAMES, ours, reference, strict=True):
        want = want.numpy()
        if got.shape != want.shape:
            raise PlantedError(f"exported output {name} has shape {got.shape}, torch gives {want.shape}")
        if name == "pose_rotmat":
            got, want = got[same_tree], want[same_tree]
        report.max_abs_error[name] = float(np.abs(got - want).max()) if got.size else 0.0
    if report.tree_flips:
        logger.warning("%d of %d samples chose another kinematic tree in ONNX Runtime (contact at the threshold)",
                       report.tree_flips, batch)
    return report


def export_onnx(net: PlantedNet, config: Config, output: str | os.PathLike, fp16: bool = False,
                trained: bool = True, opset: int = DEFAULT_OPSET,
                model_version: str = ModelMetadata.model_version) -> ParityReport:
    """Trace `net` to `output` with the contract metadata, verify it, and move it into place atomically.

    Raises PlantedError (and leaves no file) when the network lacks an output of the contract or
    verification fails.
    """
    if config.model.views != "front_side_top":
        raise PlantedError(f"only networks with all three views export to the engine's contract "
                           f"(this one has views={config.model.views!r})")
    output = pathlib.Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    metadata = metadata_for(config, trained=trained, model_version=model_version)
    net = net.float().eval()
    with atomic_path(output, what="ONNX model") as tmp:
        _trace_to_onnx(net, tmp, opset)
        if fp16:
            store_weights_half(tmp)
        _write_metadata(tmp, metadata)
        report = verify_onnx(tmp, net, FP16_TOLERANCE if fp16 else FP32_TOLERANCE)
        logger.info("verified: %s", report.summary())
        if not report.ok:
            raise PlantedError(f"exported model does not match torch: {report.summary()}")
    return report


def export_checkpoint(checkpoint: str | os.PathLike, output: str | os.PathLike, fp16: bool = False,
                      model_version: str = ModelMetadata.model_version) -> ParityReport:
    from training.checkpoint import load_checkpoint

    net, config = load_checkpoint(checkpoint)
    return export_onnx(net, config, output, fp16=fp16, trained=True, model_version=model_version)


def export_random_model(path: str | os.PathLike, size: str = "tiny", body_model_path: str | os.PathLike | None = None,
                        seed: int = 0, fp16: bool = False, **model_overrides) -> pathlib.Path:
    """Write a valid contract file from a randomly initialised network (for tests of the engine): seconds for tiny.

    body_model_path defaults to the shipped free body model (engine/assets/free_body_model.npz).
    """
    from training.body import config_from_body_model

    if body_model_path is None:
        body_model_path = pathlib.Path(__file__).resolve().parents[1] / "engine" / "assets" / "free_body_model.npz"
    config = config_from_body_model(body_model_path, size, **model_overrides)
    torch.manual_seed(seed)
    net = PlantedNet(**asdict(config.model))
    export_onnx(net, config, path, fp16=fp16, trained=False)
    return pathlib.Path(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.export", description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", help="a .pt file written by training (torch.save of config and model)")
    parser.add_argument("-o", "--output", required=True, help="the .onnx file to write")
    parser.add_argument("--fp16", action="store_true", help="store the weights in half precision (float32 arithmetic)")
    parser.add_argument("--model-version", default=ModelMetadata.model_version,
                        help="the version the metadata gives the model (shown by planted capture's summary)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    def run() -> None:
        export_checkpoint(args.checkpoint, args.output, fp16=args.fp16, model_version=args.model_version)
        print(f"wrote {args.output}")

    return command_exit_code("export", run)


if __name__ == "__main__":
    sys.exit(main())
