"""Queue notifications across workstations: PostgreSQL LISTEN on :data:`~workstation.adapters.db.uow.QUEUE_CHANNEL`.

Services call ``uow.queue_changed()`` in the transaction that changes the queue (intake, claims,
decisions); PostgreSQL delivers the notification when it commits. A :class:`QueueListener` holds one
connection of the workstation's engine in LISTEN and calls back, from its own thread, within a fraction
of a second of each commit. When the connection is lost it reconnects (and calls back once, since a
notification may have been missed meanwhile). On SQLite there is nothing to listen to: workstations poll.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine

from workstation.adapters.db.uow import QUEUE_CHANNEL

log = logging.getLogger(__name__)


class QueueListener:
    def __init__(self, engine: Engine, on_change: Callable[[], None], *, retry_seconds: float = 2.0) -> None:
        if engine.dialect.name != "postgresql":
            raise ValueError("queue notifications need PostgreSQL; SQLite workstations poll")
        self._engine = engine
        self._on_change = on_change
        self._retry = retry_seconds
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rxws-queue-listener", daemon=True)

    def start(self) -> QueueListener:
        self._thread.start()
        return self

    def wait_ready(self, timeout: float = 10.0) -> bool:
        """True once LISTEN is in effect (tests, and a first refresh that must not miss anything)."""
        return self._ready.wait(timeout)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        first = True
        while not self._stop.is_set():
            try:
                with self._engine.connect() as connection:
                    try:
                        raw: Any = connection.connection.driver_connection  # a psycopg Connection
                        raw.autocommit = True
                        raw.execute(f"LISTEN {QUEUE_CHANNEL}")
                        self._ready.set()
                        if not first:
                            self._on_change()  # reconnected: something may have changed while we were away
                        first = False
                        while not self._stop.is_set():
                            for _ in raw.notifies(timeout=0.5, stop_after=1):
                                self._on_change()
                    finally:
                        connection.invalidate()  # a listening, autocommit connection goes back to no pool
            except Exception:
                log.warning("queue notifications lost; reconnecting in %.0f s", self._retry, exc_info=True)
                self._ready.clear()
                self._stop.wait(self._retry)
