"""`loop.remote`: what an unreachable remote's refusal says (git's reason, not its boilerplate)."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.core.errors import RetryableError
from reconciler.loop import checkout as checkouts
from reconciler.loop import remote
from tests.support import gitrepos as g


@pytest.mark.parametrize("name", ["typo", "gone"])
def test_a_fetch_from_a_missing_remote_names_it_and_why(tmp_path: Path, name: str) -> None:
    repo = g.make_policy_repo(tmp_path / "repo")
    if name == "gone":
        g.git(repo, "remote", "add", "gone", str(tmp_path / "gone.git"))
    checkout = checkouts.open_checkout(str(repo))

    with pytest.raises(RetryableError) as caught:
        remote.fetch(checkout, name, "main")

    message = caught.value.message
    # git ends with "Please make sure you have the correct access rights\nand the repository
    # exists.": the last line alone said "cannot fetch main from typo: and the repository
    # exists."
    assert "and the repository exists" not in message
    assert "does not appear to be a git repository" in message
    assert "\n" not in message
