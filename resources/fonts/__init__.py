"""The CJK font shipped with the workstation (WenQuanYi Micro Hei, TrueType outlines) and its licence.

:func:`font_path` is the one place that names the file: Qt registers it at start (``ui/fonts.py``) and
the dispensing labels embed it as a subset (``printing/``), so neither needs a font on the machine.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

FONT_FILE = "rxws-cjk.ttf"
FAMILY = "RXWS WenQuanYi Micro Hei"


class FontError(RuntimeError):
    """The shipped font is missing, or would not load: Chinese would show as boxes."""


def font_path() -> Path:
    """The shipped ``.ttf`` on disk (for Qt and for the labels' PDF embedding)."""
    resource = files("resources.fonts").joinpath(FONT_FILE)
    if not isinstance(resource, Path):
        raise FontError(f"the shipped font {FONT_FILE} is not on disk ({resource!r}): install rxws unzipped")
    if not resource.is_file():
        raise FontError(f"the shipped CJK font is missing: {resource} (reinstall rxws; it is package data)")
    return resource
