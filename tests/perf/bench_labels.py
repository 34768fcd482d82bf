"""Benchmark: 1,000 dispensing labels to PDF, beside a bare reportlab canvas drawing the same strings.

Run alone: ``python -m tests.perf.bench_labels [--count N] [--size 60x40]``. The bare canvas draws every
string of every label once with ``drawString`` in the same embedded CJK font, with no layout, barcode or
QR code: what no label renderer can beat. Target: at least 200 labels/s. The last line prints the
figures and the ratio.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import os
import time

from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from printing.labels import FONT, SIZES, LabelJob, register_font, labels_of, render
from printing.samples import sample_jobs
from resources.fonts import font_path


def jobs_for(count: int) -> list[LabelJob]:
    """``count`` labels from the sample prescriptions, each prescription with its own number and QR code."""
    out: list[LabelJob] = []
    labels, n = 0, 0
    while labels < count:
        for job in sample_jobs():
            n += 1
            number = f"RX2026120700{n:04d}"
            items = job.items[: count - labels]
            if not items:
                break
            out.append(dataclasses.replace(job, prescription=number, qr=job.qr.replace(job.prescription, number),
                                           items=items))
            labels += len(items)
    return out


def bare(jobs: list[LabelJob], size: str) -> float:
    """Seconds for a canvas to draw the same strings, one page a label, nothing else."""
    s = SIZES[size]
    start = time.perf_counter()
    c = Canvas(io.BytesIO(), pagesize=(s.width_mm * mm, s.height_mm * mm), pageCompression=1)
    for job, item in labels_of(jobs):
        y = s.height_mm * mm - 10
        for text in (job.pharmacy, job.patient, job.prescription, job.department or "", item.drug,
                     item.strength_form, item.usage, item.quantity, *item.warnings, job.pharmacist,
                     job.dispensed_on, item.barcode):
            c.setFont(FONT, 7)
            c.drawString(6, y, text)
            y -= 8
        c.showPage()
    c.save()
    return time.perf_counter() - start


def qr_rates(count: int) -> tuple[float, float]:
    """QR codes per second onto a canvas: ours (segno, fixed mask, PDF path operators) and reportlab's widget."""
    from reportlab.graphics import renderPDF
    from reportlab.graphics.barcode.qr import QrCodeWidget
    from reportlab.graphics.shapes import Drawing

    from printing.labels import _qr_ops, draw_qr

    payloads = [f"RXWS1/RX2026120700{n:05d}/0F8FAD5B-D9CB-469F-A165-70867728950E/ES6AUFFKCD7XSU3L" for n in range(count)]
    _qr_ops.cache_clear()
    c = Canvas(io.BytesIO())
    start = time.perf_counter()
    for p in payloads:
        draw_qr(c, p, 10, 10, 15 * mm)
    ours = count / (time.perf_counter() - start)
    start = time.perf_counter()
    for p in payloads:
        widget = QrCodeWidget(p, barLevel="M", barBorder=2)
        x0, y0, x1, y1 = widget.getBounds()
        drawing = Drawing(15 * mm, 15 * mm, transform=[15 * mm / (x1 - x0), 0, 0, 15 * mm / (y1 - y0), 0, 0])
        drawing.add(widget)
        renderPDF.draw(drawing, c, 10, 10)
    widget_rate = count / (time.perf_counter() - start)
    return ours, widget_rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--size", choices=sorted(SIZES), default="60x40")
    args = parser.parse_args()
    path = font_path()
    register_font(str(path))
    jobs = jobs_for(args.count)
    n = len(labels_of(jobs))
    render(jobs[:3], args.size, font_path=path)  # warm up: font tables, glyph widths
    t_bare = bare(jobs, args.size)
    start = time.perf_counter()
    pdf = render(jobs, args.size, font_path=path)
    t_ours = time.perf_counter() - start
    rate, bare_rate = n / t_ours, n / t_bare
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    print(f"{n} labels ({args.size}), {len(pdf) / 1024:.0f} KiB of PDF; load average {load:.2f} before the run"
          if load is not None else f"{n} labels ({args.size})")
    print(f"bare canvas (drawString of the same strings, no layout, barcode or QR): {t_bare:.2f} s")
    print(f"rxws labels (wrap and fit, Code 128, QR code as PDF paths, CJK subset embedded): {t_ours:.2f} s")
    qr_ours, qr_widget = qr_rates(min(n, 300))
    print(f"QR codes alone: {qr_ours:,.0f}/s with segno as PDF paths, {qr_widget:,.0f}/s with reportlab's QrCodeWidget "
          f"({qr_ours / qr_widget:.1f}x)")
    verdict = "met" if rate >= 200 else "NOT met"
    print(f"labels {rate:,.0f}/s | bare canvas {bare_rate:,.0f}/s | ratio {t_ours / t_bare:.2f}x the bare canvas "
          f"(target >= 200 labels/s: {verdict})")


if __name__ == "__main__":
    main()
