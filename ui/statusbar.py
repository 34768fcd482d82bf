"""The status bar (状态栏): who is signed in, the claim and its lease, intake and its last sync, the release outbox."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QLabel, QPushButton, QStatusBar, QWidget

from workstation.domain.accounts import Action, Principal
from workstation.services.status import WorkstationStatus


def _label(parent: QWidget, name: str) -> QLabel:
    label = QLabel(parent)
    label.setObjectName(name)
    label.setTextFormat(Qt.TextFormat.PlainText)
    return label


class StatusBar(QStatusBar):
    retry_requested = Signal(tuple)  # decision ids whose release failed

    def __init__(self, time_zone: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("statusbar")
        self._tz = ZoneInfo(time_zone)
        self.user = _label(self, "status-user")
        self.claim = _label(self, "status-claim")
        self.intake = _label(self, "status-intake")
        self.outbox = _label(self, "status-outbox")
        self.retry = QPushButton(self.tr("Retry release"), self)
        self.retry.setObjectName("status-retry")
        self.retry.setToolTip(self.tr("Send the failed releases again (pharmacy leads)"))
        self.retry.setVisible(False)
        self.retry.clicked.connect(self._retry)
        self.alert = _label(self, "status-alert")
        for w in (self.user, self.claim, self.intake, self.outbox):
            self.addPermanentWidget(w)
        self.addPermanentWidget(self.retry)
        self.addWidget(self.alert, 1)
        self._expires: datetime | None = None
        self._claim_number: str | None = None
        self._failed: tuple[str, ...] = ()
        self._can_retry = False
        self._tick = QTimer(self)
        self._tick.setInterval(1000)
        self._tick.timeout.connect(self._show_claim)
        self._tick.start()

    def _local(self, moment: datetime) -> str:
        return moment.astimezone(self._tz).strftime("%H:%M:%S")

    def set_principal(self, principal: Principal | None) -> None:
        if principal is None:
            self.user.setText(self.tr("Not signed in"))
            self._can_retry = False
        else:
            self.user.setText(self.tr("Signed in: %1 (%2)").replace("%1", principal.name)
                              .replace("%2", principal.licence or ""))
            self._can_retry = principal.can(Action.RETRY_RELEASE)
        self._update_retry()

    def set_claim(self, number: str | None, expires_at: datetime | None) -> None:
        self._claim_number, self._expires = number, expires_at
        self._show_claim()

    def lease_seconds_left(self, now: datetime | None = None) -> int | None:
        if self._expires is None:
            return None
        now = now or datetime.now(timezone.utc)
        return max(0, int((self._expires - now).total_seconds()))

    def _show_claim(self) -> None:
        left = self.lease_seconds_left()
        if self._claim_number is None or left is None:
            self.claim.setText(self.tr("No claim"))
        elif left == 0:
            self.claim.setText(self.tr("Claim on %1 expired").replace("%1", self._claim_number))
        else:
            self.claim.setText(self.tr("Claimed %1 · %2:%3 left").replace("%1", self._claim_number)
                               .replace("%2", str(left // 60)).replace("%3", f"{left % 60:02d}"))

    def set_status(self, status: WorkstationStatus, *, pull_configured: bool) -> None:
        last = self.tr("never") if status.last_intake_at is None else self._local(status.last_intake_at)
        text = self.tr("Waiting %1 · intake: inbox").replace("%1", str(status.waiting))
        if pull_configured:
            pulled = self.tr("never") if status.last_pull_at is None else self._local(status.last_pull_at)
            text += self.tr(", FHIR pull (last %1)").replace("%1", pulled)
        text += self.tr(" · last received %1").replace("%1", last)
        self.intake.setText(text)
        self.outbox.setText(self.tr("Release: %1 pending, %2 failed").replace("%1", str(status.outbox_pending))
                            .replace("%2", str(status.outbox_failed)))
        self._failed = status.failed_decisions
        self._update_retry()
        if status.claim_number is not None or self._claim_number is not None:
            self.set_claim(status.claim_number, status.claim_expires_at)

    def _update_retry(self) -> None:
        self.retry.setVisible(self._can_retry and bool(self._failed))

    def _retry(self) -> None:
        if self._failed:
            self.retry_requested.emit(self._failed)

    def show_alert(self, text: str) -> None:
        self.alert.setText(text)
