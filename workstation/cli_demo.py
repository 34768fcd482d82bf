"""The `rxws demo` commands (演示数据): make a fresh demo set in demo mode, and say how to sign in to it."""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

from workstation.domain.accounts import Principal

if TYPE_CHECKING:
    from workstation.services.demo import DemoLoad

EXIT_OK, EXIT_USAGE = 0, 2


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    s = sub.add_parser("demo", help="the demo data (演示数据; demo mode only)")
    ds = s.add_subparsers(dest="action", metavar="ACTION", required=True)
    ds.add_parser("reset", help="make a fresh demo set: a new demo CA and new prescriptions authored now (new "
                                "numbers); demo prescriptions still waiting are withdrawn (audited); accounts kept")


def print_accounts(out: TextIO) -> None:
    """The demo accounts with their password and signing PIN (demo mode only: the caller checks)."""
    from workstation.services.demo import DEMO_ACCOUNTS, DEMO_PASSWORD, DEMO_PIN

    print(f"演示账户 demo accounts (密码 password {DEMO_PASSWORD}, 签名PIN signing PIN {DEMO_PIN}):", file=out)
    for a in DEMO_ACCOUNTS:
        print(f"  {a.licence}  {a.name}  {a.role.value}", file=out)


def print_load(out: TextIO, loaded: DemoLoad) -> None:
    print(f"演示数据已载入 demo data loaded: {loaded.formulary_entries} formulary entries, "
          f"{loaded.prescriptions} prescriptions from {len(loaded.reports)} bundles "
          f"(RXDEMO{loaded.series}…, demo CA trusted in demo mode only)", file=out)
    print_accounts(out)


def cmd_demo(args: argparse.Namespace, out: TextIO) -> int:
    from workstation.bootstrap import open_workstation
    from workstation.services import demo
    from workstation.settings import load_settings

    settings = load_settings()
    if not settings.demo_mode:
        print(f"rxws: demo reset refused: demo_mode = false in {settings.settings_file} (演示模式未开启，拒绝重置)",
              file=sys.stderr)
        return EXIT_USAGE
    ws = open_workstation(settings)
    try:
        loaded = demo.reset_demo(ws.uow, ws.intake, ws.accounts, ws.signing, demo_mode=settings.demo_mode,
                                 principal=operator())
        print(f"演示数据已重置 demo reset: {len(loaded.withdrawn)} waiting demo prescription(s) withdrawn "
              "(audited as prescription.withdrawn)", file=out)
        print_load(out, loaded)
        return EXIT_OK
    finally:
        ws.close()


def operator() -> Principal:
    """Who runs this command: the operating-system user (hospital IT), as the audit trail names them."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return Principal.system(user)


COMMANDS: dict[str, Callable[[argparse.Namespace, TextIO], int]] = {"demo": cmd_demo}
