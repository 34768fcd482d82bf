"""The root of the workstation's typed errors, so a caller can catch every deliberate failure at once."""

from __future__ import annotations


class DomainError(Exception):
    """Root of every error the workstation raises on purpose."""
