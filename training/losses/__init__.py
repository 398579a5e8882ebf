"""The paper's losses (Eq. 8-14), one module per term, and `compute_loss` that weighs them.

A batch carries `gt_*` labels; any key may be absent (that term is then 0) and every term is masked per
sample (confidence 0 or has_* False) where a dataset lacks the label:
- gt_keypoints_2d (B, K, 3): front-view keypoints in crop coordinates + confidence (COCO, all sets)
- gt_keypoints_3d (B, K, 4): camera-frame keypoints (x right, y down, z forward), metres + confidence
- gt_pose_rotmat (B, 24, 3, 3) with has_pose (B,); gt_betas (B, 10) with has_betas (B,)
- gt_contact (B, Vc) in {0, 1} with has_contact (B,)
- weight (B,): each sample's weight in every term (training.data.example; 1 where absent), so a sample
  with weight 0 contributes nothing
The front view's 2D term (inside L_CVF) uses the network's differentiable `pred_kp2d_front_integral`
where it gives one (`pred_kp2d_front` is the argmax decoding, training.model.decoding).
The result maps `loss_<term>` to weight * term (weights named like the terms, training.config.LossWeights)
and `loss` to their sum.
"""

from __future__ import annotations

import torch

from training.config import LossConfig
from training.geometry import weak_perspective_projection
from training.losses.contact import contact_loss
from training.losses.cvf import cvf_losses, view_targets
from training.losses.heatmap import heatmap_loss, udp_heatmap_targets
from training.losses.keypoints_2d import keypoints_2d_loss
from training.losses.keypoints_3d import keypoints_3d_losses
from training.losses.smpl import smpl_betas_loss, smpl_norm_loss, smpl_pose_loss

__all__ = ["compute_loss", "loss_terms"]


def loss_terms(pred: dict, batch: dict, keypoints_3d: torch.Tensor, root_ids, config: LossConfig,
               image_size: tuple[int, int] = (256, 192)) -> dict[str, torch.Tensor]:
    """Unweighted terms by name. keypoints_3d (B, K, 3): the body model's keypoints for pred's pose and shape."""
    zero = pred["pred_cam"].sum() * 0.0
    weight = batch.get("weight")
    terms = dict.fromkeys(
        ("keypoints_2d", "cvf", "cvf_joint_distance", "heatmap", "keypoints_3d", "keypoints_3d_joint_distance",
         "smpl_pose", "smpl_betas", "contact"), zero)
    gt_2d, gt_3d = batch.get("gt_keypoints_2d"), batch.get("gt_keypoints_3d")
    if gt_2d is not None:
        terms["keypoints_2d"] = keypoints_2d_loss(weak_perspective_projection(keypoints_3d, pred["pred_cam"]), gt_2d,
                                                   weight)
        if "pred_heatmaps" in pred:
            targets, weights = udp_heatmap_targets(gt_2d, tuple(pred["pred_heatmaps"].shape[2:]), image_size,
                                                   config.heatmap_sigma)
            terms["heatmap"] = heatmap_loss(pred["pred_heatmaps"], targets, weights, weight)
    gt_views, view_weights = {}, {}
    if gt_2d is not None:
        gt_views["front"], view_weights["front"] = gt_2d[..., :2], gt_2d[..., 2]
    if gt_3d is not None:
        side, top, weights = view_targets(gt_3d, root_ids, config.view_scale_m)
        gt_views.update(side=side, top=top)
        view_weights.update(side=weights, top=weights)
        terms["keypoints_3d"], terms["keypoints_3d_joint_distance"] = keypoints_3d_losses(keypoints_3d, gt_3d,
                                                                                          root_ids, weight)
    pred_views = {v: pred[f"pred_kp2d_{v}"] for v in ("front", "side", "top") if f"pred_kp2d_{v}" in pred}
    if "pred_kp2d_front_integral" in pred:
        pred_views["front"] = pred["pred_kp2d_front_integral"]
    if pred_views and gt_views:
        terms["cvf"], terms["cvf_joint_distance"] = cvf_losses(pred_views, gt_views, view_weights, weight)
    has_pose = has_betas = None
    if "gt_pose_rotmat" in batch:
        has_pose = batch["has_pose"]
        terms["smpl_pose"] = smpl_pose_loss(pred["pred_pose_rotmat"], batch["gt_pose_rotmat"], has_pose, weight)
    if "gt_betas" in batch:
        has_betas = batch["has_betas"]
        terms["smpl_betas"] = smpl_betas_loss(pred["pred_betas"], batch["gt_betas"], has_betas, weight)
    terms["smpl_norm"] = smpl_norm_loss(pred["pred_pose_rotmat"], pred["pred_betas"], has_pose, has_betas, weight)
    if "gt_contact" in batch:
        terms["contact"] = contact_loss(pred["pred_contact_logits"], batch["gt_contact"], batch["has_contact"],
                                        weight)
    return terms


def compute_loss(pred: dict, batch: dict, body_model, root_ids, config: LossConfig | None = None,
                 image_size: tuple[int, int] = (256, 192)) -> dict[str, torch.Tensor]:
    """Eq. 8: weighted terms as `loss_<name>` and their sum as `loss`. body_model: training.body.BodyModel."""
    config = config or LossConfig()
    keypoints_3d = body_model(pred["pred_pose_rotmat"], pred["pred_betas"]).keypoints
    terms = loss_terms(pred, batch, keypoints_3d, root_ids, config, image_size)
    out = {f"loss_{name}": getattr(config.weights, name) * value for name, value in terms.items()}
    out["loss"] = torch.stack(list(out.values())).sum()
    return out
