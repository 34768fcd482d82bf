"""Dispensing labels (调配标签) as PDF: one label per item and package, in Chinese, bound to the signed approval.

Pure rendering (reportlab and segno, no Qt, no database): :func:`render` takes :class:`LabelJob` values
that the label service builds from a verified approval, and returns the PDF bytes. Sizes are common
label stock (60×40, 70×50 and 80×60 mm thermal labels, one label a page) and an A4 sheet of 3×7 labels
(63.5×38.1 mm, the common L7160 layout). The shipped CJK TrueType font is embedded as a subset, so the
PDF prints the same everywhere.

Text never runs off a label: every block wraps (Chinese at any character, Latin words whole, no line
starting with closing punctuation) and the whole label shrinks in steps until it fits; a label that
would need type smaller than :data:`MIN_SCALE` of its design size is refused with :class:`LabelDoesNotFit`
naming the item, never printed cut off.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import segno
from reportlab import rl_config
from reportlab.graphics.barcode.code128 import Code128
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

FONT = "RXWS-CJK"
MIN_SCALE = 0.6  # of the design type sizes; below this a label is refused rather than printed unreadable
QR_QUIET_MODULES = 2  # white modules around the QR code (ISO/IEC 18004 asks 4; 2 is what scanners need)
REPRINT_MARK = "补打"


@dataclass(frozen=True, slots=True)
class LabelSize:
    name: str
    width_mm: float
    height_mm: float
    columns: int = 1  # labels across a sheet
    rows: int = 1
    page_mm: tuple[float, float] | None = None  # the sheet, when it is not the label itself
    origin_mm: tuple[float, float] = (0.0, 0.0)  # the first label's top-left corner on the sheet
    pitch_mm: tuple[float, float] = (0.0, 0.0)  # label to label, across and down

    @property
    def per_page(self) -> int:
        return self.columns * self.rows


SIZES: dict[str, LabelSize] = {
    "60x40": LabelSize("60x40", 60, 40),
    "70x50": LabelSize("70x50", 70, 50),
    "80x60": LabelSize("80x60", 80, 60),
    "a4": LabelSize("a4", 63.5, 38.1, columns=3, rows=7, page_mm=(210, 297), origin_mm=(7.25, 15.15),
                    pitch_mm=(66.04, 38.1)),
}


@dataclass(frozen=True, slots=True)
class ItemLabel:
    """One item (one package of it) as its label shows it."""

    drug: str  # 苯磺酸氨氯地平片
    strength_form: str  # "5mg · 片剂"
    usage: str  # 口服，一次1片，一日1次
    quantity: str  # "7片 · 7天"
    warnings: tuple[str, ...]  # 冷藏 2–8℃; 儿童用药须在监护人指导下使用…
    barcode: str  # Code 128: prescription number and item
    package: int = 1  # this package, of
    packages: int = 1  # …this many for the line


@dataclass(frozen=True, slots=True)
class LabelJob:
    """The labels of one approved prescription."""

    pharmacy: str
    patient: str  # 张三  男  66岁
    prescription: str  # the prescription number
    department: str | None
    pharmacist: str  # the reviewing pharmacist
    dispensed_on: str  # 2026-12-07
    qr: str  # the compact, verifiable reference to the signed approval
    items: tuple[ItemLabel, ...]
    reprint: bool = False


class LabelDoesNotFit(ValueError):
    """A label's text does not fit its stock even at the smallest readable size."""


# --------------------------------------------------------------------------- fonts and text


@cache
def register_font(font_path: str) -> str:
    pdfmetrics.registerFont(TTFont(FONT, font_path))  # embedded as a subset of the glyphs used
    return FONT


@cache
def _char_width(ch: str) -> float:
    """Width of one character at 1 pt (the registered font)."""
    return float(pdfmetrics.stringWidth(ch, FONT, 1))


def text_width(text: str, size: float) -> float:
    return sum(_char_width(ch) for ch in text) * size


# A Latin word (kept whole), a run of spaces, or one other character (a Chinese one breaks anywhere).
_TOKEN = re.compile(r"[A-Za-z0-9.,%+\-/()'’·×μ]+|\s+|.", re.DOTALL)
_NO_LINE_START = set("，。、；：！？）》」』】〕,.;:!?)%℃")
_NO_LINE_END = set("（《「『【〔(")


def wrap(text: str, size: float, width: float) -> list[str]:
    """Lines of ``text`` at ``size`` pt no wider than ``width`` pt (a word wider than a line is split).

    Chinese breaks at any character, Latin words stay whole; closing punctuation (，。）…) does not open a
    line and opening brackets (（《…) do not end one, wherever the line leaves room for that.
    """
    lines: list[str] = []
    space = text_width(" ", size)
    for paragraph in text.split("\n"):
        line: list[str] = []
        used = 0.0  # the width of ``line``, kept as it grows (measuring the whole line per token was quadratic)
        for token in _TOKEN.findall(paragraph):
            if token.isspace():
                if line:
                    line.append(" ")
                    used += space
                continue
            w = text_width(token, size)
            if used + w <= width:
                line.append(token)
                used += w
                continue
            # The line is full. What moves down with the token: the pieces it must not be parted from.
            carry = [token]
            while line and (carry[0][0] in _NO_LINE_START or line[-1].isspace() or line[-1][-1] in _NO_LINE_END):
                carry.insert(0, line.pop())
            carry = [t for t in carry if not t.isspace()]
            moved = "".join(carry)
            moved_w = text_width(moved, size)
            if not line or moved_w > width:
                # Nothing can stay behind, or the group is wider than a line: break it where it must.
                if line:
                    lines.append("".join(line).rstrip())
                while text_width(moved, size) > width:
                    cut = 1
                    while cut < len(moved) and text_width(moved[:cut + 1], size) <= width:
                        cut += 1
                    lines.append(moved[:cut])
                    moved = moved[cut:]
                line, used = ([moved], text_width(moved, size)) if moved else ([], 0.0)
                continue
            lines.append("".join(line).rstrip())
            line, used = carry, moved_w
        if line or not lines:
            lines.append("".join(line).rstrip())
    return lines


# --------------------------------------------------------------------------- layout


@dataclass(frozen=True, slots=True)
class _Block:
    text: str
    size: float  # design size, pt
    bold: bool = False
    width_mm: float | None = None  # None: the text column


@dataclass(frozen=True, slots=True)
class _Placed:
    lines: tuple[str, ...]
    size: float
    bold: bool
    leading: float


def _blocks(job: LabelJob, item: ItemLabel, big: bool) -> list[_Block]:
    k = 1.15 if big else 1.0
    blocks = [
        _Block(item.drug, 9.5 * k, bold=True),
        _Block(item.strength_form, 7 * k),
        _Block(item.usage, 8.5 * k, bold=True),
        _Block(item.quantity, 7 * k),
    ]
    if item.warnings:
        blocks.append(_Block("；".join(item.warnings), 6.5 * k))
    return blocks


def _fit(blocks: Sequence[_Block], width: float, height: float) -> tuple[list[_Placed], float] | None:
    """The blocks wrapped at the largest scale (1.0 down to MIN_SCALE) at which they fit ``height``."""
    scale = 1.0
    while scale >= MIN_SCALE - 1e-9:
        placed, total = [], 0.0
        for b in blocks:
            size = b.size * scale
            lines = wrap(b.text, size, width)
            leading = size * 1.18
            placed.append(_Placed(tuple(lines), size, b.bold, leading))
            total += leading * len(lines)
        if total <= height:
            return placed, scale
        scale = round(scale - 0.05, 2)
    return None


def _draw_text(c: Canvas, x: float, y: float, text: str, size: float, bold: bool = False) -> None:
    """``text`` with its baseline at ``y``; bold by stroking the outline too (the font has one weight)."""
    t = c.beginText(x, y)
    t.setFont(FONT, size)
    # The text render mode outlives the text object in PDF's graphics state: set it every time.
    t.setTextRenderMode(2 if bold else 0)
    if bold:
        c.saveState()
        c.setLineWidth(size * 0.03)
    t.textLine(text)
    c.drawText(t)
    if bold:
        c.restoreState()


def _fitted_line(text: str, size: float, width: float) -> float:
    """The size (at most ``size``) at which one line of ``text`` fits ``width``."""
    w = text_width(text, size)
    return size if w <= width else size * width / w


@cache
def _qr_ops(payload: str) -> tuple[int, str]:
    """The QR code of ``payload`` (error correction M, fixed mask: no mask search) as PDF path operators in
    module units, one rectangle per run of dark modules, and its size in modules. Cached: every label of
    a prescription carries the same code."""
    qr = segno.make(payload, error="m", mask=0, micro=False, boost_error=False)
    matrix = qr.matrix
    n = len(matrix)
    ops = []
    for r, row in enumerate(matrix):
        y = n - 1 - r
        col = 0
        while col < n:
            if row[col] & 1:
                start = col
                while col < n and row[col] & 1:
                    col += 1
                # A hair wider than its modules, so neighbouring runs leave no white seam when rasterised.
                ops.append(f"{start} {y} {col - start + 0.02:.2f} 1.02 re")
            else:
                col += 1
    return n, "\n".join(ops) + "\nf"


def draw_qr(c: Canvas, payload: str, x: float, y: float, side: float) -> None:
    """The QR code of ``payload`` in the square (x, y)–(x + side, y + side), its quiet zone (QR_QUIET_MODULES
    white modules) included."""
    n, ops = _qr_ops(payload)
    module = side / (n + 2 * QR_QUIET_MODULES)
    c.saveState()
    c.transform(module, 0, 0, module, x + QR_QUIET_MODULES * module, y + QR_QUIET_MODULES * module)
    c.addLiteral(ops)
    c.restoreState()


def draw_barcode(c: Canvas, value: str, x: float, y: float, width: float, height: float) -> None:
    """Code 128 of ``value`` centred in the box, bars as wide as fit (0.19–0.5 mm a module)."""
    probe = Code128(value, barWidth=1, barHeight=height, quiet=False, humanReadable=False)
    modules = float(probe.width)
    bar = min(0.5 * mm, width / modules)
    if bar < 0.19 * mm:
        raise LabelDoesNotFit(f"条码 {value} 在 {width / mm:.0f} mm 内放不下 / the barcode {value} does not fit "
                              f"{width / mm:.0f} mm")
    code = Code128(value, barWidth=bar, barHeight=height, quiet=False, humanReadable=False)
    code.drawOn(c, x + (width - float(code.width)) / 2, y)


def _label(c: Canvas, job: LabelJob, item: ItemLabel, size: LabelSize, x0: float, y0: float) -> None:
    """One label with its bottom-left corner at (x0, y0)."""
    w, h = size.width_mm * mm, size.height_mm * mm
    big = size.height_mm >= 50
    margin = 2 * mm
    left, right, top = x0 + margin, x0 + w - margin, y0 + h - margin
    inner = right - left

    # Head: pharmacy (and the reprint mark, and n/total), patient, prescription and department.
    head = 6.5 * (1.1 if big else 1.0)
    marks = []
    if job.reprint:
        marks.append(REPRINT_MARK)
    if item.packages > 1:
        marks.append(f"{item.package}/{item.packages}")
    mark_text = "  ".join(marks)
    mark_w = text_width(mark_text, head + 1) + (1 * mm if mark_text else 0)
    y = top - head
    _draw_text(c, left, y, job.pharmacy, _fitted_line(job.pharmacy, head, inner - mark_w))
    if mark_text:
        _draw_text(c, right - text_width(mark_text, head + 1), y, mark_text, head + 1, bold=True)
        if job.reprint:
            bw = text_width(REPRINT_MARK, head + 1)
            c.rect(right - text_width(mark_text, head + 1) - 0.4 * mm, y - 0.8 * mm, bw + 0.8 * mm,
                   head + 1.6 * mm, stroke=1, fill=0)
    patient_size = 8 * (1.15 if big else 1.0)
    y -= patient_size * 1.25
    _draw_text(c, left, y, job.patient, _fitted_line(job.patient, patient_size, inner * 0.62), bold=True)
    if job.department:
        dept = _fitted_line(job.department, head, inner * 0.36)
        _draw_text(c, right - text_width(job.department, dept), y, job.department, dept)
    y -= head * 1.3
    rx = f"处方 {job.prescription}"
    _draw_text(c, left, y, rx, _fitted_line(rx, head, inner))
    y -= 1.2 * mm
    c.setLineWidth(0.3)
    c.line(left, y, right, y)

    # Foot: pharmacist and date, the barcode.
    foot = 6 * (1.1 if big else 1.0)
    bar_h = (6 if big else 4.5) * mm
    bottom = y0 + margin
    draw_barcode(c, item.barcode, left, bottom, inner, bar_h)
    fy = bottom + bar_h + 1.0 * mm
    signed = f"审核药师 {job.pharmacist}  调配 {job.dispensed_on}"
    _draw_text(c, left, fy, signed, _fitted_line(signed, foot, inner))

    # Body: the item, beside the QR code.
    body_top, body_bottom = y - 1.0 * mm, fy + foot + 0.8 * mm
    qr_side = min(body_top - body_bottom, (18 if big else 15) * mm, inner * 0.36)
    draw_qr(c, job.qr, right - qr_side, body_top - qr_side, qr_side)
    column = inner - qr_side - 1.0 * mm
    fitted = _fit(_blocks(job, item, big), column, body_top - body_bottom)
    if fitted is None:
        raise LabelDoesNotFit(
            f"{item.drug}：标签内容在 {size.name} 标签上放不下（即使缩小到 {int(MIN_SCALE * 100)}%），请选用更大的标签 / "
            f"{item.drug}: the label text does not fit a {size.name} label even at {int(MIN_SCALE * 100)}%: "
            "choose a larger label")
    placed, _ = fitted
    y = body_top
    for block in placed:
        for line in block.lines:
            y -= block.leading
            _draw_text(c, left, y + (block.leading - block.size) * 0.6, line, block.size, block.bold)


def _positions(size: LabelSize) -> Iterator[tuple[float, float]]:
    """Bottom-left corners of the labels of one page, in reading order."""
    if size.page_mm is None:
        yield 0.0, 0.0
        return
    page_h = size.page_mm[1] * mm
    ox, oy = size.origin_mm
    px, py = size.pitch_mm
    for row in range(size.rows):
        for col in range(size.columns):
            yield (ox + col * px) * mm, page_h - (oy + row * py + size.height_mm) * mm


def labels_of(jobs: Sequence[LabelJob]) -> list[tuple[LabelJob, ItemLabel]]:
    return [(job, item) for job in jobs for item in job.items]


def render(jobs: Sequence[LabelJob], size_name: str, *, font_path: Path) -> bytes:
    """The labels of ``jobs`` on ``size_name`` stock as PDF bytes. Raises LabelDoesNotFit, KeyError (size)."""
    size = SIZES[size_name]
    register_font(str(font_path))
    # Binary (Flate only) streams: ASCII85 on top makes the file 25% larger and, in pure Python, took a
    # fifth of the rendering time. Every PDF reader reads binary streams.
    rl_config.useA85 = 0
    page = (size.page_mm or (size.width_mm, size.height_mm))
    out = io.BytesIO()
    c = Canvas(out, pagesize=(page[0] * mm, page[1] * mm), pageCompression=1)
    c.setTitle("调配标签 dispensing labels")
    c.setCreator("rxws")
    every = labels_of(jobs)
    for start in range(0, len(every), size.per_page):
        for (job, item), (x, y) in zip(every[start:start + size.per_page], _positions(size), strict=False):
            _label(c, job, item, size, x, y)
        c.showPage()
    c.save()
    return out.getvalue()
