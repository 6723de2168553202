"""One `git cat-file --batch` process: objects read one by one, or thousands pipelined."""

from __future__ import annotations

from pathlib import Path

from reconciler.adapters.gitrepo import CatFile, Git
from tests.support import gitrepos as g


def test_read_all_answers_each_name_in_order_missing_ones_as_none(tmp_path: Path) -> None:
    repo = g.make_policy_repo(tmp_path / "repo")
    commits = []
    for number in range(300):
        (repo / "README.md").write_text(f"{number}\n" * 200)  # answers larger than a pipe buffer
        commits.append(g.commit_all(repo, f"c{number}"))
    names = [*commits, "no-such-object", f"{commits[0]}:README.md", "HEAD:README.md"]
    with CatFile(Git(str(repo))) as objects:
        found = objects.read_all(names)
        assert objects.read("HEAD:README.md") == found[-1]  # the process still answers after
    assert [kind for kind, _ in filter(None, found)] == ["commit"] * 300 + ["blob", "blob"]
    assert found[300] is None
    assert found[301] == ("blob", b"0\n" * 200)
    assert all(data.startswith(b"tree ") for _, data in filter(None, found[:300]))
