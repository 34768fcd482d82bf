"""The folder inbox: every ``*.json`` dropped in is ingested, then moved to processed/ or rejected/.

A file is moved only after its intake has committed, so a crash leaves it in the inbox to be read
again (intake is idempotent). A partly quarantined bundle goes to processed/ with a reason file;
a wholly refused one to rejected/ with a reason file.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Generic, Protocol, TypeVar

# A file younger than this may still be being written by whoever drops it.
SETTLE_SECONDS = 1.0


class QuarantinedPart(Protocol):
    """What the reason file says of a part intake refused."""

    @property
    def number(self) -> str | None: ...
    @property
    def reason(self) -> str: ...
    @property
    def quarantine_id(self) -> int: ...


class Report(Protocol):
    """What the inbox needs of an intake report: where the file goes, and why."""

    @property
    def outcome(self) -> str: ...  # "quarantined" (wholly refused) goes to rejected/, anything else to processed/
    @property
    def quarantined(self) -> Sequence[QuarantinedPart]: ...


R = TypeVar("R", bound=Report)


@dataclass(frozen=True, slots=True)
class InboxOutcome(Generic[R]):
    path: Path
    moved_to: Path | None
    report: R | None
    error: str | None = None


def pending_files(inbox: Path, *, settle: float = SETTLE_SECONDS) -> Iterator[Path]:
    now = time.time()
    for path in sorted(inbox.glob("*.json")):
        if path.is_file() and now - path.stat().st_mtime >= settle:
            yield path


def process_inbox(
    inbox: Path,
    ingest_many: Callable[[Iterable[tuple[bytes, str]]], Iterator[R]],
    *,
    settle: float = SETTLE_SECONDS,
    on_outcome: Callable[[InboxOutcome[R]], None] | None = None,
) -> list[InboxOutcome[R]]:
    """Ingest every settled ``*.json`` in ``inbox`` once; each file moves once its intake committed."""
    for sub in ("processed", "rejected"):
        (inbox / sub).mkdir(parents=True, exist_ok=True)
    outcomes: list[InboxOutcome[R]] = []

    def emit(outcome: InboxOutcome[R]) -> None:
        outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)

    readable: list[Path] = []

    def contents() -> Iterator[tuple[bytes, str]]:
        for path in pending_files(inbox, settle=settle):
            try:
                raw = path.read_bytes()
            except OSError as exc:  # left where it is, reported, tried again next time
                emit(InboxOutcome(path, None, None, f"cannot read: {exc.strerror or exc}"))
                continue
            readable.append(path)
            yield raw, f"inbox:{path.name}"

    # Reports come back in input order, and only after their transaction committed.
    for index, report in enumerate(ingest_many(contents())):
        path = readable[index]
        emit(InboxOutcome(path, _file_away(inbox, path, report), report))
    return outcomes


def _file_away(inbox: Path, path: Path, report: Report) -> Path:
    folder = inbox / ("rejected" if report.outcome == "quarantined" else "processed")
    target = folder / path.name
    if target.exists():
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        target = folder / f"{path.stem}.{stamp}{path.suffix}"
    if report.quarantined:
        reason = target.with_name(target.name + ".reason.txt")
        lines = [f"{q.number or '(整个文件 / whole file)'}: {q.reason}  [quarantine #{q.quarantine_id}]" for q in report.quarantined]
        tmp = reason.with_name(reason.name + ".tmp")
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
        os.replace(tmp, reason)
    os.replace(path, target)
    return target
