"""Progress and cancellation inside long single-image work, without Qt.

A front end installs a callback for the current thread (`watching`); the models call
`step(done, total)` between chunks of their work (decoder batches, tiles); the callback
may report progress and may raise `Cancelled` to stop the run there. Without a callback
`step` does nothing, so the core runs the same from the CLI.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from typing import TypeVar

_local = threading.local()
Result = TypeVar("Result")


class Cancelled(Exception):
    """The user stopped the run."""


@contextmanager
def watching(callback: Callable[[int, int], None]) -> Iterator[None]:
    """Call `callback(done, total)` at every `step` of work done in this thread."""
    previous = getattr(_local, "callback", None)
    _local.callback = callback
    try:
        yield
    finally:
        _local.callback = previous


def step(done: int, total: int) -> None:
    """Report that `done` of `total` chunks of the current work are finished (may raise Cancelled)."""
    callback = getattr(_local, "callback", None)
    if callback is not None:
        callback(done, total)


def run_steps(steps: Generator[tuple[int, int], None, Result],
              progress: Callable[[int, int], None] | None = None) -> Result:
    """Run a job written as a generator of (done, total) steps to its end and return what it
    returns, calling `progress(done, total)` at each step (front ends that show progress run
    the same generators in a worker instead)."""
    while True:
        try:
            done, total = next(steps)
        except StopIteration as finished:
            return finished.value
        if progress:
            progress(done, total)
