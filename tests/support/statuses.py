"""The policy repository's governance deadline, as the `status` tests move it.

Shared by tests/reports/test_status.py (the report in-process) and tests/e2e/test_status.py
(the command as a real process).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from tests.support.gitrepos import REGISTRY

REVIEW_BY = "2027-12-31T00:00:00Z"


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def set_review_by(repo: Path, value: str | None) -> None:
    path = repo / REGISTRY
    text = path.read_text()
    line = f"      reviewBy: {REVIEW_BY}\n"
    assert line in text
    path.write_text(text.replace(line, f"      reviewBy: {value}\n" if value else "", 1))
