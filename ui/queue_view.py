"""The review queue (待审队列): filters, search, the table, and the count.

The view asks the queue service for the ids of the current filter (off the GUI thread), hands them to
:class:`~ui.queue_model.QueueModel`, and keeps the selection on the same prescription across refreshes.
Return or a double click opens the selected prescription.
"""

from __future__ import annotations

from datetime import datetime, timezone

from PySide6.QtCore import QEvent, QItemSelectionModel, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QStyle,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from workstation.services import queue as queue_service
from workstation.services.queue import QueueEntry, QueueFilter

from ui import messages
from ui.context import AppContext
from ui.queue_model import QueueModel

SEARCH_DEBOUNCE_MS = 250
FIRST_PAGE = 200  # ids fetched before the rest when a filter is first shown
FIRST_ROWS = 60  # rows read with them: more than a maximised window shows

STATUS_CHOICES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("waiting", ("received",)),
    ("decided", ("approved", "rejected", "returned")),
    ("all", ()),
)
RISK_CHOICES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("any", ()),
    ("block", ("block", "unchecked")),
    ("warn", ("warn",)),
    ("clean", ("clean",)),
)


REFRESH_AFTER_CLAIM_MS = 250


class QueueView(QWidget):
    prescriptionActivated = Signal(int, str)  # noqa: N815 (Qt's naming): id and number
    highRiskArrived = Signal(list)  # noqa: N815: numbers of new blocked or unchecked prescriptions

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setObjectName("queue-view")
        self.model = QueueModel(ctx, self)
        self._loaded = False
        self._refreshing = False
        self._again = False
        self._soon = QTimer(self)
        self._soon.setSingleShot(True)
        self._soon.setInterval(REFRESH_AFTER_CLAIM_MS)
        self._soon.timeout.connect(self.refresh)
        self._summaries_seen = False
        self._new_filter = True  # the next refresh paints a first page before the whole id list
        self._page_shown = False

        self.status_combo = QComboBox(self)
        self.status_combo.setObjectName("queue-status")
        for key, label in (("waiting", self.tr("Waiting")), ("decided", self.tr("Decided")), ("all", self.tr("All"))):
            self.status_combo.addItem(label, key)
        self.risk_combo = QComboBox(self)
        self.risk_combo.setObjectName("queue-risk")
        for key, label in (("any", self.tr("Any risk")), ("block", self.tr("Blocked / not checked")),
                           ("warn", self.tr("Warning")), ("clean", self.tr("Clean"))):
            self.risk_combo.addItem(label, key)
        self.special_check = QCheckBox(self.tr("Special drugs"), self)
        self.special_check.setObjectName("queue-special")
        self.special_check.setToolTip(self.tr("Only prescriptions with a specially managed drug (麻 精 毒 放 易 …)"))
        self.under_six_check = QCheckBox(self.tr("Under 6"), self)
        self.under_six_check.setObjectName("queue-under-six")
        self.mine_check = QCheckBox(self.tr("Mine"), self)
        self.mine_check.setObjectName("queue-mine")
        self.mine_check.setToolTip(self.tr("Only the prescriptions I have claimed"))
        self.search_edit = QLineEdit(self)
        self.search_edit.setObjectName("queue-search")
        self.search_edit.setPlaceholderText(self.tr("Search number or patient (Ctrl+F)"))
        self.search_edit.setClearButtonEnabled(True)
        self.count_label = QLabel(self)
        self.count_label.setObjectName("queue-count")
        self.count_label.setTextFormat(Qt.TextFormat.PlainText)

        bar = QHBoxLayout()
        bar.setContentsMargins(4, 2, 4, 2)
        for w in (self.status_combo, self.risk_combo, self.special_check, self.under_six_check, self.mine_check):
            bar.addWidget(w)
        bar.addWidget(self.search_edit, 1)
        bar.addWidget(self.count_label)

        self.table = QTableView(self)
        self.table.setObjectName("queue-table")
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.setSortingEnabled(False)  # the order is the queue's: blocked first, then longest waiting
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        header = self.table.horizontalHeader()
        header.setStretchLastSection(False)
        widths = (84, 86, 76, 190, 130, 86, 70, 220, 70, 56, 70)
        padding = self.style().pixelMetric(QStyle.PixelMetric.PM_HeaderMargin) * 2 + 12
        for col, width in enumerate(widths):  # never narrower than its title, in either language
            title = str(self.model.headerData(col, Qt.Orientation.Horizontal))
            header.resizeSection(col, max(width, header.fontMetrics().horizontalAdvance(title) + padding))
        header.setSectionResizeMode(7, QHeaderView.ResizeMode.Stretch)
        self.table.doubleClicked.connect(lambda index: self._activate(index.row()))
        self.table.installEventFilter(self)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(bar)
        layout.addWidget(self.table, 1)

        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(SEARCH_DEBOUNCE_MS)
        self._debounce.timeout.connect(self._filter_changed)
        self.search_edit.textChanged.connect(lambda _t: self._debounce.start())
        for combo in (self.status_combo, self.risk_combo):
            combo.currentIndexChanged.connect(lambda _i: self._filter_changed())
        for check in (self.special_check, self.under_six_check, self.mine_check):
            check.toggled.connect(lambda _on: self._filter_changed())
        self._poll = QTimer(self)
        self._poll.timeout.connect(self.refresh)
        self._tick = QTimer(self)  # the waiting-time column moves on by itself
        self._tick.setInterval(30_000)
        self._tick.timeout.connect(self._repaint_waiting)
        self._tick.start()
        self.model.rows_arrived.connect(self._update_count)
        self.refresh()

    # -- what the window calls

    def current_filter(self) -> QueueFilter:
        statuses = dict(STATUS_CHOICES)[str(self.status_combo.currentData())]
        risks = dict(RISK_CHOICES)[str(self.risk_combo.currentData())]
        principal = self.ctx.principal
        mine = principal.pharmacist_id if principal is not None and self.mine_check.isChecked() else None
        if self.mine_check.isChecked() and mine is None:
            mine = -1  # an account without a pharmacist record holds no claims
        return QueueFilter(statuses=statuses, risks=risks, special_only=self.special_check.isChecked(),
                           under_six_only=self.under_six_check.isChecked(), claimed_by=mine,
                           search=self.search_edit.text())

    def refresh_soon(self) -> None:
        """Refresh shortly: after a claim the pharmacist reads the prescription first, and the worker serves
        that (and the decision after it) before it reads the queue again. Requests meanwhile are merged."""
        if not self._soon.isActive():
            self._soon.start()

    def refresh(self) -> None:
        """Ask for the ids of the current filter; the table keeps the selected prescription selected."""
        if self._refreshing:
            self._again = True  # one more when this one is back: the filter changed meanwhile
            return
        self._refreshing = True
        uow, f = self.ctx.ws.uow, self.current_filter()
        if self._new_filter:
            # A new filter paints its first page at once; the whole id list follows on the same (serial) worker.
            self._new_filter = False
            self._page_shown = False
            def first_page() -> tuple[int, list[int], dict[int, QueueEntry]]:
                now = datetime.now(timezone.utc)
                total, ids = queue_service.queue_page(uow(), f, now, limit=FIRST_PAGE)
                return total, ids, queue_service.queue_rows(uow(), ids[:FIRST_ROWS], now)

            self.ctx.tasks.submit(first_page, on_done=self._page_arrived, on_error=self._failed)
        self.ctx.tasks.submit(lambda: queue_service.queue_ids(uow(), f, datetime.now(timezone.utc)),
                              on_done=self._ids_arrived, on_error=self._failed)

    def set_polling(self, seconds: float | None) -> None:
        self._poll.stop()
        if seconds:
            self._poll.setInterval(int(seconds * 1000))
            self._poll.start()

    def focus_search(self) -> None:
        self.search_edit.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search_edit.selectAll()

    def selected(self) -> tuple[int, str] | None:
        """The selected prescription's id and number (None when nothing is selected or its row is not read yet)."""
        index = self.table.currentIndex()
        if not index.isValid():
            return None
        entry = self.model.entry(index.row())
        return (entry.prescription_id, entry.number) if entry is not None else None

    def select_prescription(self, prescription_id: int) -> bool:
        row = self.model.row_of(prescription_id)
        if row is None:
            return False
        self.table.selectionModel().setCurrentIndex(
            self.model.index(row, 0),
            QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows)
        self.table.scrollTo(self.model.index(row, 0))
        return True

    def loaded(self) -> bool:
        """The filter's ids are in and the rows on screen are read (tests and screenshots wait on this)."""
        return self._loaded and not self._refreshing and not self._soon.isActive() and self.model.settled()

    def first_page_shown(self) -> bool:
        """The first page of a new filter is on screen (the whole id list may still be coming)."""
        return self._page_shown and self.model.settled()

    def summaries_refreshed(self, high_risk: list[str]) -> None:
        """The window summarised new arrivals. The first call catches up with what was already waiting at start
        and raises nothing; after that, new blocked or unchecked prescriptions raise a notification."""
        first, self._summaries_seen = not self._summaries_seen, True
        if high_risk and not first:
            self.highRiskArrived.emit(list(high_risk))

    # -- inner workings

    def _filter_changed(self) -> None:
        self._new_filter = True
        self.refresh()

    def _prefetch_visible(self) -> None:
        top = max(self.table.rowAt(0), 0)
        visible = max(self.table.viewport().height() // max(self.table.verticalHeader().defaultSectionSize(), 1), 20)
        self.model.prefetch(top, top + visible)

    def _page_arrived(self, page: tuple[int, list[int], dict[int, QueueEntry]]) -> None:
        total, ids, rows = page
        self.model.set_ids(ids, total=total)
        self.model.preload(rows)
        self._page_shown = True
        self.table.scrollToTop()
        self._prefetch_visible()
        self._update_count()

    def _ids_arrived(self, ids: list[int]) -> None:
        keep = self.selected()
        scroll = self.table.verticalScrollBar().value()
        if self.model.complete_ids():
            self.model.set_ids(ids)
        else:
            self.model.complete(ids)
        self._loaded = True
        self._page_shown = True
        self._refreshing = False
        self.table.verticalScrollBar().setValue(scroll)  # a refresh does not move the table
        if keep is not None:
            row = self.model.row_of(keep[0])
            if row is not None:
                self.table.selectionModel().setCurrentIndex(
                    self.model.index(row, 0),
                    QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows)
        self._prefetch_visible()
        self._update_count()
        if self._again:
            self._again = False
            self.refresh()

    def _failed(self, exc: BaseException, tb: str) -> None:
        self._refreshing = False
        self._again = False
        messages.log.error("queue refresh failed: %s\n%s", exc, tb)
        self.count_label.setText(self.tr("Queue not refreshed: %1").replace("%1", str(exc)))

    def _update_count(self) -> None:
        n = self.model.rowCount()
        self.count_label.setText(self.tr("%1 shown").replace("%1", f"{n:,}"))

    def _repaint_waiting(self) -> None:
        if self.model.rowCount():
            self.model.dataChanged.emit(self.model.index(0, 2), self.model.index(self.model.rowCount() - 1, 2),
                                        [Qt.ItemDataRole.DisplayRole])

    def _activate(self, row: int) -> None:
        entry = self.model.entry(row)
        if entry is not None:
            self.prescriptionActivated.emit(entry.prescription_id, entry.number)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt's name)
        if watched is self.table and event.type() == QEvent.Type.KeyPress and isinstance(event, QKeyEvent) \
                and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) \
                and event.modifiers() in (Qt.KeyboardModifier.NoModifier, Qt.KeyboardModifier.KeypadModifier):
            index = self.table.currentIndex()
            if index.isValid():
                self._activate(index.row())
                return True
        return super().eventFilter(watched, event)
