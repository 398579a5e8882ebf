"""A contact sheet of a video's tracked people: one row per track, its crops left to right, labelled, so a
user can see who track N is before capturing it (`planted capture --list-tracks SHEET.png`)."""

from __future__ import annotations

import numpy as np

_LABEL_W = 170
_PAD = 4


def track_sheet(listing, track_ids: list[int] | None = None) -> np.ndarray:
    """TrackListing (engine.capture.track_listing) -> (H, W, 3) uint8 RGB image of `track_ids` (None: all)."""
    import cv2

    rows = [t for t in listing.tracks if listing.crops.get(t.track_id)
            and (track_ids is None or t.track_id in track_ids)]
    if not rows:
        image = np.full((60, 420, 3), 255, np.uint8)
        cv2.putText(image, "nobody tracked", (10, 38), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (0, 0, 0), 2, cv2.LINE_AA)
        return image
    ch, cw = next(iter(listing.crops[rows[0].track_id]))[1].shape[:2]
    most = max(len(listing.crops[t.track_id]) for t in rows)
    image = np.full((len(rows) * (ch + _PAD) + _PAD, _LABEL_W + most * (cw + _PAD) + _PAD, 3), 255, np.uint8)
    for r, summary in enumerate(rows):
        y = _PAD + r * (ch + _PAD)
        texts = [f"track {summary.track_id}", f"{summary.start_s:.1f}-{summary.end_s:.1f} s",
                 f"{summary.key_frames} key frames", f"{summary.height_px:.0f} px tall"]
        for i, text in enumerate(texts):
            cv2.putText(image, text, (6, y + 22 + 24 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.55 if i else 0.7,
                        (0, 0, 0), 2 if i == 0 else 1, cv2.LINE_AA)
        for c, (frame, crop) in enumerate(listing.crops[summary.track_id]):
            x = _LABEL_W + _PAD + c * (cw + _PAD)
            image[y:y + ch, x:x + cw] = crop
            cv2.putText(image, str(frame), (x + 3, y + ch - 5), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 0), 1,
                        cv2.LINE_AA)
    return image


def write_track_sheet(listing, path, track_ids: list[int] | None = None) -> None:
    """The contact sheet of `listing` (its `track_ids`, None: all) as a PNG at `path` (atomically)."""
    from engine.render.png import write_png

    write_png(path, track_sheet(listing, track_ids), what="track contact sheet")
