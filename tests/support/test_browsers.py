"""Without a browser the status page's test is skipped with a clear message, but fails in CI."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import browsers


@pytest.fixture
def no_browser(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("shutil.which", lambda _name: None)


@pytest.mark.usefixtures("no_browser")
def test_a_missing_browser_skips_with_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="needs chromium: apt-get install -y chromium"):
        browsers.chromium(tmp_path).__enter__()


@pytest.mark.usefixtures("no_browser")
def test_a_missing_browser_fails_in_ci(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "1")
    with pytest.raises(pytest.fail.Exception, match="a browser test never skips in CI"):
        browsers.chromium(tmp_path).__enter__()
