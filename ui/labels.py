"""Dispensing labels in the window: preview, print to a chosen printer, save as PDF, a day's batch, scan check.

The PDF comes from the label service (which refuses what may not be printed and audits what is); the
preview shows its pages rendered here (pypdfium2: Qt's own PDF module is not in PySide6-Essentials),
and printing draws those pages through Qt's print support at the printer's resolution, on paper the
size of the label stock. The default printer and label size are remembered per workstation.
"""

from __future__ import annotations

from typing import Any

import pypdfium2
from PySide6.QtCore import QCoreApplication, QMarginsF, QObject, QSettings, QSizeF, Qt, Signal
from PySide6.QtGui import QImage, QPageLayout, QPageSize, QPainter, QPixmap
from PySide6.QtPrintSupport import QPrinter, QPrinterInfo
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressDialog,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from printing.labels import SIZES

from ui import messages

SETTINGS_PRINTER = "labels/printer"
SETTINGS_SIZE = "labels/size"
PREVIEW_DPI = 150


def _settings() -> QSettings:
    return QSettings("rxws", "workstation")


def default_size() -> str:
    value = _settings().value(SETTINGS_SIZE, "60x40")
    return value if isinstance(value, str) and value in SIZES else "60x40"


def default_printer() -> str | None:
    value = _settings().value(SETTINGS_PRINTER)
    return value if isinstance(value, str) and value else None


def page_images(pdf: bytes, dpi: float) -> list[QImage]:
    """The pages of ``pdf`` as images at ``dpi``."""
    document = pypdfium2.PdfDocument(pdf)
    images = []
    for index in range(len(document)):
        pil = document[index].render(scale=dpi / 72).to_pil().convert("RGB")
        data = pil.tobytes("raw", "RGB")
        images.append(QImage(data, pil.width, pil.height, pil.width * 3, QImage.Format.Format_RGB888).copy())
    document.close()
    return images


def paper_of(size_name: str) -> tuple[float, float]:
    """The paper (mm) a label stock prints on; "A4" for documents such as the coverage report."""
    if size_name == "A4":
        return (210.0, 297.0)
    size = SIZES[size_name]
    return size.page_mm or (size.width_mm, size.height_mm)


def print_pdf(pdf: bytes, printer: QPrinter, size_name: str) -> int:
    """Print every page of ``pdf`` on ``printer``, on paper of the label stock; returns the pages printed."""
    paper = paper_of(size_name)
    printer.setPageLayout(QPageLayout(QPageSize(QSizeF(*paper), QPageSize.Unit.Millimeter),
                                      QPageLayout.Orientation.Portrait, QMarginsF(0, 0, 0, 0),
                                      QPageLayout.Unit.Millimeter))
    printer.setFullPage(True)
    images = page_images(pdf, max(printer.resolution(), 200))
    painter = QPainter()
    if not painter.begin(printer):
        raise RuntimeError(QCoreApplication.translate("labels", "The printer could not be opened."))
    try:
        for index, image in enumerate(images):
            if index:
                printer.newPage()
            painter.drawImage(printer.pageLayout().fullRectPixels(printer.resolution()), image)
    finally:
        painter.end()
    return len(images)


class LabelPreview(QDialog):
    """The labels as they will print; print to a printer, or save as PDF."""

    def __init__(self, pdf: bytes, size_name: str, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("label-preview")
        self.setWindowTitle(title)
        self.pdf, self.size_name = pdf, size_name
        self.images = page_images(pdf, PREVIEW_DPI)
        layout = QVBoxLayout(self)
        summary = QLabel(self.tr("%1 pages on %2").replace("%1", str(len(self.images))).replace("%2", size_name)
                         if size_name == "A4" else
                         self.tr("%1 labels on %2 stock").replace("%1", str(len(self.images))).replace("%2", size_name),
                         self)
        summary.setObjectName("label-summary")
        layout.addWidget(summary)

        pages = QWidget(self)
        column = QVBoxLayout(pages)
        for image in self.images:
            shown = QLabel(pages)
            shown.setPixmap(QPixmap.fromImage(image))
            shown.setStyleSheet("border: 1px solid #888; background: white;")
            shown.setAlignment(Qt.AlignmentFlag.AlignCenter)
            column.addWidget(shown)
        scroll = QScrollArea(self)
        scroll.setObjectName("label-pages")
        scroll.setWidget(pages)
        scroll.setWidgetResizable(True)
        layout.addWidget(scroll, 1)

        form = QFormLayout()
        self.printers = QComboBox(self)
        self.printers.setObjectName("label-printer")
        names = QPrinterInfo.availablePrinterNames()
        self.printers.addItems(names)
        chosen = default_printer() or QPrinterInfo.defaultPrinterName()
        if chosen in names:
            self.printers.setCurrentText(chosen)
        self.remember = QCheckBox(self.tr("Use as this workstation's label printer"), self)
        self.remember.setObjectName("label-remember-printer")
        form.addRow(self.tr("Printer"), self.printers)
        form.addRow("", self.remember)
        self.remember.setVisible(size_name != "A4")  # the label printer is remembered, not the office one
        layout.addLayout(form)
        if not names:
            none = QLabel(self.tr("No printer is installed on this computer: save the labels as PDF instead."), self)
            none.setObjectName("label-no-printer")
            none.setWordWrap(True)
            layout.addWidget(none)

        buttons = QDialogButtonBox(self)
        self.print_button = QPushButton(self.tr("&Print"), self)
        self.print_button.setObjectName("label-print")
        self.print_button.setEnabled(bool(names))
        self.print_button.setDefault(bool(names))
        self.save_button = QPushButton(self.tr("&Save as PDF…"), self)
        self.save_button.setObjectName("label-save")
        buttons.addButton(self.print_button, QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.addButton(self.save_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        self.print_button.clicked.connect(self.print_labels)
        self.save_button.clicked.connect(self.save_pdf)
        layout.addWidget(buttons)
        self.resize(640, 560)

    def printer(self) -> QPrinter:
        printer = QPrinter(QPrinter.PrinterMode.HighResolution)
        printer.setPrinterName(self.printers.currentText())
        printer.setDocName(self.windowTitle())
        return printer

    def print_labels(self, printer: QPrinter | None = None) -> None:
        target = printer or self.printer()
        try:
            print_pdf(self.pdf, target, self.size_name)
        except RuntimeError as exc:
            messages.error(self, str(exc))
            return
        if self.remember.isChecked() and self.printers.currentText():
            _settings().setValue(SETTINGS_PRINTER, self.printers.currentText())
        self.accept()

    def save_pdf(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, self.tr("Save labels as PDF"), "labels.pdf",
                                              self.tr("PDF (*.pdf)"))
        if not path:
            return
        try:
            with open(path, "wb") as f:
                f.write(self.pdf)
        except OSError as exc:
            messages.error(self, self.tr("Could not save %1: %2").replace("%1", path).replace("%2", str(exc)))
            return
        messages.info(self, self.tr("Saved: %1").replace("%1", path))


class BatchChooser(QDialog):
    """A day's approved prescriptions to label in one print job; those printed before are left unticked."""

    def __init__(self, day_text: str, approved: list[Any], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("label-batch")
        self.setWindowTitle(self.tr("Print the day's labels — %1").replace("%1", day_text))
        layout = QVBoxLayout(self)
        self.list = QListWidget(self)
        self.list.setObjectName("label-batch-list")
        for a in approved:
            text = f"{a.number}  v{a.version}  {a.patient or ''}"
            if a.printed:
                text += "  " + self.tr("(printed before)")
            item = QListWidgetItem(text, self.list)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Unchecked if a.printed else Qt.CheckState.Checked)
            item.setData(Qt.ItemDataRole.UserRole, a.number)
        layout.addWidget(QLabel(self.tr("%1 approved; labels printed before need a reprint and are left out.")
                                .replace("%1", str(len(approved))), self))
        layout.addWidget(self.list, 1)
        row = QHBoxLayout()
        self.stock = QComboBox(self)
        self.stock.setObjectName("label-batch-size")
        self.stock.addItems(list(SIZES))
        self.stock.setCurrentText(default_size())
        row.addWidget(QLabel(self.tr("Label stock"), self))
        row.addWidget(self.stock)
        layout.addLayout(row)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def accept(self) -> None:
        _settings().setValue(SETTINGS_SIZE, self.stock.currentText())
        super().accept()

    def chosen(self) -> list[str]:
        return [str(self.list.item(i).data(Qt.ItemDataRole.UserRole)) for i in range(self.list.count())
                if self.list.item(i).checkState() == Qt.CheckState.Checked]


class Progress(QObject):
    """Carries a worker's progress to the GUI thread (queued), and the GUI's cancel back to the worker."""

    advanced = Signal(int, int)  # done, total

    def __init__(self) -> None:
        super().__init__()
        self.cancelled = False

    def go_on(self, done: int, total: int) -> bool:
        self.advanced.emit(done, total)
        return not self.cancelled


def progress_dialog(parent: QWidget, progress: Progress, title: str) -> QProgressDialog:
    dialog = QProgressDialog(title, QCoreApplication.translate("labels", "Cancel"), 0, 0, parent)
    dialog.setObjectName("label-progress")
    dialog.setWindowModality(Qt.WindowModality.WindowModal)
    dialog.setMinimumDuration(0)

    def advanced(done: int, total: int) -> None:
        dialog.setMaximum(total)
        dialog.setValue(done)

    progress.advanced.connect(advanced)
    dialog.canceled.connect(lambda: setattr(progress, "cancelled", True))
    return dialog
