"""Hostile and malformed files never crash an apply, and never write anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.core.errors import RefusalError
from tests.support import fleet
from tests.support.applying import apply

POLICIES_REGISTRY = Path("policies/registry.yaml")


def policies_repo(tmp_path: Path, registry: bytes | str) -> Path:
    repo = tmp_path / "repo"
    path = repo / POLICIES_REGISTRY
    path.parent.mkdir(parents=True)
    path.write_bytes(registry.encode() if isinstance(registry, str) else registry)
    fleet.write_decision(repo, "promote", path=repo / "policies" / "promotion" / "decision.json")
    return repo


def snapshot(repo: Path) -> dict[str, bytes]:
    return {str(p.relative_to(repo)): p.read_bytes() for p in repo.rglob("*") if p.is_file()}


BILLION_LAUGHS = "a: &a [x, x]\nb: &b [*a, *a]\nc: &c [*b, *b]\nd: [*c, *c]\n"


@pytest.mark.parametrize(
    ("registry", "reason", "detail"),
    [
        (BILLION_LAUGHS, "registry_parse_error", "alias"),
        (b"schemaVersion: v1\xff\n", "file_not_utf8", None),
        ("a: 1\na: 2\n", "registry_parse_error", 'duplicate key "a"'),
        ("[" * 5000 + "]" * 5000, "registry_parse_error", None),
        ("a: 1\n---\nb: 2\n", "registry_parse_error", None),
        (
            "just a string\n",
            "registry_invalid",
            "fleet registry must be a JSON object or YAML mapping",
        ),
        ("a: [unclosed\n", "registry_parse_error", None),
    ],
    ids=[
        "alias-bomb",
        "invalid-utf8",
        "duplicate-key",
        "deep-nesting",
        "two-documents",
        "scalar-document",
        "syntax",
    ],
)
def test_a_hostile_registry_is_refused_cleanly(
    tmp_path: Path, registry: str | bytes, reason: str, detail: str | None
) -> None:
    repo = policies_repo(tmp_path, registry)
    before = snapshot(repo)
    with pytest.raises(RefusalError) as caught:
        apply(repo, "rollback")
    assert caught.value.reason == reason
    if detail is not None:
        assert any(detail in line for line in caught.value.details)
    assert snapshot(repo) == before


def test_a_yaml_1_1_boolean_spelling_is_not_a_boolean(tmp_path: Path) -> None:
    # Issue 9: YAML 1.1 tools read `no` as false, we read text: refused as ambiguous (it was
    # registry_invalid, "must be boolean", before).
    text = (Path(__file__).parents[2] / "policies" / "registry.yaml").read_text()
    repo = policies_repo(tmp_path, text.replace("manual: false ", "manual: no    "))
    with pytest.raises(RefusalError) as caught:
        # Not a rollback: it writes `manual: true` over any value, so the field cannot block it.
        apply(repo, "expand")
    assert list(caught.value.details) == [
        "policy.autonomous.rollout.pause.manual must be boolean when present"
    ]


def test_a_symlinked_registry_is_refused(tmp_path: Path) -> None:
    repo = policies_repo(tmp_path, "x: 1\n")
    real = tmp_path / "elsewhere.yaml"
    real.write_text((Path(__file__).parents[2] / "policies" / "registry.yaml").read_text())
    (repo / POLICIES_REGISTRY).unlink()
    (repo / POLICIES_REGISTRY).symlink_to(real)
    with pytest.raises(RefusalError) as caught:
        apply(repo, "rollback")
    assert caught.value.reason == "file_not_regular"
    assert (repo / POLICIES_REGISTRY).is_symlink()


def test_a_huge_registry_is_refused_before_parsing(tmp_path: Path) -> None:
    repo = policies_repo(tmp_path, "# " + "x" * (5 * 1024 * 1024) + "\n")
    with pytest.raises(RefusalError) as caught:
        apply(repo, "rollback")
    assert caught.value.reason == "file_too_large"


def test_the_bundled_example_applies_with_a_byte_exact_minimal_diff(tmp_path: Path) -> None:
    original = (Path(__file__).parents[2] / "policies" / "registry.yaml").read_text()
    repo = policies_repo(tmp_path, original)
    apply(repo, "expand", expand_step="25", actor="alice", approval_ref="CAB-123",
          rationale="gates green")  # fmt: skip
    expected = (
        original.replace("canaryPercent: 25     #", "canaryPercent: 50     #")
        .replace("actor: ops-initial", "actor: alice")
        .replace("approvalRef: CAB-100", "approvalRef: CAB-123")
        .replace('rationale: "Initial guarded rollout"', 'rationale: "gates green"')
        .replace("changedAt: 2026-11-01T09:00:00Z", "changedAt: 2026-11-24T12:00:00Z")
        .replace("reviewBy: 2027-12-31T00:00:00Z", "reviewBy: 2099-01-01T00:00:00Z")
    )
    assert (repo / POLICIES_REGISTRY).read_text() == expected
