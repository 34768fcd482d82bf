"""Start the window: fonts and translations, first-run setup, sign-in, the main window — until the user quits.

``rxws start`` calls :func:`run` after the headless start (migrations, demo data, inbox). Signing out
returns to the sign-in screen; closing the window quits.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication, QDialog

from workstation.bootstrap import Workstation
from workstation.services import site

from ui import fonts, i18n
from ui.context import AppContext
from ui.tasks import TaskRunner


def prepare_application(argv: Sequence[str] = ()) -> QApplication:
    """The QApplication with the bundled CJK font, the user's font size and language."""
    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication([sys.argv[0] if sys.argv else "rxws", *argv])
    app.setOrganizationName(i18n.SETTINGS_ORG)
    app.setApplicationName(i18n.SETTINGS_APP)
    app.setApplicationDisplayName("处方审核工作站 Rx Review Workstation")
    fonts.register_fonts()
    size = QSettings(i18n.SETTINGS_ORG, i18n.SETTINGS_APP).value("font_size")
    try:
        point_size = float(size) if size not in (None, "") else None
    except (TypeError, ValueError):
        point_size = None
    fonts.apply_font(app, point_size)
    i18n.install_translators(app, i18n.current_language())
    return app


def make_context(ws: Workstation) -> AppContext:
    return AppContext(ws, TaskRunner(), pharmacy_name=site.pharmacy_name(ws.uow()))


def run(ws: Workstation, argv: Sequence[str] = ()) -> int:
    """Show the window until the user quits. Returns the exit status."""
    from ui.main_window import MainWindow
    from ui.signin import SignInDialog

    app = prepare_application(argv)
    ctx = make_context(ws)
    if not ws.settings.demo_mode and site.needs_setup(ws.uow()):
        from ui.setup_wizard import SetupWizard

        if SetupWizard(ctx).exec() != QDialog.DialogCode.Accepted:
            return 0
        ctx.pharmacy_name = site.pharmacy_name(ws.uow())
    while True:
        dialog = SignInDialog(ctx)
        if dialog.exec() != QDialog.DialogCode.Accepted or dialog.principal is None:
            break
        ctx.principal, ctx.session = dialog.principal, None
        window = MainWindow(ctx)
        signed_out: list[bool] = []
        window.signed_out.connect(lambda: signed_out.append(True))
        window.show()
        app.exec()
        window.deleteLater()
        ctx.principal = None
        if not signed_out:
            break
    ctx.tasks.wait(30_000)
    return 0
