"""Run a progress-yielding generator in a napari worker, with a progress bar and Cancel.

Core functions yield (done, total) and finally return their result; this glue
keeps the viewer responsive and lets the user stop between frames.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

from magicgui.widgets import Container, Label, ProgressBar, PushButton


class WorkerControls(Container):
    """Run / Cancel buttons, a progress bar and a status line."""

    def __init__(self, run_text: str = "Run") -> None:
        super().__init__()
        self.run_button = PushButton(text=run_text)
        self.cancel_button = PushButton(text="Cancel", enabled=False)
        self.progress = ProgressBar(value=0, min=0, max=1)
        self.status = Label(value="")
        self.extend([self.run_button, self.cancel_button, self.progress, self.status])
        self.worker = None
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

        self.worker = create_worker(job, *args, _start_thread=False)
        self.worker.yielded.connect(self._on_progress)
        self.worker.returned.connect(lambda result: self._finish(on_done(result) or "done"))
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

    def _on_error(self, err: Exception) -> None:
        from napari.utils.notifications import show_error

        self._finish(f"error: {err}")
        show_error(str(err))

    def _finish(self, message: str) -> None:
        self.run_button.enabled = True
        self.cancel_button.enabled = False
        self.status.value = message
        self.worker = None
