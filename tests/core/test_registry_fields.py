"""Unknown keys under policy.autonomous are named (a typo must not pass unnoticed)."""

from __future__ import annotations

from reconciler.core.registry_fields import unknown_field_warnings
from tests.support.fleet import registry_doc


def test_a_valid_registry_has_no_unknown_fields() -> None:
    doc = registry_doc()
    doc["policy"]["autonomous"]["governance"]["reviewWindowDays"] = 30  # bash-tool derived
    doc["unrelated"] = {"anything": 1}  # outside policy.autonomous the schema is open
    assert unknown_field_warnings(doc) == []


def test_a_typo_in_the_rollout_block_is_named() -> None:
    doc = registry_doc()
    doc["policy"]["autonomous"]["rollout"]["canaryPrecent"] = 50
    doc["policy"]["autonomous"]["rollout"]["pause"]["manaul"] = True
    assert unknown_field_warnings(doc) == [
        "policy.autonomous.rollout.canaryPrecent is not a known field and is ignored (a typo?)",
        "policy.autonomous.rollout.pause.manaul is not a known field and is ignored (a typo?)",
    ]


def test_odd_shapes_give_no_warning_and_no_exception() -> None:
    assert unknown_field_warnings([1, 2]) == []
    assert unknown_field_warnings({"policy": {"autonomous": "x"}}) == []
