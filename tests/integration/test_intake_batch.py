"""Batched writes and pooled reading give exactly what bundle-by-bundle, in-process intake gives (SQLite and PostgreSQL).

Each comparison ingests the same inputs, with the same clock, into two fresh databases of the same
backend and compares every row intake writes (ids, hashes and timestamps included) and every report.
"""

from __future__ import annotations

import copy
import itertools
import json
import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, select, text

from tests.conftest import drop_pg_database, make_pg_database
from tests.perf.bench_intake import generate
from tests.support import example_paths
from workstation.adapters.db import orm
from workstation.bootstrap import Workstation, open_workstation
from workstation.services import audit
from workstation.services import intake as intake_module
from workstation.services.intake import IntakeReport, IntakeService
from workstation.settings import load_settings

TABLES = ("fhir_payload", "patient", "prescriber", "prescription", "prescription_item", "dispense_record",
          "diagnosis", "related_person", "allergy", "quarantine", "intake_log", "audit_event")


def _bytes(bundle: dict[str, Any]) -> bytes:
    return json.dumps(bundle, ensure_ascii=False).encode("utf-8")


def _inputs() -> list[tuple[bytes, str]]:
    """A day's mixed intake: recurring patients and physicians, resubmissions, changes, bad files."""
    generated = generate(60, seed=3, patients=8, physicians=3)
    examples = [p.read_bytes() for p in example_paths()]
    first = json.loads(generated[0])
    renamed = copy.deepcopy(first)  # the same patient, renamed in a later bundle: demographics follow
    patient = next(e["resource"] for e in renamed["entry"] if e["resource"]["resourceType"] == "Patient")
    patient["name"][0]["text"] = "改名后的患者"
    renamed["id"] = "renamed"
    changed = copy.deepcopy(first)  # a changed resubmission under the same number: a new version
    mr = next(e["resource"] for e in changed["entry"] if e["resource"]["resourceType"] == "MedicationRequest")
    mr["dispenseRequest"]["quantity"]["value"] = 99
    mixed = json.loads(examples[3])
    bad = json.loads(examples[5])
    next(e["resource"] for e in bad["entry"] if e["resource"]["resourceType"] == "MedicationRequest")["status"] = 17
    mixed["entry"] += bad["entry"]
    raws = [*generated[:30], *examples, _bytes(renamed), b"{not json", generated[5], _bytes(changed),
            json.dumps(json.loads(generated[7]), indent=1).encode(), _bytes(mixed), b"{not json", _bytes(mixed),
            *generated[30:], _bytes(first)]
    return [(raw, f"in:{i}") for i, raw in enumerate(raws)]


class _Clock:
    """The same instants, in the same order, for every run."""

    def __init__(self) -> None:
        self._ticks = itertools.count()

    def __call__(self) -> datetime:
        return datetime(2026, 6, 1, tzinfo=UTC) + timedelta(milliseconds=next(self._ticks))


@pytest.fixture
def other_ws(request: pytest.FixtureRequest, tmp_path: Path, database_url: str, sqlite_template: Path) -> Iterator[Workstation]:
    """A second fresh database on the same backend as ``ws``."""
    name = None
    if database_url.startswith("sqlite"):
        path = tmp_path / "other.sqlite3"
        shutil.copyfile(sqlite_template, path)
        url = f"sqlite:///{path}"
    else:
        name, url = make_pg_database(request.getfixturevalue("pg_template"))
    env = {"RXWS_CONFIG_DIR": str(tmp_path / "other-config"), "RXWS_DATA_DIR": str(tmp_path / "other-data"),
           "RXWS_DATABASE_URL": url}
    workstation = open_workstation(load_settings(env))
    try:
        yield workstation
    finally:
        workstation.close()
        if name is not None:
            drop_pg_database(name)


def _rows(ws: Workstation) -> dict[str, list[tuple[Any, ...]]]:
    with ws.engine.connect() as conn:
        return {t: [tuple(r) for r in conn.execute(text(f"SELECT * FROM {t} ORDER BY id"))] for t in TABLES}


def _ingest(ws: Workstation, *, workers: int, batch_size: int = 50) -> list[IntakeReport]:
    service = IntakeService(ws.uow, clock=_Clock(), workers=workers)
    reports = list(service.ingest_many(_inputs(), batch_size=batch_size))
    assert service.workers_used == workers
    return reports


def _same(a: Workstation, reports_a: list[IntakeReport], b: Workstation, reports_b: list[IntakeReport]) -> None:
    assert reports_a == reports_b
    rows_a, rows_b = _rows(a), _rows(b)
    for table in TABLES:
        assert rows_a[table] == rows_b[table], table
    assert audit.verify(a.uow()).broken is None and audit.verify(b.uow()).broken is None


def test_the_inputs_exercise_every_outcome(ws: Workstation) -> None:
    reports = _ingest(ws, workers=0)
    outcomes = {r.outcome for r in reports}
    assert outcomes == {"stored", "duplicate", "partial", "quarantined"}
    assert any(p.outcome == "new_version" for r in reports for p in r.prescriptions)
    broken = [r for (raw, _), r in zip(_inputs(), reports, strict=True) if raw == b"{not json"]
    assert len(broken) == 2 and broken[0].quarantined == broken[1].quarantined  # the same bytes: one case
    with ws.uow() as uow:
        names = set(uow.session.scalars(select(orm.Patient.name)))
    assert "改名后的患者" not in names  # renamed, then the original bundle came again: the newest wins


def test_a_batch_writes_what_bundle_by_bundle_writes(ws: Workstation, other_ws: Workstation) -> None:
    _same(ws, _ingest(ws, workers=0, batch_size=1), other_ws, _ingest(other_ws, workers=0, batch_size=50))


def test_pooled_reading_gives_the_same_reports_and_rows(
    ws: Workstation, other_ws: Workstation, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(intake_module, "POOL_MIN_BUNDLES", 10)
    _same(ws, _ingest(ws, workers=0), other_ws, _ingest(other_ws, workers=2))


def test_the_savepoint_fallback_writes_what_the_batch_writes(
    ws: Workstation, other_ws: Workstation, monkeypatch: pytest.MonkeyPatch
) -> None:
    reports = _ingest(ws, workers=0)
    original = intake_module._Writer.write

    def fails_for_batches(self: Any, reads: Any, nows: Any) -> Any:
        if len(reads) > 1:
            raise RuntimeError("a bug that only writing several bundles at once triggers")
        return original(self, reads, nows)

    monkeypatch.setattr(intake_module._Writer, "write", fails_for_batches)
    _same(ws, reports, other_ws, _ingest(other_ws, workers=0))


def test_a_bundle_that_fails_in_a_batch_is_quarantined_alone(ws: Workstation, monkeypatch: pytest.MonkeyPatch) -> None:
    inputs = _inputs()
    victim = json.loads(inputs[4][0])["entry"][-2]["resource"]["groupIdentifier"]["value"]
    original = intake_module._Writer._prescription

    def buggy(self: Any, rx: Any, *args: Any) -> Any:
        if rx.number == victim:
            raise KeyError("a bug that only this prescription triggers")
        return original(self, rx, *args)

    monkeypatch.setattr(intake_module._Writer, "_prescription", buggy)
    reports = list(IntakeService(ws.uow, workers=0).ingest_many(inputs, batch_size=50))
    assert [r.source for r in reports] == [source for _, source in inputs]
    assert reports[4].outcome == "quarantined" and "internal error while storing" in reports[4].quarantined[0].reason
    assert all(r.outcome in ("stored", "duplicate", "partial") for r in reports[:4] + reports[5:30])
    with ws.uow() as uow:
        numbers = set(uow.session.scalars(select(orm.Prescription.number)))
    assert victim not in numbers
    assert audit.verify(ws.uow()).broken is None


def test_a_batch_takes_a_few_statements_per_table(ws: Workstation) -> None:
    statements = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    engine: Engine = ws.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        reports = list(IntakeService(ws.uow, workers=0).ingest_many((raw, f"g{i}") for i, raw in enumerate(generate(40))))
    finally:
        event.remove(engine, "before_cursor_execute", count)
    events = sum(len(r.stored) for r in reports)
    # One audit append per event (each is chained to the one before), and a bounded number of
    # statements for everything else; bundle by bundle this was about twelve per bundle.
    assert events == 40
    assert len([s for s in statements if "audit_event" not in s]) < 30


# -- the worker pool


def dying_reader(items: list[tuple[bytes, str]], max_bytes: int, learned: Any) -> Any:
    """Kills the worker it runs in when it meets the marked bundle (in a worker, _read_chunk is the real one)."""
    if any(source == "in:40" for _, source in items):
        os._exit(3)
    return intake_module._read_chunk(items, max_bytes, learned)


def test_a_worker_that_dies_loses_nothing_and_quarantines_nothing(
    ws: Workstation, other_ws: Workstation, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    reports = _ingest(ws, workers=0)
    monkeypatch.setattr(intake_module, "POOL_MIN_BUNDLES", 4)
    monkeypatch.setattr(intake_module, "_read_chunk", dying_reader)
    _same(ws, reports, other_ws, _ingest(other_ws, workers=2))
    assert "intake worker processes failed; reading the remaining bundles here" in caplog.text


def test_the_pool_is_shut_down_when_the_caller_stops_early(ws: Workstation, monkeypatch: pytest.MonkeyPatch) -> None:
    pools: list[Any] = []

    class Recorded(intake_module.ProcessPoolExecutor):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.shut_down = False
            pools.append(self)

        def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
            super().shutdown(wait, cancel_futures=cancel_futures)
            self.shut_down = True

    monkeypatch.setattr(intake_module, "POOL_MIN_BUNDLES", 4)
    monkeypatch.setattr(intake_module, "ProcessPoolExecutor", Recorded)
    reports = IntakeService(ws.uow, workers=2).ingest_many(_inputs(), batch_size=5)
    first = next(reports)
    assert first.outcome == "stored" and len(pools) == 2 and not any(p.shut_down for p in pools)
    reports.close()
    assert all(p.shut_down for p in pools)


def test_small_inputs_are_read_in_this_process(ws: Workstation) -> None:
    service = IntakeService(ws.uow, workers=2)
    assert [r.outcome for r in service.ingest_many(_inputs()[:5])] == ["stored"] * 5
    assert service.workers_used == 0
