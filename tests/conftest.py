"""Shared fixtures: a workstation on SQLite and on PostgreSQL, each test on its own database.

PostgreSQL (127.0.0.1:5432, user postgres, trust auth) is used when it answers; locally its tests
skip with the reason printed; with CI=true a missing server fails the run instead.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before anything imports Qt

import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL

from workstation.adapters.db import migrate
from workstation.adapters.db.engine import make_engine
from tests.support import PKI, MemoryKeyring, signed_prescription, staff
from workstation.bootstrap import Workstation, open_workstation
from workstation.domain.accounts import Principal, Role
from workstation.settings import Settings, load_settings

PG_ADMIN = URL.create("postgresql+psycopg", username="postgres", host="127.0.0.1", port=5432, database="postgres")
IN_CI = os.environ.get("CI", "").lower() == "true"


def _pg_reason() -> str | None:
    """None when PostgreSQL answers, else why not."""
    try:
        engine = create_engine(PG_ADMIN, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return None
    except Exception as exc:  # any failure to connect means: no server to test against
        return f"PostgreSQL at 127.0.0.1:5432 did not answer ({type(exc).__name__}: {str(exc).splitlines()[0][:120]})"


_PG_REASON = _pg_reason()


def pytest_report_header(config: pytest.Config) -> str:
    return "PostgreSQL: " + ("available, tests run on SQLite and PostgreSQL" if _PG_REASON is None
                             else f"NOT available — PostgreSQL tests skip: {_PG_REASON}")


def pytest_sessionstart(session: pytest.Session) -> None:
    if IN_CI and _PG_REASON is not None:
        raise pytest.UsageError(f"CI=true but {_PG_REASON}: the PostgreSQL tests must run in CI")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file that each test copies (migrating per test would be slow)."""
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    engine.dispose()  # the last connection to close checkpoints the WAL into the main file
    assert not path.with_name(path.name + "-wal").exists()
    return path


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """A migrated PostgreSQL database used as CREATE DATABASE … TEMPLATE; dropped at the end of the run."""
    if _PG_REASON is not None:
        pytest.skip(_PG_REASON)
    name = f"rxws_tmpl_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(PG_ADMIN.set(database=name))
    migrate.upgrade(engine)
    engine.dispose()
    try:
        yield name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def make_pg_database(template: str) -> tuple[str, str]:
    """Create a fresh database from the template; returns (name, URL)."""
    name = f"rxws_test_{os.getpid()}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    admin.dispose()
    return name, PG_ADMIN.set(database=name).render_as_string(hide_password=False)


def drop_pg_database(name: str) -> None:
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> Iterator[str]:
    """A fresh, migrated database per test, on each backend."""
    if request.param == "sqlite":
        path = tmp_path / "rxws.sqlite3"
        shutil.copyfile(sqlite_template, path)
        yield f"sqlite:///{path}"
        return
    template = request.getfixturevalue("pg_template")
    name, url = make_pg_database(template)
    try:
        yield url
    finally:
        drop_pg_database(name)


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    env = {
        "RXWS_CONFIG_DIR": str(tmp_path / "config"),
        "RXWS_DATA_DIR": str(tmp_path / "data"),
        "RXWS_DATABASE_URL": database_url,
    }
    return load_settings(env)


@pytest.fixture
def ws(settings: Settings) -> Iterator[Workstation]:
    workstation = open_workstation(settings)
    try:
        yield workstation
    finally:
        workstation.close()


@pytest.fixture
def sqlite_ws(tmp_path: Path, sqlite_template: Path) -> Iterator[Workstation]:
    """A workstation on SQLite only, for tests about SQLite itself."""
    path = tmp_path / "only.sqlite3"
    shutil.copyfile(sqlite_template, path)
    env = {"RXWS_CONFIG_DIR": str(tmp_path / "config"), "RXWS_DATA_DIR": str(tmp_path / "data"),
           "RXWS_DATABASE_URL": f"sqlite:///{path}"}
    workstation = open_workstation(load_settings(env))
    try:
        yield workstation
    finally:
        workstation.close()



# --------------------------------------------------------------------------- a pharmacy with people in it

PASSWORD, PIN = "Review-Desk-2026", "482915"


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    """A secure-looking keyring kept in memory, so tests never touch (or need) the machine's own."""
    import keyring

    before = keyring.get_keyring()
    ring = MemoryKeyring()
    keyring.set_keyring(ring)
    try:
        yield ring
    finally:
        keyring.set_keyring(before)


@dataclass
class Pharmacy:
    ws: Workstation
    admin: Principal
    pharmacist: Principal
    lead: Principal

    def receive(self, number: str, *, authored: datetime | None = None, **changes: Any) -> None:
        """A new signed prescription, written now (or at ``authored``), taken in."""
        raw = signed_prescription(number, authored or datetime.now(UTC), **changes)
        report = self.ws.intake.ingest(raw, f"test:{number}")
        assert report.outcome == "stored", report

    def approve(self, number: str, who: Principal | None = None) -> str:
        who = who or self.pharmacist
        self.ws.claims.claim(who, number)
        session = self.ws.signing.begin(who)
        return self.ws.decisions.approve(who, session, number, pin=PIN, password=PASSWORD).id


@pytest.fixture
def fast_kdfs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cheaper password hashing and PIN key derivation, for tests that create many accounts and keys.
    The real parameters are tested on their own; files made here still carry their own round counts."""
    import argon2

    from workstation.adapters import pki
    from workstation.services import accounts

    monkeypatch.setattr(pki, "PIN_KDF_ROUNDS", 10_000)
    monkeypatch.setattr(accounts, "_HASHER", argon2.PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1))


@pytest.fixture
def pharmacy(tmp_path: Path, database_url: str, memory_keyring: MemoryKeyring, fast_kdfs: None) -> Iterator[Pharmacy]:
    """A workstation (both databases) trusting the shared test CA, with the example formulary, a pharmacy CA,
    an enrolled pharmacist (PH0001) and an enrolled lead (PH0002)."""
    env = {"RXWS_CONFIG_DIR": str(tmp_path / "config"), "RXWS_DATA_DIR": str(tmp_path / "data"),
           "RXWS_DATABASE_URL": database_url, "RXWS_TRUST": str(PKI / "ca.pem")}
    ws = open_workstation(load_settings(env))
    try:
        admin, people = staff(ws, (("PH0001", "李药师", frozenset({Role.PHARMACIST})),
                                   ("PH0002", "周主任", frozenset({Role.LEAD}))), password=PASSWORD, pin=PIN)
        yield Pharmacy(ws, admin, people[0], people[1])
    finally:
        ws.close()
