"""Claims: a lease only its holder decides under; eight processes claiming 2,000 prescriptions never collide."""

from __future__ import annotations

import multiprocessing
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.conftest import Pharmacy
from tests.perf.bench_intake import generate
from tests.workers import claim_until_empty
from workstation.adapters.db import orm
from workstation.domain.accounts import Principal, Role
from workstation.services.claims import ClaimError, ClaimService, QueueEmpty


def test_eight_processes_claim_2000_prescriptions_each_exactly_once(pharmacy: Pharmacy, tmp_path: Path) -> None:
    ws = pharmacy.ws
    for report in ws.intake.ingest_many((raw, f"gen:{i}") for i, raw in enumerate(generate(2000, seed=3))):
        assert report.outcome == "stored"
    ids = []
    for n in range(8):
        info = ws.accounts.add(pharmacy.admin, name=f"药师{n}", licence=f"PHC{n:03d}",
                               roles=frozenset({Role.PHARMACIST}), password="Claims-Test-2026")
        ids.append((info.id, info.licence))
    url = ws.engine.url.render_as_string(hide_password=False)
    ctx = multiprocessing.get_context("spawn")
    outs = [tmp_path / f"claims-{n}.txt" for n in range(8)]
    procs = [ctx.Process(target=claim_until_empty, args=(url, pid, lic, str(out))) for (pid, lic), out in zip(ids, outs)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
        assert p.exitcode == 0
    claimed = [(int(line), n) for n, out in enumerate(outs) for line in out.read_text("ascii").split() if line]
    prescription_ids = [pid for pid, _ in claimed]
    assert len(prescription_ids) == 2000 and len(set(prescription_ids)) == 2000  # none twice, none lost
    assert sum(1 for n in range(8) if any(who == n for _, who in claimed)) >= 2  # they really competed
    with ws.uow() as uow:
        rows = {pid: who for pid, who in uow.session.execute(select(orm.Claim.prescription_id, orm.Claim.pharmacist_id))}
        assert uow.session.scalar(select(func.count()).select_from(orm.Prescription)) == 2000
    assert {pid: ids[who][0] for pid, who in claimed} == rows


def test_a_claim_is_exclusive_until_it_expires(pharmacy: Pharmacy) -> None:
    now = [pharmacy.ws.claims._clock()]
    claims = ClaimService(pharmacy.ws.uow, clock=lambda: now[0])
    pharmacy.receive("RXCLAIM1")
    info = claims.claim(pharmacy.pharmacist, "RXCLAIM1")
    assert info.expires_at - info.claimed_at == timedelta(minutes=10)
    with pytest.raises(ClaimError, match="claimed by PH0001"):
        claims.claim(pharmacy.lead, "RXCLAIM1")
    with pytest.raises(QueueEmpty):
        claims.claim(pharmacy.lead)
    now[0] += timedelta(minutes=9)
    claims.renew(pharmacy.pharmacist, info.prescription_id)  # still open on the screen: renewed
    now[0] += timedelta(minutes=9)
    with pytest.raises(ClaimError):
        claims.claim(pharmacy.lead, "RXCLAIM1")
    now[0] += timedelta(minutes=2)  # the lease ran out: back in the queue
    taken = claims.claim(pharmacy.lead)
    assert taken.number == "RXCLAIM1" and taken.pharmacist_id == pharmacy.lead.pharmacist_id
    with pytest.raises(ClaimError, match="expired or is not yours"):
        claims.renew(pharmacy.pharmacist, info.prescription_id)


def test_only_the_holder_decides_and_a_lead_may_take_a_claim_back(pharmacy: Pharmacy) -> None:
    pharmacy.receive("RXCLAIM2")
    info = pharmacy.ws.claims.claim(pharmacy.pharmacist, "RXCLAIM2")
    with pytest.raises(ClaimError, match="claim prescription RXCLAIM2 first"):
        pharmacy.ws.decisions.reject(pharmacy.lead, "RXCLAIM2", code="incomplete", comment="x")
    other = Principal(name="王药师", roles=frozenset({Role.PHARMACIST}), pharmacist_id=pharmacy.lead.pharmacist_id,
                      licence="PH0002")
    from workstation.domain.accounts import PermissionDenied

    with pytest.raises(PermissionDenied):
        pharmacy.ws.claims.release(other, info.prescription_id)
    pharmacy.ws.claims.release(pharmacy.lead, info.prescription_id, reason="pharmacist left the desk")
    assert pharmacy.ws.claims.claim(pharmacy.lead, "RXCLAIM2").pharmacist_id == pharmacy.lead.pharmacist_id
