"""The composition root: builds the engine, units of work and services from the settings.

Nothing here runs at import time; ``open_workstation`` is called by the CLI (and later the UI).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from workstation.adapters import secrets
from workstation.adapters.db import migrate
from workstation.adapters.db.engine import make_engine
from workstation.adapters.db.uow import UnitOfWork, session_factory
from workstation.adapters.signature import load_trust_anchors
from workstation.domain.accounts import Principal
from workstation.domain.errors import DomainError
from workstation.domain.special_drugs import SpecialDrugList
from workstation.services import formulary, regulatory, review
from workstation.services.accounts import AccountService
from workstation.services.claims import ClaimService
from workstation.services.decisions import DecisionService
from workstation.services.coverage import CoverageService
from workstation.services.detail import DetailService
from workstation.services.labels import LabelService
from workstation.services.intake import IntakeService
from workstation.services.release import ReleaseSender, SenderSettings
from workstation.services.review import Reviewer
from workstation.services.signing import SigningService
from workstation.settings import Settings


class DatabaseUnavailable(DomainError):
    """The database cannot be reached or used; the message says what to check."""


class SchemaOutdated(DomainError):
    """The database schema is older than this version of the workstation."""


@dataclass
class Workstation:
    """Everything a command or a window needs, wired once."""

    settings: Settings
    engine: Engine
    _factory: sessionmaker[Session] = field(init=False, repr=False)
    _reviewer: tuple[tuple[object, ...], Reviewer] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self._factory = session_factory(self.engine)

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self._factory)

    @cached_property
    def intake(self) -> IntakeService:
        return IntakeService(self.uow, max_bundle_bytes=self.settings.max_bundle_bytes)

    @cached_property
    def special_drugs(self) -> SpecialDrugList:
        return regulatory.load_special_drugs(self.settings)

    @cached_property
    def accounts(self) -> AccountService:
        return AccountService(self.uow)

    @cached_property
    def signing(self) -> SigningService:
        return SigningService(self.uow, self.accounts)

    @cached_property
    def claims(self) -> ClaimService:
        return ClaimService(self.uow)

    def reviewer(self) -> Reviewer:
        """The rules with the active formulary, the special-drug lists and the prescriber trust anchors
        (configured files, and in demo mode the demo CAs held in the database)."""
        version = formulary.active_version_id(self.uow())
        stored = review.stored_trust_anchors(self.uow(), self.settings, "prescriber")
        key = (version, *(c.fingerprint(hashes.SHA256()) for c in stored))  # a demo reset brings a new CA
        if self._reviewer is None or self._reviewer[0] != key:
            anchors = load_trust_anchors(review.trust_anchor_paths(self.settings)) + stored
            built = Reviewer.build(formulary.active_entries(self.uow()), self.special_drugs, anchors,
                                   review.institution_settings(self.settings))
            self._reviewer = (key, built)
        return self._reviewer[1]

    def release_anchors(self) -> tuple[x509.Certificate, ...]:
        """What receivers trust for pharmacists' signatures: the pharmacy CA, configured roots, and in demo
        mode the demo CAs (which issue the demo accounts' certificates)."""
        ca = self.signing.ca_certificate()
        return (((ca,) if ca is not None else ()) + load_trust_anchors(self.settings.release.trust_anchors)
                + review.stored_trust_anchors(self.uow(), self.settings, "pharmacist"))

    @cached_property
    def coverage(self) -> CoverageService:
        return CoverageService(self.uow, time_zone=self.settings.pharmacy_time_zone)

    @cached_property
    def labels(self) -> LabelService:
        return LabelService(self.uow, self.reviewer, self.release_anchors, time_zone=self.settings.pharmacy_time_zone)

    @cached_property
    def detail(self) -> DetailService:
        return DetailService(self.uow, self.reviewer, time_zone=self.settings.pharmacy_time_zone)

    @cached_property
    def decisions(self) -> DecisionService:
        return DecisionService(self.uow, self.reviewer, self.signing, self.release_anchors,
                               time_zone=self.settings.pharmacy_time_zone, loosened=review.loosenings(self.settings))

    def sender(self, principal: Principal, **kwargs: Any) -> ReleaseSender:
        r = self.settings.release
        names = {"dispensing": r.dispensing_token_name, "delivery": r.delivery_token_name}
        return ReleaseSender(
            self.uow, principal, SenderSettings({"dispensing": r.dispensing_url, "delivery": r.delivery_url},
                                     connect_timeout=r.connect_timeout, read_timeout=r.read_timeout,
                                     max_attempts=r.max_attempts, backoff_seconds=r.backoff_seconds),
            self.release_anchors, token=lambda target: secrets.get_secret(names[target]), **kwargs)

    def close(self) -> None:
        self.engine.dispose()


def database_password(settings: Settings) -> str | None:
    """The PostgreSQL password from the OS keyring (None for SQLite or when none is stored)."""
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        return None
    return secrets.get_secret(secrets.database_secret_name(url.username, url.host, url.port, url.database))


def open_workstation(settings: Settings, *, upgrade: bool = True) -> Workstation:
    """Connect, and bring the schema up to date (or refuse to run on an old one when ``upgrade`` is False)."""
    if settings.is_sqlite:
        db_path = make_url(settings.database_url).database
        if db_path and db_path != ":memory:":
            Path(db_path).parent.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.database_url, password=database_password(settings))
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError as exc:
        engine.dispose()
        raise DatabaseUnavailable(_explain(settings, exc)) from None
    if upgrade:
        migrate.upgrade(engine)
    else:
        current, head = migrate.current_revision(engine), migrate.head_revision()
        if current != head:
            engine.dispose()
            raise SchemaOutdated(f"database schema is at {current or 'nothing'}, this workstation needs {head}: run `rxws db upgrade`")
    return Workstation(settings, engine)


def _explain(settings: Settings, exc: OperationalError) -> str:
    url = make_url(settings.database_url)
    safe = url.render_as_string(hide_password=True)
    detail = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
    hint = ""
    if url.get_backend_name() == "postgresql":
        if "password" in detail.lower() or "authentication" in detail.lower():
            hint = " — store the password in the OS keyring with `rxws db set-password`"
        else:
            hint = " — is the PostgreSQL server running and reachable from this machine?"
    return f"无法连接数据库 / cannot open the database {safe}: {detail}{hint}"
