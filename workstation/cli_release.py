"""`rxws receiver` and `rxws verify`: run the reference receiver (参考接收端), and check a released message by hand.

``add_parsers`` registers both on the ``rxws`` sub-command parser; ``COMMANDS`` maps their names to
the handlers, which take the parsed arguments and the output stream and return the exit status.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from cryptography import x509

# The exit statuses of workstation.cli, repeated so that it can import this module without a cycle.
EXIT_OK, EXIT_PARTIAL, EXIT_USAGE = 0, 1, 2

_TRUST_REQUIRED = (
    "需要 --trust：签名须链接到的药房 CA 证书（PEM）/ --trust is required: the pharmacy CA "
    "certificate (PEM) that pharmacists' signatures must chain to"
)
_NO_ANCHORS = (
    "本工作站没有药房CA，也未配置 [release] trust_anchors；请用 --trust 指定 / this workstation has no pharmacy CA and "
    "no [release] trust_anchors: name the CA certificate with --trust"
)


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``receiver`` and ``verify`` on ``rxws``'s sub-command parser."""
    s = sub.add_parser(
        "receiver", help="run the reference receiver for released prescriptions (dispensing and delivery)",
        description="Listen on 127.0.0.1 for POST /dispensing and POST /delivery (docs/release-api.yaml), verify "
                    "each message against the trust anchors, and keep each one once per Idempotency-Key under "
                    "STORE/dispensing/ and STORE/delivery/. Prints one line per request. Stops on Ctrl-C or SIGTERM.")
    s.add_argument("--port", type=int, default=8470, help="the port (default 8470; 0: any free port)")
    s.add_argument("--trust", action="append", type=Path, default=[], metavar="PEM",
                   help="a CA certificate signatures must chain to: the pharmacy CA (repeatable; required)")
    s.add_argument("--store", type=Path, required=True, metavar="DIR", help="where accepted messages are kept")
    s.add_argument("--fault-rate", type=float, default=0.0, metavar="SHARE", help="for testing")
    s.add_argument("--fault-seed", type=int, default=None, metavar="N", help="for testing")
    s.add_argument("--fault-delay", type=float, default=30.0, metavar="SECONDS", help="for testing")

    s = sub.add_parser(
        "verify", help="check the signatures of a released dispensing bundle or delivery message",
        description="Check every pharmacist signature in FILE (a dispensing Bundle or a delivery message, as the "
                    "receiver stores them) and every content hash. Exit status 0 when all verify, 1 when one does "
                    "not, 2 when FILE cannot be read or is not JSON.")
    s.add_argument("file", type=Path, metavar="FILE")
    s.add_argument("--trust", action="append", type=Path, default=[], metavar="PEM",
                   help="a CA certificate signatures must chain to (repeatable; default: this pharmacy's own CA "
                        "and the [release] trust_anchors of the settings)")


def _workstation_anchors() -> tuple[x509.Certificate, ...] | None:
    """What this workstation trusts for pharmacists' signatures: its own CA and the configured roots."""
    from workstation.bootstrap import open_workstation
    from workstation.settings import load_settings

    ws = open_workstation(load_settings())
    try:
        anchors = ws.release_anchors()
    finally:
        ws.close()
    if not anchors:
        print(f"rxws: {_NO_ANCHORS}", file=sys.stderr)
        return None
    return anchors


def _anchors(paths: list[Path]) -> tuple[x509.Certificate, ...] | None:
    """The trust anchors, or None after saying on stderr why there are none."""
    from workstation.adapters.signature import TrustAnchorError, load_trust_anchors

    if not paths:
        print(f"rxws: {_TRUST_REQUIRED}", file=sys.stderr)
        return None
    try:
        return load_trust_anchors(paths)
    except TrustAnchorError as exc:
        print(f"rxws: {exc}", file=sys.stderr)
        return None


def cmd_receiver(args: argparse.Namespace, out: TextIO) -> int:
    """Run the receiver until Ctrl-C or SIGTERM."""
    from workstation.adapters.receiver import serve

    anchors = _anchors(args.trust)
    if anchors is None:
        return EXIT_USAGE
    try:
        receiver = serve(args.port, anchors, args.store, log=lambda line: print(line, file=out, flush=True),
                         fault_rate=args.fault_rate, fault_seed=args.fault_seed, fault_delay=args.fault_delay)
    except (OSError, ValueError) as exc:
        print(f"rxws: 接收端无法启动 / the receiver cannot start: {exc}", file=sys.stderr)
        return EXIT_USAGE
    stop = threading.Event()

    def on_term(signum: int, frame: FrameType | None) -> None:
        stop.set()

    # Signal handlers can only be set from the main thread; elsewhere (an embedding program) Ctrl-C is its business.
    # SIGINT too, explicitly: a process started in the background inherits SIGINT ignored, and Python then
    # installs no KeyboardInterrupt for it.
    previous: dict[int, Any] = {}
    in_main = threading.current_thread() is threading.main_thread()
    if in_main:
        previous = {sig: signal.signal(sig, on_term) for sig in (signal.SIGTERM, signal.SIGINT)}
    print(f"接收端已启动 / receiver listening on {receiver.url}, storing in {receiver.store_dir} "
          "(Ctrl-C to stop)", file=out, flush=True)
    try:
        while not stop.wait(1.0):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        receiver.shutdown()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("接收端已停止 / receiver stopped", file=out, flush=True)
    return EXIT_OK


def cmd_verify(args: argparse.Namespace, out: TextIO) -> int:
    """Verify a stored release message; print who signed what, or why it does not verify."""
    from workstation.adapters.approval import (
        ReleaseVerificationError,
        parse_json,
        verify_delivery_message,
        verify_dispensing_bundle,
    )

    anchors = _anchors(args.trust) if args.trust else _workstation_anchors()
    if anchors is None:
        return EXIT_USAGE
    path: Path = args.file
    try:
        raw = path.read_bytes()
    except OSError as exc:
        print(f"rxws: 无法读取 / cannot read {path}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        message = parse_json(raw)
    except (ValueError, RecursionError) as exc:
        print(f"rxws: {path} 不是合法 JSON / is not valid JSON: {str(exc)[:200]}", file=sys.stderr)
        return EXIT_USAGE
    zone = _zone()
    try:
        if isinstance(message, dict) and message.get("resourceType") == "Bundle":
            kind, lines = "调配单 dispensing bundle", verify_dispensing_bundle(message, anchors).describe(zone)
        elif isinstance(message, dict) and "message" in message and "signature" in message:
            kind, lines = "配送单 delivery message", verify_delivery_message(message, anchors).describe(zone)
        else:
            print(f"{path}: 既不是调配单也不是配送单 / neither a dispensing Bundle nor a delivery message",
                  file=out)
            return EXIT_PARTIAL
    except ReleaseVerificationError as exc:
        print(f"{path}: 签名无效 INVALID — {exc.reason}", file=out)
        return EXIT_PARTIAL
    print(f"{path}: 签名有效 VALID ({kind})", file=out)
    for line in lines.split("\n"):
        print(f"  {line}", file=out)
    return EXIT_OK


def _zone() -> str:
    """The pharmacy's time zone from the settings; a receiver with no (or broken) settings reads Asia/Shanghai."""
    from workstation.settings import SettingsError, load_settings

    try:
        return load_settings().pharmacy_time_zone
    except SettingsError:
        return "Asia/Shanghai"


COMMANDS = {"receiver": cmd_receiver, "verify": cmd_verify}
