"""Benchmark: claim throughput of 8 workstations on one PostgreSQL, beside a bare SKIP LOCKED loop.

Run alone: ``python -m tests.perf.bench_claims [--count N]`` with PostgreSQL on 127.0.0.1:5432 (user
postgres, trust auth); it creates and drops its own database. Eight processes claim the next prescription
until the queue is empty, first through the workstation's claim service (the queue's order, the lease,
the audit trail's hash chain), then with a bare ``SELECT … FOR UPDATE SKIP LOCKED`` + ``INSERT`` per claim
on the same data. The last line prints both rates and the ratio.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import secrets
import sys
import tempfile
import uuid
from pathlib import Path

from sqlalchemy import create_engine, delete, text
from sqlalchemy.engine import make_url

from tests.perf.bench_intake import generate
from workstation.adapters.db import migrate, orm
from workstation.adapters.db.engine import make_engine
from workstation.adapters.db.uow import UnitOfWork, session_factory
from workstation.domain.accounts import Principal, Role
from workstation.services.accounts import AccountService
from workstation.services.intake import IntakeService

ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
WORKSTATIONS = 8


def run(target: str, args_for: list[tuple[object, ...]], folder: Path) -> tuple[int, float]:
    ctx = multiprocessing.get_context("spawn")
    go = ctx.Event()
    outs = [folder / f"{target}-{n}.txt" for n in range(WORKSTATIONS)]
    from tests import workers

    fn = getattr(workers, target)
    procs = [ctx.Process(target=fn, args=(*a, str(out), go)) for a, out in zip(args_for, outs)]
    for p in procs:
        p.start()
    import time

    time.sleep(3)  # every process connected and waiting
    go.set()
    for p in procs:
        p.join(timeout=600)
        if p.exitcode != 0:
            raise SystemExit(f"{target} worker failed")
    parts = [out.read_text("ascii").split() for out in outs]
    count = sum(int(p[0]) for p in parts)
    return count, max(float(p[2]) for p in parts) - min(float(p[1]) for p in parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=4000)
    args = parser.parse_args()
    admin = create_engine(ADMIN, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        print(f"PostgreSQL is not answering at 127.0.0.1:5432 ({exc.__class__.__name__}): nothing measured")
        sys.exit(1)
    name = f"rxws_bench_claims_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(ADMIN).set(database=name).render_as_string(hide_password=False)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            os.environ.setdefault("RXWS_CONFIG_DIR", tmp)
            engine = make_engine(url)
            migrate.upgrade(engine)
            factory = session_factory(engine)
            uow = lambda: UnitOfWork(factory)  # noqa: E731
            accounts = AccountService(uow)
            people = [accounts.add(Principal.system("bench"), name=f"药师{n}", licence=f"BENCH{n:02d}",
                                   roles=frozenset({Role.PHARMACIST}), password=secrets.token_urlsafe(16))
                      for n in range(WORKSTATIONS)]
            for report in IntakeService(uow).ingest_many((raw, f"bench:{i}") for i, raw in
                                                         enumerate(generate(args.count, seed=5))):
                assert report.outcome == "stored"
            ours, t_ours = run("claim_timed", [(url, p.id, p.licence) for p in people], Path(tmp))
            with engine.begin() as conn:
                conn.execute(delete(orm.Claim))
            dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
            bare, t_bare = run("bare_claims_timed", [(dsn, p.id) for p in people], Path(tmp))
            engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    assert ours == bare == args.count, (ours, bare)
    rate, bare_rate = ours / t_ours, bare / t_bare
    print(f"{args.count} prescriptions claimed by {WORKSTATIONS} workstation processes on PostgreSQL, each exactly once")
    print(f"claim service (queue order, lease, audit hash chain): {t_ours:.2f} s")
    print(f"bare SELECT … FOR UPDATE SKIP LOCKED + INSERT: {t_bare:.2f} s")
    print(f"claims {rate:,.0f}/s with {WORKSTATIONS} workstations | bare SKIP LOCKED loop {bare_rate:,.0f}/s | "
          f"ratio {t_ours / t_bare:.1f}x")


if __name__ == "__main__":
    main()
