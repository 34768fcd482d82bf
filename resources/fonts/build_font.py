"""How resources/fonts/rxws-cjk.ttf was made (run by hand; needs fontTools, which the workstation does not).

WenQuanYi Micro Hei (Latin, digits, symbols such as ℃, and the 20,900 basic CJK ideographs) lacks
CJK Extension A, which pharmacy text uses: 苯二氮䓬 (benzodiazepines, U+44EC) is on the
psychotropic list. Its Han glyphs come from Droid Sans Fallback, and Droid Sans Fallback Full has
Extension A, so the missing ideographs are taken from there, scaled to the same 2048 units per em,
and merged in. Both sources are Apache-2.0. Hinting of the added glyphs is dropped (their
instructions belong to the other font's programs). WenQuanYi Micro Hei also maps some characters
to empty glyphs (℃ ℉, the pinyin tones ǎ ǐ ǒ ǔ ǘ ǚ ǜ, Ⅴ Ⅹ …); they are rebuilt as composites of its
own glyphs (° + C, a + ˇ, …). The result is renamed so it is never mistaken for an installed
WenQuanYi Micro Hei.

    python -m venv /tmp/ft && /tmp/ft/bin/pip install fonttools
    apt-get download fonts-wqy-microhei fonts-droid-fallback  # bookworm: 0.2.0-beta-3.1, 1:6.0.1r16-1.1
    dpkg-deb -x fonts-wqy-microhei_*.deb x && dpkg-deb -x fonts-droid-fallback_*.deb x
    /tmp/ft/bin/python resources/fonts/build_font.py x/usr/share/fonts/truetype/wqy/wqy-microhei.ttc \
        x/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf resources/fonts/rxws-cjk.ttf
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

FAMILY = "RXWS WenQuanYi Micro Hei"
POSTSCRIPT = "RXWSWenQuanYiMicroHei"
EXTENSION_A = range(0x3400, 0x4DC0)

# Characters WenQuanYi Micro Hei maps to an empty glyph, rebuilt from its own glyphs:
# code point -> (base character, mark character or None, how the mark sits: "above" or "after").
REPAIRS: dict[int, tuple[str, str | None, str]] = {
    0x01CE: ("a", "ˇ", "above"), 0x01D0: ("ı", "ˇ", "above"), 0x01D2: ("o", "ˇ", "above"),
    0x01D4: ("u", "ˇ", "above"), 0x01D8: ("ü", "´", "above"), 0x01DA: ("ü", "ˇ", "above"),
    0x01DC: ("ü", "`", "above"),  # pinyin tones
    0x02CA: ("´", None, ""), 0x02CB: ("`", None, ""), 0x203E: ("¯", None, ""),
    0x2103: ("°", "C", "after"), 0x2109: ("°", "F", "after"),  # ℃ ℉
    0x212B: ("Å", None, ""), 0x2164: ("V", None, ""), 0x2169: ("X", None, ""), 0x223C: ("~", None, ""),
}
MARK_GAP = 60  # font units between a base's top and a stacked mark
PAIR_TIGHTEN = 60  # font units the second glyph of ℃/℉ moves back under the degree sign's side bearing


def repair_empty_glyphs(font: Any) -> None:
    """Replace each REPAIRS glyph (empty in the source) by a composite of the font's own glyphs."""
    from fontTools.pens.ttGlyphPen import TTGlyphPen

    cmap = font.getBestCmap()
    glyf = font["glyf"]
    hmtx = font["hmtx"]
    for code, (base_char, mark_char, how) in REPAIRS.items():
        target = cmap[code]
        if glyf[target].numberOfContours != 0:
            raise ValueError(f"U+{code:04X} is not empty in the source any more: review REPAIRS")
        base = cmap[ord(base_char)]
        glyf[base].recalcBounds(glyf)
        pen = TTGlyphPen(glyf)
        pen.addComponent(base, (1, 0, 0, 1, 0, 0))
        advance = hmtx[base][0]
        if mark_char is not None:
            mark = cmap[ord(mark_char)]
            b, m = glyf[base], glyf[mark]
            m.recalcBounds(glyf)
            if how == "above":
                dx = round((b.xMin + b.xMax) / 2 - (m.xMin + m.xMax) / 2)
                dy = max(0, b.yMax + MARK_GAP - m.yMin)
            else:
                dx, dy = advance - PAIR_TIGHTEN, 0
                advance = dx + hmtx[mark][0]
            pen.addComponent(mark, (1, 0, 0, 1, dx, dy))
        glyph = pen.glyph()
        glyph.recalcBounds(glyf)
        glyf[target] = glyph
        hmtx[target] = (advance, glyph.xMin)


def build(wqy_ttc: Path, droid_full: Path, out: Path) -> None:
    from fontTools import subset
    from fontTools.merge import Merger, Options
    from fontTools.ttLib import TTCollection, TTFont
    from fontTools.ttLib.scaleUpem import scale_upem

    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp, "wqy.ttf")
        TTCollection(str(wqy_ttc)).fonts[0].save(str(base))  # face 0 of the collection: the proportional one

        droid = TTFont(str(droid_full))
        opts = subset.Options()
        opts.layout_features = []
        opts.hinting = False
        opts.notdef_outline = True
        opts.name_IDs = ["*"]
        opts.drop_tables += ["GSUB", "GPOS", "GDEF", "gasp"]
        cutter = subset.Subsetter(opts)
        cutter.populate(unicodes=EXTENSION_A)
        cutter.subset(droid)
        scale_upem(droid, TTFont(str(base))["head"].unitsPerEm)
        addition = Path(tmp, "droid-ext-a.ttf")
        droid.save(str(addition))

        merged = Merger(options=Options(drop_tables=["FFTM"])).merge([str(base), str(addition)])

    repair_empty_glyphs(merged)
    names = merged["name"]
    for record in list(names.names):
        if record.nameID in (1, 3, 4, 16, 18):
            record.string = FAMILY
        elif record.nameID == 6:
            record.string = POSTSCRIPT
        elif record.nameID == 5:
            record.string = ("Version 0.2.0-beta; rxws 1 "
                             "(WenQuanYi Micro Hei + Droid Sans Fallback Full Extension A)")
        elif record.nameID == 0:
            record.string = (record.toUnicode() + "\nExtension A ideographs: Droid Sans Fallback Full, "
                             "Copyright © 2006-2010 Google Corp.")
    merged.save(str(out))


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    build(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))
