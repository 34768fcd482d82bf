"""`rxws label` (调配标签): print an approved prescription's labels to PDF, or check a scanned label.

    rxws label PRESCRIPTION --as LICENCE [--size 60x40|70x50|80x60|a4] [--out FILE.pdf] [--reprint] [--copies N]
    rxws label verify "<QR text>" [--json]

Printing exits 1 with the reason when it is refused (not approved, signature not verifying, printed
before without --reprint…); every print, reprint and refusal is audited. ``verify`` exits 0 when the
label belongs to an approved, unaltered prescription and 1 (with why) when not.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from printing.labels import SIZES
from workstation.domain.local_time import shown

EXIT_OK, EXIT_REFUSED, EXIT_USAGE = 0, 1, 2


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    s = sub.add_parser("label", help="dispensing labels: print an approved prescription's labels to PDF, or "
                                     "`label verify QR` to check a scanned label",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("words", nargs="+", metavar="PRESCRIPTION | verify QR",
                   help="the prescription number; or `verify` and the text of a label's QR code")
    s.add_argument("--as", dest="licence", metavar="LICENCE",
                   help="who prints (password asked, or RXWS_PASSWORD); needed to print")
    s.add_argument("--size", choices=sorted(SIZES), default="60x40", help="label stock (default 60x40)")
    s.add_argument("--out", type=Path, metavar="FILE.pdf", help="where to write the PDF (default labels-RX….pdf)")
    s.add_argument("--reprint", action="store_true", help="print again (补打): the labels say so")
    s.add_argument("--copies", type=int, default=1, help="copies of every label (1–10)")
    s.add_argument("--json", action="store_true", help="with verify: the result as JSON")


def cmd_label(args: argparse.Namespace, out: TextIO) -> int:
    from workstation.cli_decisions import login, opened_workstation
    from workstation.cli_demo import operator
    from workstation.services.labels import LabelRefused

    words: list[str] = args.words
    if words[0] == "verify":
        if len(words) != 2:
            print('rxws: label verify needs the QR text, quoted: rxws label verify "RXWS1/…"', file=sys.stderr)
            return EXIT_USAGE
        with opened_workstation() as ws:
            result = ws.labels.check(words[1], actor=operator().actor)
            zone = ws.settings.pharmacy_time_zone
        if args.json:
            print(json.dumps(dataclasses.asdict(result), ensure_ascii=False, default=str), file=out)
        elif result.ok:
            when = shown(result.approved_at, zone) if result.approved_at else "?"
            print(f"标签有效 label valid: 处方 {result.prescription} 第{result.version}版，患者 {result.patient}，"
                  f"药师 {result.pharmacist} 于 {when} 审核通过并签名，内容未被改动 / approved and signed by "
                  f"{result.pharmacist}, unaltered", file=out)
        else:
            print(f"标签无效 label NOT valid: {result.reason}", file=out)
        return EXIT_OK if result.ok else EXIT_REFUSED
    if len(words) != 1:
        print("rxws: label takes one prescription number (or: label verify QR)", file=sys.stderr)
        return EXIT_USAGE
    if not args.licence:
        print("rxws: label needs --as LICENCE: printing is done by a pharmacist, and audited", file=sys.stderr)
        return EXIT_USAGE
    with opened_workstation() as ws:
        principal, _ = login(ws, args.licence)
        try:
            printed = ws.labels.print(principal, words[0], size=args.size, reprint=args.reprint, copies=args.copies)
        except LabelRefused as exc:
            print(f"rxws: 拒绝打印 printing refused: {exc}", file=sys.stderr)
            return EXIT_REFUSED
    target: Path = args.out or Path(f"labels-{printed.job.prescription}.pdf")
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_bytes(printed.pdf)
    tmp.replace(target)
    kind = "补打 reprint" if printed.reprint else "打印 print"
    print(f"{kind}: {printed.labels} 张标签 labels ({args.size}) → {target}", file=out)
    return EXIT_OK


COMMANDS: dict[str, Callable[[argparse.Namespace, TextIO], int]] = {"label": cmd_label}
