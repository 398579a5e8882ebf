"""`planted capture VIDEO -o walk.npz [--bvh walk.bvh]`: a video of a person -> a motion file.

`--list-tracks [SHEET.png]` lists the people instead, `--all-tracks` captures each into its own files
(engine.cli.capture_tracks).

Shows a progress bar per pass (frames/s and ETA) and ends with a one-screen summary. Outputs are
written atomically; every user mistake ends in one line on stderr and exit status 2. A video whose
stream breaks mid-way still gives outputs (from the frames that decoded), a warning, and status 3.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

from engine.errors import MotionFileError

# Outputs were written from part of the video only (the stream broke mid-way).
EXIT_PARTIAL = 3


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "capture", help="video of one person -> SMPL motion (.npz, AMASS keys) and optionally BVH",
        description="Turn a video of one person into a motion file with planted feet.",
    )
    parser.add_argument("video", help="the video file (anything OpenCV's FFmpeg reads)")
    parser.add_argument("-o", "--output", metavar="NPZ",
                        help="motion file to write (.npz); with --all-tracks, NAME.npz gives NAME_track<N>.npz")
    parser.add_argument("--bvh", metavar="PATH", help="also write the motion as BVH (SMPL skeleton, metres)")
    parser.add_argument("--model", metavar="PATH",
                        help="estimation model .onnx (default: $PLANTED_MODEL, the shipped one, or the placeholder)")
    parser.add_argument("--device", choices=("auto", "cuda", "cpu"), default="auto",
                        help="where the network runs (auto: the GPU when ONNX Runtime has a working CUDA provider)")
    parser.add_argument("--start", type=int, default=0, metavar="FRAME", help="first video frame (0-based)")
    parser.add_argument("--end", type=int, default=None, metavar="FRAME", help="stop before this video frame")
    parser.add_argument("--stride", type=at_least_one, default=1, metavar="N", help="use every N-th frame")
    parser.add_argument("--smoothing", type=float, default=1.0, metavar="S",
                        help="temporal smoothing strength: 0 off, 1 default, larger smoother")
    parser.add_argument("--no-foot-lock", action="store_true", help="do not pin planted feet")
    parser.add_argument("--track-id", type=int, default=None, metavar="N",
                        help="follow this person (ids from --list-tracks; default: the largest, longest visible)")
    parser.add_argument("--list-tracks", nargs="?", const="", default=None, metavar="SHEET.png",
                        help="list the people tracked in the video (ids, frames, sizes) and write nothing else; "
                        "with a .png path, also a contact sheet of each person's crops")
    parser.add_argument("--all-tracks", action="store_true",
                        help="capture every tracked person, one motion file (and BVH) per person")
    parser.add_argument("--crowd", action=argparse.BooleanOptionalAction, default=None,
                        help="also look for small, distant people on tiles of the frame (slower); default: on "
                        "with --list-tracks, --all-tracks and --track-id, so that their ids agree")
    parser.add_argument("--fps", type=float, default=None, metavar="N",
                        help="the video's real frame rate, where its file states a wrong one or none")
    parser.add_argument("--focal-length", type=float, default=None, metavar="PX",
                        help="camera focal length in pixels (default: the frame's diagonal)")
    parser.add_argument("--estimator", choices=("fit", "network", "network+fit"), default="network+fit",
                        help="what turns the keypoints into motion: network+fit (default: the estimation network's "
                        "poses start the body fit over time; the best on the pose2sim cameras), fit (the fit from "
                        "a standing start), network (the network alone: fast, coarse)")
    parser.add_argument("--keypoints", choices=("fast", "balanced", "accurate"), default="balanced",
                        help="keypoint networks: fast (MoveNet Lightning + BlazePose lite), balanced (Thunder + "
                        "BlazePose full), accurate (Thunder + BlazePose heavy)")
    parser.add_argument("--detector", choices=("auto", "blazepose", "hog"), default="auto", help="person detector")
    parser.add_argument("--batch-size", type=at_least_one, default=8, metavar="N", help="crops per network call")
    parser.add_argument("--network-every", type=at_least_one, default=3, metavar="N",
                        help="network+fit: run the network on every N-th frame and interpolate between (it only "
                        "starts the fit; default 3, as accurate as 1 on the pose2sim cameras and faster)")
    parser.add_argument("--threads", type=int, default=None, metavar="N", help="CPU threads for ONNX Runtime")
    parser.add_argument("--overlay", metavar="OUT.mp4",
                        help="also write the video with the captured body drawn over it (planted feet ringed)")
    parser.add_argument("--triview", metavar="FRAME:OUT.png",
                        help="also draw front, side and top views of the body at video frame FRAME")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(run=run)


def parse_triview(value: str) -> tuple[int, Path]:
    """--triview FRAME:OUT.png -> (frame, path); MotionFileError naming the flag when it is malformed."""
    frame, sep, out = value.partition(":")
    if not sep or not frame.strip().isdigit() or not out:
        raise MotionFileError(f"--triview takes FRAME:OUT.png (a video frame number and a .png path), got {value!r}")
    return int(frame), Path(out)


def check_writable(path: Path, suffix: str) -> None:
    """Fail now, not after minutes of work, when `path` cannot be written."""
    if path.suffix.lower() != suffix:
        raise MotionFileError(f"output {path} must end in {suffix}")
    if path.is_dir():
        raise MotionFileError(f"output {path} is a folder: give a file name ending in {suffix}")
    folder = path.parent if str(path.parent) else Path(".")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".planted-write-check-"):
            pass
    except OSError as err:
        raise MotionFileError(f"cannot write {path}: {err.strerror or err}") from None


class ProgressBars:
    """A tqdm bar per pass (frames/s and ETA shown): a new stage, or the same stage starting over (the next
    video of a batch), opens a new bar."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.stage: str | None = None
        self.bar = None

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm

        if stage != self.stage or self.bar is None or done < self.bar.n:
            self.close()
            self.stage = stage
            self.bar = tqdm(total=total or None, desc=f"{stage:<5}", unit="frame", file=sys.stderr,
                            dynamic_ncols=True, leave=True)
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def at_least_one(text: str) -> int:
    """argparse type: a whole number >= 1 (argparse names the flag in its message)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def settings_from(args: argparse.Namespace):
    """The CaptureSettings the command line asks for."""
    from engine.capture.pipeline import CaptureSettings

    crowd = args.crowd
    if crowd is None and (args.list_tracks is not None or args.all_tracks):
        crowd = True
    return CaptureSettings(
        start=args.start, end=args.end, stride=args.stride, model_path=args.model, device=args.device,
        detector=args.detector, track_id=args.track_id, smoothing=args.smoothing, keypoints=args.keypoints,
        estimator=args.estimator,
        focal_length_px=args.focal_length, foot_lock=not args.no_foot_lock, batch_size=args.batch_size,
        network_every=args.network_every,
        threads=args.threads, body_model_path=getattr(args, "body_model", None), crowd=crowd, fps=args.fps,
    )


def with_progress(work, bars: ProgressBars):
    """work(cancel) with its progress bars closed after; Ctrl-C sets `cancel` (a threading.Event) first."""
    cancel = threading.Event()
    try:
        return work(cancel)
    except KeyboardInterrupt:
        cancel.set()
        raise
    finally:
        bars.close()


def run(args: argparse.Namespace) -> int:
    import cv2

    from engine.capture.motion_file import capture_arrays, write_capture_bvh, write_motion_file
    from engine.capture.pipeline import capture
    from engine.cli import capture_tracks

    # OpenCV's own warnings ("backend ... can't be used to capture by name") would double the one-line
    # message the engine gives for the same problem.
    cv2.setLogLevel(2)  # errors only
    if args.model and args.estimator == "fit":
        raise MotionFileError("--model gives a network, but --estimator fit runs none: add --estimator network "
                              "or --estimator network+fit (or leave out --model)")
    if args.list_tracks is not None:
        return capture_tracks.list_tracks(args, settings_from(args))
    if args.all_tracks and args.track_id is not None:
        raise MotionFileError("--all-tracks captures every person and --track-id one: give only one of them")
    if args.all_tracks and (args.overlay or args.triview):
        raise MotionFileError("--overlay and --triview draw one person: use them with --track-id, not --all-tracks")
    if not args.output:
        raise MotionFileError("give the motion file to write with -o NAME.npz (or --list-tracks to see who is in "
                              "the video)")
    output = Path(args.output)
    check_writable(output, ".npz")
    if args.bvh:
        check_writable(Path(args.bvh), ".bvh")
    if args.overlay:
        check_writable(Path(args.overlay), ".mp4")
    triview = parse_triview(args.triview) if args.triview else None
    if triview:
        check_writable(triview[1], ".png")
    settings = settings_from(args)
    if args.all_tracks:
        return capture_tracks.all_tracks(args, settings)
    bars = ProgressBars(enabled=not args.quiet)
    started = time.perf_counter()
    result = with_progress(lambda cancel: capture(args.video, settings, progress=bars, cancel=cancel), bars)
    t = time.perf_counter()
    write_motion_file(output, capture_arrays(result))
    if args.bvh:
        write_capture_bvh(result.motion, args.bvh)
    outputs = [str(output)] + ([args.bvh] if args.bvh else [])
    if args.overlay or triview:
        from engine.body.active import load_active_body_model
        from engine.render.overlay import write_overlay, write_triview

        body_model = load_active_body_model(settings.body_model_path)
        if args.overlay:
            write_overlay(result, body_model, args.overlay, progress=bars)
            outputs.append(args.overlay)
        if triview:
            write_triview(result, body_model, triview[0], triview[1])
            outputs.append(str(triview[1]))
        bars.close()
    result.timings["write"] = time.perf_counter() - t
    print("\n".join(summary_lines(result, outputs, time.perf_counter() - started)))
    # A broken stream still writes what decoded, but scripts must notice: a distinct non-zero status.
    return EXIT_PARTIAL if result.stream_broken else 0


def estimator_line(result) -> str:
    """Which estimator made the motion, with its network and the fit's reprojection error."""
    import numpy as np

    meta = result.model_metadata
    parts = [result.settings.estimator]
    if meta is not None:
        every = result.settings.network_runs_every
        parts.append(f"network {result.model_path.name} v{meta.model_version} "
                     f"({'trained' if meta.trained else 'UNTRAINED'}"
                     + (f", on every {_ordinal(every)} frame)" if every > 1 else ")"))
    if result.fit is not None:
        error = result.fit.reprojection_px[0]
        if np.isfinite(error).any():
            parts.append(f"fit reprojection {np.nanmedian(error):.1f} px median")
    return f"  estimator     {', '.join(parts)}; body {result.body_model_id}"


def _ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def keypoint_line(result) -> str:
    """How much of the clip the keypoint stage saw the person in, and with which networks."""

    kp = result.keypoints
    seen = kp.pose_flag >= 0.5
    confident = (kp.confidence >= 0.5).sum(axis=1)
    mean_points = float(confident[seen].mean()) if seen.any() else 0.0
    return (f"  keypoints     {result.settings.keypoints} ({' + '.join(result.keypoint_models)}): person in "
            f"{100 * seen.mean():.1f} % of frames, {mean_points:.1f} of 23 points confident there")


def summary_lines(result, outputs: list[str], total_s: float) -> list[str]:
    """The one-screen summary printed at the end of a capture."""
    import numpy as np

    recon = result.reconstruction
    masks = recon.masks
    t = result.num_frames
    valid = masks.valid
    share = result.planted().sum(axis=0) / max(int(valid.sum()), 1)
    fs_before, fs_after = result.foot_sliding_mm()
    stages = ", ".join(f"{k} {v:.2f} s" for k, v in result.timings.items())
    if "network_wait" in result.timings:  # the stages overlap: only the total is the wall clock
        stages += " (crop and infer ran beside keypoints)"
    lines = [
        f"planted capture: {result.video.path.name} -> {', '.join(outputs)}",
        f"  frames        {t} at {result.fps:g} fps{' (given)' if result.video.fps_given else ''} "
        f"(video {result.video.width}x{result.video.height}, "
        f"file frames {int(result.frame_indices[0])}-{int(result.frame_indices[-1])})",
        f"  valid         {100 * valid.mean():.1f} % ({int(masks.interpolated.sum())} interpolated, "
        f"{int(masks.missing.sum())} missing)",
        f"  planted       left {100 * share[0]:.1f} %, right {100 * share[1]:.1f} % of valid frames",
        f"  foot sliding  {fs_before:.1f} mm before locking, "
        + (f"{fs_after:.1f} mm after" if fs_after is not None else "locking off"),
        f"  person        track {result.track_id} of {len(result.tracks)}"
        + (" (--list-tracks shows everyone, with the ids --track-id takes)" if len(result.tracks) > 1 else ""),
        keypoint_line(result),
        estimator_line(result),
        f"  time          {stages}; total {total_s:.2f} s ({t / max(total_s, 1e-9):.1f} frames/s)",
    ]
    if not result.planted().any() or not np.isfinite(fs_before):
        lines[4] = "  foot sliding  n/a (no planted frames)"
    lines += [f"  warning       {w}" for w in result.warnings]
    return lines
