"""Alembic migrations of the workstation's schema."""
