"""`reconcile --once` edits the operator's registry minimally: `git diff` of each apply commit
shows only the owned lines (canaryPercent, pause.manual, the five governance fields).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.support import gitrepos as g

ODD_YAML = """\
%YAML 1.2
---
# odd but valid: flow blocks, quoting, odd indentation, key order
fleetId: "fleet-odd"
schemaVersion: 'v1'
loops: [{loopId: loop-a, transport: local}, {loopId: loop-b, transport: local}]

policy:
    autonomous:
        governance: {actor: "ops-initial", approvalRef: 'CAB-100', rationale: "Initial: guarded", changedAt: 2026-11-01T09:00:00Z, reviewBy: "2027-12-31T00:00:00Z"}   # flow
        rollout:
            pause: {manual: false}   # flow pause
            canaryPercent:    25    # spaced


    mode:   guarded_auto   # last
...
"""  # noqa: E501

ODD_JSON = """\
{
    "schemaVersion" : "v1",  "fleetId": "fleet-json",
    "loops": [ {"loopId": "loop-a", "transport": "local"} ],
    "policy": {"mode": "guarded_auto",
        "autonomous": {
            "rollout": { "canaryPercent" : 25, "pause": {"manual":false} },
            "governance": {
                "actor": "ops-initial", "approvalRef": "CAB-100",
                "rationale": "Initial \\u00e9 guarded",
                "changedAt": "2026-11-01T09:00:00Z",
                "reviewBy": "2027-12-31T00:00:00Z",
                "ticket": "kept"
            }
        }
    }
}
"""

INTENTS = {
    "a.yaml": {"step": 10},
    "b.yaml": {"intent": "rollback", "actor": "bob", "approval_ref": "INC-1", "rationale": "stop"},
}


def diff_lines(repo: Path, sha: str, path: str) -> tuple[list[str], list[str]]:
    """The removed and added lines of `path` in one commit (`git diff -U0`)."""
    out = subprocess.run(
        ["git", "-C", str(repo), "diff", "--no-color", "-U0", f"{sha}^", sha, "--", path],
        capture_output=True,
        check=True,
    ).stdout.decode()
    lines = out.split("\n")  # not splitlines(): a CRLF file's lines keep their \r
    removed = [line[1:] for line in lines if line[:1] == "-" and line[:3] != "---"]
    added = [line[1:] for line in lines if line[:1] == "+" and line[:3] != "+++"]
    return removed, added


def repo_with_registry(tmp_path: Path, name: str, content: bytes) -> Path:
    repo = g.make_policy_repo(tmp_path / "repo")
    (repo / g.REGISTRY).unlink()
    (repo / "policies" / name).write_bytes(content)
    g.commit_all(repo, "operator's own registry")
    g.add_intents(repo, dict(INTENTS))  # type: ignore[arg-type]
    return repo


def test_example_yaml_registry_diff_shows_only_owned_lines(tmp_path: Path) -> None:
    repo = g.make_policy_repo(tmp_path / "repo")
    g.add_intents(repo, dict(INTENTS))  # type: ignore[arg-type]

    expand, rollback = g.once(repo).commits

    assert diff_lines(repo, expand, g.REGISTRY) == (
        [
            "      canaryPercent: 25     # share of loops in the canary cohort",
            "      actor: ops-initial",
            "      approvalRef: CAB-100",
            '      rationale: "Initial guarded rollout"',
            "      changedAt: 2026-11-01T09:00:00Z",
            "      reviewBy: 2027-12-31T00:00:00Z",
        ],
        [
            "      canaryPercent: 35     # share of loops in the canary cohort",
            "      actor: alice",
            "      approvalRef: CAB-123",
            '      rationale: "gates green for 7 days"',
            "      changedAt: 2026-11-24T12:00:00Z",
            "      reviewBy: 2099-01-01T00:00:00Z",
        ],
    )
    assert diff_lines(repo, rollback, g.REGISTRY) == (
        [
            "        manual: false       # true stops autonomous actions fleet-wide",
            "      actor: alice",
            "      approvalRef: CAB-123",
            '      rationale: "gates green for 7 days"',
        ],
        [
            "        manual: true        # true stops autonomous actions fleet-wide",
            "      actor: bob",
            "      approvalRef: INC-1",
            '      rationale: "stop"',
        ],
    )
    # Everything the operator owns survived byte for byte.
    example = (g.EXAMPLE / "registry.yaml").read_text().splitlines()
    final = (repo / g.REGISTRY).read_text().splitlines()
    assert len(example) == len(final)
    owned = ("canaryPercent:", "manual:", "actor:", "approvalRef:", "rationale:", "changedAt:")
    for old, new in zip(example, final, strict=True):
        if old != new:
            assert old.strip().startswith((*owned, "reviewBy:")), old


def test_odd_yaml_registry_keeps_its_flow_style_quoting_and_comments(tmp_path: Path) -> None:
    repo = repo_with_registry(tmp_path, "registry.yaml", ODD_YAML.encode())

    expand, rollback = g.once(repo).commits

    assert diff_lines(repo, expand, g.REGISTRY) == (
        [
            "        governance: {actor: \"ops-initial\", approvalRef: 'CAB-100', rationale: "
            '"Initial: guarded", changedAt: 2026-11-01T09:00:00Z, reviewBy: '
            '"2027-12-31T00:00:00Z"}   # flow',
            "            canaryPercent:    25    # spaced",
        ],
        [
            "        governance: {actor: \"alice\", approvalRef: 'CAB-123', rationale: "
            '"gates green for 7 days", changedAt: "2026-11-24T12:00:00Z", reviewBy: '
            '"2099-01-01T00:00:00Z"}   # flow',
            "            canaryPercent:    35    # spaced",
        ],
    )
    removed, added = diff_lines(repo, rollback, g.REGISTRY)
    assert removed[1:] == ["            pause: {manual: false}   # flow pause"]
    assert added[1:] == ["            pause: {manual: true}   # flow pause"]
    assert "actor: \"bob\", approvalRef: 'INC-1'" in added[0]
    assert g.status(repo) == ""


def test_crlf_and_bom_survive_and_only_owned_lines_change(tmp_path: Path) -> None:
    example = (g.EXAMPLE / "registry.yaml").read_text()
    content = b"\xef\xbb\xbf" + example.replace("\n", "\r\n").encode()
    repo = repo_with_registry(tmp_path, "registry.yaml", content)

    expand, _ = g.once(repo).commits

    final = (repo / g.REGISTRY).read_bytes()
    assert final.startswith(b"\xef\xbb\xbf")
    assert final.count(b"\r\n") == final.count(b"\n") == content.count(b"\n")
    removed, added = diff_lines(repo, expand, g.REGISTRY)
    assert len(removed) == len(added) == 6
    assert added[0] == "      canaryPercent: 35     # share of loops in the canary cohort\r"


def test_a_missing_pause_block_is_inserted_in_the_files_style(tmp_path: Path) -> None:
    example = (g.EXAMPLE / "registry.yaml").read_text()
    without = example.replace(
        "      pause:\n        manual: false       # true stops autonomous actions fleet-wide\n",
        "",
    )
    assert without != example
    repo = repo_with_registry(tmp_path, "registry.yaml", without.encode())

    expand, rollback = g.once(repo).commits

    # The expand does not materialise the default pause.manual: false.
    assert "pause:" not in g.show_file(repo, expand, g.REGISTRY)
    removed, added = diff_lines(repo, rollback, g.REGISTRY)
    assert "      pause:" in added and "        manual: true" in added
    assert not any("manual" in line for line in removed)


def test_json_registry_with_odd_formatting_changes_only_owned_values(tmp_path: Path) -> None:
    repo = repo_with_registry(tmp_path, "registry.json", ODD_JSON.encode())

    expand, rollback = g.once(repo).commits

    path = "policies/registry.json"
    assert diff_lines(repo, expand, path) == (
        [
            '            "rollout": { "canaryPercent" : 25, "pause": {"manual":false} },',
            '                "actor": "ops-initial", "approvalRef": "CAB-100",',
            '                "rationale": "Initial \\u00e9 guarded",',
            '                "changedAt": "2026-11-01T09:00:00Z",',
            '                "reviewBy": "2027-12-31T00:00:00Z",',
        ],
        [
            '            "rollout": { "canaryPercent" : 35, "pause": {"manual":false} },',
            '                "actor": "alice", "approvalRef": "CAB-123",',
            '                "rationale": "gates green for 7 days",',
            '                "changedAt": "2026-11-24T12:00:00Z",',
            '                "reviewBy": "2099-01-01T00:00:00Z",',
        ],
    )
    assert diff_lines(repo, rollback, path) == (
        [
            '            "rollout": { "canaryPercent" : 35, "pause": {"manual":false} },',
            '                "actor": "alice", "approvalRef": "CAB-123",',
            '                "rationale": "gates green for 7 days",',
        ],
        [
            '            "rollout": { "canaryPercent" : 35, "pause": {"manual":true} },',
            '                "actor": "bob", "approvalRef": "INC-1",',
            '                "rationale": "stop",',
        ],
    )
    doc = json.loads((repo / path).read_text())
    assert doc["policy"]["autonomous"]["governance"]["ticket"] == "kept"
    record = g.state(repo)
    assert record["files"]["registryFile"] == path
