"""Shards: Examples cached to disk, so that a training run streams them instead of rendering or cropping again.

A shard is one .npz file (written atomically, read with allow_pickle=False) of N examples:
    images_jpeg (bytes,) uint8, image_offsets (N + 1,)  each crop JPEG-encoded (quality 95), concatenated
    keypoints_2d (N, K, 3), keypoints_3d (N, K, 4)        as training.data.example.Example has them
    pose_rotmat (N, 24, 3, 3), has_pose (N,), betas (N, 10), has_betas (N,), cam (N, 3), has_cam (N,), weight (N,)
    contact (N, Vc), contact_present (N,), has_contact (N,)   zeros and False where an example had none
    affine (N, 2, 3), affine_present (N,)                   the crop's affine, where known
    source (N,), key (N,)                                   strings
    format ()                                                "planted-shard-1"
`ShardDataset(paths)` is a Sequence of Examples over one or more shards (each shard read once, on first use).
"""

from __future__ import annotations

import os
import pathlib
import zipfile
from collections.abc import Iterable, Sequence

import numpy as np

from engine.atomic import atomic_path
from engine.errors import PlantedError
from training.data.example import Example

SHARD_FORMAT = "planted-shard-1"
JPEG_QUALITY = 95
_ARRAYS = ("keypoints_2d", "keypoints_3d", "pose_rotmat", "has_pose", "betas", "has_betas", "cam", "has_cam",
           "weight", "has_contact")


def encode_jpeg(image: np.ndarray, quality: int = JPEG_QUALITY) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> the JPEG file's bytes as a uint8 array."""
    import cv2

    ok, data = cv2.imencode(".jpg", np.ascontiguousarray(image[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise PlantedError("JPEG encoding failed")
    return data.reshape(-1)


def decode_jpeg(data: np.ndarray) -> np.ndarray:
    import cv2

    image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if image is None:
        raise PlantedError("a shard's image is not a readable JPEG: the shard is damaged; write it again")
    return image[..., ::-1].copy()


def write_shard(path: str | os.PathLike, examples: Iterable[Example], progress=None) -> pathlib.Path:
    """Write examples to one shard file; progress(done) is called after each example (e.g. a tqdm update)."""
    columns: dict[str, list] = {name: [] for name in _ARRAYS}
    images, contact, present, sources, keys, affines = [], [], [], [], [], []
    for example in examples:
        images.append(encode_jpeg(example.image))
        for name in _ARRAYS:
            columns[name].append(getattr(example, name))
        present.append(example.contact is not None)
        affines.append(example.affine)
        contact.append(example.contact)
        sources.append(example.source)
        keys.append(example.key)
        if progress is not None:
            progress(len(images))
    if not images:
        raise PlantedError("no examples to write: a shard needs at least one")
    width = max((len(c) for c in contact if c is not None), default=0)
    contact_array = np.zeros((len(images), width), np.float32)
    for row, values in enumerate(contact):
        if values is not None:
            contact_array[row] = values
    offsets = np.concatenate([[0], np.cumsum([len(i) for i in images])]).astype(np.int64)
    arrays = {name: np.asarray(values) for name, values in columns.items()}
    arrays.update(images_jpeg=np.concatenate(images), image_offsets=offsets, contact=contact_array,
                  contact_present=np.array(present), source=np.array(sources), key=np.array(keys),
                  affine=np.stack([np.zeros((2, 3), np.float32) if a is None else a for a in affines]),
                  affine_present=np.array([a is not None for a in affines]),
                  format=np.array(SHARD_FORMAT))
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, **arrays)
    return path


def read_shard(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """A shard's arrays, checked; PlantedError naming the file and the key when it is not a shard."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise PlantedError(f"shard {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except (OSError, ValueError, zipfile.BadZipFile) as err:
        raise PlantedError(f"{path} is not a readable shard ({err}); write it again") from None
    if str(arrays.get("format", "")) != SHARD_FORMAT:
        raise PlantedError(f"{path}: key 'format' is not {SHARD_FORMAT!r}: not a Planted shard of this version")
    count = len(arrays["image_offsets"]) - 1
    for name in (*_ARRAYS, "contact", "contact_present", "source", "key"):
        if name not in arrays:
            raise PlantedError(f"{path}: key {name!r} is missing; the shard is truncated or damaged")
        if len(arrays[name]) != count:
            raise PlantedError(f"{path}: key {name!r} has {len(arrays[name])} rows for {count} images")
    return arrays


class ShardDataset(Sequence):
    """All examples of the given shard files, in order; a shard is read when one of its examples is first asked."""

    def __init__(self, paths: Iterable[str | os.PathLike]) -> None:
        self.paths = [pathlib.Path(p) for p in paths]
        if not self.paths:
            raise PlantedError("no shard files given")
        counts = []
        for path in self.paths:
            if not path.is_file():
                raise PlantedError(f"shard {path} does not exist")
            try:
                with np.load(path, allow_pickle=False) as data:
                    offsets = data["image_offsets"] if "image_offsets" in data.files else None
            except (OSError, ValueError, zipfile.BadZipFile) as err:
                raise PlantedError(f"{path} is not a readable shard ({err}); write it again") from None
            if offsets is None:
                raise PlantedError(f"{path}: key 'image_offsets' is missing: not a Planted shard")
            counts.append(len(offsets) - 1)
        self.starts = np.concatenate([[0], np.cumsum(counts)])
        self._loaded: dict[int, dict[str, np.ndarray]] = {}

    def __len__(self) -> int:
        return int(self.starts[-1])

    def _shard(self, index: int) -> dict[str, np.ndarray]:
        if index not in self._loaded:
            self._loaded[index] = read_shard(self.paths[index])
        return self._loaded[index]

    def __getitem__(self, i: int) -> Example:
        if not -len(self) <= i < len(self):
            raise IndexError(f"example {i} of {len(self)}")
        i %= len(self)
        shard = int(np.searchsorted(self.starts, i, side="right") - 1)
        data, row = self._shard(shard), i - int(self.starts[shard])
        start, end = data["image_offsets"][row], data["image_offsets"][row + 1]
        values = {name: data[name][row] for name in _ARRAYS}
        for flag in ("has_pose", "has_betas", "has_cam", "has_contact"):
            values[flag] = bool(values[flag])
        values["weight"] = float(values["weight"])
        contact = data["contact"][row] if data["contact_present"][row] else None
        present = "affine_present" in data and data["affine_present"][row]
        return Example(image=decode_jpeg(data["images_jpeg"][start:end]), source=str(data["source"][row]),
                       key=str(data["key"][row]), contact=contact, affine=data["affine"][row] if present else None,
                       **values)
