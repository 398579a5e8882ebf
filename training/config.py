"""Configurations of the estimation network and its losses: named sizes and the paper's ablation switches.

`ModelConfig`'s keys equal `PlantedNet`'s constructor arguments (`PlantedNet(**asdict(cfg))`), so a
checkpoint's resolved config rebuilds the network without any other file. `Config` bundles it with the
body model it was built for (what the ONNX metadata needs) and the loss weights; `asdict(Config)` is
what `torch.save` stores beside the weights.

Named sizes follow ViT-Ti/S/B/L at 256x192 with ViTPose's patch embedding (16 px, padding 2).
Drop-path rates for base and large are ViTPose's (0.3, 0.5); 0.1 for tiny and small is our choice.

Ablation switches (paper Tables 3 and 4):
- `views`: "none" (1: regress from backbone features), "front" (2), "front_top" (3),
  "front_side_top" (4 and 5); `cross_view_attention` False gives (4), True (5).
- `decoder`: "independent", "ktd", "rktd".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Literal

from engine.errors import PlantedError

Views = Literal["none", "front", "front_top", "front_side_top"]
Decoder = Literal["independent", "ktd", "rktd"]
HeadType = Literal["classic", "simple"]
TreeRule = Literal["max", "stance", "eq7"]
Backbone = Literal["vit", "hybrid"]
Trunk = Literal["blazepose_heavy", "blazepose_full", "blazepose_lite", "movenet_thunder", "movenet_lightning"]
TrunkFeature = Literal["bottleneck", "decoder"]

VIEWS: tuple[str, ...] = ("none", "front", "front_top", "front_side_top")
DECODERS: tuple[str, ...] = ("independent", "ktd", "rktd")
BACKBONES: tuple[str, ...] = ("vit", "hybrid")
TRUNKS: tuple[str, ...] = ("blazepose_heavy", "blazepose_full", "blazepose_lite", "movenet_thunder",
                           "movenet_lightning")
TRUNK_FEATURES: tuple[str, ...] = ("bottleneck", "decoder")
# runs of convolutions at one stride (2, 4, 8, 16, 32 in the encoders; the trunk module counts its own)
TRUNK_STAGES = 8
# tokens per trunk cell side when trunk_patch_size is 0: the bottleneck's 8 x 8 cells are the tokens, the
# decoder's 64 x 64 map is cut into 4 x 4 patches (16 x 16 tokens, about the paper's 16 x 12)
AUTO_TRUNK_PATCH = {"bottleneck": 1, "decoder": 4}
HYBRID_IMAGE_SIZE = (256, 256)  # BlazePose's and MoveNet Thunder's own input

# (embed_dim, depth, num_heads, drop_path_rate)
SIZES: dict[str, tuple[int, int, int, float]] = {
    "tiny": (192, 12, 3, 0.1),
    "small": (384, 12, 6, 0.1),
    "base": (768, 12, 12, 0.3),
    "large": (1024, 24, 16, 0.5),
}


@dataclass
class ModelConfig:
    """Every constructor argument of `training.model.network.PlantedNet`.

    The body-model numbers (`num_keypoints`, `num_contact_vertices`, `num_left_contact_vertices`) come
    from the body model file through `config_from_body_model`; the defaults fit the keypoint set
    "superset30" and a small test body.
    """

    # backbone: "vit" (the paper's ViT on 16-px patches) or "hybrid" (the ViT paper's hybrid: a pretrained
    # convolutional trunk from engine/assets whose feature map, projected 1x1 to embed_dim, is the tokens
    # of the ViT layers; trunk_trainable_stages of its last stages train, 0 = frozen; trunk_patch_size
    # trunk cells per token side, 0 = AUTO_TRUNK_PATCH)
    backbone: Backbone = "vit"
    trunk: Trunk = "blazepose_heavy"
    trunk_feature: TrunkFeature = "bottleneck"
    trunk_trainable_stages: int = 0
    trunk_patch_size: int = 0
    # ViT encoder (paper 3.3, Eq. 5)
    embed_dim: int = 768
    depth: int = 12
    num_heads: int = 12
    mlp_ratio: float = 4.0
    qkv_bias: bool = True
    drop_path_rate: float = 0.3
    patch_size: int = 16
    patch_padding: int = 2
    image_height: int = 256
    image_width: int = 192
    # front branch: ViTPose heatmap decoder (classic: 2 deconvolutions, PAPER_NOTES choice 1)
    head_type: HeadType = "classic"
    deconv_channels: int = 256
    num_keypoints: int = 30
    # Cross-View Fusion (paper 3.4, Eq. 6); the widths below are our choices
    views: Views = "front_side_top"
    cross_view_attention: bool = True
    query_channels: int = 256
    view_token_dim: int = 64
    view_hidden_dim: int = 256
    # sharpness of the front view's differentiable integral regression on min-max normalised heatmaps
    # (training.model.decoding.integral_keypoints; the exported kp2d_front is argmax + DARK)
    soft_argmax_beta: float = 20.0
    # RKTD (paper 3.5, Eq. 7)
    decoder: Decoder = "rktd"
    regressor_hidden: int = 1024
    dropout: float = 0.5
    contact_hidden: int = 1024
    num_contact_vertices: int = 64
    num_left_contact_vertices: int = 32
    contact_threshold: float = 0.5
    # Eq. 7's tree from binarised contact counts (training.model.rktd.select_tree): "max" roots the tree at
    # the foot with more contact vertices (single stance: the planted foot; uneven double support: the
    # foot carrying more), base on ties and no contact; "stance" reverses in single stance only; "eq7"
    # is Eq. 7 literally (c_l > c_r > 0), which keeps the base tree whenever one foot is in the air
    tree_rule: TreeRule = "max"
    num_betas: int = 10

    def __post_init__(self) -> None:
        if self.views not in VIEWS:
            raise PlantedError(f"views must be one of {VIEWS}, got {self.views!r}")
        if self.decoder not in DECODERS:
            raise PlantedError(f"decoder must be one of {DECODERS}, got {self.decoder!r}")
        if self.head_type not in ("classic", "simple"):
            raise PlantedError(f"head_type must be 'classic' or 'simple', got {self.head_type!r}")
        if self.tree_rule not in ("max", "stance", "eq7"):
            raise PlantedError(f"tree_rule must be 'max', 'stance' or 'eq7', got {self.tree_rule!r}")
        if self.backbone not in BACKBONES:
            raise PlantedError(f"backbone must be one of {BACKBONES}, got {self.backbone!r}")
        if self.backbone == "hybrid":
            self._check_hybrid()
        if self.embed_dim % self.num_heads:
            raise PlantedError(f"embed_dim {self.embed_dim} is not divisible by num_heads {self.num_heads}")
        if not 0 < self.num_left_contact_vertices < self.num_contact_vertices:
            raise PlantedError(
                f"num_left_contact_vertices must lie in (0, {self.num_contact_vertices}), "
                f"got {self.num_left_contact_vertices}: the body model needs both soles"
            )

    def _check_hybrid(self) -> None:
        if self.trunk not in TRUNKS:
            raise PlantedError(f"trunk must be one of {TRUNKS}, got {self.trunk!r}")
        if self.trunk_feature not in TRUNK_FEATURES:
            raise PlantedError(f"trunk_feature must be one of {TRUNK_FEATURES}, got {self.trunk_feature!r}")
        if not 0 <= self.trunk_trainable_stages <= TRUNK_STAGES:
            raise PlantedError(f"trunk_trainable_stages must lie in 0..{TRUNK_STAGES} (0: frozen; BlazePose's and "
                               f"MoveNet's encoders have 5), got {self.trunk_trainable_stages}")
        if self.trunk_patch_size < 0:
            raise PlantedError(f"trunk_patch_size must be 0 (automatic) or positive, got {self.trunk_patch_size}")
        # the trunk downsamples by 32 before its decoder (stride 4) climbs back; tokens take whole patches
        cell = (32 if self.trunk_feature == "bottleneck" else 4) * self.resolved_trunk_patch_size
        multiple = max(32, cell)
        if self.image_height % multiple or self.image_width % multiple:
            raise PlantedError(f"a hybrid backbone with the {self.trunk_feature} feature and trunk_patch_size "
                               f"{self.resolved_trunk_patch_size} needs image_height and image_width divisible by "
                               f"{multiple}, got {self.image_height}x{self.image_width} (the trunks' own input is "
                               f"{HYBRID_IMAGE_SIZE[0]}x{HYBRID_IMAGE_SIZE[1]})")

    @property
    def resolved_trunk_patch_size(self) -> int:
        """Trunk cells per token side (trunk_patch_size, or AUTO_TRUNK_PATCH's when it is 0)."""
        return self.trunk_patch_size or AUTO_TRUNK_PATCH.get(self.trunk_feature, 1)


@dataclass
class LossWeights:
    """Weights of the terms of Eq. 8, one per `loss_*` name, balanced by gradient norms at initialisation.

    The paper has one lambda per equation (Eq. 8); we split them per term so each can be tuned.
    `cvf`, `cvf_joint_distance` and `keypoints_2d` together are lambda_2D (Eq. 9 adds L_CVF into L_2D);
    `keypoints_3d` and `keypoints_3d_joint_distance` are lambda_3D (Eq. 12); the three `smpl_*`
    are lambda_SMPL split as MAED does (Eq. 13). `heatmap` is ViTPose's heatmap MSE (our addition,
    keeping the COCO-pretrained head useful).

    MAED's weights (2D 300, 3D 600, pose 60, shape 0.06, norm 1, PAPER_NOTES 3.6) do not fit our terms:
    measured with scripts/bench/loss_balance.py (ViT-tiny, batch 16, a body-model batch with every label,
    median of 3 seeds), the norm of each weighted term's gradient at initialisation relative to the
    terms' median, w.r.t. the encoder output F_out / all parameters, was under MAED's weights:
    cvf 362 / 31, cvf_joint_distance 272 / 23, keypoints_3d 6.5 / 4.9, keypoints_2d 3.2 / 2.9,
    keypoints_3d_joint_distance 1.7 / 1.9, contact 0.33 / 0.02, smpl_pose 0.09 / 0.09, heatmap 0.07 / 0.08,
    smpl_norm 0.01 / 0.01, smpl_betas 0.0009 / 0.0002: the view terms drowned the rest, shape and
    the heatmap were negligible. The weights below put each term near the median in both measures
    (about the geometric mean of the two weights that would equalise it, rounded); under them every term
    lies within 0.28-3.4x of the median in both measures (the script prints the table for the current
    weights), except `smpl_norm`, deliberately low (30: 0.22x / 0.36x; measured on the batch with its
    SMPL labels removed, since it acts only there): its un-squared norm pulls with a constant force
    whatever the fit, while the data terms' gradients shrink as the fit improves, so a weight matched at
    initialisation would pull 2D-only samples to the rest pose later. Initial gradients are a heuristic:
    the small-gain heads (MAED's xavier gain 0.01) make the SMPL path's F_out gradients grow as they train.
    """

    keypoints_2d: float = 100.0
    cvf: float = 3.0
    cvf_joint_distance: float = 4.0
    heatmap: float = 4000.0
    keypoints_3d: float = 100.0
    keypoints_3d_joint_distance: float = 300.0
    smpl_pose: float = 600.0
    smpl_betas: float = 100.0
    smpl_norm: float = 30.0
    contact: float = 100.0


@dataclass
class LossConfig:
    """How targets are built for the losses (PAPER_NOTES choices 4, 5 and 15)."""

    weights: LossWeights = field(default_factory=LossWeights)
    # side/top views: root-centred orthographic coordinates divided by this many metres
    view_scale_m: float = 1.2
    heatmap_sigma: float = 2.0


@dataclass
class BodyModelRef:
    """What the network needs to know about the body model it was trained with (and the ONNX metadata names)."""

    model_id: str = "unknown"
    num_vertices: int = 0
    keypoint_set: str = "superset30"
    keypoint_names: list[str] = field(default_factory=list)
    contact_vertex_ids: list[int] = field(default_factory=list)
    num_left_contact_vertices: int = 0
    root_keypoints: list[int] = field(default_factory=list)


@dataclass
class Config:
    """The resolved configuration saved beside each checkpoint."""

    size: str = "base"
    model: ModelConfig = field(default_factory=ModelConfig)
    body: BodyModelRef = field(default_factory=BodyModelRef)
    loss: LossConfig = field(default_factory=LossConfig)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict) -> "Config":
        """Inverse of `to_dict`; unknown keys are an error (a config from another version)."""
        try:
            loss_raw = dict(raw.get("loss", {}))
            weights = LossWeights(**loss_raw.pop("weights", {}))
            return cls(
                size=raw.get("size", "base"),
                model=ModelConfig(**raw.get("model", {})),
                body=BodyModelRef(**raw.get("body", {})),
                loss=LossConfig(weights=weights, **loss_raw),
            )
        except TypeError as err:
            raise PlantedError(f"config does not match this version of training.config: {err}") from None


def model_config(size: str = "base", **overrides) -> ModelConfig:
    """The `ModelConfig` of a named size ("tiny", "small", "base", "large") with any field overridden."""
    if size not in SIZES:
        raise PlantedError(f"unknown model size {size!r}: choose one of {tuple(SIZES)}")
    embed_dim, depth, num_heads, drop_path_rate = SIZES[size]
    known = {f.name for f in fields(ModelConfig)}
    unknown = set(overrides) - known
    if unknown:
        raise PlantedError(f"unknown model config keys {sorted(unknown)}")
    base = ModelConfig(embed_dim=embed_dim, depth=depth, num_heads=num_heads, drop_path_rate=drop_path_rate)
    if overrides.get("backbone") == "hybrid":  # the trunk's own square input unless the caller names one
        overrides = {"image_height": HYBRID_IMAGE_SIZE[0], "image_width": HYBRID_IMAGE_SIZE[1], **overrides}
    return replace(base, **overrides)
