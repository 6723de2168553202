"""`reconcile status --html FILE` in-process: the static page, written atomically."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from reconciler.cli import cli
from tests.support import gitrepos as g


def test_the_static_page_is_written_with_no_script(tmp_path: Path) -> None:
    repo = g.make_policy_repo(tmp_path / "repo")
    out = tmp_path / "site" / "index.html"
    result = CliRunner().invoke(cli, ["status", "--repo", str(repo), "--html", str(out)])
    assert result.exit_code == 0, result.output
    assert result.output == ""
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert '<td data-field="canary">25%</td>' in page
    assert "<script" not in page
    assert [p.name for p in out.parent.iterdir()] == ["index.html"]  # no temp file left


def test_outside_a_repository_nothing_is_written(tmp_path: Path) -> None:
    out = tmp_path / "index.html"
    result = CliRunner().invoke(cli, ["status", "--repo", str(tmp_path), "--html", str(out)])
    assert result.exit_code == 1
    assert not out.exists()
