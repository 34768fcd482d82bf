"""The monthly coverage report (药师在岗覆盖月报) as an A4 PDF for inspections.

Business hours, the coverage percentage, every gap (planned: nobody rostered; actual: nobody on duty)
with its length and the reason the lead recorded, and the lead's sign-off with the SHA-256 of the
report's content — the same digest the audit trail holds, so a printed report can be matched to it.
"""

from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from printing.labels import FONT, register_font


def _when(moment: datetime, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    return f"{minutes // 60} 小时 {minutes % 60} 分" if minutes >= 60 else f"{minutes} 分"


def render_report(report: Any, *, font_path: Path) -> bytes:
    """``report``: a MonthReport (month, pharmacy, zone, coverage, gaps, signed_by, signed_at, sha256)."""
    register_font(str(font_path))
    zone = ZoneInfo(report.zone)
    base = ParagraphStyle("body", fontName=FONT, fontSize=9.5, leading=13, wordWrap="CJK")
    title = ParagraphStyle("title", parent=base, fontSize=15, leading=20, spaceAfter=4)
    small = ParagraphStyle("small", parent=base, fontSize=8, leading=10.5)
    cov = report.coverage
    out = io.BytesIO()
    doc = SimpleDocTemplate(out, pagesize=A4, leftMargin=18 * mm, rightMargin=18 * mm, topMargin=16 * mm,
                            bottomMargin=16 * mm, title="药师在岗覆盖月报 coverage report", author="rxws")
    month = f"{report.month.year}年{report.month.month}月"
    planned = [g for g in report.gaps if g.kind == "planned"]
    actual = [g for g in report.gaps if g.kind == "actual"]
    story: list[Any] = [
        Paragraph(f"互联网医院药学服务 药师在岗覆盖月报 {month}", title),
        Paragraph(f"{report.pharmacy or '（药房名称未设置）'} · 时区 {report.zone}", base),
        Spacer(1, 4 * mm),
    ]
    summary = [
        ["营业时间合计", _duration(cov.business_seconds)],
        ["有药师在岗的营业时间", _duration(cov.covered_seconds)],
        ["在岗覆盖率", f"{cov.coverage_pct}%"],
        ["排班缺口（无审方药师排班）", f"{len(planned)} 处，合计 {_duration(sum(g.seconds for g in planned))}"],
        ["实际缺口（无药师在岗）", f"{len(actual)} 处，合计 {_duration(sum(g.seconds for g in actual))}"],
        ["未注明原因的缺口", f"{sum(1 for g in report.gaps if g.reason is None)} 处"],
    ]
    table = Table([[Paragraph(a, base), Paragraph(b, base)] for a, b in summary], colWidths=[70 * mm, 100 * mm])
    table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
                               ("BACKGROUND", (0, 0), (0, -1), colors.whitesmoke),
                               ("VALIGN", (0, 0), (-1, -1), "MIDDLE")]))
    story += [table, Spacer(1, 5 * mm), Paragraph("缺口明细", base), Spacer(1, 2 * mm)]
    rows: list[list[Any]] = [[Paragraph(h, base) for h in ("类型", "开始", "结束", "时长", "原因")]]
    for g in report.gaps:
        rows.append([Paragraph("排班缺口" if g.kind == "planned" else "实际缺口", base),
                     Paragraph(_when(g.start, zone), base), Paragraph(_when(g.end, zone), base),
                     Paragraph(_duration(g.seconds), base), Paragraph(g.reason or "（未注明）", base)])
    if len(rows) == 1:
        rows.append([Paragraph("本月营业时间内无缺口", base), "", "", "", ""])
    gaps = Table(rows, colWidths=[20 * mm, 30 * mm, 30 * mm, 24 * mm, 70 * mm], repeatRows=1)
    gaps.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
                              ("BACKGROUND", (0, 0), (-1, 0), colors.whitesmoke),
                              ("VALIGN", (0, 0), (-1, -1), "TOP")]))
    story += [gaps, Spacer(1, 8 * mm),
              Paragraph(f"签发确认：{report.signed_by} 于 {_when(report.signed_at, zone)} 审阅并确认本报告。", base),
              Paragraph(f"报告内容摘要 SHA-256：{report.sha256}（与审计记录 coverage.report_signed_off 一致）", small)]
    doc.build(story)
    return out.getvalue()
