"""The `rxws` command: the workstation's command line, able to open the window (`rxws` / `rxws start`).

Nothing here imports Qt until a window is really opened, so every other command starts as fast as the
command-line core, and a machine without a display never loads Qt's GUI at all.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from workstation import cli

if TYPE_CHECKING:
    from workstation.bootstrap import Workstation


def display_available(env: dict[str, str] | None = None, platform: str | None = None) -> str | None:
    """None when a window can be shown to a person here, else why not (in one line).

    ``QT_QPA_PLATFORM=offscreen`` (tests, screenshots) counts as no display: nobody could use that window.
    """
    env = dict(os.environ) if env is None else env
    platform = sys.platform if platform is None else platform
    qpa = env.get("QT_QPA_PLATFORM", "").split(":")[0].strip()
    if qpa in ("offscreen", "minimal", "vnc"):
        return f"QT_QPA_PLATFORM={qpa} shows no window to a person"
    if platform.startswith(("win", "darwin")) or qpa:
        return None
    if env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"):
        return None
    return "没有显示器 no display (neither DISPLAY nor WAYLAND_DISPLAY is set)"


class QtWindow:
    def unavailable(self) -> str | None:
        return display_available()

    def run(self, ws: Workstation) -> int:
        from ui import app

        return app.run(ws)


def main(argv: Sequence[str] | None = None) -> int:
    return cli.main(argv, window=QtWindow())


if __name__ == "__main__":
    raise SystemExit(main())
