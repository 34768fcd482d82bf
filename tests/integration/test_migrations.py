"""Migrations: the schema they build is exactly the ORM's, and an existing database is upgraded on start."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from workstation.adapters.db import migrate
from workstation.adapters.db.engine import make_engine
from workstation.adapters.db.orm import Base
from workstation.bootstrap import Workstation, open_workstation
from workstation.settings import load_settings


def test_migrated_schema_matches_the_models(ws: Workstation) -> None:
    with ws.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, Base.metadata)
    assert diff == [], diff
    assert migrate.current_revision(ws.engine) == migrate.head_revision()


def test_start_creates_and_upgrades_an_empty_database(tmp_path: Path) -> None:
    db = tmp_path / "fresh.sqlite3"
    env = {"RXWS_CONFIG_DIR": str(tmp_path / "c"), "RXWS_DATA_DIR": str(tmp_path / "d"), "RXWS_DATABASE_URL": f"sqlite:///{db}"}
    ws = open_workstation(load_settings(env))
    try:
        assert migrate.current_revision(ws.engine) == migrate.head_revision()
        tables = set(inspect(ws.engine).get_table_names())
        assert {"prescription", "audit_event", "quarantine", "formulary_entry", "intake_cursor"} <= tables
        with ws.engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    finally:
        ws.close()


def test_an_old_schema_is_refused_without_upgrade(tmp_path: Path) -> None:
    import pytest

    from workstation.bootstrap import SchemaOutdated

    db = tmp_path / "empty.sqlite3"
    make_engine(f"sqlite:///{db}").dispose()
    env = {"RXWS_CONFIG_DIR": str(tmp_path / "c"), "RXWS_DATA_DIR": str(tmp_path / "d"), "RXWS_DATABASE_URL": f"sqlite:///{db}"}
    with pytest.raises(SchemaOutdated, match="rxws db upgrade"):
        open_workstation(load_settings(env), upgrade=False)
