"""The unit of work: one session per user action, rolled back unless committed, always closed."""

from __future__ import annotations

from types import TracebackType

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

QUEUE_CHANNEL = "rxws_queue"  # PostgreSQL NOTIFY channel: the queue changed (a prescription, a claim, a decision)


class UnitOfWork:
    """``with uow: ...; uow.commit()`` — anything not committed is rolled back on exit."""

    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self._factory = session_factory
        self._session: Session | None = None

    @property
    def session(self) -> Session:
        if self._session is None:
            raise RuntimeError("the unit of work is not open: use it as a context manager")
        return self._session

    @property
    def dialect(self) -> str:
        bind = self.session.get_bind()
        return bind.dialect.name

    def __enter__(self) -> UnitOfWork:
        if self._session is not None:
            raise RuntimeError("this unit of work is already open")
        self._session = self._factory()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        session = self.session
        try:
            session.rollback()
        finally:
            session.close()
            self._session = None

    def queue_changed(self) -> None:
        """Tell every open workstation, at commit, that the queue changed (PostgreSQL NOTIFY: delivered only if
        the transaction commits; SQLite workstations poll instead)."""
        if self.dialect == "postgresql":
            self.session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": QUEUE_CHANNEL})

    def commit(self) -> None:
        self.session.commit()
        self.session.info.clear()

    def rollback(self) -> None:
        self.session.rollback()
        self.session.info.clear()


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)
