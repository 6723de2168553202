from __future__ import annotations

import difflib
import json
from typing import Literal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.core import splicing, yamlstyle
from reconciler.core.editing import edit_registry
from reconciler.core.errors import DocumentError, EditError
from reconciler.core.jsontext import load_json
from reconciler.core.splicing import OwnedPath
from reconciler.core.yamltext import load_yaml

ROLLOUT = ("policy", "autonomous", "rollout")
GOVERNANCE = ("policy", "autonomous", "governance")
CANARY = (*ROLLOUT, "canaryPercent")
MANUAL = (*ROLLOUT, "pause", "manual")
ACTOR = (*GOVERNANCE, "actor")
APPROVAL = (*GOVERNANCE, "approvalRef")
RATIONALE = (*GOVERNANCE, "rationale")
CHANGED_AT = (*GOVERNANCE, "changedAt")
REVIEW_BY = (*GOVERNANCE, "reviewBy")
OWNED_KEYS = (
    *("policy", "autonomous", "rollout", "canaryPercent", "pause", "manual"),
    *("governance", "actor", "approvalRef", "rationale", "changedAt", "reviewBy"),
)
Changes = dict[OwnedPath, int | bool | str]
Format = Literal["json", "yaml"]

EXPAND: Changes = {
    CANARY: 50,
    MANUAL: True,
    ACTOR: "alice",
    CHANGED_AT: "2026-02-01T00:00:00Z",
}

YAML_REGISTRY = """\
# Fleet registry (production).
schemaVersion: v1
fleetId: prod

policy:
  mode: guarded_auto

  # The reconciler owns rollout and governance.
  autonomous:
    rollout:
      canaryPercent: 10  # percent of loops
      pause:
        manual: false

    governance:
      actor: bob   # who
      approvalRef: 'CHG-1'
      rationale: initial canary
      changedAt: "2026-01-01T00:00:00Z"
      reviewBy: "2026-03-01T00:00:00Z"

loops:
  - loopId: checkout
"""

JSON_REGISTRY = """\
{
  "schemaVersion": "v1",
  "policy": {
    "mode": "guarded_auto",
    "autonomous": {
      "rollout": {
        "canaryPercent": 10,
        "pause": {
          "manual": false
        }
      },
      "governance": {
        "actor": "bob",
        "changedAt": "2026-01-01T00:00:00Z"
      }
    }
  },
  "loops": [{"loopId": "checkout"}]
}
"""


def load(text: str, fmt: str) -> object:
    return load_json(text) if fmt == "json" else load_yaml(text)


def changed_lines(before: str, after: str) -> list[str]:
    # split("\n"), not splitlines(): JSON strings may hold U+0085 or U+2028 unescaped.
    diff = difflib.unified_diff(before.split("\n"), after.split("\n"), lineterm="", n=0)
    return [line for line in diff if line[:1] in "+-" and line[:3] not in ("+++", "---")]


def only_owned_lines_changed(before: str, after: str, signs: str = "+-") -> bool:
    """Every changed line names an owned key or only closes brackets."""
    return all(
        any(key in line for key in OWNED_KEYS) or not line[1:].strip(" \t{}[],")
        for line in changed_lines(before, after)
        if line[0] in signs
    )


# --- Replacing values in place -------------------------------------------------------------


def test_yaml_values_are_replaced_in_place_keeping_comments_quotes_and_blank_lines() -> None:
    out = edit_registry(YAML_REGISTRY, "yaml", {**EXPAND, APPROVAL: "CHG-2", RATIONALE: "expand"})

    assert out == YAML_REGISTRY.replace("canaryPercent: 10", "canaryPercent: 50").replace(
        "manual: false", "manual: true"
    ).replace("actor: bob   # who", "actor: alice # who").replace(
        "approvalRef: 'CHG-1'", "approvalRef: 'CHG-2'"
    ).replace("rationale: initial canary", "rationale: expand").replace(
        'changedAt: "2026-01-01T00:00:00Z"', 'changedAt: "2026-02-01T00:00:00Z"'
    )
    assert only_owned_lines_changed(YAML_REGISTRY, out)


def test_json_values_are_replaced_in_place() -> None:
    out = edit_registry(JSON_REGISTRY, "json", EXPAND)

    expected = """\
{
  "schemaVersion": "v1",
  "policy": {
    "mode": "guarded_auto",
    "autonomous": {
      "rollout": {
        "canaryPercent": 50,
        "pause": {
          "manual": true
        }
      },
      "governance": {
        "actor": "alice",
        "changedAt": "2026-02-01T00:00:00Z"
      }
    }
  },
  "loops": [{"loopId": "checkout"}]
}
"""
    assert out == expected
    assert only_owned_lines_changed(JSON_REGISTRY, out)


@pytest.mark.parametrize(
    ("text", "fmt"),
    [
        pytest.param(YAML_REGISTRY, "yaml", id="yaml"),
        pytest.param(JSON_REGISTRY, "json", id="json"),
    ],
)
def test_equal_values_of_the_same_type_are_not_touched(text: str, fmt: Format) -> None:
    same: Changes = {CANARY: 10, MANUAL: False, ACTOR: "bob", CHANGED_AT: "2026-01-01T00:00:00Z"}

    assert edit_registry(text, fmt, same) is text


@pytest.mark.parametrize(
    ("text", "fmt", "diff"),
    [
        pytest.param(
            YAML_REGISTRY, "yaml", ["-        manual: false", "+        manual: true"], id="yaml"
        ),
        pytest.param(
            JSON_REGISTRY,
            "json",
            ['-          "manual": false', '+          "manual": true'],
            id="json",
        ),
    ],
)
def test_an_equal_value_next_to_a_changed_one_is_not_touched(
    text: str, fmt: Format, diff: list[str]
) -> None:
    out = edit_registry(text, fmt, {CANARY: 10, ACTOR: "bob", MANUAL: True})

    assert changed_lines(text, out) == diff


@pytest.mark.parametrize(
    ("before", "after"),
    [
        pytest.param('canaryPercent: "50"', "canaryPercent: 50", id="quoted-digits-become-an-int"),
        pytest.param("canaryPercent: 50.0", "canaryPercent: 50", id="float-becomes-an-int"),
        pytest.param("canaryPercent: true", "canaryPercent: 50", id="bool-becomes-an-int"),
    ],
)
def test_an_equal_value_of_another_type_is_replaced(before: str, after: str) -> None:
    text = f"policy:\n  autonomous:\n    rollout:\n      {before}\n"

    assert edit_registry(text, "yaml", {CANARY: 50}) == text.replace(before, after)


@pytest.mark.parametrize(
    ("before", "after"),
    [
        pytest.param("manual: false", "manual: true", id="lower"),
        pytest.param("manual: False", "manual: True", id="capitalised"),
        pytest.param("manual: FALSE", "manual: TRUE", id="upper"),
        pytest.param('manual: "no"', "manual: true", id="quoted-string-becomes-plain-bool"),
    ],
)
def test_yaml_booleans_keep_their_capitalisation(before: str, after: str) -> None:
    text = f"policy:\n  autonomous:\n    rollout:\n      pause:\n        {before}\n"

    assert edit_registry(text, "yaml", {MANUAL: True}) == text.replace(before, after)


STRING_STYLES = [
    pytest.param("actor: bob", "alice", "actor: alice", id="plain-stays-plain"),
    pytest.param('actor: "bob"', "alice", 'actor: "alice"', id="double-stays-double"),
    pytest.param("actor: 'bob'", "o'hara", "actor: 'o''hara'", id="single-stays-single"),
    pytest.param("actor: 'bob'", "a\nb", 'actor: "a\\nb"', id="single-with-newline-goes-double"),
    pytest.param("actor: bob", "José Ñ ✓", "actor: José Ñ ✓", id="non-ascii-stays-plain"),
    pytest.param("actor: bob", 'say "hi"', 'actor: say "hi"', id="inner-quotes-stay-plain"),
    pytest.param("actor: bob", "a\nb", 'actor: "a\\nb"', id="newline"),
    pytest.param("actor: bob", "a: #b", 'actor: "a: #b"', id="colon-space-hash"),
    pytest.param("actor: bob", "- item", 'actor: "- item"', id="leading-dash"),
    pytest.param("actor: bob", "true", 'actor: "true"', id="true-string"),
    pytest.param("actor: bob", "123", 'actor: "123"', id="digits-string"),
    pytest.param("actor: bob", "null", 'actor: "null"', id="null-string"),
    pytest.param("actor: bob", "yes", 'actor: "yes"', id="yaml-1-1-bool"),
    pytest.param(
        "actor: bob",
        "2026-01-01T00:00:00Z",
        'actor: "2026-01-01T00:00:00Z"',
        id="timestamp-for-yaml-1-1-readers",
    ),
    pytest.param("actor: bob", "", 'actor: ""', id="empty"),
    pytest.param("actor: bob", " padded ", 'actor: " padded "', id="surrounding-spaces"),
    pytest.param(
        "actor: bob", 'back\\slash "q"\t', 'actor: "back\\\\slash \\"q\\"\\t"', id="escapes"
    ),
    pytest.param(
        "actor: bob",
        "\x00\x1b\x7f\x85\x9f\u2028\ufeff",
        'actor: "\\0\\e\\x7F\\N\\x9F\\L\\uFEFF"',
        id="controls-and-non-printables",
    ),
    pytest.param("actor: bob", "{a}, [b]", 'actor: "{a}, [b]"', id="flow-indicators"),
    pytest.param("actor: bob", "*ref", 'actor: "*ref"', id="alias-indicator"),
    pytest.param("actor: bob", "x #y", 'actor: "x #y"', id="comment-indicator"),
]


@pytest.mark.parametrize(("before", "value", "after"), STRING_STYLES)
def test_yaml_strings_keep_their_quoting_style_when_it_reads_back(
    before: str, value: str, after: str
) -> None:
    text = f"policy:\n  autonomous:\n    governance:\n      {before}  # who\n"

    out = edit_registry(text, "yaml", {ACTOR: value})

    # The trailing comment keeps its column (at least one space before it).
    padding = " " * max(len(before) + 2 - len(after), 1)
    assert out == text.replace(f"{before}  # who", f"{after}{padding}# who")
    assert load_yaml(out) == {"policy": {"autonomous": {"governance": {"actor": value}}}}


def test_a_trailing_comment_keeps_its_column_when_the_value_shrinks_or_grows() -> None:
    text = (
        "a:\n  rollout:\n    canaryPercent: 5     # share\n"
        "    pause:\n      manual: false   # stop\n"
    )
    changes = {("a", "rollout", "canaryPercent"): 100, ("a", "rollout", "pause", "manual"): True}
    out = edit_registry(text, "yaml", changes)
    assert out == (
        "a:\n  rollout:\n    canaryPercent: 100   # share\n"
        "    pause:\n      manual: true    # stop\n"
    )


def test_a_plain_timestamp_stays_plain_when_replaced_by_a_timestamp() -> None:
    text = "g:\n  changedAt: 2026-11-01T09:00:00Z\n  actor: bob\n"
    out = edit_registry(
        text, "yaml", {("g", "changedAt"): "2026-11-24T13:24:22Z", ("g", "actor"): "2026-01-01"}
    )
    # The timestamp keeps the operator's plain style; a plain string that YAML 1.1 readers
    # would turn into a date gets quotes.
    assert out == 'g:\n  changedAt: 2026-11-24T13:24:22Z\n  actor: "2026-01-01"\n'


@pytest.mark.parametrize(
    "value",
    ["a\nb", 'quote " and \\', "\x00\x7f\u2028", "José ✓", "2026-01-01T00:00:00Z", "</script>"],
)
def test_json_strings_are_written_with_json_dumps(value: str) -> None:
    text = '{"policy": {"autonomous": {"governance": {"actor": "bob"}}}}'

    out = edit_registry(text, "json", {ACTOR: value})

    assert out == text.replace('"bob"', json.dumps(value, ensure_ascii=False))


def test_a_block_scalar_becomes_double_quoted_and_the_next_key_stays_put() -> None:
    text = """\
policy:
  autonomous:
    governance:
      rationale: |  # why we expand
        first line
        second line

      actor: bob
"""

    out = edit_registry(text, "yaml", {RATIONALE: "one\ntwo"})

    expected = """\
policy:
  autonomous:
    governance:
      rationale: "one\\ntwo"  # why we expand

      actor: bob
"""
    assert out == expected


def test_a_folded_block_scalar_as_the_last_value_is_replaced_and_a_key_added_after_it() -> None:
    text = (
        "policy:\n  autonomous:\n    governance:\n      rationale: >-\n        old\n        text\n"
    )

    out = edit_registry(text, "yaml", {RATIONALE: "new", ACTOR: "alice"})

    expected = (
        'policy:\n  autonomous:\n    governance:\n      rationale: "new"\n      actor: alice\n'
    )
    assert out == expected


def test_a_new_key_after_a_keep_chomped_block_scalar_keeps_its_trailing_lines() -> None:
    text = (
        "policy:\n  autonomous:\n    governance:\n      rationale: |+\n        text\n\nloops: []\n"
    )

    out = edit_registry(text, "yaml", {ACTOR: "alice"})

    assert out == text.replace("\n\nloops", "\n\n      actor: alice\nloops")
    assert load_yaml(out)["policy"]["autonomous"]["governance"]["rationale"] == "text\n\n"  # type: ignore[index]


def test_an_anchor_on_a_replaced_value_is_kept() -> None:
    text = "policy:\n  autonomous:\n    rollout:\n      canaryPercent: &canary 10\n"

    assert edit_registry(text, "yaml", {CANARY: 20}) == text.replace("10", "20")


# --- Inserting missing keys ---------------------------------------------------------------


def test_a_missing_pause_block_is_inserted_after_the_last_rollout_value() -> None:
    text = """\
policy:
    autonomous:
        rollout:
            canaryPercent: 10   # percent
            selector:
                salt: s1
        # governance comes later
loops: []
"""

    out = edit_registry(text, "yaml", {MANUAL: True, CANARY: 20})

    expected = """\
policy:
    autonomous:
        rollout:
            canaryPercent: 20   # percent
            selector:
                salt: s1
            pause:
                manual: true
        # governance comes later
loops: []
"""
    assert out == expected


def test_a_missing_governance_block_is_inserted_with_keys_in_the_order_given() -> None:
    text = "policy:\n  autonomous:\n    rollout:\n      canaryPercent: 10\n"
    changes: Changes = {
        REVIEW_BY: "2026-03-01T00:00:00Z",
        ACTOR: "alice",
        RATIONALE: "expand: step 2",
        APPROVAL: "CHG-7",
        CHANGED_AT: "2026-02-01T00:00:00Z",
    }

    out = edit_registry(text, "yaml", changes)

    expected = """\
policy:
  autonomous:
    rollout:
      canaryPercent: 10
    governance:
      reviewBy: "2026-03-01T00:00:00Z"
      actor: alice
      rationale: "expand: step 2"
      approvalRef: CHG-7
      changedAt: "2026-02-01T00:00:00Z"
"""
    assert out == expected


def test_missing_rollout_and_autonomous_blocks_are_inserted_nested() -> None:
    text = "schemaVersion: v1\npolicy:\n   mode: advisory\nloops: []\n"

    out = edit_registry(text, "yaml", {CANARY: 5, MANUAL: False, ACTOR: "alice"})

    expected = """\
schemaVersion: v1
policy:
   mode: advisory
   autonomous:
      rollout:
         canaryPercent: 5
         pause:
            manual: false
      governance:
         actor: alice
loops: []
"""
    assert out == expected


def test_a_missing_policy_is_appended_to_a_file_without_a_final_newline() -> None:
    text = "schemaVersion: v1\nloops: []"

    out = edit_registry(text, "yaml", {CANARY: 5})

    assert out == (
        "schemaVersion: v1\nloops: []\npolicy:\n  autonomous:\n    rollout:\n      canaryPercent: 5"
    )


@pytest.mark.parametrize(
    ("text", "step"),
    [
        pytest.param("loops:\n- loopId: a\n  sprite:\n     id: s\n", 3, id="inside-a-list"),
        pytest.param("meta: {a: 1}\nloops:\n- x:\n      y: 1\n", 4, id="after-a-flow-mapping"),
        pytest.param("schemaVersion: v1\n", 2, id="default"),
    ],
)
def test_the_indent_step_comes_from_a_nested_mapping_anywhere_in_the_file(
    text: str, step: int
) -> None:
    out = edit_registry(text, "yaml", {CANARY: 5})

    pad = " " * step
    added = f"policy:\n{pad}autonomous:\n{pad * 2}rollout:\n{pad * 3}canaryPercent: 5\n"
    assert out == text + added


def test_a_new_key_follows_a_nested_block_value_and_precedes_trailing_comments() -> None:
    text = """\
policy:
  autonomous:
    rollout:
      canaryPercent: 10
      scope:
        loopIds:
          - a
          - b

      # manual pause goes here
    governance: {}
"""

    out = edit_registry(text, "yaml", {MANUAL: True})

    assert out == text.replace("- b\n", "- b\n      pause:\n        manual: true\n")


def test_new_strings_follow_the_quoting_of_their_sibling_strings() -> None:
    text = "policy:\n  autonomous:\n    governance:\n      actor: 'bob'\n"

    out = edit_registry(text, "yaml", {RATIONALE: "because", CHANGED_AT: "2026-02-01T00:00:00Z"})

    assert out == text + "      rationale: 'because'\n      changedAt: '2026-02-01T00:00:00Z'\n"


def test_new_keys_follow_the_quoting_of_their_sibling_keys() -> None:
    text = '"policy":\n  "autonomous":\n    "rollout":\n      "canaryPercent": 1\n      "x": ~\n'

    out = edit_registry(text, "yaml", {MANUAL: True, (*ROLLOUT, "x", "y"): "z"})

    expected = text.replace('"x": ~', '"x": {"y": z}') + '      "pause":\n        "manual": true\n'
    assert out == expected


@pytest.mark.parametrize(
    ("before", "after"),
    [
        pytest.param("pause:", "pause: {manual: true}", id="empty"),
        pytest.param("pause: null", "pause: {manual: true}", id="null"),
        pytest.param("pause: ~   # none yet", "pause: {manual: true} # none yet", id="tilde"),
        pytest.param("pause: {}", "pause: {manual: true}", id="empty-flow-mapping"),
        pytest.param("pause: { }", "pause: {manual: true }", id="spaced-flow-mapping"),
    ],
)
def test_a_null_or_empty_pause_becomes_a_flow_mapping(before: str, after: str) -> None:
    text = f"policy:\n  autonomous:\n    rollout:\n      {before}\n      canaryPercent: 1\n"

    assert edit_registry(text, "yaml", {MANUAL: True}) == text.replace(before, after)


def test_a_null_leaf_gets_its_value() -> None:
    text = "policy:\n  autonomous:\n    governance:\n      actor:\n      rationale: ~\n"

    out = edit_registry(text, "yaml", {ACTOR: "alice", RATIONALE: "why"})

    assert (
        out == "policy:\n  autonomous:\n    governance:\n      actor: alice\n      rationale: why\n"
    )


def test_a_flow_style_yaml_registry_is_edited_in_flow_style() -> None:
    text = (
        "policy: {mode: guarded_auto, autonomous: {rollout: {canaryPercent: 10},"
        ' governance: {actor: "bob"}}}\n'
    )

    out = edit_registry(text, "yaml", {CANARY: 20, MANUAL: True, ACTOR: "al", RATIONALE: "x: y"})

    assert out == (
        "policy: {mode: guarded_auto, autonomous: {rollout: {canaryPercent: 20,"
        ' pause: {manual: true}}, governance: {actor: "al", rationale: "x: y"}}}\n'
    )


@pytest.mark.parametrize(
    ("value", "block", "flow"),
    [
        pytest.param("https://x/y", "https://x/y", '"https://x/y"', id="colon"),
        pytest.param("why?", "why?", '"why?"', id="question-mark"),
        pytest.param("plain words", "plain words", "plain words", id="words"),
    ],
)
def test_plain_strings_in_flow_mappings_avoid_what_flow_context_forbids(
    value: str, block: str, flow: str
) -> None:
    block_text = "policy:\n  autonomous:\n    governance:\n      actor: bob\n"
    flow_text = "policy:\n  autonomous:\n    governance: {actor: bob}\n"

    assert edit_registry(block_text, "yaml", {ACTOR: value}) == block_text.replace("bob", block)
    assert edit_registry(flow_text, "yaml", {ACTOR: value}) == flow_text.replace("bob", flow)
    assert edit_registry(flow_text, "yaml", {RATIONALE: value}) == flow_text.replace(
        "bob}", f"bob, rationale: {flow}}}"
    )


def test_crlf_yaml_keeps_crlf_on_every_line_it_touches_or_adds() -> None:
    text = "policy:\r\n  autonomous:\r\n    rollout:\r\n      canaryPercent: 10\r\n"

    out = edit_registry(text, "yaml", {CANARY: 20, MANUAL: True})

    assert out == (
        "policy:\r\n  autonomous:\r\n    rollout:\r\n      canaryPercent: 20\r\n"
        "      pause:\r\n        manual: true\r\n"
    )


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_a_byte_order_mark_is_kept(fmt: str) -> None:
    text = (
        '\ufeff{"policy": {"autonomous": {"rollout": {"canaryPercent": 10}}}}\n'
        if fmt == "json"
        else "\ufeffpolicy:\n  autonomous:\n    rollout:\n      canaryPercent: 10\n"
    )

    out = edit_registry(text, fmt, {CANARY: 20})  # type: ignore[arg-type]

    assert out == text.replace("10", "20")


# --- JSON layouts -------------------------------------------------------------------------


def test_json_with_four_space_indent_gets_a_pretty_governance_block() -> None:
    text = """\
{
    "policy": {
        "autonomous": {
            "rollout": {
                "canaryPercent": 10
            }
        }
    }
}
"""

    out = edit_registry(text, "json", {MANUAL: True, ACTOR: "alice", RATIONALE: "r"})

    expected = """\
{
    "policy": {
        "autonomous": {
            "rollout": {
                "canaryPercent": 10,
                "pause": {
                    "manual": true
                }
            },
            "governance": {
                "actor": "alice",
                "rationale": "r"
            }
        }
    }
}
"""
    assert out == expected


def test_tab_indented_json_gets_tab_indented_members() -> None:
    text = (
        '{\n\t"policy": {\n\t\t"autonomous": {\n\t\t\t"rollout": {'
        '\n\t\t\t\t"canaryPercent": 1\n\t\t\t}\n\t\t}\n\t}\n}'
    )

    out = edit_registry(text, "json", {MANUAL: False, CANARY: 2})

    assert out == (
        '{\n\t"policy": {\n\t\t"autonomous": {\n\t\t\t"rollout": {\n\t\t\t\t"canaryPercent": 2,'
        '\n\t\t\t\t"pause": {\n\t\t\t\t\t"manual": false\n\t\t\t\t}\n\t\t\t}\n\t\t}\n\t}\n}'
    )


def test_compact_one_line_json_stays_compact() -> None:
    text = '{"policy":{"autonomous":{"rollout":{"canaryPercent":10}}},"loops":[]}'

    out = edit_registry(text, "json", {CANARY: 20, MANUAL: True, ACTOR: "al"})

    assert out == (
        '{"policy":{"autonomous":{"rollout":{"canaryPercent":20,"pause":{"manual":true}},'
        '"governance":{"actor":"al"}}},"loops":[]}'
    )


def test_crlf_json_keeps_crlf_and_its_separator_style() -> None:
    text = (
        '{\r\n  "policy" : {\r\n    "autonomous" : {\r\n      "rollout" : {\r\n'
        '        "canaryPercent" : 10\r\n      }\r\n    }\r\n  }\r\n}\r\n'
    )

    out = edit_registry(text, "json", {MANUAL: True})

    assert out == text.replace(
        '"canaryPercent" : 10\r\n',
        '"canaryPercent" : 10,\r\n'
        '        "pause" : {\r\n          "manual" : true\r\n        }\r\n',
    )


PRETTY_PAUSE = '"pause": {\n          "manual": true\n        }'


@pytest.mark.parametrize(
    ("before", "after"),
    [
        pytest.param('"pause": null', PRETTY_PAUSE, id="null"),
        pytest.param('"pause": {}', PRETTY_PAUSE, id="empty-object"),
        pytest.param('"pause": { }', PRETTY_PAUSE, id="empty-object-with-space"),
    ],
)
def test_a_null_or_empty_json_pause_becomes_an_object_in_the_files_pretty_style(
    before: str, after: str
) -> None:
    text = (
        f'{{\n  "policy": {{\n    "autonomous": {{\n      "rollout": {{\n        {before}\n'
        "      }\n    }\n  }\n}\n"
    )

    assert edit_registry(text, "json", {MANUAL: True}) == text.replace(before, after)


def test_an_empty_json_document_gets_the_whole_path_inline() -> None:
    out = edit_registry("{}", "json", {CANARY: 5})

    assert out == '{"policy": {"autonomous": {"rollout": {"canaryPercent": 5}}}}'


def test_json_without_a_final_newline_gets_none() -> None:
    text = '{\n  "policy": {\n    "autonomous": {}\n  }\n}'

    out = edit_registry(text, "json", {CANARY: 5})

    assert out == (
        '{\n  "policy": {\n    "autonomous": {\n      "rollout": {\n'
        '        "canaryPercent": 5\n      }\n    }\n  }\n}'
    )


def test_a_compact_json_file_keeps_new_objects_inline() -> None:
    text = '{"policy": {"autonomous": {"rollout": {"pause": null}}}}'

    out = edit_registry(text, "json", {MANUAL: True})

    assert out == '{"policy": {"autonomous": {"rollout": {"pause": {"manual": true}}}}}'


# --- Refusals -----------------------------------------------------------------------------

WRONG_KINDS = [
    pytest.param("policy:\n  autonomous:\n    rollout: [1, 2]\n", "yaml", id="yaml-rollout-list"),
    pytest.param(
        "policy:\n  autonomous:\n    rollout:\n      pause: true\n", "yaml", id="yaml-pause-bool"
    ),
    pytest.param("policy:\n  autonomous: off\n", "yaml", id="yaml-autonomous-string"),
    pytest.param(
        "policy:\n  autonomous:\n    rollout:\n      canaryPercent: {a: 1}\n",
        "yaml",
        id="yaml-target-mapping",
    ),
    pytest.param('{"policy": {"autonomous": {"rollout": "x"}}}', "json", id="json-rollout-string"),
    pytest.param(
        '{"policy": {"autonomous": {"rollout": {"canaryPercent": [10]}}}}',
        "json",
        id="json-target-list",
    ),
    pytest.param("- a\n- b\n", "yaml", id="yaml-top-level-list"),
    pytest.param("[]", "json", id="json-top-level-list"),
]


@pytest.mark.parametrize(("text", "fmt"), WRONG_KINDS)
def test_a_path_through_a_list_or_scalar_is_refused(text: str, fmt: str) -> None:
    with pytest.raises(EditError):
        edit_registry(text, fmt, {CANARY: 50, MANUAL: True})  # type: ignore[arg-type]


def test_the_refusal_names_the_path() -> None:
    with pytest.raises(EditError, match=r"^policy\.autonomous\.rollout is a list, not a mapping"):
        edit_registry("policy:\n  autonomous:\n    rollout: []\n", "yaml", {CANARY: 1})


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({(): 1}, id="empty-path"),
        pytest.param({CANARY: 1.5}, id="float-value"),
        pytest.param({ROLLOUT: 1, CANARY: 2}, id="leaf-then-child"),
        pytest.param({CANARY: 2, ROLLOUT: 1}, id="child-then-leaf"),
    ],
)
def test_inconsistent_changes_are_refused(changes: dict[OwnedPath, object]) -> None:
    with pytest.raises(EditError):
        edit_registry("policy: {}\n", "yaml", changes)  # type: ignore[arg-type]


def test_an_unparsable_registry_is_a_document_error() -> None:
    with pytest.raises(DocumentError):
        edit_registry("a: 1\na: 2\n", "yaml", {CANARY: 1})


@pytest.mark.parametrize(
    ("spelling", "message"),
    [
        pytest.param("[broken", "would not parse", id="unparsable"),
        pytest.param("51", "would not read back as intended", id="different-value"),
    ],
)
def test_a_splice_that_does_not_read_back_is_refused(
    monkeypatch: pytest.MonkeyPatch, spelling: str, message: str
) -> None:
    monkeypatch.setattr(yamlstyle, "render_scalar", lambda *_args, **_kwargs: spelling)

    with pytest.raises(EditError, match=message):
        edit_registry(
            "policy:\n  autonomous:\n    rollout:\n      canaryPercent: 10\n", "yaml", {CANARY: 50}
        )


def test_overlapping_splices_are_refused() -> None:
    apply = splicing.apply_splices

    assert apply("abcdef", [(4, 5, "E"), (0, 1, "A"), (1, 1, "+")]) == "A+bcdEf"
    with pytest.raises(EditError, match="overlap"):
        apply("abcdef", [(0, 3, "x"), (2, 4, "y")])


def test_the_safety_net_compares_types_strictly() -> None:
    same = splicing.is_same

    assert same({"a": [1, {"b": True}]}, {"a": [1, {"b": True}]})
    assert same({"a": 1, "b": 2}, {"b": 2, "a": 1})
    assert same(float("nan"), float("nan"))
    assert not same(True, 1)
    assert not same(1, 1.0)
    assert not same({"a": 1}, {"a": 1, "b": 2})
    assert not same([1], [1, 2])


# --- Properties ---------------------------------------------------------------------------

YAML_FIXTURES = [
    YAML_REGISTRY,
    YAML_REGISTRY.replace("\n", "\r\n"),
    'policy: {autonomous: {rollout: {canaryPercent: 10}, governance: {actor: "bob"}}}\n',
    "policy:\n  autonomous: {rollout: {pause: ~}, governance: {actor: bob, reviewBy: ''}}\n",
    "policy:\n    autonomous:\n        rollout:\n            pause:\n        governance:\n"
    "            rationale: |\n                why\n",
    "schemaVersion: v1\npolicy:\n  mode: advisory",
]
JSON_FIXTURES = [
    JSON_REGISTRY,
    JSON_REGISTRY.replace("\n", "\r\n"),
    '{"policy":{"autonomous":{"rollout":{"pause":null}}}}',
    '{\n\t"policy": {\n\t\t"autonomous": {\n\t\t\t"governance": {}\n\t\t}\n\t}\n}',
]
FIXTURES = [(text, "yaml") for text in YAML_FIXTURES] + [(text, "json") for text in JSON_FIXTURES]

changes_strategy = st.fixed_dictionaries(
    {
        CANARY: st.integers(0, 100),
        MANUAL: st.booleans(),
        ACTOR: st.text(),
        APPROVAL: st.text(),
        RATIONALE: st.text(),
        CHANGED_AT: st.text(),
        REVIEW_BY: st.text(),
    }
)


def expected_document(before: object, changes: dict[OwnedPath, object]) -> object:
    document = json.loads(json.dumps(before))
    for path, value in changes.items():
        node = document
        for key in path[:-1]:
            if not isinstance(node.get(key), dict):
                node[key] = {}
            node = node[key]
        node[path[-1]] = value
    return document


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    fixture=st.sampled_from(FIXTURES), changes=changes_strategy, subset=st.sets(st.integers(0, 6))
)
def test_any_owned_values_round_trip_exactly(
    fixture: tuple[str, str], changes: dict[OwnedPath, object], subset: set[int]
) -> None:
    text, fmt = fixture
    chosen = {path: value for index, (path, value) in enumerate(changes.items()) if index in subset}

    out = edit_registry(text, fmt, chosen)  # type: ignore[arg-type]

    expected = expected_document(load(text, fmt), chosen)
    assert json.dumps(load(out, fmt), sort_keys=True) == json.dumps(expected, sort_keys=True)
    assert only_owned_lines_changed(text, out, signs="+")  # "-" lines: old block scalar text


def test_a_null_inside_an_inline_object_of_a_pretty_file_stays_inline() -> None:
    text = '{\n  "policy": {\n    "autonomous": {"rollout": {"pause": null}}\n  }\n}\n'

    out = edit_registry(text, "json", {MANUAL: True})

    assert out == text.replace('"pause": null', '"pause": {"manual": true}')
