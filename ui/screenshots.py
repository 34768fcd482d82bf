"""Render the workstation's main screens to PNG with fresh demo data: ``python -m ui.screenshots OUTDIR``.

Sign-in, the queue, a clean prescription, a blocked narcotic, a child without a guardian and the signing
dialog, each in Chinese and English (12 files), at 1366×768, on Qt's offscreen platform. The demo lives
in a temporary folder and is thrown away afterwards; nothing touches the user's own workstation data.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QPoint, QSettings  # noqa: E402 (the platform is chosen before Qt loads)
from PySide6.QtGui import QColor, QPainter, QPixmap  # noqa: E402
from PySide6.QtWidgets import QApplication, QWidget  # noqa: E402

from workstation.bootstrap import Workstation, open_workstation  # noqa: E402
from workstation.services import demo  # noqa: E402
from workstation.settings import load_settings  # noqa: E402

from ui import i18n  # noqa: E402
from ui.app import make_context, prepare_application  # noqa: E402
from ui.context import AppContext  # noqa: E402

SIZE = (1366, 768)
# The demo cases shown (their numbers end in the case number; see resources/demo/generate.py).
CLEAN, NARCOTIC, CHILD_NO_GUARDIAN = 1, 7, 11


def wait_until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    app = QApplication.instance()
    assert app is not None
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise TimeoutError("the window did not get there in time")
        app.processEvents()
        time.sleep(0.01)


def _save(widget: QWidget, path: Path) -> Path:
    widget.grab().save(str(path), "PNG")
    return path


def _over(window: QWidget, dialog: QWidget, path: Path) -> Path:
    """The dialog drawn centred over the window, as a person sees it."""
    base = window.grab()
    shot = dialog.grab()
    canvas = QPixmap(base.size())
    painter = QPainter(canvas)
    painter.drawPixmap(0, 0, base)
    painter.fillRect(canvas.rect(), QColor(0, 0, 0, 64))  # dimmed, as under a modal dialog
    painter.drawPixmap(QPoint((base.width() - shot.width()) // 2, (base.height() - shot.height()) // 2), shot)
    painter.end()
    canvas.save(str(path), "PNG")
    return path


@contextmanager
def throwaway_demo(root: Path) -> Iterator[tuple[Workstation, str]]:
    """A workstation on fresh demo data kept under ``root`` (Qt's per-user settings too); yields it and
    the demo series. Used by the screenshots and by the window's tests, so both see what a user sees."""
    QSettings.setPath(QSettings.Format.NativeFormat, QSettings.Scope.UserScope, str(root / "qsettings"))
    env = {"RXWS_CONFIG_DIR": str(root / "config"), "RXWS_DATA_DIR": str(root / "data")}
    ws = open_workstation(load_settings(env))
    try:
        loaded = demo.load_demo(ws.uow, ws.intake, ws.accounts, ws.signing, demo_mode=True)
        if loaded is None:
            raise RuntimeError("the demo data was not loaded (the database already holds prescriptions)")
        yield ws, loaded.series
    finally:
        ws.close()


def render(out: Path, languages: Sequence[str] = ("zh_CN", "en")) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="rxws-screens-") as tmp, throwaway_demo(Path(tmp)) as (ws, series):
        app = prepare_application()
        files: list[Path] = []
        for language in languages:
            i18n.install_translators(app, language)
            files += _render_language(ws, series, language, out)
        return files


def _number(series: str, case: int) -> str:
    return f"RXDEMO{series}{case:03d}"


def _render_language(ws: Workstation, series: str, language: str, out: Path) -> list[Path]:
    from ui.main_window import MainWindow
    from ui.signin import SignInDialog

    tag = "zh" if language.startswith("zh") else "en"
    files: list[Path] = []
    ctx: AppContext = make_context(ws)
    signin = SignInDialog(ctx)
    signin.show()
    wait_until(signin.isVisible)
    files.append(_on_desktop(signin, out / f"{tag}-1-signin.png"))
    signin.close()

    ctx.principal = ws.accounts.authenticate("YS-DEMO-0001", demo.DEMO_PASSWORD, where="screenshots")
    window = MainWindow(ctx, poll_seconds=None)
    window.resize(*SIZE)
    window.show()
    wait_until(lambda: window.queue.loaded())
    files.append(_save(window, out / f"{tag}-2-queue.png"))

    for case, name in ((CLEAN, "3-clean"), (NARCOTIC, "4-blocked-narcotic"), (CHILD_NO_GUARDIAN, "5-child-no-guardian")):
        shown: list[object] = []
        window.opened.connect(shown.append)
        window._claim_then_open(_number(series, case))
        wait_until(lambda: bool(shown) and getattr(shown[-1], "holds_claim", False))
        window.opened.disconnect(shown.append)
        window.queue.refresh()
        wait_until(lambda: window.queue.loaded())
        files.append(_save(window, out / f"{tag}-{name}.png"))
        if case == CLEAN:
            window._claim_then_open(_number(series, CLEAN))
            wait_until(lambda: window.panel.approve_action.isEnabled())
            window.panel.approve()
            wait_until(lambda: window.panel.signing_dialog is not None and window.panel.signing_dialog.isVisible())
            dialog = window.panel.signing_dialog
            assert dialog is not None
            files.append(_over(window, dialog, out / f"{tag}-6-signing-dialog.png"))
            dialog.reject()
    window.close()
    ctx.tasks.wait(10_000)
    # the claims go back to the queue on close; the next language starts from the same demo
    files.append(_dashboard(ws, out / f"{tag}-7-coverage-dashboard.png"))
    files.append(_roster(ws, out / f"{tag}-8-roster-editor.png"))
    return files


def _roster(ws: Workstation, path: Path) -> Path:
    """The week's roster as a lead edits it (the shifts the dashboard shot made)."""
    from ui.roster_editor import RosterEditor

    ctx = make_context(ws)
    ctx.principal = ws.accounts.authenticate("YS-DEMO-0002", demo.DEMO_PASSWORD, where="screenshots")
    editor = RosterEditor(ctx)
    editor.resize(*SIZE)
    editor.show()
    wait_until(lambda: editor.loaded)
    QApplication.processEvents()
    shot = _save(editor, path)
    editor.close()
    ctx.tasks.wait(10_000)
    return shot


def _dashboard(ws: Workstation, path: Path) -> Path:
    """The lead's dashboard over a day with hours, a roster with a planned gap, and a morning of presence."""
    from datetime import datetime, time, timedelta
    from zoneinfo import ZoneInfo

    from workstation.services.coverage import CoverageService

    from ui.dashboard import Dashboard

    zone = ZoneInfo(ws.settings.pharmacy_time_zone)
    lead = ws.accounts.authenticate("YS-DEMO-0002", demo.DEMO_PASSWORD, where="screenshots")
    pharmacist = ws.accounts.authenticate("YS-DEMO-0001", demo.DEMO_PASSWORD, where="screenshots")
    now = datetime.now(zone)
    day = datetime.combine(now.date(), time(0), zone)
    if not ws.coverage.shifts(day, day + timedelta(days=1)):  # once, for both languages
        hours = "date_or_weekday,open,close\n" + "".join(f"{d},08:00,22:00\n" for d in range(1, 8))
        ws.coverage.import_hours(lead, hours.encode(), "screenshots:hours.csv")
        roster = ("licence,start,end\n"
                  f"YS-DEMO-0001,{(day + timedelta(hours=8)).isoformat()},{(day + timedelta(hours=15)).isoformat()}\n"
                  f"YS-DEMO-0002,{(day + timedelta(hours=16)).isoformat()},{(day + timedelta(hours=22)).isoformat()}\n")
        ws.coverage.import_roster(lead, roster.encode(), "screenshots:roster.csv")
        moment = [day + timedelta(hours=8, minutes=5)]
        past = CoverageService(ws.uow, time_zone=ws.settings.pharmacy_time_zone, clock=lambda: moment[0],
                               fresh_seconds=3600)
        while moment[0] < min(now, day + timedelta(hours=12, minutes=30)):
            past.beat(pharmacist, "screenshots-ws", "reviewing")
            moment[0] += timedelta(minutes=30)
        past.leave("screenshots-ws")
    ctx = make_context(ws)
    ctx.principal = lead
    dashboard = Dashboard(ctx)
    dashboard.resize(*SIZE)
    dashboard.show()
    wait_until(lambda: dashboard.loaded)
    QApplication.processEvents()  # lay out the figures just set before the picture is taken
    shot = _save(dashboard, path)
    dashboard.close()
    ctx.tasks.wait(10_000)
    return shot


def _on_desktop(dialog: QWidget, path: Path) -> Path:
    """A dialog alone is small: draw it on an empty 1366×768 desktop, as it opens on one."""
    canvas = QPixmap(*SIZE)
    canvas.fill(QColor(0x3A, 0x4A, 0x5C))
    shot = dialog.grab()
    painter = QPainter(canvas)
    painter.drawPixmap(QPoint((SIZE[0] - shot.width()) // 2, (SIZE[1] - shot.height()) // 2), shot)
    painter.end()
    canvas.save(str(path), "PNG")
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ui.screenshots", description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, metavar="OUTDIR")
    args = parser.parse_args(argv)
    for path in render(args.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
