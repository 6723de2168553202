"""Intent files, good and bad, and the pre-commit hook that checks them.

Shared by tests/reports/test_validation_intents.py (`validate_intent_files` in-process) and
tests/e2e/test_validate_intents.py (`reconcile validate --intents` and the hook as processes).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from reconciler.core.intents import INTENT_LIMIT
from tests.support import gitrepos as g
from tests.support.gitrepos import ROOT

GOOD = {
    "expand.yaml": g.intent_text("expand", step=10),
    "resume.yml": g.intent_text("resume"),
    "rollback.yaml": g.intent_text("rollback", approval_ref="INC-9", idempotencyKey="inc-9"),
}


BAD: dict[str, tuple[str | bytes, list[str]]] = {
    "typo.yaml": (
        "intent: expand\nexpandStpe: 50\n" + g.intent_text("expand").split("\n", 1)[1],
        ["intent_unknown_field"],
    ),
    "no-governance.yaml": ("intent: rollback\n", ["intent_governance_missing"]),
    "past.yaml": (g.intent_text("rollback", review_by="2020-01-01T00:00:00Z"),
                  ["intent_review_by_past"]),
    "step.yaml": (g.intent_text("expand", step=150), ["intent_field_invalid"]),
    "not-yaml.yaml": ("intent: [expand\n", ["intent_yaml_invalid"]),
    "list.yaml": ("- intent: expand\n", ["intent_yaml_invalid"]),
    "alias.yaml": ("a: &a [1]\nb: *a\nintent: rollback\n", ["intent_alias_limit"]),
    "latin1.yaml": (g.intent_text("rollback").encode() + b"# caf\xe9\n", ["intent_not_utf8"]),
    "large.yaml": (g.intent_text("rollback") + "#" * INTENT_LIMIT + "\n", ["intent_too_large"]),
    "-dash.yaml": (g.intent_text("rollback"), ["intent_name_invalid"]),
    "bad name.yaml": (g.intent_text("rollback"), ["intent_name_invalid"]),
    "three-problems.yaml": ("intent: grow\nextra: 1\n", [
        "intent_field_invalid", "intent_governance_missing", "intent_unknown_field",
    ]),
}  # fmt: skip


def write(folder: Path, name: str, content: str | bytes) -> Path:
    path = folder / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def hook() -> dict[str, Any]:
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    (found,) = [item for item in hooks if item["id"] == "reconcile-validate-intents"]
    assert isinstance(found, dict)
    return found
