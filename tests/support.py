"""Paths to the shared test material beside the repository (../shared in CI and in development)."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def example_paths() -> list[Path]:
    """The contract's example bundles (ex-*.json)."""
    return sorted((SHARED / "examples").glob("ex-*.json"))


def external_paths() -> list[Path]:
    """FHIR bundles written by other systems (Synthea)."""
    return sorted((SHARED / "external" / "synthea-r4").glob("*.json"))
