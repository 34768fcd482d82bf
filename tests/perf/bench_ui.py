"""Benchmark the window: the first painted queue, opening a prescription, approve-to-next-shown.

Run alone on an idle machine: ``.venv/bin/python -m tests.perf.bench_ui [--quick]``. Three figures, each
beside a baseline measured in the same run:

- first painted queue with 1,000,000 stored and 100,000 waiting prescriptions vs. the bare SQL for the
  same page (target under 1 s and at most 3x the query);
- opening a prescription whose patient has 500 diagnoses and 200 earlier prescriptions (target under
  100 ms);
- approve-to-next-shown once the signing session is open, median and p99 (target median under 100 ms),
  vs. the bare approve call of the decision service.

The last line holds all figures and ratios.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.perf.qt_wait import wait_for

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def _wait(app: Any, condition: Any, timeout: float = 60.0) -> None:
    wait_for(app, condition, timeout, "the window")


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def measure_approve_next(tmp: Path, count: int = 200) -> dict[str, float]:
    from PySide6.QtCore import QSettings

    from tests.support import PKI, earlier_today, signed_prescription
    from workstation.bootstrap import open_workstation
    from workstation.services import demo
    from workstation.settings import load_settings

    from ui.app import make_context, prepare_application
    from ui.main_window import MainWindow

    QSettings.setPath(QSettings.Format.NativeFormat, QSettings.Scope.UserScope, str(tmp / "qsettings"))
    env = {"RXWS_CONFIG_DIR": str(tmp / "config"), "RXWS_DATA_DIR": str(tmp / "data"), "RXWS_TRUST": str(PKI / "ca.pem"),
           "RXWS_DATABASE_URL": f"sqlite:///{tmp / 'approve.sqlite3'}"}
    ws = open_workstation(load_settings(env))
    try:
        loaded = demo.load_demo(ws.uow, ws.intake, ws.accounts, ws.signing, demo_mode=True)
        assert loaded is not None
        # Only the shared clean prescriptions wait: the demo set's leave the queue, so every next one is clean.
        from sqlalchemy import update

        from workstation.adapters.db import orm

        with ws.uow() as uow:
            uow.session.execute(update(orm.Prescription).where(orm.Prescription.number.like("RXDEMO%"))
                                .values(status="withdrawn"))
            uow.commit()
        now = datetime.now(UTC)
        base = earlier_today(timedelta(minutes=30), now)
        reports = list(ws.intake.ingest_many(
            (signed_prescription(f"RXBENCH{i:05d}", base + timedelta(seconds=i)), f"bench:{i}") for i in range(2 * count + 2)))
        assert all(r.outcome == "stored" for r in reports)

        app = prepare_application()
        ctx = make_context(ws)
        ctx.principal = ws.accounts.authenticate("YS-DEMO-0001", demo.DEMO_PASSWORD, where="bench")
        window = MainWindow(ctx, poll_seconds=None)
        window.resize(1366, 768)
        window.show()
        _wait(app, window.queue.loaded)
        shown: list[Any] = []
        window.opened.connect(shown.append)

        def sign(password: bool) -> None:
            panel = window.panel
            _wait(app, lambda: panel.signing_dialog is not None and panel.signing_dialog.isVisible())
            dialog = panel.signing_dialog
            assert dialog is not None
            if password:
                dialog.password_edit.setText(demo.DEMO_PASSWORD)
            dialog.pin_edit.setText(demo.DEMO_PIN)
            dialog.sign_button.click()

        window.claim_next()
        _wait(app, lambda: bool(shown) and shown[-1].holds_claim)
        # The session's first signature needs the password: not timed.
        _wait(app, window.panel.approve_action.isEnabled)
        window.panel.approve()
        before = len(shown)
        sign(password=True)
        _wait(app, lambda: len(shown) > before and shown[-1].holds_claim)
        times: list[float] = []
        for _ in range(count):
            _wait(app, window.panel.approve_action.isEnabled)
            window.panel.approve()
            before = len(shown)
            t0 = time.perf_counter()
            sign(password=False)
            _wait(app, lambda: len(shown) > before and shown[-1].holds_claim)
            times.append(time.perf_counter() - t0)
        window.close()
        ctx.tasks.wait(30_000)

        # Baseline: the bare service approve of the same kind of prescription, with the session open.
        who = ctx.principal
        session = ws.signing.begin(who)
        bare: list[float] = []
        waiting = [r.prescriptions[0].number for r in reports][-count // 2:]
        first = True
        for num in waiting:
            ws.claims.claim(who, num)
            t0 = time.perf_counter()
            ws.decisions.approve(who, session, num, pin=demo.DEMO_PIN, password=demo.DEMO_PASSWORD if first else None)
            bare.append(time.perf_counter() - t0)
            first = False
        bare = bare[1:]
        return {"approve_next_median_ms": statistics.median(times) * 1000, "approve_next_p99_ms": _p(times, 0.99) * 1000,
                "bare_approve_median_ms": statistics.median(bare) * 1000}
    finally:
        ws.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.perf.bench_ui")
    parser.add_argument("--quick", action="store_true", help="smaller data: a smoke run, not the targets")
    parser.add_argument("--dir", type=Path, help="keep (and reuse) the built databases here")
    args = parser.parse_args(argv)
    from tests.perf import ui_open_bench, ui_queue_bench

    with tempfile.TemporaryDirectory(prefix="rxws-bench-ui-") as scratch:
        root = args.dir or Path(scratch)
        root.mkdir(parents=True, exist_ok=True)
        print(f"load average at start: {os.getloadavg()[0]:.2f}", flush=True)
        queue = ui_queue_bench.measure_queue(root / "queue", **({"stored": 20_000, "waiting": 2_000} if args.quick else {}))
        print(f"queue: {queue}", flush=True)
        opened = ui_open_bench.measure_open(root / "open")
        print(f"open: {opened}", flush=True)
        shutil.rmtree(root / "approve", ignore_errors=True)  # decisions use up their prescriptions: start afresh
        approve = measure_approve_next(root / "approve", count=20 if args.quick else 200)
        print(f"approve: {approve}", flush=True)
    q_paint, q_sql = queue["first_paint_ms"], queue["bare_query_ms"]
    o_med, o_base = opened["open_median_ms"], opened["baseline_median_ms"]
    a_med, a_base = approve["approve_next_median_ms"], approve["bare_approve_median_ms"]
    print(f"queue first paint {q_paint:.0f} ms vs bare query {q_sql:.0f} ms ({q_paint / q_sql:.1f}x; target < 1000 ms, "
          f"<= 3x) | open {o_med:.1f} ms median, p99 {opened['open_p99_ms']:.1f} ms vs bare reads {o_base:.1f} ms "
          f"({o_med / o_base:.1f}x; target < 100 ms) | approve-to-next {a_med:.1f} ms median, p99 "
          f"{approve['approve_next_p99_ms']:.1f} ms vs bare approve {a_base:.1f} ms ({a_med / a_base:.1f}x; "
          f"target median < 100 ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
