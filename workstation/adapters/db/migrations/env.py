"""Alembic environment: runs migrations on the connection the workstation hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from workstation.adapters.db.orm import Base

config = context.config
connection: Connection | None = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `rxws db upgrade` (workstation.adapters.db.migrate)")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
