"""Every rule's docstring examples, harvested and run: a rule without examples fails this test."""

from __future__ import annotations

import re

import pytest

from review_rules import REGISTRY
from review_rules.engine import run_rule
from review_rules.examples import build, examples
from tests.support import SHARED

CASES = [
    pytest.param(rule_id, verdict, facts, id=f"{rule_id}:{verdict}:{' '.join(f'{k}={v}' for k, v in facts.items())}")
    for rule_id, r in REGISTRY.items()
    for verdict, facts in examples(r.doc)
]


@pytest.mark.parametrize(("rule_id", "verdict", "facts"), CASES)
def test_docstring_example(rule_id: str, verdict: str, facts: dict[str, object]) -> None:
    findings = run_rule(REGISTRY[rule_id], build(facts))
    if verdict == "fires":
        assert findings, f"{rule_id} should fire for {facts}"
        assert all(f.rule_id == rule_id for f in findings)
    else:
        assert not findings, f"{rule_id} should pass for {facts}: {[f.message_en for f in findings]}"


def test_every_rule_has_firing_and_passing_examples() -> None:
    for rule_id, r in REGISTRY.items():
        verdicts = {v for v, _ in examples(r.doc)}
        assert verdicts == {"fires", "passes"}, f"{rule_id} lacks {'fires' if 'fires' not in verdicts else 'passes'} examples"


def test_the_registry_is_exactly_the_public_rule_list() -> None:
    text = (SHARED / "reference" / "review-rules.md").read_text(encoding="utf-8")
    ids = re.findall(r"^\| `([a-z_]+\.[a-z_]+)` \| (block|warn) \|", text, re.MULTILINE)
    assert {i: s for i, s in ids} == {rid: r.severity.value for rid, r in REGISTRY.items()}
    for r in REGISTRY.values():
        assert r.message_zh and r.message_en and r.citation


def test_the_baseline_is_clean() -> None:
    from review_rules import evaluate

    result = evaluate(build({}))
    assert result.checked and result.findings == () and result.approvable
