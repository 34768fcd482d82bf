"""Eight workstations and one `rxws serve` on one PostgreSQL through a simulated shift.

The server takes in the inbox as bundles arrive; the workstations, woken only by queue notifications,
claim and decide. Every prescription is decided exactly once, none is left invisible by a lost
notification, and presence is seen across workstations and gives the coverage of the shift.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.conftest import PASSWORD, Pharmacy
from tests.support import PKI, REPO, running, signed_prescription
from tests.workers import shift_worker
from workstation.adapters.db import orm
from workstation.domain.accounts import Role

WORKSTATIONS, PRESCRIPTIONS = 8, 120


@pytest.mark.postgres
def test_a_shift_of_eight_workstations_and_a_server(pharmacy: Pharmacy, tmp_path: Path) -> None:
    ws = pharmacy.ws
    if ws.engine.dialect.name != "postgresql":
        pytest.skip("many workstations share one PostgreSQL; SQLite is one workstation's database")
    people = [ws.accounts.add(pharmacy.admin, name=f"药师{n}", licence=f"SHIFT{n}", roles=frozenset({Role.PHARMACIST}),
                              password=PASSWORD).licence for n in range(WORKSTATIONS)]
    start = datetime.now(UTC) - timedelta(minutes=1)
    hours = "date_or_weekday,open,close\n" + "".join(f"{d},00:00,23:59\n" for d in range(1, 8))
    ws.coverage.import_hours(pharmacy.lead, hours.encode(), "hours.csv")
    roster = "licence,start,end\n" + "".join(
        f"{p},{start.isoformat()},{(start + timedelta(hours=2)).isoformat()}\n" for p in people)
    ws.coverage.import_roster(pharmacy.lead, roster.encode(), "roster.csv")
    s = ws.settings
    env = {"RXWS_CONFIG_DIR": str(s.config_dir), "RXWS_DATA_DIR": str(s.data_dir), "RXWS_TRUST": str(PKI / "ca.pem"),
           "RXWS_DATABASE_URL": ws.engine.url.render_as_string(hide_password=False)}
    inbox = s.inbox_dir
    inbox.mkdir(parents=True, exist_ok=True)
    stop = tmp_path / "stop"
    outs = [tmp_path / f"ws-{n}.txt" for n in range(WORKSTATIONS)]
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=shift_worker, args=(env, p, PASSWORD, str(out), str(stop)))
               for p, out in zip(people, outs)]
    for w in workers:
        w.start()
    argv = [sys.executable, "-m", "workstation.cli", "serve", "--interval", "0.3"]
    with running(argv, cwd=REPO, env={**os.environ, **env}) as server:
        try:
            ready = time.monotonic() + 120
            while not all(Path(f"{out}.ready").exists() for out in outs) and time.monotonic() < ready:
                time.sleep(0.2)  # every workstation listening and present
            listening = datetime.now(UTC)
            for batch in range(PRESCRIPTIONS // 20):  # the hospital sends a batch every half second
                for n in range(20):
                    number = f"RXSHIFT{batch:02d}{n:02d}"
                    path = inbox / f"{number}.json"
                    path.write_bytes(signed_prescription(number, datetime.now(UTC)))
                    os.utime(path, (time.time() - 5, time.time() - 5))
                time.sleep(0.5)
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                with ws.uow() as uow:
                    if uow.session.scalar(select(func.count()).select_from(orm.Decision)) == PRESCRIPTIONS:
                        break
                time.sleep(0.5)
            done = datetime.now(UTC)
            assert ws.coverage.present_now() and len(ws.coverage.present_now()) == WORKSTATIONS  # seen across
        finally:
            stop.touch()
            for w in workers:
                w.join(timeout=60)
            server.send_signal(signal.SIGTERM)
            assert server.wait(timeout=30) == 0
    assert all(w.exitcode == 0 for w in workers)
    results = [out.read_text("utf-8").split("\n") for out in outs]
    assert [int(r[0]) for r in results] == [0] * WORKSTATIONS  # no workstation ever missed a notification
    decided = [n for r in results for n in r[1:] if n]
    assert len(decided) == PRESCRIPTIONS and len(set(decided)) == PRESCRIPTIONS  # each exactly once
    assert sum(1 for r in results if len(r) > 1) >= 2  # they really shared the work
    with ws.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(orm.Decision)) == PRESCRIPTIONS
        waiting = uow.session.scalar(select(func.count()).select_from(orm.Prescription)
                                     .where(orm.Prescription.status == "received"))
    assert waiting == 0
    assert ws.coverage.present_now() == []  # every workstation's presence ended when it closed
    shift = ws.coverage.coverage(pharmacy.lead, listening, done)
    assert shift.coverage_pct == 100.0 and not shift.planned_gaps, shift  # rostered and present throughout
