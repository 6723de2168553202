"""`reconcile verify` as a real process on real git histories: exit codes, findings, --json."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.core import audit_chain
from tests.support import gitrepos as g

COUNT = 4


def history(tmp_path: Path) -> Path:
    """A repository where the loop applied four expands, one pass each (clean)."""
    repo = g.make_policy_repo(tmp_path / "repo", paced=False)
    for number in range(COUNT):
        g.add_intents(repo, {f"e{number}.yaml": {"step": 5}})
        g.once(repo)
    return repo


def verify(repo: Path, *args: str) -> tuple[int, list[dict[str, object]]]:
    done = g.reconcile(repo, "verify", "--repo", str(repo), "--json", *args)
    assert done.returncode in (0, 4), done.stderr
    return done.returncode, json.loads(done.stdout)["findings"]


def kinds(findings: list[dict[str, object]]) -> set[tuple[object, object]]:
    return {(finding["kind"], finding["path"]) for finding in findings}


def test_a_clean_history_verifies_with_exit_0(tmp_path: Path) -> None:
    repo = history(tmp_path)
    done = g.reconcile(repo, "verify", "--repo", str(repo))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 finding(s)" in done.stdout
    assert len(g.records(repo)) == COUNT


def test_the_json_document_lists_counts_and_findings(tmp_path: Path) -> None:
    repo = history(tmp_path)
    g.write_intent(repo, "x.yaml")  # a new intent by a human is normal
    g.commit_all(repo, "add an intent")
    done = g.reconcile(repo, "verify", "--repo", str(repo), "--json")
    doc = json.loads(done.stdout)
    assert done.returncode == 0
    assert set(doc) == {"head", "since", "commits", "records", "findings"}
    assert doc["head"] == g.head(repo) and doc["since"] is None
    assert doc["records"] == COUNT and doc["findings"] == []


def test_a_registry_canary_changed_by_a_normal_commit_is_a_hand_edit(tmp_path: Path) -> None:
    repo = history(tmp_path)
    registry = repo / g.REGISTRY
    text = registry.read_text()
    registry.write_text(text.replace(f"canaryPercent: {g.canary(repo)}", "canaryPercent: 90", 1))
    sha = g.commit_all(repo, "tweak comments")
    code, findings = verify(repo)
    assert code == 4
    edit = [f for f in findings if f["kind"] == "hand_edit" and f["path"] == g.REGISTRY]
    assert len(edit) == 1
    assert edit[0]["commit"] == sha and "canaryPercent" in str(edit[0]["detail"])
    assert edit[0]["author"] == "Test Author <author@example.com>"
    assert edit[0]["committer"] == "Test Committer <committer@example.com>"


def test_a_non_owned_registry_change_is_fine(tmp_path: Path) -> None:
    repo = history(tmp_path)
    registry = repo / g.REGISTRY
    registry.write_text(registry.read_text() + "# a comment\n")
    g.commit_all(repo, "tweak comments")
    assert verify(repo) == (0, [])


@pytest.mark.parametrize("path", [g.STATE, g.INDEX], ids=["state", "index"])
def test_an_edited_state_or_index_file_is_a_hand_edit(tmp_path: Path, path: str) -> None:
    repo = history(tmp_path)
    (repo / path).write_text((repo / path).read_text().replace("e", "E", 1))
    sha = g.commit_all(repo, "fix")
    code, findings = verify(repo)
    assert code == 4
    assert ("hand_edit", path) in kinds(findings)
    assert all(f["commit"] == sha for f in findings if f["kind"] == "hand_edit")


def test_a_file_moved_in_applied_is_a_hand_edit(tmp_path: Path) -> None:
    repo = history(tmp_path)
    g.git(repo, "mv", f"{g.INTENTS}/applied/e1.yaml", f"{g.INTENTS}/applied/moved.yaml")
    g.commit_all(repo, "tidy")
    code, findings = verify(repo)
    assert code == 4
    assert ("hand_edit", f"{g.INTENTS}/applied/moved.yaml") in kinds(findings)
    assert ("hand_edit", f"{g.INTENTS}/applied/e1.yaml") in kinds(findings)


def rewrite_lines(repo: Path, change: object) -> str:
    telemetry = repo / g.TELEMETRY
    lines = telemetry.read_text().splitlines(keepends=True)
    assert callable(change)
    telemetry.write_text("".join(change(lines)))
    return g.commit_all(repo, "telemetry fix")


def test_an_edited_record_breaks_the_chain_at_its_line(tmp_path: Path) -> None:
    repo = history(tmp_path)

    def edit(lines: list[str]) -> list[str]:
        lines[1] = lines[1].replace('"actor":"alice"', '"actor":"mallory"')
        return lines

    sha = rewrite_lines(repo, edit)
    code, findings = verify(repo)
    broken = [f for f in findings if f["kind"] == "record_chain_broken"]
    assert code == 4
    assert [(f["path"], f["line"]) for f in broken] == [(g.TELEMETRY, 2)]
    assert broken[0]["commit"] == sha
    assert ("hand_edit", g.TELEMETRY) in kinds(findings)


def test_a_deleted_record_breaks_the_chain_where_it_was(tmp_path: Path) -> None:
    repo = history(tmp_path)
    rewrite_lines(repo, lambda lines: lines[:1] + lines[2:])
    code, findings = verify(repo)
    broken = [f for f in findings if f["kind"] == "record_chain_broken"]
    assert code == 4
    # The hash cannot tell "line 1 changed" from "the record after line 1 deleted".
    assert [f["line"] for f in broken] == [1]
    assert "deleted" in str(broken[0]["detail"])
    assert any(f["kind"] == "record_missing" for f in findings)


def test_reordered_records_break_the_chain_at_the_first_of_them(tmp_path: Path) -> None:
    repo = history(tmp_path)
    rewrite_lines(repo, lambda lines: [lines[0], lines[2], lines[1], *lines[3:]])
    code, findings = verify(repo)
    broken = [f for f in findings if f["kind"] == "record_chain_broken"]
    assert code == 4
    assert [(f["line"], str(f["detail"]).split(":")[0]) for f in broken] == [(2, "reordered")]


def test_an_inserted_record_breaks_the_chain_at_its_line(tmp_path: Path) -> None:
    repo = history(tmp_path)

    def insert(lines: list[str]) -> list[str]:
        record = json.loads(lines[2])
        record["prevHash"] = audit_chain.line_hash(lines[1].rstrip("\n").encode())
        record["idempotencyKey"] = "inserted"
        return [*lines[:2], json.dumps(record) + "\n", *lines[2:]]

    rewrite_lines(repo, insert)
    code, findings = verify(repo)
    broken = [f for f in findings if f["kind"] == "record_chain_broken"]
    assert code == 4
    assert [f["line"] for f in broken] == [3]
    assert str(broken[0]["detail"]).startswith("inserted")


def test_trailers_on_a_hand_made_commit_are_forged(tmp_path: Path) -> None:
    repo = history(tmp_path)
    (repo / "README.md").write_text("notes\n")
    g.git(repo, "add", "README.md")
    message = "expand fleet-a\n\nReconcile-Status: applied\nActor: alice\n"
    g.git(repo, "commit", "-q", "-m", message)
    code, findings = verify(repo)
    assert code == 4
    assert [f["kind"] for f in findings] == ["forged_trailers"]
    assert findings[0]["commit"] == g.head(repo)


def test_since_checks_only_the_commits_after_it(tmp_path: Path) -> None:
    repo = history(tmp_path)
    (repo / g.STATE).write_text((repo / g.STATE).read_text().replace("e", "E", 1))
    g.commit_all(repo, "old hand edit")
    verified = g.head(repo)
    g.add_intents(repo, {"late.yaml": {"step": 5}})
    g.once(repo)
    assert verify(repo, "--since", verified) == (0, [])
    code, findings = verify(repo)
    assert code == 4 and ("hand_edit", g.STATE) in kinds(findings)
    # A record tampered with after it is caught, linked to the record before it.
    rewrite_lines(repo, lambda lines: [*lines[:-2], lines[-2].replace("alice", "bob"), lines[-1]])
    code, findings = verify(repo, "--since", verified)
    assert code == 4
    assert ("record_chain_broken", g.TELEMETRY) in kinds(findings)


def test_a_since_that_names_no_commit_is_refused(tmp_path: Path) -> None:
    repo = history(tmp_path)
    done = g.reconcile(repo, "verify", "--repo", str(repo), "--since", "no-such-ref")
    assert done.returncode == 1
    assert "--since" in done.stderr


def test_old_records_without_prev_hash_are_accepted_up_to_the_first_chained_one(
    tmp_path: Path,
) -> None:
    repo = g.make_policy_repo(tmp_path / "repo", paced=False)
    telemetry = repo / g.TELEMETRY
    telemetry.parent.mkdir(parents=True)
    old = [
        {"schemaVersion": "v1", "status": "applied", "idempotencyKey": f"old{n}"} for n in (1, 2)
    ]
    telemetry.write_text("".join(json.dumps(record) + "\n" for record in old))
    g.commit_all(repo, "policies: the bash tool's telemetry")
    g.git(repo, "commit", "--amend", "-q", "-m", "initial")  # part of the baseline
    g.git(repo, "reset", "-q", "--soft", "HEAD~1")
    g.git(repo, "commit", "-q", "--amend", "-m", "policies: initial tree with old telemetry")
    g.add_intents(repo, {"new.yaml": {"step": 5}})
    g.once(repo)
    records = g.records(repo)
    assert "prevHash" not in records[0] and "prevHash" in records[2]
    assert verify(repo) == (0, [])
    # An old record inserted after the chain started is not accepted.
    lines = telemetry.read_text().splitlines(keepends=True)
    telemetry.write_text("".join([*lines, lines[0]]))
    g.commit_all(repo, "append")
    code, findings = verify(repo)
    assert ("record_chain_broken", g.TELEMETRY) in kinds(findings)


def test_a_merge_that_edits_owned_content_itself_is_a_hand_edit(tmp_path: Path) -> None:
    repo = history(tmp_path)
    g.git(repo, "checkout", "-q", "-b", "side")
    (repo / "README.md").write_text("side\n")
    g.commit_all(repo, "side: notes")
    g.git(repo, "checkout", "-q", "main")
    g.add_intents(repo, {"more.yaml": {"step": 5}})
    g.git(repo, "merge", "-q", "--no-ff", "--no-commit", "side")
    (repo / g.STATE).write_text((repo / g.STATE).read_text().replace("e", "E", 1))
    g.git(repo, "add", g.STATE)
    g.git(repo, "commit", "-q", "-m", "merge side (and a 'fix')")
    code, findings = verify(repo)
    assert code == 4
    assert [(f["kind"], f["path"], f["commit"]) for f in findings] == [
        ("hand_edit", g.STATE, g.head(repo))
    ]


def test_a_pull_style_merge_is_not_blamed_for_the_reconciler_commits_it_brings(
    tmp_path: Path,
) -> None:
    repo = history(tmp_path)
    g.git(repo, "checkout", "-q", "-b", "person", "HEAD~2")  # an old clone's work
    (repo / "README.md").write_text("notes\n")
    g.commit_all(repo, "notes")
    g.git(repo, "merge", "-q", "--no-ff", "-m", "pull main", "main")  # first parent: person
    assert verify(repo) == (0, [])


def test_a_reverted_hand_edit_is_listed_as_resolved_and_verify_exits_0(tmp_path: Path) -> None:
    repo = history(tmp_path)
    (repo / g.STATE).write_text((repo / g.STATE).read_text().replace("e", "E", 1))
    edit = g.commit_all(repo, "fix")
    g.git(repo, "revert", "--no-edit", "HEAD")
    code, findings = verify(repo)
    assert code == 0
    assert [(f["commit"], f["resolved"], f["resolvedBy"]) for f in findings] == [
        (edit, "reverted", g.head(repo)),
        (g.head(repo), "reverted", g.head(repo)),
    ]
    done = g.reconcile(repo, "verify", "--repo", str(repo))
    assert done.returncode == 0
    assert "[reverted by " in done.stdout and "0 finding(s), 2 resolved" in done.stdout


def test_each_finding_is_one_line_whatever_the_names_hold(tmp_path: Path) -> None:
    repo = history(tmp_path)
    (repo / g.STATE).write_text("{}\n")
    g.git(repo, "add", g.STATE)
    env = {**os.environ, "GIT_AUTHOR_NAME": "Eve\u2028Line\x1b[31m"}
    subprocess.run(["git", "commit", "-q", "-m", "x"], cwd=repo, env=env, check=True)
    done = g.reconcile(repo, "verify", "--repo", str(repo))
    assert done.returncode == 4
    lines = done.stdout.splitlines()
    assert len(lines) == 2 and lines[0].startswith("hand_edit ")
    assert "author Eve Line [31m <" in lines[0]


def test_the_json_document_is_utf8_for_a_file_name_that_is_not(tmp_path: Path) -> None:
    repo = history(tmp_path)
    folder = os.fsencode(repo / g.INTENTS / "applied")
    with open(os.path.join(folder, b"bad\xff\x1b[2J.yaml"), "wb") as handle:
        handle.write(b"x\n")
    g.commit_all(repo, "junk name")
    done = subprocess.run(
        [sys.executable, "-m", "reconciler", "verify", "--repo", str(repo), "--json"],
        capture_output=True,
        cwd=str(g.ROOT),
        env={**os.environ, "PYTHONPATH": str(g.ROOT)},
        check=False,
    )
    assert done.returncode == 4, done.stderr
    doc = json.loads(done.stdout.decode("utf-8"))
    assert [f["path"] for f in doc["findings"]] == [f"{g.INTENTS}/applied/bad\ufffd\x1b[2J.yaml"]
