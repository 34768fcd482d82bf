"""Fixtures for the window's tests: a workstation with freshly made demo data, and the messages it would show."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from workstation.bootstrap import Workstation

from ui import messages
from ui.screenshots import throwaway_demo


@pytest.fixture
def demo_ws(tmp_path: Path, fast_kdfs: None) -> Iterator[tuple[Workstation, str]]:
    with throwaway_demo(tmp_path) as made:
        yield made


@pytest.fixture
def shown_messages(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    seen: list[str] = []

    def capture(box: Any) -> int:
        seen.append(box.text())
        return int(box.standardButtons().value) and 0

    monkeypatch.setattr(messages, "_show", capture)
    return seen
