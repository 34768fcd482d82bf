"""Engines for the embedded SQLite default and for PostgreSQL, with the pragmas the workstation relies on."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import NullPool


def make_engine(url: str | URL, *, password: str | None = None, echo: bool = False) -> Engine:
    """An engine for ``url``. SQLite gets WAL, foreign keys and IMMEDIATE transactions on every connection."""
    u = make_url(url)
    if password is not None and u.password is None:
        u = u.set(password=password)
    if u.get_backend_name() == "sqlite":
        engine = create_engine(u, echo=echo, poolclass=NullPool if u.database in (None, "", ":memory:") else None)
        _configure_sqlite(engine)
        return engine
    if u.get_backend_name() == "postgresql" and u.get_driver_name() in ("", "psycopg2"):
        u = u.set(drivername="postgresql+psycopg")
    return create_engine(u, echo=echo, pool_pre_ping=True)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below issue BEGIN itself (pysqlite's own handling is deferred
        # and would upgrade read locks to write locks mid-transaction, which fails under contention).
        dbapi_connection.isolation_level = None
        cur = dbapi_connection.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # IMMEDIATE takes the write lock up front: the audit chain and version numbers are read and
        # extended in one transaction, and two writers must never interleave there.
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"
