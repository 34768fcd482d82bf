"""Queue changes reach every open workstation within 2 seconds on PostgreSQL (LISTEN/NOTIFY)."""

from __future__ import annotations

import threading
import time

import pytest

from tests.conftest import Pharmacy
from workstation.adapters.db.listen import QueueListener


def test_intake_claims_and_decisions_notify_listeners_at_commit(pharmacy: Pharmacy) -> None:
    ws = pharmacy.ws
    if ws.engine.dialect.name != "postgresql":
        with pytest.raises(ValueError, match="SQLite workstations poll"):
            QueueListener(ws.engine, lambda: None)
        return
    heard: list[float] = []
    changed = threading.Event()

    def on_change() -> None:
        heard.append(time.monotonic())
        changed.set()

    listener = QueueListener(ws.engine, on_change).start()
    try:
        assert listener.wait_ready()
        for step in (lambda: pharmacy.receive("RXNOTE1"),
                     lambda: ws.claims.claim(pharmacy.pharmacist, "RXNOTE1"),
                     lambda: ws.decisions.reject(pharmacy.pharmacist, "RXNOTE1", code="other", comment="notify test")):
            changed.clear()
            began = time.monotonic()
            step()
            assert changed.wait(2.0), "no notification within 2 s"
            assert heard[-1] - began < 2.0
        changed.clear()
        with ws.uow() as uow:  # a change that is rolled back tells nobody
            uow.queue_changed()
        assert not changed.wait(1.0)
    finally:
        listener.stop()
