"""Benchmark: the review rules over 10,000 snapshots, signature checks, and `rxws check` over 1,000 files.

Run alone: ``python -m tests.perf.bench_rules [--count N] [--files N]``. Targets: rule evaluation of a
realistic mix at >= 20,000 prescriptions/s single-threaded; signature verification reported per
prescription; the full ``rxws check`` compared with the intake floor (json.loads + sqlite3
executemany of the same bundles, as in bench_intake). The last line prints the figures and ratios.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import random
import tempfile
import time
from pathlib import Path

from review_rules import evaluate
from review_rules.examples import build
from tests.perf.bench_intake import floor, generate

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"

# A realistic mix: most prescriptions are clean chronic follow-ups; some carry one problem.
MIX: list[tuple[int, dict[str, object]]] = [
    (60, {}),
    (8, {"drugs": "amlodipine,metformin"}),
    (5, {"drugs": "amlodipine,metformin,atorvastatin,aspirin"}),
    (3, {"drug": "oxycodone"}), (2, {"drug": "zolpidem"}), (2, {"age": 4, "guardian": "yes"}),
    (2, {"follow_up": False}), (2, {"days": 14, "note": "病情稳定"}), (2, {"drug": "unknown"}),
    (2, {"signature": "invalid"}), (2, {"drugs": "warfarin,aspirin"}), (2, {"confirmed": "E11"}),
    (2, {"dose": 3, "dose_unit": "{tbl}"}), (2, {"review": "2026-06-02T10:00:00+08:00"}),
    (2, {"drug": "penicillin_v", "skin_test": "negative"}),
]


def snapshots(count: int, seed: int = 11) -> list[object]:
    rng = random.Random(seed)
    weights = [w for w, _ in MIX]
    facts = [f for _, f in MIX]
    return [build({k: v for k, v in rng.choices(facts, weights)[0].items()}) for _ in range(count)]


def bench_rules(count: int) -> tuple[float, float]:
    snaps = snapshots(count)
    start = time.perf_counter()
    approvable = sum(evaluate(s).approvable for s in snaps)  # type: ignore[arg-type]
    elapsed = time.perf_counter() - start
    return elapsed, approvable / count


def bench_signatures(rounds: int) -> float:
    from workstation.adapters.fhir_bundle import parse_bundle
    from workstation.adapters.signature import load_trust_anchors, verify_prescriber_signature

    anchors = load_trust_anchors([SHARED / "examples" / "pki" / "ca.pem"])
    snap = parse_bundle((SHARED / "examples" / "ex-clean-htn.json").read_bytes()).prescriptions[0]
    assert verify_prescriber_signature(snap, anchors).status.value == "valid"
    start = time.perf_counter()
    for _ in range(rounds):
        verify_prescriber_signature(snap, anchors)
    return (time.perf_counter() - start) / rounds


def bench_check(files: int, folder: Path) -> tuple[float, float]:
    from workstation.cli import main

    bundles = generate(files)
    for i, raw in enumerate(bundles):
        (folder / f"b{i:05d}.json").write_bytes(raw)
    with contextlib.redirect_stdout(io.StringIO()) as out:
        start = time.perf_counter()
        code = main(["check", "--json", "--at", "2026-06-01T10:00:00+08:00", "--trust", str(SHARED / "examples" / "pki" / "ca.pem"),
                     "--formulary", str(SHARED / "examples" / "formulary.csv"), str(folder)])
        elapsed = time.perf_counter() - start
    lines = out.getvalue().splitlines()
    assert code == 0 and len(lines) == files and all(json.loads(line)["prescription_id"] for line in lines)
    return elapsed, floor(bundles, folder / "floor.sqlite3")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--files", type=int, default=1_000)
    args = parser.parse_args()
    t_rules, share = bench_rules(args.count)
    per_sig = bench_signatures(200)
    import os

    os.environ.setdefault("RXWS_CONFIG_DIR", tempfile.mkdtemp())
    with tempfile.TemporaryDirectory() as tmp:
        t_check, t_floor = bench_check(args.files, Path(tmp))
    rules_rate = args.count / t_rules
    print(f"rules: {args.count} snapshots in {t_rules:.2f} s ({share:.0%} approvable) = {rules_rate:,.0f}/s "
          f"(target >= 20,000/s: {'met' if rules_rate >= 20_000 else 'NOT met'})")
    print(f"signature verification: {per_sig * 1000:.2f} ms per prescription")
    print(f"rxws check over {args.files} files: {t_check:.2f} s; intake floor for the same files: {t_floor:.2f} s")
    print(f"rules {rules_rate:,.0f}/s | signature {per_sig * 1000:.2f} ms | check {args.files / t_check:,.0f} files/s = "
          f"{t_check / t_floor:.1f}x the intake floor")


if __name__ == "__main__":
    main()
