"""The reference receiver over real loopback HTTP: verification, idempotency, persistence, limits and faults."""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.release_support import CA, REQUESTS, release_bundle, release_delivery
from tests.support import REPO
from workstation.adapters.approval import DELIVERY_MEMBERS, STATEMENT_MEMBERS, VERIFICATION_SIGNATURE
from workstation.adapters.pki import create_pharmacy_ca
from workstation.adapters.receiver import Receiver, serve

BUNDLE = release_bundle()
BUNDLE_BYTES = json.dumps(BUNDLE, ensure_ascii=False).encode("utf-8")
DELIVERY = release_delivery()
DELIVERY_BYTES = json.dumps(DELIVERY, ensure_ascii=False).encode("utf-8")
KEY = "0b6f3c1e-5a7d-4c2b-9e8f-1a2b3c4d5e6f"
TIMEOUT = 10


@pytest.fixture
def log() -> list[str]:
    return []


@pytest.fixture
def receiver(tmp_path: Path, log: list[str]) -> Iterator[Receiver]:
    with serve(0, [CA], tmp_path / "store", log=log.append) as running:
        yield running


def _post(receiver: Receiver, path: str, body: bytes, key: str | None = KEY, **kwargs: Any) -> requests.Response:
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return requests.post(receiver.url + path, data=body, headers=headers, timeout=kwargs.pop("timeout", TIMEOUT),
                         **kwargs)


def test_health(receiver: Receiver) -> None:
    response = requests.get(receiver.url + "/health", timeout=TIMEOUT)
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    assert receiver.url.startswith("http://127.0.0.1:")


def test_a_dispensing_bundle_is_verified_stored_verbatim_and_acknowledged(receiver: Receiver, log: list[str]) -> None:
    response = _post(receiver, "/dispensing", BUNDLE_BYTES)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["accepted"] == KEY and body["kind"] == "dispensing"
    assert body["prescriptions"] == [REQUESTS[0]["groupIdentifier"]["value"]]
    assert receiver.message_path("dispensing", KEY) == receiver.store_dir / "dispensing" / f"{KEY}.json"
    assert receiver.message_path("dispensing", KEY).read_bytes() == BUNDLE_BYTES
    assert not list((receiver.store_dir / "dispensing").glob(".*.tmp"))
    (line,) = log
    assert f"POST /dispensing key={KEY} 201" in line


def test_a_delivery_message_is_accepted(receiver: Receiver) -> None:
    response = _post(receiver, "/delivery", DELIVERY_BYTES)
    assert response.status_code == 201, response.text
    assert response.json()["parcel_id"] == DELIVERY["message"]["parcel_id"]
    assert receiver.message_path("delivery", KEY).read_bytes() == DELIVERY_BYTES


def test_the_same_key_may_serve_dispensing_and_delivery(receiver: Receiver) -> None:
    # The sender uses the decision id as the key of both messages of one approval.
    assert _post(receiver, "/dispensing", BUNDLE_BYTES).status_code == 201
    assert _post(receiver, "/delivery", DELIVERY_BYTES).status_code == 201


def test_a_repeated_request_gets_the_first_answer(receiver: Receiver) -> None:
    first = _post(receiver, "/dispensing", BUNDLE_BYTES)
    again = _post(receiver, "/dispensing", BUNDLE_BYTES)
    assert (again.status_code, again.json()) == (first.status_code, first.json()) == (201, first.json())


def test_the_same_key_with_another_body_is_a_conflict(receiver: Receiver) -> None:
    assert _post(receiver, "/dispensing", BUNDLE_BYTES).status_code == 201
    other = json.dumps(BUNDLE, ensure_ascii=False, indent=1).encode("utf-8")
    response = _post(receiver, "/dispensing", other)
    assert response.status_code == 409 and "different body" in response.json()["error"]
    assert receiver.message_path("dispensing", KEY).read_bytes() == BUNDLE_BYTES


def test_a_tampered_bundle_is_refused_with_the_reason_and_not_stored(receiver: Receiver) -> None:
    tampered = copy.deepcopy(BUNDLE)
    tampered["entry"][0]["resource"]["dispenseRequest"]["quantity"]["value"] += 10
    response = _post(receiver, "/dispensing", json.dumps(tampered).encode())
    assert response.status_code == 422
    body = response.json()
    assert "changed after the approval" in body["reason_en"] and body["reason_zh"] in body["error"]
    assert not receiver.message_path("dispensing", KEY).exists()
    # Not recorded: the genuine message under the same key is then accepted.
    assert _post(receiver, "/dispensing", BUNDLE_BYTES).status_code == 201


def test_a_message_under_another_ca_is_refused(tmp_path: Path) -> None:
    other_ca, _ = create_pharmacy_ca("另一家药房 CA", now=CA.not_valid_before_utc)
    with serve(0, [other_ca], tmp_path / "store") as receiver:
        response = _post(receiver, "/delivery", DELIVERY_BYTES)
    assert response.status_code == 422 and "not trusted" in response.json()["reason_en"]


def test_a_bundle_sent_to_delivery_is_refused(receiver: Receiver) -> None:
    response = _post(receiver, "/delivery", BUNDLE_BYTES)
    assert response.status_code == 422 and '"message" and "signature"' in response.json()["reason_en"]


@pytest.mark.parametrize("key", [None, "", "has space", "../escape", "a.b", "a_b", "x" * 129])
def test_a_missing_or_invalid_key_is_a_bad_request(receiver: Receiver, key: str | None) -> None:
    response = _post(receiver, "/dispensing", BUNDLE_BYTES, key=key)
    assert response.status_code == 400 and "Idempotency-Key" in response.json()["error"]
    assert not any((receiver.store_dir / "dispensing").iterdir())


@pytest.mark.parametrize("body", [b"", b"not json", b"\xff\xfe", b'{"a":1,"a":2}', b'{"n":NaN}', b"[" * 100_000])
def test_a_body_that_is_no_json_is_a_bad_request(receiver: Receiver, body: bytes) -> None:
    response = _post(receiver, "/dispensing", body)
    assert response.status_code == 400 and "not valid JSON" in response.json()["error"]


def test_json_that_is_no_release_message_is_unprocessable(receiver: Receiver) -> None:
    response = _post(receiver, "/dispensing", b"[1, 2, 3]")
    assert response.status_code == 422 and "not a FHIR Bundle" in response.json()["reason_en"]


def test_a_body_over_the_limit_is_refused(tmp_path: Path) -> None:
    limit = len(DELIVERY_BYTES)
    with serve(0, [CA], tmp_path / "store", max_body_bytes=limit) as receiver:
        response = _post(receiver, "/dispensing", b" " * (limit + 1))
        assert response.status_code == 413 and f"the limit is {limit:,}" in response.json()["error"]
        # The connection was drained, so the next request is served normally.
        assert _post(receiver, "/delivery", DELIVERY_BYTES).status_code == 201


def test_the_default_limit_is_ten_mebibytes(receiver: Receiver) -> None:
    response = _post(receiver, "/dispensing", b" " * (10 * 1024 * 1024 + 1))
    assert response.status_code == 413


def test_unknown_paths_are_not_found(receiver: Receiver) -> None:
    assert _post(receiver, "/prescriptions", BUNDLE_BYTES).status_code == 404
    assert requests.get(receiver.url + "/dispensing", timeout=TIMEOUT).status_code == 404


def test_answers_survive_a_restart(tmp_path: Path) -> None:
    store = tmp_path / "store"
    with serve(0, [CA], store) as receiver:
        first = _post(receiver, "/dispensing", BUNDLE_BYTES)
    with serve(0, [CA], store) as receiver:
        again = _post(receiver, "/dispensing", BUNDLE_BYTES)
        conflict = _post(receiver, "/dispensing", BUNDLE_BYTES + b" ")
    assert (again.status_code, again.json()) == (first.status_code, first.json())
    assert conflict.status_code == 409


def test_concurrent_requests_with_one_key_store_once(receiver: Receiver, log: list[str]) -> None:
    start = threading.Barrier(8)
    answers: list[tuple[int, Any]] = []

    def post() -> None:
        start.wait()
        response = _post(receiver, "/dispensing", BUNDLE_BYTES)
        answers.append((response.status_code, response.json()))

    threads = [threading.Thread(target=post) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(answers) == 8 and all(a == answers[0] for a in answers) and answers[0][0] == 201
    assert sorted(p.name for p in (receiver.store_dir / "dispensing").iterdir()) == [f"{KEY}.answer.json", f"{KEY}.json"]
    assert len(log) == 8


def test_the_server_refuses_to_start_without_trust(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="trust anchor"):
        serve(0, [], tmp_path)
    with pytest.raises(ValueError, match="fault_rate"):
        serve(0, [CA], tmp_path, fault_rate=1.5)


# --------------------------------------------------------------------------- faults


def test_faults_happen_at_about_the_rate_given_and_retries_converge(tmp_path: Path) -> None:
    log: list[str] = []
    N = 100
    # The delay only has to outlast the client's timeout; stopping the server ends it early.
    with serve(0, [CA], tmp_path / "store", log=log.append, fault_rate=0.3, fault_seed=7, fault_delay=30) as receiver:
        outcomes: dict[str, int] = {"ok": 0, "500": 0, "dropped": 0, "timeout": 0}
        for n in range(N):
            key = f"key-{n}"
            try:
                response = _post(receiver, "/delivery", DELIVERY_BYTES, key=key, timeout=(5, 0.2))
            except requests.exceptions.ReadTimeout:
                outcomes["timeout"] += 1
                stored = True
            except requests.exceptions.ConnectionError:
                outcomes["dropped"] += 1
                stored = True
            else:
                if response.status_code == 500:
                    outcomes["500"] += 1
                    stored = False
                else:
                    assert response.status_code == 201, response.text
                    outcomes["ok"] += 1
                    stored = True
            assert receiver.message_path("delivery", key).exists() is stored, (key, outcomes)
        faults = N - outcomes["ok"]
        assert 0.15 * N <= faults <= 0.45 * N, outcomes  # 0.3 × N expected
        assert all(outcomes[kind] >= 3 for kind in ("500", "dropped", "timeout")), outcomes
        # A sender that retries every failure under the same key ends with every message stored once.
        for n in range(N):
            for _attempt in range(20):
                try:
                    response = _post(receiver, "/delivery", DELIVERY_BYTES, key=f"key-{n}", timeout=(5, 0.2))
                except requests.exceptions.RequestException:
                    continue
                if response.status_code == 201:
                    break
            else:
                pytest.fail(f"key-{n} was never acknowledged")
    assert len(list((tmp_path / "store" / "delivery").glob("key-*.answer.json"))) == N
    assert any("(injected: 500 before processing)" in line for line in log)


# --------------------------------------------------------------------------- the published contract


def test_the_api_document_names_every_answer_and_member() -> None:
    text = (REPO / "docs" / "release-api.yaml").read_text("utf-8")
    for status in ("200", "201", "400", "404", "409", "411", "413", "422", "500"):
        assert f'"{status}":' in text, status
    for member in [*STATEMENT_MEMBERS, *DELIVERY_MEMBERS, "Idempotency-Key", VERIFICATION_SIGNATURE]:
        assert member in text, member
    assert "openapi: 3.0" in text
