"""`rxws roster`, `rxws hours`, `rxws coverage` (药师在岗): the roster, business hours and on-duty coverage.

    rxws roster import FILE.csv [--as LICENCE]      licence,start,end,role (ISO 8601 with offset)
    rxws roster export [--from ISO] [--to ISO]      the same format, to standard output
    rxws hours import FILE.csv [--as LICENCE]       date_or_weekday,open,close (a holiday: empty times)
    rxws coverage --from ISO --to ISO [--json]      business hours against the roster and actual presence

Without ``--as`` the command runs as this machine's operator (hospital IT, audited by OS user name).
Imports are all or nothing: every problem is listed with its line, and exit 1 means nothing changed.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo

from workstation.domain.local_time import shown

EXIT_OK, EXIT_REFUSED, EXIT_USAGE = 0, 1, 2


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    s = sub.add_parser("roster", help="the pharmacists' shifts (排班): import a CSV, or export one")
    rs = s.add_subparsers(dest="action", metavar="ACTION", required=True)
    i = rs.add_parser("import", help="add the shifts of FILE.csv (licence,start,end,role): all or none")
    i.add_argument("file", type=Path, metavar="FILE.csv")
    i.add_argument("--as", dest="licence", metavar="LICENCE", help="a lead (password asked, or RXWS_PASSWORD)")
    e = rs.add_parser("export", help="the shifts as CSV on standard output")
    e.add_argument("--from", dest="start", metavar="ISO", help="default: today, in the pharmacy's zone")
    e.add_argument("--to", dest="end", metavar="ISO", help="default: 7 days after --from")

    s = sub.add_parser("hours", help="business hours (营业时间), holidays and adjusted working days (调休)")
    hs = s.add_subparsers(dest="action", metavar="ACTION", required=True)
    i = hs.add_parser("import", help="date_or_weekday,open,close: weekday rows replace the weekly hours, date rows "
                                     "those dates (empty open and close: closed)")
    i.add_argument("file", type=Path, metavar="FILE.csv")
    i.add_argument("--as", dest="licence", metavar="LICENCE", help="a lead (password asked, or RXWS_PASSWORD)")

    s = sub.add_parser("coverage", help="on-duty coverage of business hours: planned (roster) and actual gaps")
    s.add_argument("--from", dest="start", required=True, metavar="ISO")
    s.add_argument("--to", dest="end", required=True, metavar="ISO")
    s.add_argument("--json", action="store_true", help="business_seconds, covered_seconds, coverage_pct, "
                                                       "planned_gaps and actual_gaps")

    s = sub.add_parser("coverage-note", help="record why a coverage gap happened (printed in the monthly report)")
    s.add_argument("--from", dest="start", required=True, metavar="ISO")
    s.add_argument("--to", dest="end", required=True, metavar="ISO")
    s.add_argument("--reason", required=True)
    s.add_argument("--as", dest="licence", metavar="LICENCE", help="a lead (password asked, or RXWS_PASSWORD)")

    s = sub.add_parser("coverage-report", help="the month's coverage report for inspections, signed off by the lead, "
                                               "as PDF")
    s.add_argument("--month", required=True, metavar="YYYY-MM")
    s.add_argument("--as", dest="licence", required=True, metavar="LICENCE",
                   help="the lead who signs it off (password asked, or RXWS_PASSWORD)")
    s.add_argument("--out", type=Path, metavar="FILE.pdf", help="default: coverage-YYYY-MM.pdf")


def _instant(value: str, zone: str, option: str) -> datetime:
    """An ISO 8601 date-time (a bare date is its midnight in the pharmacy's zone)."""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise SystemExit(f"rxws: {option} {value!r} is not an ISO 8601 date or date-time") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=ZoneInfo(zone))


def cmd_roster_hours(args: argparse.Namespace, out: TextIO) -> int:
    from workstation.cli_decisions import login, opened_workstation
    from workstation.cli_demo import operator
    from workstation.domain.roster import RosterImportError

    with opened_workstation() as ws:
        zone = ws.settings.pharmacy_time_zone
        principal = login(ws, args.licence)[0] if getattr(args, "licence", None) else operator()
        if args.command == "roster" and args.action == "export":
            today = datetime.now(ZoneInfo(zone)).replace(hour=0, minute=0, second=0, microsecond=0)
            start = _instant(args.start, zone, "--from") if args.start else today
            end = _instant(args.end, zone, "--to") if args.end else start + timedelta(days=7)
            out.write(ws.coverage.export_roster(principal, start, end))
            return EXIT_OK
        try:
            data = args.file.read_bytes()
        except OSError as exc:
            print(f"rxws: cannot read {args.file}: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_USAGE
        try:
            if args.command == "roster":
                added = ws.coverage.import_roster(principal, data, str(args.file))
                print(f"排班已导入 roster imported: {added} shifts from {args.file}", file=out)
            else:
                spans, dates = ws.coverage.import_hours(principal, data, str(args.file))
                print(f"营业时间已导入 business hours imported: {spans} weekday spans, {dates} dates from {args.file}",
                      file=out)
        except RosterImportError as exc:
            print(f"rxws: {exc}", file=sys.stderr)
            return EXIT_REFUSED
    return EXIT_OK


def cmd_coverage(args: argparse.Namespace, out: TextIO) -> int:
    from workstation.cli_decisions import opened_workstation
    from workstation.cli_demo import operator

    with opened_workstation() as ws:
        zone = ws.settings.pharmacy_time_zone
        start, end = _instant(args.start, zone, "--from"), _instant(args.end, zone, "--to")
        if end <= start:
            print("rxws: --to must be after --from", file=sys.stderr)
            return EXIT_USAGE
        result = ws.coverage.coverage(operator(), start, end)
    if args.json:
        print(json.dumps(result.as_json(), ensure_ascii=False, indent=2), file=out)
        return EXIT_OK
    hours = result.business_seconds / 3600
    print(f"在岗覆盖 coverage {shown(start, zone)} – {shown(end, zone)}: {result.coverage_pct}% of {hours:.1f} "
          "business hours", file=out)
    for title, gaps in (("排班缺口 planned gaps (no reviewing pharmacist rostered)", result.planned_gaps),
                        ("实际缺口 actual gaps (no pharmacist on duty)", result.actual_gaps)):
        print(f"{title}: {len(gaps)}", file=out)
        for g in gaps:
            print(f"  {shown(g.start, zone)} – {shown(g.end, zone)}  ({g.seconds / 60:.0f} min)", file=out)
    return EXIT_OK


def cmd_coverage_note(args: argparse.Namespace, out: TextIO) -> int:
    from workstation.cli_decisions import login, opened_workstation
    from workstation.cli_demo import operator

    with opened_workstation() as ws:
        zone = ws.settings.pharmacy_time_zone
        principal = login(ws, args.licence)[0] if args.licence else operator()
        note = ws.coverage.note_gap(principal, _instant(args.start, zone, "--from"), _instant(args.end, zone, "--to"),
                                    args.reason)
    print(f"缺口原因已记录 gap reason recorded (#{note})", file=out)
    return EXIT_OK


def cmd_coverage_report(args: argparse.Namespace, out: TextIO) -> int:
    from printing.coverage_report import render_report
    from resources.fonts import font_path
    from workstation.cli_decisions import login, opened_workstation

    try:
        year, month = (int(x) for x in args.month.split("-"))
        if not 1 <= month <= 12:
            raise ValueError
    except ValueError:
        print(f"rxws: --month {args.month!r} is not YYYY-MM", file=sys.stderr)
        return EXIT_USAGE
    with opened_workstation() as ws:
        principal, _ = login(ws, args.licence)
        report = ws.coverage.month_report(principal, year, month)
    target: Path = args.out or Path(f"coverage-{year:04d}-{month:02d}.pdf")
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_bytes(render_report(report, font_path=font_path()))
    tmp.replace(target)
    print(f"在岗覆盖月报 coverage report {year:04d}-{month:02d}: {report.coverage.coverage_pct}%, {len(report.gaps)} gaps "
          f"→ {target} (sha256 {report.sha256})", file=out)
    return EXIT_OK


COMMANDS: dict[str, Callable[[argparse.Namespace, TextIO], int]] = {
    "roster": cmd_roster_hours, "hours": cmd_roster_hours, "coverage": cmd_coverage,
    "coverage-note": cmd_coverage_note, "coverage-report": cmd_coverage_report}
