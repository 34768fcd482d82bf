"""Run work off the GUI thread and deliver its result or failure back on the GUI thread by signal.

Database work goes through one serial worker (one session per thread, in order); HTTP and PDF
rendering use a small pool. Worker code never touches widgets: it returns a value, and the
``finished``/``failed`` signals carry it back, queued onto the thread that owns the task.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal


class Task(QObject):
    """One unit of background work; connect to its signals before submitting it."""

    finished = Signal(object)  # the function's return value
    failed = Signal(object, str)  # the exception and its formatted traceback

    def __init__(self, fn: Callable[[], Any], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._fn = fn

    def run(self) -> None:
        try:
            result = self._fn()
        except Exception as exc:  # delivered to the GUI, which shows it: never swallowed
            self.failed.emit(exc, traceback.format_exc())
        else:
            self.finished.emit(result)


class _Runnable(QRunnable):
    def __init__(self, task: Task) -> None:
        super().__init__()
        self._task = task
        self.setAutoDelete(True)

    def run(self) -> None:
        self._task.run()


class TaskRunner(QObject):
    """Owns the two pools: ``db`` (one thread, serial) and ``io`` (a few threads)."""

    def __init__(self, parent: QObject | None = None, *, io_threads: int = 4) -> None:
        super().__init__(parent)
        self._db = QThreadPool(self)
        self._db.setMaxThreadCount(1)
        self._io = QThreadPool(self)
        self._io.setMaxThreadCount(io_threads)
        self._live: set[Task] = set()

    def submit(
        self,
        fn: Callable[[], Any],
        *,
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[BaseException, str], None] | None = None,
        pool: str = "db",
    ) -> Task:
        """Run ``fn`` on the ``db`` or ``io`` pool; the callbacks run on this object's thread."""
        task = Task(fn)
        task.moveToThread(self.thread())
        if on_done is not None:
            task.finished.connect(on_done)
        if on_error is not None:
            task.failed.connect(on_error)
        # Keep the Python wrapper alive until the result has been delivered.
        self._live.add(task)
        task.finished.connect(lambda _r, t=task: self._live.discard(t))
        task.failed.connect(lambda _e, _tb, t=task: self._live.discard(t))
        {"db": self._db, "io": self._io}[pool].start(_Runnable(task))
        return task

    def wait(self, msecs: int = -1) -> bool:
        """Block until both pools are idle (shutdown and tests)."""
        return self._db.waitForDone(msecs) and self._io.waitForDone(msecs)

    def pending(self) -> int:
        return len(self._live)
