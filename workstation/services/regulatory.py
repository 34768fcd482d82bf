"""The regulatory special-drug lists (特殊管理药品目录): which list is in force, and replacing it."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import resources
from workstation.adapters.db.uow import UnitOfWork
from workstation.domain.special_drugs import SpecialDrugList, parse_special_drugs_csv
from workstation.services import audit
from workstation.settings import Settings

PACKAGED = ("regulatory", "special_drugs.csv")


def installed_list_path(settings: Settings) -> Path:
    """Where `rxws special-drugs import` puts a newer list (the data directory)."""
    return settings.data_dir / "special_drugs.csv"


def load_special_drugs(settings: Settings) -> SpecialDrugList:
    """The list in force: the settings' path, else an imported list, else the one shipped with the product."""
    if settings.special_drugs_path is not None:
        path = settings.special_drugs_path
        return parse_special_drugs_csv(path.read_bytes(), str(path))
    installed = installed_list_path(settings)
    if installed.exists():
        return parse_special_drugs_csv(installed.read_bytes(), str(installed))
    return parse_special_drugs_csv(resources.read_resource(*PACKAGED), "packaged:" + "/".join(PACKAGED))


def import_special_drugs(settings: Settings, uow: UnitOfWork, data: bytes, source: str, *, actor: str) -> SpecialDrugList:
    """Validate a newer list and install it for every later start; audited. Raises SpecialDrugListError."""
    new = parse_special_drugs_csv(data, source)
    try:
        old: SpecialDrugList | None = load_special_drugs(settings)
    except Exception:  # an unreadable old list must not block installing a good one
        old = None
    target = installed_list_path(settings)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".special_drugs.", suffix=".csv")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        with uow:
            audit.record(uow, actor=actor, action="regulatory.list_imported", subject="special_drugs",
                         details={"source": source, "sha256": new.sha256, "entries": len(new.entries),
                                  "replaces_sha256": old.sha256 if old else None})
            os.replace(tmp, target)
            uow.commit()
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return new
