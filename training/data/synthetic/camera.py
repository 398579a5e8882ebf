"""Random cameras around the posed body, and the crop that frames it: the views the paper cares about.

A camera looks at the body's centre from an azimuth all round it (front, side and back views), from an
elevation that is mostly near eye level and sometimes high (looking down on the person, the top-ish views
of the paper), at a distance and focal length that vary the perspective, with a little roll. The crop is
rendered directly: its intrinsics frame the person's projected keypoints with a margin and a jitter, so
labels are exact projections (no resampling of the image). World: SMPL's y-up world (metres); camera frame:
x right, y down, z forward; world -> camera is x_c = R x_w + t.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from training.data.synthetic.raster import Intrinsics


@dataclass(frozen=True)
class CameraRanges:
    """Ranges a camera is drawn from (degrees, metres, and the crop's margin as a factor of the person's box)."""

    elevation_deg: tuple[float, float] = (-5.0, 25.0)
    high_elevation_deg: tuple[float, float] = (25.0, 70.0)
    high_probability: float = 0.3
    distance_m: tuple[float, float] = (2.5, 9.0)
    fov_deg: tuple[float, float] = (30.0, 70.0)  # of a 1920 px wide virtual image
    roll_deg: tuple[float, float] = (-10.0, 10.0)
    margin: tuple[float, float] = (1.1, 1.4)
    centre_jitter: float = 0.06  # of the box side


@dataclass(frozen=True, eq=False)
class Camera:
    """rotation (3, 3) and translation (3,): world -> camera; intrinsics: of the crop (width x height px);
    focal: of the camera's full (virtual) image, principal point at (0, 0), which the crop is cut from."""

    rotation: np.ndarray
    translation: np.ndarray
    intrinsics: Intrinsics
    width: int
    height: int
    focal: float = 0.0

    @property
    def crop_affine(self) -> np.ndarray:
        """(2, 3) full-image px -> crop px."""
        scale = self.intrinsics.fx / self.focal
        return np.array([[scale, 0.0, self.intrinsics.cx], [0.0, scale, self.intrinsics.cy]])

    def to_camera(self, points: np.ndarray) -> np.ndarray:
        """(..., 3) world metres -> camera frame metres."""
        return points @ self.rotation.T + self.translation


def look_at(eye: np.ndarray, target: np.ndarray, roll_rad: float) -> np.ndarray:
    """World -> camera rotation (3, 3) for a camera at `eye` looking at `target`, world up +y, then rolled."""
    forward = target - eye
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, np.array([0.0, 1.0, 0.0]))
    if np.linalg.norm(right) < 1e-6:  # straight down: any right will do
        right = np.array([1.0, 0.0, 0.0])
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    rotation = np.stack([right, down, forward])
    c, s = np.cos(roll_rad), np.sin(roll_rad)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]) @ rotation


def sample_view(rng: np.random.Generator, centre: np.ndarray,
                ranges: CameraRanges) -> tuple[np.ndarray, np.ndarray, float]:
    """(rotation, translation, focal px of a 1920 px virtual image) of a random camera looking at `centre`."""
    azimuth = rng.uniform(0.0, 2 * np.pi)
    high = rng.random() < ranges.high_probability
    elevation = np.radians(rng.uniform(*(ranges.high_elevation_deg if high else ranges.elevation_deg)))
    distance = rng.uniform(*ranges.distance_m)
    eye = centre + distance * np.array([np.cos(elevation) * np.sin(azimuth), np.sin(elevation),
                                        np.cos(elevation) * np.cos(azimuth)])
    rotation = look_at(eye, centre, np.radians(rng.uniform(*ranges.roll_deg)))
    focal = 960.0 / np.tan(np.radians(rng.uniform(*ranges.fov_deg)) / 2)
    return rotation, -rotation @ eye, focal


def framing_intrinsics(points_camera: np.ndarray, focal: float, width: int, height: int, margin: float,
                       jitter: np.ndarray) -> Intrinsics:
    """Crop intrinsics that frame the (K, 3) camera-frame points: their box, widened to the crop's aspect,
    times `margin`, its centre moved by `jitter` (2,) box sides."""
    uv = points_camera[:, :2] / points_camera[:, 2:3] * focal
    low, high = uv.min(axis=0), uv.max(axis=0)
    centre = (low + high) / 2
    box_h = max(high[1] - low[1], (high[0] - low[0]) * height / width) * margin
    centre = centre + jitter * box_h
    scale = height / box_h
    return Intrinsics(focal * scale, focal * scale, width / 2 - centre[0] * scale, height / 2 - centre[1] * scale)


def sample_camera(rng: np.random.Generator, keypoints_world: np.ndarray, width: int, height: int,
                  ranges: CameraRanges = CameraRanges()) -> Camera:
    """A random camera and the crop that frames the body whose keypoints (K, 3) are given (world, metres)."""
    centre = (keypoints_world.min(axis=0) + keypoints_world.max(axis=0)) / 2
    rotation, translation, focal = sample_view(rng, centre, ranges)
    points = keypoints_world @ rotation.T + translation
    jitter = rng.uniform(-ranges.centre_jitter, ranges.centre_jitter, 2)
    intrinsics = framing_intrinsics(points, focal, width, height, rng.uniform(*ranges.margin), jitter)
    return Camera(rotation, translation, intrinsics, width, height, focal)
