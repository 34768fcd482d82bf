"""Pull new prescriptions from the internet hospital's FHIR server: store each page, then move the cursor.

The cursor is the greatest ``meta.lastUpdated`` of the prescriptions already stored; the search
asks for ``_lastUpdated=ge<cursor>``, so the boundary is read again next time and intake, being
idempotent, stores it once. Pages go through intake's batched writer, read by its worker processes
while later pages are fetched, exactly as ``rxws ingest`` takes in files; the cursor moves past a
page only once intake has committed it. A server failure part-way still stores every page fetched
before it, then raises: the cursor is left at the last stored page.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError

from workstation.adapters import secrets
from workstation.adapters.db import orm
from workstation.adapters.db.uow import UnitOfWork
from workstation.adapters.fhir_pull import FhirPullClient, FhirServerError, PulledPage, last_updated, parse_instant
from workstation.services import audit
from workstation.services.intake import IntakeReport, IntakeService
from workstation.settings import FhirServerSettings, SettingsError

log = logging.getLogger(__name__)

ACTOR = "system:pull"

# A page holds up to page_size prescriptions with their patients' histories: worker processes pay off
# from a few pages on, one page to a task, with little read-ahead (pages arrive one request at a time).
POOL_FROM_PAGES = 3
PAGES_PER_TRANSACTION = 2
PAGES_AHEAD_PER_WORKER = 2


@dataclass(frozen=True, slots=True)
class PullResult:
    """What one pull did."""

    pages: int
    stored: int  # new prescriptions and new versions
    duplicates: int
    quarantined: int
    cursor: str | None  # where the next pull starts


def client_for(fhir: FhirServerSettings, **kwargs: Any) -> FhirPullClient:
    """A client for the configured FHIR server, its bearer token from the OS keyring; ``kwargs`` go to the
    client (a session, a sleep). Raises SettingsError naming the setting when the server is not usable."""
    if not fhir.base_url:
        raise SettingsError(
            "没有配置 FHIR 服务器 / no FHIR server configured: set `[fhir_server] base_url` in settings.toml "
            "or the RXWS_FHIR_BASE_URL environment variable"
        )
    token = secrets.get_secret(fhir.token_name)
    try:
        return FhirPullClient(fhir.base_url, token=token, page_size=fhir.page_size,
                              connect_timeout=fhir.connect_timeout, read_timeout=fhir.read_timeout,
                              max_retries=fhir.max_retries, backoff_seconds=fhir.backoff_seconds, **kwargs)
    except ValueError:
        raise SettingsError(f"fhir_server.base_url {fhir.base_url!r} is not an http(s) URL with a host") from None


def pull(
    intake: IntakeService,
    uow: Callable[[], UnitOfWork],
    fhir: FhirServerSettings,
    *,
    on_page: Callable[[str, IntakeReport], None] | None = None,
    max_pages: int | None = None,
    client: FhirPullClient | None = None,
) -> PullResult:
    """Fetch and store everything new on the configured server. Raises FhirServerError, SettingsError."""
    if client is None:
        with client_for(fhir) as own:
            return pull(intake, uow, fhir, on_page=on_page, max_pages=max_pages, client=own)
    run = _Run(intake, uow, client.base_url, on_page)
    run.store_all(client.pages(run.cursor), max_pages)
    return PullResult(run.pages, run.stored, run.duplicates, run.quarantined, run.cursor)


def read_cursor(uow: Callable[[], UnitOfWork], base_url: str) -> str | None:
    """Where the next pull from ``base_url`` starts (None: from the beginning)."""
    with uow() as u:
        row = u.session.get(orm.IntakeCursor, base_url)
        return row.cursor if row is not None else None


class _Run:
    def __init__(self, intake: IntakeService, uow: Callable[[], UnitOfWork], base_url: str,
                 on_page: Callable[[str, IntakeReport], None] | None) -> None:
        self.intake = intake
        self.uow = uow
        self.base_url = base_url
        self.source = f"pull:{base_url}"
        self.on_page = on_page
        self.cursor = read_cursor(uow, base_url)
        self.pages = self.stored = self.duplicates = self.quarantined = 0
        # The greatest lastUpdated seen so far, and whether the server has kept its pages in that order.
        self.high: tuple[datetime, str] | None = None
        self.in_order = True

    def store_all(self, pages: Iterator[PulledPage], max_pages: int | None) -> None:
        """Every page through intake, in order; the cursor follows each page intake has committed."""
        fetched: deque[PulledPage] = deque()  # fetched, not yet accounted for, in order
        failure: list[FhirServerError] = []

        def to_intake() -> Iterator[tuple[bytes, str]]:
            count = 0
            try:
                for page in pages:
                    fetched.append(page)
                    count += 1
                    if page.medication_requests:
                        yield page.bundle, self.source
                    if max_pages is not None and count >= max_pages:
                        return
            except FhirServerError as exc:
                failure.append(exc)  # raised once what was fetched before it is stored

        reports = self.intake.ingest_many(to_intake(), batch_size=PAGES_PER_TRANSACTION,
                                             pool_from=POOL_FROM_PAGES, chunk_size=1,
                                             chunks_ahead=PAGES_AHEAD_PER_WORKER)
        for report in reports:
            # Pages without prescriptions went past intake: account for them in their place.
            while not fetched[0].medication_requests:
                self._done(fetched.popleft(), None)
            self._done(fetched.popleft(), report)
        while fetched:
            self._done(fetched.popleft(), None)
        if failure:
            raise failure[0]

    def _done(self, page: PulledPage, report: IntakeReport | None) -> None:
        self.pages += 1
        if report is not None:
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
                with self.uow() as uow:
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
