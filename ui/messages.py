"""The one way the window tells people things: ``error``, ``warning``, ``info`` and ``confirm``.

Dialogs are parented and plain text (drug and patient strings can contain ``<``); every error is
also logged, with its traceback when there is one. Nothing here swallows an exception.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QCoreApplication, Qt
from PySide6.QtWidgets import QMessageBox, QWidget

log = logging.getLogger("rxws.ui")


def _box(parent: QWidget | None, icon: QMessageBox.Icon, title: str, text: str, detail: str | None) -> QMessageBox:
    box = QMessageBox(icon, title, text, QMessageBox.StandardButton.Ok, parent)
    box.setTextFormat(Qt.TextFormat.PlainText)
    if detail:
        box.setDetailedText(detail)
    box.setObjectName(f"message-{icon.name.lower()}")
    return box


def _show(box: QMessageBox) -> int:
    """Show modally; tests replace this one function to read what would have been shown."""
    return box.exec()


def error(parent: QWidget | None, text: str, *, detail: str | None = None, title: str | None = None) -> None:
    """An operation failed: say what, in plain text, and log it (``detail`` is e.g. a traceback)."""
    log.error("%s%s", text, f"\n{detail}" if detail else "")
    _show(_box(parent, QMessageBox.Icon.Critical, title or QCoreApplication.translate("messages", "Error"), text, detail))


def warning(parent: QWidget | None, text: str, *, title: str | None = None) -> None:
    log.warning("%s", text)
    _show(_box(parent, QMessageBox.Icon.Warning, title or QCoreApplication.translate("messages", "Warning"), text, None))


def info(parent: QWidget | None, text: str, *, title: str | None = None) -> None:
    log.info("%s", text)
    _show(_box(parent, QMessageBox.Icon.Information, title or QCoreApplication.translate("messages", "Information"),
         text, None))


def confirm(parent: QWidget | None, text: str, *, title: str | None = None) -> bool:
    box = _box(parent, QMessageBox.Icon.Question, title or QCoreApplication.translate("messages", "Please confirm"),
               text, None)
    box.setStandardButtons(QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No)
    box.setDefaultButton(QMessageBox.StandardButton.No)
    return _show(box) == QMessageBox.StandardButton.Yes
