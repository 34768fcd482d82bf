"""The queue's table model, in Anki's browser-table pattern: the ids of the current filter live in memory;
the rows behind them are fetched only for what the view paints, a page at a time, and cached.

Fetching happens on the task runner's database thread, never on the GUI thread: a row not yet fetched
shows "…" for an instant and is filled in when its page arrives (``dataChanged``). A refresh keeps the
rows already shown until their fresh copy arrives, so the table never flickers to empty.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from PySide6.QtCore import (
    QCoreApplication,
    QModelIndex,
    QObject,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QApplication, QStyle

from workstation.services import queue as queue_service
from workstation.services.queue import QueueEntry

from ui.context import AppContext
from ui.tables import Index, TitledTableModel

PAGE = 64  # rows fetched around a missing one
AHEAD = 16  # rows fetched before it (scrolling up)

# Regulatory marks as printed on Chinese prescriptions and drug packages (shown as they are in both languages).
BADGES = {"narcotic": "麻", "psychotropic_1": "精一", "psychotropic_2": "精二", "psychotropic": "精", "toxic": "毒",
          "radioactive": "放", "precursor_chemical": "易", "online_sale_prohibited": "禁网售"}


_DISPLAY = Qt.ItemDataRole.DisplayRole.value
_DECORATION = Qt.ItemDataRole.DecorationRole.value
_TOOLTIP = Qt.ItemDataRole.ToolTipRole.value
_FOREGROUND = Qt.ItemDataRole.ForegroundRole.value
_USER = Qt.ItemDataRole.UserRole.value
_ROLES_SHOWN = frozenset({_DISPLAY, _DECORATION, _TOOLTIP, _FOREGROUND, _USER})
RISK_COLOURS = {"block": "#a4262c", "warn": "#8a5300", "unchecked": "#a4262c"}  # beside the icon and text, never alone

# lupdate reads translate("QueueModel", "…") calls with a literal context: keep the context spelled out.
translate = QCoreApplication.translate


def column_titles() -> list[str]:
    return [translate("QueueModel", "Risk"), translate("QueueModel", "Received"),
            translate("QueueModel", "Waiting", "column: how long it has waited"), translate("QueueModel", "Number"),
            translate("QueueModel", "Patient"), translate("QueueModel", "Department"),
            translate("QueueModel", "Prescriber"), translate("QueueModel", "Items"),
            translate("QueueModel", "Special drugs"), translate("QueueModel", "Status"),
            translate("QueueModel", "Claimed by")]


def risk_text(risk: str) -> str:
    texts = {"block": translate("QueueModel", "Blocked"),
             "warn": translate("QueueModel", "Warning"),
             "clean": translate("QueueModel", "Clean"),
             "unchecked": translate("QueueModel", "Not checked")}
    return texts.get(risk, risk)


def status_text(status: str) -> str:
    texts = {"received": translate("QueueModel", "Waiting"),
             "approved": translate("QueueModel", "Approved"),
             "rejected": translate("QueueModel", "Rejected"),
             "returned": translate("QueueModel", "Returned"),
             "superseded": translate("QueueModel", "Superseded"),
             "withdrawn": translate("QueueModel", "Withdrawn")}
    return texts.get(status, status)


def category_text(category: str) -> str:
    texts = {"narcotic": translate("QueueModel", "narcotic drug"),
             "psychotropic_1": translate("QueueModel", "class I psychotropic"),
             "psychotropic_2": translate("QueueModel", "class II psychotropic"),
             "psychotropic": translate("QueueModel", "psychotropic"),
             "toxic": translate("QueueModel", "toxic drug for medical use"),
             "radioactive": translate("QueueModel", "radioactive drug"),
             "precursor_chemical": translate("QueueModel", "precursor chemical"),
             "online_sale_prohibited": translate("QueueModel", "not to be sold online")}
    return texts.get(category, category)


def waiting_text(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes < 1:
        return translate("QueueModel", "<1 min")
    if minutes < 60:
        return translate("QueueModel", "%1 min").replace("%1", str(minutes))
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return translate("QueueModel", "%1 h %2 min").replace("%1", str(hours)).replace("%2", str(minutes))
    return translate("QueueModel", "%1 d").replace("%1", str(hours // 24))


def sex_text(gender: str | None) -> str:
    return {"male": translate("QueueModel", "M"), "female": translate("QueueModel", "F")}.get(gender or "", "?")


class QueueModel(TitledTableModel):
    """Rows of the queue. ``set_ids`` replaces the list; rows are fetched lazily."""

    rows_arrived = Signal()  # a page of rows came back (tests and the first paint wait on it)

    def __init__(self, ctx: AppContext, parent: QObject | None = None) -> None:
        super().__init__(column_titles(), parent)
        self.ctx = ctx
        self._ids: list[int] = []
        self._total = 0  # rows shown: more than len(_ids) while only the first page of ids is known
        self._row_of: dict[int, int] = {}
        self._rows: dict[int, QueueEntry] = {}
        self._fresh: set[int] = set()  # fetched since the last refresh
        self._asked: set[int] = set()  # in a fetch under way
        self._wanted: list[int] = []  # rows to fetch at the next turn of the event loop
        self._zone = ZoneInfo(ctx.ws.settings.pharmacy_time_zone)
        self._cells: dict[int, tuple[QueueEntry, tuple[str, ...]]] = {}  # a row's texts, for the copy they came from
        self._risk_brushes = {risk: QBrush(QColor(colour)) for risk, colour in RISK_COLOURS.items()}
        self._fetch_timer = QTimer(self)
        self._fetch_timer.setSingleShot(True)
        self._fetch_timer.setInterval(0)
        self._fetch_timer.timeout.connect(self._fetch)
        style = QApplication.style()
        self._icons = {
            "block": style.standardIcon(QStyle.StandardPixmap.SP_MessageBoxCritical),
            "warn": style.standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning),
            "clean": style.standardIcon(QStyle.StandardPixmap.SP_DialogApplyButton),
            "unchecked": style.standardIcon(QStyle.StandardPixmap.SP_MessageBoxQuestion),
        }

    # -- the id list

    def set_ids(self, ids: Sequence[int], *, total: int | None = None) -> None:
        """A new result of the filter. Cached rows stay on screen until their fresh copy arrives.

        With ``total`` the ids are only the first page of ``total`` rows (the rest show "…" until
        :meth:`complete` brings them): the first paint need not wait for a hundred thousand ids.
        """
        if total is None and list(ids) == self._ids and self._total == len(self._ids):
            self._fresh = set()  # same rows, same order: read again when painted, no reset, no jump
            if self._ids:
                self.dataChanged.emit(self.index(0, 0), self.index(len(self._ids) - 1, self.columnCount() - 1))
            return
        self.beginResetModel()
        self._ids = list(ids)
        self._total = max(total or 0, len(self._ids))
        self._row_of = {pid: row for row, pid in enumerate(self._ids)}
        keep = set(self._ids)
        self._rows = {pid: r for pid, r in self._rows.items() if pid in keep}
        self._cells = {pid: c for pid, c in self._cells.items() if pid in keep}
        self._fresh = set()
        self._wanted = []
        self.endResetModel()

    def complete(self, ids: Sequence[int]) -> None:
        """The whole id list after a first page: filled in without a reset when it continues that page."""
        known = len(self._ids)
        if len(ids) == self._total and list(ids[:known]) == self._ids:
            self._ids = list(ids)
            self._row_of.update((pid, row) for row, pid in enumerate(self._ids[known:], start=known))
            if self._total > known:
                self.dataChanged.emit(self.index(known, 0), self.index(self._total - 1, self.columnCount() - 1))
            return
        self.set_ids(ids)  # the queue moved meanwhile

    def ids(self) -> list[int]:
        return list(self._ids)

    def preload(self, rows: dict[int, QueueEntry]) -> None:
        """Rows read together with the ids (the first page), shown without another round trip."""
        self._rows.update(rows)
        self._fresh.update(rows)
        positions = [self._row_of[pid] for pid in rows if pid in self._row_of]
        if positions:
            self.dataChanged.emit(self.index(min(positions), 0), self.index(max(positions), self.columnCount() - 1))

    def complete_ids(self) -> bool:
        return len(self._ids) == self._total

    def id_at(self, row: int) -> int | None:
        return self._ids[row] if 0 <= row < len(self._ids) else None

    def row_of(self, prescription_id: int) -> int | None:
        return self._row_of.get(prescription_id)

    def entry(self, row: int) -> QueueEntry | None:
        pid = self.id_at(row)
        return self._rows.get(pid) if pid is not None else None

    def settled(self) -> bool:
        """No page is being fetched or waiting to be."""
        return not self._asked and not self._wanted and not self._fetch_timer.isActive()

    # -- fetching

    def prefetch(self, first: int, last: int) -> None:
        """Ask now for the rows ``first..last`` (the ones about to be painted)."""
        for row in range(max(first, 0), min(last + 1, len(self._ids))):
            self._want(row)
        if not self._fetch_timer.isActive() and self._wanted:
            self._fetch_timer.start()

    def _want(self, row: int) -> None:
        pid = self._ids[row]
        if pid in self._fresh or pid in self._asked:
            return
        self._wanted.append(row)
        if not self._fetch_timer.isActive():
            self._fetch_timer.start()

    def _fetch(self) -> None:
        rows, self._wanted = self._wanted, []
        if not rows:
            return
        lo, hi = max(min(rows) - AHEAD, 0), min(max(rows) + PAGE, len(self._ids))
        ids = [pid for pid in self._ids[lo:hi] if pid not in self._fresh and pid not in self._asked]
        if not ids:
            return
        self._asked.update(ids)
        uow = self.ctx.ws.uow

        def work() -> tuple[list[int], dict[int, QueueEntry]]:
            return ids, queue_service.queue_rows(uow(), ids, datetime.now(timezone.utc))

        # Bound methods, not lambdas: Qt drops the delivery if the model is gone by then.
        self.ctx.tasks.submit(work, on_done=self._arrived, on_error=self._failed)

    def _arrived(self, fetched: tuple[list[int], dict[int, QueueEntry]]) -> None:
        asked, found = fetched
        self._asked.difference_update(asked)
        self._rows.update(found)
        self._fresh.update(asked)  # an id with no row (deleted meanwhile) is not asked for again
        positions = [self._row_of[pid] for pid in asked if pid in self._row_of]
        if positions:
            self.dataChanged.emit(self.index(min(positions), 0), self.index(max(positions), self.columnCount() - 1))
        self.rows_arrived.emit()

    def _failed(self, exc: BaseException, tb: str) -> None:
        from ui import messages

        self._asked.clear()  # asked again when next painted
        messages.log.error("queue rows could not be read: %s\n%s", exc, tb)
        self.rows_arrived.emit()

    # -- Qt's model interface

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802 (Qt's name)
        return 0 if parent.isValid() else self._total

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        # Called for every cell and role on every paint (a few thousand times): the common answers are
        # plain lookups, and a row's texts are made once per fetched copy of it.
        if role not in _ROLES_SHOWN:
            return None
        row = index.row()
        if not (0 <= row < self._total) or not index.isValid():
            return None
        col = index.column()
        if row >= len(self._ids):  # only the first page of ids is known yet
            return "…" if role == _DISPLAY and col == 3 else None
        pid = self._ids[row]
        entry = self._rows.get(pid)
        if role == _DISPLAY or role == _DECORATION:
            self._want(row)
        if entry is None:
            return "…" if role == _DISPLAY else None
        if role == _DISPLAY:
            if col == 2:  # the waiting time moves on: never cached
                return self._display(entry, col)
            cached = self._cells.get(pid)
            if cached is None or cached[0] is not entry:
                cached = (entry, tuple(self._display(entry, c) for c in range(len(self._titles))))
                self._cells[pid] = cached
            return cached[1][col] if 0 <= col < len(cached[1]) else None
        if role == _DECORATION:
            return self._icons.get(entry.risk) if col == 0 else None
        if role == _TOOLTIP:
            return self._tooltip(entry, col)
        if role == _FOREGROUND:
            return self._risk_brushes.get(entry.risk) if col == 0 else None
        return entry.prescription_id  # UserRole

    def _display(self, e: QueueEntry, col: int) -> str:
        if col == 0:
            return risk_text(e.risk)
        if col == 1:
            return e.received_at.astimezone(self._zone).strftime("%m-%d %H:%M")
        if col == 2:
            if e.status != "received":
                return "—"
            return waiting_text((datetime.now(timezone.utc) - e.received_at).total_seconds())
        if col == 3:
            return e.number if e.version == 1 else f"{e.number} v{e.version}"
        if col == 4:
            if e.age_years is None:
                age = translate("QueueModel", "age ?")
            else:
                age = translate("QueueModel", "%1 y").replace("%1", str(e.age_years))
            return f"{e.patient_masked or '?'}  {sex_text(e.patient_gender)}  {age}"
        if col == 5:
            return e.department or "—"
        if col == 6:
            return e.prescriber_name or "—"
        if col == 7:
            return "、".join(e.drugs)
        if col == 8:
            return " ".join(BADGES.get(m, m) for m in e.special_marks)
        if col == 9:
            return status_text(e.status)
        if col == 10:
            return e.claimed_by or ""
        return ""

    def _tooltip(self, e: QueueEntry, col: int) -> str | None:
        if col == 0:
            return "\n".join([risk_text(e.risk), *e.finding_ids]) if e.finding_ids else risk_text(e.risk)
        if col == 4 and e.under_six:
            return translate("QueueModel", "Under 6: a guardian and an accompanying physician are required")
        if col == 7:
            return "\n".join(e.drugs)
        if col == 8 and e.special_marks:
            return "\n".join(f"{BADGES.get(m, m)} — {category_text(m)}" for m in e.special_marks)
        if col == 1:
            return e.received_at.astimezone(self._zone).strftime("%Y-%m-%d %H:%M:%S %Z")
        return None
