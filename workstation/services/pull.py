"""Pull new prescriptions from the internet hospital's FHIR server: store each page, then move the cursor.

The cursor is the greatest ``meta.lastUpdated`` of the prescriptions already stored; the search
asks for ``_lastUpdated=ge<cursor>``, so the boundary is read again next time and intake, being
idempotent, stores it once. A page is committed by intake before the cursor moves past it, each
in its own transaction: a failure part-way leaves every stored page stored and the cursor at the
last of them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError

from workstation.adapters.db import orm
from workstation.adapters.fhir_pull import FhirPullClient, PulledPage, last_updated, parse_instant
from workstation.bootstrap import Workstation
from workstation.services import audit
from workstation.services.intake import IntakeReport

log = logging.getLogger(__name__)

ACTOR = "system:pull"


@dataclass(frozen=True, slots=True)
class PullResult:
    """What one pull did."""

    pages: int
    stored: int  # new prescriptions and new versions
    duplicates: int
    quarantined: int
    cursor: str | None  # where the next pull starts


def pull(
    ws: Workstation,
    *,
    on_page: Callable[[str, IntakeReport], None] | None = None,
    max_pages: int | None = None,
    client: FhirPullClient | None = None,
) -> PullResult:
    """Fetch and store everything new on the configured server. Raises FhirServerError, SettingsError."""
    if client is None:
        with FhirPullClient(ws.settings.fhir_server) as own:
            return pull(ws, on_page=on_page, max_pages=max_pages, client=own)
    run = _Run(ws, client.base_url, on_page)
    client.pull(run.cursor, run.store, max_pages=max_pages)
    return PullResult(run.pages, run.stored, run.duplicates, run.quarantined, run.cursor)


def read_cursor(ws: Workstation, base_url: str) -> str | None:
    """Where the next pull from ``base_url`` starts (None: from the beginning)."""
    with ws.uow() as uow:
        row = uow.session.get(orm.IntakeCursor, base_url)
        return row.cursor if row is not None else None


class _Run:
    def __init__(self, ws: Workstation, base_url: str, on_page: Callable[[str, IntakeReport], None] | None) -> None:
        self.ws = ws
        self.base_url = base_url
        self.source = f"pull:{base_url}"
        self.on_page = on_page
        self.cursor = read_cursor(ws, base_url)
        self.pages = self.stored = self.duplicates = self.quarantined = 0
        # The greatest lastUpdated seen so far, and whether the server has kept its pages in that order.
        self.high: tuple[datetime, str] | None = None
        self.in_order = True

    def store(self, page: PulledPage) -> None:
        self.pages += 1
        if page.medication_requests:
            report = self.ws.intake.ingest(page.bundle, self.source)
            self.stored += len(report.stored)
            self.duplicates += len(report.duplicates)
            self.quarantined += len(report.quarantined)
            if self.on_page is not None:
                self.on_page(f"page {page.number}", report)
        self._track(page)
        if self.in_order or page.last:
            # A server that ignores _sort may still hold older items on later pages: only a complete
            # run may then move the cursor, else a failure part-way would skip those items for good.
            self._advance(page.number)

    def _track(self, page: PulledPage) -> None:
        times: list[tuple[datetime, str]] = []
        for mr in page.medication_requests:
            value = last_updated(mr)
            instant = parse_instant(value) if value is not None else None
            if value is not None and instant is not None:
                times.append((instant, value))
        if not times:
            if page.medication_requests:
                log.warning("page %d: the FHIR server gave its items no meta.lastUpdated; the cursor cannot move "
                            "past them, so the next pull reads them again", page.number)
            return
        ordered = [t[0] for t in times] == sorted(t[0] for t in times)
        if self.in_order and (not ordered or (self.high is not None and times[0][0] < self.high[0])):
            log.warning("the FHIR server does not return items sorted by _lastUpdated; the cursor will move "
                        "only when this pull completes")
            self.in_order = False
        page_high = max(times, key=lambda t: t[0])
        if self.high is None or page_high[0] > self.high[0]:
            self.high = page_high

    def _advance(self, page_number: int) -> None:
        if self.high is None:
            return
        current = parse_instant(self.cursor) if self.cursor else None
        if current is not None and self.high[0] <= current:
            return  # nothing newer than where we started: the cursor stays, and no audit noise
        new = self.high[1]
        for attempt in range(2):
            try:
                with self.ws.uow() as uow:
                    s = uow.session
                    row = s.get(orm.IntakeCursor, self.base_url, with_for_update=True)
                    old = row.cursor if row is not None else None
                    if row is None:
                        s.add(orm.IntakeCursor(source=self.base_url, cursor=new))
                    else:
                        row.cursor = new
                    audit.record(uow, actor=ACTOR, action="intake.cursor_advanced", subject=f"intake_cursor:{self.base_url}",
                                 details={"source": self.base_url, "old": old, "new": new, "page": page_number})
                    uow.commit()
                    break
            except IntegrityError:
                # Another workstation created the cursor row at the same moment: update it instead.
                if attempt == 1:
                    raise
        self.cursor = new
