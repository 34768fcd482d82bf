"""The label renderer alone: text wraps without losing a character, shrinks to fit, and refuses what cannot fit."""

from __future__ import annotations

import io
import re

import pypdf
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from printing.labels import SIZES, ItemLabel, LabelDoesNotFit, LabelJob, register_font, render, text_width, wrap
from resources.fonts import font_path


@pytest.fixture(autouse=True, scope="module")
def font() -> None:
    register_font(str(font_path()))


def job(**item: object) -> LabelJob:
    base = dict(drug="苯磺酸氨氯地平片", strength_form="5mg · 片剂", usage="口服，一次1片，一日1次", quantity="7片 · 7天",
                warnings=("遮光，密封保存",), barcode="RX1-1")
    base.update(item)
    return LabelJob(pharmacy="示范药房", patient="张三  男  66岁", prescription="RX1", department="内科",
                    pharmacist="李药师", dispensed_on="2026-12-07", qr="RXWS1/RX1/" + "A" * 36 + "/" + "B" * 16,
                    items=(ItemLabel(**base),))  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("苯磺酸氨氯地平片，。（）口服 abc Tablets 5mg/ml-")), max_size=120),
       st.floats(min_value=20, max_value=200))
def test_wrapping_keeps_every_character_and_every_line_fits(text: str, width: float) -> None:
    lines = wrap(text, 8, width)
    assert "".join(lines).replace(" ", "") == text.replace(" ", "").replace("\n", "")
    assert all(text_width(line, 8) <= width + 1e-6 or len(line) == 1 for line in lines)
    # Closing punctuation opens no line, wherever a line (7 characters or more) leaves room to avoid it.
    if width >= 60 and not re.search(r"[，。）（]{3}", text):
        assert not any(line and line[0] in "，。）" and i > 0 for i, line in enumerate(lines)), lines
        assert not any(line.endswith("（") for line in lines[:-1]), lines  # nor does an opening bracket end one


def test_a_long_name_and_usage_shrink_and_wrap_but_are_never_cut() -> None:
    usage = "口服，一次5毫升，每8小时1次，必要时，发热时服用，两次间隔不少于4小时，24小时内不超过4次"
    drug = "布洛芬混悬液（美林）儿童专用草莓味口服混悬液"
    for size in SIZES:
        text = pypdf.PdfReader(io.BytesIO(render([job(drug=drug, usage=usage)], size, font_path=font_path()))
                               ).pages[0].extract_text().replace("\n", "").replace(" ", "")
        assert drug in text and usage in text, size


def test_text_that_cannot_fit_even_small_is_refused_not_cut() -> None:
    with pytest.raises(LabelDoesNotFit, match="choose a larger label"):
        render([job(warnings=("请在医师指导下使用，" * 40,))], "60x40", font_path=font_path())


def test_sample_labels_of_every_size_render_to_png(tmp_path: pytest.TempPathFactory) -> None:
    """CI renders the samples (``python -m printing.samples OUTDIR`` does the same for a person to look at)."""
    from printing.samples import write_samples

    written = write_samples(tmp_path / "samples", dpi=150)  # type: ignore[operator]
    pngs = [p for p in written if p.suffix == ".png"]
    assert {p.name.split("-")[1] for p in pngs} == {"60x40", "70x50", "80x60", "a4"}
    assert len(pngs) == 3 * 5 + 1  # 5 labels each on the thermal sizes, one A4 sheet
    assert all(p.stat().st_size > 2_000 for p in pngs)


@pytest.mark.parametrize("size", ["60x40", "70x50", "80x60"])
def test_nothing_is_drawn_past_the_labels_margin(size: str) -> None:
    """Rendered at 300 dpi, the outer 1 mm of a label stays white even for long names and instructions."""
    import pypdfium2

    long = job(drug="布洛芬混悬液（美林）儿童专用草莓味口服混悬液 Ibuprofen Oral Suspension",
               usage="口服，一次5毫升，每8小时1次，必要时，发热时服用，两次间隔不少于4小时",
               warnings=("密封保存", "用前摇匀", "儿童用药须在监护人指导下使用"), package=2, packages=3)
    pdf = render([long], size, font_path=font_path())
    image = pypdfium2.PdfDocument(pdf)[0].render(scale=300 / 72).to_pil().convert("L")
    band = round(300 / 25.4)  # 1 mm
    w, h = image.size
    pixels = image.load()
    dark = [(x, y) for x in range(w) for y in range(h)
            if (x < band or y < band or x >= w - band or y >= h - band) and pixels[x, y] < 128]
    assert dark == []
