"""The shipped CJK font: Qt registers it, it draws every character the window shows, reportlab embeds it."""

from __future__ import annotations

import re
import shutil
import subprocess
import tokenize
import unicodedata
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont, QFontDatabase, QFontMetrics, QImage, QRawFont
from PySide6.QtWidgets import QApplication, QLabel

from ui import fonts

pytestmark = [pytest.mark.qt_log_level_fail("WARNING"),
              pytest.mark.qt_log_ignore(r"This plugin does not support propagateSizeHints\(\)")]

ROOT = Path(__file__).resolve().parents[2]
TS_FILE = ROOT / "resources" / "translations" / "rxws_zh_CN.ts"
# Strings the window shows from demo data and the domain, beyond the translation.
SAMPLES = ("处方审核工作站 李药师 王主任 硫酸吗啡缓释片 监护人 陪伴医师 确诊 电子签名 审核通过 审核不通过 "
           "退回医师 麻 精一 精二 毒 放 易 ℃ 2–8℃ 苯二氮䓬类 µg × ≥ ≤ ± · — … （）【】《》：；，。、“”‘’％")


def _visible(ch: str) -> bool:
    """Characters that must draw ink (not spaces, controls or format characters)."""
    return unicodedata.category(ch)[0] not in {"Z", "C"}


def _translation_chars() -> set[str]:
    root = ET.parse(TS_FILE).getroot()
    text = "".join("".join(t.itertext()) for t in root.iter("translation"))
    assert text.strip(), f"{TS_FILE} has no translations"
    return {ch for ch in text if ord(ch) > 127}


def _python_strings(path: Path) -> Iterator[str]:
    with path.open("rb") as fh:
        for tok in tokenize.tokenize(fh.readline):
            if tok.type == tokenize.STRING or tok.type == getattr(tokenize, "FSTRING_MIDDLE", -1):
                yield tok.string


def _cjk(ch: str) -> bool:
    """Han, CJK punctuation, fullwidth forms: what only a CJK font has (⚠ and such are in the UI fonts)."""
    u = ord(ch)
    return 0x2E80 <= u <= 0x9FFF or 0xF900 <= u <= 0xFAFF or 0xFE30 <= u <= 0xFE4F or 0xFF00 <= u <= 0xFFEF \
        or u >= 0x20000


def _shipped_data_chars() -> dict[str, str]:
    """Every CJK character in the strings of our sources and in the shipped data, with where it is."""
    found: dict[str, str] = {}
    for package in ("ui", "workstation", "review_rules", "printing", "resources"):
        for path in sorted((ROOT / package).rglob("*")):
            if path.suffix == ".py":
                text = "".join(_python_strings(path))
            elif path.suffix in {".csv", ".json"}:
                text = path.read_text(encoding="utf-8")
            else:
                continue
            for ch in text:
                if _cjk(ch):
                    found.setdefault(ch, str(path.relative_to(ROOT)))
    return found


@pytest.fixture
def app_font(qapp: QApplication) -> Iterator[QApplication]:
    """Restore the application font afterwards: other tests must not inherit a changed size."""
    before = QFont(qapp.font())
    yield qapp
    qapp.setFont(before)


def test_register_returns_the_family_and_qt_knows_it(qapp: QApplication) -> None:
    family = fonts.register_fonts()
    assert family == fonts.FAMILY
    assert family in QFontDatabase.families()
    assert fonts.register_fonts() == family  # a second call registers nothing new
    assert fonts.font_path().suffix == ".ttf" and fonts.font_path().is_file()
    assert (fonts.font_path().parent / "LICENSE-Apache-2.0.txt").is_file()


def test_missing_or_refused_font_is_a_clear_error(qapp: QApplication, monkeypatch: pytest.MonkeyPatch,
                                                  tmp_path: Path, qtlog: object) -> None:
    monkeypatch.setattr(fonts, "font_path", lambda: (_ for _ in ()).throw(fonts.FontError("missing: x.ttf")))
    with pytest.raises(fonts.FontError, match="missing"):
        fonts.register_fonts()
    garbage = tmp_path / "broken.ttf"
    garbage.write_bytes(b"not a font at all" * 100)
    monkeypatch.setattr(fonts, "font_path", lambda: garbage)
    with qtlog.disabled(), pytest.raises(fonts.FontError, match="refused"):  # type: ignore[attr-defined]
        fonts.register_fonts()


def test_font_path_says_when_the_file_is_gone(monkeypatch: pytest.MonkeyPatch) -> None:
    import resources.fonts

    monkeypatch.setattr(resources.fonts, "FONT_FILE", "no-such-font.ttf")
    with pytest.raises(fonts.FontError, match="missing"):
        fonts.font_path()


def _required_chars() -> dict[str, str]:
    required = {ch: "the zh_CN translation" for ch in _translation_chars()}
    required.update({ch: "the sample strings" for ch in SAMPLES})
    for ch, where in _shipped_data_chars().items():
        required.setdefault(ch, where)
    return {ch: where for ch, where in required.items() if _visible(ch)}


def test_every_character_the_window_shows_has_a_glyph_in_the_shipped_font(qapp: QApplication) -> None:
    family = fonts.register_fonts()
    raw = QRawFont(str(fonts.font_path()), 32)
    assert raw.isValid() and raw.familyName() == family
    strict = QFont(family)
    strict.setStyleStrategy(QFont.StyleStrategy.NoFontMerging)  # answer for this family, not a fallback
    metrics = QFontMetrics(strict)
    required = _required_chars()
    assert len(_shipped_data_chars()) > 500, "too few characters harvested from the sources: harvest broken"
    missing, empty = [], []
    for ch, where in sorted(required.items()):
        if not (raw.supportsCharacter(ord(ch)) and metrics.inFontUcs4(ord(ch))):
            missing.append(f"{ch} U+{ord(ch):04X} ({where})")
            continue
        # A mapped but empty glyph draws nothing, as WenQuanYi Micro Hei did for ℃ and the pinyin tones.
        (glyph,) = raw.glyphIndexesForString(ch)
        if raw.pathForGlyph(glyph).isEmpty():
            empty.append(f"{ch} U+{ord(ch):04X} ({where})")
    assert not missing, "not in the shipped font: " + ", ".join(missing)
    assert not empty, "mapped to an empty glyph: " + ", ".join(empty)


def _render(text: str, font: QFont) -> QImage:
    label = QLabel(text)
    label.setFont(font)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.resize(320, 60)  # one size for all, so that images differ only by what was drawn
    image = QImage(label.size(), QImage.Format.Format_RGB32)
    image.fill(QColor("white"))
    label.render(image)
    return image


def _ink(image: QImage) -> int:
    return sum(1 for y in range(image.height()) for x in range(image.width())
               if QColor(image.pixel(x, y)).lightness() < 128)


def test_a_label_with_chinese_renders_real_glyphs(app_font: QApplication) -> None:
    fonts.apply_font(app_font, 20)
    font = app_font.font()
    assert font.families()[-1] == fonts.FAMILY and font.pointSizeF() == 20
    fonts.apply_font(app_font, 16)  # changing the size again keeps one fallback entry
    assert app_font.font().families().count(fonts.FAMILY) == 1 and app_font.font().pointSizeF() == 16
    first, second = _render("处方审核", app_font.font()), _render("麻精毒放", app_font.font())
    assert _ink(first) > 200, "the Chinese label rendered blank"
    # Missing glyphs all draw the same box: two different strings drawing the same pixels means no glyphs.
    assert first != second
    tofu = _render("\U000F0000\U000F0001\U000F0002\U000F0003", app_font.font())  # private use: no glyphs
    assert first != tofu


def test_apply_font_rejects_a_nonsense_size(app_font: QApplication) -> None:
    with pytest.raises(ValueError):
        fonts.apply_font(app_font, 0)


def test_reportlab_embeds_the_same_file_as_a_truetype_subset(tmp_path: Path) -> None:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(TTFont("RxwsCJK", str(fonts.font_path())))
    out = tmp_path / "label.pdf"
    pdf = canvas.Canvas(str(out))
    pdf.setFont("RxwsCJK", 12)
    pdf.drawString(40, 800, "硫酸吗啡缓释片 30 mg 每12小时1片 2–8℃ 苯二氮䓬类")
    pdf.save()
    data = out.read_bytes()
    assert b"/FontFile2" in data  # TrueType outlines embedded (CFF would be /FontFile3)
    assert re.search(rb"/BaseFont /[A-Z]{6}\+RXWSWenQuanYiMicroHei", data), "not embedded as a subset"
    pdffonts = shutil.which("pdffonts")
    if pdffonts:  # poppler-utils, where installed, reads it back the way a viewer would
        listing = subprocess.run([pdffonts, str(out)], capture_output=True, text=True, check=True).stdout
        row = next(line for line in listing.splitlines() if "RXWSWenQuanYiMicroHei" in line)
        assert re.search(r"TrueType\s+\S+\s+yes\s+yes\s+yes", row), row
