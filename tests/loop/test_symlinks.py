"""Issue 9: the loop never reads or writes through a symlink, committed or not.

A symlinked component of any path a pass reads or writes is refused before anything is
consumed: the intents stay pending, no commit is made, nothing is pushed and the host
file the link points at is never read, written or committed. The pass runs in-process
(`--once --push` as a real process: tests/e2e/test_loop_symlinks.py).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from reconciler.core.errors import RefusalError
from reconciler.inputs.fleet import PathFlags
from reconciler.reports import plan, status, validation
from tests.support import gitrepos as g
from tests.support.hostfiles import HOST_LINE, host_dir, link_folder


def refused_pass(repo: Path, **options: Any) -> RefusalError:
    head, pending = g.head(repo), g.pending(repo)
    with pytest.raises(RefusalError) as caught:
        g.once(repo, **options)
    assert (g.head(repo), g.pending(repo)) == (head, pending)
    return caught.value


def test_a_symlinked_folder_that_arrives_with_a_fast_forward_is_refused(tmp_path: Path) -> None:
    host = host_dir(tmp_path)
    seed = g.make_policy_repo(tmp_path / "seed")
    bare = g.make_remote(tmp_path, seed)
    ci = g.clone(bare, tmp_path / "ci")
    link_folder(seed, "policies/telemetry", host)
    g.commit_all(seed, "telemetry elsewhere")
    g.add_intents(seed, {"a.yaml": {"intent": "rollback"}})
    g.git(seed, "push", "-q", "origin", "main")
    remote_head = g.head(bare, "main")

    error = refused_pass_after_sync(ci)

    assert error.reason == "path_symlink"
    assert error.message.startswith("policies/telemetry is a symlink")
    assert (host / "promotion-apply.jsonl").read_bytes() == HOST_LINE
    assert g.head(bare, "main") == remote_head
    assert g.pending(ci) == ["a.yaml"]


def refused_pass_after_sync(repo: Path) -> RefusalError:
    with pytest.raises(RefusalError) as caught:
        g.once(repo, push=True)
    assert g.bot_commits(repo) == []
    return caught.value


@pytest.mark.parametrize(
    ("relative", "target"),
    [
        ("policies/telemetry", "../telemetry-real"),
        ("policies/state", "../state-real"),
        ("policies", "policies-real"),
    ],
    ids=["telemetry", "state", "policies"],
)
def test_a_committed_symlink_inside_the_repository_is_refused(
    tmp_path: Path, relative: str, target: str
) -> None:
    repo = g.make_policy_repo(tmp_path / "repo")
    real = (repo / relative).parent / target
    if (repo / relative).is_dir():
        shutil.move(repo / relative, real)
    else:
        real.mkdir(parents=True)
    link_folder(repo, relative, target)
    g.commit_all(repo, "a link")
    g.write_intent(repo, "a.yaml", intent="rollback")  # git adds nothing beyond a link

    error = refused_pass(repo)

    assert error.reason == "path_symlink"
    assert error.message.startswith(f"{relative} is a symlink")
    assert "No intent was consumed" in error.message


@pytest.mark.parametrize(
    ("relative", "outside"),
    [("policies/state", False), ("policies/telemetry", False), ("policies/intents/applied", True),
     ("policies/intents/rejected", True), ("policies/promotion/decision.json", True)],
    ids=["state-folder", "telemetry-folder", "applied", "rejected", "decision-file"],
)  # fmt: skip
def test_an_untracked_symlink_is_refused_even_on_an_idle_pass(
    tmp_path: Path, relative: str, outside: bool
) -> None:
    # (A layout folder linked out of the repository is `layout_path_outside_repo` first.)
    repo = g.make_policy_repo(tmp_path / "repo")
    host = host_dir(tmp_path) if outside else host_dir(repo / "elsewhere")
    if relative.endswith(".json"):
        (repo / relative).unlink()
        os.symlink(host / "promotion-apply.jsonl", repo / relative)
    else:
        link_folder(repo, relative, host)

    assert refused_pass(repo).reason == "path_symlink"  # idle: nothing pending
    g.add_intents(repo, {"a.yaml": {"intent": "rollback"}})
    assert refused_pass(repo).reason == "path_symlink"
    assert sorted(p.name for p in host.iterdir()) == ["promotion-apply.jsonl"]


def test_a_symlink_committed_but_checked_out_as_a_file_is_refused(tmp_path: Path) -> None:
    # core.symlinks=false (Windows, some CI file systems): git writes the link as a plain
    # file holding its target, so only the commit shows it is a symlink.
    repo = g.make_policy_repo(tmp_path / "repo")
    g.git(repo, "config", "core.symlinks", "false")
    blob = subprocess.run(
        ["git", "-C", str(repo), "hash-object", "-w", "--stdin"],
        input=b"/some/host/dir", capture_output=True, check=True,
    ).stdout.decode().strip()  # fmt: skip
    g.git(repo, "update-index", "--add", "--cacheinfo", f"120000,{blob},policies/state")
    g.git(repo, "commit", "-q", "-m", "state elsewhere")
    g.git(repo, "checkout", "--", "policies/state")
    assert (repo / "policies" / "state").is_file()
    g.add_intents(repo, {"a.yaml": {"intent": "rollback"}})

    error = refused_pass(repo)

    assert error.reason == "path_symlink"
    assert "policies/state is a symlink in commit" in error.message


def test_plan_status_and_validate_report_the_symlink_too(tmp_path: Path) -> None:
    repo = g.make_policy_repo(tmp_path / "repo")
    shutil.move(repo / "policies" / "promotion", repo / "policies" / "promotion-real")
    link_folder(repo, "policies/promotion", "promotion-real")
    base = g.commit_all(repo, "decision folder linked")
    g.git(repo, "switch", "-q", "-c", "branch")
    g.add_intents(repo, {"a.yaml": {"intent": "rollback"}})

    for run in (
        lambda: plan.make_plan(str(repo), base, now=lambda: g.FIXED),
        lambda: status.repo_status(str(repo), now=lambda: g.FIXED),
    ):
        with pytest.raises(RefusalError) as caught:
            run()
        assert caught.value.reason == "path_symlink"
    report = validation.validate_repo(str(repo), PathFlags(), now=lambda: g.FIXED)
    assert not report["ok"]
    assert report["paths"]["problems"] == ["policies/promotion is a symlink"]


def test_plan_refuses_a_symlink_committed_at_its_base(tmp_path: Path) -> None:
    repo = g.make_policy_repo(tmp_path / "repo")
    g.git(repo, "config", "core.symlinks", "false")
    blob = subprocess.run(
        ["git", "-C", str(repo), "hash-object", "-w", "--stdin"],
        input=b"/some/host/dir", capture_output=True, check=True,
    ).stdout.decode().strip()  # fmt: skip
    g.git(repo, "update-index", "--add", "--cacheinfo", f"120000,{blob},policies/telemetry")
    g.git(repo, "commit", "-q", "-m", "telemetry elsewhere")
    base = g.head(repo)
    g.git(repo, "switch", "-q", "-c", "branch")
    g.git(repo, "rm", "-q", "--cached", "policies/telemetry")
    g.git(repo, "commit", "-q", "-m", "link removed on the branch")
    g.add_intents(repo, {"a.yaml": {"intent": "rollback"}})

    with pytest.raises(RefusalError) as caught:
        plan.make_plan(str(repo), base, now=lambda: g.FIXED)

    assert caught.value.reason == "path_symlink"
    assert f"in commit {base[:12]}" in caught.value.message
