"""Evaluate a trained network: `python -m training.evaluate --model CKPT_OR_ONNX --data SPEC [--data SPEC] --out DIR`.

SPEC names a data set: `toy_discs[:COUNT[:SEED]]` (independent toy examples, training.toy_discs),
`toy_sequences[:SEQUENCES[:FRAMES[:SEED]]]` (smooth toy sequences, for foot sliding and acceleration), or
a 2D set of real photos, `lsp_test[:COUNT]` or `lspet_eval[:COUNT]` (../shared/data/images; PCK only). Pick
toy seeds that training did not use (the defaults, 1000 and up, are held out from the shipped configs').

Per data set, DIR gets a markdown table in report.md, the numbers in metrics.json, and tri-view figures
(figures/<set>_<n>.png: the image, side and top views of the predicted and true bodies, as the paper's Fig. 5).
Metrics (training.metrics for their definitions): MPJPE and PA-MPJPE on LSP's 14 joints (mid-hip root) and
on SMPL's 24 joints (pelvis root), PVE, foot MPJPE on the 6 foot keypoints, contact precision / recall / F1
over the contact vertices, foot sliding and acceleration error (sequences), side and top view errors, and
PCK@0.2 of the front 2D keypoints on LSP's 12 limb joints (torso = |left shoulder - right hip|).
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
from collections import defaultdict

import cv2
import numpy as np
import torch

from engine.atomic import atomic_path
from engine.body.keypoints import FEET6_NAMES, LSP14_NAMES
from engine.errors import PlantedError
from engine.keypoints.sets import LSP_LIMB_NAMES
from training import metrics
from training.body import ROOT_KEYPOINTS, BodyModel
from training.config import BodyModelRef, Config, ModelConfig
from training.data.example import Example, examples_to_batch
from training.data.lsp import torso_size
from training.geometry import orthographic_views
from training.run_config import DEFAULT_BODY_MODEL
from training.toy_discs import toy_disc_examples, toy_disc_sequences
from training.triview_figure import write_triview_figure

ONNX_OUTPUTS = ("pose_rotmat", "betas", "cam", "contact", "kp2d_front", "kp2d_side", "kp2d_top")


class Predictor:
    """A checkpoint (.pt, through training.checkpoint) or an exported ONNX file, run on batches of Examples."""

    def __init__(self, path: str | pathlib.Path, body_model: str | None = None) -> None:
        path = pathlib.Path(path)
        if not path.is_file():
            raise PlantedError(f"--model {path} does not exist: pass a checkpoint .pt or an exported .onnx")
        if path.suffix == ".onnx":
            import onnxruntime

            from engine.model_contract import METADATA_KEY, ModelMetadata

            self.session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            meta = ModelMetadata.from_json(self.session.get_modelmeta().custom_metadata_map[METADATA_KEY])
            self.config = config_from_metadata(meta)
            self.net = None
        else:
            from training.checkpoint import load_checkpoint

            self.net, self.config = load_checkpoint(path)
            self.net.eval()
            raw = torch.load(path, map_location="cpu", weights_only=True)
            body_model = body_model or raw.get("run", {}).get("body_model")
        self.body_model = body_model or DEFAULT_BODY_MODEL

    @property
    def image_size(self) -> tuple[int, int]:
        return self.config.model.image_height, self.config.model.image_width

    def __call__(self, batch: dict) -> dict[str, np.ndarray]:
        """pred_* arrays for batch["image"] (B, 3, H, W)."""
        if self.net is not None:
            with torch.no_grad():
                out = self.net(batch["image"])
            return {k: v.float().numpy() for k, v in out.items() if k.startswith("pred_")}
        values = self.session.run(list(ONNX_OUTPUTS), {"image": batch["image"].numpy()})
        return {f"pred_{n}": v for n, v in zip(ONNX_OUTPUTS, values, strict=True)}


def config_from_metadata(meta) -> Config:
    """The Config of an exported file: the network's fields from its config, the body reference from the
    contract's own fields (the loss settings, which evaluation uses for the view scale, are the defaults)."""
    names = list(meta.keypoint_names)
    body = BodyModelRef(
        model_id=meta.body_model_id, num_vertices=meta.body_model_num_vertices,
        keypoint_set=meta.config.get("keypoint_set", "superset30"), keypoint_names=names,
        contact_vertex_ids=list(meta.contact_vertex_ids), num_left_contact_vertices=meta.num_left_contact_vertices,
        root_keypoints=[names.index(n) for n in ROOT_KEYPOINTS if n in names])
    return Config(size=meta.config.get("size", "base"), model=ModelConfig(**meta.config.get("model", {})), body=body)


def load_data(spec: str, body: BodyModel, image_size: tuple[int, int], contact_ids) -> tuple[str, list[Example]]:
    """(name, examples) for a --data SPEC (module docstring)."""
    kind, *args = spec.split(":")
    if kind == "shards":  # shards:GLOB[:COUNT], e.g. the held-out synthetic clips' shards
        return shard_examples(spec, args, image_size)
    if kind == "synthetic_sequences":  # synthetic_sequences[:CLIPS_FRAMES[:SEED]]: held-out clips, one camera each
        numbers = [int(a) for a in args] if args else []
        frames, seed = (numbers + [48, 0][len(numbers):])[:2]
        return f"synthetic_sequences_{seed}", synthetic_sequences(body, frames, seed, image_size)
    try:
        numbers = [int(a) for a in args]
    except ValueError:
        raise PlantedError(f"--data {spec}: the numbers after the kind must be integers") from None
    if kind == "toy_discs":
        count, seed = (numbers + [64, 1000][len(numbers):])[:2]
        return f"toy_discs_{seed}", toy_disc_examples(body, count, seed, image_size, contact_ids)
    if kind == "toy_sequences":
        sequences, frames, seed = (numbers + [4, 16, 1001][len(numbers):])[:3]
        return f"toy_sequences_{seed}", toy_disc_sequences(body, sequences, frames, seed, image_size, contact_ids)
    if kind in ("lsp_test", "lspet_eval"):
        return kind, lsp_examples(kind, numbers[0] if numbers else None, image_size)
    raise PlantedError(f"--data {spec}: unknown kind {kind!r}; use toy_discs[:COUNT[:SEED]], "
                       "toy_sequences[:SEQUENCES[:FRAMES[:SEED]]], lsp_test[:COUNT] or lspet_eval[:COUNT]")


def shard_examples(spec: str, args: list[str], image_size: tuple[int, int]) -> tuple[str, list[Example]]:
    import glob

    from training.data.shards import ShardDataset

    if not args:
        raise PlantedError(f"--data {spec}: give the shard files, shards:GLOB[:COUNT]")
    paths = sorted(glob.glob(args[0]))
    if not paths:
        raise PlantedError(f"--data {spec}: no shard files match {args[0]}")
    data = ShardDataset(paths)
    count = min(len(data), int(args[1])) if len(args) > 1 else len(data)
    examples = [data[i] for i in range(count)]
    if examples[0].image.shape[:2] != tuple(image_size):
        raise PlantedError(f"--data {spec}: the shards hold {examples[0].image.shape[0]}x{examples[0].image.shape[1]} "
                           f"crops, the model takes {image_size[0]}x{image_size[1]}")
    return pathlib.Path(paths[0]).stem.rsplit("-", 1)[0], examples


def synthetic_sequences(body: BodyModel, frames: int, seed: int, image_size: tuple[int, int]) -> list[Example]:
    """One sequence of `frames` frames (every 4th at 120 fps: 30 fps) from the middle of each held-out clip."""
    from engine.body.active import load_active_body_model
    from training.data.synthetic.generator import SyntheticSettings, SyntheticSource

    source = SyntheticSource(load_active_body_model(), "held_out", count=1, seed=seed,
                             settings=SyntheticSettings(height=image_size[0], width=image_size[1]))
    examples = []
    for index, clip in enumerate(source.clips):
        stride = max(1, round(clip.fps / 30))
        start = max(0, clip.num_frames // 2 - frames * stride // 2)
        examples += source.sequence(index, start, frames, stride, seed)
    return examples


def lsp_examples(split: str, count: int | None, image_size: tuple[int, int]) -> list[Example]:
    """2D-only Examples of an LSP split: each 224 x 224 photo scaled to fit the crop (aspect kept, centred,
    grey borders), its 14 joints moved with it (confidence 1 where labelled)."""
    from training.data.lsp import load_split
    from training.data.superset import LSP14_TO_SUPERSET, NUM_SUPERSET

    data = load_split(split)
    height, width = image_size
    zoom = min(height, width) / 224.0
    offset = np.array([(width - 224 * zoom) / 2, (height - 224 * zoom) / 2])
    affine = np.array([[zoom, 0, offset[0]], [0, zoom, offset[1]]])
    examples = []
    for i in range(len(data) if count is None else min(count, len(data))):
        image = cv2.warpAffine(data.image(i), affine, (width, height), flags=cv2.INTER_AREA,
                               borderValue=(124, 116, 104))
        kp2d = np.zeros((NUM_SUPERSET, 3), np.float32)
        kp2d[LSP14_TO_SUPERSET, :2] = data.joints[i] * zoom + offset
        kp2d[LSP14_TO_SUPERSET, 2] = data.labelled[i]
        examples.append(Example(image=image, source=split, key=data.paths[i].name, keypoints_2d=kp2d))
    return examples


def predict(predictor: Predictor, examples: list[Example], keypoint_names, batch_size: int = 32) -> dict:
    """pred_* of every example, concatenated (N, ...)."""
    parts = defaultdict(list)
    for start in range(0, len(examples), batch_size):
        batch = examples_to_batch(examples[start:start + batch_size], keypoint_names)
        for key, value in predictor(batch).items():
            parts[key].append(value)
    return {k: np.concatenate(v) for k, v in parts.items()}


def _body(body: BodyModel, pose: np.ndarray, betas: np.ndarray):
    with torch.no_grad():
        out = body(torch.as_tensor(pose, dtype=torch.float32), torch.as_tensor(betas, dtype=torch.float32))
    return out.vertices.double().numpy(), out.joints.double().numpy(), out.keypoints.double().numpy()


def dataset_metrics(pred: dict, examples: list[Example], body: BodyModel, config: Config) -> dict[str, float]:
    """Every metric of the module docstring over one data set (mm unless a fraction)."""
    names = config.body.keypoint_names
    batch = examples_to_batch(examples, names)
    out = _front_pck(pred, batch, names)
    if batch["has_pose"].all():  # 3D labels: sets are either wholly 3D (synthetic) or 2D (photos)
        out.update(_body_metrics(pred, examples, batch, body, config))
    return {k: float(v) for k, v in out.items()}


def _front_pck(pred: dict, batch: dict, names) -> dict[str, float]:
    if "pred_kp2d_front" not in pred:
        return {}
    gt2d = batch["gt_keypoints_2d"].numpy()
    lsp_truth = gt2d[:, [names.index(n) for n in LSP14_NAMES]]
    torso = torso_size(lsp_truth[..., :2], lsp_truth[..., 2] > 0)
    limbs = [names.index(n) for n in LSP_LIMB_NAMES]
    return {"pck_front_0.2": metrics.pck(pred["pred_kp2d_front"][:, limbs], gt2d[:, limbs, :2], torso,
                                         gt2d[:, limbs, 2] > 0)}


def _body_metrics(pred: dict, examples: list[Example], batch: dict, body: BodyModel, config: Config) -> dict:
    """The 3D, contact, temporal and view metrics of a set with SMPL labels."""
    names = config.body.keypoint_names
    p_verts, p_joints, p_kp = _body(body, pred["pred_pose_rotmat"], pred["pred_betas"])
    t_verts, t_joints, t_kp = _body(body, batch["gt_pose_rotmat"], batch["gt_betas"])
    hips = config.body.root_keypoints
    lsp = [names.index(n) for n in LSP14_NAMES]
    feet = [names.index(n) for n in FEET6_NAMES]
    out = {
        "mpjpe_lsp14_mm": metrics.mpjpe(p_kp[:, lsp], t_kp[:, lsp], [lsp.index(h) for h in hips]).mean(),
        "pa_mpjpe_lsp14_mm": metrics.pa_mpjpe(p_kp[:, lsp], t_kp[:, lsp]).mean(),
        "mpjpe_smpl24_mm": metrics.mpjpe(p_joints, t_joints, (0,)).mean(),
        "pa_mpjpe_smpl24_mm": metrics.pa_mpjpe(p_joints, t_joints).mean(),
        "pve_mm": metrics.pve(p_verts, t_verts, p_joints[:, 0], t_joints[:, 0]).mean(),
        "foot_mpjpe_mm": metrics.subset_mpjpe(p_kp, t_kp, feet, hips).mean(),
    }
    if "gt_contact" in batch and "pred_contact" in pred:
        scores = metrics.contact_scores(pred["pred_contact"], batch["gt_contact"].numpy(),
                                        labelled=batch["has_contact"].numpy()[:, None])
        out.update(contact_precision=scores.precision, contact_recall=scores.recall, contact_f1=scores.f1)
    out.update(_sequence_metrics(pred, examples, p_verts, p_joints, t_joints, batch, config))
    gt3d = batch["gt_keypoints_3d"]
    side, top = orthographic_views(gt3d[..., :3].double(), hips, config.loss.view_scale_m)
    view_mm = 1000.0 * config.loss.view_scale_m
    labelled_3d = gt3d[..., 3].numpy() > 0
    for view, truth in (("side", side), ("top", top)):
        if f"pred_kp2d_{view}" in pred:
            out[f"{view}_view_mm"] = view_mm * metrics.view_error(pred[f"pred_kp2d_{view}"], truth.numpy(), labelled_3d)
    return out


def _sequence_metrics(pred, examples, p_verts, p_joints, t_joints, batch, config) -> dict[str, float]:
    """Foot sliding and acceleration error over sequences (examples whose keys read "<clip>:<frame>" with
    more than 2 frames of a clip). Foot points: the contact vertices placed by the prediction's own
    weak-perspective translation (tx, ty; weak perspective has no depth translation)."""
    clips = defaultdict(list)
    for i, e in enumerate(examples):
        clip, _, frame = e.key.rpartition(":")
        if clip and frame.isdigit():
            clips[clip].append((int(frame), i))
    clips = {c: [i for _, i in sorted(v)] for c, v in clips.items() if len(v) > 2}
    if not clips or "gt_contact" not in batch:
        return {}
    ids = np.asarray(config.body.contact_vertex_ids)
    shift = np.concatenate([pred["pred_cam"][:, 1:], np.zeros((len(examples), 1))], axis=1)[:, None, :]
    feet = p_verts[:, ids] + shift
    contact = batch["gt_contact"].numpy()
    sliding = [metrics.foot_sliding(feet[idx], contact[idx]) for idx in clips.values()]
    accel = [metrics.acceleration_error(p_joints[idx], t_joints[idx]) for idx in clips.values()]
    return {"foot_sliding_mm": float(np.nanmean(sliding)), "accel_error_mm": float(np.nanmean(accel))}


LABELS = {
    "mpjpe_lsp14_mm": "MPJPE, LSP 14 (mm)", "pa_mpjpe_lsp14_mm": "PA-MPJPE, LSP 14 (mm)",
    "mpjpe_smpl24_mm": "MPJPE, SMPL 24 (mm)", "pa_mpjpe_smpl24_mm": "PA-MPJPE, SMPL 24 (mm)", "pve_mm": "PVE (mm)",
    "foot_mpjpe_mm": "foot MPJPE, 6 keypoints (mm)", "contact_precision": "contact precision",
    "contact_recall": "contact recall", "contact_f1": "contact F1", "foot_sliding_mm": "foot sliding (mm/frame)",
    "accel_error_mm": "acceleration error (mm/frame²)", "side_view_mm": "side view 2D error (mm)",
    "top_view_mm": "top view 2D error (mm)", "pck_front_0.2": "PCK@0.2, front 2D (12 LSP limb joints)",
}


def markdown_table(name: str, values: dict[str, float], count: int) -> str:
    rows = [f"### {name} ({count} examples)", "", "| metric | value |", "|---|---|"]
    rows += [f"| {LABELS.get(k, k)} | {v:.3f} |" for k, v in values.items()]
    return "\n".join(rows) + "\n"


def evaluate(model: str, data: list[str], out: str | pathlib.Path, body_model: str | None = None,
             figures: int = 3) -> dict[str, dict[str, float]]:
    """Metrics per data set, written to out/report.md, out/metrics.json and out/figures/."""
    out = pathlib.Path(out)
    predictor = Predictor(model, body_model)
    config = predictor.config
    if not pathlib.Path(predictor.body_model).is_file():
        raise PlantedError(f"--body-model {predictor.body_model} does not exist")
    body = BodyModel.from_file(predictor.body_model, config.body.keypoint_set)
    results, report = {}, ["# Evaluation", "", f"model: `{model}`", ""]
    for spec in data:
        name, examples = load_data(spec, body, predictor.image_size, config.body.contact_vertex_ids)
        pred = predict(predictor, examples, config.body.keypoint_names)
        results[name] = dataset_metrics(pred, examples, body, config)
        report.append(markdown_table(name, results[name], len(examples)))
        for i in np.linspace(0, len(examples) - 1, min(figures, len(examples))).astype(int):
            one = {k: v[i:i + 1] for k, v in pred.items()}
            write_triview_figure(out / "figures" / f"{name}_{i}.png", examples[i], one, body, config)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "report.md", what="report") as tmp:
        pathlib.Path(tmp).write_text("\n".join(report))
    with atomic_path(out / "metrics.json", what="metrics") as tmp:
        pathlib.Path(tmp).write_text(json.dumps(results, indent=2))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.evaluate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="a checkpoint .pt or an exported .onnx")
    parser.add_argument("--data", action="append", required=True, help="data set SPEC (repeat for several)")
    parser.add_argument("--out", default="eval", help="folder for report.md, metrics.json and figures/")
    parser.add_argument("--body-model", help="body model .npz (default: the run's, or the shipped one)")
    parser.add_argument("--figures", type=int, default=3, help="tri-view figures per data set")
    args = parser.parse_args(argv)
    try:
        results = evaluate(args.model, args.data, args.out, args.body_model, args.figures)
    except PlantedError as err:
        print(f"evaluate: {err}", file=sys.stderr)
        return 2
    for name, values in results.items():
        print(markdown_table(name, values, 0).replace(" (0 examples)", ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
