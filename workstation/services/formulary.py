"""The pharmacy formulary (药品目录): versioned imports, the active version, and what it holds."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select, update

from workstation.adapters.db import orm
from workstation.adapters.db.uow import UnitOfWork
from workstation.domain.formulary import (
    FormularyEntry,
    FormularyImportError,
    formulary_sha256,
    parse_formulary_csv,
)
from workstation.services import audit


@dataclass(frozen=True, slots=True)
class FormularyImport:
    version_id: int
    entries: int
    sha256: str
    replaced_version_id: int | None
    unchanged: bool  # the same file is already the active version


@dataclass(frozen=True, slots=True)
class FormularyVersionInfo:
    version_id: int
    imported_at: datetime
    imported_by: str
    source: str
    sha256: str
    entries: int
    active: bool


def import_formulary(uow: UnitOfWork, data: bytes, source: str, *, actor: str) -> FormularyImport:
    """Validate and store a new formulary version and make it active. Refusals are audited too."""
    sha = formulary_sha256(data)
    try:
        entries = parse_formulary_csv(data, source)
    except FormularyImportError as exc:
        with uow:
            audit.record(uow, actor=actor, action="formulary.import_refused", subject=f"formulary:{sha}",
                         details={"source": source, "errors": [str(e) for e in exc.errors[:50]],
                                  "error_count": len(exc.errors)})
            uow.commit()
        raise
    with uow:
        s = uow.session
        active = s.scalars(select(orm.FormularyVersion).where(orm.FormularyVersion.active.is_(True))).first()
        if active is not None and active.sha256 == sha:
            return FormularyImport(active.id, active.entry_count, sha, None, True)
        s.execute(update(orm.FormularyVersion).where(orm.FormularyVersion.active.is_(True)).values(active=False))
        version = orm.FormularyVersion(imported_by=actor, source=source[:1024], sha256=sha,
                                       entry_count=len(entries), active=True)
        s.add(version)
        s.flush()
        s.add_all(_row(version.id, e) for e in entries)
        audit.record(uow, actor=actor, action="formulary.imported", subject=f"formulary:v{version.id}",
                     details={"source": source, "sha256": sha, "entries": len(entries),
                              "replaces": active.id if active is not None else None})
        uow.commit()
        return FormularyImport(version.id, len(entries), sha, active.id if active is not None else None, False)


def _row(version_id: int, e: FormularyEntry) -> orm.FormularyEntry:
    return orm.FormularyEntry(
        version_id=version_id, code=e.code, name_zh=e.name_zh, name_en=e.name_en or None,
        generic_zh=e.generic_zh or None, generic_en=e.generic_en or None, atc=e.atc or None,
        dosage_form=e.dosage_form or None, strength=e.strength or None, special_category=e.special_category,
        max_daily_dose_mg=None if e.max_daily_dose_mg is None else str(e.max_daily_dose_mg),
        skin_test_required=e.skin_test_required,
        ingredients_zh=json.dumps(list(e.ingredients_zh), ensure_ascii=False),
        ingredients_en=json.dumps(list(e.ingredients_en), ensure_ascii=False),
        storage=e.storage, label_warnings=json.dumps(list(e.label_warnings), ensure_ascii=False),
        package_size=e.package_size, package_unit=e.package_unit,
    )


def versions(uow: UnitOfWork) -> list[FormularyVersionInfo]:
    with uow:
        rows = uow.session.scalars(select(orm.FormularyVersion).order_by(orm.FormularyVersion.id.desc())).all()
        return [FormularyVersionInfo(r.id, r.imported_at, r.imported_by, r.source,
                                     r.sha256, r.entry_count, r.active) for r in rows]


def active_entry_count(uow: UnitOfWork) -> int:
    with uow:
        return uow.session.scalar(
            select(func.count()).select_from(orm.FormularyEntry).join(orm.FormularyVersion)
            .where(orm.FormularyVersion.active.is_(True))
        ) or 0


def active_entries(uow: UnitOfWork) -> list[FormularyEntry]:
    """The active formulary as domain entries (empty when none was ever imported)."""
    with uow:
        rows = uow.session.scalars(
            select(orm.FormularyEntry).join(orm.FormularyVersion).where(orm.FormularyVersion.active.is_(True))
            .order_by(orm.FormularyEntry.code)
        ).all()
        return [
            FormularyEntry(
                code=r.code, name_zh=r.name_zh, name_en=r.name_en, generic_zh=r.generic_zh, generic_en=r.generic_en,
                atc=r.atc, dosage_form=r.dosage_form, strength=r.strength, special_category=r.special_category,
                max_daily_dose_mg=None if r.max_daily_dose_mg is None else Decimal(r.max_daily_dose_mg),
                skin_test_required=r.skin_test_required,
                ingredients_zh=tuple(json.loads(r.ingredients_zh)), ingredients_en=tuple(json.loads(r.ingredients_en)),
                storage=r.storage, label_warnings=tuple(json.loads(r.label_warnings or "[]")),
                package_size=r.package_size, package_unit=r.package_unit,
            )
            for r in rows
        ]


def active_version_id(uow: UnitOfWork) -> int | None:
    """The active formulary version (None before the first import): a reviewer is rebuilt when it changes."""
    with uow:
        return uow.session.scalar(select(orm.FormularyVersion.id).where(orm.FormularyVersion.active.is_(True)))
