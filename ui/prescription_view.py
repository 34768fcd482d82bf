"""The open prescription (处方详情): patient header, findings, items, diagnosis timeline, prescriber, history.

Everything shown comes from :class:`~workstation.services.detail.PrescriptionDetail`; what is hidden
without the claim is hidden by the service, and this view says so. All text is plain text (the data
comes from outside), severities are shown with an icon *and* a word, never colour alone.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from PySide6.QtCore import QModelIndex, QObject, Qt
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QSizePolicy,
    QTableWidget,
    QTableView,
    QTableWidgetItem,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from workstation.services.detail import DiagnosisEntry, PrescriptionDetail

from ui.queue_model import BADGES, category_text, risk_text, sex_text, status_text
from ui.tables import Index, TitledTableModel

# Marks the bundled CJK font draws (⛔ and ❗ are not in it and would show as boxes).
SEVERITY_MARK = {"block": "✖", "warn": "⚠"}
# Column widths are measured on the rows shown plus this many, not on all of hundreds of diagnoses.
CONTENT_PRECISION = 40


def _label(parent: QWidget, name: str = "", *, wrap: bool = True) -> QLabel:
    label = QLabel(parent)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(wrap)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    if name:
        label.setObjectName(name)
    return label


def _table(parent: QWidget, name: str, headers: list[str]) -> QTableWidget:
    table = QTableWidget(0, len(headers), parent)
    table.setObjectName(name)
    table.setHorizontalHeaderLabels(headers)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.verticalHeader().setVisible(False)
    table.setWordWrap(True)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    table.horizontalHeader().setStretchLastSection(True)
    table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
    table.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
    return table


def _fit(table: QTableWidget, max_rows: int) -> None:
    """As tall as its rows (up to ``max_rows``; it scrolls beyond), so the page scrolls, not each table."""
    table.resizeRowsToContents()
    rows = min(table.rowCount(), max_rows)
    height = table.horizontalHeader().height() + sum(table.rowHeight(r) for r in range(rows)) + 2 * table.frameWidth()
    if table.rowCount() == 0:
        height += table.fontMetrics().height() + 8
    table.setFixedHeight(height + (table.horizontalScrollBar().sizeHint().height() if rows else 0))


def _cell(text: str | None, tip: str | None = None) -> QTableWidgetItem:
    item = QTableWidgetItem(text or "—")
    if tip:
        item.setToolTip(tip)
    return item


def _diagnosis_row(e: DiagnosisEntry, words: dict[str, str]) -> list[str]:
    status = words["confirmed"] if e.confirmed else (e.verification_status or words["unconfirmed"])
    if e.in_this_prescription:
        status += "  " + words["sent"]
    source = e.source_document_type
    document = words[source] if source is not None and source in _SOURCE_DOCUMENTS else (source or "—")
    return [e.recorded or "?", f"{e.code or ''} {e.display or ''}".strip() or "?", e.institution or "—", document, status]


_SOURCE_DOCUMENTS = frozenset({"outpatient-record", "inpatient-record", "discharge-summary", "diagnosis-certificate"})


class EarlierModel(TitledTableModel):
    """The patient's earlier prescriptions as rows of text: hundreds of them cost one reset, not an item each."""

    def __init__(self, titles: list[str], parent: QObject | None = None) -> None:
        super().__init__(titles, parent)
        self._rows: list[tuple[str, ...]] = []

    def set_rows(self, rows: list[tuple[str, ...]]) -> None:
        self.beginResetModel()
        self._rows = rows
        self.endResetModel()

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802 (Qt's name)
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if role not in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole) or not index.isValid():
            return None
        row, col = index.row(), index.column()
        if 0 <= row < len(self._rows) and 0 <= col < len(self._rows[row]):
            return self._rows[row][col]
        return None


class PrescriptionView(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("prescription-view")
        self.detail: PrescriptionDetail | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.setSpacing(6)

        self.empty = _label(self, "empty-hint")
        self.empty.setText(self.tr("No prescription open. Ctrl+N claims the next one; Return opens the one selected "
                                   "in the queue."))
        layout.addWidget(self.empty)

        self.masked_banner = _label(self, "masked-banner")
        self.masked_banner.setStyleSheet("background:#fff4ce; color:#5c4400; padding:4px;")
        layout.addWidget(self.masked_banner)

        # Patient header
        self.header = QFrame(self)
        self.header.setObjectName("patient-header")
        hl = QVBoxLayout(self.header)
        hl.setContentsMargins(0, 0, 0, 0)
        hl.setSpacing(2)
        self.title = _label(self.header, "rx-title")
        font = self.title.font()
        font.setPointSizeF(font.pointSizeF() * 1.2)
        font.setBold(True)
        self.title.setFont(font)
        row = QHBoxLayout()
        self.patient_line = _label(self.header, "patient-line")
        self.patient_line.setFont(font)
        self.under_six_badge = _label(self.header, "under-six-badge", wrap=False)
        self.under_six_badge.setStyleSheet("background:#a4262c; color:white; padding:2px 8px; font-weight:bold;")
        row.addWidget(self.patient_line, 1)
        row.addWidget(self.under_six_badge, 0, Qt.AlignmentFlag.AlignTop)
        self.people = _label(self.header, "patient-people")
        self.facts = _label(self.header, "patient-facts")
        hl.addWidget(self.title)
        hl.addLayout(row)
        hl.addWidget(self.people)
        hl.addWidget(self.facts)
        layout.addWidget(self.header)

        # Findings
        self.findings_box = QGroupBox(self.tr("Findings"), self)
        self.findings_box.setObjectName("findings")
        fl = QVBoxLayout(self.findings_box)
        self.findings = _label(self.findings_box, "findings-text")
        fl.addWidget(self.findings)
        layout.addWidget(self.findings_box)

        # Items
        self.items_box = QGroupBox(self.tr("Items"), self)
        il = QVBoxLayout(self.items_box)
        self.items = _table(self.items_box, "items-table", [
            self.tr("Drug"), self.tr("Strength"), self.tr("Dose"), self.tr("Frequency"), self.tr("Route"),
            self.tr("Days"), self.tr("Quantity"), self.tr("Special"), self.tr("Diagnosis")])
        self.marks = _label(self.items_box, "item-marks")
        il.addWidget(self.items)
        il.addWidget(self.marks)
        layout.addWidget(self.items_box)

        # Diagnosis history
        self.diagnosis_box = QGroupBox(self.tr("Diagnosis history"), self)
        dl = QVBoxLayout(self.diagnosis_box)
        self.diagnosis_hidden = _label(self.diagnosis_box, "diagnosis-hidden")
        self.timeline = QTreeView(self.diagnosis_box)
        self.timeline.setObjectName("diagnosis-timeline")
        self.timeline_model = self._timeline_model()
        self.timeline.setModel(self.timeline_model)
        self.timeline.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.timeline.setRootIsDecorated(True)
        self.timeline.setUniformRowHeights(True)
        self.timeline.header().setResizeContentsPrecision(CONTENT_PRECISION)
        self.timeline.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        dl.addWidget(self.diagnosis_hidden)
        dl.addWidget(self.timeline)
        layout.addWidget(self.diagnosis_box)

        # Prescriber and signature
        self.prescriber_box = QGroupBox(self.tr("Prescriber and e-signature"), self)
        pl = QVBoxLayout(self.prescriber_box)
        self.prescriber = _label(self.prescriber_box, "prescriber")
        self.signature = _label(self.prescriber_box, "signature-check")
        pl.addWidget(self.prescriber)
        pl.addWidget(self.signature)
        layout.addWidget(self.prescriber_box)

        # Intake notes
        self.notes_box = QGroupBox(self.tr("Intake notes (facts that could not be read)"), self)
        nl = QVBoxLayout(self.notes_box)
        self.notes = _label(self.notes_box, "intake-notes")
        nl.addWidget(self.notes)
        layout.addWidget(self.notes_box)

        # Earlier prescriptions
        self.earlier_box = QGroupBox(self.tr("Earlier prescriptions and decisions"), self)
        el = QVBoxLayout(self.earlier_box)
        self.earlier_hidden = _label(self.earlier_box, "earlier-hidden")
        self.earlier = QTableView(self.earlier_box)
        self.earlier.setObjectName("earlier-prescriptions")
        self.earlier.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.earlier.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.earlier.verticalHeader().setVisible(False)
        self.earlier.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.earlier.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        self.earlier.horizontalHeader().setStretchLastSection(True)
        self.earlier.setWordWrap(False)
        self.earlier.horizontalHeader().setResizeContentsPrecision(CONTENT_PRECISION)
        self.earlier.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.earlier_model = self._earlier_model()
        self.earlier.setModel(self.earlier_model)
        el.addWidget(self.earlier_hidden)
        el.addWidget(self.earlier)
        layout.addWidget(self.earlier_box)
        layout.addStretch(1)
        self.clear()

    # -- public

    def clear(self) -> None:
        self.detail = None
        self.empty.setVisible(True)
        for w in (self.masked_banner, self.header, self.findings_box, self.items_box, self.diagnosis_box,
                  self.prescriber_box, self.notes_box, self.earlier_box):
            w.setVisible(False)

    def show_detail(self, d: PrescriptionDetail) -> None:
        self.detail = d
        zone = ZoneInfo(d.time_zone)
        self.empty.setVisible(False)
        for w in (self.header, self.findings_box, self.items_box, self.diagnosis_box, self.prescriber_box,
                  self.earlier_box):
            w.setVisible(True)
        # Banner: why identity and history are hidden.
        if not d.holds_claim:
            text = self.tr("Not claimed by you: the patient's identity, diagnosis history and earlier prescriptions "
                           "are hidden. Claim it (Ctrl+Shift+N) to review.")
            if d.claimed_by:
                text = self.tr("Claimed by %1: the patient's identity and history are hidden.").replace("%1", d.claimed_by)
            self.masked_banner.setText(text)
        self.masked_banner.setVisible(not d.holds_claim)
        self._header(d, zone)
        self._findings(d)
        self._items(d)
        self._diagnoses(d)
        self._prescriber(d)
        self.notes.setText("\n".join(f"• {n}" for n in d.intake_notes))
        self.notes_box.setVisible(bool(d.intake_notes))
        self._earlier(d, zone)

    # -- sections

    def _header(self, d: PrescriptionDetail, zone: ZoneInfo) -> None:
        authored = d.authored_on.astimezone(zone).strftime("%Y-%m-%d %H:%M") if d.authored_on else "?"
        risk = "clean" if d.result.approvable and not d.findings.get("warn") else \
            ("warn" if d.result.approvable else "block")
        if not d.result.checked:
            risk = "unchecked"
        self.title.setText(self.tr("Prescription %1 (version %2) — %3 — written %4 — %5")
                           .replace("%1", d.number).replace("%2", str(d.version)).replace("%3", status_text(d.status))
                           .replace("%4", authored).replace("%5", risk_text(risk)))
        p = d.patient
        age = self.tr("%1 years").replace("%1", str(p.age_years)) if p.age_years is not None else self.tr("age unknown")
        parts = [p.name or "?", sex_text(p.gender), age]
        if p.birth_date is not None:
            parts.append(self.tr("born %1").replace("%1", p.birth_date.isoformat()))
        elif p.birth_date_raw:
            parts.append(self.tr("birth date as sent: %1").replace("%1", p.birth_date_raw))
        self.patient_line.setText("  ".join(parts))
        if p.under_six is None:
            self.under_six_badge.setText(self.tr("Age unknown: age rules cannot be checked"))
        else:
            self.under_six_badge.setText(self.tr("Under 6"))
        self.under_six_badge.setVisible(p.under_six is not False)
        present, missing = self.tr("present"), self.tr("MISSING")
        guardian = present + (f" ({'、'.join(d.guardian.names)})" if d.guardian.names and d.holds_claim else "") \
            if d.guardian.present else missing
        accompanying = present + (f" ({'、'.join(d.accompanying.names)})" if d.accompanying.names else "") \
            if d.accompanying.present else missing
        lines = [self.tr("Guardian: %1    Accompanying physician: %2").replace("%1", guardian).replace("%2", accompanying)]
        if p.under_six is False:
            lines = [self.tr("Guardian: %1").replace("%1", guardian if d.guardian.present else "—")]
        self.people.setText("\n".join(lines))
        follow = {True: self.tr("follow-up visit"), False: self.tr("NOT a follow-up visit"),
                  None: self.tr("no visit information")}[d.follow_up]
        facts = [self.tr("Allergies: %1").replace("%1", "、".join(p.allergies) if p.allergies else self.tr("none recorded")),
                 self.tr("Weight: %1").replace("%1", f"{p.weight_kg} kg" if p.weight_kg else self.tr("not given")),
                 follow]
        if d.holds_claim and (p.phone or p.address):
            facts.append(self.tr("Contact: %1").replace("%1", "  ".join(x for x in (p.phone, p.address) if x)))
        self.facts.setText("    ".join(facts))

    def _findings(self, d: PrescriptionDetail) -> None:
        lines: list[str] = []
        if not d.result.checked:
            lines.append(f"{SEVERITY_MARK['block']} {risk_text('unchecked')}: {d.result.error or ''}")
        names = {"block": self.tr("Blocked"), "warn": self.tr("Warning")}
        items = {i.fhir_id: i.drug for i in d.items}
        for severity in ("block", "warn"):
            for f in d.findings.get(severity, ()):
                about = f" [{items.get(f.item, f.item)}]" if f.item else ""
                message = f.message_zh if self._chinese() else f.message_en
                other = f.message_en if self._chinese() else f.message_zh
                lines.append(f"{SEVERITY_MARK[severity]} {names[severity]}{about}: {message} ({other})")
                if f.evidence:
                    lines.append("    " + self.tr("Evidence: %1").replace("%1", "; ".join(f.evidence)))
                lines.append("    " + self.tr("Source: %1  (%2)").replace("%1", f.citation).replace("%2", f.rule_id))
        if not lines:
            lines.append("✔ " + self.tr("No findings: every rule passed."))
        self.findings.setText("\n".join(lines))
        block = bool(d.findings.get("block")) or not d.result.checked
        self.findings_box.setTitle(self.tr("Findings: %1 blocking, %2 warnings")
                                   .replace("%1", str(len(d.findings.get("block", ())))).replace("%2",
                                                                                           str(len(d.findings.get("warn", ())))))
        self.findings_box.setStyleSheet("QGroupBox { border: 2px solid #a4262c; margin-top: 1.2em; padding-top: 4px; }"
                                        "QGroupBox::title { subcontrol-origin: margin; left: 8px; }" if block else "")

    def _chinese(self) -> bool:
        return self.tr("Findings") != "Findings"

    def _items(self, d: PrescriptionDetail) -> None:
        self.items.setRowCount(len(d.items))
        notes: list[str] = []
        for r, i in enumerate(d.items):
            drug = i.drug + (f" {i.form}" if i.form else "")
            tip = i.dosage_text or None
            if not i.in_formulary:
                drug += "  " + self.tr("(not in the formulary)")
            marks = " ".join(dict.fromkeys(BADGES.get(m.category, m.category) for m in i.marks))
            if i.diagnosis_matched:
                diag = "✔ " + self.tr("matched: %1").replace("%1", "、".join(i.matched_by))
            elif i.diagnosis_codes:
                diag = "✘ " + self.tr("%1 not confirmed").replace("%1", "、".join(i.diagnosis_codes))
            else:
                diag = "✘ " + self.tr("no diagnosis given")
            cells = (drug, i.strength, i.dose, i.frequency, i.route, i.days, i.quantity, marks,
                     diag)
            for c, text in enumerate(cells):
                self.items.setItem(r, c, _cell(text, tip))
            for m in i.marks:
                notes.append(f"{BADGES.get(m.category, m.category)} {i.drug}: {category_text(m.category)} — {m.evidence}")
        self.marks.setText("\n".join(notes))
        self.marks.setVisible(bool(notes))
        _fit(self.items, 8)

    def _timeline_model(self) -> QStandardItemModel:
        model = QStandardItemModel(0, 5, self)
        model.setHorizontalHeaderLabels([self.tr("Date"), self.tr("Diagnosis"), self.tr("Institution"),
                                         self.tr("Source document"), self.tr("Status")])
        return model

    def _diagnoses(self, d: PrescriptionDetail) -> None:
        if d.history_hidden:
            self.diagnosis_hidden.setText(self.tr("%1 diagnoses on record: shown to the holder of the claim.")
                                          .replace("%1", str(d.diagnosis_count)))
            self.diagnosis_hidden.setVisible(True)
            self.timeline.setVisible(False)
            return
        self.diagnosis_hidden.setVisible(False)
        self.timeline.setVisible(True)
        confirmed = [e for e in d.diagnoses if e.confirmed]
        other = [e for e in d.diagnoses if not e.confirmed]
        groups = ((self.tr("Confirmed at physical institutions (%1)").replace("%1", str(len(confirmed))), confirmed),
                  (self.tr("Not confirmed (%1): not a basis for an online follow-up").replace("%1", str(len(other))),
                   other))
        # Filled while no view watches it (hundreds of rows), then shown in one go.
        model = self._timeline_model()
        words = self._diagnosis_words()
        for title, entries in groups:
            top = QStandardItem(title)  # the view takes no edits (NoEditTriggers): items need no flag each
            for e in entries:
                top.appendRow([QStandardItem(text) for text in _diagnosis_row(e, words)])
            model.appendRow(top)
        old, self.timeline_model = self.timeline_model, model
        self.timeline.setModel(model)
        old.deleteLater()
        for r in range(model.rowCount()):
            self.timeline.setFirstColumnSpanned(r, QModelIndex(), True)
            self.timeline.expand(model.index(r, 0))
        for column in range(1, 5):
            self.timeline.resizeColumnToContents(column)
        self.timeline.setColumnWidth(0, max(self.timeline.columnWidth(0), self.fontMetrics().horizontalAdvance("2026-12-31") + 48))
        shown = min(len(d.diagnoses) + 2, 12)
        row = self.timeline.sizeHintForRow(0) if self.timeline_model.rowCount() else self.fontMetrics().height() + 6
        self.timeline.setFixedHeight(self.timeline.header().sizeHint().height() + shown * max(row, 18) + 6)

    def _diagnosis_words(self) -> dict[str, str]:
        """The timeline's fixed words, translated once per prescription shown (not once per diagnosis)."""
        return {"confirmed": self.tr("confirmed"), "unconfirmed": self.tr("unconfirmed"),
                "sent": self.tr("(sent with this prescription)"),
                # source document kinds (RXWS/CodeSystem/diagnosis-source)
                "outpatient-record": self.tr("outpatient record"), "inpatient-record": self.tr("inpatient record"),
                "discharge-summary": self.tr("discharge summary"),
                "diagnosis-certificate": self.tr("diagnosis certificate")}

    def _prescriber(self, d: PrescriptionDetail) -> None:
        p = d.prescriber
        years = self.tr("%1 years of practice").replace("%1", str(p.years_of_practice)) \
            if p.years_of_practice is not None else self.tr("years of practice unknown")
        verified = self.tr("real-name verified") if p.real_name_verified else self.tr("NOT real-name verified")
        parts = [p.name or "?", self.tr("licence %1").replace("%1", p.licence or "?"), years, verified]
        if p.specialties:
            parts.append("、".join(p.specialties))
        if p.organization:
            parts.append(p.organization)
        if p.kind != "practitioner":
            parts.append(self.tr("requester kind: %1").replace("%1", p.kind))
        self.prescriber.setText("  ·  ".join(parts))
        mark = {"valid": "✔", "missing": "✘", "invalid": "✘"}.get(p.signature_status, "?")
        text = {"valid": self.tr("E-signature verified"), "missing": self.tr("E-signature MISSING"),
                "invalid": self.tr("E-signature does NOT verify")}.get(p.signature_status, p.signature_status)
        self.signature.setText(f"{mark} {text}" + (f": {p.signature_reason}" if p.signature_reason else ""))

    def _earlier_model(self) -> EarlierModel:
        return EarlierModel([self.tr("Received"), self.tr("Number"), self.tr("Drugs"), self.tr("Status"),
                             self.tr("Decision"), self.tr("By")], self)

    def _earlier(self, d: PrescriptionDetail, zone: ZoneInfo) -> None:
        if d.history_hidden:
            self.earlier_hidden.setText(self.tr("Shown to the holder of the claim."))
            self.earlier_hidden.setVisible(True)
            self.earlier.setVisible(False)
            return
        self.earlier_hidden.setVisible(not d.earlier)
        self.earlier_hidden.setText(self.tr("No earlier prescriptions for this patient."))
        self.earlier.setVisible(bool(d.earlier))
        kinds = {"approve": self.tr("approved"), "reject": self.tr("rejected"), "return": self.tr("returned")}
        rows: list[tuple[str, ...]] = []
        for e in d.earlier:
            decision = kinds.get(e.decision or "", "—")
            if e.decided_at is not None:
                decision += " " + e.decided_at.astimezone(zone).strftime("%Y-%m-%d %H:%M")
            if e.decision_reason:
                decision += f" ({e.decision_reason})"
            rows.append((e.received_at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
                         e.number if e.version == 1 else f"{e.number} v{e.version}", "、".join(e.drugs),
                         status_text(e.status), decision, e.decided_by or "—"))
        self.earlier_model.set_rows(rows)
        self.earlier.resizeColumnsToContents()
        shown = min(self.earlier_model.rowCount(), 10)
        self.earlier.setFixedHeight(self.earlier.horizontalHeader().sizeHint().height()
                                    + shown * self.earlier.verticalHeader().defaultSectionSize() + 2 * self.earlier.frameWidth()
                                    + self.earlier.horizontalScrollBar().sizeHint().height())
