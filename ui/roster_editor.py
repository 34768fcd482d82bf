"""The roster editor (排班): a week at a time, pharmacists down the side and days across.

A lead adds, moves, reassigns, swaps and removes shifts; each change asks why, and the services record
who, when and why in the audit trail and refuse overlaps. A pharmacist opens the same week read-only,
with their own shifts only.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from PySide6.QtCore import QDateTime, Qt, QTimeZone
from PySide6.QtWidgets import (
    QComboBox,
    QDateTimeEdit,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from workstation.domain.accounts import Action, Role
from workstation.domain.coverage import Interval
from workstation.domain.errors import DomainError

from ui import messages
from ui.context import AppContext
from ui.dashboard import ROSTER, Timeline


class ShiftDialog(QDialog):
    """One shift: who, from, to, role."""

    def __init__(self, licences: list[str], zone: ZoneInfo, entry: Any | None, day: date,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("shift-dialog")
        self.setWindowTitle(self.tr("Shift"))
        self.zone = zone
        form = QFormLayout(self)
        self.who = QComboBox(self)
        self.who.addItems(licences)
        qzone = QTimeZone(str(zone.key).encode())
        start = entry.start if entry else datetime.combine(day, time(8), zone)
        end = entry.end if entry else datetime.combine(day, time(15), zone)
        self.start = QDateTimeEdit(QDateTime.fromSecsSinceEpoch(int(start.timestamp()), qzone), self)
        self.end = QDateTimeEdit(QDateTime.fromSecsSinceEpoch(int(end.timestamp()), qzone), self)
        for edit in (self.start, self.end):
            edit.setDisplayFormat("yyyy-MM-dd HH:mm")
            edit.setTimeZone(qzone)
        self.role = QLineEdit(entry.role if entry else "审方", self)
        if entry:
            self.who.setCurrentText(entry.licence)
        form.addRow(self.tr("Pharmacist"), self.who)
        form.addRow(self.tr("From"), self.start)
        form.addRow(self.tr("To"), self.end)
        form.addRow(self.tr("Role"), self.role)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def values(self) -> tuple[str, datetime, datetime, str]:
        def value(edit: QDateTimeEdit) -> datetime:
            return datetime.fromtimestamp(edit.dateTime().toSecsSinceEpoch(), self.zone)
        return self.who.currentText(), value(self.start), value(self.end), self.role.text().strip() or "审方"


class RosterEditor(QDialog):
    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setObjectName("roster-editor")
        principal = ctx.principal
        assert principal is not None
        self.editable = principal.can(Action.MANAGE_ROSTER)
        self.mine = not principal.can(Action.VIEW_COVERAGE)
        self.setWindowTitle(self.tr("Roster") if not self.mine else self.tr("My shifts"))
        self.zone = ZoneInfo(ctx.ws.settings.pharmacy_time_zone)
        today = datetime.now(self.zone).date()
        self.monday = today - timedelta(days=today.weekday())
        self.entries: list[Any] = []

        layout = QVBoxLayout(self)
        row = QHBoxLayout()
        self.previous = QPushButton(self.tr("◀ Previous week"), self)
        self.next = QPushButton(self.tr("Next week ▶"), self)
        self.week = QLabel(self)
        self.week.setObjectName("roster-week")
        self.previous.clicked.connect(lambda: self.shift_week(-7))
        self.next.clicked.connect(lambda: self.shift_week(7))
        for w in (self.previous, self.week, self.next):
            row.addWidget(w)
        row.addStretch(1)
        layout.addLayout(row)
        self.table = QTableWidget(0, 7, self)
        self.table.setObjectName("roster-table")
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QTableWidget.SelectionMode.ExtendedSelection)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.cellDoubleClicked.connect(lambda r, c: self.edit())
        self.table.currentCellChanged.connect(lambda r, c, _r, _c: self._show_day(c))
        layout.addWidget(self.table, 1)
        # The selected day as a timeline: each pharmacist's shifts as bars over the 24 hours.
        self.day_title = QLabel(self)
        self.day_title.setObjectName("roster-day")
        layout.addWidget(self.day_title)
        self.day = Timeline(self)
        self.day.setObjectName("roster-day-timeline")
        layout.addWidget(self.day)
        buttons = QHBoxLayout()
        self.add_button = QPushButton(self.tr("&Add…"), self)
        self.edit_button = QPushButton(self.tr("&Edit…"), self)
        self.swap_button = QPushButton(self.tr("S&wap two…"), self)
        self.remove_button = QPushButton(self.tr("&Remove…"), self)
        self.copy_button = QPushButton(self.tr("&Copy this week to the next…"), self)
        self.copy_button.setToolTip(self.tr("Use this week as the template of the next one"))
        for b, slot in ((self.add_button, self.add), (self.edit_button, self.edit), (self.swap_button, self.swap),
                        (self.remove_button, self.remove), (self.copy_button, self.copy_week)):
            b.clicked.connect(slot)
            b.setVisible(self.editable)
            buttons.addWidget(b)
        buttons.addStretch(1)
        close = QPushButton(self.tr("Close"), self)
        close.clicked.connect(self.accept)
        buttons.addWidget(close)
        layout.addLayout(buttons)
        self.loaded = False
        self.resize(1100, 560)
        self.refresh()

    # -- showing

    def shift_week(self, days: int) -> None:
        self.monday += timedelta(days=days)
        self.refresh()

    def refresh(self) -> None:
        ws, principal, mine = self.ctx.ws, self.ctx.principal, self.mine
        assert principal is not None
        start = datetime.combine(self.monday, time(0), self.zone)
        end = start + timedelta(days=7)

        def work() -> tuple[list[Any], dict[str, str]]:
            entries = ws.coverage.entries(principal, start, end, mine=mine)
            if mine:
                return entries, {principal.licence or "": principal.name}
            # Whoever reviews (pharmacists and leads) can be rostered; IT accounts cannot.
            return entries, {p.licence: p.name for p in ws.accounts.list(principal)
                             if p.active and p.roles & {Role.PHARMACIST, Role.LEAD}}

        self.ctx.tasks.submit(work, on_done=self._show,
                              on_error=lambda exc, tb: messages.error(self, str(exc), detail=tb))

    def _show(self, loaded: tuple[list[Any], dict[str, str]]) -> None:
        self.entries, people = loaded
        licences = sorted({*people, *(e.licence for e in self.entries)})
        self.licences = licences
        days = [self.monday + timedelta(days=d) for d in range(7)]
        self.week.setText(f"{days[0].isoformat()} – {days[-1].isoformat()}")
        self.table.setRowCount(len(licences))
        self.table.setHorizontalHeaderLabels([d.strftime("%m-%d ") + "一二三四五六日"[d.weekday()] for d in days])
        names = {**people, **{e.licence: e.name for e in self.entries}}
        self.table.setVerticalHeaderLabels([f"{names.get(x, '')} {x}".strip() for x in licences])
        self.table.clearContents()
        for e in self.entries:
            local_start, local_end = e.start.astimezone(self.zone), e.end.astimezone(self.zone)
            column = (local_start.date() - self.monday).days
            if not 0 <= column < 7:
                continue
            r = licences.index(e.licence)
            item = self.table.item(r, column) or QTableWidgetItem("")
            text = f"{local_start:%H:%M}–{local_end:%H:%M} {e.role}"
            item.setText(f"{item.text()}\n{text}".strip())
            ids = item.data(Qt.ItemDataRole.UserRole) or []
            item.setData(Qt.ItemDataRole.UserRole, [*ids, e.id])
            self.table.setItem(r, column, item)
        self.table.resizeRowsToContents()
        self._show_day(max(self.table.currentColumn(), 0) if self.table.currentColumn() >= 0
                       else min(max((datetime.now(self.zone).date() - self.monday).days, 0), 6))
        self.loaded = True

    def _show_day(self, column: int) -> None:
        if column < 0 or not hasattr(self, "licences"):
            return
        day = self.monday + timedelta(days=column)
        start = datetime.combine(day, time(0), self.zone)
        names = {e.licence: e.name for e in self.entries}
        bands = [(f"{names.get(x, '')} {x}".strip(),
                  [Interval(e.start, e.end) for e in self.entries if e.licence == x], ROSTER) for x in self.licences]
        self.day_title.setText(self.tr("Day: %1").replace("%1", day.isoformat()))
        self.day.setMinimumHeight(40 + 30 * len(bands))
        self.day.show_period(start, start + timedelta(days=1), bands, [], [],
                             [(start + timedelta(hours=h), f"{h:02d}") for h in range(0, 24, 2)])

    # -- editing

    def _selected_ids(self) -> list[int]:
        ids: list[int] = []
        for item in self.table.selectedItems():
            ids += item.data(Qt.ItemDataRole.UserRole) or []
        return ids

    def _reason(self) -> str | None:
        text, ok = QInputDialog.getText(self, self.tr("Why?"), self.tr("Reason for this roster change (recorded):"))
        return text.strip() if ok and text.strip() else None

    def _run(self, fn: Any) -> None:
        def failed(exc: BaseException, tb: str) -> None:
            if isinstance(exc, DomainError):
                messages.warning(self, str(exc))
            else:
                messages.error(self, str(exc), detail=tb)
        self.ctx.tasks.submit(fn, on_done=lambda _r: self.refresh(), on_error=failed)

    def add(self) -> None:
        column = max(self.table.currentColumn(), 0)
        dialog = ShiftDialog(self.licences, self.zone, None, self.monday + timedelta(days=column), self)
        if self.table.currentRow() >= 0:
            dialog.who.setCurrentText(self.licences[self.table.currentRow()])
        if dialog.exec() != QDialog.DialogCode.Accepted or (reason := self._reason()) is None:
            return
        licence, start, end, role = dialog.values()
        ws, principal = self.ctx.ws, self.ctx.principal
        assert principal is not None
        self._run(lambda: ws.coverage.add_shift(principal, licence, start, end, role=role, reason=reason))

    def edit(self) -> None:
        if not self.editable:
            return
        ids = self._selected_ids()
        if len(ids) != 1:
            messages.info(self, self.tr("Select one shift to edit."))
            return
        entry = next(e for e in self.entries if e.id == ids[0])
        dialog = ShiftDialog(self.licences, self.zone, entry, entry.start.date(), self)
        if dialog.exec() != QDialog.DialogCode.Accepted or (reason := self._reason()) is None:
            return
        licence, start, end, role = dialog.values()
        ws, principal = self.ctx.ws, self.ctx.principal
        assert principal is not None
        self._run(lambda: ws.coverage.change_shift(principal, entry.id, start, end, role=role, licence=licence,
                                                   reason=reason))

    def swap(self) -> None:
        ids = self._selected_ids()
        if len(ids) != 2:
            messages.info(self, self.tr("Select the two shifts to swap."))
            return
        if (reason := self._reason()) is None:
            return
        ws, principal = self.ctx.ws, self.ctx.principal
        assert principal is not None
        self._run(lambda: ws.coverage.swap_shifts(principal, ids[0], ids[1], reason=reason))

    def copy_week(self) -> None:
        if (reason := self._reason()) is None:
            return
        ws, principal, week = self.ctx.ws, self.ctx.principal, self.monday
        assert principal is not None
        self._run(lambda: ws.coverage.copy_week(principal, week, week + timedelta(days=7), reason=reason))

    def remove(self) -> None:
        ids = self._selected_ids()
        if not ids:
            messages.info(self, self.tr("Select the shifts to remove."))
            return
        if (reason := self._reason()) is None:
            return
        ws, principal = self.ctx.ws, self.ctx.principal
        assert principal is not None

        def work() -> None:
            for shift_id in ids:
                ws.coverage.remove_shift(principal, shift_id, reason=reason)
        self._run(work)
