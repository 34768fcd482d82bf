"""Functions that tests run in separate processes (spawned, so they must live in an importable module)."""

from __future__ import annotations

import os


def claim_until_empty(url: str, pharmacist_id: int, licence: str, out: str) -> None:
    """Claim the next prescription again and again until the queue is empty; write what was claimed."""
    os.environ.setdefault("RXWS_CONFIG_DIR", os.path.dirname(out))
    from workstation.adapters.db.engine import make_engine
    from workstation.adapters.db.uow import UnitOfWork, session_factory
    from workstation.domain.accounts import Principal, Role
    from workstation.services.claims import ClaimService, QueueEmpty

    engine = make_engine(url)
    factory = session_factory(engine)
    claims = ClaimService(lambda: UnitOfWork(factory))
    me = Principal(name=licence, roles=frozenset({Role.PHARMACIST}), pharmacist_id=pharmacist_id, licence=licence)
    taken = []
    while True:
        try:
            taken.append(claims.claim(me).prescription_id)
        except QueueEmpty:
            break
    engine.dispose()
    with open(out, "w", encoding="ascii") as f:
        f.write("\n".join(map(str, taken)))
