"""Sample labels of every size, to look at: ``python -m printing.samples OUTDIR``.

Writes ``labels-<size>.pdf`` and ``labels-<size>-<page>.png`` (300 dpi) for a clean adult prescription, a
child's suspension that fills two bottles, and a reprint — the cases a pharmacist checks a layout with.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import pypdfium2

from printing.labels import SIZES, ItemLabel, LabelJob, render
from resources.fonts import font_path

QR = "RXWS1/RX20261207000123/0F8FAD5B-D9CB-469F-A165-70867728950E/ES6AUFFKCD7XSU3L"


def sample_jobs() -> list[LabelJob]:
    clean = LabelJob(
        pharmacy="浦东示范医院互联网医院药房", patient="张三  男  66岁", prescription="RX20261207000123",
        department="心血管内科", pharmacist="李药师", dispensed_on="2026-12-07", qr=QR,
        items=(ItemLabel("苯磺酸氨氯地平片", "5mg · 片剂", "口服，一次1片，一日1次", "7片 · 7天", ("遮光，密封保存",),
                         "RX20261207000123-1"),
               ItemLabel("盐酸二甲双胍片", "0.5g · 片剂", "口服，一次1片，一日2次，餐中或餐后", "14片 · 7天",
                         ("密封保存",), "RX20261207000123-2")))
    child = LabelJob(
        pharmacy="浦东示范医院互联网医院药房", patient="王小明  男  3岁", prescription="RX20261207000456",
        department="儿科", pharmacist="李药师", dispensed_on="2026-12-07", qr=QR.replace("000123", "000456"),
        items=tuple(ItemLabel("布洛芬混悬液", "20mg/ml · 混悬液", "口服，一次5mL，每8小时1次，必要时（发热时），两次间隔不少于4小时",
                              "2瓶 · 3天", ("密封保存", "用前摇匀", "儿童用药须在监护人指导下使用"),
                              "RX20261207000456-1", n, 2) for n in (1, 2)))
    reprint = dataclasses.replace(clean, reprint=True, items=clean.items[:1])
    return [clean, child, reprint]


def write_samples(out: Path, dpi: int = 300) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name in SIZES:
        pdf = render(sample_jobs(), name, font_path=font_path())
        target = out / f"labels-{name}.pdf"
        target.write_bytes(pdf)
        written.append(target)
        document = pypdfium2.PdfDocument(pdf)
        for index in range(len(document)):
            png = out / f"labels-{name}-{index + 1}.png"
            document[index].render(scale=dpi / 72).to_pil().save(png)
            written.append(png)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("outdir", type=Path)
    args = parser.parse_args()
    for path in write_samples(args.outdir):
        print(path)


if __name__ == "__main__":
    main()
