"""Run a progress-yielding generator in a napari worker, with a progress bar and Cancel.

Core functions yield (done, total) and finally return their result; this glue
keeps the viewer responsive and lets the user stop between frames, or inside a single
image at the models' own steps (decoder batches, tiles), which also move the progress bar
when the job is one image. An input error
(`TemsegError`) ends the run with one notification and the status line saying it, and
no traceback; anything else is a bug and goes to napari's error handling.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

from magicgui.widgets import Container, Label, ProgressBar, PushButton
from qtpy.QtCore import QObject, Signal

from ..errors import TemsegError
from ..progress import Cancelled, watching


@dataclass(frozen=True)
class Failed:
    """What a job returns instead of raising, when the user's input was the problem."""

    message: str


#: What a job returns when Cancel stopped it inside a single image's work.
CANCELLED = object()


def _guarded(job: Callable[..., Generator], args: tuple, watch: Callable[[int, int], None]) -> Generator:
    """`job(*args)`, with a TemsegError turned into a `Failed` result, and `watch` called at
    every step of the models' own work (`progress`), where Cancel takes effect."""
    try:
        with watching(watch):
            return (yield from job(*args))
    except TemsegError as err:
        return Failed(str(err))
    except Cancelled:
        return CANCELLED


@contextlib.contextmanager
def _unless_closed():
    """Updates of controls whose window was closed while the job ran (Qt deleted the widgets:
    RuntimeError) are skipped; the job's own result still goes where it goes."""
    try:
        yield
    except RuntimeError as err:
        if "deleted" not in str(err):
            raise


class _Steps(QObject):
    """Carries a model's (done, total) steps from the worker thread to the GUI thread."""

    stepped = Signal(int, int)


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
        self._stop = threading.Event()
        self._frames = 0  # frames of the running job (0 until it reports any)
        self._steps = _Steps()
        self._steps.stepped.connect(self._on_step)
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

        self._stop.clear()
        # errored handled here (napari's worker also reports the bug): without a handler
        # superqt would re-raise it in the GUI thread, which aborts a viewer run from a script
        self.worker = create_worker(_guarded, job, args, self._watch, _start_thread=False,
                                    _connect={"errored": self._on_error})
        self.worker.yielded.connect(self._on_progress)
        self.worker.returned.connect(lambda result: self._returned(result, on_done))
        self.worker.aborted.connect(lambda: self._finish("cancelled"))
        worker = self.worker  # a job stopped inside a model returns after quit(): no signal but finished
        self.worker.finished.connect(lambda: self._finish("cancelled") if self.worker is worker else None)
        self.run_button.enabled = False
        self.cancel_button.enabled = True
        self.progress.value = 0
        self._frames = 0
        self.status.value = "running..."
        self.worker.start()
        return self.worker

    def cancel(self) -> None:
        """Stop the job: between frames (napari's worker) or at the models' next step."""
        if self.worker is not None:
            self._stop.set()
            self.worker.quit()

    def _watch(self, done: int, total: int) -> None:
        """Called in the worker thread at every step of a model's work."""
        if self._stop.is_set():
            raise Cancelled
        self._steps.stepped.emit(done, total)

    def _on_step(self, done: int, total: int) -> None:
        """A model's step: the bar follows it while the job is a single image (a stack's bar
        counts frames)."""
        if self._frames <= 1 and self.worker is not None:
            with _unless_closed():
                self.progress.max = max(total, 1)
                self.progress.value = min(done, total)

    def _on_progress(self, step: tuple[int, int]) -> None:
        done, total = step
        self._frames = total
        with _unless_closed():
            self.progress.max = max(total, 1)
            self.progress.value = done
            self.status.value = f"{done}/{total}"

    def _returned(self, result: Any, on_done: Callable[[Any], str | None]) -> None:
        if result is CANCELLED:
            self._finish("cancelled")
        elif isinstance(result, Failed):
            self.fail(result.message)
        else:
            with _unless_closed():
                self.progress.value = self.progress.max
            try:
                message = on_done(result)  # showing a result can meet bad input too (a damaged review.csv)
            except TemsegError as err:
                self.fail(str(err))
                return
            self._finish(message or "done")

    def fail(self, message: str) -> None:
        """One notification and the status line for an input error; the controls ready again."""
        from napari.utils.notifications import show_error

        show_error(message)
        self._finish(f"error: {message}")

    def _on_error(self, err: Exception) -> None:
        self._finish(f"failed: {type(err).__name__}: {err}")  # napari reports the bug itself

    def _finish(self, message: str) -> None:
        with _unless_closed():
            self.run_button.enabled = True
            self.cancel_button.enabled = False
            self.status.value = message
        self.worker = None
        for callback in list(self.when_idle):
            callback()
