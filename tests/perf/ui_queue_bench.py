"""The queue's first paint over a million stored prescriptions, beside the bare SQL for the same page.

Used by ``tests.perf.bench_ui``. The database is built once with bulk inserts (one real prescription
taken in through intake serves as the template for its rows) and reused when the directory is kept.
"""

from __future__ import annotations

import os
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.perf.qt_wait import wait_for

from sqlalchemy import insert, select, text

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

CHUNK = 20_000
PAGE_SQL = """
SELECT p.id, p.number, p.version, p.status, p.received_at, p.authored_on, r.risk, r.findings, pa.name, pa.gender,
       r.age_years, r.under_six, r.department, pr.name, r.special_marks
FROM prescription p
LEFT JOIN review_summary r ON r.prescription_id = p.id
JOIN patient pa ON pa.id = p.patient_id
JOIN prescriber pr ON pr.id = p.prescriber_id
WHERE p.status = 'received'
ORDER BY coalesce(r.risk_rank, 0), p.received_at, p.id
LIMIT :n
"""


def _wait(app: Any, condition: Any, timeout: float = 120.0) -> None:
    wait_for(app, condition, timeout, "the queue")


def build(ws: Any, *, stored: int, waiting: int) -> None:
    """Fill an empty workstation: ``stored`` prescriptions, the last ``waiting`` of them still waiting."""
    from tests.support import earlier_today, signed_prescription
    from workstation.adapters.db import orm

    now = datetime.now(UTC)
    report = ws.intake.ingest(signed_prescription("RXTEMPLATE", earlier_today(timedelta(minutes=5), now)), "bench:template")
    assert report.outcome == "stored", report
    with ws.uow() as uow:
        template = uow.session.scalar(select(orm.Prescription).where(orm.Prescription.number == "RXTEMPLATE"))
        assert template is not None
        item = template.items[0]
        payload_id, prescriber_id, snapshot = template.payload_id, template.prescriber_id, template.snapshot
        item_row = {c: getattr(item, c) for c in ("fhir_id", "drug_name", "drug_codings", "ingredients", "dosage_text",
                                                   "dose_value", "dose_unit", "timing_code", "route", "quantity_value",
                                                   "quantity_unit", "supply_days", "course_of_therapy")}
    surnames, given = "王李张刘陈杨黄赵吴周", "伟芳娜敏静丽强磊洋艳勇军杰娟涛明超秀霞平"
    patients = max(stored // 10, 1)
    start = now - timedelta(seconds=stored)
    with ws.engine.begin() as conn:
        for lo in range(0, patients, CHUNK):
            conn.execute(insert(orm.Patient), [
                {"id": 1_000_000 + i, "patient_key": f"bench:{i}", "name": surnames[i % 10] + given[i % 20] + given[i // 20 % 20],
                 "gender": "female" if i % 2 else "male", "birth_date": datetime(1950 + i % 60, 1 + i % 12, 1 + i % 28).date(),
                 "created_at": now, "updated_at": now}
                for i in range(lo, min(lo + CHUNK, patients))])
        for lo in range(0, stored, CHUNK):
            ids = range(lo, min(lo + CHUNK, stored))
            first_waiting = stored - waiting
            conn.execute(insert(orm.Prescription), [
                {"id": 1_000_000 + i, "number": f"RXB{i:08d}", "version": 1,
                 "status": "received" if i >= first_waiting else "approved",
                 "received_at": start + timedelta(seconds=i), "content_sha256": "0" * 64,
                 "authored_on": start + timedelta(seconds=i), "patient_id": 1_000_000 + i % patients,
                 "prescriber_id": prescriber_id, "payload_id": payload_id, "source": "bench",
                 "is_follow_up": True, "snapshot": snapshot if i >= first_waiting else "{}", "intake_notes": "[]"}
                for i in ids])
            conn.execute(insert(orm.PrescriptionItem), [
                {**item_row, "prescription_id": 1_000_000 + i, "position": 0, "resource_json": "{}"} for i in ids])
            risks = (("clean", 3), ("clean", 3), ("clean", 3), ("warn", 2), ("block", 1))
            summaries = [
                {"prescription_id": 1_000_000 + i, "risk": risks[i % 5][0], "risk_rank": risks[i % 5][1],
                 "findings": "[]" if i % 5 < 3 else '[{"rule_id": "x", "severity": "warn"}]',
                 "special_marks": "narcotic" if i % 97 == 0 else "", "has_special": i % 97 == 0,
                 "under_six": i % 53 == 0, "age_years": 3 if i % 53 == 0 else 40 + i % 40, "department": "心血管内科",
                 "rule_set_version": "bench", "checked_at": now}
                for i in ids if i >= first_waiting]
            if summaries:
                conn.execute(insert(orm.ReviewSummary), summaries)
        conn.execute(text("ANALYZE"))


def measure_queue(root: Path, *, stored: int = 1_000_000, waiting: int = 100_000, runs: int = 5) -> dict[str, float]:
    from PySide6.QtCore import QSettings

    from tests.support import PKI
    from workstation.bootstrap import open_workstation
    from workstation.domain.accounts import Principal, Role
    from workstation.services import formulary
    from workstation.settings import load_settings

    from ui.app import make_context, prepare_application
    from ui.queue_view import QueueView
    from tests.support import SHARED

    root.mkdir(parents=True, exist_ok=True)
    QSettings.setPath(QSettings.Format.NativeFormat, QSettings.Scope.UserScope, str(root / "qsettings"))
    db = root / f"queue-{stored}-{waiting}.sqlite3"
    marker = db.with_suffix(".built")
    if db.exists() and not marker.exists():
        db.unlink()  # a build that did not finish
    env = {"RXWS_CONFIG_DIR": str(root / "config"), "RXWS_DATA_DIR": str(root / "data"), "RXWS_TRUST": str(PKI / "ca.pem"),
           "RXWS_DATABASE_URL": f"sqlite:///{db}"}
    ws = open_workstation(load_settings(env))
    try:
        if not marker.exists():
            t0 = time.perf_counter()
            formulary.import_formulary(ws.uow(), (SHARED / "examples" / "formulary.csv").read_bytes(), "formulary.csv",
                                       actor="bench")
            build(ws, stored=stored, waiting=waiting)
            marker.write_text("ok")
            print(f"built {stored:,} stored / {waiting:,} waiting in {time.perf_counter() - t0:.0f} s", flush=True)
        page = 40

        def bare() -> float:
            t0 = time.perf_counter()
            with ws.engine.connect() as conn:
                rows = conn.execute(text(PAGE_SQL), {"n": page}).all()
            assert len(rows) == page
            return time.perf_counter() - t0

        bare()  # warm the page cache, as the window's first run will find it after start
        bare_times = [bare() for _ in range(runs)]

        app = prepare_application()
        ctx = make_context(ws)
        ctx.principal = Principal(name="bench", roles=frozenset({Role.PHARMACIST}), licence="BENCH")
        paint: list[float] = []
        whole: list[float] = []
        scroll: list[float] = []
        for _ in range(runs):
            t0 = time.perf_counter()
            view = QueueView(ctx)
            view.resize(1366, 300)
            view.show()
            _wait(app, view.first_page_shown)
            view.table.viewport().repaint()
            paint.append(time.perf_counter() - t0)
            assert view.model.entry(0) is not None and view.model.entry(20) is not None, "the first page is painted"
            _wait(app, view.loaded)
            whole.append(time.perf_counter() - t0)
            assert view.model.rowCount() == waiting + 1, view.model.rowCount()  # and the template
            assert view.model.entry(0) is not None, "the first page is on screen"
            # Scrolling: jump to places never painted, and time until their rows are on screen.
            for fraction in (0.25, 0.5, 0.75, 1.0):
                row = min(int(waiting * fraction), waiting - 1)
                t1 = time.perf_counter()
                view.table.scrollTo(view.model.index(row, 0))
                view.table.viewport().repaint()
                _wait(app, lambda r=row: view.model.entry(r) is not None and view.model.settled())
                view.table.viewport().repaint()
                scroll.append(time.perf_counter() - t1)
            view.close()
            view.deleteLater()
            ctx.tasks.wait(30_000)
            app.processEvents()
        return {"first_paint_ms": statistics.median(paint) * 1000, "bare_query_ms": statistics.median(bare_times) * 1000,
                "all_ids_ms": statistics.median(whole) * 1000, "scroll_page_median_ms": statistics.median(scroll) * 1000, "scroll_page_max_ms": max(scroll) * 1000}
    finally:
        ws.close()
