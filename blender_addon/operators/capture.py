"""Capture: video -> a body with planted feet, computed on a background thread while Blender stays live.

invoke (the panel's button) runs modally: a timer polls the job, Blender's progress bar and the status
line show how far it is, Esc cancels and the scene is left exactly as it was (nothing is written until
the capture has finished). execute (scripts, background mode) runs the same work synchronously.
"""

from __future__ import annotations

from pathlib import Path

import bpy

from engine.errors import PlantedError

from ..core import body, jobs, markers
from ..core import retarget as retarget_core
from .common import ensure_object_mode, report_error, run_reported

_POLL_SECONDS = 0.1
# Files Blender's movie clip reader also opens as one frame; a capture needs motion.
STILL_IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".exr", ".tga", ".hdr"})


def capture_inputs(settings) -> tuple[Path, object]:
    """The video path and the engine's CaptureSettings from the panel; PlantedError on bad input."""
    from engine.capture.pipeline import CaptureSettings

    if not settings.video_path:
        raise PlantedError("Choose a video file to capture (Planted panel > Capture > Video).")
    video = Path(bpy.path.abspath(settings.video_path))
    if not video.is_file():
        raise PlantedError(f"Video not found: {video}. Choose an existing video file.")
    if video.suffix.lower() in STILL_IMAGE_SUFFIXES:
        raise PlantedError(f"{video.name} is a still image, not a video: choose a video file in Planted panel > "
                           "Capture > Video (a capture needs the motion of several frames).")
    model_path = None
    if settings.model_source == "FILE" and settings.estimator == "fit":
        raise PlantedError("Model File is a network, but Estimator Fit runs none: set Estimator to Network or "
                           "Network + fit, or Model to Default.")
    if settings.model_source == "FILE":
        if not settings.model_path:
            raise PlantedError("Choose the ONNX model file, or set Model to Default.")
        model_path = Path(bpy.path.abspath(settings.model_path))
        if not model_path.is_file():
            raise PlantedError(f"Model file not found: {model_path}. Choose an existing .onnx file.")
        model_path = str(model_path)
    start, end = 0, None
    if settings.use_frame_range:
        start = settings.video_frame_start
        if settings.video_frame_end:
            if settings.video_frame_end < start:
                raise PlantedError(f"The last frame ({settings.video_frame_end}) is before the first ({start}).")
            end = settings.video_frame_end + 1
    # Feet are locked in build_capture, with the panel's contact sensitivity.
    return video, CaptureSettings(
        start=start, end=end, model_path=model_path, device=settings.device, smoothing=settings.smoothing,
        keypoints=settings.keypoints, estimator=settings.estimator, foot_lock=False,
    )


def run_capture(video: Path, capture_settings, progress=None, cancel=None):
    """The engine's capture (any thread)."""
    from engine.capture.pipeline import capture

    return capture(video, capture_settings, progress=progress, cancel=cancel)


def build_capture(context: bpy.types.Context, video: Path, result, settings) -> str:
    """Write a finished capture into the scene (main thread). Returns the report line."""
    from engine.body.active import load_active_body_model
    from engine.retarget.footlock import lock_feet

    if result.num_frames < 2:
        raise PlantedError(f"{video.name} gave {result.num_frames} frame: choose a video in Planted panel > Capture > "
                           "Video (or widen Frame range) so there is motion to capture.")
    shape = None
    if settings.build_mesh:
        model = load_active_body_model(result.settings.body_model_path)
        shape = body.BodyShape(model, result.reconstruction.betas)
    motion, report = lock_feet(
        result.motion, result.motion.contacts,
        retarget_core.lock_settings(settings.contact_sensitivity, settings.flat_feet, settings.blend_seconds),
    )
    if not settings.foot_lock:
        motion = result.motion
    made = body.create_body(
        context, motion, video.stem, shape=shape, intervals=markers.planted_intervals(report.planted),
        match_scene=settings.timing == "MATCH",
    )
    if settings.video_background:
        _video_background(context, video)
    note = f" ({'; '.join(result.warnings)})" if result.warnings else ""
    return (f"Captured {video.name} into '{made.armature}': {made.timing_note(result.num_frames, motion.fps)} "
            f"(estimator: {result.settings.estimator}){note}")


def _video_background(context: bpy.types.Context, video: Path) -> None:
    scene = context.scene
    camera = scene.camera
    if camera is None:
        camera = bpy.data.objects.new(f"{video.stem} camera", bpy.data.cameras.new(f"{video.stem} camera"))
        camera.location = (0.0, -6.0, 1.0)
        camera.rotation_euler = (1.5708, 0.0, 0.0)
        scene.collection.objects.link(camera)
        scene.camera = camera
    clip = bpy.data.movieclips.load(str(video), check_existing=True)
    camera.data.show_background_images = True
    background = camera.data.background_images.new()
    background.source = "MOVIE_CLIP"
    background.clip = clip


class PLANTED_OT_capture(bpy.types.Operator):
    """Capture the person in the video as a body with planted feet (Esc cancels)"""

    bl_idname = "planted.capture"
    bl_label = "Capture Video"
    bl_options = {"REGISTER", "UNDO"}

    _job: jobs.BackgroundJob | None = None
    _timer = None
    _video: Path | None = None

    def execute(self, context):
        ensure_object_mode(context)
        settings = context.scene.planted

        def work():
            video, capture_settings = capture_inputs(settings)
            return build_capture(context, video, run_capture(video, capture_settings), settings)

        return run_reported(self, work)

    def invoke(self, context, event):
        if context.window is None:
            return self.execute(context)
        try:
            self._video, capture_settings = capture_inputs(context.scene.planted)
        except PlantedError as err:
            return report_error(self, err)
        video = self._video
        self._job = jobs.BackgroundJob(
            lambda progress, cancel: run_capture(video, capture_settings, progress, cancel)
        ).start()
        wm = context.window_manager
        self._timer = wm.event_timer_add(_POLL_SECONDS, window=context.window)
        wm.modal_handler_add(self)
        wm.progress_begin(0, 100)
        context.workspace.status_text_set(f"Planted: capturing {video.name} (Esc to cancel)")
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        if event.type == "ESC":
            self._job.cancel()
            self._stop(context)
            self.report({"INFO"}, "Capture cancelled; nothing was changed")
            return {"CANCELLED"}
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        state = self._job.state
        context.window_manager.progress_update(int(100 * state.fraction))
        context.workspace.status_text_set(f"Planted: {state.message} (Esc to cancel)")
        if not self._job.done:
            return {"PASS_THROUGH"}
        self._stop(context)
        if self._job.error is not None:
            if isinstance(self._job.error, PlantedError):
                return report_error(self, self._job.error)
            raise self._job.error
        ensure_object_mode(context)
        result = self._job.result
        return run_reported(self, lambda: build_capture(context, self._video, result, context.scene.planted))

    def cancel(self, context):
        if self._job is not None:
            self._job.cancel()
        self._stop(context)

    def _stop(self, context) -> None:
        wm = context.window_manager
        if self._timer is not None:
            wm.event_timer_remove(self._timer)
            self._timer = None
        wm.progress_end()
        context.workspace.status_text_set(None)


classes = (PLANTED_OT_capture,)
register, unregister = bpy.utils.register_classes_factory(classes)
