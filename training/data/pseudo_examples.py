"""Pseudo-labelled video frames as training Examples: the frame read from its video, cropped around the person.

The labels file is training.data.pseudo_labels' (its docstring lists the keys). Each Example carries the
stage's 2D keypoints (their confidences), the fitted body's 3D keypoints, pose and shape in the camera frame,
the per-sole-vertex contacts where the fit gave a ground (else has_contact False and no contact array), and
the sample's weight from the fit's reprojection error and the stage's confidence.

Frames are decoded by the engine's reader (engine.capture.video.VideoReader: its rotation handling, so the
pixels are the ones the labels were made on). Reading frames in order is cheap (one open stream per video is
kept and read on); going back reopens the video and decodes up to the frame.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from engine.errors import PlantedError
from engine.rotations import axis_angle_to_matrix
from training.data.augment import AugmentConfig, augment_crop, draw_params
from training.data.crop import CROP_SIZE, CroppedExample, crop_example
from training.data.example import Example
from training.data.files import DatasetFileError, field, load_npz
from training.data.superset import NUM_SUPERSET

SOURCE = "pseudo_labels"
_OPEN_STREAMS = 2


class FrameReader:
    """Frames of videos by file index, RGB uint8, decoded as the engine decodes them."""

    def __init__(self) -> None:
        self._streams: OrderedDict[str, tuple[object, int]] = OrderedDict()

    def frame(self, video: str, index: int) -> np.ndarray:
        from engine.capture.video import VideoReader

        stream, next_index = self._streams.pop(video, (None, -1))
        if stream is None or index < next_index:
            if stream is not None:
                stream.close()
            stream = VideoReader(video, start=index).frames()
        for frame in stream:
            if frame.index == index:
                self._streams[video] = (stream, index + 1)
                while len(self._streams) > _OPEN_STREAMS:
                    self._streams.popitem(last=False)[1][0].close()
                return frame.image
        raise PlantedError(f"{video} has no frame {index}: is it the video the labels were made from?")

    def __getstate__(self) -> dict:
        """Open streams stay behind when the reader is copied into a data-loading worker (spawned workers
        pickle their dataset; each opens its own streams)."""
        return {"_streams": OrderedDict()}

    def close(self) -> None:
        for stream, _ in self._streams.values():
            stream.close()
        self._streams.clear()


class PseudoLabelExamples(Sequence):
    """A pseudo-labels file as Examples: len and [i]. video_root: where the videos are when the paths the
    file names are gone (their file names are looked up there). augment, seed, epoch: as
    training.data.real.PhotoExamples (np.random.default_rng((seed, epoch, i)))."""

    def __init__(self, path: str | os.PathLike, size: tuple[int, int] = CROP_SIZE,
                 augment: AugmentConfig | None = None, seed: int = 0,
                 video_root: str | os.PathLike | None = None) -> None:
        self.path, self.size, self.augment, self.seed, self.epoch = Path(path), size, augment, seed, 0
        data = load_npz(path, "a pseudo-labels file (training.data.pseudo_labels)")
        n = len(field(data, "frame", path, (None,), "iu"))
        self.frames = data["frame"]
        self.videos = [self._resolve(str(v), video_root) for v in field(data, "video", path, (n,), "U")]
        self.views = field(data, "view", path, (n,), "U")
        self.keypoints_2d = field(data, "keypoints_2d", path, (n, NUM_SUPERSET, 3))
        self.keypoints_3d = field(data, "keypoints_3d", path, (n, NUM_SUPERSET, 4))
        self.pose = field(data, "pose", path, (n, 72))
        self.betas = field(data, "betas", path, (n, 10))
        self.contact_bits = field(data, "contact_bits", path, (n, None), "u")
        self.has_contact = field(data, "has_contact", path, (n,), "b")
        self.num_contact_vertices = int(field(data, "num_contact_vertices", path, ()))
        self.center = field(data, "center", path, (n, 2))
        self.height = field(data, "height", path, (n,))
        self.weight = field(data, "weight", path, (n,))
        if self.contact_bits.shape[1] * 8 < self.num_contact_vertices:
            raise DatasetFileError(f"{path}: contact_bits hold {self.contact_bits.shape[1] * 8} bits for "
                                   f"{self.num_contact_vertices} contact vertices")
        self.reader = FrameReader()

    @staticmethod
    def _resolve(video: str, root) -> str:
        if Path(video).is_file() or root is None:
            return video
        return str(Path(root) / Path(video).name)

    def __len__(self) -> int:
        return len(self.frames)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def key(self, i: int) -> str:
        """'video.mp4[#camera]:frame', unique within the file."""
        view = f"#{self.views[i]}" if self.views[i] else ""
        return f"{Path(self.videos[i]).name}{view}:{int(self.frames[i]):06d}"

    def image(self, i: int) -> np.ndarray:
        """The full frame (H, W, 3) uint8 RGB of sample i."""
        if not Path(self.videos[i]).is_file():
            raise PlantedError(f"{self.videos[i]} (named by {self.path}) is missing: give video_root, the folder "
                               "that holds the labelled videos")
        return self.reader.frame(self.videos[i], int(self.frames[i]))

    def crop(self, i: int) -> CroppedExample:
        """Example i with its crop's affine (frame px -> crop px)."""
        if not -len(self) <= i < len(self):
            raise IndexError(f"sample {i} of {len(self)}")
        i = i % len(self)
        image = self.image(i)
        contact = None
        if self.has_contact[i]:
            contact = np.unpackbits(self.contact_bits[i], count=self.num_contact_vertices).astype(np.float32)
        center, height = self.center[i].astype(np.float64), float(self.height[i])
        rotation, flip, params = 0.0, False, None
        if self.augment is not None:
            params = draw_params(self.augment, np.random.default_rng((self.seed, self.epoch, i)))
            height *= params.scale
            center = center + np.asarray(params.shift) * height
            rotation, flip = params.rotation, params.flip
        crop = crop_example(
            image, center, height, source=SOURCE, key=self.key(i), keypoints_2d=self.keypoints_2d[i],
            keypoints_3d=self.keypoints_3d[i], pose_rotmat=axis_angle_to_matrix(self.pose[i].reshape(24, 3)),
            betas=self.betas[i], contact=contact, has_contact=contact is not None, weight=float(self.weight[i]),
            size=self.size, rotation=rotation, flip=flip)
        return crop if params is None else augment_crop(crop, params, self.augment, texture_source=image)

    def __getitem__(self, i: int) -> Example:
        return self.crop(i).example
