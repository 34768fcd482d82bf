"""The window's queue: summaries that fail closed, the default order, filters, search, masked rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from tests.conftest import Pharmacy
from tests.support import SHARED, earlier_today
from workstation.adapters.db import orm
from workstation.domain.prescription import PrescriptionSnapshot
from workstation.services import queue
from workstation.services.queue import QueueFilter, mask_name
from workstation.services.review import Reviewer


def _ingest_example(pharmacy: Pharmacy, name: str) -> str:
    report = pharmacy.ws.intake.ingest((SHARED / "examples" / name).read_bytes(), f"test:{name}")
    assert report.outcome == "stored", report
    return report.prescriptions[0].number


def _ids_to_numbers(pharmacy: Pharmacy, ids: list[int]) -> list[str]:
    with pharmacy.ws.uow() as uow:
        by_id: dict[int, str] = dict(uow.session.execute(select(orm.Prescription.id, orm.Prescription.number)
                                         .where(orm.Prescription.id.in_(ids))).all())
    return [by_id[i] for i in ids]


@pytest.mark.parametrize(("name", "masked"), [("张三明", "张*明"), ("李四", "李*"), ("王", "王"), ("欧阳小明", "欧**明"),
                                              ("John Smith", "J*** S****"), ("", ""), (None, None)])
def test_names_are_masked(name: str | None, masked: str | None) -> None:
    assert mask_name(name) == masked


def test_blocked_first_then_longest_waiting_and_unchecked_never_clean(pharmacy: Pharmacy) -> None:
    now = datetime.now(UTC)
    for i in range(3):
        pharmacy.receive(f"RXQ{i}", authored=earlier_today(timedelta(minutes=10 - i), now))
    narcotic = _ingest_example(pharmacy, "ex-narcotic.json")
    ws = pharmacy.ws
    # Before any rules run, nothing is summarised: all rows count as not checked, in arrival order.
    ids = queue.queue_ids(ws.uow(), QueueFilter(), now)
    rows = queue.queue_rows(ws.uow(), ids, now)
    assert {r.risk for r in rows.values()} == {"unchecked"}
    high = queue.refresh_summaries(ws.uow, ws.reviewer(), now)
    assert high == [narcotic]
    assert queue.refresh_summaries(ws.uow, ws.reviewer(), now) == [], "each prescription is summarised once"
    ids = queue.queue_ids(ws.uow(), QueueFilter(), now)
    assert _ids_to_numbers(pharmacy, ids) == [narcotic, "RXQ0", "RXQ1", "RXQ2"]
    rows = queue.queue_rows(ws.uow(), ids, now)
    first = rows[ids[0]]
    assert first.risk == "block" and "narcotic" in first.special_marks
    assert "special_drug.narcotic" in first.finding_ids
    assert {rows[i].risk for i in ids[1:]} == {"clean"}
    assert all("*" in (r.patient_masked or "*") for r in rows.values())
    assert rows[ids[1]].age_years is not None and rows[ids[1]].drugs


def test_a_failing_rules_run_is_not_checked_and_sorted_first(pharmacy: Pharmacy,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    now = datetime.now(UTC)
    pharmacy.receive("RXOK", authored=earlier_today(timedelta(minutes=5), now))
    pharmacy.receive("RXBROKEN", authored=earlier_today(timedelta(minutes=1), now))
    ws = pharmacy.ws
    reviewer = ws.reviewer()
    real = Reviewer.snapshot

    def snapshot(self: Reviewer, p: PrescriptionSnapshot, at: datetime) -> Any:
        if p.number == "RXBROKEN":
            raise RuntimeError("formulary unavailable")
        return real(self, p, at)

    monkeypatch.setattr(Reviewer, "snapshot", snapshot)
    assert queue.refresh_summaries(ws.uow, reviewer, now) == ["RXBROKEN"]
    ids = queue.queue_ids(ws.uow(), QueueFilter(), now)
    assert _ids_to_numbers(pharmacy, ids) == ["RXBROKEN", "RXOK"]
    assert queue.queue_rows(ws.uow(), ids[:1], now)[ids[0]].risk == "unchecked"
    assert queue.queue_ids(ws.uow(), QueueFilter(risks=("clean",)), now) == ids[1:]


def test_filters_and_search(pharmacy: Pharmacy) -> None:
    now = datetime.now(UTC)
    pharmacy.receive("RXF1", authored=earlier_today(timedelta(minutes=3), now))
    pharmacy.receive("RXF2", authored=earlier_today(timedelta(minutes=2), now))
    child = _ingest_example(pharmacy, "ex-child-no-guardian.json")
    narcotic = _ingest_example(pharmacy, "ex-narcotic.json")
    ws = pharmacy.ws
    queue.refresh_summaries(ws.uow, ws.reviewer(), now)

    def numbers(f: QueueFilter) -> set[str]:
        return set(_ids_to_numbers(pharmacy, queue.queue_ids(ws.uow(), f, now)))

    assert numbers(QueueFilter(under_six_only=True)) == {child}
    assert numbers(QueueFilter(special_only=True)) == {narcotic}
    assert numbers(QueueFilter(risks=("block",))) >= {child, narcotic}
    assert numbers(QueueFilter(search="rxf")) == {"RXF1", "RXF2"}
    assert numbers(QueueFilter(search="RXF2")) == {"RXF2"}
    assert numbers(QueueFilter(search="%")) == set(), "LIKE wildcards are searched for literally"
    with ws.uow() as uow:
        patient = uow.session.scalar(select(orm.Patient.name).join(
            orm.Prescription, orm.Prescription.patient_id == orm.Patient.id).where(orm.Prescription.number == child))
    assert patient and child in numbers(QueueFilter(search=patient[1:]))
    # Mine: what the pharmacist holds now; an expired claim is nobody's.
    ws.claims.claim(pharmacy.pharmacist, "RXF1")
    mine = QueueFilter(claimed_by=pharmacy.pharmacist.pharmacist_id)
    assert numbers(mine) == {"RXF1"}
    (row,) = queue.queue_rows(ws.uow(), queue.queue_ids(ws.uow(), mine, now), now).values()
    assert row.claimed_by == pharmacy.pharmacist.name
    with ws.uow() as uow:
        uow.session.execute(update(orm.Claim).values(expires_at=now - timedelta(seconds=1)))
        uow.commit()
    assert numbers(mine) == set()
    # Decided prescriptions leave the default (waiting) filter and stay findable under every status.
    pharmacy.approve("RXF2")
    assert "RXF2" not in numbers(QueueFilter())
    assert "RXF2" in numbers(QueueFilter(statuses=()))
    assert numbers(QueueFilter(statuses=("approved",))) == {"RXF2"}
