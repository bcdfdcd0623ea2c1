"""Run a progress-yielding generator in a napari worker, with a progress bar and Cancel.

Core functions yield (done, total) and finally return their result; this glue
keeps the viewer responsive and lets the user stop between frames. An input error
(`TemsegError`) ends the run with one notification and the status line saying it, and
no traceback; anything else is a bug and goes to napari's error handling.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

from magicgui.widgets import Container, Label, ProgressBar, PushButton

from ..errors import TemsegError


@dataclass(frozen=True)
class Failed:
    """What a job returns instead of raising, when the user's input was the problem."""

    message: str


def _guarded(job: Callable[..., Generator], *args) -> Generator:
    """`job(*args)`, with a TemsegError turned into a `Failed` result."""
    try:
        return (yield from job(*args))
    except TemsegError as err:
        return Failed(str(err))


class WorkerControls(Container):
    """Run / Cancel buttons, a progress bar and a status line (wrapped: long messages do not
    widen the dock). `when_idle` callbacks run each time a job ends, however it ends."""

    def __init__(self, run_text: str = "Run") -> None:
        super().__init__()
        self.run_button = PushButton(text=run_text)
        self.cancel_button = PushButton(text="Cancel", enabled=False)
        self.progress = ProgressBar(value=0, min=0, max=1)
        self.status = Label(value="")
        self.status.native.setWordWrap(True)
        self.extend([self.run_button, self.cancel_button, self.progress, self.status])
        self.worker = None
        self.when_idle: list[Callable[[], None]] = []
        self.cancel_button.clicked.connect(self.cancel)

    def start(
        self,
        job: Callable[..., Generator[tuple[int, int], None, Any]],
        args: tuple,
        on_done: Callable[[Any], str | None],
    ):
        """Run generator function `job(*args)` in a thread; `on_done(result)` runs in the
        GUI thread with what it returns, and what it returns (if anything) becomes the
        status line. Returns the worker."""
        from napari.qt.threading import create_worker

        self.worker = create_worker(_guarded, job, *args, _start_thread=False)
        self.worker.yielded.connect(self._on_progress)
        self.worker.returned.connect(lambda result: self._returned(result, on_done))
        self.worker.errored.connect(self._on_error)
        self.worker.aborted.connect(lambda: self._finish("cancelled"))
        self.run_button.enabled = False
        self.cancel_button.enabled = True
        self.progress.value = 0
        self.status.value = "running..."
        self.worker.start()
        return self.worker

    def cancel(self) -> None:
        if self.worker is not None:
            self.worker.quit()

    def _on_progress(self, step: tuple[int, int]) -> None:
        done, total = step
        self.progress.max = max(total, 1)
        self.progress.value = done
        self.status.value = f"{done}/{total}"

    def _returned(self, result: Any, on_done: Callable[[Any], str | None]) -> None:
        if isinstance(result, Failed):
            self.fail(result.message)
        else:
            self._finish(on_done(result) or "done")

    def fail(self, message: str) -> None:
        """One notification and the status line for an input error; the controls ready again."""
        from napari.utils.notifications import show_error

        show_error(message)
        self._finish(f"error: {message}")

    def _on_error(self, err: Exception) -> None:
        self._finish(f"failed: {type(err).__name__}: {err}")  # napari reports the bug itself

    def _finish(self, message: str) -> None:
        self.run_button.enabled = True
        self.cancel_button.enabled = False
        self.status.value = message
        self.worker = None
        for callback in list(self.when_idle):
            callback()
