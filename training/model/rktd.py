"""Reversible Kinematic Topology Decoder (paper 3.5, Eq. 7), with KTD and independent decoders for ablations.

Input: the fused feature (B, C). Outputs (pred_* keys): rot6d (B, 24, 6) and pose_rotmat (B, 24, 3, 3) as
SMPL's parent-relative rotations (pelvis relative to the camera frame: x right, y down, z forward), betas
(B, 10), cam (B, 3) weak perspective (s, tx, ty), contact logits and probabilities (B, Vc) over the body
model's contact vertices (left sole first, then right), and the kinematic tree used per sample (B,) int64:
0 base (root to leaves, KTD), 1 rooted at the left foot, 2 rooted at the right foot.

All three trees are evaluated for every sample and each sample's result is gathered by its tree index,
so the choice is per sample, batch-correct, and exports to ONNX without data-dependent control flow.

Following MAED's KTD (PAPER_NOTES 3.5): trunk Linear -> Dropout -> Linear -> Dropout without a
nonlinearity; each joint's 6D = Linear(concat(h, 6D of all its ancestors in the tree's order)).
Ours: the linear on the concatenation is stored as a feature part (all joints of a tree in one matmul)
plus an ancestor part, which is the same map; the rotations stay SMPL's parent-relative ones, only the
prediction order changes (PAPER_NOTES choice 11); separate heads per tree (choice 9); biases start at
the rest pose with the pelvis turned to face the camera (rotation of pi about x in the y-down camera
frame) and cam at (0.9, 0, 0) (choice 13); contacts are binarised at 0.5 and counted (choice 8), and
the foot with more contact vertices roots the tree (`select_tree`, rule "max").
"""

from __future__ import annotations

import torch
from torch import nn

from engine.body.joints import SMPL_PARENTS
from training.geometry import rot6d_to_rotmat

BASE_TREE, LEFT_TREE, RIGHT_TREE = 0, 1, 2
LEFT_FOOT, RIGHT_FOOT = 10, 11  # SMPL joints at the toe base: the roots of the reversed trees
TREE_RULES = ("max", "stance", "eq7")  # select_tree's rules; training.config.ModelConfig.tree_rule


def base_ancestors(parents: tuple[int, ...] = SMPL_PARENTS) -> list[list[int]]:
    """Per joint, its ancestors root-first in the tree given by `parents` (ancestor_p of Eq. 7)."""
    out: list[list[int]] = []
    for joint in range(len(parents)):
        chain, parent = [], parents[joint]
        while parent >= 0:
            chain.append(parent)
            parent = parents[parent]
        out.append(chain[::-1])
    return out


def rerooted_ancestors(new_root: int, parents: tuple[int, ...] = SMPL_PARENTS) -> list[list[int]]:
    """Per joint, the path from `new_root` to it (exclusive) in the same tree re-rooted at `new_root`.

    For the left foot (10): anc(10) = [], anc(7) = [10], anc(0) = [10, 7, 4, 1], anc(2) = [10, 7, 4, 1, 0].
    """
    neighbours: list[list[int]] = [[] for _ in parents]
    for joint, parent in enumerate(parents):
        if parent >= 0:
            neighbours[joint].append(parent)
            neighbours[parent].append(joint)
    paths: dict[int, list[int]] = {new_root: []}
    queue = [new_root]
    while queue:
        joint = queue.pop(0)
        for nxt in neighbours[joint]:
            if nxt not in paths:
                paths[nxt] = paths[joint] + [joint]
                queue.append(nxt)
    return [paths[j] for j in range(len(parents))]


def prediction_order(ancestors: list[list[int]]) -> list[int]:
    """Joints sorted so that each comes after all its ancestors (by depth, then index)."""
    return sorted(range(len(ancestors)), key=lambda j: (len(ancestors[j]), j))


def count_contacts(contact: torch.Tensor, num_left: int, threshold: float = 0.5) -> tuple[torch.Tensor, torch.Tensor]:
    """c_l, c_r of Eq. 7: counts (B,) of left / right contact vertices with probability >= threshold."""
    in_contact = (contact >= threshold).to(contact.dtype)
    return in_contact[:, :num_left].sum(dim=1), in_contact[:, num_left:].sum(dim=1)


def select_tree(contact: torch.Tensor, num_left: int, threshold: float = 0.5, rule: str = "max") -> torch.Tensor:
    """Eq. 7's tree per sample (B,) int64 from contact probabilities or labels (B, Vc).

    c_l, c_r are the counts of left / right contact vertices with probability >= threshold (choice 8).
    - "max" (the default, our reading of Eq. 7 with its text): the tree rooted at the foot with more
      contact vertices ("we determine the ground-contact foot according to the foot vertices with a
      larger number of contact states"), the base tree on a tie, including no contact at all. Eq. 7's
      "c_l > c_r > 0" was written for soft sums, where c_r > 0 always holds, so its "> 0" only says some
      contact exists; single stance reverses from the planted foot, uneven double support from the foot
      that carries more contact, an airborne body keeps the base tree.
    - "stance": reverse only in single stance (one foot with contact, the other none); double support
      and no contact keep the base tree.
    - "eq7": Eq. 7 literally on binarised counts: left if c_l > c_r > 0, right if c_r > c_l > 0, else
      base; a single planted foot (the other count 0) then keeps the base tree (kept for ablation).
    """
    c_left, c_right = count_contacts(contact, num_left, threshold)
    if rule == "eq7":
        left = (c_left > c_right) & (c_right > 0)
        right = (c_right > c_left) & (c_left > 0)
    elif rule == "stance":
        left = (c_left > 0) & (c_right == 0)
        right = (c_right > 0) & (c_left == 0)
    elif rule == "max":
        left, right = c_left > c_right, c_right > c_left
    else:
        raise ValueError(f"unknown tree rule {rule!r}: choose one of {TREE_RULES}")
    zero = torch.zeros_like(c_left, dtype=torch.int64)
    return torch.where(left, zero + LEFT_TREE, torch.where(right, zero + RIGHT_TREE, zero + BASE_TREE))


def teacher_tree(gt_contact: torch.Tensor, has_contact: torch.Tensor, num_left: int, threshold: float = 0.5,
                 rule: str = "max", unlabelled: int = BASE_TREE) -> torch.Tensor:
    """Tree per sample (B,) for training: from the contact labels where a sample has them, else `unlabelled`.

    PAPER_NOTES choice 10 (ours): teacher forcing on H36M/AIST++, the base tree on datasets without
    contacts (3DPW, MPI-INF-3DHP: "RKTd is only applied to Human3.6M and AIST++"). `unlabelled` -1
    leaves those samples to the network's predicted contacts instead. Pass the result as `tree_index`.
    """
    from_labels = select_tree(gt_contact, num_left, threshold, rule)
    return torch.where(has_contact.bool(), from_labels, torch.full_like(from_labels, unlabelled))


def training_tree_index(batch: dict, num_left: int, threshold: float = 0.5, rule: str = "max",
                        unlabelled: int = BASE_TREE) -> torch.Tensor:
    """`tree_index` (B,) int64 for `net(batch["image"], tree_index=...)` during training.

    Samples with contact labels (batch "gt_contact" (B, Vc) and "has_contact" (B,)) get the tree their labels
    choose (`teacher_tree`); the others get `unlabelled`: the base tree by default (choice 10: RKTD only
    where contacts are labelled; the predicted contacts are random early in training), or -1 to use the
    network's predicted contacts. A batch without "gt_contact" is unlabelled throughout.
    """
    reference = batch["image"] if "image" in batch else batch["features"]  # features: a cached trunk's
    size = reference.shape[0]
    if "gt_contact" not in batch:
        return torch.full((size,), unlabelled, dtype=torch.int64, device=reference.device)
    has_contact = batch.get("has_contact")
    if has_contact is None:
        has_contact = torch.ones(size, dtype=torch.bool, device=batch["gt_contact"].device)
    return teacher_tree(batch["gt_contact"], has_contact, num_left, threshold, rule, unlabelled)


def rest_pose_rot6d(num_joints: int = 24) -> torch.Tensor:
    """(num_joints, 6): identity for every joint, the pelvis turned by pi about x (upright, facing the camera)."""
    rot6d = torch.tensor([1.0, 0.0, 0.0, 1.0, 0.0, 0.0]).repeat(num_joints, 1)
    rot6d[0] = torch.tensor([1.0, 0.0, 0.0, -1.0, 0.0, 0.0])
    return rot6d


class TreeRegressor(nn.Module):
    """One kinematic order: theta_i = Linear(concat(h, theta_k for k in ancestors(i))), joints in order."""

    def __init__(self, hidden: int, ancestors: list[list[int]]) -> None:
        super().__init__()
        self.ancestors = ancestors
        self.order = prediction_order(ancestors)
        num_joints = len(ancestors)
        self.feature_part = nn.Linear(hidden, num_joints * 6)
        self.ancestor_part = nn.ModuleDict(
            {str(j): nn.Linear(6 * len(a), 6, bias=False) for j, a in enumerate(ancestors) if a}
        )
        nn.init.xavier_uniform_(self.feature_part.weight, gain=0.01)
        with torch.no_grad():
            self.feature_part.bias.copy_(rest_pose_rot6d(num_joints).flatten())
        for layer in self.ancestor_part.values():
            nn.init.xavier_uniform_(layer.weight, gain=0.01)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        """hidden (B, H) -> rot6d (B, 24, 6)."""
        base = self.feature_part(hidden).reshape(hidden.shape[0], len(self.ancestors), 6)
        rot6d: dict[int, torch.Tensor] = {}
        for joint in self.order:
            value = base[:, joint]
            if self.ancestors[joint]:
                conditioning = torch.cat([rot6d[a] for a in self.ancestors[joint]], dim=1)
                value = value + self.ancestor_part[str(joint)](conditioning)
            rot6d[joint] = value
        return torch.stack([rot6d[j] for j in range(len(self.ancestors))], dim=1)


class RKTDecoder(nn.Module):
    """Camera, shape, contacts and pose from the fused feature; `decoder` in ("independent", "ktd", "rktd")."""

    def __init__(
        self, in_features: int, num_contact_vertices: int, num_left_contact_vertices: int,
        decoder: str = "rktd", hidden: int = 1024, dropout: float = 0.5, contact_hidden: int = 1024,
        contact_threshold: float = 0.5, tree_rule: str = "max", num_betas: int = 10,
    ) -> None:
        super().__init__()
        self.decoder = decoder
        self.num_left = num_left_contact_vertices
        self.contact_threshold = contact_threshold
        self.tree_rule = tree_rule
        self.trunk = nn.Sequential(nn.Linear(in_features, hidden), nn.Dropout(dropout),
                                   nn.Linear(hidden, hidden), nn.Dropout(dropout))
        self.shape_head = nn.Linear(hidden, num_betas)
        self.cam_head = nn.Linear(hidden, 3)
        self.contact_head = nn.Sequential(nn.Linear(in_features, contact_hidden), nn.ReLU(inplace=True),
                                          nn.Linear(contact_hidden, num_contact_vertices))
        num_joints = len(SMPL_PARENTS)
        if decoder == "independent":
            trees = [[[] for _ in range(num_joints)]]
        else:
            trees = [base_ancestors()]
            if decoder == "rktd":
                trees += [rerooted_ancestors(LEFT_FOOT), rerooted_ancestors(RIGHT_FOOT)]
        self.trees = nn.ModuleList(TreeRegressor(hidden, anc) for anc in trees)
        for head in (self.shape_head, self.cam_head):
            nn.init.xavier_uniform_(head.weight, gain=0.01)
            nn.init.zeros_(head.bias)
        with torch.no_grad():
            self.cam_head.bias[0] = 0.9

    def forward(self, feature: torch.Tensor, tree_index: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """feature (B, C); tree_index (B,) int64 forces each sample's tree (-1: use the predicted contacts)."""
        hidden = self.trunk(feature)
        contact_logits = self.contact_head(feature)
        contact = torch.sigmoid(contact_logits)
        predicted_tree = select_tree(contact, self.num_left, self.contact_threshold, self.tree_rule)
        if self.decoder != "rktd":
            tree = torch.zeros_like(predicted_tree)
        elif tree_index is None:
            tree = predicted_tree
        else:
            tree = torch.where(tree_index >= 0, tree_index.to(predicted_tree.dtype), predicted_tree)
        all_trees = torch.stack([t(hidden) for t in self.trees], dim=1)  # (B, T, 24, 6)
        index = tree.clamp(max=all_trees.shape[1] - 1)[:, None, None, None].expand(-1, 1, *all_trees.shape[2:])
        rot6d = torch.gather(all_trees, 1, index)[:, 0]
        return {
            "pred_rot6d": rot6d,
            "pred_pose_rotmat": rot6d_to_rotmat(rot6d),
            "pred_betas": self.shape_head(hidden),
            "pred_cam": self.cam_head(hidden),
            "pred_contact_logits": contact_logits,
            "pred_contact": contact,
            "pred_tree": tree,
            "pred_contact_tree": predicted_tree,
        }

