"""The main window (审方工作台): the queue above, the open prescription and the decision panel below.

Work flows keyboard first: Ctrl+N claims the next prescription and opens it, Ctrl+Return approves (the
signing dialog asks for the PIN), and after every decision the next one is claimed and shown. All
database work goes through the task runner; the window only arranges what the services return.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

from PySide6.QtCore import QByteArray, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QInputDialog,
    QLabel,
    QMainWindow,
    QScrollArea,
    QSplitter,
    QStackedWidget,
    QSystemTrayIcon,
    QVBoxLayout,
    QWidget,
)

from workstation.adapters.db.listen import QueueListener
from workstation.adapters.inbox import process_inbox
from workstation.domain.accounts import Action, Principal
from workstation.domain.errors import DomainError
from workstation.domain.local_time import shown
from workstation.services import queue as queue_service
from workstation.services import release
from workstation.services.claims import ClaimError, ClaimInfo, QueueEmpty
from workstation.services.coverage import HEARTBEAT_SECONDS, Alert
from workstation.services.decisions import DecisionInfo
from workstation.services.detail import PrescriptionDetail
from workstation.services.labels import AlreadyPrinted
from workstation.services.status import WorkstationStatus, workstation_status

from ui import labels as labels_ui
from ui import messages
from ui.context import AppContext
from ui.decision_panel import DecisionPanel
from ui.lockscreen import IDLE_LOCK_SECONDS, IdleWatch, LockScreen
from ui.prescription_view import PrescriptionView
from ui.queue_view import QueueView
from ui.statusbar import StatusBar

RENEW_EVERY_MS = 60_000  # the lease lasts 10 minutes; renew well before


def _keys(action: QAction) -> str:
    return " / ".join(s.toString(QKeySequence.SequenceFormat.NativeText) for s in action.shortcuts())


def listens_for_queue(ws: Any) -> bool:
    """Whether this database tells workstations of queue changes (PostgreSQL); SQLite ones poll."""
    return bool(ws.engine.dialect.name == "postgresql")


class MainWindow(QMainWindow):
    signed_out = Signal()
    opened = Signal(object)  # the PrescriptionDetail now shown (tests and screenshots wait on it)
    queue_changed = Signal()  # another workstation changed the queue (emitted from the listener's thread)

    def __init__(self, ctx: AppContext, *, poll_seconds: float | None = 5.0,
                 idle_seconds: float = IDLE_LOCK_SECONDS, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        assert ctx.principal is not None
        self.ctx = ctx
        self.setObjectName("main-window")
        self._set_title()
        self.current: Any = None  # the PrescriptionDetail shown
        self._claim: ClaimInfo | None = None
        self._locked = False

        self.queue = QueueView(ctx, self)
        self.detail = PrescriptionView(self)
        self.panel = DecisionPanel(ctx, self)
        scroll = QScrollArea(self)
        scroll.setObjectName("detail-scroll")
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.detail)
        self.lower_split = QSplitter(Qt.Orientation.Horizontal, self)
        self.lower_split.setObjectName("lower-splitter")
        self.lower_split.addWidget(scroll)
        self.lower_split.addWidget(self.panel)
        self.lower_split.setStretchFactor(0, 3)
        self.lower_split.setStretchFactor(1, 1)
        self.split = QSplitter(Qt.Orientation.Vertical, self)
        self.split.setObjectName("main-splitter")
        self.split.addWidget(self.queue)
        self.split.addWidget(self.lower_split)
        self.split.setStretchFactor(0, 1)
        self.split.setStretchFactor(1, 2)

        self.banner = QLabel(self)
        self.banner.setObjectName("demo-banner")
        self.banner.setTextFormat(Qt.TextFormat.PlainText)
        self.banner.setVisible(ctx.demo)
        self.banner.setText(self.tr("DEMO MODE — made-up patients and a throwaway demo CA; nothing is dispensed."))
        self.banner.setStyleSheet("background:#fff4ce; color:#5c4400; padding:2px 6px;")
        work = QWidget(self)
        wl = QVBoxLayout(work)
        wl.setContentsMargins(0, 0, 0, 0)
        wl.setSpacing(0)
        wl.addWidget(self.banner)
        wl.addWidget(self.split, 1)

        self.lockscreen = LockScreen(ctx, self)
        self.stack = QStackedWidget(self)
        self.stack.addWidget(work)
        self.stack.addWidget(self.lockscreen)
        self.setCentralWidget(self.stack)

        self.status = StatusBar(ctx.ws.settings.pharmacy_time_zone, self)
        self.setStatusBar(self.status)
        self.status.set_principal(ctx.principal)
        self.status.set_claim(None, None)

        self._build_actions()
        self._build_menus()

        self.queue.prescriptionActivated.connect(lambda pid, _number: self.open_prescription(pid))
        self.queue.highRiskArrived.connect(self._high_risk)
        self.panel.decided.connect(self._decided)
        self.status.retry_requested.connect(self._retry_release)
        self.lockscreen.unlocked.connect(self._unlocked)
        self.lockscreen.sign_out_requested.connect(self.sign_out)

        self.idle = IdleWatch(idle_seconds, self)
        self.idle.idle.connect(lambda: self.lock(reason=self.tr("Locked after 10 idle minutes.")))
        app = QApplication.instance()
        if app is not None:
            app.installEventFilter(self.idle)

        self._renew = QTimer(self)
        self._renew.setInterval(RENEW_EVERY_MS)
        self._renew.timeout.connect(self._renew_claim)
        self._poll = QTimer(self)
        self._poll.timeout.connect(self.poll)
        self._polling = False
        self.coverage_alerts: list[Alert] = []
        self._announced: set[tuple[str, str]] = set()
        # Presence (在岗): who is signed in here and in what state, every few seconds, for the leads' coverage.
        self.workstation_id = f"{socket.gethostname()[:40]}:{uuid.uuid4().hex[:12]}"
        self._heartbeat = QTimer(self)
        self._heartbeat.setInterval(HEARTBEAT_SECONDS * 1000)
        self._heartbeat.timeout.connect(self.beat)
        self._heartbeat.start()
        self.beat()
        # On PostgreSQL, every other workstation's intake, claim and decision arrives at once (LISTEN/NOTIFY);
        # SQLite workstations poll.
        self.queue_listener: QueueListener | None = None
        if listens_for_queue(ctx.ws):
            self.queue_changed.connect(self.poll)
            self.queue_listener = QueueListener(ctx.ws.engine, self.queue_changed.emit).start()
        self.set_polling(poll_seconds)
        self._restore_layout()
        self.poll()

    # -- building

    def _set_title(self) -> None:
        name = self.ctx.pharmacy_name or self.tr("Rx Review Workstation")
        who = self.ctx.principal.name if self.ctx.principal else ""
        self.setWindowTitle(self.tr("%1 — %2").replace("%1", name).replace("%2", who))

    def _action(self, name: str, text: str, keys: tuple[QKeySequence | str, ...], slot: Callable[[], Any],
                tip: str) -> QAction:
        action = QAction(text, self)
        action.setObjectName(name)
        action.setShortcuts([QKeySequence(k) for k in keys])
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.setToolTip(f"{tip} ({_keys(action)})" if keys else tip)
        action.setStatusTip(tip)
        action.triggered.connect(slot)
        self.addAction(action)
        return action

    def _build_actions(self) -> None:
        p = self.ctx.principal
        assert p is not None
        self.claim_next_action = self._action("claim-next", self.tr("Claim &next"), ("Ctrl+N",), self.claim_next,
                                              self.tr("Claim the next waiting prescription and open it"))
        self.claim_next_action.setEnabled(p.can(Action.CLAIM))
        self.claim_selected_action = self._action(
            "claim-selected", self.tr("&Claim selected"), ("Ctrl+Shift+N",), self.claim_selected,
            self.tr("Claim the prescription selected in the queue"))
        self.claim_selected_action.setEnabled(p.can(Action.CLAIM))
        self.open_action = self._action("open", self.tr("&Open selected"), (), self.open_selected,
                                        self.tr("Open the prescription selected in the queue (Return)"))
        self.open_action.setShortcuts([QKeySequence(Qt.Key.Key_Return), QKeySequence(Qt.Key.Key_Enter)])
        # Return belongs to whichever widget has focus (the queue opens on it, the signing dialog signs):
        # the menu shows it, the queue view acts on it.
        self.open_action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        self.refresh_action = self._action("refresh", self.tr("&Refresh"), ("F5",), self.poll,
                                           self.tr("Take in new prescriptions and refresh the queue"))
        self.search_action = self._action("search", self.tr("&Search"), ("Ctrl+F",), self.queue.focus_search,
                                          self.tr("Search by prescription number or patient"))
        self.lock_action = self._action("lock", self.tr("&Lock screen"), ("Ctrl+L",),
                                        lambda: self.lock(reason=self.tr("Locked on request.")),
                                        self.tr("Lock the workstation; the password unlocks it"))
        self.settings_action = self._action("settings", self.tr("Se&ttings…"), ("Ctrl+,",), self.open_settings,
                                            self.tr("Language, font size, database and endpoints"))
        self.admin_action = self._action("admin", self.tr("&Administration…"), (), self.open_admin,
                                         self.tr("Accounts and signing credentials (administrator sign-in)"))
        self.sign_out_action = self._action("sign-out", self.tr("Sign &out"), (), self.sign_out,
                                            self.tr("Give back the claim and sign out"))
        self.quit_action = self._action("quit", self.tr("&Quit"), ("Ctrl+Q",), self.close, self.tr("Quit the workstation"))
        self.print_labels_action = self._action(
            "print-labels", self.tr("Print &labels…"), ("Ctrl+P",), self.print_labels,
            self.tr("Print the dispensing labels of the approved prescription selected in the queue"))
        self.print_labels_action.setEnabled(p.can(Action.PRINT_LABELS))
        self.batch_labels_action = self._action(
            "batch-labels", self.tr("Print the &day's labels…"), ("Ctrl+Shift+P",), self.print_days_labels,
            self.tr("Print the labels of today's approved prescriptions in one job"))
        self.batch_labels_action.setEnabled(p.can(Action.PRINT_LABELS))
        self.check_label_action = self._action(
            "check-label", self.tr("Chec&k a label…"), ("Ctrl+Shift+V",), self.check_label,
            self.tr("Scan or type a label's QR code: does it belong to an approved, unaltered prescription?"))
        self.dashboard_action = self._action(
            "dashboard", self.tr("On-duty &coverage…"), ("Ctrl+Shift+D",), self.open_dashboard,
            self.tr("Who is on duty, the backlog, waiting times and the coverage timeline (leads)"))
        self.dashboard_action.setEnabled(p.can(Action.VIEW_COVERAGE))
        self.roster_action = self._action(
            "roster", self.tr("&Roster…"), ("Ctrl+Shift+O",), self.open_roster,
            self.tr("The week's shifts: a lead edits them (each change asks why); a pharmacist sees their own"))
        self.shortcuts_action = self._action("shortcuts", self.tr("&Keyboard shortcuts"), ("F1",), self.show_shortcuts,
                                             self.tr("List every keyboard shortcut"))

    def _build_menus(self) -> None:
        bar = self.menuBar()
        rx = bar.addMenu(self.tr("&Prescription"))
        for a in (self.claim_next_action, self.claim_selected_action, self.open_action, self.search_action,
                  self.refresh_action):
            rx.addAction(a)
        decide = bar.addMenu(self.tr("&Decision"))
        for a in (self.panel.approve_action, self.panel.reject_action, self.panel.return_action,
                  self.panel.acknowledge_action):
            decide.addAction(a)
        labels_menu = bar.addMenu(self.tr("La&bels"))
        for a in (self.print_labels_action, self.batch_labels_action, self.check_label_action):
            labels_menu.addAction(a)
        tools = bar.addMenu(self.tr("&Workstation"))
        for a in (self.dashboard_action, self.roster_action, self.lock_action, self.settings_action,
                  self.admin_action, self.sign_out_action, self.quit_action):
            tools.addAction(a)
        help_menu = bar.addMenu(self.tr("&Help"))
        help_menu.addAction(self.shortcuts_action)
        for menu in (rx, decide, labels_menu, tools, help_menu):
            menu.setToolTipsVisible(True)

    def own_actions(self) -> list[QAction]:
        return [self.claim_next_action, self.claim_selected_action, self.open_action, self.search_action,
                self.refresh_action, self.print_labels_action, self.batch_labels_action, self.check_label_action,
                self.dashboard_action, self.roster_action, self.lock_action, self.settings_action,
                self.admin_action, self.sign_out_action, self.quit_action, self.shortcuts_action]

    def all_actions(self) -> list[QAction]:
        """Every action with its shortcut (the panel's act only while the panel is on screen)."""
        return [*self.own_actions(), self.panel.approve_action, self.panel.reject_action, self.panel.return_action,
                self.panel.acknowledge_action]

    def show_shortcuts(self) -> None:
        lines = [f"{a.text().replace('&', '')}\t{_keys(a) or '—'}" for a in self.all_actions()]
        messages.info(self, "\n".join(lines), title=self.tr("Keyboard shortcuts"))

    # -- layout memory (per user)

    def _layout_key(self) -> str:
        p = self.ctx.principal
        return f"layout/{(p.licence or p.name) if p else 'anonymous'}"

    def _restore_layout(self) -> None:
        s = QSettings("rxws", "workstation")
        key = self._layout_key()
        for name, restore in (("geometry", self.restoreGeometry), ("state", self.restoreState),
                              ("split", self.split.restoreState), ("lower", self.lower_split.restoreState)):
            value = s.value(f"{key}/{name}")
            if isinstance(value, QByteArray):
                restore(value)
        if s.value(f"{key}/geometry") is None:
            self.resize(1366, 768)
            self.split.setSizes([240, 470])
            self.lower_split.setSizes([960, 400])

    def save_layout(self) -> None:
        s = QSettings("rxws", "workstation")
        key = self._layout_key()
        s.setValue(f"{key}/geometry", self.saveGeometry())
        s.setValue(f"{key}/state", self.saveState())
        s.setValue(f"{key}/split", self.split.saveState())
        s.setValue(f"{key}/lower", self.lower_split.saveState())
        s.sync()

    # -- polling: intake, summaries, status

    def set_polling(self, seconds: float | None) -> None:
        self._poll.stop()
        self.queue.set_polling(None)  # the window refreshes the queue after each poll
        if seconds:
            self._poll.setInterval(int(seconds * 1000))
            self._poll.start()

    def poll(self) -> None:
        """Take in the inbox, summarise new prescriptions for the queue, read the status; then refresh the queue."""
        if self._polling:
            return
        self._polling = True
        ws, principal = self.ctx.ws, self.ctx.principal
        pharmacist_id = principal.pharmacist_id if principal else None

        lead = principal is not None and principal.can(Action.VIEW_COVERAGE)

        def work() -> tuple[WorkstationStatus, list[str], list[Alert]]:
            inbox = ws.settings.inbox_dir
            if inbox.is_dir():
                process_inbox(inbox, ws.intake.ingest_many)
            now = datetime.now(timezone.utc)
            high_risk = queue_service.refresh_summaries(ws.uow, ws.reviewer(), now)
            alerts = ws.coverage.alerts() if lead else []
            return workstation_status(ws.uow(), pharmacist_id=pharmacist_id, now=now), high_risk, alerts

        self.ctx.tasks.submit(work, on_done=self._polled, on_error=self._poll_failed)

    def _polled(self, polled: tuple[WorkstationStatus, list[str], list[Alert]]) -> None:
        self._polling = False
        status, high_risk, alerts = polled
        self.status.set_status(status, pull_configured=self.ctx.ws.settings.fhir_server.base_url is not None)
        self.queue.summaries_refreshed(high_risk)
        self.queue.refresh()
        self.coverage_alerts = alerts
        for alert in alerts:  # each gap is announced once; the status bar keeps saying it
            key = (alert.kind, alert.start.isoformat())
            text = alert.text(self.ctx.ws.settings.pharmacy_time_zone)
            self.status.show_alert(text)
            if key not in self._announced:
                self._announced.add(key)
                self._notify(text)

    def _poll_failed(self, exc: BaseException, tb: str) -> None:
        self._polling = False
        # A poll runs every few seconds: say it in the status bar (and the log), not in a dialog each time.
        messages.log.error("poll failed: %s\n%s", exc, tb)
        self.status.show_alert(self.tr("Could not refresh: %1").replace("%1", str(exc)))

    def _high_risk(self, numbers: list[str]) -> None:
        text = self.tr("New high-risk prescriptions: %1").replace("%1", "、".join(numbers))
        self.status.show_alert(text)
        self._notify(text)

    def _notify(self, text: str) -> None:
        """A desktop notification (and the taskbar's attention) for something that must not wait."""
        QApplication.alert(self)
        if QSystemTrayIcon.isSystemTrayAvailable():
            tray = getattr(self, "_tray", None)
            if tray is None:
                tray = self._tray = QSystemTrayIcon(self.windowIcon(), self)
                tray.show()
            tray.showMessage(self.tr("Rx Review Workstation"), text, QSystemTrayIcon.MessageIcon.Warning, 10_000)

    # -- claims and opening

    def claim_next(self) -> None:
        self._claim_then_open(None)

    def claim_selected(self) -> None:
        selected = self.queue.selected()
        if selected is None:
            self.status.show_alert(self.tr("Select a prescription in the queue first."))
            return
        self._claim_then_open(selected[1])

    def _claim_then_open(self, number: str | None) -> None:
        if self._locked:
            return
        ws, principal = self.ctx.ws, self.ctx.principal
        assert principal is not None
        previous = self._claim

        def work() -> tuple[ClaimInfo, PrescriptionDetail | None]:
            # Claim and open in one task: the pharmacist waits for one round trip to the worker, not two.
            if previous is not None and previous.number != number:
                ws.claims.release(principal, previous.prescription_id, reason="took another")
            info = ws.claims.claim(principal, number)
            try:
                return info, ws.detail.open(principal, info.prescription_id)
            except Exception:  # the claim holds: opening is tried again, and its failure shown, on its own
                return info, None

        self.ctx.tasks.submit(work, on_done=self._claimed, on_error=self._claim_failed)

    def _claimed(self, claimed: tuple[ClaimInfo, PrescriptionDetail | None]) -> None:
        info, detail = claimed
        self._claim = info
        self.status.set_claim(info.number, info.expires_at)
        self._renew.start()
        if detail is None:
            self.open_prescription(info.prescription_id)
        else:
            self._show(detail)
        self.queue.refresh_soon()

    def _claim_failed(self, exc: BaseException, tb: str) -> None:
        if isinstance(exc, QueueEmpty):
            self._claim = None
            self.status.set_claim(None, None)
            self.detail.clear()
            self.panel.clear()
            self.status.show_alert(self.tr("The queue is empty: no prescription is waiting."))
        elif isinstance(exc, ClaimError):
            messages.warning(self, str(exc))
        else:
            messages.error(self, self.tr("Could not claim: %1").replace("%1", str(exc)), detail=tb)
        self.queue.refresh()

    # -- labels

    def _label_number(self) -> str | None:
        selected = self.queue.selected()
        if selected is not None:
            return selected[1]
        return self.current.number if self.current is not None else None

    def print_labels(self, *, reprint: bool = False, number: str | None = None) -> None:
        number = number or self._label_number()
        if number is None:
            self.status.show_alert(self.tr("Select an approved prescription in the queue first."))
            return
        ws, principal, size = self.ctx.ws, self.ctx.principal, labels_ui.default_size()
        assert principal is not None

        def failed(exc: BaseException, tb: str) -> None:
            if isinstance(exc, AlreadyPrinted) and not reprint:
                if messages.confirm(self, self.tr("The labels of %1 were printed before. Print them again, marked 补打 "
                                                  "(reprint)?").replace("%1", number)):
                    self.print_labels(reprint=True, number=number)
                return
            if isinstance(exc, DomainError):
                messages.warning(self, str(exc), title=self.tr("Labels not printed"))
            else:
                messages.error(self, str(exc), detail=tb)

        self.ctx.tasks.submit(lambda: ws.labels.print(principal, number, size=size, reprint=reprint),
                              on_done=lambda printed: self._preview(printed.pdf, size, number), on_error=failed)

    def _preview(self, pdf: bytes, size: str, title: str) -> None:
        self.label_preview = labels_ui.LabelPreview(pdf, size, self.tr("Labels — %1").replace("%1", title), self)
        self.label_preview.open()

    def print_days_labels(self) -> None:
        ws, principal = self.ctx.ws, self.ctx.principal
        assert principal is not None
        today = datetime.now(ZoneInfo(ws.settings.pharmacy_time_zone)).date()

        def chosen(approved: list[Any]) -> None:
            if not approved:
                messages.info(self, self.tr("Nothing was approved today."))
                return
            chooser = labels_ui.BatchChooser(today.isoformat(), approved, self)
            if chooser.exec() != QDialog.DialogCode.Accepted or not chooser.chosen():
                return
            numbers, size = chooser.chosen(), chooser.stock.currentText()
            progress = labels_ui.Progress()
            self.label_progress = labels_ui.progress_dialog(self, progress, self.tr("Preparing labels…"))

            def done(batch: Any) -> None:
                self.label_progress.reset()
                if batch.refused:
                    messages.warning(self, "\n".join(f"{n}: {why}" for n, why in batch.refused),
                                     title=self.tr("Some labels were not printed"))
                if batch.pdf is not None:
                    self._preview(batch.pdf, size, self.tr("%1 prescriptions").replace("%1", str(len(batch.printed))))

            def failed(exc: BaseException, tb: str) -> None:
                self.label_progress.reset()
                messages.error(self, str(exc), detail=None if isinstance(exc, DomainError) else tb)

            self.ctx.tasks.submit(lambda: ws.labels.print_batch(principal, numbers, size=size, go_on=progress.go_on),
                                  on_done=done, on_error=failed)

        self.ctx.tasks.submit(lambda: ws.labels.approved_on(principal, today), on_done=chosen,
                              on_error=lambda exc, tb: messages.error(self, str(exc), detail=tb))

    def check_label(self, text: str | None = None) -> None:
        if text is None:
            text, ok = QInputDialog.getText(self, self.tr("Check a label"),
                                            self.tr("Scan the label's QR code, or type its text:"))
            if not ok or not text.strip():
                return
        ws, principal = self.ctx.ws, self.ctx.principal
        actor = principal.actor if principal is not None else "system:ui"
        zone = ws.settings.pharmacy_time_zone

        def checked(result: Any) -> None:
            if result.ok:
                messages.info(self, self.tr("Valid: prescription %1 v%2 for %3, approved and signed by %4 at %5; "
                                            "unaltered.").replace("%1", result.prescription)
                              .replace("%2", str(result.version)).replace("%3", result.patient or "?")
                              .replace("%4", result.pharmacist or "?")
                              .replace("%5", shown(result.approved_at, zone) if result.approved_at else "?"),
                              title=self.tr("Label check"))
            else:
                messages.warning(self, self.tr("NOT valid: %1").replace("%1", result.reason),
                                 title=self.tr("Label check"))

        self.ctx.tasks.submit(lambda: ws.labels.check(text or "", actor=actor), on_done=checked,
                              on_error=lambda exc, tb: messages.error(self, str(exc), detail=tb))

    def open_selected(self) -> None:
        selected = self.queue.selected()
        if selected is not None:
            self.open_prescription(selected[0])

    def open_prescription(self, prescription_id: int) -> None:
        if self._locked:
            return
        ws, principal = self.ctx.ws, self.ctx.principal
        assert principal is not None
        self.ctx.tasks.submit(lambda: ws.detail.open(principal, prescription_id),
                              on_done=self._show, on_error=self._open_failed)

    def _show(self, detail: Any) -> None:
        self.current = detail
        self.detail.show_detail(detail)
        if detail.holds_claim and detail.status == "received":
            self.panel.set_prescription(detail.number, detail.version, detail.content_sha256, detail.result)
        else:
            self.panel.clear()
            if self._claim is not None and self._claim.prescription_id == detail.prescription_id:
                self._claim = None  # the service says the claim is gone (expired, or decided elsewhere)
                self.status.set_claim(None, None)
        self.opened.emit(detail)

    def _open_failed(self, exc: BaseException, tb: str) -> None:
        messages.error(self, self.tr("Could not open the prescription: %1").replace("%1", str(exc)), detail=tb)

    def _renew_claim(self) -> None:
        claim, principal = self._claim, self.ctx.principal
        if claim is None or principal is None or self._locked:
            self._renew.stop()
            return
        claims = self.ctx.ws.claims
        self.ctx.tasks.submit(lambda: claims.renew(principal, claim.prescription_id),
                              on_done=lambda expires: self.status.set_claim(claim.number, expires),
                              on_error=self._lease_lost)

    def _lease_lost(self, exc: BaseException, tb: str) -> None:
        self._renew.stop()
        claim, self._claim = self._claim, None
        self.status.set_claim(None, None)
        self.panel.clear()
        if not isinstance(exc, ClaimError):
            messages.error(self, str(exc), detail=tb)
            return
        messages.warning(self, self.tr("Your claim on %1 has expired and the prescription went back to the queue. "
                                       "Claim it again to decide.").replace("%1", claim.number if claim else ""))
        if claim is not None:
            self.open_prescription(claim.prescription_id)  # shown again, masked: the claim is gone

    def _decided(self, info: DecisionInfo) -> None:
        self._renew.stop()
        self._claim = None
        self.status.set_claim(None, None)
        self.status.show_alert(self.tr("%1 decided (%2). Claiming the next…").replace("%1", info.number)
                               .replace("%2", info.kind))
        self.claim_next()

    # -- releases

    def _retry_release(self, decision_ids: tuple[str, ...]) -> None:
        ws, principal = self.ctx.ws, self.ctx.principal
        assert principal is not None

        def work() -> int:
            return sum(release.retry(ws.uow, principal, d) for d in decision_ids)

        def done(n: int) -> None:
            self.status.show_alert(self.tr("%1 release(s) queued again.").replace("%1", str(n)))
            self.poll()

        self.ctx.tasks.submit(work, on_done=done, on_error=lambda e, tb: messages.error(self, str(e), detail=tb))

    def open_roster(self) -> None:
        from ui.roster_editor import RosterEditor

        self.roster = RosterEditor(self.ctx, self)
        self.roster.open()

    def open_dashboard(self) -> None:
        from ui.dashboard import Dashboard

        self.dashboard = Dashboard(self.ctx, self)
        self.dashboard.open()

    # -- presence

    def presence_state(self) -> str:
        if self._locked:
            return "locked"
        return "reviewing" if self._claim is not None else "idle"

    def beat(self) -> None:
        """One heartbeat: this workstation's signed-in pharmacist and state (a lost database just misses one)."""
        principal, coverage_service = self.ctx.principal, self.ctx.ws.coverage
        if principal is None:
            return
        state, here = self.presence_state(), self.workstation_id
        self.ctx.tasks.submit(lambda: coverage_service.beat(principal, here, state),
                              on_error=lambda exc, tb: messages.log.warning("heartbeat failed: %s", exc))

    # -- lock, settings, admin, sign-out

    def lock(self, *, reason: str) -> None:
        if self._locked or self.ctx.principal is None:
            return
        self._locked = True
        if self.ctx.session is not None:
            self.ctx.session.lock()  # the signing key leaves memory; password and PIN are needed again
        self.lockscreen.prepare(self.ctx.principal, reason=reason)
        self.stack.setCurrentWidget(self.lockscreen)
        for a in self.own_actions():  # the panel's shortcuts are hidden with the work area
            if a not in (self.sign_out_action, self.quit_action):
                a.setEnabled(False)
        self.menuBar().setEnabled(False)
        self.beat()

    @property
    def locked(self) -> bool:
        return self._locked

    def _unlocked(self, principal: Principal) -> None:
        self._locked = False
        self.ctx.principal = principal
        self.beat()
        self.stack.setCurrentIndex(0)
        self.menuBar().setEnabled(True)
        for a in self.own_actions():
            a.setEnabled(True)
        self.claim_next_action.setEnabled(principal.can(Action.CLAIM))
        self.claim_selected_action.setEnabled(principal.can(Action.CLAIM))
        for a in (self.print_labels_action, self.batch_labels_action):
            a.setEnabled(principal.can(Action.PRINT_LABELS))
        self.dashboard_action.setEnabled(principal.can(Action.VIEW_COVERAGE))
        self.idle.touch()
        if self._claim is not None:
            self._renew.start()
            self._renew_claim()
            self.open_prescription(self._claim.prescription_id)

    def open_settings(self) -> None:
        from ui.settings_dialog import SettingsDialog

        SettingsDialog(self.ctx, self).exec()

    def open_admin(self) -> None:
        from ui.admin import AdminDialog

        AdminDialog(self.ctx, self).exec()

    def sign_out(self) -> None:
        self._give_back_claim()
        if self.ctx.session is not None:
            self.ctx.session.end()
            self.ctx.session = None
        self.signed_out.emit()
        self.close()

    def _give_back_claim(self) -> None:
        claim, principal, self._claim = self._claim, self.ctx.principal, None
        self._renew.stop()
        if claim is not None and principal is not None:
            claims = self.ctx.ws.claims
            self.ctx.tasks.submit(lambda: claims.release(principal, claim.prescription_id, reason="signed out"))

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt's name)
        self.save_layout()
        self._poll.stop()
        self._renew.stop()
        self._heartbeat.stop()
        if self.queue_listener is not None:
            self.queue_listener.stop()
        self._give_back_claim()
        coverage_service, here = self.ctx.ws.coverage, self.workstation_id
        self.ctx.tasks.submit(lambda: coverage_service.leave(here),
                              on_error=lambda exc, tb: messages.log.warning("presence not ended: %s", exc))
        if self.ctx.session is not None:
            self.ctx.session.end()
        app = QApplication.instance()
        if app is not None:
            app.removeEventFilter(self.idle)
        self.ctx.tasks.wait(10_000)
        super().closeEvent(event)
