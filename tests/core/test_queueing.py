"""The one rule for what in the intents folder is an intent, and why the rest is ignored."""

from __future__ import annotations

import pytest

from reconciler.core.queueing import classify_entry, ignored_entry, ignored_json
from reconciler.core.reasons import ReasonCode

FOLDER = "policies/intents"


@pytest.mark.parametrize(
    ("relative", "is_folder", "kind", "reason"),
    [
        ("20261124T0930Z-expand.yaml", False, "intent", None),
        ("rollback.yml", False, "intent", None),
        ("UPPER.YAML", False, "intent", None),
        ("bad name.yaml", False, "intent", None),  # an intent, rejected for its name
        ("applied", True, "expected", None),
        ("rejected", True, "expected", None),
        (".gitkeep", False, "expected", None),
        ("nested", True, "walk", None),
        ("nested/more", True, "walk", None),
        (".hidden.yaml", False, "ignored", ReasonCode.IGNORED_HIDDEN),
        (".git", True, "ignored", ReasonCode.IGNORED_HIDDEN),
        ("x.yaml.bak", False, "ignored", ReasonCode.IGNORED_NOT_YAML_NAME),
        ("x.json", False, "ignored", ReasonCode.IGNORED_NOT_YAML_NAME),
        ("README.md", False, "ignored", ReasonCode.IGNORED_NOT_YAML_NAME),
        ("applied", False, "ignored", ReasonCode.IGNORED_NOT_YAML_NAME),
        ("dir.yaml", True, "ignored", ReasonCode.IGNORED_FOLDER),
        ("nested/deep.yaml", False, "ignored", ReasonCode.IGNORED_IN_SUBFOLDER),
        ("nested/.hidden.yaml", False, "ignored", ReasonCode.IGNORED_IN_SUBFOLDER),
    ],
)
def test_classify_entry(relative: str, is_folder: bool, kind: str, reason: object) -> None:
    verdict = classify_entry(FOLDER, relative, is_folder=is_folder)

    assert (verdict.kind, verdict.reason) == (kind, reason)
    assert bool(verdict.why) == (kind == "ignored")


def test_an_ignored_folder_is_reported_with_a_trailing_slash_and_as_json() -> None:
    verdict = classify_entry(FOLDER, "dir.yaml", is_folder=True)

    item = ignored_entry(FOLDER, "dir.yaml", verdict, is_folder=True)

    assert ignored_json(item) == {
        "path": "policies/intents/dir.yaml/",
        "reason": "ignored_folder",
        "why": "a folder, not a file: only files are intents",
    }


def test_a_name_that_is_not_utf8_is_reported_as_text() -> None:
    name = b"x\xff.bak".decode("utf-8", "surrogateescape")
    verdict = classify_entry(FOLDER, name, is_folder=False)

    shown = ignored_json(ignored_entry(FOLDER, name, verdict, is_folder=False))

    assert shown["path"] == "policies/intents/x\ufffd.bak"
