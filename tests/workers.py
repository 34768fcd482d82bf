"""Functions that tests run in separate processes (spawned, so they must live in an importable module)."""

from __future__ import annotations

import os


def claim_until_empty(url: str, pharmacist_id: int, licence: str, out: str) -> None:
    """Claim the next prescription again and again until the queue is empty; write what was claimed."""
    os.environ.setdefault("RXWS_CONFIG_DIR", os.path.dirname(out))
    from workstation.adapters.db.engine import make_engine
    from workstation.adapters.db.uow import UnitOfWork, session_factory
    from workstation.domain.accounts import Principal, Role
    from workstation.services.claims import ClaimService, QueueEmpty

    engine = make_engine(url)
    factory = session_factory(engine)
    claims = ClaimService(lambda: UnitOfWork(factory))
    me = Principal(name=licence, roles=frozenset({Role.PHARMACIST}), pharmacist_id=pharmacist_id, licence=licence)
    taken = []
    while True:
        try:
            taken.append(claims.claim(me).prescription_id)
        except QueueEmpty:
            break
    engine.dispose()
    with open(out, "w", encoding="ascii") as f:
        f.write("\n".join(map(str, taken)))


def run_receiver(ca_pem: str, store: str, port_out: object, stop: object) -> None:
    """A reference receiver in its own process (so the test process stays single-threaded for forking)."""
    from pathlib import Path

    from workstation.adapters.pki import certificates_from_pem
    from workstation.adapters.receiver import serve

    receiver = serve(0, certificates_from_pem(Path(ca_pem).read_bytes()), Path(store))
    port_out.put(receiver.port)  # type: ignore[attr-defined]
    stop.wait()  # type: ignore[attr-defined]
    receiver.shutdown()


def send_until_killed(db_url: str, receiver_url: str, ca_pem: str, lease_seconds: float) -> None:
    """The release sender as `rxws release watch` runs it, until the test kills this process."""
    from pathlib import Path

    from workstation.adapters.db.engine import make_engine
    from workstation.adapters.db.uow import UnitOfWork, session_factory
    from workstation.adapters.pki import certificates_from_pem
    from workstation.domain.accounts import Principal
    from workstation.services.release import ReleaseSender, SenderSettings

    anchors = tuple(certificates_from_pem(Path(ca_pem).read_bytes()))
    factory = session_factory(make_engine(db_url))
    sender = ReleaseSender(lambda: UnitOfWork(factory), Principal.system("ci"), SenderSettings(
        {"dispensing": f"{receiver_url}/dispensing", "delivery": f"{receiver_url}/delivery"},
        backoff_seconds=0.0, max_attempts=1000, lease_seconds=lease_seconds), lambda: anchors)
    while True:
        sender.run_once(limit=5)


def claim_timed(url: str, pharmacist_id: int, licence: str, out: str, go: object) -> None:
    """``claim_until_empty`` started together with the others on ``go``; writes count, start and end."""
    import time

    os.environ.setdefault("RXWS_CONFIG_DIR", os.path.dirname(out))
    from workstation.adapters.db.engine import make_engine
    from workstation.adapters.db.uow import UnitOfWork, session_factory
    from workstation.domain.accounts import Principal, Role
    from workstation.services.claims import ClaimService, QueueEmpty

    engine = make_engine(url)
    factory = session_factory(engine)
    claims = ClaimService(lambda: UnitOfWork(factory))
    me = Principal(name=licence, roles=frozenset({Role.PHARMACIST}), pharmacist_id=pharmacist_id, licence=licence)
    with engine.connect():
        pass  # connected before the start
    go.wait()  # type: ignore[attr-defined]
    start, count = time.perf_counter(), 0
    while True:
        try:
            claims.claim(me)
            count += 1
        except QueueEmpty:
            break
    end = time.perf_counter()
    engine.dispose()
    with open(out, "w", encoding="ascii") as f:
        f.write(f"{count} {start} {end}")


def bare_claims_timed(dsn: str, pharmacist_id: int, out: str, go: object) -> None:
    """The floor: SELECT … FOR UPDATE SKIP LOCKED and an INSERT, one transaction per claim, nothing else."""
    import time
    from datetime import UTC, datetime, timedelta

    import psycopg

    with psycopg.connect(dsn) as conn:
        go.wait()  # type: ignore[attr-defined]
        start, count = time.perf_counter(), 0
        while True:
            with conn.transaction():
                row = conn.execute(
                    "SELECT p.id FROM prescription p WHERE p.status = 'received' AND NOT EXISTS "
                    "(SELECT 1 FROM claim c WHERE c.prescription_id = p.id) ORDER BY p.received_at, p.id "
                    "LIMIT 1 FOR UPDATE OF p SKIP LOCKED").fetchone()
                if row is None:
                    break
                now = datetime.now(UTC)
                # A claim committed after this statement's snapshot looks free: the conflict says so; go on.
                taken = conn.execute(
                    "INSERT INTO claim (prescription_id, pharmacist_id, claimed_at, expires_at) VALUES (%s, %s, %s, %s) "
                    "ON CONFLICT (prescription_id) DO NOTHING RETURNING prescription_id",
                    (row[0], pharmacist_id, now, now + timedelta(minutes=10))).fetchone()
                count += taken is not None
        end = time.perf_counter()
    with open(out, "w", encoding="ascii") as f:
        f.write(f"{count} {start} {end}")


def shift_worker(env: dict[str, str], licence: str, password: str, out: str, stop_path: str) -> None:
    """A workstation through a shift: present by heartbeat, woken by queue notifications only (no polling),
    claims and decides until the queue is empty, then waits for the next notification."""
    import threading
    import time
    from pathlib import Path

    os.environ.update(env)
    from workstation.adapters.db.listen import QueueListener
    from workstation.bootstrap import open_workstation
    from workstation.services.claims import ClaimError, QueueEmpty
    from workstation.settings import load_settings

    ws = open_workstation(load_settings())
    me = ws.accounts.authenticate(licence, password, where="shift test")
    here = f"shift-{licence}"
    woken = threading.Event()
    listener = QueueListener(ws.engine, woken.set).start()
    listener.wait_ready()
    ws.coverage.beat(me, here, "reviewing")
    Path(out + ".ready").touch()  # listening, and present
    decided, missed, last_beat = [], 0, time.monotonic()
    stop = Path(stop_path)
    try:
        by_timeout = False
        while not stop.exists():
            if time.monotonic() - last_beat > 2:
                ws.coverage.beat(me, here, "reviewing")
                last_beat = time.monotonic()
            try:
                claim = ws.claims.claim(me)
            except QueueEmpty:
                by_timeout = not woken.wait(timeout=20)  # a long wait: waking by time, not by news, would be a loss
                woken.clear()
                continue
            except ClaimError:
                continue
            if by_timeout:
                missed += 1  # there was work, and no notification told us
            by_timeout = False
            code = "other" if claim.prescription_id % 2 else "incomplete"
            ws.decisions.reject(me, claim.number, code=code, comment="shift test")
            decided.append(claim.number)
    finally:
        ws.coverage.leave(here)
        listener.stop()
        ws.close()
    with open(out, "w", encoding="utf-8") as f:
        f.write(f"{missed}\n" + "\n".join(decided))
