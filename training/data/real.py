"""Real photographs as training Examples: LSP's training split and LSP-extended, 2D labels only.

Labels: the 14 human-annotated joints (training.data.lsp: LSP's flag 1 = occluded and LSPET's 1 = visible
are both read there; a joint counts as labelled, confidence 1, where its position is annotated, occluded or
not; LSPET's unlabelled joints, stored as (0, 0), get confidence 0). Every 3D, SMPL, contact, side and top
term is masked: keypoints_3d confidence 0, has_pose / has_betas / has_contact / has_cam False (the side
and top targets come from keypoints_3d, so they are masked with it).

The crop window is the labelled joints' box grown to the crop's aspect and by `padding` (the joints are
tighter than a detector's person box, which adds the head and the feet), then the augmentation's scale,
shift, rotation and flip. LSP's test split (im1001-2000) is the benchmark and is refused.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from engine.errors import PlantedError
from training.data.augment import AugmentConfig, augment_crop, draw_params
from training.data.crop import CROP_SIZE, CroppedExample, crop_example, keypoint_window
from training.data.example import Example
from training.data.lsp import DEFAULT_ROOT, SPLITS, lsp_samples

# The benchmark's images: never training data.
REFUSED_SPLITS = frozenset({"lsp_test"})
DEFAULT_PADDING = 1.3


class PhotoExamples(Sequence):
    """One split of LSP / LSPET (training.data.lsp.SPLITS, not lsp_test) as Examples: len and [i].

    augment: an AugmentConfig, or None for plain crops; seed and epoch make every draw reproducible
    (example i of an epoch draws from np.random.default_rng((seed, epoch, i)))."""

    def __init__(self, split: str = "lsp_train", root: str | os.PathLike = DEFAULT_ROOT,
                 size: tuple[int, int] = CROP_SIZE, augment: AugmentConfig | None = None, seed: int = 0,
                 padding: float = DEFAULT_PADDING) -> None:
        if split in REFUSED_SPLITS:
            raise PlantedError(f"{split} (LSP im1001-2000) is the test set of the LSP benchmark and never trains a "
                               "model: use lsp_train or lspet_train")
        if split not in SPLITS:
            raise PlantedError(f"unknown split {split!r}: choose one of "
                               f"{', '.join(s for s in SPLITS if s not in REFUSED_SPLITS)}")
        self.split, self.size, self.augment, self.seed, self.padding = split, size, augment, seed, padding
        self.samples = lsp_samples(split, root)
        self.source = "lsp" if SPLITS[split][0] == "lsp" else "lspet"
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.samples)

    def set_epoch(self, epoch: int) -> None:
        """New draws for a new epoch (the same ones again for the same epoch)."""
        self.epoch = int(epoch)

    def crop(self, i: int) -> CroppedExample:
        """Example i with its crop's affine (photo px -> crop px)."""
        import cv2

        if not -len(self) <= i < len(self):
            raise IndexError(f"photo {i} of {len(self)}")
        i = i % len(self)
        sample = self.samples[i]
        bgr = cv2.imread(sample.image, cv2.IMREAD_COLOR)
        if bgr is None:
            raise PlantedError(f"cannot read {sample.image}: is ../shared/data/images complete?")
        image = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        center, height = keypoint_window(sample.keypoints_2d, self.size, self.padding)
        key = os.path.basename(sample.image)
        if self.augment is None:
            return crop_example(image, center, height, source=self.source, key=key,
                                keypoints_2d=sample.keypoints_2d, size=self.size)
        params = draw_params(self.augment, np.random.default_rng((self.seed, self.epoch, i)))
        height *= params.scale
        crop = crop_example(image, center + np.asarray(params.shift) * height, height, source=self.source, key=key,
                            keypoints_2d=sample.keypoints_2d, size=self.size, rotation=params.rotation,
                            flip=params.flip)
        return augment_crop(crop, params, self.augment, texture_source=image)

    def __getitem__(self, i: int) -> Example:
        return self.crop(i).example
