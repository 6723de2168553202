"""`reconcile apply`'s replay against inputs that cannot be read.

The bash tool replays a key (its step 15) before it looks at the registry (step 16), and so
does `apply` when the registry file is missing; a registry whose whole folder is gone must not
turn a legitimate retry into a refusal either.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from reconciler.core.errors import RefusalError
from reconciler.core.reasons import ReasonCode
from tests.support import fleet
from tests.support.applying import apply


def flags(tmp_path: Path) -> dict[str, str | None]:
    """The registry in its own folder; decision, state and telemetry in another."""
    registry = fleet.write_registry(tmp_path / "a")
    decision = fleet.write_decision(tmp_path, "promote", path=tmp_path / "b" / "decision.json")
    return {
        "registryFile": str(registry),
        "promotionStateFile": str(decision),
        "applyStateFile": str(tmp_path / "b" / "state.json"),
        "applyTelemetryFile": str(tmp_path / "b" / "telemetry.jsonl"),
    }


@pytest.mark.parametrize("gone", ["file", "folder"])
def test_a_key_applied_before_replays_when_the_registry_is_gone(tmp_path: Path, gone: str) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    paths = flags(tmp_path)
    first = apply(repo, expand_step="5", idempotency_key="k", paths=paths)
    registry = Path(str(paths["registryFile"]))
    if gone == "file":
        registry.unlink()
    else:
        shutil.rmtree(registry.parent)

    again = apply(repo, expand_step="5", idempotency_key="k", paths=paths)

    assert again.replayed
    assert again.record["traceId"] == first.record["traceId"]
    with pytest.raises(RefusalError) as caught:  # a new key still needs the registry
        apply(repo, expand_step="5", idempotency_key="new", paths=paths)
    assert caught.value.reason is ReasonCode.REGISTRY_MISSING
    assert not registry.parent.exists() or gone == "file"
