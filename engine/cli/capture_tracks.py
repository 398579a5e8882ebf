"""`planted capture VIDEO --list-tracks [SHEET.png]` and `--all-tracks`: the people of a video.

--list-tracks prints each tracked person (id, frames, size) and optionally writes a contact sheet of their
crops; --all-tracks captures every person seen on at least three sure key frames into NAME_track<N>.npz
(and .bvh), one after another, with the one-screen summary of each.
"""

from __future__ import annotations

import argparse
import threading
import time
from pathlib import Path

from engine.errors import MotionFileError


def track_path(path: str | Path, track_id: int) -> Path:
    """walk.npz -> walk_track3.npz."""
    path = Path(path)
    return path.with_name(f"{path.stem}_track{track_id}{path.suffix}")


def list_tracks(args: argparse.Namespace, settings) -> int:
    from engine.capture.track_listing import list_tracks as listing_of
    from engine.cli.capture import ProgressBars, check_writable, with_progress
    from engine.render.track_sheet import write_track_sheet

    sheet = Path(args.list_tracks) if args.list_tracks else None
    if sheet is not None:
        check_writable(sheet, ".png")
    bars = ProgressBars(enabled=not args.quiet)
    listing = with_progress(lambda cancel: listing_of(args.video, settings, progress=bars, cancel=cancel), bars)
    from engine.capture.pipeline import MIN_KEY_FRAMES

    video = listing.video
    shown = [t for t in listing.tracks if t.sure_key_frames >= MIN_KEY_FRAMES]
    print(f"planted capture: {video.path.name} ({video.width}x{video.height}, {video.fps:g} fps): "
          f"{len(shown)} people tracked" + ("" if settings.finds_small_people else
                                             " (small-person detection off: --crowd turns it on)"))
    for summary in shown:
        print("  " + summary.line())
    if len(shown) < len(listing.tracks):
        print(f"  (and {len(listing.tracks) - len(shown)} glimpses seen on fewer than {MIN_KEY_FRAMES} sure key "
              "frames, not listed: too little to capture)")
    if sheet is not None:
        write_track_sheet(listing, sheet, [t.track_id for t in shown])
        print(f"  contact sheet {sheet}")
    if shown:
        print("capture one with --track-id N -o NAME.npz, or everyone with --all-tracks -o NAME.npz")
    return 0


def all_tracks(args: argparse.Namespace, settings) -> int:
    from engine.capture.motion_file import capture_arrays, write_capture_bvh, write_motion_file
    from engine.capture.pipeline import capture_all
    from engine.cli.capture import EXIT_PARTIAL, ProgressBars, summary_lines

    bars = ProgressBars(enabled=not args.quiet)
    cancel = threading.Event()
    started = time.perf_counter()
    broken, written = False, 0
    try:
        for result in capture_all(args.video, settings, progress=bars, cancel=cancel):
            bars.close()
            output = track_path(args.output, result.track_id)
            write_motion_file(output, capture_arrays(result))
            outputs = [str(output)]
            if args.bvh:
                write_capture_bvh(result.motion, track_path(args.bvh, result.track_id))
                outputs.append(str(track_path(args.bvh, result.track_id)))
            print("\n".join(summary_lines(result, outputs, time.perf_counter() - started)))
            broken |= result.stream_broken
            written += 1
    except KeyboardInterrupt:
        cancel.set()
        raise
    finally:
        bars.close()
    if not written:
        raise MotionFileError("no person was captured")
    print(f"planted capture: {written} people captured")
    return EXIT_PARTIAL if broken else 0
