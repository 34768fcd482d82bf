"""Opening a prescription whose patient has 500 diagnoses and 200 earlier prescriptions, claimed (full view).

Used by ``tests.perf.bench_ui``. Times the detail service plus the prescription view's ``show_detail``
(what the pharmacist waits for), beside the bare SQL reads of the same rows in the same run.
"""

from __future__ import annotations

import os
import statistics
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import insert, select, text

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

DIAGNOSES, EARLIER = 500, 200
BARE_SQL = (
    "SELECT * FROM prescription WHERE id = :pid",
    "SELECT * FROM claim WHERE prescription_id = :pid",
    "SELECT * FROM prescriber WHERE id = (SELECT prescriber_id FROM prescription WHERE id = :pid)",
    "SELECT * FROM diagnosis WHERE patient_id = :patient",
    "SELECT p.id, p.number, p.version, p.status, p.received_at, p.authored_on, d.kind, ph.name, d.decided_at, "
    "d.reason_code FROM prescription p LEFT JOIN decision d ON d.prescription_id = p.id "
    "LEFT JOIN pharmacist ph ON ph.id = d.pharmacist_id WHERE p.patient_id = :patient AND p.id != :pid "
    "ORDER BY p.received_at DESC, p.id DESC LIMIT 200",
    "SELECT prescription_id, drug_name FROM prescription_item WHERE prescription_id IN "
    "(SELECT id FROM prescription WHERE patient_id = :patient AND id != :pid) ORDER BY prescription_id, position",
)


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def measure_open(root: Path, *, runs: int = 50) -> dict[str, float]:
    from PySide6.QtCore import QSettings

    from workstation.adapters.db import orm
    from workstation.adapters.db.types import utcnow
    from workstation.bootstrap import open_workstation
    from workstation.services import demo
    from workstation.settings import load_settings

    from ui.app import prepare_application
    from ui.prescription_view import PrescriptionView

    root.mkdir(parents=True, exist_ok=True)
    QSettings.setPath(QSettings.Format.NativeFormat, QSettings.Scope.UserScope, str(root / "qsettings"))
    env = {"RXWS_CONFIG_DIR": str(root / "config"), "RXWS_DATA_DIR": str(root / "data"),
           "RXWS_DATABASE_URL": f"sqlite:///{root / 'open.sqlite3'}"}
    for leftover in root.glob("open.sqlite3*"):
        leftover.unlink()  # the demo is made for now: a kept database would hold expired prescriptions
    ws = open_workstation(load_settings(env))
    try:
        loaded = demo.load_demo(ws.uow, ws.intake, ws.accounts, ws.signing, demo_mode=True)
        assert loaded is not None
        number = f"RXDEMO{loaded.series}001"
        who = ws.accounts.authenticate("YS-DEMO-0001", demo.DEMO_PASSWORD, where="bench")
        with ws.uow() as uow:
            row = uow.session.scalar(select(orm.Prescription).where(orm.Prescription.number == number))
            assert row is not None
            pid, patient, prescriber, payload, snapshot = (row.id, row.patient_id, row.prescriber_id, row.payload_id,
                                                           row.snapshot)
            item = row.items[0]
            item_row = {c: getattr(item, c) for c in ("fhir_id", "drug_name", "drug_codings", "ingredients",
                                                       "route", "quantity_value", "quantity_unit", "supply_days")}
        now = utcnow()
        with ws.engine.begin() as conn:
            conn.execute(insert(orm.Diagnosis), [
                {"patient_id": patient, "content_key": f"bench-{i}", "fhir_id": f"bench-cond-{i}",
                 "code_system": "http://hl7.org/fhir/sid/icd-10", "code": f"I{10 + i % 80}", "display": f"诊断 {i}",
                 "verification_status": "confirmed" if i % 3 else "provisional", "clinical_status": "active",
                 "recorded_date": (now - timedelta(days=i)).date().isoformat(), "source_document_type": "outpatient-record",
                 "institution": f"上海市第{i % 10 + 1}人民医院", "confirmed": bool(i % 3), "first_seen_at": now}
                for i in range(DIAGNOSES)])
            earlier_ids = list(range(900_000, 900_000 + EARLIER))
            conn.execute(insert(orm.Prescription), [
                {"id": e, "number": f"RXOLD{e}", "version": 1, "status": "rejected",
                 "received_at": now - timedelta(days=2 + k), "content_sha256": "0" * 64,
                 "authored_on": now - timedelta(days=2 + k), "patient_id": patient, "prescriber_id": prescriber,
                 "payload_id": payload, "source": "bench", "is_follow_up": True, "snapshot": snapshot,
                 "intake_notes": "[]"} for k, e in enumerate(earlier_ids)])
            conn.execute(insert(orm.PrescriptionItem), [
                {**item_row, "prescription_id": e, "position": 0, "resource_json": "{}"} for e in earlier_ids])
            conn.execute(insert(orm.Decision), [
                {"id": f"00000000-0000-4000-8000-{e:012d}", "prescription_id": e, "prescription_number": f"RXOLD{e}",
                 "version": 1, "content_sha256": "0" * 64, "pharmacist_id": who.pharmacist_id, "kind": "reject",
                 "reason_code": "other", "comment": "bench", "acknowledged": "{}", "findings": "[]",
                 "rule_set_version": "bench", "decided_at": now - timedelta(days=2 + k),
                 "release_status": "not_released"} for k, e in enumerate(earlier_ids)])
        ws.claims.claim(who, number)

        app = prepare_application()
        view = PrescriptionView()
        view.resize(960, 1400)
        view.show()
        detail = ws.detail.open(who, pid)  # warm: the reviewer is built once per formulary version
        assert len(detail.diagnoses) >= DIAGNOSES and len(detail.earlier) == EARLIER and detail.holds_claim
        opened: list[float] = []
        for _ in range(runs):
            t0 = time.perf_counter()
            detail = ws.detail.open(who, pid)
            view.show_detail(detail)
            app.processEvents()
            opened.append(time.perf_counter() - t0)
        view.close()

        bare: list[float] = []
        with ws.engine.connect() as conn:
            for _ in range(runs):
                t0 = time.perf_counter()
                for sql in BARE_SQL:
                    conn.execute(text(sql), {"pid": pid, "patient": patient}).all()
                bare.append(time.perf_counter() - t0)
        return {"open_median_ms": statistics.median(opened) * 1000, "open_p99_ms": _p(opened, 0.99) * 1000,
                "baseline_median_ms": statistics.median(bare) * 1000}
    finally:
        ws.close()
