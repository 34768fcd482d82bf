"""Labels in the window: preview, print through Qt's print support, save as PDF, reprint, a day's batch, scan check."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pypdf
import pytest
from PySide6.QtPrintSupport import QPrinter
from PySide6.QtWidgets import QDialog, QFileDialog, QPushButton
from sqlalchemy import select

from tests.ui.test_workflow import CLEAN, PHARMACIST, make_window, number
from workstation.adapters.db import orm
from workstation.bootstrap import Workstation
from workstation.services import demo

from ui import labels as labels_ui
from ui import messages


def approve(ws: Workstation, num: str) -> None:
    who = ws.accounts.authenticate(PHARMACIST, demo.DEMO_PASSWORD, where="test")
    ws.claims.claim(who, num)
    session = ws.signing.begin(who)
    ws.decisions.approve(who, session, num, pin=demo.DEMO_PIN, password=demo.DEMO_PASSWORD)
    session.end()


def label_events(ws: Workstation) -> list[str]:
    with ws.uow() as uow:
        return list(uow.session.scalars(select(orm.AuditEvent.action).where(
            orm.AuditEvent.action.startswith("label.")).order_by(orm.AuditEvent.id)))


def preview_of(qtbot: Any, window: Any) -> labels_ui.LabelPreview:
    qtbot.waitUntil(lambda: getattr(window, "label_preview", None) is not None and window.label_preview.isVisible(),
                    timeout=20_000)
    preview: labels_ui.LabelPreview = window.label_preview
    return preview


def test_labels_preview_print_to_a_printer_and_save_as_pdf(qtbot: Any, demo_ws: tuple[Workstation, str],
                                                           tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           shown_messages: list[str]) -> None:
    ws, series = demo_ws
    num = number(series, CLEAN)
    approve(ws, num)
    window = make_window(qtbot, ws)
    assert window.print_labels_action.shortcut().toString() == "Ctrl+P"
    window.print_labels(number=num)
    preview = preview_of(qtbot, window)
    assert len(preview.images) >= 1 and num in preview.windowTitle()
    pages = len(preview.images)

    printer = QPrinter(QPrinter.PrinterMode.HighResolution)
    printer.setOutputFormat(QPrinter.OutputFormat.PdfFormat)
    printer.setOutputFileName(str(tmp_path / "printed.pdf"))
    preview.print_labels(printer)
    printed = pypdf.PdfReader(str(tmp_path / "printed.pdf"))
    assert len(printed.pages) == pages
    width_mm = float(printed.pages[0].mediabox.width) / 72 * 25.4
    assert abs(width_mm - 60) < 1  # paper the size of the label stock

    window.print_labels(number=num)  # printed before: only as a reprint, and this time the answer is no
    qtbot.waitUntil(lambda: any("补打" in m for m in shown_messages), timeout=20_000)
    monkeypatch.setattr(messages, "confirm", lambda parent, text, title=None: "补打" in text)
    window.label_preview = None
    window.print_labels(number=num)
    preview = preview_of(qtbot, window)
    target = tmp_path / "saved.pdf"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), "PDF (*.pdf)"))
    preview.save_pdf()
    text = "".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(target.read_bytes())).pages)
    assert "补打" in text and num in text
    # Printing through Qt is no new print; each "printed before" is on the record, then the reprint.
    assert label_events(ws) == ["label.printed", "label.refused", "label.refused", "label.reprinted"]


def test_a_prescription_that_is_not_approved_gets_no_labels(qtbot: Any, demo_ws: tuple[Workstation, str],
                                                            shown_messages: list[str]) -> None:
    ws, series = demo_ws
    window = make_window(qtbot, ws)
    window.print_labels(number=number(series, CLEAN))
    qtbot.waitUntil(lambda: bool(shown_messages), timeout=20_000)
    assert "not approved" in shown_messages[0] and label_events(ws) == ["label.refused"]


def test_the_days_labels_print_in_one_job_and_the_scan_check_answers(
        qtbot: Any, demo_ws: tuple[Workstation, str], monkeypatch: pytest.MonkeyPatch,
        shown_messages: list[str]) -> None:
    ws, series = demo_ws
    for case in (CLEAN, 2):
        approve(ws, number(series, case))
    window = make_window(qtbot, ws)
    chooser_seen: list[labels_ui.BatchChooser] = []

    def accept(self: labels_ui.BatchChooser) -> int:
        chooser_seen.append(self)
        return int(QDialog.DialogCode.Accepted.value)
    monkeypatch.setattr(labels_ui.BatchChooser, "exec", accept)
    window.print_days_labels()
    preview = preview_of(qtbot, window)
    [chooser] = chooser_seen
    assert chooser.chosen() == [number(series, CLEAN), number(series, 2)]
    assert window.label_progress.objectName() == "label-progress"
    assert label_events(ws) == ["label.printed", "label.printed"] and len(preview.images) >= 2

    with ws.uow() as uow:
        details = [json.loads(d) for d in uow.session.scalars(select(orm.AuditEvent.details).where(
            orm.AuditEvent.action == "label.printed"))]
    window.check_label(details[0]["qr"])
    qtbot.waitUntil(lambda: bool(shown_messages), timeout=20_000)
    assert "有效" in shown_messages[-1] or "Valid" in shown_messages[-1]
    window.check_label("RXWS1/nothing")
    qtbot.waitUntil(lambda: len(shown_messages) == 2, timeout=20_000)
    assert "NOT valid" in shown_messages[-1] or "无效" in shown_messages[-1]


def test_cancelling_the_progress_dialog_tells_the_worker_to_stop(qtbot: Any) -> None:
    progress = labels_ui.Progress()
    parent = QDialog()
    qtbot.addWidget(parent)
    dialog = labels_ui.progress_dialog(parent, progress, "…")
    assert progress.go_on(0, 3) and dialog.maximum() == 3
    [cancel] = dialog.findChildren(QPushButton)
    cancel.click()
    assert not progress.go_on(1, 3)


def test_no_two_actions_share_a_shortcut(qtbot: Any, demo_ws: tuple[Workstation, str]) -> None:
    ws, _ = demo_ws
    window = make_window(qtbot, ws)
    keys = [k.toString() for a in window.all_actions() for k in a.shortcuts()]
    assert len(keys) == len(set(keys)), sorted(k for k in keys if keys.count(k) > 1)
