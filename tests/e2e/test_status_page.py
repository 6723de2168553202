"""The status page in a real browser: headless Chromium on a running controller.

Loads `/` from `reconcile --watch`, checks the fleet row against `status --json`, merges an
intent and sees the row change without a reload, checks that a hostile actor renders as text,
and saves a screenshot under the test's temporary folder. Skipped without a browser, except
in CI (tests/support/browsers.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support import browsers
from tests.support import daemons as d

HOSTILE = '<img src=x onerror=window.__xss=1>"</td><script>window.__xss=2</script>'


def status_json(repo: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "reconciler", "status", "--repo", str(repo), "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


# Read in one script call: the page replaces its rows every poll, so elements go stale.
ROWS = """return Array.from(document.querySelectorAll(arguments[0])).map(
    tr => Array.from(tr.cells).map(td => [td.getAttribute('data-field'), td.textContent]));"""


def rows(driver: Any, selector: str = "table tr") -> list[list[list[str]]]:
    found: list[list[list[str]]] = driver.execute_script(ROWS, selector)
    return found


def fleet_row(driver: Any) -> dict[str, str]:
    [row] = rows(driver, "#fleets tbody tr")
    return dict((field, text) for field, text in row)


def expected_row(report: dict[str, Any]) -> dict[str, str]:
    posture, governance = report["posture"], report["governance"]
    decision = report["decision"]
    return {
        "fleet": posture["fleetId"],
        "canary": f"{posture['canaryPercent']}%",
        "state": "paused" if posture["manualPause"] else "running",
        "mode": posture["mode"],
        "decision": decision["decision"],
        "decisionTraceId": decision["traceId"],
        "decisionStale": "stale" if decision["stale"] else "fresh",
        "actor": governance["actor"],
        "approvalRef": governance["approvalRef"],
        "reviewBy": governance["reviewBy"],
        "pending": str(len(report["pending"])),
        "deferred": str(len(report["deferred"])),
    }


def wait_until(probe: Any, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


def test_the_page_follows_the_controller_live_and_shows_data_as_text(tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    repo = d.make_watched_repo(tmp_path / "repo")
    watcher = d.Watcher(repo, tmp_path / "daemon.log", d.watch_args())
    with d.watchers(watcher), browsers.chromium(tmp_path / "profile") as driver:
        watcher.start(ready=True)
        driver.get(f"http://127.0.0.1:{watcher.port}/")
        first = fleet_row(driver)
        assert {k: first[k] for k in expected_row(status_json(repo))} == expected_row(
            status_json(repo)
        )
        assert first["canary"] == "25%"
        driver.execute_script("window.__sameDocument = 'yes';")

        # Merge an intent whose actor and approval ref are markup.
        intent = d.intent_bytes(step=5, actor=json.dumps(HOSTILE), approval_ref='"CAB-1<b>x</b>"')
        d.drop_intent(repo, "20261124-expand.yaml", intent)
        wait_until(lambda: fleet_row(driver)["canary"] == "30%", "the row to show 30%")
        assert driver.execute_script("return window.__sameDocument;") == "yes"  # no reload

        row = fleet_row(driver)
        report = status_json(repo)
        assert {k: row[k] for k in expected_row(report)} == expected_row(report)
        assert row["actor"] == HOSTILE  # shown as the text it is
        assert row["approvalRef"] == "CAB-1<b>x</b>"
        history = [dict((f, t) for f, t in row) for row in rows(driver, "#history tbody tr")]
        assert history[0]["actor"] == HOSTILE
        assert history[0]["canary"] == "25 -> 30"
        assert driver.find_elements(By.TAG_NAME, "img") == []
        assert driver.find_elements(By.TAG_NAME, "b") == []
        assert len(driver.find_elements(By.TAG_NAME, "script")) == 1  # the page's own
        assert driver.execute_script("return window.__xss;") is None

        # The first view (the server's HTML) and the live one (the script's) agree.
        live_rows = rows(driver)
        driver.refresh()
        assert rows(driver) == live_rows
        time.sleep(2.5)  # one poll later: still the same texts
        assert rows(driver) == live_rows
        assert "live: updated" in driver.find_element(By.ID, "live").text

        # Nothing was blocked by the Content-Security-Policy, nothing failed (but the
        # browser's own favicon request: the page has none).
        logged = driver.get_log("browser")
        severe = [e for e in logged if e["level"] == "SEVERE" and "favicon" not in e["message"]]
        assert severe == []

        shot = tmp_path / "status-page.png"
        assert driver.save_screenshot(str(shot))
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert watcher.stop() == 0


def test_the_static_page_renders_without_javascript_in_the_browser(tmp_path: Path) -> None:
    repo = d.make_watched_repo(tmp_path / "repo")
    out = tmp_path / "site" / "index.html"
    subprocess.run(
        [sys.executable, "-m", "reconciler", "status", "--repo", str(repo), "--html", str(out)],
        check=True,
    )
    with browsers.chromium(tmp_path / "profile") as driver:
        driver.get(out.as_uri())
        row = fleet_row(driver)
        report = status_json(repo)
        assert {k: row[k] for k in expected_row(report)} == expected_row(report)
        assert driver.save_screenshot(str(tmp_path / "static-page.png"))


@pytest.fixture(autouse=True)
def _no_stray_display(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)


def fleet_rows(driver: Any) -> dict[str, dict[str, str]]:
    found = {}
    for row in rows(driver, "#fleets tbody tr"):
        cells = dict((field, text) for field, text in row)
        found[cells["fleet"]] = cells
    return found


def expected_fleet_row(fleet: dict[str, Any]) -> dict[str, str]:
    """A fleet's row as `status --json` of several fleets tells it (its folder's id)."""
    return dict(expected_row(fleet), fleet=fleet["fleet"])


def test_the_page_of_two_fleets_follows_each_fleet_live(tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    from tests.support import gitrepos as g
    from tests.support.fleets import intents, make_fleets_repo

    settings = (
        "guards:\n  decisionAfterChange: false\n"
        "fleets:\n  staging: {}\n  prod-eu:\n    after: staging\n"
        "    requires: {minCanary: 30, soak: 24h}\n"
    )
    repo = make_fleets_repo(tmp_path / "repo", settings=settings, generated_at=g.recent())
    watcher = d.Watcher(repo, tmp_path / "daemon.log", d.watch_args())
    with d.watchers(watcher), browsers.chromium(tmp_path / "profile") as driver:
        watcher.start(ready=True)
        driver.get(f"http://127.0.0.1:{watcher.port}/")
        report = status_json(repo)
        first = fleet_rows(driver)
        assert list(first) == ["staging", "prod-eu"]
        for fleet in report["fleets"]:
            want = expected_fleet_row(fleet)
            assert {k: first[fleet["fleet"]][k] for k in want} == want
        assert first["prod-eu"]["upstream"].startswith("waiting: upstream staging: at 25%")
        driver.execute_script("window.__sameDocument = 'yes';")

        # An intent merged into staging, its actor markup: only staging's row changes.
        intent = d.intent_bytes(step=5, actor=json.dumps(HOSTILE))
        d.drop_intent(repo, "001-expand.yaml", intent, intents("staging"))
        wait_until(lambda: fleet_rows(driver)["staging"]["canary"] == "30%", "staging's row at 30%")
        assert driver.execute_script("return window.__sameDocument;") == "yes"  # no reload
        wait_until(
            lambda: "held 30% unpaused since" in fleet_rows(driver)["prod-eu"]["upstream"],
            "prod-eu's row to show staging's soak",
        )
        now = fleet_rows(driver)
        report = status_json(repo)
        for fleet in report["fleets"]:
            want = expected_fleet_row(fleet)
            assert {k: now[fleet["fleet"]][k] for k in want} == want
        assert now["prod-eu"]["canary"] == "25%"
        assert now["staging"]["actor"] == HOSTILE  # the registry's governance, as text
        assert driver.find_elements(By.TAG_NAME, "img") == []
        assert driver.execute_script("return window.__xss;") is None

        live_rows = rows(driver)  # the first view (server HTML) and the live one agree
        driver.refresh()
        assert rows(driver) == live_rows
        shot = tmp_path / "status-page-fleets.png"
        assert driver.save_screenshot(str(shot))
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert watcher.stop() == 0
