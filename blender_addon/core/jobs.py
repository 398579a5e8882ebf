"""Long engine work on a background thread, polled by a modal operator's timer (bpy stays on the main thread).

The worker never touches bpy: it only calls the engine and stores the result. Cancelling sets an
Event that the engine checks between frames; the operator then drops the job without writing anything.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

# Share of the progress bar each capture stage fills (scan decodes and detects, infer runs the network).
STAGE_SPANS: dict[str, tuple[float, float]] = {"scan": (0.0, 0.3), "infer": (0.3, 0.95)}


@dataclass
class JobState:
    """What the UI shows: fraction in [0, 1] and a status line."""

    fraction: float = 0.0
    message: str = "Starting"


class BackgroundJob:
    """Runs `work(progress, cancel)` on a daemon thread.

    `progress(stage, done, total)` may be called from the worker at any rate; `state` is read by the UI.
    After `done`, exactly one of `result` and `error` is set (error: the exception the work raised).
    """

    def __init__(self, work: Callable[[Callable[[str, int, int], None], threading.Event], object]):
        self._work = work
        self.cancel_event = threading.Event()
        self.state = JobState()
        self.result = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="planted-job", daemon=True)

    def start(self) -> BackgroundJob:
        self._thread.start()
        return self

    def cancel(self) -> None:
        self.cancel_event.set()

    @property
    def done(self) -> bool:
        return not self._thread.is_alive() and (self.result is not None or self.error is not None)

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the worker; True when it has ended."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _progress(self, stage: str, done: int, total: int) -> None:
        low, high = STAGE_SPANS.get(stage, (0.95, 1.0))
        share = done / total if total > 0 else 0.0
        self.state = JobState(low + (high - low) * min(max(share, 0.0), 1.0), _status(stage, done, total))

    def _run(self) -> None:
        try:
            self.result = self._work(self._progress, self.cancel_event)
        except BaseException as err:  # handed to the main thread, which reports or re-raises it
            self.error = err


def _status(stage: str, done: int, total: int) -> str:
    names = {"scan": "Finding the person", "infer": "Estimating the pose"}
    label = names.get(stage, stage.replace("_", " ").capitalize())
    return f"{label}: frame {done} of {total}" if total > 0 else f"{label}: frame {done}"
