"""Tripwire for PySide6 releases that lose references to True/None in hot calls (6.12.0 on Python 3.11).

6.12.0 on CPython 3.11 drops a reference to ``True``/``None`` on every ``Signal.emit``,
``setObjectName``, ``beginResetModel``… and aborts with ``Fatal Python error: bool_dealloc`` (or
``none_dealloc``) after a few hundred to a few thousand calls; pyproject pins 6.11.3. Each call
runs 20,000+ times in a child interpreter, so that a regression fails one test, naming the call,
instead of killing the whole test run. The child also compares the reference counts of ``True``,
``False`` and ``None`` before and after: on 3.11 a leak shows there long before the abort (on
3.12+ these objects are immortal and their counts do not move at all).
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

COUNT = 20_000

_CHILD = r"""
import gc, sys
from PySide6.QtCore import (QAbstractTableModel, QCoreApplication, QModelIndex, QObject, QThread, Qt,
                            Signal)

scenario, count = sys.argv[1], int(sys.argv[2])


class Emitter(QObject):
    flag = Signal(bool)
    value = Signal(object)
    pair = Signal(object, str)
    bare = Signal()


class Table(QAbstractTableModel):
    # Answers like the workstation's models: values for DisplayRole, bools for a check role, None otherwise.
    def __init__(self, rows=200, cols=12):
        super().__init__()
        self.rows, self.cols, self.calls = rows, cols, 0

    def rowCount(self, parent=QModelIndex()):
        return 0 if parent.isValid() else self.rows

    def columnCount(self, parent=QModelIndex()):
        return 0 if parent.isValid() else self.cols

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        self.calls += 1
        if not index.isValid():
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return f"{index.row()}:{index.column()}"
        if role == Qt.ItemDataRole.UserRole:
            return index.row() % 2 == 0
        return None

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        return str(section) if role == Qt.ItemDataRole.DisplayRole else None


def refcounts():
    gc.collect()
    return [sys.getrefcount(o) for o in (True, False, None)]


def run(app):
    n = 0
    if scenario == "emit-bool":
        e = Emitter(); got = [0]
        e.flag.connect(lambda b: got.__setitem__(0, got[0] + 1))
        for i in range(count):
            e.flag.emit(i % 2 == 0)
        n = got[0]
    elif scenario == "emit-none":
        e = Emitter(); got = [0]
        e.value.connect(lambda v: got.__setitem__(0, got[0] + 1))
        e.bare.connect(lambda: None)
        for i in range(count):
            e.value.emit(None)
            e.bare.emit()
        n = got[0]
    elif scenario == "emit-objects":
        e = Emitter(); got = [0]
        e.value.connect(lambda v: got.__setitem__(0, got[0] + 1))
        e.pair.connect(lambda v, s: None)
        payloads = (1, "text", (1, None), {"k": True}, [False], 2.5, ValueError("x"))
        for i in range(count):
            e.value.emit(payloads[i % len(payloads)])
            e.pair.emit(payloads[i % len(payloads)], "s")
        n = got[0]
    elif scenario == "emit-queued":
        # Across threads, as ui.tasks delivers results: queued connections with True/False and None.
        class Worker(QThread):
            flag = Signal(bool)
            value = Signal(object)
            def run(self):
                for i in range(count):
                    self.flag.emit(i % 2 == 0)
                    self.value.emit(None)
        got = [0, 0]
        w = Worker()
        w.flag.connect(lambda b: got.__setitem__(0, got[0] + 1))
        w.value.connect(lambda v: got.__setitem__(1, got[1] + 1))
        w.finished.connect(app.quit)
        w.start(); app.exec(); w.wait(); app.processEvents()
        assert got[1] == count, got
        n = got[0]
    elif scenario == "set-object-name":
        o = QObject()
        for i in range(count):
            o.setObjectName(f"name-{i % 10}")
            n += o.objectName().startswith("name-")
    elif scenario == "reset-model":
        m = Table(); seen = [0]
        m.modelReset.connect(lambda: seen.__setitem__(0, seen[0] + 1))
        for i in range(count):
            m.beginResetModel()
            m.endResetModel()
        n = seen[0]
    elif scenario == "data-changed":
        m = Table(); seen = [0]
        m.dataChanged.connect(lambda a, b, roles: seen.__setitem__(0, seen[0] + 1))
        for i in range(count):
            row = i % m.rows
            m.dataChanged.emit(m.index(row, 0), m.index(row, m.cols - 1), [Qt.ItemDataRole.DisplayRole])
        n = seen[0]
    elif scenario == "layout-changed":
        m = Table(); seen = [0]
        m.layoutChanged.connect(lambda *a: seen.__setitem__(0, seen[0] + 1))
        for i in range(count):
            m.layoutAboutToBeChanged.emit()
            m.layoutChanged.emit()
        n = seen[0]
    elif scenario == "table-view-data":
        from PySide6.QtWidgets import QTableView
        m = Table(rows=100_000)
        view = QTableView()
        view.setModel(m)
        view.resize(1366, 768)
        view.show()
        app.processEvents()
        row, target = 0, 5 * count  # data() is the hottest call of all: five times as many
        for _ in range(2000):  # bounded: a view that stopped asking would otherwise loop for ever
            if m.calls >= target:
                break
            view.scrollTo(m.index(row, 0), QTableView.ScrollHint.PositionAtTop)
            view.viewport().repaint()  # as a pharmacist scrolling the queue
            app.processEvents()
            row = (row + 37) % m.rows
        view.close()
        n = count if m.calls >= target else m.calls // 5
    elif scenario == "self-check-leak":
        # What the refcount check must catch: one reference to True mishandled per emit (an extra one
        # here, so that the child does not abort when a lost one would take the count to zero).
        import ctypes
        e = Emitter(); got = [0]
        e.flag.connect(lambda b: got.__setitem__(0, got[0] + 1))
        for i in range(count):
            e.flag.emit(True)
            ctypes.pythonapi.Py_IncRef(ctypes.py_object(True))
        n = got[0]
    else:
        raise SystemExit(f"unknown scenario {scenario}")
    return n


if scenario == "table-view-data":
    from PySide6.QtWidgets import QApplication
    app = QApplication([])
else:
    app = QCoreApplication([])
before = refcounts()
n = run(app)
after = refcounts()
print(n, *(b - a for a, b in zip(before, after)))
"""

SCENARIOS = ["emit-bool", "emit-none", "emit-objects", "emit-queued", "set-object-name", "reset-model",
             "data-changed", "layout-changed", "table-view-data"]


def _run(scenario: str) -> tuple[int, dict[str, int]]:
    proc = subprocess.run([sys.executable, "-c", _CHILD, scenario, str(COUNT)], capture_output=True,
                          text=True, timeout=300, env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    died = f"{scenario}: the interpreter died ({proc.returncode}): {proc.stderr[-2000:]}"
    assert proc.returncode == 0, died
    count, *deltas = (int(x) for x in proc.stdout.split())
    return count, dict(zip(("True", "False", "None"), deltas))


def _leaks(deltas: dict[str, int]) -> list[str]:
    # A reference lost (or kept) per call moves a count by ~COUNT; ordinary allocation noise is a few hundred.
    return [f"sys.getrefcount({name}) moved by {delta}"
            for name, delta in deltas.items() if abs(delta) >= COUNT // 10]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_twenty_thousand_calls_keep_true_and_none_alive(scenario: str) -> None:
    count, deltas = _run(scenario)
    assert count == COUNT, f"{scenario}: {count} of {COUNT} calls arrived"
    assert not _leaks(deltas), f"{scenario} over {COUNT} calls: {_leaks(deltas)}"


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="True/None are immortal from 3.12: counts never move")
def test_the_refcount_check_sees_one_reference_per_call() -> None:
    count, deltas = _run("self-check-leak")
    assert count == COUNT
    assert len(_leaks(deltas)) == 1 and abs(deltas["True"] - COUNT) < 100, deltas
