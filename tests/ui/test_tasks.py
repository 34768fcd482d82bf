"""The background-task helper: results and failures come back on the GUI thread, and signals stay safe."""

from __future__ import annotations

import os
import subprocess
import sys
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


_STRESS = r"""
import sys
from PySide6.QtCore import QCoreApplication, QObject, QThread, Signal

class Emitter(QObject):
    value = Signal(object)
    flag = Signal(bool)

app = QCoreApplication([])
count = int(sys.argv[1])
e = Emitter()
got = {"value": 0, "flag": 0}
e.value.connect(lambda v: got.__setitem__("value", got["value"] + 1))
e.flag.connect(lambda b: got.__setitem__("flag", got["flag"] + 1))
for i in range(count):
    e.value.emit(i)
    e.flag.emit(i % 2 == 0)

# The same through queued (cross-thread) connections, as ui.tasks delivers results.
class Worker(QThread):
    flag = Signal(bool)
    def run(self):
        for i in range(count):
            self.flag.emit(i % 2 == 0)

queued = {"n": 0}
w = Worker()
w.flag.connect(lambda b: queued.__setitem__("n", queued["n"] + 1))
w.finished.connect(app.quit)
w.start()
app.exec()
w.wait()
app.processEvents()
print(got["value"], got["flag"], queued["n"])
"""


def test_twenty_thousand_signal_emits_do_not_crash_the_interpreter():
    """PySide6 6.12.0 on Python 3.11 aborts with `Fatal Python error: bool_dealloc` after a few
    thousand emits; pyproject pins below it. This tripwire runs in a child interpreter so that a
    regression fails this test instead of killing the whole test run."""
    count = 20_000
    proc = subprocess.run([sys.executable, "-c", _STRESS, str(count)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert proc.returncode == 0, f"interpreter died ({proc.returncode}): {proc.stderr[-2000:]}"
    assert proc.stdout.split() == [str(count)] * 3
