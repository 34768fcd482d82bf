"""Benchmark: intake of 10,000 generated prescriptions into SQLite, against a floor measured in the same run.

Run alone: ``python -m tests.perf.bench_intake [--count N]``. Two floors are measured in the same run:

- the bare floor, what no intake can beat: ``json.loads`` of the same bundles plus one plain
  ``sqlite3`` ``executemany`` of the same rows (payload, prescription, items);
- the validated floor, what an intake that does its duty cannot beat in one process: the same, plus
  validating every resource of every bundle with ``fhir.resources`` (as the intake profile requires).

Targets: at least 1,000 prescriptions/s, within 5x of the bare floor and within 2x of the validated
floor. The last line prints the figures and both ratios.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import os
import random
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

from fhir.resources.R4B import get_fhir_model_class

from workstation.bootstrap import open_workstation
from workstation.settings import load_settings

_TEMPLATE = Path(__file__).resolve().parents[1] / "data" / "bench_template.json"


def _template() -> dict[str, Any]:
    return json.loads(_TEMPLATE.read_text(encoding="utf-8"))


DRUGS = [
    ("D0001", "苯磺酸氨氯地平片", "C08CA01", "I10"),
    ("D0002", "盐酸二甲双胍片", "A10BA02", "E11.900"),
    ("D0003", "阿托伐他汀钙片", "C10AA05", "E78.500"),
    ("D0008", "缬沙坦胶囊", "C09CA03", "I10"),
    ("D0012", "左甲状腺素钠片", "H03AA01", "E03.900"),
    ("D0213", "沙丁胺醇气雾剂", "R03AC02", "J45.900"),
]


def generate(count: int, *, seed: int = 7, patients: int = 2000, physicians: int = 40) -> list[bytes]:
    """``count`` single-prescription bundles for a realistic population: chronic patients come back."""
    rng = random.Random(seed)
    base = _template()
    by_type = {e["resource"]["resourceType"]: e for e in base["entry"]}
    out = []
    for n in range(count):
        pid, doc = rng.randrange(patients), rng.randrange(physicians)
        b = copy.deepcopy(base)
        b["id"] = f"bench-{n}"
        entries = []
        for e in b["entry"]:
            r = e["resource"]
            t = r["resourceType"]
            if t == "Patient":
                r["id"] = f"pat-{pid}"
                r["identifier"][0]["value"] = f"3101011970{pid:04d}{pid % 10}{pid % 7}{pid % 3}X"[:18]
                r["name"][0]["text"] = f"患者{pid}"
            elif t == "Practitioner":
                r["id"] = f"prac-{doc}"
                r["identifier"][0]["value"] = f"1103100{doc:08d}"
            elif t == "Encounter":
                r["id"] = f"enc-{n}"
                r["subject"]["reference"] = f"Patient/pat-{pid}"
            elif t in ("Condition", "DocumentReference"):
                r["subject"]["reference"] = f"Patient/pat-{pid}"
            if t == "MedicationRequest":
                continue
            if t == "Provenance":
                continue
            e["fullUrl"] = f"{t}/{r['id']}"
            entries.append(e)
        for e in entries:
            r = e["resource"]
            if r["resourceType"] == "PractitionerRole":
                r["practitioner"]["reference"] = f"Practitioner/prac-{doc}"
            if r["resourceType"] == "Encounter":
                r["participant"][0]["individual"]["reference"] = f"Practitioner/prac-{doc}"
        mr_template = by_type["MedicationRequest"]["resource"]
        targets = []
        for k in range(rng.choice((1, 1, 2, 2, 3))):
            code, name, atc, icd = DRUGS[rng.randrange(len(DRUGS))]
            mr = copy.deepcopy(mr_template)
            mr["id"] = f"mr-{n}-{k}"
            mr["groupIdentifier"]["value"] = f"RXBENCH{n:07d}"
            mr["subject"]["reference"] = f"Patient/pat-{pid}"
            mr["encounter"]["reference"] = f"Encounter/enc-{n}"
            mr["requester"]["reference"] = f"Practitioner/prac-{doc}"
            mr["medicationCodeableConcept"] = {"text": name, "coding": [
                {"system": "https://rxws.example.org/fhir/CodeSystem/drug", "code": code, "display": name},
                {"system": "http://www.whocc.no/atc", "code": atc}]}
            mr["reasonCode"] = [{"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": icd}]}]
            mr["dispenseRequest"]["quantity"]["value"] = rng.choice((7, 14, 28))
            entries.append({"fullUrl": f"MedicationRequest/{mr['id']}", "resource": mr})
            targets.append({"reference": f"MedicationRequest/{mr['id']}"})
        prov = copy.deepcopy(by_type["Provenance"]["resource"])
        prov["id"] = f"prov-{n}"
        prov["target"] = targets
        prov["agent"][0]["who"]["reference"] = f"Practitioner/prac-{doc}"
        prov["signature"][0]["who"]["reference"] = f"Practitioner/prac-{doc}"
        entries.append({"fullUrl": f"Provenance/prov-{n}", "resource": prov})
        b["entry"] = entries
        out.append(json.dumps(b, ensure_ascii=False).encode("utf-8"))
    return out


def floor(bundles: list[bytes], db: Path, *, validate: bool = False) -> float:
    """Seconds for json.loads of every bundle (and, with ``validate``, fhir.resources validation of each
    of its resources) plus one executemany per table of the same rows."""
    con = sqlite3.connect(db)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    con.execute("CREATE TABLE payload (id INTEGER PRIMARY KEY, sha256 TEXT UNIQUE, content BLOB)")
    con.execute("CREATE TABLE prescription (id INTEGER PRIMARY KEY, number TEXT, version INT, content TEXT, UNIQUE(number, version))")
    con.execute("CREATE TABLE item (id INTEGER PRIMARY KEY, prescription TEXT, position INT, resource TEXT)")
    start = time.perf_counter()
    payloads, prescriptions, items = [], [], []
    for raw in bundles:
        data = json.loads(raw)
        if validate:
            for e in data["entry"]:
                resource = e["resource"]
                get_fhir_model_class(resource["resourceType"]).model_validate(resource)
        payloads.append((hashlib.sha256(raw).hexdigest(), raw))
        mrs = [e["resource"] for e in data["entry"] if e["resource"]["resourceType"] == "MedicationRequest"]
        number = mrs[0]["groupIdentifier"]["value"]
        prescriptions.append((number, 1, json.dumps(mrs)))
        items.extend((number, i, json.dumps(mr)) for i, mr in enumerate(mrs))
    with con:
        con.executemany("INSERT INTO payload (sha256, content) VALUES (?, ?)", payloads)
        con.executemany("INSERT INTO prescription (number, version, content) VALUES (?, ?, ?)", prescriptions)
        con.executemany("INSERT INTO item (prescription, position, resource) VALUES (?, ?, ?)", items)
    elapsed = time.perf_counter() - start
    con.close()
    return elapsed


def ours(bundles: list[bytes], folder: Path) -> tuple[float, int]:
    """Seconds for the workstation's own intake (``rxws ingest``'s path), and the worker processes it used."""
    env = {"RXWS_CONFIG_DIR": str(folder / "cfg"), "RXWS_DATA_DIR": str(folder / "data"),
           "RXWS_DATABASE_URL": f"sqlite:///{folder / 'bench.sqlite3'}"}
    ws = open_workstation(load_settings(env))
    try:
        start = time.perf_counter()
        items = ((raw, f"bench:{i}") for i, raw in enumerate(bundles))
        for report in ws.intake.ingest_many(items):
            if report.outcome != "stored":
                raise SystemExit(f"{report.source} was not stored: {report.quarantined}")
        return time.perf_counter() - start, ws.intake.workers_used
    finally:
        ws.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=10_000)
    args = parser.parse_args()
    bundles = generate(args.count)
    n = len(bundles)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    with tempfile.TemporaryDirectory() as tmp:
        t_floor = floor(bundles, Path(tmp) / "floor.sqlite3")
        t_valid = floor(bundles, Path(tmp) / "floor-validated.sqlite3", validate=True)
        t_ours, workers = ours(bundles, Path(tmp))
    floor_rate, valid_rate, rate = n / t_floor, n / t_valid, n / t_ours
    ratio, valid_ratio = t_ours / t_floor, t_ours / t_valid
    print(f"generated {n} prescriptions ({sum(map(len, bundles)) / n / 1024:.1f} KiB per bundle)")
    print(f"floor (json.loads + sqlite3 executemany): {t_floor:.2f} s")
    print(f"validated floor (json.loads + fhir.resources validation of each resource + executemany, "
          f"one process): {t_valid:.2f} s")
    print(f"rxws intake (decode, validate every resource with fhir.resources, resolve, store, audit): {t_ours:.2f} s")
    reading = (f"{workers} worker processes read while the main process wrote" if workers
               else "the main process read and wrote (no worker processes)")
    busy = f"; load average {load:.2f} before the run (run it alone)" if load is not None else ""
    print(f"  {reading}; {os.cpu_count()} CPUs{busy}")
    def verdict(ok: bool) -> str:
        return "met" if ok else "NOT met"
    print(f"intake {rate:,.0f} prescriptions/s | floor {floor_rate:,.0f}/s, ratio {ratio:.2f}x | "
          f"validated floor {valid_rate:,.0f}/s, ratio {valid_ratio:.2f}x "
          f"(targets: <=2x the validated floor {verdict(valid_ratio <= 2)}; >=1,000/s {verdict(rate >= 1000)}; "
          f"<=5x the floor {verdict(ratio <= 5)})")

if __name__ == "__main__":
    main()
