"""Unknown-field warnings for the registry (core layer), used by `reconcile validate`.

The bash tool's validator ignores unknown keys, and so does `validate_registry` (drop-in), but
its JSON Schema forbids them under `policy.autonomous`: a typo there (`canaryPrecent`) silently
means a default (a 100% canary). These warnings name such keys without failing validation.
"""

from __future__ import annotations

from collections.abc import Mapping

# Known keys of each block the upstream schema closes (additionalProperties: false), by path.
# `enabled` and `reviewWindowDays` are derived fields the bash tool itself writes.
KNOWN_KEYS: Mapping[tuple[str, ...], frozenset[str]] = {
    ("policy", "autonomous"): frozenset(
        {"allow", "thresholds", "safety", "governance", "rollout", "enabled"}
    ),
    ("policy", "autonomous", "allow"): frozenset({"categories", "intents"}),
    ("policy", "autonomous", "thresholds"): frozenset({"minSeverity", "minConfidence"}),
    ("policy", "autonomous", "safety"): frozenset(
        {"maxActionsPerRun", "maxActionsPerLoop", "cooldownSeconds", "killSwitch"}
    ),
    ("policy", "autonomous", "governance"): frozenset(
        {"actor", "approvalRef", "rationale", "changedAt", "reviewBy", "reviewWindowDays"}
    ),
    ("policy", "autonomous", "rollout"): frozenset(
        {"canaryPercent", "scope", "selector", "pause", "autoPause"}
    ),
    ("policy", "autonomous", "rollout", "scope"): frozenset({"loopIds"}),
    ("policy", "autonomous", "rollout", "selector"): frozenset({"salt"}),
    ("policy", "autonomous", "rollout", "pause"): frozenset({"manual"}),
    ("policy", "autonomous", "rollout", "autoPause"): frozenset(
        {
            "enabled",
            "lookbackExecutions",
            "minSampleSize",
            "ambiguityRateThreshold",
            "failureRateThreshold",
        }
    ),
}


def unknown_field_warnings(doc: object) -> list[str]:
    """Name every key the registry schema does not know under `policy.autonomous`."""
    warnings: list[str] = []
    for path, known in KNOWN_KEYS.items():
        block = value_at(doc, path)
        if not isinstance(block, dict):
            continue
        warnings.extend(
            f"{'.'.join((*path, str(key)))} is not a known field and is ignored (a typo?)"
            for key in block
            if key not in known
        )
    return warnings


def value_at(doc: object, path: tuple[str, ...]) -> object:
    """The value at `path` in a decoded document; None where a step is not a mapping."""
    for key in path:
        if not isinstance(doc, dict):
            return None
        doc = doc.get(key)
    return doc
