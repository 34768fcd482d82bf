"""The decision panel (审核决定) docked beside the prescription: approve with a signature, reject, or return.

The panel shows what stands in the way of an approval (blocking findings, an unchecked prescription,
warnings not yet acknowledged) and disables Approve while it does, but it is not the guard: every path
ends in ``DecisionService``, which re-runs the rules and refuses on its own, and its refusal is shown as it is.
All service calls run on the task runner's database worker, never on the GUI thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QAction, QKeyEvent, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from review_rules.model import Finding, Result, Severity
from workstation.adapters.pki import WrongPin
from workstation.domain.accounts import AuthenticationFailed
from workstation.domain.errors import DomainError
from workstation.services.decisions import REASON_CODES, DecisionInfo, DecisionRefused
from workstation.services.signing import PasswordRequired, SigningSession

from ui import i18n, messages
from ui.context import AppContext
from ui.signing_dialog import SigningDialog

APPROVE_KEYS = (QKeySequence("Ctrl+Return"), QKeySequence("Ctrl+Enter"))
REJECT_KEY = QKeySequence("Ctrl+Shift+R")
RETURN_KEY = QKeySequence("Ctrl+Shift+B")
ACKNOWLEDGE_KEY = QKeySequence("Ctrl+K")
MAX_WARNINGS_HEIGHT = 320  # pixels of acknowledgement rows before they scroll


def _plain(text: str = "", *, wrap: bool = True) -> QLabel:
    label = QLabel(text)
    label.setTextFormat(Qt.TextFormat.PlainText)  # findings quote drug and patient text: never rich text
    label.setWordWrap(wrap)
    return label


def _chinese() -> bool:
    """Whether the window speaks Chinese (findings carry both languages; show the window's)."""
    try:
        return i18n.current_language() != "en"
    except i18n.I18nError:  # a bad language setting fails at start; here, fall back to the default
        return True


def _message(finding: Finding, chinese: bool) -> str:
    return finding.message_zh if chinese else finding.message_en


def _in_language(text: str, chinese: bool) -> str:
    """One half of a bilingual "中文 / English" text, the window's; any other text as it is."""
    parts = text.split(" / ")
    if len(parts) != 2 or not all(p.strip() for p in parts):
        return text
    return parts[0].strip() if chinese else parts[1].strip()


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _keys(seq: QKeySequence) -> str:
    return seq.toString(QKeySequence.SequenceFormat.NativeText)


class _PanelKeys(QObject):
    """Keeps the panel's shortcuts working inside its text fields: a line edit claims Ctrl+K for "delete to
    the end of the line" on Linux and macOS, which would swallow "acknowledge warnings" while typing a reason."""

    def __init__(self, keys: tuple[QKeySequence, ...], parent: QObject) -> None:
        super().__init__(parent)
        self._keys = keys

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt's name)
        if event.type() == QEvent.Type.ShortcutOverride and isinstance(event, QKeyEvent):
            # Left unaccepted, the override lets the shortcut fire instead of the field's own key binding.
            return QKeySequence(event.keyCombination()) in self._keys
        return False


@dataclass(eq=False)
class _Acknowledgement:
    """One warning rule's acknowledgement: a reason picked from its card, typed, or both."""

    rule_id: str
    box: QWidget
    combo: QComboBox
    edit: QLineEdit

    def reason(self) -> str:
        data = self.combo.currentData()
        picked = data.strip() if isinstance(data, str) else ""
        typed = self.edit.text().strip()
        return "；".join(part for part in (picked, typed) if part)


class DecisionPanel(QWidget):
    """Approve (审核通过), reject (审核不通过) or return to the prescriber (退回医师) the prescription on screen."""

    decided = Signal(object)  # the DecisionInfo, after the decision is stored
    failed = Signal(str)  # why a decision was not taken (already shown to the user)

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("decision-panel")
        self._ctx = ctx
        self._number: str | None = None
        self._version = 0
        self._sha = ""
        self._result: Result | None = None
        self._busy = False
        self._decided: DecisionInfo | None = None
        self._acks: list[_Acknowledgement] = []
        self._dialog: SigningDialog | None = None
        self._signing_session: SigningSession | None = None  # the session of the signature under way
        self._refusal_kind = "reject"
        self._chinese = _chinese()

        self.approve_action = self._action("approve", self.tr("Approve"), APPROVE_KEYS, self.approve)
        self.reject_action = self._action("reject", self.tr("Reject"), (REJECT_KEY,),
                                          lambda: self.start_refusal("reject"))
        self.return_action = self._action("return", self.tr("Return to prescriber"), (RETURN_KEY,),
                                          lambda: self.start_refusal("return"))
        self.acknowledge_action = self._action("acknowledge", self.tr("Acknowledge warnings"), (ACKNOWLEDGE_KEY,),
                                               self.focus_acknowledgement)

        self._keys = _PanelKeys((*APPROVE_KEYS, REJECT_KEY, RETURN_KEY, ACKNOWLEDGE_KEY), self)
        self.title_label = _plain()
        font = self.title_label.font()
        font.setBold(True)
        self.title_label.setFont(font)

        # warnings and their acknowledgements
        self.warnings_box = QGroupBox(self.tr("Warnings to acknowledge (%1)").replace("%1", _keys(ACKNOWLEDGE_KEY)))
        self._ack_host = QWidget()
        self._ack_layout = QVBoxLayout(self._ack_host)
        self._ack_layout.setContentsMargins(0, 0, 0, 0)
        self._ack_layout.addStretch(1)  # rows go above it: they keep their height, the rest stays empty
        self._scroll = QScrollArea()
        self._scroll.setWidgetResizable(True)
        self._scroll.setWidget(self._ack_host)
        self._scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        box_layout = QVBoxLayout(self.warnings_box)
        box_layout.addWidget(self._scroll)

        # approve, with why not beside it
        self.approve_button = self._button(self.approve_action, "approve-button")
        self.approve_reason = _plain()
        self.approve_reason.setObjectName("approve-reason")
        self.approve_reason.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        approve_row = QHBoxLayout()
        approve_row.addWidget(self.approve_button, 0, Qt.AlignmentFlag.AlignTop)
        approve_row.addWidget(self.approve_reason, 1)

        self.reject_button = self._button(self.reject_action, "reject-button")
        self.return_button = self._button(self.return_action, "return-button")
        refuse_row = QHBoxLayout()
        refuse_row.addWidget(self.reject_button)
        refuse_row.addWidget(self.return_button)
        refuse_row.addStretch(1)

        # reject / return: a reason code and a comment, both required
        self.refusal_box = QGroupBox()
        self.refusal_box.setObjectName("refusal-form")
        self.reason_combo = QComboBox()
        self.reason_combo.setObjectName("reason-code")
        self.reason_combo.addItem(self.tr("Choose a reason…"), None)
        labels = self._reason_labels()
        for code, zh in REASON_CODES.items():
            self.reason_combo.addItem(labels.get(code, zh), code)  # a code added to the service shows its own label
        self.comment_edit = QLineEdit()
        self.comment_edit.installEventFilter(self._keys)
        self.comment_edit.setObjectName("reason-comment")
        self.comment_edit.setPlaceholderText(self.tr("Comment for the prescriber (required)"))
        self.refusal_hint = _plain()
        self.confirm_refusal = QPushButton()
        self.confirm_refusal.setObjectName("confirm-refusal")
        self.cancel_refusal = QPushButton(self.tr("Cancel"))
        for b in (self.confirm_refusal, self.cancel_refusal):
            b.setAutoDefault(False)
        self.reason_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.reason_combo.setMinimumContentsLength(16)
        form = QFormLayout()
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow(self.tr("Reason:"), self.reason_combo)
        form.addRow(self.tr("Comment:"), self.comment_edit)
        form_buttons = QHBoxLayout()
        form_buttons.addStretch(1)
        form_buttons.addWidget(self.confirm_refusal)
        form_buttons.addWidget(self.cancel_refusal)
        refusal_layout = QVBoxLayout(self.refusal_box)
        refusal_layout.addLayout(form)
        refusal_layout.addWidget(self.refusal_hint)
        refusal_layout.addLayout(form_buttons)
        self.refusal_box.hide()
        self.reason_combo.currentIndexChanged.connect(self._refresh)
        self.comment_edit.textChanged.connect(self._refresh)
        self.comment_edit.returnPressed.connect(self.submit_refusal)
        self.confirm_refusal.clicked.connect(self.submit_refusal)
        self.cancel_refusal.clicked.connect(self.cancel_refusal_form)

        self.status_label = _plain()
        self.status_label.setObjectName("decision-status")

        layout = QVBoxLayout(self)
        layout.addWidget(self.title_label)
        layout.addWidget(self.warnings_box)
        layout.addLayout(approve_row)
        layout.addLayout(refuse_row)
        layout.addWidget(self.refusal_box)
        layout.addWidget(self.status_label)
        layout.addStretch(1)
        self.clear()

    # -- building blocks

    def _action(self, name: str, text: str, keys: tuple[QKeySequence, ...], slot: Any) -> QAction:
        action = QAction(text, self)
        action.setObjectName(f"action-{name}")
        action.setShortcuts(list(keys))
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.setToolTip(f"{text} ({_keys(keys[0])})")
        action.triggered.connect(slot)
        self.addAction(action)
        return action

    def _button(self, action: QAction, name: str) -> QPushButton:
        button = QPushButton(action.text())
        button.setObjectName(name)
        button.setToolTip(action.toolTip())
        button.setAutoDefault(False)
        button.clicked.connect(action.trigger)  # a disabled action does nothing, whatever calls it
        return button

    def _reason_labels(self) -> dict[str, str]:
        return {
            "diagnosis_mismatch": self.tr("Diagnosis does not match the drugs"),
            "dose_inappropriate": self.tr("Inappropriate dose"),
            "duplicate_therapy": self.tr("Duplicate therapy"),
            "interaction": self.tr("Drug interaction"),
            "off_label": self.tr("Off-label use"),
            "incomplete": self.tr("Incomplete information"),
            "special_drug": self.tr("Controlled drug: not prescribable online"),
            "not_follow_up": self.tr("Not a follow-up or diagnosis unconfirmed"),
            "other": self.tr("Other"),
        }

    # -- what the window calls

    @property
    def number(self) -> str | None:
        return self._number

    @property
    def signing_dialog(self) -> SigningDialog | None:
        """The signing dialog while it is open."""
        return self._dialog

    def set_prescription(self, number: str, version: int, content_sha256: str, result: Result) -> None:
        """Show the decision for this prescription version, judged by ``result`` (what the detail view computed)."""
        self._number, self._version, self._sha, self._result = number, version, content_sha256, result
        self._decided = None
        self.title_label.setText(self.tr("Decision on %1, version %2").replace("%1", number).replace("%2", str(version)))
        self.status_label.clear()
        self._build_acknowledgements([f for f in result.findings if f.severity is Severity.WARN])
        self.cancel_refusal_form()
        self._refresh()

    def clear(self) -> None:
        self._number, self._version, self._sha, self._result, self._decided = None, 0, "", None, None
        self.title_label.setText(self.tr("No prescription open"))
        self.status_label.clear()
        self._build_acknowledgements([])
        self.cancel_refusal_form()
        self._refresh()

    def acknowledgements(self) -> dict[str, str]:
        """Each acknowledged warning rule's reason."""
        return {a.rule_id: a.reason() for a in self._acks if a.reason()}

    def approval_blocker(self) -> str | None:
        """Why Approve is disabled, in words; None when nothing on screen stands in the way."""
        result = self._result
        if self._number is None or result is None:
            return self.tr("No prescription open.")
        if self._decided is not None:
            return self.tr("Decided.")
        if not result.checked:
            return self.tr("Not checked, so it cannot be approved: %1").replace("%1", result.error or "?")
        blocks = _unique([f.rule_id for f in result.findings if f.severity is Severity.BLOCK])
        if blocks:
            return self.tr("%n blocking finding(s):", "", len(blocks)) + " " + ", ".join(blocks)
        missing = [a.rule_id for a in self._acks if not a.reason()]
        if missing:
            return (self.tr("%n warning(s) to acknowledge:", "", len(missing)) + " " + ", ".join(missing)
                    + f" ({_keys(ACKNOWLEDGE_KEY)})")
        return None

    # -- warnings

    def _build_acknowledgements(self, warns: list[Finding]) -> None:
        for a in self._acks:
            self._ack_layout.removeWidget(a.box)
            a.box.deleteLater()
        self._acks = []
        by_rule: dict[str, list[Finding]] = {}
        for f in warns:
            by_rule.setdefault(f.rule_id, []).append(f)
        for rule_id, findings in by_rule.items():
            box = QWidget()
            box.setObjectName(f"ack-{rule_id}")
            rows = QVBoxLayout(box)
            rows.setContentsMargins(0, 0, 0, 6)
            text = "\n".join(_unique([_message(f, self._chinese) for f in findings]))
            rows.addWidget(_plain(self.tr("Warning") + f" · {rule_id}\n{text}"))
            combo = QComboBox()
            combo.setObjectName(f"ack-reason-{rule_id}")
            combo.addItem(self.tr("Pick a reason…"), None)
            for reason in _unique([r for f in findings for r in f.override_reasons]):
                combo.addItem(_in_language(reason, self._chinese), reason)  # the reason kept is the card's own text
                combo.setItemData(combo.count() - 1, reason, Qt.ItemDataRole.ToolTipRole)
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(12)
            edit = QLineEdit()
            edit.installEventFilter(self._keys)
            edit.setObjectName(f"ack-text-{rule_id}")
            edit.setPlaceholderText(self.tr("or type a reason"))
            rows.addWidget(combo)
            rows.addWidget(edit)
            combo.currentIndexChanged.connect(self._refresh)
            edit.textChanged.connect(self._refresh)
            self._ack_layout.insertWidget(self._ack_layout.count() - 1, box)
            self._acks.append(_Acknowledgement(rule_id, box, combo, edit))
        self.warnings_box.setVisible(bool(self._acks))
        # As tall as its rows up to a limit; many warnings scroll instead of pushing Approve off the panel.
        self._scroll.setMinimumHeight(min(self._ack_host.sizeHint().height() + 2, MAX_WARNINGS_HEIGHT))

    def focus_acknowledgement(self) -> None:
        """Ctrl+K: the first warning still without a reason (or the first warning)."""
        if not self._acks:
            return
        target = next((a for a in self._acks if not a.reason()), self._acks[0])
        self._scroll.ensureWidgetVisible(target.box)
        target.combo.setFocus(Qt.FocusReason.ShortcutFocusReason)

    # -- state

    def _refresh(self) -> None:
        open_ = self._number is not None and not self._busy and self._decided is None
        blocker = self.approval_blocker()
        self.approve_action.setEnabled(open_ and blocker is None)
        self.reject_action.setEnabled(open_)
        self.return_action.setEnabled(open_)
        self.acknowledge_action.setEnabled(open_ and bool(self._acks))
        for action, button in ((self.approve_action, self.approve_button), (self.reject_action, self.reject_button),
                               (self.return_action, self.return_button)):
            button.setEnabled(action.isEnabled())
        for a in self._acks:
            a.combo.setEnabled(open_)
            a.edit.setEnabled(open_)
        if self._busy:
            self.approve_reason.setText(self.tr("Working…"))
        elif blocker is None:
            self.approve_reason.setText(self.tr("Nothing stands in the way: approve with %1.")
                                        .replace("%1", _keys(APPROVE_KEYS[0])))
        else:
            self.approve_reason.setText(blocker)
        result = self._result
        blocks = [f for f in (result.findings if result else ()) if f.severity is Severity.BLOCK]
        self.approve_reason.setToolTip("\n".join(f"{f.rule_id}: {_message(f, self._chinese)}" for f in blocks))
        code, comment = self.reason_combo.currentData(), self.comment_edit.text().strip()
        self.confirm_refusal.setEnabled(open_ and bool(code) and bool(comment))
        self.reason_combo.setEnabled(open_)
        self.comment_edit.setEnabled(open_)
        if not code:
            self.refusal_hint.setText(self.tr("Choose a reason code."))
        elif not comment:
            self.refusal_hint.setText(self.tr("A comment is required."))
        else:
            self.refusal_hint.clear()

    def _set_busy(self, busy: bool) -> None:
        self._busy = busy
        self._refresh()

    # -- approve

    def approve(self) -> None:
        """Open the signing dialog and, when signed, ask the service to approve (which refuses on its own)."""
        principal = self._ctx.principal
        if self._number is None or self._dialog is not None or self._busy:
            return
        if principal is None or principal.licence is None:
            messages.error(self, self.tr("Sign in as a pharmacist to decide."))
            return
        session = self._ctx.session
        if session is None or session.principal.pharmacist_id != principal.pharmacist_id:
            session = self._ctx.ws.signing.begin(principal)  # no I/O: the first signature asks for the password
            self._ctx.session = session
        dialog = SigningDialog(self, needs_password=session.needs_password(datetime.now(UTC)), number=self._number,
                               version=self._version, content_sha256=self._sha, decision_label=self.tr("Approve"),
                               signer_name=principal.name, licence=principal.licence, defer=True)
        dialog.sign_requested.connect(self._sign)
        dialog.finished.connect(self._dialog_closed)
        self._dialog = dialog
        dialog.open()

    def _sign(self) -> None:
        dialog, principal, session, number = self._dialog, self._ctx.principal, self._ctx.session, self._number
        if dialog is None or principal is None or session is None or number is None:
            return
        password, pin = dialog.values()
        acknowledged = self.acknowledgements()
        decisions = self._ctx.ws.decisions
        self._signing_session = session
        self._set_busy(True)
        self._ctx.tasks.submit(
            lambda: decisions.approve(principal, session, number, pin=pin, password=password, acknowledged=acknowledged),
            on_done=self._approved, on_error=self._approve_failed)

    def _dialog_closed(self, _code: int) -> None:
        if self._dialog is not None:
            self._dialog.wipe()
            self._dialog.deleteLater()
        self._dialog = None
        # Keyboard flow: the window's shortcuts (Ctrl+Return for the next one) work again at once.
        self.window().activateWindow()

    def _approved(self, info: DecisionInfo) -> None:
        dialog = self._dialog
        if dialog is not None:
            dialog.set_busy(False)
            dialog.accept()
        self._busy = False
        self._finish(info, self.tr("Approved and signed: %1 version %2"))
        warning = self._signing_session.clock_warning if self._signing_session else None
        if warning:
            self.status_label.setText(self.status_label.text() + "\n" + self.tr("Note:") + " " + warning)

    def _approve_failed(self, exc: BaseException, tb: str) -> None:
        dialog = self._dialog
        self._busy = False
        if dialog is not None and isinstance(exc, WrongPin):
            dialog.show_error(str(exc))
            self._refresh()
            return
        if dialog is not None and isinstance(exc, PasswordRequired):
            dialog.show_error(str(exc), needs_password=True)
            self._refresh()
            return
        if dialog is not None and isinstance(exc, AuthenticationFailed):
            dialog.wrong_password(str(exc))
            self._refresh()
            return
        if dialog is not None:
            dialog.set_busy(False)
            dialog.reject()
        self._refresh()
        self._report(exc, tb, self.tr("Approval refused"))

    # -- reject and return

    def start_refusal(self, kind: str) -> None:
        """Open the reason form for ``reject`` (审核不通过) or ``return`` (退回医师)."""
        if kind not in ("reject", "return"):
            raise ValueError(kind)
        if self._number is None or self._busy or self._decided is not None:
            return
        self._refusal_kind = kind
        title = self.tr("Reject") if kind == "reject" else self.tr("Return to prescriber")
        self.refusal_box.setTitle(title)
        self.confirm_refusal.setText(self.tr("Confirm: %1").replace("%1", title))
        self.refusal_box.show()
        self._refresh()
        self.reason_combo.setFocus(Qt.FocusReason.ShortcutFocusReason)

    def cancel_refusal_form(self) -> None:
        self.refusal_box.hide()
        self.reason_combo.setCurrentIndex(0)
        self.comment_edit.clear()

    def submit_refusal(self) -> None:
        principal, number = self._ctx.principal, self._number
        if principal is None or number is None or self._busy or not self.refusal_box.isVisible():
            return
        code, comment = self.reason_combo.currentData(), self.comment_edit.text().strip()
        if not code:
            self.reason_combo.setFocus(Qt.FocusReason.OtherFocusReason)
            return
        if not comment:
            self.comment_edit.setFocus(Qt.FocusReason.OtherFocusReason)
            return
        decisions, kind = self._ctx.ws.decisions, self._refusal_kind
        self._set_busy(True)

        def refuse() -> DecisionInfo:
            if kind == "reject":
                return decisions.reject(principal, number, code=str(code), comment=comment)
            return decisions.return_to_prescriber(principal, number, code=str(code), comment=comment)

        self._ctx.tasks.submit(refuse, on_done=self._refused, on_error=self._refusal_failed)

    def _refused(self, info: DecisionInfo) -> None:
        self._busy = False
        self.cancel_refusal_form()
        self._finish(info, self.tr("Rejected: %1 version %2") if info.kind == "reject"
                     else self.tr("Returned to the prescriber: %1 version %2"))

    def _refusal_failed(self, exc: BaseException, tb: str) -> None:
        self._busy = False
        self._refresh()
        self._report(exc, tb, self.tr("Decision refused"))

    # -- shared

    def _finish(self, info: DecisionInfo, template: str) -> None:
        if info.number == self._number:
            self._decided = info
        self.status_label.setText(template.replace("%1", info.number).replace("%2", str(info.version)))
        self._refresh()
        self.decided.emit(info)

    def _report(self, exc: BaseException, tb: str, title: str) -> None:
        if isinstance(exc, DecisionRefused):
            text = str(exc)
            lines = [line for line in _unique([f"{f.rule_id}: {_message(f, self._chinese)}" for f in exc.findings])
                     if line not in text]  # the service's message may already name them
            messages.warning(self, "\n".join([text, *lines]), title=title)
        elif isinstance(exc, DomainError):
            messages.error(self, str(exc), title=title)
        else:
            messages.error(self, self.tr("The decision could not be stored: %1").replace("%1", str(exc)),
                           detail=tb, title=title)
        self.failed.emit(str(exc))
