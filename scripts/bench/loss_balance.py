"""Per-term gradient norms of the loss at initialisation, to balance training.config.LossWeights.

    PYTHONPATH=. .venv/bin/python scripts/bench/loss_balance.py [--size tiny] [--batch 16] [--seeds 3]

A batch is built from the body model as training.data.example describes it: SMPL body poses sampled from
the pose prior (engine/assets/pose_prior.npz), betas N(0, 0.7^2), the root upright and facing the camera
turned by up to 20 degrees, a weak-perspective camera (s 0.8-1.0, t +-0.05), 2D keypoints projected into
the crop, 3D keypoints in the camera frame, contacts of the sole vertices within 2.5 cm of the body's
lowest point (Eq. 4 with the ground there); images are noise (what the gradient norms at initialisation
barely depend on). A second copy of the batch without SMPL labels measures `smpl_norm`, which only acts
where pose and shape labels are missing (training.losses.smpl).

For each term, the norm of the gradient of the unweighted term with respect to (a) the encoder's output
F_out, the features every term shares except the contact head's, and (b) all parameters; then the
same times the term's weight. Printed: the median over seeds, and the weighted norms relative to their
median (the balance: within ~10x either way is the aim).
"""

from __future__ import annotations

import argparse
import math
import pathlib
import statistics
from dataclasses import asdict, fields

import numpy as np
import torch

from engine.body.model import load_body_model
from training.body import BodyModel, config_from_body_model
from training.config import LossConfig, LossWeights
from training.data.example import Example, examples_to_batch
from training.data.superset import NUM_SUPERSET, SUPERSET_NAMES
from training.geometry import axis_angle_to_rotmat, crop_to_pixels, weak_perspective_projection
from training.losses import compute_loss
from training.model.network import PlantedNet
from training.model.rktd import training_tree_index

ASSETS = pathlib.Path(__file__).resolve().parents[2] / "engine" / "assets"
CONTACT_DISTANCE_M = 0.025  # Eq. 4's delta


def sample_poses(rng: np.random.Generator, count: int) -> np.ndarray:
    """(count, 23, 3) axis-angle body poses drawn from the pose prior's Gaussian mixture."""
    prior = np.load(ASSETS / "pose_prior.npz")
    weights = prior["weights"] / prior["weights"].sum()
    out = []
    for component in rng.choice(len(weights), size=count, p=weights):
        chol = prior["precision_cholesky"][component]  # precision = L L^T: a sample is mean + L^-T z
        out.append(prior["means"][component] + np.linalg.solve(chol.T, rng.normal(size=69)))
    return np.stack(out).reshape(count, 23, 3)


def body_examples(body: BodyModel, contact_ids: np.ndarray, keypoint_names, count: int, rng: np.random.Generator,
                  image_size: tuple[int, int] = (256, 192)) -> list[Example]:
    """Examples with every label the body model implies (module docstring)."""
    height, width = image_size
    tilt = rng.uniform(-1, 1, size=(count, 3)) * math.radians(20)
    root = axis_angle_to_rotmat(torch.tensor(tilt, dtype=torch.float32)) @ axis_angle_to_rotmat(
        torch.tensor([[math.pi, 0.0, 0.0]]))
    pose = torch.cat([root[:, None], axis_angle_to_rotmat(torch.tensor(sample_poses(rng, count), dtype=torch.float32))],
                     dim=1)
    betas = torch.tensor(rng.normal(scale=0.7, size=(count, 10)), dtype=torch.float32)
    cam = torch.tensor(np.stack([rng.uniform(0.8, 1.0, count), *rng.uniform(-0.05, 0.05, (2, count))], axis=1),
                       dtype=torch.float32)
    with torch.no_grad():
        out = body(pose, betas)
    pixels = crop_to_pixels(weak_perspective_projection(out.keypoints, cam), height, width).numpy()
    keypoints = out.keypoints.numpy()
    lowest = out.vertices[..., 1].amax(dim=1, keepdim=True)  # y points down in the camera frame
    contact = ((lowest - out.vertices[:, contact_ids, 1]) < CONTACT_DISTANCE_M).numpy().astype(np.float32)
    rows = [SUPERSET_NAMES.index(n) for n in keypoint_names]
    examples = []
    for i in range(count):
        kp2d, kp3d = np.zeros((NUM_SUPERSET, 3), np.float32), np.zeros((NUM_SUPERSET, 4), np.float32)
        kp2d[rows] = np.concatenate([pixels[i], np.ones((len(rows), 1))], axis=1)
        kp3d[rows] = np.concatenate([keypoints[i], np.ones((len(rows), 1))], axis=1)
        examples.append(Example(
            image=rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8), source="body", key=str(i),
            keypoints_2d=kp2d, keypoints_3d=kp3d, pose_rotmat=pose[i].numpy(), has_pose=True,
            betas=betas[i].numpy(), has_betas=True, contact=contact[i], has_contact=True, cam=cam[i].numpy(),
            has_cam=True))
    return examples


def gradient_norms(net: PlantedNet, batch: dict, body: BodyModel, root_ids, num_left: int) -> dict:
    """term -> (|d term / d F_out|, |d term / d parameters|), unweighted."""
    captured = {}
    hook = net.encoder.register_forward_hook(lambda module, args, output: captured.setdefault("f_out", output))
    pred = net(batch["image"], tree_index=training_tree_index(batch, num_left))
    hook.remove()
    weights = LossWeights(**{f.name: 1.0 for f in fields(LossWeights)})
    losses = compute_loss(pred, batch, body, root_ids, LossConfig(weights=weights))
    params = [p for p in net.parameters() if p.requires_grad]
    out = {}
    for name in asdict(weights):
        term = losses[f"loss_{name}"]
        if not term.requires_grad or term.item() == 0.0:
            continue
        grads = torch.autograd.grad(term, [captured["f_out"], *params], retain_graph=True, allow_unused=True)
        feature = grads[0].norm().item() if grads[0] is not None else 0.0
        total = math.sqrt(sum((g**2).sum().item() for g in grads[1:] if g is not None))
        out[name] = (feature, total, term.item())
    return out


def measure(size: str, batch_size: int, seed: int) -> dict:
    body_path = ASSETS / "free_body_model.npz"
    config = config_from_body_model(body_path, size)
    body = BodyModel.from_file(body_path)
    contact_ids = load_body_model(body_path).contact_vertex_ids
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    net = PlantedNet(**asdict(config.model)).train()
    examples = body_examples(body, contact_ids, config.body.keypoint_names, batch_size, rng)
    batch = examples_to_batch(examples, config.body.keypoint_names)
    num_left = config.model.num_left_contact_vertices
    norms = gradient_norms(net, batch, body, config.body.root_keypoints, num_left)
    unlabelled = dict(batch, has_pose=torch.zeros_like(batch["has_pose"]),
                      has_betas=torch.zeros_like(batch["has_betas"]))
    norms["smpl_norm"] = gradient_norms(net, unlabelled, body, config.body.root_keypoints, num_left)["smpl_norm"]
    return norms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="tiny")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    runs = [measure(args.size, args.batch, seed) for seed in range(args.seeds)]
    weights = asdict(LossWeights())
    median = {name: [statistics.median(run[name][i] for run in runs) for i in range(3)] for name in runs[0]}
    centre_feature = statistics.median(weights[n] * m[0] for n, m in median.items())
    centre_params = statistics.median(weights[n] * m[1] for n, m in median.items())
    print(f"ViT-{args.size}, batch {args.batch}, median of {args.seeds} seeds: gradient norms at initialisation")
    print("| term | value | grad F_out | grad params | weight | weighted F_out | weighted params | "
          "balance F_out | balance params |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, (feature, total, value) in median.items():
        w = weights[name]
        print(f"| {name} | {value:.3g} | {feature:.3g} | {total:.3g} | {w:g} | {w * feature:.3g} | {w * total:.3g} | "
              f"{w * feature / centre_feature:.2f} | {w * total / centre_params:.2f} |")
    for label, index, centre in (("F_out", 0, centre_feature), ("params", 1, centre_params)):
        suggestion = {name: centre / m[index] for name, m in median.items() if m[index] > 0}
        print(f"weights putting every term at the median ({label}):",
              ", ".join(f"{k} {v:.3g}" for k, v in suggestion.items()))

if __name__ == "__main__":
    main()
