"""`rxws` — the command line of the prescription-review workstation (处方审核工作站).

Exit status: 0 done; 1 done, but some input was quarantined or refused; 2 a usage or settings
error; 3 the database or a server could not be reached.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import sys
import time
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TextIO

from workstation import __version__
from workstation.domain.errors import DomainError
from workstation.domain.local_time import shown

if TYPE_CHECKING:  # imported lazily at run time so that `rxws --help` starts fast
    from workstation.bootstrap import Workstation
    from workstation.services.intake import IntakeReport
    from workstation.settings import Settings

EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, EXIT_UNAVAILABLE = 0, 1, 2, 3

_EPILOG = """\
Where it keeps its state (override for tests or a second instance):
  RXWS_DATABASE_URL   database, e.g. postgresql://rxws@dbhost/rxws (default: SQLite in the data folder)
  RXWS_DATA_DIR       data folder (default: the platform's, e.g. ~/.local/share/rxws; XDG_DATA_HOME applies)
  RXWS_CONFIG_DIR     folder of settings.toml (default: e.g. ~/.config/rxws; XDG_CONFIG_HOME applies)
Passwords and tokens are never read from files: `rxws db set-password`, `rxws pull --set-token` and
`rxws release set-token` put them in the OS keyring. A pharmacist's password and signing PIN are asked
on the terminal, or for automation read from RXWS_PASSWORD and RXWS_PIN.
Release targets: RXWS_DISPENSING_URL, RXWS_DELIVERY_URL; prescriber trust anchors: RXWS_TRUST (like PATH).
Exit status: 0 ok, 1 some input quarantined or refused, 2 usage/settings error, 3 database or server unreachable.
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="rxws",
        description="处方审核工作站 — prescription-review workstation for internet-hospital pharmacies.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"rxws {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="log what happens in detail")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    s = sub.add_parser("start", help="start the workstation (the default): upgrade the database, load demo data on "
                                     "first start, take in the inbox, show the review queue")
    s.add_argument("--no-demo", action="store_true", help="do not load the demo data even on an empty database")
    s.add_argument("--headless", action="store_true",
                   help="do not open the window: take in the inbox, print the queue and exit (also where no display is)")

    s = sub.add_parser("ingest", help="take in FHIR bundle files or folders now and report file by file")
    s.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="a bundle file, or a folder (all *.json below it)")

    s = sub.add_parser("inbox", help="take in the inbox folder (files move to processed/ or rejected/)")
    s.add_argument("--watch", type=float, metavar="SECONDS", help="keep watching, checking every SECONDS")

    s = sub.add_parser("pull", help="fetch new prescriptions from the internet hospital's FHIR server")
    s.add_argument("--set-token", action="store_true", help="store the server's bearer token in the OS keyring (asked on the terminal)")

    s = sub.add_parser(
        "check", help="judge bundles against the review rules without storing anything",
        description="Judge every prescription in the given bundles against the review rules (review-rules.md). "
                    "Stores nothing. Exit status 1 if any file or prescription could not be read.")
    s.add_argument("paths", nargs="+", type=Path, metavar="PATH",
                   help="a bundle file, or a folder (all *.json below it; files named expected.json are skipped)")
    s.add_argument("--json", action="store_true", help="one JSON object per prescription per line")
    s.add_argument("--at", metavar="ISO8601", help="the review time, with its offset (default: now)")
    s.add_argument("--trust", action="append", type=Path, default=[], metavar="PEM",
                   help="an extra trust anchor for prescriber signatures (repeatable)")
    s.add_argument("--formulary", type=Path, metavar="CSV", help="use this formulary instead of the stored one")

    sub.add_parser("queue", help="list prescriptions waiting for review")

    s = sub.add_parser("quarantine", help="input that was refused, with the reasons")
    s.add_argument("action", choices=["list", "show", "release"],
                   help="list the open entries; show one; release one: take it in again once the cause is fixed")
    s.add_argument("id", nargs="?", type=int, metavar="ID", help="the entry's number (#ID in the list)")
    s.add_argument("--bytes", action="store_true", help="with show: write the bundle's bytes as received to stdout")

    s = sub.add_parser("formulary", help="the pharmacy formulary (药品目录)")
    fs = s.add_subparsers(dest="action", metavar="ACTION", required=True)
    fi = fs.add_parser("import", help="validate and load a formulary CSV as the new active version")
    fi.add_argument("csv", type=Path, metavar="CSV")
    fs.add_parser("list", help="list the imported versions")

    s = sub.add_parser("special-drugs", help="the regulatory special-drug lists (特殊管理药品目录)")
    ss = s.add_subparsers(dest="action", metavar="ACTION", required=True)
    si = ss.add_parser("import", help="validate and install a newer list (replaces the one shipped)")
    si.add_argument("csv", type=Path, metavar="CSV")
    ss.add_parser("show", help="say which list is in force and what it holds")

    s = sub.add_parser("audit", help="the tamper-evident audit trail")
    s.add_argument("action", choices=["verify", "list"],
                   help="verify: walk the hash chain and name the first broken row; list: browse the trail")
    s.add_argument("--subject", help="with list: subjects starting with this (e.g. prescription:RX1, pharmacist:PH0001)")
    s.add_argument("--action", dest="event", metavar="ACTION", help="with list: actions starting with this (e.g. decision.)")
    s.add_argument("--since", help="with list: at or after this ISO 8601 time (a date alone: its midnight in the "
                                   "pharmacy's time zone)")
    s.add_argument("--limit", type=int, default=200, help="with list: at most this many, the newest (default 200)")

    s = sub.add_parser("db", help="the database")
    ds = s.add_subparsers(dest="action", metavar="ACTION", required=True)
    ds.add_parser("upgrade", help="bring the schema to this version (also done on every start)")
    ds.add_parser("current", help="print the database location and schema revision")
    ds.add_parser("set-password", help="store the PostgreSQL password in the OS keyring (asked on the terminal)")

    from workstation import cli_coverage, cli_decisions, cli_demo, cli_labels, cli_release, cli_serve, cli_show

    cli_coverage.add_parsers(sub)
    cli_serve.add_parsers(sub)
    cli_decisions.add_parsers(sub)
    cli_labels.add_parsers(sub)
    cli_demo.add_parsers(sub)
    cli_release.add_parsers(sub)
    cli_show.add_parsers(sub)
    return p


class Window(Protocol):
    """How `rxws start` opens the window. The core never imports the UI: ``ui.launch`` hands this in."""

    def unavailable(self) -> str | None:
        """Why no window can be shown here (no display…), or None."""

    def run(self, ws: Workstation) -> int:
        """Show the window on this workstation until the user quits; the exit status."""


_window: Window | None = None


def main(argv: Sequence[str] | None = None, *, window: Window | None = None) -> int:
    global _window
    _window = window
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    command = args.command or "start"
    out = sys.stdout
    try:
        return _command(command)(args, out)
    except DomainError as exc:
        from workstation.adapters.fhir_pull import FhirServerError
        from workstation.bootstrap import DatabaseUnavailable

        print(f"rxws: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE if isinstance(exc, (DatabaseUnavailable, FhirServerError)) else EXIT_USAGE
    except KeyboardInterrupt:
        print("rxws: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `rxws queue | head`: the reader left; that is not an error
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 — keep Python's exit-time flush quiet
        return EXIT_OK


# --------------------------------------------------------------------------- helpers


def _settings() -> Settings:
    from workstation.settings import load_settings

    return load_settings()


def _open(upgrade: bool = True) -> Workstation:
    from workstation.bootstrap import open_workstation

    return open_workstation(_settings(), upgrade=upgrade)


def _bundle_files(paths: Sequence[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*.json") if p.is_file())
        else:
            yield path


def _print_report(out: TextIO, name: str, report: IntakeReport) -> None:
    for p in report.prescriptions:
        verb = {"new": "已接收 stored", "new_version": "新版本 new version", "duplicate": "重复 duplicate"}[p.outcome]
        line = f"{name}: {verb} {p.number} v{p.version}"
        if p.notes and p.outcome != "duplicate":
            line += f"  (待核实 to check: {'; '.join(p.notes)})"
        print(line, file=out)
    for q in report.quarantined:
        print(f"{name}: 已隔离 quarantined {q.number or '(整个文件 whole file)'} — {q.reason}", file=out)


# --------------------------------------------------------------------------- commands


def cmd_start(args: argparse.Namespace, out: TextIO) -> int:
    from workstation.adapters.inbox import process_inbox
    from workstation.services import demo

    ws = _open()
    try:
        settings = ws.settings
        print(f"处方审核工作站 rxws {__version__} — database: {_safe_url(settings.database_url)}", file=out)
        # Loaded now, not at the first review: a broken list must stop the start, saying why.
        special = ws.special_drugs
        print(f"特殊管理药品目录 special-drug lists: {len(special.entries)} entries from {special.source}", file=out)
        from workstation.services import review

        if review.record_loosenings(ws.uow(), settings, actor=_actor()):
            print("审核设置放宽了法定要求，已记入审计追踪 review settings loosen the law; recorded with their reasons "
                  "in the audit trail", file=out)
        if settings.demo_mode and not getattr(args, "no_demo", False):
            from workstation import cli_demo

            loaded = demo.load_demo(ws.uow, ws.intake, ws.accounts, ws.signing, demo_mode=settings.demo_mode,
                                    principal=cli_demo.operator())
            if loaded is not None:
                cli_demo.print_load(out, loaded)
        settings.inbox_dir.mkdir(parents=True, exist_ok=True)
        outcomes = process_inbox(settings.inbox_dir, ws.intake.ingest_many)
        for o in outcomes:
            if o.report is not None:
                _print_report(out, o.path.name, o.report)
        reason = ("--headless" if getattr(args, "headless", False) else "这是命令行版本 this is the command-line entry (no window)"
                  if _window is None else _window.unavailable())
        if reason is None and _window is not None:
            print(f"正在打开工作站窗口 opening the workstation window — inbox: {settings.inbox_dir}", file=out)
            out.flush()
            return _window.run(ws)
        print(f"无界面启动 starting headless: {reason}", file=out)
        _print_queue(ws, out)
        print(f"收件箱 inbox: {settings.inbox_dir}", file=out)
        return EXIT_OK
    finally:
        ws.close()


def _print_queue(ws: Workstation, out: TextIO) -> None:
    from workstation.services import queue

    rows = queue.pending(ws.uow())
    total = queue.pending_count(ws.uow())
    print(f"待审处方 prescriptions waiting for review: {total}", file=out)
    if rows:
        print(f"{_pad('处方号 number', 26)} {_pad('版本', 4)} {_pad('患者 patient', 16)} {_pad('开方 prescriber', 16)} 药品 drugs", file=out)
    for r in rows:
        drugs = "、".join(r.drugs)
        flag = f"  (待核实 {len(r.intake_notes)} to check)" if r.intake_notes else ""
        print(f"{_pad(r.number, 26)} {_pad(f'v{r.version}', 4)} {_pad(r.patient_name or '?', 16)} "
              f"{_pad(r.prescriber_name or '?', 16)} {drugs}{flag}", file=out)
    if total > len(rows):
        print(f"… and {total - len(rows)} more", file=out)


def cmd_ingest(args: argparse.Namespace, out: TextIO) -> int:
    ws = _open()
    status = EXIT_OK
    try:
        files = list(_bundle_files(args.paths))
        if not files:
            print("rxws: no *.json files found in the given paths", file=sys.stderr)
            return EXIT_USAGE
        readable: list[Path] = []

        def contents() -> Iterator[tuple[bytes, str]]:
            nonlocal status
            for path in files:
                try:
                    raw = path.read_bytes()
                except OSError as exc:
                    print(f"{path}: 无法读取 cannot read — {exc.strerror or exc}", file=out)
                    status = EXIT_PARTIAL
                    continue
                readable.append(path)
                yield raw, f"file:{path}"

        for index, report in enumerate(ws.intake.ingest_many(contents())):
            _print_report(out, str(readable[index]), report)
            if report.quarantined:
                status = EXIT_PARTIAL
        return status
    finally:
        ws.close()


def cmd_inbox(args: argparse.Namespace, out: TextIO) -> int:
    from workstation.adapters.inbox import InboxOutcome, process_inbox

    ws = _open()
    try:
        inbox = ws.settings.inbox_dir
        inbox.mkdir(parents=True, exist_ok=True)
        print(f"收件箱 inbox: {inbox}", file=out)
        status = EXIT_OK

        def show(o: InboxOutcome[IntakeReport]) -> None:
            nonlocal status
            if o.report is not None:
                _print_report(out, o.path.name, o.report)
                if o.report.quarantined:
                    status = EXIT_PARTIAL
            else:
                print(f"{o.path.name}: {o.error}", file=out)
                status = EXIT_PARTIAL
            out.flush()

        while True:
            process_inbox(inbox, ws.intake.ingest_many, on_outcome=show)
            if args.watch is None:
                return status
            time.sleep(max(args.watch, 0.2))
    finally:
        ws.close()


def cmd_pull(args: argparse.Namespace, out: TextIO) -> int:
    from workstation.adapters import secrets
    from workstation.services import pull

    settings = _settings()
    if args.set_token:
        token = getpass.getpass("FHIR server bearer token: ")
        secrets.set_secret(settings.fhir_server.token_name, token)
        print("令牌已存入系统密钥环 token stored in the OS keyring", file=out)
        return EXIT_OK
    ws = _open()
    try:
        result = pull.pull(ws.intake, ws.uow, ws.settings.fhir_server,
                           on_page=lambda name, report: _print_report(out, name, report))
        print(f"拉取完成 pull done: {result.pages} pages, {result.stored} stored, {result.duplicates} duplicates, "
              f"{result.quarantined} quarantined; cursor {result.cursor or '(none)'}", file=out)
        return EXIT_PARTIAL if result.quarantined else EXIT_OK
    finally:
        ws.close()


def cmd_check(args: argparse.Namespace, out: TextIO) -> int:
    import json
    from datetime import datetime

    from workstation.adapters.fhir_bundle import BundleRejected, parse_bundle
    from workstation.adapters.signature import load_trust_anchors
    from workstation.domain.formulary import FormularyImportError, parse_formulary_csv
    from workstation.services import formulary, regulatory, review

    settings = _settings()
    if args.at:
        try:
            at = datetime.fromisoformat(args.at.replace("Z", "+00:00"))
        except ValueError:
            print(f"rxws: --at {args.at!r} is not an ISO 8601 date-time", file=sys.stderr)
            return EXIT_USAGE
        if at.tzinfo is None:
            print("rxws: --at needs a UTC offset, e.g. 2026-06-01T10:00:00+08:00", file=sys.stderr)
            return EXIT_USAGE
    else:
        from workstation.adapters.db.types import utcnow

        at = utcnow()
    stored_anchors: tuple[Any, ...] = ()  # the demo CAs held in the database, in demo mode (not read with --formulary)
    if args.formulary is not None:
        try:
            entries = parse_formulary_csv(args.formulary.read_bytes(), str(args.formulary))
        except OSError as exc:
            print(f"rxws: cannot read {args.formulary}: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_USAGE
        except FormularyImportError as exc:
            print(f"rxws: {args.formulary}: {len(exc.errors)} error(s), first: {exc.errors[0]}", file=sys.stderr)
            return EXIT_USAGE
    else:
        ws = _open(upgrade=False)
        try:
            entries = formulary.active_entries(ws.uow())
            stored_anchors = review.stored_trust_anchors(ws.uow(), settings, "prescriber")
            review.record_loosenings(ws.uow(), settings, actor=_actor())  # the first use of loosened settings
        finally:
            ws.close()
        if not entries:
            print("rxws: no formulary is stored; import one (`rxws formulary import CSV`) or pass --formulary CSV",
                  file=sys.stderr)
            return EXIT_USAGE
    loosened = review.loosenings(settings)
    for item in loosened:
        print(f"rxws: 注意 note: the settings loosen the law: {item.setting} — {item.reason}", file=sys.stderr)
    loosened_json = [item.as_json() for item in loosened]
    anchors = load_trust_anchors(review.trust_anchor_paths(settings, args.trust)) + stored_anchors
    reviewer = review.Reviewer.build(entries, regulatory.load_special_drugs(settings), anchors,
                                     review.institution_settings(settings))
    files = [p for p in _bundle_files(args.paths) if p.name != "expected.json"]
    status = EXIT_OK
    for path in files:
        try:
            parsed = parse_bundle(path.read_bytes(), max_bytes=settings.max_bundle_bytes)
        except OSError as exc:
            status = EXIT_PARTIAL
            _emit_error(out, args.json, str(path), f"cannot read: {exc.strerror or exc}")
            continue
        except BundleRejected as exc:
            status = EXIT_PARTIAL
            _emit_error(out, args.json, str(path), exc.reason)
            continue
        for part in parsed.rejected:
            status = EXIT_PARTIAL
            _emit_error(out, args.json, str(path), part.reason, part.number)
        for snap in parsed.prescriptions:
            result = reviewer.review(snap, at)
            if args.json:
                print(json.dumps({
                    "file": str(path), "prescription_id": snap.number, "items": [i.fhir_id for i in snap.items],
                    "approvable": result.approvable,
                    "findings": [{"rule_id": f.rule_id, "severity": f.severity.value, "item": f.item,
                                  "message": f"{f.message_zh} / {f.message_en}", "citation": f.citation}
                                 for f in result.findings],
                    **({} if result.checked else {"checked": False, "error": result.error}),
                    **({"settings_loosened": loosened_json} if loosened_json else {}),
                }, ensure_ascii=False), file=out)
            else:
                _print_judgement(out, str(path), snap.number, result, loosened)
    if not files:
        print("rxws: no *.json files found in the given paths", file=sys.stderr)
        return EXIT_USAGE
    return status


def _emit_error(out: TextIO, as_json: bool, file: str, reason: str, number: str | None = None) -> None:
    import json

    if as_json:
        print(json.dumps({"file": file, **({"prescription_id": number} if number else {}), "error": reason},
                         ensure_ascii=False), file=out)
    else:
        print(f"{file}: {'处方 ' + number + ' ' if number else ''}无法审核 cannot be judged — {reason}", file=out)


def _print_judgement(out: TextIO, file: str, number: str, result: Any, loosened: Sequence[Any] = ()) -> None:
    for item in loosened:  # on the record of this judgement, not only on the terminal
        print(f"处方 {number}（{file}）：按放宽的审核设置判断 judged under loosened settings: {item.setting} — "
              f"{item.reason}（设置文件 settings file sha256 {item.settings_sha256}）", file=out)
    if not result.checked:
        print(f"处方 {number}（{file}）：未完成审核，不得通过 — {result.error}", file=out)
        return
    verdict = "可以通过（警示项须逐条确认）" if result.approvable else "不得通过"
    if result.approvable and not result.findings:
        verdict = "未发现问题，可以通过"
    print(f"处方 {number}（{file}）：{verdict}", file=out)
    for f in result.findings:
        level = "拦截" if f.severity.value == "block" else "警示"
        where = f" [{f.item}]" if f.item else ""
        print(f"  【{level}】{f.rule_id}{where}：{f.message_zh}", file=out)
        for e in f.evidence:
            print(f"      依据：{e}", file=out)
        print(f"      出处：{f.citation}", file=out)


def cmd_queue(args: argparse.Namespace, out: TextIO) -> int:
    ws = _open()
    try:
        _print_queue(ws, out)
        return EXIT_OK
    finally:
        ws.close()


def _since(text: str, zone: str) -> Any:
    from datetime import date, datetime
    from zoneinfo import ZoneInfo

    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), datetime.min.time(), ZoneInfo(zone))
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo(zone))


def cmd_quarantine(args: argparse.Namespace, out: TextIO) -> int:
    from workstation.services import queue

    if args.action != "list" and args.id is None:
        print(f"rxws: quarantine {args.action} needs the entry's ID (see rxws quarantine list)", file=sys.stderr)
        return EXIT_USAGE
    ws = _open()
    try:
        if args.action == "show":
            e = ws.intake.quarantined(args.id)
            if args.bytes:
                sys.stdout.buffer.write(e.content)
                sys.stdout.buffer.flush()
                return EXIT_OK
            zone = ws.settings.pharmacy_time_zone
            state = "open" if e.status == "open" else f"resolved {shown(e.resolved_at, zone)} by {e.resolved_by}"
            print(f"隔离区 quarantine #{e.id} ({state})\n"
                  f"  接收 received:  {shown(e.at, zone, seconds=True)} from {e.source}\n"
                  f"  处方 prescription: {e.prescription_number or '(whole file)'}"
                  f"{'  resources ' + ', '.join(e.resource_ids) if e.resource_ids else ''}\n"
                  f"  原因 reason:    {e.reason}\n"
                  f"  内容 content:   {e.size} bytes, sha256 {e.payload_sha256}"
                  f"{' (only the first ' + str(len(e.content)) + ' kept: over the size limit)' if e.truncated else ''}"
                  f"; the bytes: rxws quarantine show {e.id} --bytes", file=out)
            return EXIT_OK
        if args.action == "release":
            report, again = ws.intake.release_quarantined(args.id, actor=_actor())
            if again == args.id:
                print(f"隔离区 #{args.id}: 仍无法接收，原因未变，保持隔离 still refused for the same reason, left open: "
                      f"{report.quarantined[0].reason}", file=out)
                return EXIT_PARTIAL
            if again is not None:
                print(f"隔离区 #{args.id}: 仍无法接收，已转为 #{again} still refused, now #{again}: "
                      f"{report.quarantined[0].reason}", file=out)
                return EXIT_PARTIAL
            numbers = ", ".join(f"{p.number} v{p.version} ({p.outcome})" for p in report.prescriptions)
            print(f"隔离区 #{args.id}: 已重新接收 taken in again — {report.outcome}: {numbers}", file=out)
            return EXIT_OK
        rows = queue.open_quarantine(ws.uow())
        print(f"隔离区 quarantine (open): {len(rows)}", file=out)
        for r in rows:
            print(f"#{r.quarantine_id} {shown(r.at, ws.settings.pharmacy_time_zone)} {r.source} "
                  f"{r.prescription_number or '(whole file)'}: {r.reason}", file=out)
        return EXIT_OK
    finally:
        ws.close()


def cmd_formulary(args: argparse.Namespace, out: TextIO) -> int:
    from workstation.domain.formulary import FormularyImportError
    from workstation.services import formulary

    ws = _open()
    try:
        if args.action == "list":
            for v in formulary.versions(ws.uow()):
                mark = "*" if v.active else " "
                print(f"{mark} v{v.version_id} {shown(v.imported_at, ws.settings.pharmacy_time_zone)} {v.entries:>5} entries  "
                      f"{v.source}  by {v.imported_by}", file=out)
            return EXIT_OK
        try:
            data = args.csv.read_bytes()
        except OSError as exc:
            print(f"rxws: cannot read {args.csv}: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_USAGE
        try:
            result = formulary.import_formulary(ws.uow(), data, str(args.csv), actor=_actor())
        except FormularyImportError as exc:
            print(f"{args.csv}: 药品目录未导入 formulary NOT imported — {len(exc.errors)} error(s):", file=out)
            for e in exc.errors:
                print(f"  {e}", file=out)
            return EXIT_PARTIAL
        if result.unchanged:
            print(f"{args.csv}: 与当前目录相同 identical to the active version v{result.version_id}; nothing changed", file=out)
        else:
            print(f"{args.csv}: 已导入 imported {result.entries} entries as version v{result.version_id} (now active)", file=out)
        return EXIT_OK
    finally:
        ws.close()


def cmd_special_drugs(args: argparse.Namespace, out: TextIO) -> int:
    from workstation.domain.special_drugs import SpecialDrugListError
    from workstation.services import regulatory

    ws = _open()
    try:
        if args.action == "show":
            lst = regulatory.load_special_drugs(ws.settings)
            print(f"特殊管理药品目录 in force: {lst.source} (sha256 {lst.sha256[:16]}…), {len(lst.entries)} entries", file=out)
            for cat in lst.categories():
                print(f"  {cat:<24} {len(lst.by_category(cat)):>4}", file=out)
            return EXIT_OK
        try:
            data = args.csv.read_bytes()
        except OSError as exc:
            print(f"rxws: cannot read {args.csv}: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_USAGE
        try:
            new = regulatory.import_special_drugs(ws.settings, ws.uow(), data, str(args.csv), actor=_actor())
        except SpecialDrugListError as exc:
            print(f"{args.csv}: 目录未安装 list NOT installed — {exc}", file=out)
            return EXIT_PARTIAL
        print(f"{args.csv}: 已安装 installed, {len(new.entries)} entries, in force from the next start", file=out)
        return EXIT_OK
    finally:
        ws.close()


def cmd_audit(args: argparse.Namespace, out: TextIO) -> int:
    from workstation.services import audit

    ws = _open()
    try:
        if args.action == "list":
            zone = ws.settings.pharmacy_time_zone
            since = _since(args.since, zone) if args.since else None
            if args.since and since is None:
                print(f"rxws: --since {args.since!r} is not an ISO 8601 date or date-time", file=sys.stderr)
                return EXIT_USAGE
            for e in audit.events(ws.uow(), subject=args.subject, since=since, action=args.event, limit=args.limit):
                print(f"#{e.seq}\t{shown(e.at, zone, seconds=True)}\t{e.actor}\t{e.action}\t{e.subject}\t{e.details}",
                      file=out)
            return EXIT_OK
        result = audit.verify(ws.uow())
        if result.broken is None:
            print(f"审计链完整 audit chain intact: {result.checked} events verified", file=out)
            return EXIT_OK
        b = result.broken
        print(f"审计链断裂 audit chain BROKEN at event #{b.seq} (row id {b.row_id}): {b.reason}; "
              f"{result.checked} events before it verified", file=out)
        return EXIT_PARTIAL
    finally:
        ws.close()


def cmd_db(args: argparse.Namespace, out: TextIO) -> int:
    from workstation.adapters import secrets
    from workstation.adapters.db import migrate

    settings = _settings()
    if args.action == "set-password":
        from sqlalchemy.engine import make_url

        url = make_url(settings.database_url)
        if url.get_backend_name() == "sqlite":
            print("rxws: the embedded SQLite database has no password", file=sys.stderr)
            return EXIT_USAGE
        # From a terminal it is asked without echo; from a pipe (automation) it is the first line of stdin.
        prompt = f"Password for {url.username}@{url.host}: "
        password = getpass.getpass(prompt) if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")
        secrets.set_secret(secrets.database_secret_name(url.username, url.host, url.port, url.database), password)
        print("密码已存入系统密钥环 password stored in the OS keyring", file=out)
        return EXIT_OK
    if args.action == "upgrade":
        from workstation.adapters.db.engine import make_engine
        from workstation.bootstrap import database_password

        engine = make_engine(settings.database_url, password=database_password(settings))
        try:
            before, after = migrate.upgrade(engine)
        finally:
            engine.dispose()
        print(f"{_safe_url(settings.database_url)}: schema {before or '(empty)'} → {after}", file=out)
        return EXIT_OK
    ws = _open(upgrade=False)
    try:
        print(f"{_safe_url(settings.database_url)}: schema {migrate.current_revision(ws.engine)}", file=out)
        return EXIT_OK
    finally:
        ws.close()


def _pad(text: str, width: int) -> str:
    """Left-align in a terminal column: CJK characters take two cells."""
    cells = sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
    return text + " " * max(width - cells, 0)


def _actor() -> str:
    try:
        return f"os:{getpass.getuser()}"
    except (KeyError, OSError):
        return "os:unknown"


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


_COMMANDS: dict[str, Callable[[argparse.Namespace, TextIO], int]] = {
    "start": cmd_start,
    "ingest": cmd_ingest,
    "inbox": cmd_inbox,
    "pull": cmd_pull,
    "check": cmd_check,
    "queue": cmd_queue,
    "quarantine": cmd_quarantine,
    "formulary": cmd_formulary,
    "special-drugs": cmd_special_drugs,
    "audit": cmd_audit,
    "db": cmd_db,
}


def _command(name: str) -> Callable[[argparse.Namespace, TextIO], int]:
    from workstation import cli_coverage, cli_decisions, cli_demo, cli_labels, cli_release, cli_serve, cli_show

    commands: dict[str, Callable[[argparse.Namespace, TextIO], int]] = {
        **_COMMANDS, **cli_decisions.COMMANDS, **cli_release.COMMANDS, **cli_demo.COMMANDS, **cli_show.COMMANDS,
        **cli_labels.COMMANDS, **cli_coverage.COMMANDS, **cli_serve.COMMANDS}
    return commands[name]


if __name__ == "__main__":
    raise SystemExit(main())
