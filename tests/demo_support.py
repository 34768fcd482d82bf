"""The demo data for tests: made once per run at a fixed moment, and written to a folder when a test wants files."""

from __future__ import annotations

import datetime as dt
import json
from functools import cache
from pathlib import Path
from typing import Any

from resources.demo import generate

# The day the case table is written for, at the review time the frozen demo used: dates do not move.
FIXED_NOW = dt.datetime(2026, 12, 1, 11, 30, tzinfo=generate.TZ)


def demo_set(now: dt.datetime = FIXED_NOW) -> generate.DemoSet:
    """The one demo set of this run for ``now`` (the same CA and signatures whoever asks)."""
    return _made(now)


@cache
def _made(now: dt.datetime) -> generate.DemoSet:
    return generate.build_demo(now)


def write_demo(folder: Path, now: dt.datetime = FIXED_NOW) -> dict[str, Any]:
    """Write the demo set for ``now`` under ``folder``; returns its manifest."""
    generate.write(demo_set(now).files(), folder)
    manifest: dict[str, Any] = json.loads((folder / "manifest.json").read_text("utf-8"))
    return manifest


def bundle(name: str, now: dt.datetime = FIXED_NOW) -> dict[str, Any]:
    """One demo bundle (by file name, e.g. '01-htn-follow-up.json') as JSON."""
    found = [b for b in demo_set(now).bundles if b.file_name == name]
    assert found, f"no demo bundle {name}"
    data: dict[str, Any] = json.loads(found[0].data)
    return data
