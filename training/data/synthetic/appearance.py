"""How a synthetic person and their surroundings look: clothes-like part colours, textures, light, backgrounds.

Each vertex belongs to a body part by its strongest skinning joint. A sample draws a skin tone, a top
(short or long sleeves), a bottom (shorts or trousers) and shoes, each with a colour pair and a procedural
pattern (plain, stripes, checks, speckle) that the rasteriser draws in rest-pose coordinates.
Backgrounds are crops of real photographs without people (opencv-doc's sample images, and the median of
vtest.avi's frames, in which the walkers vanish) where the system has them, else procedural ones (gradients,
noise, shapes); both are always used when both exist. The photos are read from `backgrounds_folder()`:
$PLANTED_BACKGROUNDS when set (a folder holding BACKGROUND_PHOTOS and vtest.avi, e.g. the GPU recipe's carried
copy), else opencv-doc's examples folder.
"""

from __future__ import annotations

import functools
import os
import pathlib

import numpy as np

from engine.body.joints import SMPL_JOINT_NAMES
from engine.body.model import BodyModel
from training.data.synthetic.raster import Light, MeshAppearance

OPENCV_SAMPLES = pathlib.Path("/usr/share/doc/opencv-doc/examples/data")
BACKGROUNDS_VARIABLE = "PLANTED_BACKGROUNDS"
# opencv-doc's sample photos that show no person (Apache-2.0 / BSD-3, see the package's copyright file).
BACKGROUND_PHOTOS: tuple[str, ...] = (
    "building.jpg", "home.jpg", "aloeL.jpg", "fruits.jpg", "board.jpg", "graf1.png", "leuvenA.jpg",
    "box_in_scene.png", "stuff.jpg", "rubberwhale1.png", "starry_night.jpg", "orange.jpg", "smarties.png",
    "aero1.jpg", "apple.jpg", "blox.jpg",
)
EMPTY_STREET_VIDEO = "vtest.avi"

# Body parts by SMPL joint (the strongest skinning weight of a vertex picks its joint).
_SKIN_JOINTS = {"head", "neck", "left_wrist", "right_wrist", "left_hand", "right_hand"}
_SLEEVE_JOINTS = {"left_elbow", "right_elbow"}
_LOWER_LEG_JOINTS = {"left_knee", "right_knee"}
_SHOE_JOINTS = {"left_ankle", "right_ankle", "left_foot", "right_foot"}
_BOTTOM_JOINTS = {"pelvis", "left_hip", "right_hip"}
PART_NAMES = ("skin", "top", "sleeve", "bottom", "lower_leg", "shoes")


def vertex_parts(body: BodyModel) -> np.ndarray:
    """(V,) part index into PART_NAMES of every vertex, by its strongest skinning joint."""
    joint = np.asarray(body.weights).argmax(axis=1)
    part_of_joint = []
    for name in SMPL_JOINT_NAMES:
        part = ("skin" if name in _SKIN_JOINTS else "sleeve" if name in _SLEEVE_JOINTS
                else "lower_leg" if name in _LOWER_LEG_JOINTS else "shoes" if name in _SHOE_JOINTS
                else "bottom" if name in _BOTTOM_JOINTS else "top")
        part_of_joint.append(PART_NAMES.index(part))
    return np.asarray(part_of_joint)[joint]


def _hsv_colour(rng: np.random.Generator, saturation=(0.1, 0.9), value=(0.1, 0.95)) -> np.ndarray:
    import colorsys

    return np.array(colorsys.hsv_to_rgb(rng.random(), rng.uniform(*saturation), rng.uniform(*value)))


def _skin_colour(rng: np.random.Generator) -> np.ndarray:
    """A skin tone between dark and light (a line in RGB through measured tones, with a little spread)."""
    dark, light = np.array([0.30, 0.18, 0.12]), np.array([0.95, 0.80, 0.70])
    return np.clip(dark + rng.random() * (light - dark) + rng.normal(0, 0.03, 3), 0, 1)


def sample_appearance(rng: np.random.Generator, parts: np.ndarray, rest_vertices: np.ndarray) -> MeshAppearance:
    """Per-vertex colours and patterns: skin, a top with short or long sleeves, shorts or trousers, shoes."""
    skin = _skin_colour(rng)
    garments = {name: (_hsv_colour(rng), _hsv_colour(rng), int(rng.integers(0, 4))) for name in ("top", "bottom")}
    shoes = (_hsv_colour(rng, value=(0.05, 0.6)), _hsv_colour(rng, value=(0.05, 0.6)), 0)
    long_sleeves, trousers = rng.random() < 0.5, rng.random() < 0.6
    looks = {
        "skin": (skin, skin * 0.9, 0), "top": garments["top"], "bottom": garments["bottom"], "shoes": shoes,
        "sleeve": garments["top"] if long_sleeves else (skin, skin * 0.9, 0),
        "lower_leg": garments["bottom"] if trousers else (skin, skin * 0.9, 0),
    }
    table_a = np.stack([looks[n][0] for n in PART_NAMES])
    table_b = np.stack([looks[n][1] for n in PART_NAMES])
    table_pattern = np.array([looks[n][2] for n in PART_NAMES], dtype=np.float64)
    return MeshAppearance(table_a[parts], table_b[parts], table_pattern[parts], rest_vertices,
                          pattern_frequency=float(rng.uniform(6.0, 20.0)))


def sample_light(rng: np.random.Generator) -> Light:
    """One directional light from the camera's side of the body (camera frame) and an ambient term."""
    direction = np.array([rng.uniform(-1, 1), rng.uniform(-1, 0.3), -rng.uniform(0.2, 1.0)])
    warmth = rng.uniform(-0.1, 0.1)
    strength, ambient = rng.uniform(0.4, 0.9), rng.uniform(0.2, 0.55)
    colour = np.clip(strength * np.array([1 + warmth, 1.0, 1 - warmth]), 0, 1)
    return Light(tuple(direction), tuple(colour), (ambient, ambient, ambient))


def backgrounds_folder() -> pathlib.Path:
    """Where the background photos are read: $PLANTED_BACKGROUNDS when set, else OPENCV_SAMPLES."""
    return pathlib.Path(os.environ.get(BACKGROUNDS_VARIABLE) or OPENCV_SAMPLES)


def background_photos() -> tuple[np.ndarray, ...]:
    """The real photographs without people found in `backgrounds_folder()` (RGB uint8), possibly none."""
    return _photos_in(str(backgrounds_folder()))


@functools.lru_cache(maxsize=2)  # per folder: read once per process
def _photos_in(folder: str) -> tuple[np.ndarray, ...]:
    import cv2

    root = pathlib.Path(folder)
    photos = []
    for name in BACKGROUND_PHOTOS:
        image = cv2.imread(str(root / name), cv2.IMREAD_COLOR)
        if image is not None and min(image.shape[:2]) >= 128:
            photos.append(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
    street = _median_frame(root / EMPTY_STREET_VIDEO)
    if street is not None:
        photos.append(street)
    return tuple(photos)


def _median_frame(path: pathlib.Path, count: int = 25) -> np.ndarray | None:
    """The per-pixel median of `count` frames spread over a video: moving people vanish from it."""
    import cv2

    capture = cv2.VideoCapture(str(path))
    total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    frames = []
    for index in np.linspace(0, max(total - 1, 0), count).astype(int) if total > 0 else []:
        capture.set(cv2.CAP_PROP_POS_FRAMES, int(index))
        ok, frame = capture.read()
        if ok:
            frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    capture.release()
    return np.median(np.stack(frames), axis=0).astype(np.uint8) if len(frames) >= 5 else None


def procedural_background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """(H, W, 3) uint8: a lit gradient with smooth noise, a floor-like band and a few shapes."""
    import cv2

    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = np.cos(angle) * x + np.sin(angle) * y
    top, bottom = _hsv_colour(rng), _hsv_colour(rng)
    image = top + (bottom - top) * (ramp - ramp.min())[..., None] / max(np.ptp(ramp), 1e-6)
    noise = cv2.resize(rng.normal(0, 1, (max(2, height // 16), max(2, width // 16), 3)), (width, height))
    image = image + noise * rng.uniform(0.02, 0.12)
    horizon = int(rng.uniform(0.4, 0.9) * height)
    image[horizon:] = image[horizon:] * 0.6 + _hsv_colour(rng) * 0.4
    canvas = np.clip(image * 255, 0, 255).astype(np.uint8)
    for _ in range(int(rng.integers(0, 6))):
        colour = tuple(int(c) for c in (_hsv_colour(rng) * 255))
        p = rng.integers(0, [width, height])
        q = p + rng.integers(-width // 2, width // 2, 2)
        cv2.rectangle(canvas, tuple(int(v) for v in p), tuple(int(v) for v in q), colour, -1)
    return canvas


def photo_crop(rng: np.random.Generator, photo: np.ndarray, height: int, width: int) -> np.ndarray:
    """A random crop of a photograph, scaled (and flipped half the time) to (H, W, 3)."""
    import cv2

    side = rng.uniform(0.3, 1.0) * min(photo.shape[0], photo.shape[1] * height / width)
    crop_h, crop_w = int(side), int(side * width / height)
    y0 = int(rng.integers(0, photo.shape[0] - crop_h + 1))
    x0 = int(rng.integers(0, photo.shape[1] - crop_w + 1))
    crop = cv2.resize(photo[y0:y0 + crop_h, x0:x0 + crop_w], (width, height), interpolation=cv2.INTER_AREA)
    return crop[:, ::-1].copy() if rng.random() < 0.5 else crop


def sample_background(rng: np.random.Generator, height: int, width: int, photo_probability: float = 0.6) -> np.ndarray:
    """(H, W, 3) uint8 background: a real photo's crop (when any is available) or a procedural one."""
    photos = background_photos()
    if photos and rng.random() < photo_probability:
        return photo_crop(rng, photos[int(rng.integers(len(photos)))], height, width)
    return procedural_background(rng, height, width)
