"""verify's record links against the real ancestry of the commit that appended the record."""

from __future__ import annotations

from pathlib import Path

from reconciler.reports.audit import audit
from tests.support import gitrepos as g
from tests.support.adopting import adopt


def applied_history(tmp_path: Path) -> Path:
    repo = g.make_policy_repo(tmp_path / "repo", paced=False)
    g.add_intents(repo, {"e0.yaml": {"step": 5}})
    g.once(repo)
    return repo


def side_commit(repo: Path, merged: bool) -> str:
    g.git(repo, "checkout", "-q", "-b", "side")
    (repo / "README.md").write_text("side\n")
    sha = g.commit_all(repo, "side work")
    g.git(repo, "checkout", "-q", "main")
    if merged:
        g.git(repo, "merge", "-q", "--no-ff", "-m", "merge side", "side")
    return sha


def links(repo: Path) -> list[tuple[str, str]]:
    return [(str(f.kind), f.detail) for f in audit(str(repo)).findings]


def test_a_base_commit_brought_in_by_a_merge_is_an_ancestor(tmp_path: Path) -> None:
    repo = applied_history(tmp_path)
    sha = side_commit(repo, merged=True)
    adopt(repo, base=sha)
    assert links(repo) == []


def test_a_base_commit_on_a_branch_never_merged_is_no_ancestor(tmp_path: Path) -> None:
    repo = applied_history(tmp_path)
    sha = side_commit(repo, merged=False)
    adopt(repo, base=sha)
    assert links(repo) == [
        ("record_link_broken", f"git.baseCommit {sha!r} is not an ancestor of the commit")
    ]


def test_a_base_commit_after_its_own_commit_is_no_ancestor(tmp_path: Path) -> None:
    repo = applied_history(tmp_path)
    adopt(repo, base=g.head(repo))
    g.git(repo, "commit", "-q", "--allow-empty", "-m", "later")
    later = g.head(repo)
    g.git(repo, "reset", "-q", "--hard", "HEAD~2")
    adopt(repo, base=later)  # names a commit that is not in its history at all
    assert [kind for kind, _ in links(repo)] == ["record_link_broken"]


def test_a_base_commit_that_names_no_commit_is_reported(tmp_path: Path) -> None:
    repo = applied_history(tmp_path)
    adopt(repo, base="1" * 40)
    assert links(repo) == [
        ("record_link_broken", f"git.baseCommit {'1' * 40!r} names no commit of this repository")
    ]


def test_a_sibling_listed_before_the_record_is_still_no_ancestor(tmp_path: Path) -> None:
    repo = applied_history(tmp_path)
    sha = side_commit(repo, merged=False)
    record = adopt(repo, base=sha)  # names a commit of a sibling branch
    g.git(repo, "checkout", "-q", "side")  # a pull-style merge: the side is the first parent
    g.git(repo, "merge", "-q", "--no-ff", "-m", "merge main into side", "main")
    g.git(repo, "branch", "-q", "-f", "main", "HEAD")
    g.git(repo, "checkout", "-q", "main")
    order = g.git(repo, "log", "--reverse", "--topo-order", "--format=%H").split()
    assert order.index(sha) < order.index(record)  # "listed before" is not "an ancestor"
    assert links(repo) == [
        ("record_link_broken", f"git.baseCommit {sha!r} is not an ancestor of the commit")
    ]
