"""The rule registry and the evaluator: every rule runs, none may pass a prescription by failing."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from review_rules.model import Finding, Result, Severity, Snapshot

RULE_SET_VERSION = "2026.12-1"  # 2026.12: unreadable allergy and dispensing records block


@dataclass(frozen=True, slots=True)
class Hit:
    """A rule's verdict on one item (or the whole prescription when ``item`` is None)."""

    item: str | None = None
    evidence: tuple[str, ...] = ()
    detail_zh: str = ""
    detail_en: str = ""


RuleFunction = Callable[[Snapshot], Iterable[Hit]]


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    severity: Severity
    message_zh: str
    message_en: str
    citation: str
    check: RuleFunction
    override_reasons: tuple[str, ...] = ()
    reads: tuple[str, ...] = ()  # the FHIR resource types its facts come from: an unreadable one is its evidence

    @property
    def doc(self) -> str:
        return self.check.__doc__ or ""


REGISTRY: dict[str, Rule] = {}

# Reasons a pharmacist may pick when acknowledging a warning (free text is always allowed too).
DEFAULT_OVERRIDE_REASONS = (
    "已与开方医师确认 / confirmed with the prescriber",
    "患者长期稳定使用 / long-term stable use by the patient",
    "已告知患者风险并记录 / risk explained to the patient and recorded",
)


def rule(
    rule_id: str,
    severity: Severity,
    message_zh: str,
    message_en: str,
    citation: str,
    override_reasons: tuple[str, ...] = DEFAULT_OVERRIDE_REASONS,
    reads: tuple[str, ...] = (),
) -> Callable[[RuleFunction], RuleFunction]:
    """Register a rule function under its public id (ids are a contract: never rename one).

    ``reads`` names the FHIR resource types the rule's facts come from. When one of them arrived but could
    not be read, each of the rule's findings carries that as evidence ("Condition/x could not be read: …"),
    so the pharmacist sees why the fact is missing and can return the prescription as incomplete.
    """

    def register(fn: RuleFunction) -> RuleFunction:
        if rule_id in REGISTRY:
            raise ValueError(f"rule id {rule_id!r} registered twice")
        REGISTRY[rule_id] = Rule(rule_id, severity, message_zh, message_en, citation, fn,
                                 override_reasons if severity is Severity.WARN else (), reads)
        return fn

    return register


def run_rule(r: Rule, snapshot: Snapshot, severity: Severity | None = None) -> list[Finding]:
    """One rule's findings. A rule that raises has not decided: that blocks, and says why."""
    sev = severity or r.severity
    try:
        hits = list(r.check(snapshot))
        if not hits:
            return []
    except Exception as exc:  # fail closed: an undecided rule is a block, never a pass
        return [Finding(r.id, Severity.BLOCK, None,
                        f"{r.message_zh}：规则无法判定（{type(exc).__name__}），请人工核对",
                        f"{r.message_en}: the rule could not decide ({type(exc).__name__}); check by hand",
                        r.citation, (str(exc)[:300],))]
    unread = tuple(u.note for u in snapshot.unreadable_of(*r.reads)) if r.reads else ()
    return [
        Finding(r.id, sev, h.item,
                r.message_zh + (f"：{h.detail_zh}" if h.detail_zh else ""),
                r.message_en + (f": {h.detail_en}" if h.detail_en else ""),
                r.citation, (*h.evidence, *(n for n in unread if n not in h.evidence)),
                r.override_reasons if sev is Severity.WARN else ())
        for h in hits
    ]


def evaluate(snapshot: Snapshot) -> Result:
    """Judge one prescription. Never raises: if the engine itself fails, the result is 'not checked'."""
    try:
        settings = snapshot.settings
        overrides = dict(settings.severity)
        findings: list[Finding] = []
        for r in REGISTRY.values():
            if r.id in settings.disabled:
                continue
            findings.extend(run_rule(r, snapshot, overrides.get(r.id)))
        findings.sort(key=lambda f: (-f.severity.rank, f.rule_id, f.item or ""))
        return Result(tuple(findings), True, None, RULE_SET_VERSION)
    except Exception as exc:  # a review engine that answers "no problems" on error harms patients
        return Result((), False, f"{type(exc).__name__}: {exc}", RULE_SET_VERSION)
