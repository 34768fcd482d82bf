"""The shipped CJK font (文泉驿微米黑, TrueType outlines): registered at start so Chinese renders everywhere.

The same file is the one the dispensing labels embed with reportlab (which cannot embed CFF
outlines); ``resources.fonts.font_path`` is the one place that names it.
"""

from __future__ import annotations

from PySide6.QtGui import QFont, QFontDatabase, QGuiApplication
from PySide6.QtWidgets import QApplication

from resources.fonts import FAMILY, FONT_FILE, FontError, font_path

__all__ = ["FAMILY", "FONT_FILE", "FontError", "font_path", "register_fonts"]

_registered: dict[str, int] = {}  # path -> Qt's application-font id, so registering twice is a no-op


def register_fonts() -> str:
    """Register the shipped font with Qt (once per process) and return its family name.

    Needs a QGuiApplication. Raises :class:`FontError` if the file is missing or Qt refuses it.
    """
    if QGuiApplication.instance() is None:
        raise FontError("register_fonts() needs a QApplication to exist first")
    path = font_path()
    key = str(path)
    font_id = _registered.get(key)
    if font_id is None:
        font_id = QFontDatabase.addApplicationFont(key)
        if font_id < 0:
            raise FontError(f"Qt refused the shipped CJK font {path} (damaged file?)")
        _registered[key] = font_id
    families = QFontDatabase.applicationFontFamilies(font_id)
    if FAMILY not in families:
        raise FontError(f"the shipped font {path} has families {families}, expected {FAMILY!r}")
    return FAMILY


def apply_font(app: QApplication, point_size: float | None = None) -> None:
    """Make the application font the platform's UI font with the shipped CJK family as fallback.

    ``point_size`` (the settings' font size) replaces the platform's size when given. Calling
    this again (a changed font size) keeps one fallback entry, not one per call.
    """
    if point_size is not None and not point_size > 0:
        raise ValueError(f"font size must be positive, not {point_size!r}")
    family = register_fonts()
    font = QFont(app.font())
    # Latin from the platform's own UI font; Han characters (which it lacks on a machine without
    # CJK fonts) from the shipped family, tried before Qt's system fallback.
    current = [f for f in (font.families() or [font.family()]) if f and f != family]
    font.setFamilies([*current, family])
    if point_size is not None:
        font.setPointSizeF(point_size)
    app.setFont(font)
