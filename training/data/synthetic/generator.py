"""Synthetic training examples: a real mocap pose on a random body, seen by a random camera, rendered and labelled.

`SyntheticSource(split, count, seed)` is a Sequence of `training.data.example.Example`: item i is the same
image and labels every time (its random numbers come from (seed, i)), so a shard, a training stream and an
evaluation set can all be rebuilt from a seed. Each example:
1. a clip of the split (clips.json; weighted by its length), mirrored half the time, one of its frames, the
   upper body's joints turned by a little noise; a shape from a bank of `num_shapes` betas ~ N(0, 1);
2. the posed mesh (engine LBS) and its superset keypoints; Eq. 4 contact labels of the shape over the clip;
3. a camera (camera.py) and the crop that frames the person; the mesh drawn by the rasteriser (raster.py)
   with clothes-like colours and a light (appearance.py), over a background photo or a procedural one;
4. occluders, blur, noise and JPEG (training.data.augment's photometric steps, SYNTHETIC_DAMAGE);
5. labels, all computed from the same numbers: front keypoints (crop pixels, confidence 0 outside the
   crop), 3D keypoints (camera frame), SMPL rotations with the root relative to the camera, betas,
   per-vertex contacts and the weak-perspective camera fitted to the projection (training.geometry).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from engine.body.model import BodyModel
from engine.errors import PlantedError
from training.data.augment import AugmentConfig, augment_pixels, draw_params
from training.data.example import Example
from training.data.synthetic.appearance import sample_appearance, sample_background, sample_light, vertex_parts
from training.data.synthetic.camera import Camera, CameraRanges, framing_intrinsics, sample_camera, sample_view
from training.data.synthetic.clips import Clip, load_clips, mirrored, with_upper_body_noise
from training.data.synthetic.posing import ContactCache, PosedBody, pose_frame
from training.data.synthetic.raster import Light, MeshAppearance
from training.geometry import CROP_SCALE_PX

# Camera-like damage after compositing (training.data.augment's photometric steps; the geometry is the
# camera's already): occluders cut from the image itself, blur, sensor noise, JPEG, slight colour gains.
SYNTHETIC_DAMAGE = AugmentConfig(scale_factor=0.0, rotation_p=0.0, flip_p=0.0, colour=0.1, occluder_p=0.3,
                                 max_occluders=1, occluder_size=(0.15, 0.4), blur_p=0.3, noise_p=0.4,
                                 noise_sigma=(2.0, 10.0), jpeg_p=0.5, jpeg_quality=(35, 95))


@dataclass(frozen=True, eq=False)
class Scene:
    """How one sample looks apart from its pose: the person's appearance, the light, the background (H, W, 3)."""

    appearance: MeshAppearance
    light: Light
    background: np.ndarray


@dataclass(frozen=True)
class SyntheticSettings:
    """What a synthetic source draws: the crop size, shapes, noise, camera and degradation ranges."""

    height: int = 256
    width: int = 192
    num_shapes: int = 64
    shape_sigma: float = 1.0
    shape_limit: float = 2.5
    mirror_probability: float = 0.5
    joint_noise_deg: float = 4.0
    camera: CameraRanges = field(default_factory=CameraRanges)
    degradation: AugmentConfig = SYNTHETIC_DAMAGE


def weak_perspective_fit(points_body: np.ndarray, crop_coords: np.ndarray) -> np.ndarray:
    """(s, tx, ty) minimising |s (P_xy + t) - c|^2 over the points: P (K, 3) the network's body frame, c (K, 2)."""
    k = len(points_body)
    # unknowns (s, s tx, s ty): linear least squares
    a = np.zeros((2 * k, 3))
    a[0::2, 0], a[0::2, 1] = points_body[:, 0], 1.0
    a[1::2, 0], a[1::2, 2] = points_body[:, 1], 1.0
    solution = np.linalg.lstsq(a, crop_coords.reshape(-1), rcond=None)[0]
    scale = solution[0]
    return np.array([scale, solution[1] / scale, solution[2] / scale])


def camera_labels(body: BodyModel, posed: PosedBody, camera: Camera) -> dict[str, np.ndarray]:
    """The camera-dependent labels of a posed body: keypoints 2D (crop px + confidence) and 3D (camera frame +
    confidence), SMPL rotations with the root relative to the camera, and the weak-perspective camera."""
    kp3d = camera.to_camera(posed.keypoints)
    uv = camera.intrinsics.project(kp3d)
    inside = (uv[:, 0] >= 0) & (uv[:, 0] <= camera.width - 1) & (uv[:, 1] >= 0) & (uv[:, 1] <= camera.height - 1)
    rotations = posed.rotations.copy()
    rotations[0] = camera.rotation @ rotations[0]
    # The network's body frame (training.body): posed about the rest pelvis with the camera-relative root and
    # not translated, i.e. the camera-frame points moved so that the pelvis sits at its rest position.
    body_frame = kp3d - camera.to_camera(posed.pelvis) + body.rest_joints(posed.betas)[0]
    crop_coords = (uv - np.array([camera.width / 2.0, camera.height / 2.0])) / CROP_SCALE_PX
    return {
        "keypoints_2d": np.concatenate([uv, inside[:, None]], axis=1).astype(np.float32),
        "keypoints_3d": np.concatenate([kp3d, np.ones((len(kp3d), 1))], axis=1).astype(np.float32),
        "pose_rotmat": rotations.astype(np.float32),
        "cam": weak_perspective_fit(body_frame, crop_coords).astype(np.float32),
    }



def degrade(rng: np.random.Generator, image: np.ndarray, damage: AugmentConfig) -> np.ndarray:
    """The photometric damage of `damage` drawn with rng, on a composited render (H, W, 3) uint8."""
    return augment_pixels(image, draw_params(damage, rng), damage)


def composite(render: np.ndarray, background: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8: the premultiplied render over the background by its coverage."""
    alpha = render[..., 3:4].astype(np.float32) / 255.0
    out = render[..., :3].astype(np.float32) + (1.0 - alpha) * background.astype(np.float32)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


class SyntheticSource(Sequence):
    """`count` synthetic Examples from the clips of `split` ("train" or "held_out"); item i from (seed, i).

    body: the body model (engine.body.model.BodyModel) whose mesh is rendered and whose keypoints label it.
    The GL context opens on first use, in the process that renders: each DataLoader worker opens its own after
    the fork. The parent must not have rendered before it forks them (raster.create_context refuses then, as EGL
    would hang), and a context inherited from it is never reused.
    """

    def __init__(self, body: BodyModel, split: str = "train", count: int = 10000, seed: int = 0,
                 settings: SyntheticSettings = SyntheticSettings(), clips: list[Clip] | None = None) -> None:
        self.body, self.split, self.count, self.seed, self.settings = body, split, int(count), int(seed), settings
        self.clips = clips if clips is not None else load_clips(split)
        frames = np.array([c.num_frames for c in self.clips], dtype=np.float64)
        self.clip_weights = frames / frames.sum()
        shapes = np.random.default_rng((self.seed, 1 << 20)).normal(0, settings.shape_sigma, (settings.num_shapes, 10))
        self.shapes = np.clip(shapes, -settings.shape_limit, settings.shape_limit)
        self.parts = vertex_parts(body)
        self.rest_vertices = np.asarray(body.v_template, np.float64)
        self.contacts = ContactCache(body)
        self._mirrored: dict[int, Clip] = {}
        self._rasteriser = None
        self._rasteriser_pid = None  # the process that opened it

    def __len__(self) -> int:
        return self.count

    def rasteriser(self):
        from training.data.synthetic.raster import Rasteriser

        if self._rasteriser is None or self._rasteriser_pid != os.getpid():
            self._rasteriser = Rasteriser(self.body.faces, self.settings.width, self.settings.height)
            self._rasteriser_pid = os.getpid()
        return self._rasteriser

    def clip_for(self, index: int, mirror: bool) -> Clip:
        clip = self.clips[index]
        if not mirror:
            return clip
        if index not in self._mirrored:
            self._mirrored[index] = mirrored(clip)
        return self._mirrored[index]

    def posed_body(self, rng: np.random.Generator) -> tuple[PosedBody, str]:
        """Step 1-2 of the module docstring: a perturbed mocap frame on a shape from the bank, and its key."""
        clip_index = int(rng.choice(len(self.clips), p=self.clip_weights))
        clip = self.clip_for(clip_index, bool(rng.random() < self.settings.mirror_probability))
        frame = int(rng.integers(clip.num_frames))
        betas = self.shapes[int(rng.integers(len(self.shapes)))]
        rotations = with_upper_body_noise(clip.rotations[frame], rng, np.radians(self.settings.joint_noise_deg))
        posed = pose_frame(self.body, clip, frame, betas, self.contacts(clip, betas), rotations)
        return posed, f"{clip.name}:{frame}"

    def __getitem__(self, i: int) -> Example:
        if not -self.count <= i < self.count:
            raise IndexError(f"example {i} of {self.count}")
        i %= self.count
        rng = np.random.default_rng((self.seed, i))
        s = self.settings
        posed, key = self.posed_body(rng)
        camera = sample_camera(rng, posed.keypoints, s.width, s.height, s.camera)
        return self.render_example(rng, posed, camera, self.sample_scene(rng), f"{i}:{key}")

    def sample_scene(self, rng: np.random.Generator) -> Scene:
        s = self.settings
        return Scene(sample_appearance(rng, self.parts, self.rest_vertices), sample_light(rng),
                     sample_background(rng, s.height, s.width))

    def render_example(self, rng: np.random.Generator, posed: PosedBody, camera: Camera, scene: Scene,
                       key: str) -> Example:
        """Steps 3-5 of the module docstring for a posed body, a camera and a scene."""
        render = self.rasteriser().render(camera.to_camera(posed.vertices), self.body.faces, camera.intrinsics,
                                          scene.appearance, scene.light)
        image = degrade(rng, composite(render, scene.background), self.settings.degradation)
        labels = camera_labels(self.body, posed, camera)
        return Example(image=image, source=f"synthetic_{self.split}", key=key,
                       keypoints_2d=labels["keypoints_2d"], keypoints_3d=labels["keypoints_3d"],
                       pose_rotmat=labels["pose_rotmat"], has_pose=True,
                       betas=posed.betas.astype(np.float32), has_betas=True,
                       contact=posed.contact.astype(np.float32), has_contact=True,
                       cam=labels["cam"], has_cam=True, affine=camera.crop_affine.astype(np.float32))

    def sequence(self, clip_index: int, start: int, length: int, stride: int = 1, seed: int = 0) -> list[Example]:
        """Consecutive frames of one clip as a fixed camera films them, one person and scene throughout, each
        frame cropped around the person as the capture's tracker would: for sequence metrics (foot sliding,
        acceleration, contacts). Frames start, start + stride, ... of the clip (at its fps / stride)."""
        rng = np.random.default_rng((self.seed, seed, 1 << 21))
        clip = self.clips[clip_index]
        frames = list(range(start, min(start + length * stride, clip.num_frames), stride))
        if not frames:
            raise PlantedError(f"clip {clip.name} has {clip.num_frames} frames: none from frame {start}")
        betas = self.shapes[int(rng.integers(len(self.shapes)))]
        contacts = self.contacts(clip, betas)
        posed = [pose_frame(self.body, clip, f, betas, contacts) for f in frames]
        everything = np.concatenate([p.keypoints for p in posed])
        centre = (everything.min(axis=0) + everything.max(axis=0)) / 2
        reach = float(np.ptp(everything[:, [0, 2]], axis=0).max())
        ranges = replace(self.settings.camera, distance_m=(3.0 + reach, 6.0 + reach))
        rotation, translation, focal = sample_view(rng, centre, ranges)
        scene = self.sample_scene(rng)
        s = self.settings
        examples = []
        for frame, body in zip(frames, posed, strict=True):
            in_camera = body.keypoints @ rotation.T + translation
            intrinsics = framing_intrinsics(in_camera, focal, s.width, s.height, 1.25, np.zeros(2))
            camera = Camera(rotation, translation, intrinsics, s.width, s.height, focal)
            examples.append(self.render_example(rng, body, camera, scene, f"{clip.name}:{frame}"))
        return examples
