"""`load_guards` carries a fleet's upstream gate, also when no other guard is on."""

from __future__ import annotations

from pathlib import Path

from reconciler.core.guard_settings import OFF
from reconciler.core.upstream import Requirement, UpstreamFacts, UpstreamGate
from reconciler.inputs import guarding, layouts
from tests.support.fleet import write_registry


def test_an_upstream_gate_alone_keeps_the_guards_and_is_not_read(tmp_path: Path) -> None:
    repo = tmp_path / "bash"
    write_registry(repo, canary=10)
    layout = layouts.resolve_layout(str(repo))
    assert guarding.load_guards(layout, records=None) is None  # every guard off: nothing to compute
    calls: list[int] = []

    def read() -> UpstreamFacts:
        calls.append(1)
        return UpstreamFacts(100, False, (), None)

    gate = UpstreamGate(Requirement("staging"), read)
    found = guarding.load_guards(layout, records=None, upstream=gate)
    assert found is not None
    assert (found.settings, found.problem, found.upstream) == (OFF, None, gate)
    assert calls == []


def test_invalid_guards_keep_the_upstream_gate(tmp_path: Path) -> None:
    repo = tmp_path / "bash"
    write_registry(repo, canary=10)
    (repo / "reconciler.yaml").write_text("guards:\n  maxExpandStep: 0\n")
    layout = layouts.resolve_layout(str(repo))
    gate = UpstreamGate(Requirement("staging"), lambda: UpstreamFacts(100, False, (), None))
    found = guarding.load_guards(layout, records=None, upstream=gate)
    assert found is not None and found.problem is not None and found.upstream is gate
