"""Finding small and distant people: the person detector on overlapping tiles of the frame as well.

BlazePose's detector sees the frame shrunk to 224 px, where a person 90 px tall in a 576 px street view
is 35 px and its face, which the detector keys on, a few pixels: it finds nobody. Run on tiles a third
of the frame's shorter side (half-overlapping, so every person lies well inside one), the same people
are 100 px tall at its input and found (opencv-doc's vtest.avi: 3-6 of the 6 walkers per frame, none on
the whole frame). A tile drops the people whose hip centre lies near one of its cut edges (they are cut
in two there, and whole in a neighbour) and those taller than itself (a larger tile or the whole frame
sees them whole); detections of all tiles and of the whole frame are
then merged by non-maximum suppression, and a tile's detection lying mostly inside a whole-frame one
(a close person's face or torso seen alone) is dropped, as is a box holding two or more smaller people
(the detector's one circle around a group). About 40 detector runs a key frame for a 4:3
frame, in batches (TILE_FRACTIONS).
"""

from __future__ import annotations

import numpy as np

from engine.capture.detector import Detection

# Tile sides as shares of the frame's shorter side: whole-height squares (a wide frame letterboxed to the
# detector's square shrinks everyone: a 1600x576 frame's people come out 81 px tall at its input), and thirds.
TILE_FRACTIONS = (1.0, 1 / 3)
MIN_TILE_PX = 160  # smaller tiles only magnify blur
MERGE_IOU = 0.4
CONTAINED = 0.7  # share of a tile detection's box inside a whole-frame detection's box
GROUP_SHARE = 0.8  # people this much smaller than a box, two or more inside it: the box is the group
EDGE_MARGIN = 1 / 8  # of the tile side: a hip centre this near a cut edge is a person cut in two


def tile_origins(width: int, height: int, side: int) -> list[tuple[int, int]]:
    """Top-left corners of half-overlapping `side` px tiles covering a width x height frame."""
    def starts(extent: int) -> list[int]:
        if extent <= side:
            return [0]
        step = side // 2
        return sorted(set(list(range(0, extent - side, step)) + [extent - side]))

    return [(x, y) for y in starts(height) for x in starts(width)]


def _inner(point: np.ndarray, x: int, y: int, side: int, width: int, height: int) -> bool:
    """Whether a point lies away from the tile's cut edges (EDGE_MARGIN; the frame's own edges are kept)."""
    m = EDGE_MARGIN * side
    lo_x, hi_x = (x if x == 0 else x + m), (x + side if x + side >= width else x + side - m)
    lo_y, hi_y = (y if y == 0 else y + m), (y + side if y + side >= height else y + side - m)
    return bool(lo_x <= point[0] < hi_x and lo_y <= point[1] < hi_y)


def _containment(a: np.ndarray, b: np.ndarray) -> float:
    """Share of box a's area inside box b."""
    lo, hi = np.maximum(a[:2], b[:2]), np.minimum(a[2:], b[2:])
    inter = float(np.prod(np.clip(hi - lo, 0, None)))
    return inter / max(float(np.prod(a[2:] - a[:2])), 1e-9)


def merge(whole: list[Detection], tiled: list[Detection]) -> list[Detection]:
    """Whole-frame and tile detections -> one list without duplicates, highest score first (module doc)."""
    from engine.capture.track import box_iou

    tiled = [d for d in tiled if all(_containment(d.box, w.box) < CONTAINED for w in whole)]
    pool = sorted(whole + tiled, key=lambda d: -d.score)
    kept: list[Detection] = []
    for d in pool:
        if not kept or box_iou(d.box[None], np.stack([k.box for k in kept])).max() < MERGE_IOU:
            kept.append(d)
    return [d for d in kept if not _holds_a_group(d, kept)]


def _holds_a_group(detection: Detection, others: list[Detection]) -> bool:
    """Whether the box holds two or more clearly smaller people's centres: a group read as one large person."""
    box, height = detection.box, detection.box[3] - detection.box[1]
    inside = 0
    for other in others:
        centre = 0.5 * (other.box[:2] + other.box[2:])
        smaller = other.box[3] - other.box[1] < GROUP_SHARE * height
        inside += bool(smaller and (box[:2] <= centre).all() and (centre <= box[2:]).all())
    return inside >= 2


class TiledDetector:
    """A BlazePoseDetector run on the whole frame and on its tiles (module docstring); same interface."""

    def __init__(self, detector, tile_fractions: tuple[float, ...] = TILE_FRACTIONS):
        self.detector = detector
        self.tile_fractions = tile_fractions

    def tiles(self, width: int, height: int) -> list[tuple[int, int, int]]:
        """(x, y, side) of every tile of a width x height frame (the whole frame is not among them)."""
        out = []
        for fraction in self.tile_fractions:
            side = max(int(min(width, height) * fraction), MIN_TILE_PX)
            if side > min(width, height) or (side == min(width, height) and width == height):
                continue
            out += [(x, y, side) for x, y in tile_origins(width, height, side)]
        return out

    def detect(self, frame_rgb: np.ndarray) -> list[Detection]:
        height, width = frame_rgb.shape[:2]
        tiles = self.tiles(width, height)
        images = [frame_rgb] + [np.ascontiguousarray(frame_rgb[y:y + s, x:x + s]) for x, y, s in tiles]
        found = self.detector.detect_batch(images)
        tiled = []
        for (x, y, side), detections in zip(tiles, found[1:], strict=True):
            for d in detections:
                tall = d.box[3] - d.box[1] > side  # bigger than its tile: a cut person, or several seen as one
                if not tall and (d.keypoints is None or _inner(d.keypoints[0] + [x, y], x, y, side, width, height)):
                    shift = np.array([x, y, x, y], np.float64)
                    keypoints = None if d.keypoints is None else d.keypoints + [x, y]
                    tiled.append(Detection(box=d.box + shift, score=d.score, keypoints=keypoints))
        return merge(found[0], tiled)
