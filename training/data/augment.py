"""Augmentation for real photographs and frames: the crop's scale, rotation and flip, then the pixels.

Geometric draws (scale, rotation, flip, shift) make the crop itself (training.data.crop, labels follow);
photometric ones act on the crop's pixels and leave every label alone: per-channel colour gains (SPIN's
"pn" noise), synthetic occluders (rectangles and ellipses filled with texture cut from elsewhere in the
image, as in Sarandi et al. 2018's synthetic occlusion), blur, noise and JPEG. Occluded joints keep their labels:
their positions are still true, as LSP annotates occluded joints.

Deterministic: `draw_params(config, rng)` with rng = np.random.default_rng((seed, index)) gives the same
AugmentParams, hence the same Example, for the same seed and index on any machine.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from training.data.crop import CroppedExample


@dataclass(frozen=True)
class AugmentConfig:
    """Ranges (SPIN/ViTPose's usual). scale_factor: the window's height times U(1 - f, 1 + f);
    rotation_deg: U(-r, r) with probability rotation_p; flip_p; shift_factor: the window's centre moved by
    U(-f, f) of its height on each axis; colour: per-channel gains U(1 - c, 1 + c); occluder_p, max_occluders,
    occluder_size (share of the crop's height, min and max); blur_p, blur_sigma_px; noise_p, noise_sigma
    (grey levels); jpeg_p, jpeg_quality (min, max)."""

    scale_factor: float = 0.25
    rotation_deg: float = 30.0
    rotation_p: float = 0.6
    flip_p: float = 0.5
    shift_factor: float = 0.0
    colour: float = 0.2
    occluder_p: float = 0.4
    max_occluders: int = 2
    occluder_size: tuple[float, float] = (0.1, 0.35)
    blur_p: float = 0.1
    blur_sigma_px: tuple[float, float] = (0.5, 1.5)
    noise_p: float = 0.1
    noise_sigma: tuple[float, float] = (2.0, 8.0)
    jpeg_p: float = 0.2
    jpeg_quality: tuple[int, int] = (30, 90)

    @classmethod
    def none(cls) -> "AugmentConfig":
        """No augmentation at all (evaluation, previews)."""
        return cls(scale_factor=0.0, rotation_p=0.0, flip_p=0.0, shift_factor=0.0, colour=0.0, occluder_p=0.0,
                   blur_p=0.0, noise_p=0.0, jpeg_p=0.0)


@dataclass(frozen=True)
class AugmentParams:
    """One example's draws: scale (window height factor), rotation (radians, training.data.crop's R(theta)),
    flip, shift (x, y, shares of the window height), gains (3,) RGB, occluders (count), blur_sigma_px,
    noise_sigma, jpeg_quality (0 = none), seed (for the pixel operations' own randomness)."""

    scale: float = 1.0
    rotation: float = 0.0
    flip: bool = False
    shift: tuple[float, float] = (0.0, 0.0)
    gains: tuple[float, float, float] = (1.0, 1.0, 1.0)
    occluders: int = 0
    blur_sigma_px: float = 0.0
    noise_sigma: float = 0.0
    jpeg_quality: int = 0
    seed: int = 0

    @property
    def is_identity(self) -> bool:
        return self == AugmentParams(seed=self.seed)


def draw_params(config: AugmentConfig, rng: np.random.Generator) -> AugmentParams:
    """One example's augmentation, drawn from config's ranges with rng (module docstring)."""
    def chance(p: float) -> bool:
        return bool(rng.uniform() < p)

    f, c = config.scale_factor, config.colour
    params = AugmentParams(
        scale=float(rng.uniform(1 - f, 1 + f)) if f > 0 else 1.0,
        rotation=float(np.radians(rng.uniform(-config.rotation_deg, config.rotation_deg)))
        if chance(config.rotation_p) else 0.0,
        flip=chance(config.flip_p),
        shift=tuple(float(v) for v in rng.uniform(-1, 1, 2) * config.shift_factor),
        gains=tuple(float(v) for v in rng.uniform(1 - c, 1 + c, 3)) if c > 0 else (1.0, 1.0, 1.0),
        occluders=int(rng.integers(1, config.max_occluders + 1)) if chance(config.occluder_p) else 0,
        blur_sigma_px=float(rng.uniform(*config.blur_sigma_px)) if chance(config.blur_p) else 0.0,
        noise_sigma=float(rng.uniform(*config.noise_sigma)) if chance(config.noise_p) else 0.0,
        jpeg_quality=int(rng.integers(config.jpeg_quality[0], config.jpeg_quality[1] + 1))
        if chance(config.jpeg_p) else 0,
        seed=int(rng.integers(2**31)),
    )
    return params


def _occluder_mask(rng: np.random.Generator, height: int, width: int, size: tuple[float, float]) -> np.ndarray:
    """(H, W) float mask in [0, 1] of one rectangle or ellipse, turned at random, edges softened."""
    h = rng.uniform(*size) * height
    w = h * rng.uniform(0.4, 1.6)
    centre = (rng.uniform(0, width), rng.uniform(0, height))
    angle = rng.uniform(0, 180)
    mask = np.zeros((height, width), np.uint8)
    if rng.uniform() < 0.5:
        corners = cv2.boxPoints((centre, (w, h), angle))
        cv2.fillConvexPoly(mask, np.round(corners).astype(np.int32), 255, cv2.LINE_AA)
    else:
        cv2.ellipse(mask, (centre, (w, h), angle), 255, -1, cv2.LINE_AA)
    return cv2.GaussianBlur(mask, (0, 0), 1.0).astype(np.float32) / 255.0


def _texture(rng: np.random.Generator, source: np.ndarray, height: int, width: int) -> np.ndarray:
    """(H, W, 3) float texture: a patch of `source` (another place in the image), resized to the crop."""
    sh, sw = source.shape[:2]
    side_h = int(rng.uniform(0.2, 0.6) * sh) + 1
    side_w = int(rng.uniform(0.2, 0.6) * sw) + 1
    y0, x0 = int(rng.integers(0, sh - side_h + 1)), int(rng.integers(0, sw - side_w + 1))
    patch = source[y0:y0 + side_h, x0:x0 + side_w]
    if rng.uniform() < 0.5:
        patch = patch[:, ::-1]
    return cv2.resize(np.ascontiguousarray(patch), (width, height), interpolation=cv2.INTER_LINEAR).astype(np.float32)


def augment_pixels(image: np.ndarray, params: AugmentParams, config: AugmentConfig | None = None,
                   texture_source: np.ndarray | None = None) -> np.ndarray:
    """The photometric steps on a crop (H, W, 3) uint8 RGB: gains, occluders, blur, noise, JPEG (that order:
    a camera's). texture_source: the image occluder textures are cut from (the full photo; the crop itself
    by default)."""
    config = config or AugmentConfig()
    rng = np.random.default_rng(params.seed)
    h, w = image.shape[:2]
    out = image.astype(np.float32) * np.asarray(params.gains, np.float32)
    source = texture_source if texture_source is not None else image
    for _ in range(params.occluders):
        mask = _occluder_mask(rng, h, w, config.occluder_size)[..., None]
        out = out * (1 - mask) + _texture(rng, source, h, w) * mask
    if params.blur_sigma_px > 0:
        out = cv2.GaussianBlur(out, (0, 0), params.blur_sigma_px)
    if params.noise_sigma > 0:
        out = out + rng.normal(0.0, params.noise_sigma, out.shape).astype(np.float32)
    out = np.clip(np.round(out), 0, 255).astype(np.uint8)
    if params.jpeg_quality > 0:
        bgr = cv2.cvtColor(out, cv2.COLOR_RGB2BGR)  # the codec's luma weights expect BGR
        ok, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, params.jpeg_quality])
        if ok:
            out = cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    return out


def augment_crop(crop: CroppedExample, params: AugmentParams, config: AugmentConfig | None = None,
                 texture_source: np.ndarray | None = None) -> CroppedExample:
    """A crop made with params' geometry -> the same crop with params' photometric steps on its pixels."""
    image = augment_pixels(crop.example.image, params, config, texture_source)
    return replace(crop, example=replace(crop.example, image=image))
