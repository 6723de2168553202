"""Moving HEAD: only the changed index entries and files, checked first, stat data kept.

Real repositories; `move_head` called directly on commits made with git, and through passes
whose own list of changes is compared with git's.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from reconciler.adapters import gitrepo
from reconciler.core.errors import RefusalError
from reconciler.loop import checkout as checkouts
from reconciler.loop import head_move
from tests.support import gitrepos as g
from tests.support.loops import marker


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return g.make_policy_repo(tmp_path / "repo")


def side_commit(repo: Path, edit: dict[str, str | None]) -> tuple[str, str]:
    """Commit `edit` (path: text, None deletes), then put HEAD, index and files back.

    Returns (old, new): the branch is at `old`, as a pass finds it before its move.
    """
    old = g.head(repo)
    for path, text in edit.items():
        target = repo / path
        if text is None:
            target.unlink()
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
    new = g.commit_all(repo, "side")
    g.git(repo, "reset", "-q", "--hard", old)
    return old, new


def move(repo: Path, new: str) -> None:
    head_move.move_head(checkouts.open_checkout(str(repo)), new, reason="test", intents=g.INTENTS)


@pytest.fixture(params=["few", "many"])
def route(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The HEAD move's two ways of writing: one `git checkout`, or the two for many files."""
    if request.param == "many":
        monkeypatch.setattr(head_move, "FEW_PATHS", 0)
    return str(request.param)


def git_commands(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The git subcommands run through `Git.run` from now on (`-c` settings skipped)."""
    seen: list[str] = []
    real = gitrepo.Git.run

    def run(self: gitrepo.Git, *args: str, **kwargs: Any) -> Any:
        words = list(args)
        while len(words) >= 2 and words[0] == "-c":
            words = words[2:]
        seen.append(words[0])
        return real(self, *args, **kwargs)

    monkeypatch.setattr(gitrepo.Git, "run", run)
    return seen


def test_a_move_writes_adds_and_deletes_and_leaves_index_and_stat_data_exact(
    repo: Path, route: str
) -> None:
    (repo / "policies" / "gone" / "deep").mkdir(parents=True)
    (repo / "policies" / "gone" / "deep" / "x.txt").write_text("x\n")
    (repo / "tool.sh").write_text("#!/bin/sh\n")
    old = g.commit_all(repo, "more files")
    (repo / "policies" / "gone" / "deep" / "x.txt").unlink()
    (repo / "policies" / "new" / "folder").mkdir(parents=True)
    (repo / "policies" / "new" / "folder" / "y.txt").write_text("y\n")
    (repo / g.REGISTRY).write_text((repo / g.REGISTRY).read_text() + "# edited\n")
    os.chmod(repo / "tool.sh", 0o755)
    new = g.commit_all(repo, "side")
    g.git(repo, "reset", "-q", "--hard", old)
    assert not os.access(repo / "tool.sh", os.X_OK)

    move(repo, new)

    assert g.head(repo) == new
    assert not (repo / "policies" / "gone").exists()  # emptied folders go, as with git
    assert (repo / "policies/new/folder/y.txt").read_text() == "y\n"
    assert (repo / g.REGISTRY).read_text().endswith("# edited\n")
    assert os.access(repo / "tool.sh", os.X_OK)
    assert g.git(repo, "diff-index", "--cached", "HEAD").strip() == ""
    # No refresh: the index holds the written files' stat data, so plumbing sees them clean
    # (entries without it would be hashed again by every later `git status`).
    assert g.git(repo, "diff-files").strip() == ""
    assert g.status(repo) == ""
    assert not marker(repo).exists()


def test_a_move_of_a_few_files_writes_the_index_once_and_of_many_by_two_processes(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each index write rewrites the whole index file: a few files take one `git checkout`.

    Many files take `update-index` and `checkout-index`, whose cost grows with the files
    only (`checkout`'s pathspec is matched against every index entry).
    """
    few: dict[str, str | None] = {
        f"policies/few/{n}.txt": f"{n}\n" for n in range(head_move.FEW_PATHS)
    }
    old, new = side_commit(repo, few)
    seen = git_commands(monkeypatch)
    move(repo, new)
    index_writers = [
        name for name in seen if name in ("checkout", "update-index", "checkout-index")
    ]
    assert index_writers == ["checkout"]
    assert g.status(repo) == "" and g.git(repo, "diff-files").strip() == ""

    many: dict[str, str | None] = {
        f"policies/many/{n}.txt": f"{n}\n" for n in range(head_move.FEW_PATHS + 1)
    }
    _, newer = side_commit(repo, many)
    seen.clear()
    move(repo, newer)
    index_writers = [
        name for name in seen if name in ("checkout", "update-index", "checkout-index")
    ]
    assert index_writers == ["update-index", "checkout-index"]
    assert g.status(repo) == "" and g.git(repo, "diff-files").strip() == ""
    assert (repo / "policies/many/0.txt").read_text() == "0\n"


def test_a_deletion_git_checkout_refuses_is_done_the_other_way(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file the move deletes whose deletion was already staged matches nothing for
    `git checkout`; it refuses before writing, and the two-process way does the move."""
    (repo / "policies" / "old.txt").write_text("old\n")
    g.commit_all(repo, "a file to delete")
    old, new = side_commit(repo, {"policies/old.txt": None, "policies/added.txt": "added\n"})
    g.git(repo, "rm", "-q", "--cached", "policies/old.txt")
    seen = git_commands(monkeypatch)

    move(repo, new)

    assert [name for name in seen if name in ("checkout", "update-index", "checkout-index")] == [
        "checkout", "update-index", "checkout-index",
    ]  # fmt: skip
    assert g.head(repo) == new
    assert not (repo / "policies" / "old.txt").exists()
    assert (repo / "policies" / "added.txt").read_text() == "added\n"
    assert g.status(repo) == ""


def test_a_move_runs_no_hook_of_the_checkout(repo: Path) -> None:
    """`git checkout -- <paths>` would run `post-checkout`; the move runs no hook."""
    ran = repo / "hook-ran"
    hook = repo / ".git" / "hooks" / "post-checkout"
    hook.write_text(f"#!/bin/sh\ntouch {ran}\n")
    hook.chmod(0o755)
    old, new = side_commit(repo, {"policies/added.txt": "added\n"})

    move(repo, new)

    assert (repo / "policies" / "added.txt").read_text() == "added\n"
    assert not ran.exists()
    g.git(repo, "checkout", "-q", old, "--", "policies")
    assert ran.exists()  # the hook would have run


def test_a_file_edited_since_refuses_the_move_puts_the_branch_back_and_writes_nothing(
    repo: Path,
) -> None:
    registry = (repo / g.REGISTRY).read_text()
    old, new = side_commit(
        repo, {"policies/added.txt": "added\n", g.REGISTRY: registry + "# ours\n"}
    )
    (repo / g.REGISTRY).write_text(registry + "# someone else's edit\n")

    with pytest.raises(RefusalError) as caught:
        move(repo, new)

    assert caught.value.reason == "worktree_dirty"
    assert g.REGISTRY in caught.value.message
    assert g.head(repo) == old
    assert (repo / g.REGISTRY).read_text() == registry + "# someone else's edit\n"
    assert not (repo / "policies" / "added.txt").exists()  # checked before any write
    assert not marker(repo).exists()


def test_an_untracked_file_in_the_way_of_an_added_one_refuses_the_move(repo: Path) -> None:
    old, new = side_commit(repo, {"policies/added.txt": "added\n"})
    (repo / "policies" / "added.txt").write_text("an operator's file\n")

    with pytest.raises(RefusalError) as caught:
        move(repo, new)

    assert caught.value.reason == "worktree_dirty"
    assert g.head(repo) == old
    assert (repo / "policies" / "added.txt").read_text() == "an operator's file\n"


def test_a_file_already_at_its_new_content_is_accepted(repo: Path) -> None:
    old, new = side_commit(repo, {"policies/added.txt": "added\n"})
    (repo / "policies" / "added.txt").write_text("added\n")

    move(repo, new)

    assert g.head(repo) == new
    assert g.status(repo) == ""


def test_a_pass_names_exactly_the_changes_git_finds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pass's own list (no `git diff-tree`) equals git's, rotation and moves included."""
    repo = g.make_policy_repo(
        tmp_path / "repo", settings="telemetryRotateBytes: 2048\n", paced=False
    )
    g.add_intents(repo, {"t1.yaml": {"step": 5}, "t2.yaml": {"step": 500}})  # committed
    g.write_intent(repo, "u1.yaml", step=5)  # untracked
    g.write_intent(repo, "u2.yaml", intent="rollback")
    seen: list[tuple[str, str, list[head_move.TreeChange]]] = []
    real = head_move.move_head

    def spy(checkout: checkouts.Checkout, new: str, *args: Any, **kwargs: Any) -> Any:
        seen.append((checkout.head, new, list(kwargs["changes"])))
        return real(checkout, new, *args, **kwargs)

    monkeypatch.setattr(head_move, "move_head", spy)

    report = g.once(repo)

    assert {status for _, status in g.statuses(report)} == {"applied", "rejected"}
    [(old, new, changes)] = seen
    found = head_move.tree_changes(checkouts.open_checkout(str(repo)), old, new)
    assert sorted(changes) == sorted(found)
    assert any(change.path.endswith(".jsonl") and change.old is None for change in changes)
    assert g.status(repo) == ""
    assert g.git(repo, "diff-files").strip() == ""


def test_a_pass_writes_one_pack_and_merges_the_small_ones_when_they_pile_up(
    tmp_path: Path,
) -> None:
    repo = g.make_policy_repo(tmp_path / "repo", paced=False)
    g.git(repo, "config", "gc.auto", "0")  # only the pass merges packs here
    packs = repo / ".git" / "objects" / "pack"

    def count() -> int:
        return len(list(packs.glob("*.pack")))

    g.write_intent(repo, "first.yaml", step=5)
    g.once(repo)
    assert count() == 1  # the pass's objects as one pack, not unpacked loose
    for number in range(gitrepo.PACK_LIMIT):
        (repo / "notes.txt").write_text(f"{number}\n")
        g.commit_all(repo, f"note {number}")
        g.git(repo, "repack", "-q")  # one more pack
    assert count() == gitrepo.PACK_LIMIT + 1

    g.write_intent(repo, "second.yaml", step=5)
    report = g.once(repo)

    assert g.statuses(report) == [("second.yaml", "applied")]
    assert count() <= 2  # `repack --geometric`: the small packs rolled up
    assert g.status(repo) == ""
    g.git(repo, "fsck", "--no-progress", "--connectivity-only")


@pytest.mark.parametrize(
    "setup",
    [
        lambda repo: g.git(repo, "config", "core.autocrlf", "true"),
        lambda repo: (repo / ".gitattributes").write_text("* text=auto eol=crlf\n"),
    ],
    ids=["autocrlf", "gitattributes-eol-crlf"],
)
def test_a_checkout_that_converts_line_endings_still_moves(tmp_path: Path, setup: Any) -> None:
    repo = g.make_policy_repo(tmp_path / "repo", paced=False)
    setup(repo)
    g.git(repo, "add", "-A")
    g.git(repo, "commit", "-q", "--allow-empty", "-m", "line endings")
    for path in (repo / "policies").rglob("*"):
        if path.is_file():
            path.unlink()
    g.git(repo, "checkout", "--", ".")  # the files as this checkout writes them: CRLF
    assert b"\r\n" in (repo / g.REGISTRY).read_bytes()
    assert g.status(repo) == ""
    g.add_intents(repo, {"a.yaml": {"step": 5}})

    report = g.once(repo)

    assert g.statuses(report) == [("a.yaml", "applied")]
    assert g.canary(repo) == 30
    assert g.status(repo) == ""


@pytest.mark.parametrize("committed", [False, True])
def test_a_file_where_applied_must_be_a_folder_refuses_the_pass_and_is_kept(
    tmp_path: Path, committed: bool
) -> None:
    repo = g.make_policy_repo(tmp_path / "repo", paced=False)
    in_the_way = repo / g.INTENTS / "applied"
    if in_the_way.exists():
        for child in in_the_way.iterdir():
            child.unlink()
        in_the_way.rmdir()
    in_the_way.parent.mkdir(parents=True, exist_ok=True)
    in_the_way.write_text("an operator's notes\n")
    if committed:
        g.commit_all(repo, "a file named applied")
        in_the_way.write_text("an operator's notes, edited\n")
    g.add_intents(repo, {"a.yaml": {"step": 5}})
    before = g.head(repo)

    with pytest.raises(RefusalError) as caught:
        g.once(repo)

    assert caught.value.reason == "worktree_dirty"
    assert g.head(repo) == before
    assert in_the_way.read_text().startswith("an operator's notes")
    assert (repo / g.INTENTS / "a.yaml").exists()


def test_a_staged_file_in_applied_is_never_overwritten(tmp_path: Path) -> None:
    repo = g.make_policy_repo(tmp_path / "repo", paced=False)
    g.add_intents(repo, {"a.yaml": {"step": 5}})
    staged = repo / g.INTENTS / "applied" / "a.yaml"
    staged.parent.mkdir(parents=True, exist_ok=True)
    staged.write_text("staged by hand\n")
    g.git(repo, "add", str(staged))
    staged.unlink()  # in the index only

    report = g.once(repo)

    assert g.statuses(report) == [("a.yaml", "applied")]
    assert g.git(repo, "show", f":{g.INTENTS}/applied/a.yaml").strip() == "staged by hand"
    assert (repo / g.INTENTS / "applied" / "a.2.yaml").exists()


@pytest.mark.parametrize("folder", ["1:q", "0:x", "q"])
def test_an_intents_folder_named_like_an_index_stage_still_keeps_processed_names(
    tmp_path: Path, folder: str
) -> None:
    settings = f'intentsDir: "{folder}"\n' + g.UNPACED
    repo = g.make_policy_repo(tmp_path / "repo", settings=settings)
    g.write_intent(repo, "a.yaml", folder=folder, step=500)  # rejected
    g.commit_all(repo, "intent")
    g.once(repo)
    done = repo / folder / "rejected" / "a.yaml"
    before = g.git(repo, "rev-parse", f"HEAD:{folder}/rejected/a.yaml")
    done.unlink()  # on disk only: still in the index and HEAD
    g.write_intent(repo, "a.yaml", folder=folder, step=501, idempotencyKey="again")

    g.once(repo)

    assert g.git(repo, "rev-parse", f"HEAD:{folder}/rejected/a.yaml") == before
    assert (repo / folder / "rejected" / "a.2.yaml").exists()


def test_a_path_git_would_unquote_is_hashed_as_itself(tmp_path: Path) -> None:
    repo = g.make_policy_repo(tmp_path / "repo", paced=False)
    (repo / "p").write_text("one\n")
    (repo / '"p"').mkdir()
    (repo / '"p"' / "x").write_text("one\n")
    g.git(repo, "config", "core.autocrlf", "true")
    old = g.commit_all(repo, "files")
    (repo / '"p"' / "x").write_text("edited\r\n")  # bytes differ: git's hash is asked
    (repo / "p").write_text("two\n")
    new = g.commit_all(repo, "p changes")
    g.git(repo, "reset", "-q", "--hard", old)
    (repo / '"p"' / "x").write_text("edited by hand\r\n")

    changes = head_move.tree_changes(checkouts.open_checkout(str(repo)), old, new)
    assert [change.path for change in changes] == ['"p"/x', "p"]
    with pytest.raises(RefusalError) as caught:
        move(repo, new)

    assert caught.value.reason == "worktree_dirty"
    assert (repo / '"p"' / "x").read_bytes() == b"edited by hand\r\n"


def test_a_checkout_that_fails_after_writing_some_files_is_finished_the_other_way(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """git checkout can write some files, then fail on one (here its smudge filter, once).

    The files are checked again (each at its content before or after) and the two-process
    way finishes the move.
    """
    flag = tmp_path / "failed-once"
    script = tmp_path / "smudge.sh"
    script.write_text(f"#!/bin/sh\nif [ ! -e {flag} ]; then touch {flag}; exit 1; fi\nexec cat\n")
    script.chmod(0o755)
    g.git(repo, "config", "filter.once.smudge", str(script))
    g.git(repo, "config", "filter.once.clean", "cat")
    g.git(repo, "config", "filter.once.required", "true")
    (repo / ".gitattributes").write_text("policies/z.dat filter=once\n")
    g.commit_all(repo, "attributes")
    registry = (repo / g.REGISTRY).read_text()
    old, new = side_commit(repo, {g.REGISTRY: registry + "# new\n", "policies/z.dat": "z\n"})
    seen = git_commands(monkeypatch)

    move(repo, new)

    assert flag.exists()  # the checkout did fail
    assert [name for name in seen if name in ("checkout", "update-index", "checkout-index")] == [
        "checkout", "update-index", "checkout-index",
    ]  # fmt: skip
    assert g.head(repo) == new
    assert (repo / g.REGISTRY).read_text() == registry + "# new\n"
    assert (repo / "policies" / "z.dat").read_text() == "z\n"
    assert g.status(repo) == ""
    assert not marker(repo).exists()


@pytest.mark.usefixtures("route")
def test_a_file_deleted_through_a_symlinked_folder_is_refused_and_the_target_kept(
    repo: Path, tmp_path: Path
) -> None:
    """`policies/gone` a symlink to a folder elsewhere: deleting `policies/gone/x.txt` would
    delete the file outside the repository. Nothing is read or deleted there."""
    (repo / "policies" / "gone").mkdir()
    (repo / "policies" / "gone" / "x.txt").write_text("x\n")
    g.commit_all(repo, "a file to delete")
    old, new = side_commit(repo, {"policies/gone/x.txt": None})
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x.txt").write_text("x\n")  # what the move would delete
    for path in (repo / "policies" / "gone").iterdir():
        path.unlink()
    (repo / "policies" / "gone").rmdir()
    (repo / "policies" / "gone").symlink_to(outside)

    with pytest.raises(RefusalError) as caught:
        move(repo, new)

    assert caught.value.reason == "worktree_dirty"
    assert "policies/gone is a symlink" in caught.value.message
    assert (outside / "x.txt").read_text() == "x\n"
    assert g.head(repo) == old
