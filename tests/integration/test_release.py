"""Release: only signed, intact approvals go out, each accepted exactly once, whatever the network does."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from tests.conftest import PASSWORD, PIN, Pharmacy
from workstation.adapters import approval
from workstation.adapters.db import orm
from workstation.adapters.receiver import Receiver, serve
from workstation.services import audit, release
from workstation.services.release import ReleaseSender, SenderSettings


@pytest.fixture
def receiver(pharmacy: Pharmacy, tmp_path: Path) -> Iterator[Receiver]:
    ca = pharmacy.ws.signing.ca_certificate()
    assert ca is not None
    with serve(0, [ca], tmp_path / "received") as r:
        yield r


def _sender(ph: Pharmacy, url: str, **settings: float) -> ReleaseSender:
    values: dict[str, float] = {"read_timeout": 2.0, "backoff_seconds": 0.0, **settings}
    return ReleaseSender(ph.ws.uow, ph.admin, SenderSettings(
        {"dispensing": f"{url}/dispensing", "delivery": f"{url}/delivery"}, **values),  # type: ignore[arg-type]
        ph.ws.release_anchors)


def _approve_many(ph: Pharmacy, count: int, prefix: str) -> list[str]:
    session = ph.ws.signing.begin(ph.pharmacist)
    ids = []
    for n in range(count):
        number = f"{prefix}{n:05d}"
        ph.receive(number)
        ph.ws.claims.claim(ph.pharmacist, number)
        ids.append(ph.ws.decisions.approve(ph.pharmacist, session, number, pin=PIN,
                                           password=PASSWORD if n == 0 else None).id)
    return ids


def _states(ph: Pharmacy) -> dict[str, int]:
    with ph.ws.uow() as uow:
        return {s: n for s, n in uow.session.execute(select(orm.Outbox.status, func.count()).group_by(orm.Outbox.status))}


def test_an_approval_is_released_to_both_targets_and_verifies(pharmacy: Pharmacy, receiver: Receiver) -> None:
    (decision_id,) = _approve_many(pharmacy, 1, "RXREL")
    results = _sender(pharmacy, receiver.url).run_once()
    assert sorted((r.target, r.outcome) for r in results) == [("delivery", "sent"), ("dispensing", "sent")]
    bundle = json.loads(receiver.message_path("dispensing", decision_id).read_text("utf-8"))
    checked = approval.verify_dispensing_bundle(bundle, pharmacy.ws.release_anchors())
    assert bundle["type"] == "transaction" and "审核" in checked.describe()
    delivery = json.loads(receiver.message_path("delivery", decision_id).read_text("utf-8"))
    message = approval.verify_delivery_message(delivery, pharmacy.ws.release_anchors()).message
    text = json.dumps(delivery, ensure_ascii=False)
    assert "氨氯地平" not in text and "I10" not in text and "高血压" not in text  # no drug, no diagnosis
    assert message["recipient_phone_masked"] is None or "****" in message["recipient_phone_masked"]
    with pharmacy.ws.uow() as uow:
        decision = uow.session.get(orm.Decision, decision_id)
        assert decision is not None and decision.release_status == "released"
    assert _sender(pharmacy, receiver.url).run_once() == []  # nothing twice
    assert audit.verify(pharmacy.ws.uow()).broken is None


def test_rejected_and_returned_decisions_are_never_sent(pharmacy: Pharmacy, receiver: Receiver) -> None:
    pharmacy.receive("RXNO1")
    pharmacy.ws.claims.claim(pharmacy.pharmacist, "RXNO1")
    pharmacy.ws.decisions.reject(pharmacy.pharmacist, "RXNO1", code="incomplete", comment="缺少过敏史")
    assert _sender(pharmacy, receiver.url).run_once() == []
    assert not any(receiver.store_dir.rglob("*.json"))


@pytest.mark.parametrize("tamper", ["item", "statement", "content_hash", "prescription_hash"])
def test_content_or_decision_altered_after_signing_is_refused(pharmacy: Pharmacy, receiver: Receiver, tamper: str) -> None:
    (decision_id,) = _approve_many(pharmacy, 1, f"RXT{tamper[:4].upper()}")
    with pharmacy.ws.uow() as uow:
        d = uow.session.get(orm.Decision, decision_id)
        assert d is not None
        if tamper == "item":
            item = uow.session.scalars(select(orm.PrescriptionItem).where(
                orm.PrescriptionItem.prescription_id == d.prescription_id)).first()
            assert item is not None
            mr = json.loads(item.resource_json)
            mr["dispenseRequest"]["quantity"]["value"] = 90
            item.resource_json = json.dumps(mr, ensure_ascii=False)
        elif tamper == "statement":
            statement = json.loads(d.statement or "")
            statement["version"] = 2
            d.statement = json.dumps(statement)
        elif tamper == "content_hash":
            d.content_sha256 = "0" * 64
        else:
            uow.session.execute(update(orm.Prescription).where(orm.Prescription.id == d.prescription_id)
                                .values(content_sha256="f" * 64))
        uow.commit()
    results = _sender(pharmacy, receiver.url).run_once()
    assert {r.outcome for r in results} == {"refused"}, results
    assert "refused" in results[0].detail or "拒绝" in results[0].detail
    assert not any(receiver.store_dir.rglob("*.json"))
    with pharmacy.ws.uow() as uow:
        d = uow.session.get(orm.Decision, decision_id)
        assert d is not None and d.release_status == "refused" and d.release_note
        refused = uow.session.scalar(select(func.count()).select_from(orm.AuditEvent)
                                     .where(orm.AuditEvent.action == "release.refused"))
    assert refused == 2
    assert _sender(pharmacy, receiver.url).run_once() == []  # refused stays refused


def test_a_target_that_stays_down_ends_in_release_failed_and_can_be_retried(pharmacy: Pharmacy, receiver: Receiver) -> None:
    (decision_id,) = _approve_many(pharmacy, 1, "RXDOWN")
    down = _sender(pharmacy, "http://127.0.0.1:9", max_attempts=3, connect_timeout=0.5)
    outcomes = [r.outcome for _ in range(3) for r in down.run_once()]
    assert outcomes == ["retry", "retry", "retry", "retry", "release_failed", "release_failed"]
    assert _states(pharmacy) == {"release_failed": 2}
    assert release.retry(pharmacy.ws.uow, pharmacy.lead, decision_id) == 2
    assert {r.outcome for r in _sender(pharmacy, receiver.url).run_once()} == {"sent"}
    assert receiver.message_path("dispensing", decision_id).is_file()


def test_a_flaky_receiver_gets_1000_approvals_each_accepted_exactly_once(pharmacy: Pharmacy, tmp_path: Path) -> None:
    """500s, dropped connections after storing, and answers later than the sender waits, on 30% of requests."""
    ids = _approve_many(pharmacy, 1000, "RXFLAKY")
    ca = pharmacy.ws.signing.ca_certificate()
    assert ca is not None
    lines: list[str] = []
    with serve(0, [ca], tmp_path / "flaky", fault_rate=0.3, fault_seed=7, fault_delay=0.3, log=lines.append) as r:
        def drain() -> None:
            sender = _sender(pharmacy, r.url, read_timeout=0.1, max_attempts=60)
            while sender.run_once(limit=50):
                pass

        for _ in range(10):  # until every row is sent; four senders at once, as on a busy pharmacy's machines
            workers = [threading.Thread(target=drain) for _ in range(4)]
            for w in workers:
                w.start()
            for w in workers:
                w.join()
            if _states(pharmacy) == {"sent": 2000}:
                break
        assert _states(pharmacy) == {"sent": 2000}
    assert sum("injected" in line for line in lines) > 300  # the faults really happened
    for kind in ("dispensing", "delivery"):
        stored = sorted(p.stem for p in (tmp_path / "flaky" / kind).glob("*.json") if not p.name.endswith(".answer.json"))
        assert [s for s in stored if s in set(ids)] == sorted(ids)
    accepted = [line for line in lines if " 201" in line and "injected" not in line or "dropped" in line]
    assert accepted  # first acceptances and repeats alike answer 201; the store holds one message per key
    assert audit.verify(pharmacy.ws.uow()).broken is None


def test_a_sender_killed_at_random_points_200_times_loses_nothing_and_sends_nothing_twice(
        pharmacy: Pharmacy, tmp_path: Path) -> None:
    import multiprocessing
    import random
    import time

    from tests.workers import run_receiver, send_until_killed
    from workstation.adapters import pki

    ids = _approve_many(pharmacy, 40, "RXKILL")
    ca = pharmacy.ws.signing.ca_certificate()
    assert ca is not None
    ca_pem = tmp_path / "ca.pem"
    ca_pem.write_bytes(pki.certificate_pem([ca]))
    spawn = multiprocessing.get_context("spawn")
    port_q, stop = spawn.Queue(), spawn.Event()
    server = spawn.Process(target=run_receiver, args=(str(ca_pem), str(tmp_path / "got"), port_q, stop))
    server.start()
    url = f"http://127.0.0.1:{port_q.get(timeout=60)}"
    db_url = pharmacy.ws.engine.url.render_as_string(hide_password=False)
    forks = multiprocessing.get_context("forkserver")
    forks.set_forkserver_preload(["tests.workers", "workstation.services.release", "workstation.adapters.approval"])
    rng = random.Random(11)
    lease = 0.05
    try:
        for _ in range(200):
            p = forks.Process(target=send_until_killed, args=(db_url, url, str(ca_pem), lease))
            p.start()
            time.sleep(rng.uniform(0.0, 0.25))
            p.kill()  # SIGKILL: no cleanup, wherever it was
            p.join(timeout=30)
            assert p.exitcode == -9 or p.exitcode == 0
        time.sleep(lease * 2)
        sender = _sender(pharmacy, url, lease_seconds=lease)
        while sender.run_once():
            pass
        assert _states(pharmacy) == {"sent": 80}  # after restart: nothing lost
    finally:
        stop.set()
        server.join(timeout=30)
    for kind in ("dispensing", "delivery"):
        stored = sorted(p.name.removesuffix(".json") for p in (tmp_path / "got" / kind).glob("*.json")
                        if not p.name.endswith(".answer.json"))
        assert stored == sorted(ids)  # each accepted once: one stored message per key, no other
    for decision_id in ids:
        approval.verify_dispensing_bundle(
            json.loads((tmp_path / "got" / "dispensing" / f"{decision_id}.json").read_text("utf-8")), [ca])
    assert audit.verify(pharmacy.ws.uow()).broken is None
