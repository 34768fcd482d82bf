"""Demo data (演示数据): a formulary and signed prescriptions, loaded once into an empty workstation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib.resources import files

from sqlalchemy import select

from workstation.adapters.db import orm
from workstation.adapters.db.uow import UnitOfWork
from workstation.services import audit, formulary
from workstation.services.intake import IntakeReport, IntakeService


@dataclass(frozen=True, slots=True)
class DemoLoad:
    formulary_entries: int
    reports: tuple[IntakeReport, ...]


def already_loaded(uow: UnitOfWork) -> bool:
    with uow:
        return uow.session.scalars(select(orm.AuditEvent.id).where(orm.AuditEvent.action == "demo.loaded").limit(1)).first() is not None


def load_demo(make_uow: Callable[[], UnitOfWork], intake: IntakeService, *, actor: str = "system:demo") -> DemoLoad | None:
    """Load the demo formulary and bundles unless this database has had them before."""
    if already_loaded(make_uow()):
        return None
    demo = files("resources") / "demo"
    imported = formulary.import_formulary(make_uow(), (demo / "formulary.csv").read_bytes(), "demo:formulary.csv", actor=actor)
    bundles = sorted((p for p in (demo / "bundles").iterdir() if p.name.endswith(".json")), key=lambda p: p.name)
    reports = tuple(intake.ingest_many((p.read_bytes(), f"demo:bundles/{p.name}") for p in bundles))
    with make_uow() as uow:
        audit.record(uow, actor=actor, action="demo.loaded", subject="demo",
                     details={"bundles": len(reports), "formulary_entries": imported.entries})
        uow.commit()
    return DemoLoad(imported.entries, reports)
