"""Benchmark: approving (rules re-run + sign + commit + outbox) and releasing to the reference receiver.

Run alone: ``python -m tests.perf.bench_decisions [--count N]``. Measures the approve latency over
N decisions on SQLite (median and p99), the release throughput to a local reference receiver over
loopback, and a bare ES256 signature of the same statement as the baseline, in the same run. The last
line prints the figures and the ratio of the approve latency to the bare signature.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import keyring

from tests.support import PKI, MemoryKeyring, signed_prescription, staff
from workstation.adapters import approval
from workstation.adapters.receiver import serve
from workstation.bootstrap import open_workstation
from workstation.domain.accounts import Role
from workstation.services.release import ReleaseSender, SenderSettings
from workstation.settings import load_settings

PASSWORD, PIN = "Bench-Desk-2026", "482915"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=1000)
    args = parser.parse_args()
    keyring.set_keyring(MemoryKeyring())  # the pharmacy CA's passphrase needs a keyring; this one lives in memory
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        env = {"RXWS_CONFIG_DIR": str(folder / "cfg"), "RXWS_DATA_DIR": str(folder / "data"),
               "RXWS_DATABASE_URL": f"sqlite:///{folder / 'bench.sqlite3'}", "RXWS_TRUST": str(PKI / "ca.pem")}
        os.environ.update({k: v for k, v in env.items() if k == "RXWS_CONFIG_DIR"})
        ws = open_workstation(load_settings(env))
        try:
            admin, (me,) = staff(ws, [("PH0001", "李药师", frozenset({Role.PHARMACIST}))], password=PASSWORD, pin=PIN)
            now = datetime.now(UTC)
            for report in ws.intake.ingest_many((signed_prescription(f"RXB{n:06d}", now), f"bench:{n}")
                                                for n in range(args.count)):
                assert report.outcome == "stored", report
            session = ws.signing.begin(me)
            ws.signing.signer(session, pin=PIN, password=PASSWORD)  # the session's first signature unlocks the key
            latencies = []
            decision_ids = []
            for n in range(args.count):
                number = f"RXB{n:06d}"
                ws.claims.claim(me, number)
                start = time.perf_counter()
                decision_ids.append(ws.decisions.approve(me, session, number, pin=PIN).id)
                latencies.append(time.perf_counter() - start)
            signer = ws.signing.signer(session, pin=PIN)
            statement = {"prescription": "RXB000000", "version": 1, "content_sha256": "0" * 64, "decision": "approve",
                         "acknowledged": {}, "pharmacist_licence": "PH0001", "signed_at": now.isoformat(timespec="seconds")}
            rounds = 2000
            start = time.perf_counter()
            for _ in range(rounds):
                approval.sign_statement(statement, signer.key, list(signer.chain))
            bare = (time.perf_counter() - start) / rounds
            ca = ws.signing.ca_certificate()
            assert ca is not None
            with serve(0, [ca], folder / "received") as receiver:
                sender = ReleaseSender(ws.uow, admin, SenderSettings(
                    {"dispensing": f"{receiver.url}/dispensing", "delivery": f"{receiver.url}/delivery"}),
                    ws.release_anchors)
                start = time.perf_counter()
                sent = 0
                while results := sender.run_once():
                    sent += sum(r.outcome == "sent" for r in results)
                release_seconds = time.perf_counter() - start
            assert sent == 2 * args.count, sent
        finally:
            ws.close()
    latencies.sort()
    median = statistics.median(latencies)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    print(f"approve (rules re-run + sign + commit + outbox), {args.count} decisions on SQLite: "
          f"median {median * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms")
    print(f"bare ES256 signature of the same statement: {bare * 1000:.3f} ms")
    print(f"release to the local receiver: {sent} messages in {release_seconds:.2f} s = {sent / release_seconds:,.0f}/s "
          f"({args.count / release_seconds:,.0f} approvals/s)")
    print(f"approve median {median * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms | release {sent / release_seconds:,.0f} msg/s | "
          f"bare sign {bare * 1000:.3f} ms | approve/sign ratio {median / bare:.0f}x")


if __name__ == "__main__":
    main()
