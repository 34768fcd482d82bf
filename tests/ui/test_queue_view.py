"""The queue table: lazy rows (Anki's pattern), the default order, filters, search, keyboard, notifications."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QSettings, Qt

from tests.support import PKI, SHARED, earlier_today, signed_prescription
from workstation.bootstrap import Workstation, open_workstation
from workstation.domain.accounts import Principal
from workstation.services import formulary, queue
from workstation.settings import load_settings

from ui.context import AppContext
from ui.queue_model import QueueModel
from ui.queue_view import QueueView
from ui.tasks import TaskRunner

pytestmark = [pytest.mark.qt_log_level_fail("WARNING"),
              pytest.mark.qt_log_ignore(r"This plugin does not support propagateSizeHints\(\)")]

WAITING = 150


@pytest.fixture(scope="module")
def stocked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Workstation, list[str]]]:
    """One SQLite workstation with 150 clean prescriptions, a narcotic and a child without guardian, summarised."""
    tmp = tmp_path_factory.mktemp("queue")
    env = {"RXWS_CONFIG_DIR": str(tmp / "config"), "RXWS_DATA_DIR": str(tmp / "data"), "RXWS_TRUST": str(PKI / "ca.pem")}
    ws = open_workstation(load_settings(env))
    formulary.import_formulary(ws.uow(), (SHARED / "examples" / "formulary.csv").read_bytes(), "formulary.csv",
                               actor="test")
    now = datetime.now(UTC)
    reports = ws.intake.ingest_many(
        (signed_prescription(f"RXQV{i:04d}", earlier_today(timedelta(minutes=WAITING - i), now)), f"t:{i}") for i in range(WAITING))
    assert all(r.outcome == "stored" for r in reports)
    special = []
    for name in ("ex-narcotic.json", "ex-child-no-guardian.json"):
        report = ws.intake.ingest((SHARED / "examples" / name).read_bytes(), f"t:{name}")
        special.append(report.prescriptions[0].number)
    queue.refresh_summaries(ws.uow, ws.reviewer(), now)
    try:
        yield ws, special
    finally:
        ws.close()


@pytest.fixture
def view(qtbot: Any, stocked: tuple[Workstation, list[str]], tmp_path: Path) -> QueueView:
    QSettings.setPath(QSettings.Format.NativeFormat, QSettings.Scope.UserScope, str(tmp_path / "qsettings"))
    ws, _ = stocked
    ctx = AppContext(ws, TaskRunner())
    ctx.principal = Principal(name="测试", licence="T-1", roles=frozenset(), pharmacist_id=None)
    widget = QueueView(ctx)
    qtbot.addWidget(widget, before_close_func=lambda _w: ctx.tasks.wait(10_000))
    widget.resize(1300, 400)
    widget.show()
    qtbot.waitUntil(widget.loaded, timeout=20_000)
    return widget


def numbers(view: QueueView) -> list[str]:
    return [e.number if (e := view.model.entry(r)) else "?" for r in range(view.model.rowCount())]


def test_the_model_passes_qtmodeltester(qtmodeltester: Any, view: QueueView, qtbot: Any) -> None:
    qtmodeltester.check(view.model)
    qtbot.waitUntil(view.loaded, timeout=20_000)
    qtmodeltester.check(view.model)


def test_blocked_first_then_longest_waiting_with_text_not_colour_alone(view: QueueView,
                                                                      stocked: tuple[Workstation, list[str]]) -> None:
    _, special = stocked
    model = view.model
    assert model.rowCount() == WAITING + 2
    first_two = {model.entry(0).number, model.entry(1).number}  # type: ignore[union-attr]
    assert first_two == set(special)
    assert model.entry(2).number == "RXQV0000"  # type: ignore[union-attr]  # the longest waiting clean one
    risk = model.index(0, 0)
    assert model.data(risk) in ("Blocked", "拦截")
    assert model.data(risk, Qt.ItemDataRole.DecorationRole) is not None
    assert "*" in str(model.data(model.index(2, 4)))
    assert "麻" in str(model.data(model.index(0 if model.entry(0).number == special[0] else 1, 8)))  # type: ignore[union-attr]
    assert view.count_label.text().startswith(f"{WAITING + 2}")


def test_rows_are_read_only_for_what_is_painted(view: QueueView) -> None:
    fetched = len(view.model._rows)
    assert 0 < fetched < view.model.rowCount(), "rows are fetched a page at a time, not all at once"


def test_scrolling_fetches_the_rows_that_come_into_view(qtbot: Any, view: QueueView) -> None:
    last = view.model.rowCount() - 1
    assert view.model.entry(last) is None
    view.table.scrollToBottom()
    qtbot.waitUntil(lambda: view.model.entry(last) is not None, timeout=10_000)
    assert view.model.entry(last).number == f"RXQV{WAITING - 1:04d}"  # type: ignore[union-attr]


def test_filters_and_debounced_search(qtbot: Any, view: QueueView, stocked: tuple[Workstation, list[str]]) -> None:
    _, (narcotic, child) = stocked
    view.under_six_check.setChecked(True)
    qtbot.waitUntil(lambda: view.loaded() and numbers(view) == [child], timeout=10_000)
    view.under_six_check.setChecked(False)
    view.special_check.setChecked(True)
    qtbot.waitUntil(lambda: view.loaded() and numbers(view) == [narcotic], timeout=10_000)
    view.special_check.setChecked(False)
    view.risk_combo.setCurrentIndex(view.risk_combo.findData("clean"))
    qtbot.waitUntil(lambda: view.loaded() and view.model.rowCount() == WAITING, timeout=10_000)
    view.risk_combo.setCurrentIndex(0)
    view.focus_search()
    qtbot.keyClicks(view.search_edit, "RXQV0042")
    qtbot.waitUntil(lambda: view.loaded() and numbers(view) == ["RXQV0042"], timeout=10_000)
    view.mine_check.setChecked(True)
    qtbot.waitUntil(lambda: view.loaded() and view.model.rowCount() == 0, timeout=10_000)
    assert view.count_label.text().startswith("0")


def test_return_and_double_click_open_the_selected_prescription(qtbot: Any, view: QueueView) -> None:
    view.table.setFocus()
    assert view.select_prescription(view.model.id_at(3))  # type: ignore[arg-type]
    with qtbot.waitSignal(view.prescriptionActivated, timeout=5_000) as blocker:
        qtbot.keyClick(view.table, Qt.Key.Key_Return)
    assert blocker.args == [view.model.id_at(3), view.model.entry(3).number]  # type: ignore[union-attr]
    assert view.selected() == (view.model.id_at(3), view.model.entry(3).number)  # type: ignore[union-attr]


def test_selection_stays_on_the_same_prescription_across_a_refresh(qtbot: Any, view: QueueView) -> None:
    pid = view.model.id_at(5)
    assert pid is not None and view.select_prescription(pid)
    view.refresh()
    qtbot.waitUntil(view.loaded, timeout=10_000)
    assert view.selected() is not None and view.selected()[0] == pid  # type: ignore[index]


def test_high_risk_arrivals_notify_after_the_start(qtbot: Any, view: QueueView) -> None:
    seen: list[list[str]] = []
    view.highRiskArrived.connect(seen.append)
    view.summaries_refreshed(["RX-OLD"])  # what was waiting at start: no notification
    view.summaries_refreshed([])
    view.summaries_refreshed(["RX-NEW"])
    assert seen == [["RX-NEW"]]


def test_an_empty_model_passes_qtmodeltester(qtmodeltester: Any, stocked: tuple[Workstation, list[str]]) -> None:
    ws, _ = stocked
    model = QueueModel(AppContext(ws, TaskRunner()))
    qtmodeltester.check(model)
    model.set_ids([1, 2, 3])
    qtmodeltester.check(model)


def test_a_first_page_is_completed_without_a_reset(qtbot: Any, qtmodeltester: Any,
                                                   stocked: tuple[Workstation, list[str]]) -> None:
    ws, _ = stocked
    model = QueueModel(AppContext(ws, TaskRunner()))
    ids = queue.queue_ids(ws.uow(), queue.QueueFilter(), datetime.now(UTC))
    model.set_ids(ids[:10], total=len(ids))
    assert model.rowCount() == len(ids) and not model.complete_ids()
    assert model.data(model.index(50, 3)) == "…" and model.id_at(50) is None
    qtmodeltester.check(model)
    resets: list[bool] = []
    model.modelReset.connect(lambda: resets.append(True))
    with qtbot.waitSignal(model.dataChanged, timeout=1_000):
        model.complete(ids)
    assert resets == [] and model.complete_ids() and model.id_at(50) == ids[50]
    model.complete(list(reversed(ids)))  # the queue moved meanwhile: a plain reset
    assert model.id_at(0) == ids[-1]
    qtmodeltester.check(model)
