"""The pharmacy lead's dashboard (在岗看板): today live, and a timeline of business hours against the roster
and against actual presence for a day, a week or a month, gaps highlighted.

The figures come from the coverage service (pure computation over the roster, the business calendar and
the workstations' heartbeats). Workload is counts and pace per pharmacist only: statistics of drugs per
prescriber (统方) are not offered anywhere.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from PySide6.QtCore import QRectF, Qt, QTimer
from PySide6.QtGui import QColor, QPainter, QPaintEvent
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from workstation.domain.accounts import Action
from workstation.domain.coverage import Interval

from ui import messages
from ui.context import AppContext

REFRESH_MS = 15_000
BUSINESS, ROSTER, PRESENT = QColor("#d9d9d9"), QColor("#6a9fd4"), QColor("#3c9d5d")
GAP, PLANNED_GAP = QColor("#d64541"), QColor("#f0a030")


def _minutes(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds / 60:.0f}"


class Timeline(QWidget):
    """Three bands over the period: business hours, rostered (review), on duty — with the gaps in red."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("coverage-timeline")
        self.setMinimumHeight(140)
        self.start = self.end = datetime.now().astimezone()
        self.bands: list[tuple[str, list[Interval], QColor]] = []
        self.gaps: list[Interval] = []  # actual: nobody on duty (up to now)
        self.planned: list[Interval] = []  # nobody rostered (the whole period, the future included)
        self.ticks: list[tuple[datetime, str]] = []

    def show_period(self, start: datetime, end: datetime, bands: list[tuple[str, list[Interval], QColor]],
                    gaps: list[Interval], planned: list[Interval], ticks: list[tuple[datetime, str]]) -> None:
        self.start, self.end, self.bands, self.gaps, self.planned, self.ticks = start, end, bands, gaps, planned, ticks
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt's name)
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("white"))
        label_w, top, row_h = 150.0, 8.0, 24.0
        width = max(self.width() - label_w - 8, 1)
        span = max((self.end - self.start).total_seconds(), 1)

        def x(moment: datetime) -> float:
            return label_w + width * min(max((moment - self.start).total_seconds() / span, 0), 1)

        metrics = painter.fontMetrics()
        for row, (name, intervals, colour) in enumerate(self.bands):
            y = top + row * (row_h + 6)
            painter.setPen(QColor("black"))
            painter.drawText(QRectF(0, y, label_w - 6, row_h), int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter),
                             metrics.elidedText(name, Qt.TextElideMode.ElideRight, int(label_w - 8)))
            painter.fillRect(QRectF(label_w, y, width, row_h), QColor("#f4f4f4"))
            for iv in intervals:
                painter.fillRect(QRectF(x(iv.start), y, max(x(iv.end) - x(iv.start), 1), row_h), colour)
        y_gaps = top + len(self.bands) * (row_h + 6)
        veil = QColor(GAP)
        veil.setAlpha(45)
        for gap in self.planned:  # planned gaps: an orange bar under the bands
            painter.fillRect(QRectF(x(gap.start), y_gaps, max(x(gap.end) - x(gap.start), 2), 5), PLANNED_GAP)
        for gap in self.gaps:  # actual gaps: a red bar below that, and a red veil over the bands
            w = max(x(gap.end) - x(gap.start), 2)
            painter.fillRect(QRectF(x(gap.start), y_gaps + 6, w, 5), GAP)
            painter.fillRect(QRectF(x(gap.start), top, w, y_gaps - top - 2), veil)
        painter.setPen(QColor("#555"))
        for moment, text in self.ticks:
            painter.drawLine(int(x(moment)), int(y_gaps + 13), int(x(moment)), int(y_gaps + 17))
            painter.drawText(int(x(moment)) + 2, int(y_gaps + 29), text)
        painter.end()


class Dashboard(QDialog):
    """Today live (who is on, backlog, waiting times, prescriptions waiting during a gap, workload) and the
    timeline of a day, a week or a month."""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setObjectName("lead-dashboard")
        self.setWindowTitle(self.tr("On-duty coverage"))
        self.zone = ZoneInfo(ctx.ws.settings.pharmacy_time_zone)
        layout = QVBoxLayout(self)

        grid = QGridLayout()
        self.values: dict[str, QLabel] = {}
        for i, (key, title) in enumerate((
                ("on_duty", self.tr("On duty now")), ("rostered", self.tr("Rostered now")),
                ("present", self.tr("Signed in")), ("waiting", self.tr("Waiting")),
                ("p50", self.tr("Waiting, median (min)")), ("p90", self.tr("Waiting, 90th percentile (min)")),
                ("in_gap", self.tr("Arrived during a gap, still waiting")),
                ("coverage", self.tr("Today's coverage so far")))):
            grid.addWidget(QLabel(title, self), i // 2, (i % 2) * 2)
            value = QLabel("…", self)
            value.setObjectName(f"dashboard-{key}")
            value.setTextFormat(Qt.TextFormat.PlainText)
            grid.addWidget(value, i // 2, (i % 2) * 2 + 1)
            self.values[key] = value
        layout.addLayout(grid)

        self.workload = QTableWidget(0, 5, self)
        self.workload.setObjectName("dashboard-workload")
        self.workload.setHorizontalHeaderLabels([self.tr("Pharmacist"), self.tr("Approved"), self.tr("Rejected"),
                                                 self.tr("Returned"), self.tr("Median minutes per decision")])
        self.workload.verticalHeader().setVisible(False)
        self.workload.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.workload.setMaximumHeight(170)
        layout.addWidget(QLabel(self.tr("Workload today (counts and pace only)"), self))
        layout.addWidget(self.workload)

        row = QHBoxLayout()
        row.addWidget(QLabel(self.tr("Timeline"), self))
        self.period = QComboBox(self)
        self.period.setObjectName("dashboard-period")
        self.period.addItem(self.tr("Today"), 1)
        self.period.addItem(self.tr("This week"), 7)
        self.period.addItem(self.tr("This month"), 31)
        self.period.currentIndexChanged.connect(lambda _i: self.refresh())
        row.addWidget(self.period)
        row.addStretch(1)
        self.report_button = QPushButton(self.tr("Monthly &report…"), self)
        self.report_button.setObjectName("dashboard-report")
        self.report_button.setToolTip(self.tr("This month's coverage report for inspections, signed off by you"))
        self.report_button.setVisible(bool(ctx.principal and ctx.principal.can(Action.MANAGE_ROSTER)))
        self.report_button.clicked.connect(self.monthly_report)
        row.addWidget(self.report_button)
        layout.addLayout(row)
        self.gap_summary = QLabel("", self)
        self.gap_summary.setObjectName("dashboard-gaps")
        self.gap_summary.setWordWrap(True)
        layout.addWidget(self.gap_summary)
        self.timeline = Timeline(self)
        layout.addWidget(self.timeline)
        layout.addStretch(1)

        self.timer = QTimer(self)
        self.timer.setInterval(REFRESH_MS)
        self.timer.timeout.connect(self.refresh)
        self.timer.start()
        self.loaded = False
        self.resize(1000, 640)
        self.refresh()

    def _period(self) -> tuple[datetime, datetime, list[tuple[datetime, str]]]:
        days = int(self.period.currentData() or 1)
        today = datetime.combine(datetime.now(self.zone).date(), time(0), self.zone)
        if days == 1:
            return today, today + timedelta(days=1), [(today + timedelta(hours=h), f"{h:02d}") for h in range(0, 24, 3)]
        if days == 7:
            monday = today - timedelta(days=today.weekday())
            return monday, monday + timedelta(days=7), [(monday + timedelta(days=d), (monday + timedelta(days=d))
                                                         .strftime("%m-%d")) for d in range(7)]
        first = today.replace(day=1)
        following = (first + timedelta(days=32)).replace(day=1)
        return first, following, [(first + timedelta(days=d), str(d + 1)) for d in range(0, (following - first).days, 5)]

    def refresh(self) -> None:
        ws, principal = self.ctx.ws, self.ctx.principal
        assert principal is not None
        start, end, ticks = self._period()

        def work() -> tuple[Any, Any, list[Interval], list[Interval], list[Interval], list[Interval]]:
            service = ws.coverage
            today = service.today(principal)
            now = datetime.now(self.zone)
            # Actual gaps only up to now (the future has a roster, not yet a presence); planned ones throughout.
            period = service.coverage(principal, start, min(end, max(now, start + timedelta(seconds=1))))
            planned = list(service.coverage(principal, start, end).planned_gaps)
            business = service.calendar().intervals(start, end)
            rostered = [s.interval() for s in service.shifts(start, end) if s.role in ("审方", "review")]
            present = [iv for ivs in service.presence(start, end).values() for iv in ivs]
            return today, period, business, rostered, present, planned

        self.ctx.tasks.submit(work, on_done=lambda r: self._show(r, start, end, ticks),
                              on_error=lambda exc, tb: messages.error(self, str(exc), detail=tb))

    def _show(self, result: tuple[Any, Any, list[Interval], list[Interval], list[Interval], list[Interval]],
              start: datetime, end: datetime, ticks: list[tuple[datetime, str]]) -> None:
        today, period, business, rostered, present, planned = result
        v = self.values
        v["on_duty"].setText("、".join(today.on_duty) or self.tr("nobody"))
        v["rostered"].setText("、".join(today.rostered_now) or self.tr("nobody"))
        v["present"].setText("、".join(today.present) or self.tr("nobody"))
        v["waiting"].setText(str(today.waiting))
        v["p50"].setText(_minutes(today.waiting_p50_seconds))
        v["p90"].setText(_minutes(today.waiting_p90_seconds))
        v["in_gap"].setText(str(today.waiting_in_gap))
        v["coverage"].setText(f"{today.coverage.coverage_pct}%")
        self.workload.setRowCount(len(today.workload))
        for r, w in enumerate(today.workload):
            for c, text in enumerate((f"{w.name} ({w.licence})", str(w.approved), str(w.rejected), str(w.returned),
                                      _minutes(w.median_decision_seconds))):
                self.workload.setItem(r, c, QTableWidgetItem(text))
        self.workload.resizeColumnsToContents()
        self.gap_summary.setText(self.tr("Coverage so far %1% — planned gaps (nobody rostered, orange) %2, actual "
                                         "gaps (nobody on duty, red) %3")
                                 .replace("%1", str(period.coverage_pct)).replace("%2", str(len(planned)))
                                 .replace("%3", str(len(period.actual_gaps))))
        self.timeline.show_period(start, end, [(self.tr("Business hours"), business, BUSINESS),
                                               (self.tr("Rostered (review)"), rostered, ROSTER),
                                               (self.tr("Present"), present, PRESENT)],
                                  list(period.actual_gaps), planned, ticks)
        self.loaded = True

    def monthly_report(self) -> None:
        """This month's report, signed off by the lead (audited with its digest), previewed to print or save."""
        from printing.coverage_report import render_report
        from resources.fonts import font_path

        from ui.labels import LabelPreview

        ws, principal = self.ctx.ws, self.ctx.principal
        assert principal is not None
        today = datetime.now(self.zone).date()

        def work() -> bytes:
            return render_report(ws.coverage.month_report(principal, today.year, today.month), font_path=font_path())

        def show(pdf: bytes) -> None:
            self.report_preview = LabelPreview(pdf, "A4", self.tr("Coverage report %1").replace(
                "%1", f"{today.year}-{today.month:02d}"), self)
            self.report_preview.open()

        self.ctx.tasks.submit(work, on_done=show, on_error=lambda exc, tb: messages.error(self, str(exc), detail=tb))

    def done(self, result: int) -> None:
        self.timer.stop()
        super().done(result)
