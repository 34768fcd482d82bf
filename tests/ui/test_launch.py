"""`rxws` / `rxws start`: the window where a person can see it, the headless start (said in one line) elsewhere."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ui import launch


@pytest.mark.parametrize(("env", "platform", "shows"), [
    ({"DISPLAY": ":0"}, "linux", True),
    ({"WAYLAND_DISPLAY": "wayland-0"}, "linux", True),
    ({}, "linux", False),
    ({"QT_QPA_PLATFORM": "offscreen", "DISPLAY": ":0"}, "linux", False),
    ({"QT_QPA_PLATFORM": "xcb"}, "linux", True),
    ({}, "win32", True),
    ({}, "darwin", True),
])
def test_display_available(env: dict[str, str], platform: str, shows: bool) -> None:
    reason = launch.display_available(env, platform)
    assert (reason is None) == shows
    if reason is not None:
        assert "\n" not in reason and reason


def _env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RXWS_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("RXWS_DATA_DIR", str(tmp_path / "data"))


def test_headless_flag_says_so_in_one_line_and_prints_the_queue(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                capsys: Any, fast_kdfs: None) -> None:
    _env(tmp_path, monkeypatch)
    opened: list[object] = []
    monkeypatch.setattr(launch.QtWindow, "run", lambda self, ws: opened.append(ws) or 0)
    monkeypatch.setattr(launch, "display_available", lambda *a: None)  # a display is there; --headless wins
    assert launch.main(["start", "--headless"]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if "starting headless" in line]
    assert lines == ["无界面启动 starting headless: --headless"]
    assert "待审处方 prescriptions waiting for review: 44" in out
    assert not opened


def test_no_display_starts_headless_with_the_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any,
                                                    fast_kdfs: None) -> None:
    _env(tmp_path, monkeypatch)
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setenv("QT_QPA_PLATFORM", "")
    assert launch.main([]) == 0
    out = capsys.readouterr().out
    assert "无界面启动 starting headless: 没有显示器 no display (neither DISPLAY nor WAYLAND_DISPLAY is set)" in out


def test_with_a_display_the_window_opens_on_the_started_workstation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                   capsys: Any, fast_kdfs: None) -> None:
    _env(tmp_path, monkeypatch)
    opened: list[Any] = []
    monkeypatch.setattr(launch, "display_available", lambda *a: None)
    monkeypatch.setattr(launch.QtWindow, "run", lambda self, ws: opened.append(ws.settings.demo_mode) or 0)
    assert launch.main(["start"]) == 0
    assert opened == [True]
    assert "opening the workstation window" in capsys.readouterr().out
