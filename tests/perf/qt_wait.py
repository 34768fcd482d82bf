"""Waiting in the window's benchmarks as the running application does: asleep in the event loop.

A loop that spins ``processEvents()`` holds the interpreter lock almost without pause, and the task
runner's database thread then waits up to a switch interval (5 ms) for it after every SQLite call: the
benchmark would time that convoy, not the workstation. Blocking in ``WaitForMoreEvents`` releases the
lock until an event (a task's result, a timer, a paint) arrives, exactly as ``QApplication.exec()`` does.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def wait_for(app: Any, condition: Callable[[], object], timeout: float = 60.0, what: str = "the window") -> None:
    from PySide6.QtCore import QEventLoop, QTimer

    end = time.monotonic() + timeout
    wake = QTimer()  # wakes the loop now and then, so the timeout is seen even when nothing happens
    wake.start(5)
    try:
        while not condition():
            if time.monotonic() > end:
                raise TimeoutError(f"{what} did not get there in {timeout:.0f} s")
            app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents | QEventLoop.ProcessEventsFlag.WaitForMoreEvents)
    finally:
        wake.stop()
