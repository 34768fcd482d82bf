"""Dispensing labels (调配标签): printed only for a verified approval, every print audited, every label checkable.

A label is made only for the newest version of a prescription whose approval signature verifies again
now (against the same trust anchors as a release) and whose stored content is still what the pharmacist
signed; any other request is refused with its reason and the refusal is audited. Every print and reprint
is audited with who, which items, how many copies and on what stock; a second print must be asked for
as a reprint, and its labels say 补打.

Each label carries a QR code with a compact reference to the signed approval —
``RXWS1/<prescription>/<decision id>/<digest>``, the digest being the first 80 bits of SHA-256 of the
approval's signature, in base32 — so that a scan at hand-out or delivery (:meth:`LabelService.check`,
``rxws label verify``) tells whether the label belongs to an approved, unaltered prescription, and whose.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from cryptography import x509
from sqlalchemy import select

from printing.labels import SIZES, ItemLabel, LabelDoesNotFit, LabelJob, render
from resources.fonts import font_path
from workstation.adapters.db import orm
from workstation.adapters.db.types import utcnow
from workstation.adapters.db.uow import UnitOfWork
from workstation.domain import codec
from workstation.domain.accounts import Action, Principal, require
from workstation.domain.errors import DomainError
from workstation.domain.formulary import FormularyEntry
from workstation.domain.prescription import Item, PrescriptionSnapshot
from workstation.domain.usage import number, unit_words, usage_zh
from workstation.services import audit, site
from workstation.services.claims import ClaimError, current_version
from workstation.services.queue import _department, mask_name
from workstation.services.release import check_approval
from workstation.services.review import Reviewer

QR_PREFIX = "RXWS1"
_QR = re.compile(r"^RXWS1/(?P<number>[^/\s]{1,128})/(?P<decision>[0-9A-Fa-f-]{36})/(?P<digest>[A-Z2-7]{16})$")
PACKAGE_UNITS = frozenset({"盒", "瓶", "支", "袋", "板", "贴", "包", "罐", "管"})
MAX_LABELS_PER_LINE = 99
CHILD_AGE = 14  # 儿科: a label for a younger patient says the guardian must supervise


class LabelRefused(DomainError):
    """Labels may not be printed for this prescription now; the message says why."""


class AlreadyPrinted(LabelRefused):
    """The labels were printed before: only a reprint (marked 补打) may follow."""


@dataclass(frozen=True, slots=True)
class ApprovedToday:
    number: str
    version: int
    patient: str | None  # masked
    approved_at: datetime
    printed: bool  # labels printed before


@dataclass(frozen=True, slots=True)
class BatchPrint:
    pdf: bytes | None  # None when nothing could be printed, or the batch was cancelled
    printed: tuple[str, ...]
    refused: tuple[tuple[str, str], ...]  # (number, why)
    labels: int
    cancelled: bool


@dataclass(frozen=True, slots=True)
class LabelPrint:
    pdf: bytes
    job: LabelJob
    labels: int  # labels in the PDF (items × packages × copies)
    reprint: bool


@dataclass(frozen=True, slots=True)
class LabelCheck:
    """What a scanned label's QR code says, checked against the stored, signed approval."""

    ok: bool
    reason: str  # why not, "中文 / English" (empty when ok)
    prescription: str | None = None
    version: int | None = None
    decision_id: str | None = None
    patient: str | None = None  # masked: a scan at the door need not show more
    pharmacist: str | None = None
    approved_at: datetime | None = None


def approval_digest(jws: str) -> str:
    """16 base32 characters: the first 80 bits of SHA-256 of the approval JWS's signature bytes."""
    segment = jws.rsplit(".", 1)[-1]
    raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    return base64.b32encode(hashlib.sha256(raw).digest()[:10]).decode("ascii")


def qr_text(number: str, decision_id: str, jws: str) -> str:
    """The QR payload: upper case where it can be, so it fits QR alphanumeric mode (a smaller code)."""
    return f"{QR_PREFIX}/{number}/{decision_id.upper()}/{approval_digest(jws)}"


def age_text(born: date | None, on: date | None) -> str:
    """66岁; 8个月 under one year; 年龄未知."""
    if born is None or on is None or on < born:
        return "年龄未知"
    months = (on.year - born.year) * 12 + on.month - born.month - (on.day < born.day)
    return f"{months // 12}岁" if months >= 12 else f"{months}个月"


def _packages(item: Item, entry: FormularyEntry | None) -> int:
    """How many packages the line fills, so each gets its own label ("1/2", "2/2")."""
    q = item.quantity_value
    if q is None or q <= 0:
        return 1
    unit = unit_words(item.quantity_unit)
    if entry is not None and entry.package_unit and unit == entry.package_unit:
        count = math.ceil(q)
    elif entry is not None and entry.package_size:
        count = math.ceil(q / Decimal(entry.package_size))
    elif unit in PACKAGE_UNITS:
        count = math.ceil(q)
    else:
        count = 1
    return max(1, min(int(count), MAX_LABELS_PER_LINE))


def _warnings(item: Item, entry: FormularyEntry | None, age_years: int | None) -> tuple[str, ...]:
    found: list[str] = []
    if entry is not None:
        if entry.storage:
            found.append(entry.storage)
        found += entry.label_warnings
        if entry.skin_test_required:
            found.append("皮试阴性后方可使用")
    form = " ".join(x for x in (entry.dosage_form if entry else None, item.medication_form, item.drug.label()) if x)
    if "混悬" in form and not any("摇匀" in w for w in found):
        found.append("用前摇匀")
    if age_years is not None and age_years < CHILD_AGE:
        found.append("儿童用药须在监护人指导下使用")
    return tuple(dict.fromkeys(w.strip() for w in found if w.strip()))


class LabelService:
    def __init__(self, uow_factory: Callable[[], UnitOfWork], reviewer: Callable[[], Reviewer],
                 anchors: Callable[[], tuple[x509.Certificate, ...]], *, time_zone: str,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self._uow = uow_factory
        self._reviewer = reviewer
        self._anchors = anchors
        self._tz = time_zone
        self._clock = clock

    # -- printing

    def job(self, principal: Principal, number_: str, *, reprint: bool = False,
            context: tuple[tuple[x509.Certificate, ...], Reviewer] | None = None) -> LabelJob:
        """The labels of an approved, verified prescription (nothing is audited: see :meth:`print`).
        ``context``: the trust anchors and reviewer, when a batch has loaded them once for all its prescriptions."""
        require(principal, Action.PRINT_LABELS)
        anchors, reviewer = context or (self._anchors(), self._reviewer())
        with self._uow() as uow:
            try:
                row = current_version(uow, number_)
            except ClaimError as exc:
                raise LabelRefused(str(exc)) from None
            subject = f"prescription:{row.number}/v{row.version}"
            decision = uow.session.scalars(select(orm.Decision).where(orm.Decision.prescription_id == row.id)).first()
            if decision is None or decision.kind != "approve":
                state = "尚未审核" if decision is None else "审核未通过或已退回"
                raise LabelRefused(f"处方 {row.number} 第{row.version}版{state}，只有审核通过且签名有效的处方可以打印标签 / "
                                   f"prescription {row.number} v{row.version} is not approved: only approved prescriptions "
                                   "whose approval signature verifies can be labelled")
            try:
                verified, prescription, _ = check_approval(uow, decision, anchors, refused="拒绝打印 / refused")
            except DomainError as exc:
                raise LabelRefused(f"处方 {row.number} 的审核签名未通过验证 / the approval of {row.number} does not "
                                   f"verify: {exc}") from None
            printed = uow.session.scalar(select(orm.AuditEvent.id).where(
                orm.AuditEvent.action.in_(("label.printed", "label.reprinted")),
                orm.AuditEvent.subject == subject).limit(1)) is not None
            if printed and not reprint:
                raise AlreadyPrinted(f"处方 {row.number} 的标签已打印过；补打请选“补打”（--reprint），标签将标注“补打” / the "
                                   f"labels of {row.number} were printed before: ask for a reprint (--reprint); the "
                                   "labels will say 补打")
            pharmacist = uow.session.get(orm.Pharmacist, decision.pharmacist_id)
            pharmacist_name = pharmacist.name if pharmacist is not None else verified.signer_name
            pharmacy = uow.session.scalar(select(orm.SiteSetting.value).where(orm.SiteSetting.key == site.PHARMACY_NAME))
            snapshot = codec.loads(PrescriptionSnapshot, prescription.snapshot)
            decision_id, jws = decision.id, decision.signature_jws or ""
        if not pharmacy:
            raise LabelRefused("药房名称尚未设置：请管理员在首次设置中填写 / the pharmacy's name is not set: an "
                               "administrator sets it in the first-run setup")
        zone = ZoneInfo(self._tz)
        authored = snapshot.authored_on.astimezone(zone).date() if snapshot.authored_on else None
        age = age_text(snapshot.patient.birth_date, authored)
        years = int(age[:-1]) if age.endswith("岁") else (0 if age.endswith("个月") else None)
        sex = {"male": "男", "female": "女"}.get(snapshot.patient.gender or "", "")
        items: list[ItemLabel] = []
        for position, item in enumerate(snapshot.items, 1):
            entry = reviewer.classifier.classify(item).formulary_entry
            strength = entry.strength if entry is not None and entry.strength else None
            form = (entry.dosage_form if entry is not None else None) or item.medication_form
            quantity = (f"{number(item.quantity_value)}{unit_words(item.quantity_unit)}"
                        if item.quantity_value is not None else "数量见处方")
            if item.supply_days is not None:
                quantity += f" · {number(item.supply_days)}天"
            packages = _packages(item, entry)
            base = ItemLabel(
                drug=entry.name_zh if entry is not None else item.drug.label(),
                strength_form=" · ".join(x for x in (strength, form) if x),
                usage=usage_zh(item), quantity=quantity, warnings=_warnings(item, entry, years),
                barcode=f"{snapshot.number}-{position}", packages=packages)
            items += [dataclasses.replace(base, package=n) for n in range(1, packages + 1)]
        return LabelJob(
            pharmacy=pharmacy, patient="  ".join(x for x in (snapshot.patient.name or "姓名未填", sex, age) if x),
            prescription=snapshot.number, department=_department(snapshot),
            pharmacist=pharmacist_name,
            dispensed_on=self._clock().astimezone(zone).date().isoformat(),
            qr=qr_text(snapshot.number, decision_id, jws), items=tuple(items), reprint=printed and reprint)

    def print(self, principal: Principal, number_: str, *, size: str = "60x40", reprint: bool = False,
              copies: int = 1) -> LabelPrint:
        """The PDF of the prescription's labels; audited as ``label.printed`` or ``label.reprinted``, and a
        refusal as ``label.refused`` with its reason. Raises LabelRefused."""
        try:
            if size not in SIZES:
                raise LabelRefused(f"没有 {size!r} 这种标签规格（可选 {'、'.join(SIZES)}）/ no label size {size!r} "
                                   f"(choose {', '.join(SIZES)})")
            if not 1 <= copies <= 10:
                raise LabelRefused(f"份数须为 1–10，而不是 {copies} / copies must be 1–10, not {copies}")
            job = self.job(principal, number_, reprint=reprint)
            try:
                pdf = render([job] * copies, size, font_path=font_path())
            except LabelDoesNotFit as exc:
                raise LabelRefused(str(exc)) from None
        except (LabelRefused, DomainError) as exc:
            self._audit(principal, number_, "label.refused", {"reason": str(exc), "size": size, "reprint": reprint})
            raise
        action = "label.reprinted" if job.reprint else "label.printed"
        self._audit(principal, number_, action, {
            "size": size, "copies": copies, "labels": len(job.items) * copies, "qr": job.qr,
            "items": sorted({i.barcode for i in job.items})})
        return LabelPrint(pdf, job, len(job.items) * copies, job.reprint)

    def _audit(self, principal: Principal, number_: str, action: str, details: dict[str, object]) -> None:
        with self._uow() as uow:
            try:
                row = current_version(uow, number_)
                subject = f"prescription:{row.number}/v{row.version}"
            except ClaimError:
                subject = f"prescription:{number_.strip()[:128]}"
            audit.record(uow, actor=principal.actor, action=action, subject=subject, details=details,
                         at=self._clock())
            uow.commit()

    def approved_on(self, principal: Principal, day: date) -> list[ApprovedToday]:
        """The prescriptions approved on ``day`` (in the pharmacy's time zone), oldest first: a batch to print."""
        require(principal, Action.PRINT_LABELS)
        zone = ZoneInfo(self._tz)
        start = datetime.combine(day, datetime.min.time(), zone)
        end = datetime.combine(day + timedelta(days=1), datetime.min.time(), zone)
        with self._uow() as uow:
            rows = uow.session.execute(
                select(orm.Decision.prescription_number, orm.Decision.version, orm.Decision.decided_at,
                       orm.Prescription.snapshot)
                .join(orm.Prescription, orm.Prescription.id == orm.Decision.prescription_id)
                .where(orm.Decision.kind == "approve", orm.Decision.decided_at >= start, orm.Decision.decided_at < end)
                .order_by(orm.Decision.decided_at)).all()
            printed = set(uow.session.scalars(select(orm.AuditEvent.subject).where(
                orm.AuditEvent.action.in_(("label.printed", "label.reprinted")))))
        found = []
        for number_, version, decided_at, snapshot in rows:
            patient = codec.loads(PrescriptionSnapshot, snapshot).patient.name
            found.append(ApprovedToday(number_, version, mask_name(patient), decided_at,
                                       f"prescription:{number_}/v{version}" in printed))
        return found

    def print_batch(self, principal: Principal, numbers: list[str], *, size: str = "60x40",
                    go_on: Callable[[int, int], bool] = lambda done, total: True) -> BatchPrint:
        """The labels of many prescriptions in one PDF (one print job). ``go_on(done, total)`` is called before
        each and may cancel: then nothing is rendered and nothing audited. Refused ones are listed and audited;
        each printed one is audited as a print of its own."""
        jobs: list[LabelJob] = []
        refused: list[tuple[str, str]] = []
        context = (self._anchors(), self._reviewer())  # once: each costs file reads and queries
        for index, number_ in enumerate(numbers):
            if not go_on(index, len(numbers)):
                return BatchPrint(None, (), tuple(refused), 0, True)
            try:
                jobs.append(self.job(principal, number_, context=context))
            except LabelRefused as exc:
                refused.append((number_, str(exc)))
                self._audit(principal, number_, "label.refused", {"reason": str(exc), "size": size, "batch": True})
        go_on(len(numbers), len(numbers))
        if not jobs:
            return BatchPrint(None, (), tuple(refused), 0, False)
        try:
            pdf = render(jobs, size, font_path=font_path())
        except LabelDoesNotFit as exc:
            raise LabelRefused(str(exc)) from None
        for job in jobs:
            self._audit(principal, job.prescription, "label.printed", {
                "size": size, "copies": 1, "labels": len(job.items), "qr": job.qr, "batch": True,
                "items": sorted({i.barcode for i in job.items})})
        return BatchPrint(pdf, tuple(j.prescription for j in jobs), tuple(refused), sum(len(j.items) for j in jobs),
                          False)

    # -- the scan check

    def check(self, text: str, *, actor: str) -> LabelCheck:
        """Whether a label's QR text belongs to an approved, unaltered prescription; audited as ``label.checked``."""
        result = self._check(text.strip())
        with self._uow() as uow:
            audit.record(uow, actor=actor, action="label.checked",
                         subject=f"prescription:{result.prescription}" if result.prescription else "label",
                         details={"ok": result.ok, "reason": result.reason, "decision_id": result.decision_id},
                         at=self._clock())
            uow.commit()
        return result

    def _check(self, text: str) -> LabelCheck:
        m = _QR.match(text)
        if m is None:
            return LabelCheck(False, "这不是本工作站打印的标签二维码 / not a label QR code of this workstation "
                                     f"(expected {QR_PREFIX}/<prescription>/<decision>/<digest>)")
        number_, decision_id, digest = m["number"], m["decision"].lower(), m["digest"]
        anchors = self._anchors()
        with self._uow() as uow:
            decision = uow.session.get(orm.Decision, decision_id)
            if decision is None:
                return LabelCheck(False, f"没有这个审核决定（{decision_id}）：标签不属于本药房，或是伪造的 / no such "
                                         "decision: the label is not this pharmacy's, or it is forged",
                                  prescription=number_, decision_id=decision_id)
            if decision.prescription_number != number_:
                return LabelCheck(False, f"标签上的处方号 {number_} 与审核决定的处方 {decision.prescription_number} 不符 / "
                                         f"the label names {number_}, the decision is for {decision.prescription_number}",
                                  prescription=number_, decision_id=decision_id)
            if decision.kind != "approve" or not decision.signature_jws:
                return LabelCheck(False, f"处方 {number_} 未审核通过 / prescription {number_} is not approved",
                                  prescription=number_, decision_id=decision_id)
            if approval_digest(decision.signature_jws) != digest:
                return LabelCheck(False, "标签上的签名摘要与审核签名不符：标签被改动或伪造 / the label's digest does not "
                                         "match the approval signature: altered or forged",
                                  prescription=number_, decision_id=decision_id)
            try:
                verified, prescription, _ = check_approval(uow, decision, anchors, refused="标签无效 / not valid")
            except DomainError as exc:
                return LabelCheck(False, str(exc), prescription=number_, decision_id=decision_id)
            snapshot = codec.loads(PrescriptionSnapshot, prescription.snapshot)
            newer = uow.session.scalar(select(orm.Prescription.version).where(
                orm.Prescription.number == number_, orm.Prescription.version > decision.version).limit(1))
            pharmacist = uow.session.get(orm.Pharmacist, decision.pharmacist_id)
            found = LabelCheck(True, "", prescription=number_, version=decision.version, decision_id=decision_id,
                               patient=mask_name(snapshot.patient.name), approved_at=verified.signed_at,
                               pharmacist=pharmacist.name if pharmacist is not None else verified.signer_name)
        if newer is not None:
            return LabelCheck(False, f"处方 {number_} 已有新版本（第{newer}版），此标签属于已被取代的第{decision.version}版 / "
                                     f"a newer version ({newer}) of {number_} exists: this label is for version "
                                     f"{decision.version}", prescription=number_, version=decision.version,
                              decision_id=decision_id, patient=found.patient, pharmacist=found.pharmacist,
                              approved_at=found.approved_at)
        return found

