"""The layer rules, checked on every test run: Qt only in ui/, review_rules/ on the standard library only,
and within workstation/ imports run one way: domain <- adapters <- services <- composition root."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grimp

REPO = Path(__file__).resolve().parents[2]


def test_import_linter_contracts_hold() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    proc = subprocess.run([str(lint), str(REPO / "pyproject.toml")], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Contracts: 6 kept, 0 broken." in proc.stdout


def test_review_rules_imports_nothing_but_the_standard_library() -> None:
    """import-linter forbids named packages; this closes the list: any non-stdlib import fails."""
    graph = grimp.build_graph("review_rules", include_external_packages=True)
    outside = {
        imported
        for module in graph.find_children("review_rules") | {"review_rules"}
        for imported in graph.find_modules_directly_imported_by(module)
        if not imported.startswith("review_rules")
    }
    not_stdlib = {m for m in outside if m.split(".")[0] not in sys.stdlib_module_names}
    assert not not_stdlib, f"review_rules imports outside the standard library: {sorted(not_stdlib)}"

