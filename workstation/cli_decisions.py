"""The `rxws pharmacist|ca|claim|decide|release` commands: accounts, signing identities, decisions, release.

Passwords and PINs are asked on the terminal; for automation they are read from ``RXWS_PASSWORD``
and ``RXWS_PIN`` when set (also when an account or a PIN is first set). They are never stored,
echoed or logged.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from workstation.adapters.db.types import utcnow
from workstation.domain.accounts import Principal, parse_roles
from workstation.domain.errors import DomainError
from workstation.domain.local_time import shown

if TYPE_CHECKING:
    from workstation.bootstrap import Workstation

EXIT_OK, EXIT_REFUSED, EXIT_USAGE = 0, 1, 2


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    s = sub.add_parser("pharmacist", help="pharmacist accounts and signing identities (药师账户与签名证书)")
    ps = s.add_subparsers(dest="action", metavar="ACTION", required=True)
    a = ps.add_parser("add", help="add an account (password asked, or RXWS_PASSWORD)")
    a.add_argument("--name", required=True, help="real name (实名)")
    a.add_argument("--licence", required=True, help="pharmacist licence number (药师注册证号)")
    a.add_argument("--role", required=True, action="append", metavar="ROLE",
                   help="pharmacist, lead or admin (repeat, or separate with commas)")
    e = ps.add_parser("enroll", help="issue (or --import) the pharmacist's signing certificate; the pharmacist types "
                                     "their password and chooses a signing PIN (or RXWS_PASSWORD, RXWS_PIN)")
    e.add_argument("--licence", required=True)
    e.add_argument("--import", dest="import_files", action="append", type=Path, default=[], metavar="FILE",
                   help="a CA-issued credential instead: a PKCS#12 file, or PEM key and certificate files "
                        "(its password asked, or RXWS_CREDENTIAL_PASSWORD)")
    ps.add_parser("list", help="accounts, roles, lockouts and enrolment")
    lk = ps.add_parser("lock", help="deactivate an account")
    lk.add_argument("--licence", required=True)
    lk.add_argument("--reason", default="locked by an administrator")
    ul = ps.add_parser("unlock", help="re-activate an account and clear a login or signing-PIN lockout")
    ul.add_argument("--licence", required=True)
    pw = ps.add_parser("passwd", help="change your own password (old and new password and your signing PIN asked, or "
                                      "RXWS_PASSWORD, RXWS_NEW_PASSWORD, RXWS_PIN); the signing key is re-encrypted")
    pw.add_argument("--licence", required=True)

    s = sub.add_parser("ca", help="the pharmacy's own certificate authority (药房本地CA)")
    cs = s.add_subparsers(dest="action", metavar="ACTION", required=True)
    cs.add_parser("init", help="create the pharmacy CA (its key passphrase goes into the OS keyring)")
    ex = cs.add_parser("export", help="write the pharmacy CA certificate that receivers must trust")
    ex.add_argument("file", type=Path, metavar="FILE")

    s = sub.add_parser("claim", help="claim a prescription before deciding (a 10-minute lease)")
    s.add_argument("prescription", nargs="?", metavar="PRESCRIPTION", help="its number; none: the next in the queue")
    s.add_argument("--as", dest="licence", required=True, metavar="LICENCE")
    s.add_argument("--take-back", action="store_true",
                   help="a lead takes back a colleague's claim on PRESCRIPTION: it returns to the queue (audited)")
    s.add_argument("--reason", default="taken back by a lead", help="with --take-back: why (recorded)")

    s = sub.add_parser("decide", help="approve (signed), reject, or return a claimed prescription")
    s.add_argument("prescription", metavar="PRESCRIPTION")
    s.add_argument("--as", dest="licence", required=True, metavar="LICENCE")
    kind = s.add_mutually_exclusive_group(required=True)
    kind.add_argument("--approve", action="store_true", help="approve and sign (password and PIN asked)")
    kind.add_argument("--reject", metavar="CODE", help="reject (审核不通过) with a reason code")
    kind.add_argument("--return", dest="return_code", metavar="CODE", help="return to the prescriber (退回修改)")
    s.add_argument("--ack", action="append", default=[], metavar="RULE_ID=REASON",
                   help="acknowledge a warning with a reason (repeat for each warning)")
    s.add_argument("--comment", help="required with --reject and --return")

    s = sub.add_parser("release", help="send approved prescriptions to dispensing and delivery")
    rs = s.add_subparsers(dest="action", metavar="ACTION", required=True)
    rs.add_parser("run", help="one pass over the outbox; prints what was sent, failed or refused")
    w = rs.add_parser("watch", help="keep sending (Ctrl-C stops)")
    w.add_argument("--interval", type=float, default=5.0, metavar="SECONDS")
    ls = rs.add_parser("list", help="the outbox and its states")
    ls.add_argument("--status", choices=["pending", "sent", "release_failed", "refused"])
    rt = rs.add_parser("retry", help="send a decision's failed release again")
    rt.add_argument("decision", metavar="DECISION_ID")
    st = rs.add_parser("set-token", help="store a target's bearer token in the OS keyring (asked on the terminal)")
    st.add_argument("target", choices=["dispensing", "delivery"])


# --------------------------------------------------------------------------- secrets from the person


def ask_secret(prompt: str, env: str, *, confirm: bool = False) -> str:
    """From the environment variable when set (automation), else asked on the terminal without echo."""
    value = os.environ.get(env)
    if value is not None:
        return value
    if not sys.stdin.isatty():
        raise DomainError(f"{prompt.rstrip(': ')}: 需要在终端输入，或设置 {env} / needs a terminal, or set {env}")
    value = getpass.getpass(prompt)
    if confirm and getpass.getpass("再次输入 again: ") != value:
        raise DomainError("两次输入不一致 / the two entries differ")
    return value


def _system() -> Principal:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return Principal.system(user)


@contextmanager
def opened_workstation() -> Iterator[Workstation]:
    from workstation.bootstrap import open_workstation
    from workstation.settings import load_settings

    ws = open_workstation(load_settings())
    try:
        yield ws
    finally:
        ws.close()


def login(ws: Workstation, licence: str) -> tuple[Principal, str]:
    password = ask_secret(f"{licence} 的登录密码 password: ", "RXWS_PASSWORD")
    return ws.accounts.authenticate(licence, password), password


# --------------------------------------------------------------------------- commands


def cmd_pharmacist(args: argparse.Namespace, out: TextIO) -> int:
    with opened_workstation() as ws:
        admin = _system()
        if args.action == "add":
            roles = parse_roles(",".join(args.role))
            password = ask_secret(f"{args.name} 的初始密码 initial password: ", "RXWS_PASSWORD", confirm=True)
            info = ws.accounts.add(admin, name=args.name, licence=args.licence, roles=roles, password=password)
            print(f"已添加 added {info.name} ({info.licence}), roles {','.join(sorted(r.value for r in info.roles))}; "
                  f"next: rxws pharmacist enroll --licence {info.licence}", file=out)
        elif args.action == "enroll":
            password = ask_secret(f"{args.licence} 的登录密码 password: ", "RXWS_PASSWORD")
            pin = ask_secret("设置签名PIN（至少6位）choose a signing PIN (6+): ", "RXWS_PIN", confirm=True)
            if args.import_files:
                file_password = os.environ.get("RXWS_CREDENTIAL_PASSWORD")
                if file_password is None and sys.stdin.isatty():
                    file_password = getpass.getpass("证书文件口令（无则回车）credential file password (Enter if none): ") or None
                cred = ws.signing.import_credential(admin, args.licence, password=password, pin=pin,
                                                    files=args.import_files, file_password=file_password)
                if not ws.signing.chains_to(args.licence, ws.release_anchors()):
                    print(f"rxws: 注意 note: 该证书的签发CA不在药师签名的信任锚中，通过将被拒绝；请把CA证书加入 {ws.settings.settings_file} "
                          f"的 [release] trust_anchors / the certificate's issuer ({cred.issuer}) is not a pharmacist "
                          f"trust anchor, so approvals would be refused: add its CA certificate to [release] "
                          f"trust_anchors in {ws.settings.settings_file}", file=sys.stderr)
            else:
                ws.signing.ensure_ca(admin)
                cred = ws.signing.enroll(admin, args.licence, password=password, pin=pin)
            print(f"签名证书已就绪 signing certificate ready: {cred.subject}, serial {cred.serial}, issued by {cred.issuer}, "
                  f"valid {cred.not_before:%Y-%m-%d} – {cred.not_after:%Y-%m-%d} ({cred.source})", file=out)
        elif args.action == "list":
            zone, now = ws.settings.pharmacy_time_zone, utcnow()
            for p in ws.accounts.list(admin):
                state = "active" if p.active else "deactivated"
                if p.locked_until is not None and p.locked_until > now and p.active:
                    state = f"login locked until {shown(p.locked_until, zone)}"
                signing = "enrolled" if p.enrolled else "not enrolled"
                if p.pin_locked_until is not None and p.pin_locked_until > now:
                    signing += f", signing PIN locked until {shown(p.pin_locked_until, zone)}"
                print(f"{p.licence}\t{p.name}\t{','.join(sorted(r.value for r in p.roles))}\t{state}\t{signing}",
                      file=out)
        elif args.action == "passwd":
            who, old = login(ws, args.licence)
            new = ask_secret("新密码 new password: ", "RXWS_NEW_PASSWORD", confirm=True)
            held = ws.signing.credential(args.licence) is not None
            ws.signing.change_password(who, old_password=old, new_password=new,
                                       pin=ask_secret("签名PIN signing PIN: ", "RXWS_PIN") if held else None)
            print(f"已修改密码 password changed for {args.licence}"
                  + ("；签名密钥已随新密码重新加密 / the signing key is re-encrypted under it" if held else ""), file=out)
        elif args.action == "lock":
            ws.accounts.lock(admin, args.licence, reason=args.reason)
            print(f"已停用 deactivated {args.licence}", file=out)
        else:
            ws.accounts.unlock(admin, args.licence)
            print(f"已启用 re-activated {args.licence}", file=out)
    return EXIT_OK


def cmd_ca(args: argparse.Namespace, out: TextIO) -> int:
    from workstation.adapters import pki

    with opened_workstation() as ws:
        if args.action == "init":
            cert = ws.signing.ensure_ca(_system())
            print(f"药房CA ready: {cert.subject.rfc4514_string()}, valid until {cert.not_valid_after_utc:%Y-%m-%d}", file=out)
            return EXIT_OK
        cert_or_none = ws.signing.ca_certificate()
        if cert_or_none is None:
            raise DomainError("还没有药房CA / there is no pharmacy CA yet: `rxws ca init` or enrol a pharmacist")
        args.file.write_bytes(pki.certificate_pem([cert_or_none]))
        print(f"已写出 wrote {args.file}: {cert_or_none.subject.rfc4514_string()} — give it to the dispensing and "
              "delivery receivers as their trust anchor", file=out)
    return EXIT_OK


def cmd_claim(args: argparse.Namespace, out: TextIO) -> int:
    with opened_workstation() as ws:
        principal, _ = login(ws, args.licence)
        if args.take_back:
            if not args.prescription:
                raise DomainError("--take-back 需要处方号 / --take-back needs the PRESCRIPTION number")
            holder = ws.claims.take_back(principal, args.prescription, reason=args.reason)
            print(f"已收回 taken back {args.prescription}" + (f" from {holder}" if holder else " (it was not claimed)"),
                  file=out)
            return EXIT_OK
        info = ws.claims.claim(principal, args.prescription)
        print(info.number, file=out)
        print(f"已认领 claimed {info.number} v{info.version} until "
              f"{shown(info.expires_at, ws.settings.pharmacy_time_zone, seconds=True)}", file=sys.stderr)
    return EXIT_OK


def cmd_decide(args: argparse.Namespace, out: TextIO) -> int:
    from workstation.services.decisions import DecisionRefused

    with opened_workstation() as ws:
        principal, password = login(ws, args.licence)
        try:
            if args.approve:
                acks = {}
                for ack in args.ack:
                    rule_id, sep, reason = ack.partition("=")
                    if not sep or not reason.strip():
                        raise DomainError(f"--ack {ack!r}: write RULE_ID=REASON")
                    acks[rule_id.strip()] = reason.strip()
                pin = ask_secret("签名PIN signing PIN: ", "RXWS_PIN")
                session = ws.signing.begin(principal)
                info = ws.decisions.approve(principal, session, args.prescription, pin=pin, password=password,
                                            acknowledged=acks)
                if session.clock_warning:
                    print(f"rxws: 注意 {session.clock_warning}", file=sys.stderr)
                session.end()
                print(f"审核通过并已签名 approved and signed: {info.number} v{info.version}, decision {info.id}; "
                      "queued for dispensing and delivery", file=out)
            else:
                if not args.comment or not args.comment.strip():
                    raise DomainError("--reject 和 --return 需要 --comment / --reject and --return need --comment")
                if args.reject:
                    info = ws.decisions.reject(principal, args.prescription, code=args.reject, comment=args.comment)
                    print(f"审核不通过 rejected: {info.number} v{info.version}, decision {info.id}", file=out)
                else:
                    info = ws.decisions.return_to_prescriber(principal, args.prescription, code=args.return_code,
                                                             comment=args.comment)
                    print(f"已退回医师修改 returned to the prescriber: {info.number} v{info.version}, decision {info.id}",
                          file=out)
        except DecisionRefused as exc:
            print(f"rxws: {exc}", file=sys.stderr)
            for f in exc.findings:
                print(f"  【{'拦截' if f.severity.value == 'block' else '警示'}】{f.rule_id}"
                      f"{f' [{f.item}]' if f.item else ''}：{f.message_zh} / {f.message_en}", file=sys.stderr)
            return EXIT_REFUSED
    return EXIT_OK


def cmd_release(args: argparse.Namespace, out: TextIO) -> int:
    from workstation.adapters import secrets
    from workstation.services import release

    with opened_workstation() as ws:
        if args.action == "set-token":
            name = getattr(ws.settings.release, f"{args.target}_token_name")
            secrets.set_secret(name, ask_secret(f"{args.target} bearer token: ", f"RXWS_{args.target.upper()}_TOKEN"))
            print("令牌已存入系统密钥环 token stored in the OS keyring", file=out)
            return EXIT_OK
        if args.action == "list":
            zone = ws.settings.pharmacy_time_zone
            for row in release.outbox(ws.uow, status=args.status):
                print(f"{row.decision_id}\t{row.number}/v{row.version}\t{row.target}\t{row.status}\t"
                      f"attempts {row.attempts}\t{shown(row.sent_at, zone, seconds=True) if row.sent_at else ''}\t"
                      f"{row.last_error or ''}", file=out)
            return EXIT_OK
        if args.action == "retry":
            n = release.retry(ws.uow, _system(), args.decision)
            print(f"{n} 条重新排队 release row(s) queued again for {args.decision}", file=out)
            return EXIT_OK
        sender = ws.sender(_system())
        report: Callable[[release.SendResult], None] = lambda r: print(  # noqa: E731
            f"{r.outcome}\t{r.target}\t{r.decision_id}\t{r.detail}", file=out, flush=True)
        try:
            if args.action == "watch":
                try:
                    sender.watch(interval=args.interval, report=report)
                except KeyboardInterrupt:
                    return EXIT_OK
                return EXIT_OK
            results = sender.run_once()
        except release.ReleaseNotConfigured as exc:
            print(f"rxws: {exc} — {ws.settings.settings_file}", file=sys.stderr)
            return EXIT_USAGE
        for r in results:
            report(r)
        if not results:
            print("没有待发送的消息 nothing to send", file=out)
        return EXIT_REFUSED if any(r.outcome in ("refused", "release_failed") for r in results) else EXIT_OK


COMMANDS: dict[str, Callable[[argparse.Namespace, TextIO], int]] = {
    "pharmacist": cmd_pharmacist,
    "ca": cmd_ca,
    "claim": cmd_claim,
    "decide": cmd_decide,
    "release": cmd_release,
}
