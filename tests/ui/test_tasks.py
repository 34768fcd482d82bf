"""The background-task helper: results and failures come back on the GUI thread (signals: signal_stress)."""

from __future__ import annotations

import threading

from PySide6.QtCore import QThread

from ui.tasks import TaskRunner


def test_result_is_delivered_on_the_gui_thread(qtbot):
    runner = TaskRunner()
    worker_threads: list[threading.Thread] = []
    delivered: list[tuple[int, QThread]] = []

    def work() -> int:
        worker_threads.append(threading.current_thread())
        return 42

    runner.submit(work, on_done=lambda r: delivered.append((r, QThread.currentThread())))
    qtbot.waitUntil(lambda: bool(delivered), timeout=5000)
    assert delivered[0][0] == 42
    assert delivered[0][1] is runner.thread()
    assert worker_threads[0] is not threading.main_thread()
    runner.wait()


def test_failure_is_delivered_with_traceback(qtbot):
    runner = TaskRunner()
    errors: list[tuple[BaseException, str]] = []

    def boom() -> None:
        raise ValueError("bad <drug> name")

    runner.submit(boom, on_error=lambda e, tb: errors.append((e, tb)))
    qtbot.waitUntil(lambda: bool(errors), timeout=5000)
    assert isinstance(errors[0][0], ValueError)
    assert "bad <drug> name" in errors[0][1]
    runner.wait()


def test_db_pool_runs_tasks_in_order(qtbot):
    runner = TaskRunner()
    order: list[int] = []
    delivered: list[int] = []
    for i in range(50):
        runner.submit(lambda i=i: order.append(i) or i, on_done=delivered.append)
    qtbot.waitUntil(lambda: len(delivered) == 50, timeout=10000)
    assert order == list(range(50)) and delivered == list(range(50))
    assert runner.pending() == 0
    runner.wait()

