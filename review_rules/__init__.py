"""The pure review-rules engine (处方审核规则): standard library only, no I/O, no clock."""

from review_rules import rules as _rules  # noqa: F401 — importing registers every rule
from review_rules.engine import REGISTRY, RULE_SET_VERSION, Rule, evaluate
from review_rules.model import Finding, Result, Severity, Snapshot

__all__ = ["REGISTRY", "RULE_SET_VERSION", "Finding", "Result", "Rule", "Severity", "Snapshot", "evaluate"]
