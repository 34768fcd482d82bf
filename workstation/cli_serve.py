"""`rxws serve` (药房服务端): the headless pharmacy-server part, as one long-running process.

Every ``--interval`` seconds it takes in the inbox, pulls from the FHIR server (when one is configured),
sends approved prescriptions to dispensing and delivery (when both URLs are configured) and checks the
on-duty coverage, printing one line for whatever happened and each new alert. SIGTERM or Ctrl-C stops it
cleanly: the step under way finishes (nothing is left half-stored), then it exits 0. Nothing is ever
approved here: prescriptions wait for a pharmacist, whatever the alerts say.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from collections.abc import Callable
from datetime import datetime, timezone
from types import FrameType
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from workstation.bootstrap import Workstation

EXIT_OK = 0
log = logging.getLogger("rxws.serve")


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    s = sub.add_parser("serve", help="run the pharmacy-server part headless: intake, FHIR pull, release, coverage "
                                     "alerts; SIGTERM stops cleanly")
    s.add_argument("--interval", type=float, default=5.0, help="seconds between passes (default 5)")


def one_pass(ws: Workstation, out: TextIO, announced: set[tuple[str, str]]) -> None:
    """Each duty once; a failing one is reported and the others still run."""
    from workstation.adapters.inbox import process_inbox
    from workstation.cli_demo import operator
    from workstation.services import pull, queue

    settings = ws.settings

    def say(text: str) -> None:
        print(f"{datetime.now(timezone.utc).isoformat(timespec='seconds')} {text}", file=out, flush=True)

    def duty(name: str, run: Callable[[], None]) -> None:
        try:
            run()
        except Exception as exc:  # one duty failing (a server down, a database blip) does not stop the others
            log.exception("serve: %s failed", name)
            say(f"{name} failed: {exc}")

    def inbox() -> None:
        if settings.inbox_dir.is_dir():
            for o in process_inbox(settings.inbox_dir, ws.intake.ingest_many):
                say(f"inbox {o.path.name}: {o.report.outcome if o.report else o.error}")

    def fhir() -> None:
        if settings.fhir_server.base_url:
            result = pull.pull(ws.intake, ws.uow, settings.fhir_server)
            if result.stored or result.quarantined:
                say(f"pull: {result.stored} stored, {result.quarantined} quarantined")

    def send() -> None:
        if settings.release.dispensing_url and settings.release.delivery_url:
            for r in ws.sender(operator()).run_once():
                say(f"release {r.outcome} {r.target} {r.decision_id} {r.detail}")

    def summaries() -> None:
        queue.refresh_summaries(ws.uow, ws.reviewer(), datetime.now(timezone.utc))

    def alerts() -> None:
        for alert in ws.coverage.alerts():
            key = (alert.kind, alert.start.isoformat())
            if key not in announced:
                announced.add(key)
                say(f"alert {alert.kind}: {alert.text(settings.pharmacy_time_zone)}")

    for name, run in (("inbox", inbox), ("pull", fhir), ("release", send), ("queue", summaries),
                      ("coverage", alerts)):
        duty(name, run)


def cmd_serve(args: argparse.Namespace, out: TextIO) -> int:
    from workstation.cli_decisions import opened_workstation

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        with opened_workstation() as ws:
            s = ws.settings
            print(f"rxws serve: every {args.interval:g} s — inbox {s.inbox_dir}; FHIR pull "
                  f"{s.fhir_server.base_url or 'not configured'}; release "
                  f"{'on' if s.release.dispensing_url and s.release.delivery_url else 'not configured'}; "
                  "coverage alerts; SIGTERM stops", file=out, flush=True)
            announced: set[tuple[str, str]] = set()
            while not stop.is_set():
                one_pass(ws, out, announced)
                stop.wait(args.interval)
        print("rxws serve: stopped", file=out, flush=True)
        return EXIT_OK
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


COMMANDS: dict[str, Callable[[argparse.Namespace, TextIO], int]] = {"serve": cmd_serve}
