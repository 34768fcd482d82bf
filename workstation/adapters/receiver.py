"""Reference receiver (参考接收端) for released prescriptions: verifies and keeps each message once per Idempotency-Key.

What a dispensing or delivery system must do with the workstation's releases, small enough to read in
one sitting and to run beside the workstation in tests and demonstrations (``docs/release-api.yaml``):

- ``POST /dispensing`` takes a dispensing Bundle, ``POST /delivery`` a delivery message (formats in
  ``approval``); ``GET /health`` answers 200. It listens on 127.0.0.1 only.
- Each POST needs an ``Idempotency-Key`` (``[A-Za-z0-9-]{1,128}``). A verified message is written
  verbatim to ``STORE/<kind>/<key>.json`` and its answer to ``STORE/<kind>/<key>.answer.json`` (each
  atomically), then 201 is answered. The same key again gets that first answer, also after a
  restart; the same key with other bytes gets 409. Requests with one key are handled one at a time.
- A message that does not verify gets 422 with the reason and is not recorded, so the same request
  is judged afresh (after the trust configuration is corrected, say); bad JSON or a bad key 400,
  a body over the limit 413, no Content-Length 411, an unknown path 404.

For the sender's fault tests, ``serve(fault_rate=…)`` makes that share of POSTs fail in one of three
ways a real network does: 500 before any processing; processed and stored, then the connection
dropped without an answer; processed and stored, then the answer held back past the client's timeout.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import re
import socket
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography import x509

from workstation.adapters.approval import (
    ReleaseVerificationError,
    parse_json,
    verify_delivery_message,
    verify_dispensing_bundle,
)

HOST = "127.0.0.1"
MAX_BODY_BYTES = 10 * 1024 * 1024
# A body over the limit is still read (up to this much) and thrown away before answering 413: closing
# a socket with unread data makes TCP reset the connection, and the client would never see the 413.
_DRAIN_LIMIT = 64 * 1024 * 1024
_KEY = re.compile(r"[A-Za-z0-9-]{1,128}")
KINDS = ("dispensing", "delivery")


class Fault(Enum):
    """The failures injected for fault tests."""

    ERROR = "500 before processing"
    DROP = "stored, connection dropped"
    DELAY = "stored, answer delayed"


@dataclass(frozen=True, slots=True)
class Answer:
    """An HTTP answer: status and JSON body."""

    status: int
    body: Mapping[str, Any]


def _verify(kind: str, message: Any, anchors: Sequence[x509.Certificate]) -> dict[str, Any]:
    """What the 201 answer says about a verified message. Raises ReleaseVerificationError."""
    if kind == "dispensing":
        bundle = verify_dispensing_bundle(message, anchors)
        return {"prescriptions": [a.prescription for a in bundle.approvals],
                "signed_by": sorted({a.licence for a in bundle.approvals})}
    delivery = verify_delivery_message(message, anchors)
    return {"parcel_id": delivery.message["parcel_id"], "signed_by": [delivery.licence]}


# --------------------------------------------------------------------------- storage


def _atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a reader (or a crash) sees the old file or the new one, never a part."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable; not every platform can open a folder
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class _Store:
    """Messages and their first answers on disk, one folder per kind."""

    def __init__(self, root: Path) -> None:
        self.root = root
        for kind in KINDS:
            (root / kind).mkdir(parents=True, exist_ok=True)

    def message_path(self, kind: str, key: str) -> Path:
        return self.root / kind / f"{key}.json"

    def _answer_path(self, kind: str, key: str) -> Path:
        return self.root / kind / f"{key}.answer.json"

    def recorded(self, kind: str, key: str) -> tuple[str, Answer] | None:
        """The digest of the first body under ``key`` and the answer it got, if any."""
        try:
            record = json.loads(self._answer_path(kind, key).read_bytes())
        except FileNotFoundError:
            return None
        return record["request_sha256"], Answer(record["status"], record["body"])

    def record(self, kind: str, key: str, raw: bytes, digest: str, answer: Answer) -> None:
        # The message first: an answer on disk promises that its message is there too.
        _atomic_write(self.message_path(kind, key), raw)
        record = {"status": answer.status, "body": answer.body, "request_sha256": digest,
                  "stored_at": datetime.now().astimezone().isoformat(timespec="seconds")}
        _atomic_write(self._answer_path(kind, key), json.dumps(record, ensure_ascii=False, indent=1).encode("utf-8"))


class _KeyLocks:
    """One lock per (kind, key) while requests hold it, so two requests with one key run one after the other."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[tuple[str, str], tuple[threading.Lock, int]] = {}

    @contextlib.contextmanager
    def hold(self, name: tuple[str, str]) -> Iterator[None]:
        with self._guard:
            lock, users = self._locks.get(name, (threading.Lock(), 0))
            self._locks[name] = (lock, users + 1)
        try:
            with lock:
                yield
        finally:
            with self._guard:
                lock, users = self._locks[name]
                if users == 1:
                    del self._locks[name]  # forgotten once unused, so the table does not grow with every key
                else:
                    self._locks[name] = (lock, users - 1)


class _Faults:
    def __init__(self, rate: float, seed: int | None, delay: float) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"fault_rate must be between 0 and 1, not {rate}")
        self.rate, self.delay = rate, delay
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def draw(self) -> Fault | None:
        if not self.rate:
            return None
        with self._lock:
            if self._rng.random() >= self.rate:
                return None
            return self._rng.choice(list(Fault))


# --------------------------------------------------------------------------- HTTP


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, handler: type[BaseHTTPRequestHandler], *, store: _Store,
                 anchors: Sequence[x509.Certificate], max_body_bytes: int, faults: _Faults,
                 log: Callable[[str], None] | None) -> None:
        super().__init__((HOST, port), handler)
        self.store, self.anchors, self.max_body_bytes, self.faults, self.log = store, anchors, max_body_bytes, faults, log
        self.locks = _KeyLocks()
        self.stopping = threading.Event()


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "rxws-receiver"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 — the base class's name
        pass  # one line per request goes to the server's log instead

    def do_GET(self) -> None:
        if self.path.split("?", 1)[0] == "/health":
            self._answer(Answer(200, {"status": "ok"}), None)
        else:
            self._answer(Answer(404, {"error": f"未知路径 / no such path: GET {self.path}"}), None)

    def do_POST(self) -> None:
        kind = self.path.split("?", 1)[0].strip("/")
        key = self.headers.get("Idempotency-Key")
        if kind not in KINDS:
            self._answer(self._drained(Answer(404, {"error": f"未知路径 / no such path: POST {self.path}"})), key)
            return
        if key is None or not _KEY.fullmatch(key):
            self._answer(self._drained(Answer(400, {"error": (
                "缺少或无效的 Idempotency-Key / the Idempotency-Key header is missing or invalid: "
                "1 to 128 characters of A–Z, a–z, 0–9 and '-'")})), key)
            return
        fault = self.server.faults.draw()
        if fault is Fault.ERROR:
            self._answer(self._drained(Answer(500, {"error": "injected fault (testing)"})), key, fault)
            return
        try:
            answer = self._process(kind, key)
        except Exception as exc:  # a receiver answers every request; the reason goes to its log line
            answer = Answer(500, {"error": f"接收端内部错误 / receiver error: {type(exc).__name__}"})
        if answer.status == 201 and fault is Fault.DROP:
            self._log(key, "dropped", fault)
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        if answer.status == 201 and fault is Fault.DELAY:
            self.server.stopping.wait(self.server.faults.delay)  # woken early when the server stops
        self._answer(answer, key, fault if answer.status == 201 else None)

    def _process(self, kind: str, key: str) -> Answer:
        read = self._body()
        if isinstance(read, Answer):
            return read
        raw = read
        try:
            message = parse_json(raw)
        except (ValueError, RecursionError) as exc:
            return Answer(400, {"error": f"请求体不是合法 JSON / the body is not valid JSON: {str(exc)[:200]}"})
        digest = hashlib.sha256(raw).hexdigest()
        with self.server.locks.hold((kind, key)):
            recorded = self.server.store.recorded(kind, key)
            if recorded is not None:
                first_digest, first = recorded
                if first_digest != digest:
                    return Answer(409, {"error": (
                        f"该 Idempotency-Key 已用于另一内容 / the Idempotency-Key {key} was already used "
                        "for a different body"), "accepted": key})
                return first
            try:
                details = _verify(kind, message, self.server.anchors)
            except ReleaseVerificationError as exc:
                return Answer(422, {"error": exc.reason, "reason_zh": exc.zh, "reason_en": exc.en})
            answer = Answer(201, {"accepted": key, "kind": kind, "sha256": digest, **details})
            self.server.store.record(kind, key, raw, digest, answer)
            return answer

    def _body(self) -> bytes | Answer:
        """The request body, or the answer that refuses it."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True
            return Answer(411, {"error": "需要 Content-Length / send the body with a Content-Length, not chunked"})
        text = self.headers.get("Content-Length")
        if text is None:
            return Answer(411, {"error": "需要 Content-Length / the request has no Content-Length"})
        if not text.isdigit():
            self.close_connection = True
            return Answer(400, {"error": f"Content-Length 无效 / invalid Content-Length {text!r}"})
        length = int(text)
        if length > self.server.max_body_bytes:
            return self._drained(Answer(413, {"error": (
                f"请求体过大 / the body is {length:,} bytes, the limit is {self.server.max_body_bytes:,}")}))
        raw = self.rfile.read(length)
        if len(raw) < length:
            self.close_connection = True
            return Answer(400, {"error": "请求体不完整 / the body ended before its Content-Length"})
        return raw

    def _drained(self, answer: Answer) -> Answer:
        """Read and discard a body left unread, so the client sees ``answer`` rather than a reset connection."""
        text = self.headers.get("Content-Length", "")
        left = int(text) if text.isdigit() else 0
        self.close_connection = True
        if left > _DRAIN_LIMIT:
            return answer
        with contextlib.suppress(OSError):
            while left > 0:
                chunk = self.rfile.read(min(left, 1 << 16))
                if not chunk:
                    break
                left -= len(chunk)
        return answer

    def _answer(self, answer: Answer, key: str | None, fault: Fault | None = None) -> None:
        data = json.dumps(answer.body, ensure_ascii=False).encode("utf-8")
        self._log(key, str(answer.status), fault)
        with contextlib.suppress(OSError):  # the client may have given up (a delayed answer, a dropped line)
            self.send_response(answer.status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    def _log(self, key: str | None, status: str, fault: Fault | None) -> None:
        if self.server.log is None:
            return
        when = datetime.now().astimezone().isoformat(timespec="seconds")
        note = f" (injected: {fault.value})" if fault is not None else ""
        self.server.log(f"{when} {self.command} {self.path} key={key or '-'} {status}{note}")


# --------------------------------------------------------------------------- running it


class Receiver:
    """A running receiver; ``shutdown()`` stops it and waits for its thread."""

    def __init__(self, server: _Server) -> None:
        self._server = server
        self.port: int = server.server_address[1]
        self.url = f"http://{HOST}:{self.port}"
        self.store_dir = server.store.root
        # A short poll keeps shutdown() quick; an idle receiver wakes ten times a second, which costs nothing.
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"receiver:{self.port}", daemon=True)
        self._thread.start()

    def message_path(self, kind: str, key: str) -> Path:
        """Where a message accepted under ``key`` is stored."""
        return self._server.store.message_path(kind, key)

    def shutdown(self) -> None:
        self._server.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def __enter__(self) -> Receiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()


def serve(
    port: int,
    trust: Sequence[x509.Certificate],
    store_dir: Path,
    *,
    max_body_bytes: int = MAX_BODY_BYTES,
    log: Callable[[str], None] | None = None,
    fault_rate: float = 0.0,
    fault_seed: int | None = None,
    fault_delay: float = 30.0,
) -> Receiver:
    """Start a receiver on 127.0.0.1:``port`` (0: any free port) in a background thread.

    ``trust`` are the CA certificates (the pharmacy CA) that signatures must chain to. ``log`` gets one
    line per request. ``fault_rate``, ``fault_seed`` and ``fault_delay`` (seconds) are for testing.
    """
    if not trust:
        raise ValueError("the receiver needs at least one trust anchor (the pharmacy CA certificate)")
    server = _Server(port, _Handler, store=_Store(Path(store_dir)), anchors=tuple(trust),
                     max_body_bytes=max_body_bytes, faults=_Faults(fault_rate, fault_seed, fault_delay), log=log)
    return Receiver(server)
