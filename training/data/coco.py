"""COCO keypoints JSON (person_keypoints_*.json, and COCO-WholeBody's, which adds 6 foot points).

Reads `images`, `annotations` (keypoints: 17 x (x, y, v) in image pixels, v 0 = not labelled, 1 = labelled
but occluded, 2 = visible; bbox [x, y, w, h] px; iscrowd), and COCO-WholeBody's `foot_kpts` (6 x (x, y, v):
left big toe, left small toe, left heel, then the right ones) where present. Returns 2D-only samples:
keypoints_2d in image pixels with confidence 1 for every labelled point (occluded ones too: their position is
annotated), centre and scale from the bbox (side = the bbox's longer side, no margin). Crowd annotations and
people with fewer than `min_keypoints` labelled points are skipped.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from training.data.files import DatasetFileError, require_file
from training.data.sample import SampleSet
from training.data.superset import COCO17_TO_SUPERSET, FEET6_TO_SUPERSET, NUM_SUPERSET


def _triplets(ann: dict, key: str, count: int, path) -> np.ndarray:
    values = ann.get(key)
    if not isinstance(values, list) or len(values) != 3 * count:
        found = len(values) if isinstance(values, list) else type(values).__name__
        raise DatasetFileError(f"{path}: annotation {ann.get('id')} key {key!r} has {found} values, "
                               f"expected {3 * count} (x, y, v for {count} points)")
    return np.asarray(values, dtype=np.float64).reshape(count, 3)


def _load_json(path) -> dict:
    try:
        data = json.loads(Path(path).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DatasetFileError(f"{path}: not valid JSON ({err}); is the file complete?") from None
    for key in ("images", "annotations"):
        if not isinstance(data, dict) or not isinstance(data.get(key), list):
            raise DatasetFileError(f"{path}: key {key!r} is missing or not a list: not a COCO annotation file")
    return data


def read_coco(path: str | os.PathLike, image_root: str | os.PathLike = "", min_keypoints: int = 1) -> SampleSet:
    """One sample per annotated person. image: image_root / the image's file_name."""
    path = require_file(path, "a COCO keypoints JSON")
    data = _load_json(path)
    files = {img.get("id"): img.get("file_name") for img in data["images"]}
    images, keypoints, centers, scales = [], [], [], []
    for ann in data["annotations"]:
        if ann.get("iscrowd", 0):
            continue
        body = _triplets(ann, "keypoints", 17, path)
        points = np.zeros((NUM_SUPERSET, 3))
        points[COCO17_TO_SUPERSET, :2] = body[:, :2]
        points[COCO17_TO_SUPERSET, 2] = body[:, 2] > 0
        if "foot_kpts" in ann and ann.get("foot_valid", True):
            feet = _triplets(ann, "foot_kpts", 6, path)
            points[FEET6_TO_SUPERSET, :2] = feet[:, :2]
            points[FEET6_TO_SUPERSET, 2] = feet[:, 2] > 0
        if points[:, 2].sum() < min_keypoints:
            continue
        if ann.get("image_id") not in files:
            raise DatasetFileError(f"{path}: annotation {ann.get('id')} key 'image_id' {ann.get('image_id')} "
                                   "names no entry of 'images'")
        bbox = ann.get("bbox")
        if not isinstance(bbox, list) or len(bbox) != 4:
            raise DatasetFileError(f"{path}: annotation {ann.get('id')} key 'bbox' must be [x, y, w, h]")
        x, y, w, h = map(float, bbox)
        images.append(Path(image_root) / files[ann["image_id"]])
        keypoints.append(points)
        centers.append((x + w / 2, y + h / 2))
        scales.append(max(w, h) / 200.0)
    return SampleSet("coco", images, keypoints_2d=np.array(keypoints).reshape(-1, NUM_SUPERSET, 3),
                     center=np.array(centers).reshape(-1, 2), scale=np.array(scales))
