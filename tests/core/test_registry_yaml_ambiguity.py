"""Registry YAML that other tools read differently (issue 9, item 10): pure, table-driven.

The goal: at the owned fields, the reconciler's reading equals PyYAML's (YAML 1.1) and
ruamel.yaml's, or the registry is refused (`registry_yaml_ambiguous`). Elsewhere the same
constructs are warnings.
"""

from __future__ import annotations

import warnings
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.core import registry_yaml
from reconciler.core.editing import RegistryText
from reconciler.core.errors import DocumentError, RefusalError
from reconciler.core.reasons import ReasonCode
from reconciler.core.splicing import is_same

ruamel_yaml = pytest.importorskip("ruamel.yaml")

OWNED = "policy.autonomous.rollout"
BASE = """\
schemaVersion: v1
loops:
  - loopId: loop-a
policy:
  mode: guarded_auto
  autonomous:
    rollout:
      canaryPercent: {canary}
      pause:
        manual: {manual}
    governance:
      actor: alice
      changedAt: 2026-11-01T09:00:00Z
"""


def registry(canary: str = "25", manual: str = "false") -> str:
    return BASE.format(canary=canary, manual=manual)


def found(text: str) -> list[tuple[bool, str]]:
    return [
        (each.owned, each.message)
        for each in registry_yaml.find_ambiguities(RegistryText(text, "yaml"))
    ]


def owned_messages(text: str) -> list[str]:
    return [message for owned, message in found(text) if owned]


# Owned fields: refused ---------------------------------------------------------------------

MERGE_ON_THE_OWNED_PATH = [
    pytest.param(
        "policy:\n  autonomous:\n    rollout:\n      pause: {<<: {manual: true}}\n",
        f"line 4, column 15: {OWNED}.pause has a merge key (<<)",
        id="pause supplies manual",
    ),
    pytest.param(
        "policy:\n  autonomous:\n    rollout:\n      pause:\n        <<: {manual: true}\n"
        "        manual: false\n",
        f"line 5, column 9: {OWNED}.pause has a merge key (<<)",
        id="pause, overridden",
    ),
    pytest.param(
        "policy:\n  autonomous:\n    rollout:\n      <<: {canaryPercent: 10}\n",
        f"line 4, column 7: {OWNED} has a merge key (<<)",
        id="rollout supplies canaryPercent",
    ),
    pytest.param(
        "policy:\n  autonomous:\n    <<: {rollout: {canaryPercent: 10}}\n",
        "line 3, column 5: policy.autonomous has a merge key (<<)",
        id="autonomous",
    ),
    pytest.param(
        "policy:\n  <<: {mode: advisory}\n  autonomous: {}\n",
        "line 2, column 3: policy has a merge key (<<)",
        id="policy",
    ),
    pytest.param(
        "<<: {policy: {autonomous: {rollout: {canaryPercent: 10}}}}\nschemaVersion: v1\n",
        "line 1, column 1: the top-level mapping has a merge key (<<)",
        id="the root",
    ),
    pytest.param(
        "policy:\n  autonomous:\n    governance:\n      <<: {actor: mallory}\n",
        "line 4, column 7: policy.autonomous.governance has a merge key (<<)",
        id="governance",
    ),
    pytest.param(
        "policy:\n  autonomous:\n    rollout:\n      pause: {<<: [{manual: true}, {x: 1}]}\n",
        f"line 4, column 15: {OWNED}.pause has a merge key (<<)",
        id="a list of merges",
    ),
]


@pytest.mark.parametrize(("text", "message"), MERGE_ON_THE_OWNED_PATH)
def test_a_merge_key_on_the_path_to_an_owned_field_is_refused(text: str, message: str) -> None:
    [refused] = owned_messages(text)
    assert refused.startswith(message)
    assert refused.endswith("write the keys out in full")


AMBIGUOUS_CANARY = [
    ("025", "reads as 25 and YAML 1.1 tools such as PyYAML as 21"),
    ("00", "not as a plain decimal integer"),
    ("0o31", "reads as 25 and YAML 1.1 tools such as PyYAML as the text '0o31'"),
    ("0x19", "not as a plain decimal integer"),
    ("+25", "not as a plain decimal integer"),
    ("0b11", "reads as the text '0b11' and YAML 1.1 tools such as PyYAML as 3"),
    ("1_0", "reads as the text '1_0' and YAML 1.1 tools such as PyYAML as 10"),
    ("1:30", "reads as the text '1:30' and YAML 1.1 tools such as PyYAML as 90"),
    ("018", "reads as 18 and YAML 1.1 tools such as PyYAML as the text '018'"),
    ("1e2", "reads as 100.0 and YAML 1.1 tools such as PyYAML as the text '1e2'"),
    ("!!int 025", "not as a plain decimal integer"),
    ("&a 025", "reads as 25 and YAML 1.1 tools such as PyYAML as 21"),
]


@pytest.mark.parametrize(("canary", "why"), AMBIGUOUS_CANARY)
def test_a_canary_percent_other_tools_read_differently_is_refused(canary: str, why: str) -> None:
    [refused] = owned_messages(registry(canary=canary))
    assert refused.startswith(f"line 8, column 22: {OWNED}.canaryPercent is written `")
    assert why in refused


AMBIGUOUS_MANUAL = ["yes", "Yes", "YES", "no", "No", "on", "On", "off", "OFF", "y", "Y", "n", "N"]


@pytest.mark.parametrize("manual", AMBIGUOUS_MANUAL)
def test_a_yaml_1_1_only_boolean_at_pause_manual_is_a_warning_not_an_ambiguity(
    manual: str,
) -> None:
    # Validation refuses the text for expand/resume; a rollback writes `true` over it.
    text = registry(manual=manual)
    assert owned_messages(text) == []
    [warned] = registry_yaml.ambiguity_warnings(RegistryText(text, "yaml"))
    assert f"{OWNED}.pause.manual is written `{manual}`" in warned
    assert "; write true or false (expand and resume refuse it" in warned


def test_check_owned_fields_raises_one_refusal_with_every_place() -> None:
    text = registry(canary="025").replace("      pause:\n", "      pause:\n        <<: {}\n")
    with pytest.raises(RefusalError) as caught:
        registry_yaml.check_owned_fields(RegistryText(text, "yaml"), "policies/registry.yaml")
    assert caught.value.reason == ReasonCode.REGISTRY_YAML_AMBIGUOUS
    assert caught.value.message == (
        "ambiguous fleet registry YAML at fields the reconciler owns: policies/registry.yaml"
    )
    assert [line.split(":")[0] for line in caught.value.details] == [
        "line 8, column 22",
        "line 10, column 9",
    ]


# Accepted: every tool reads the same --------------------------------------------------------

PLAIN_CANARY = ["25", "0", "100", "-0", "-5", "250", "25.0", "'025'", '"0x19"', "!!int 25", "~", ""]
PLAIN_MANUAL = ["true", "True", "TRUE", "false", "False", "'yes'", '"on"', "!!str yes", "~", "1"]


@pytest.mark.parametrize("canary", PLAIN_CANARY)
def test_a_canary_percent_every_tool_reads_alike_is_accepted(canary: str) -> None:
    assert owned_messages(registry(canary=canary)) == []


@pytest.mark.parametrize("manual", PLAIN_MANUAL)
def test_a_pause_manual_every_tool_reads_alike_is_accepted(manual: str) -> None:
    assert owned_messages(registry(manual=manual)) == []


@pytest.mark.parametrize(
    "text",
    [
        # A quoted "<<" is an ordinary key to every tool.
        "policy:\n  autonomous:\n    rollout:\n      pause: {'<<': x, manual: true}\n",
        '{"policy": {"autonomous": {"rollout": {"pause": {"<<": {"manual": true}}}}}}\n',
        "policy:\n  autonomous:\n    rollout:\n      pause: {!!str <<: x}\n",
    ],
)
def test_a_quoted_or_tagged_merge_lookalike_is_an_ordinary_key(text: str) -> None:
    assert found(text) == []


def test_a_json_registry_has_one_reading() -> None:
    text = '{"policy": {"autonomous": {"rollout": {"canaryPercent": 25, "<<": 1}}}}'
    assert registry_yaml.find_ambiguities(RegistryText(text, "json")) == []


def test_the_example_registry_has_no_ambiguity() -> None:
    from tests.support.gitrepos import EXAMPLE

    text = (EXAMPLE / "registry.yaml").read_text()
    assert found(text) == []


# Elsewhere: warnings only --------------------------------------------------------------------


def test_the_same_constructs_elsewhere_are_warnings_only() -> None:
    text = registry() + (
        "  noiseControls: {<<: {dedupeWindowSeconds: 5}}\n"
        "  suppressions:\n"
        "    loop-a: [reconcile_failed]\n"
        "metadata:\n"
        "  region: on\n"
        "  count: 025\n"
        "  yes: 1\n"
    )
    warnings_ = registry_yaml.ambiguity_warnings(RegistryText(text, "yaml"))
    assert owned_messages(text) == []
    assert [line.split(" (not a field")[0] for line in warnings_] == [
        "registry YAML line 14, column 19: policy.noiseControls has a merge key (<<), which YAML "
        '1.1 tools and ruamel.yaml merge into it and this reconciler reads as a key named "<<"; '
        "write the keys out in full",
        "registry YAML line 18, column 11: metadata.region is written `on`, which this reconciler "
        "(YAML 1.2) reads as the text 'on' and YAML 1.1 tools such as PyYAML as true; quote it "
        "if it is text",
        "registry YAML line 19, column 10: metadata.count is written `025`, which this "
        "reconciler (YAML 1.2) reads as 25 and YAML 1.1 tools such as PyYAML as 21; quote it if "
        "it is text",
        "registry YAML line 20, column 3: metadata has the key `yes`, which this reconciler "
        "(YAML 1.2) reads as the text 'yes' and YAML 1.1 tools such as PyYAML as true; quote it",
    ]
    assert all(
        line.endswith("(not a field the reconciler owns: a warning only)") for line in warnings_
    )


def test_governance_values_are_warnings_only_and_timestamps_are_not_flagged() -> None:
    text = registry().replace("actor: alice", "actor: yes")
    assert owned_messages(text) == []
    [(owned, message)] = found(text)
    assert not owned
    assert message.startswith("line 12, column 14: policy.autonomous.governance.actor")


# The goal, checked against the other readers ---------------------------------------------------


def readers() -> dict[str, Any]:
    return {
        "pyyaml": yaml.safe_load,
        "ruamel-safe": ruamel_yaml.YAML(typ="safe", pure=True).load,
        "ruamel-rt": ruamel_yaml.YAML(typ="rt").load,
    }


def owned_values(doc: Any) -> tuple[object, object]:
    rollout = doc["policy"]["autonomous"]["rollout"]
    pause = rollout.get("pause") or {}
    return rollout.get("canaryPercent"), pause.get("manual")


def plain(value: object) -> object:
    """ruamel's round-trip types (ScalarFloat, TaggedScalar) as plain values."""
    if isinstance(value, ruamel_yaml.comments.TaggedScalar):
        return value.value
    for kind in (bool, int, float, str):
        if isinstance(value, kind):
            return kind(value)
    return value


SPELLINGS = [
    *((canary, "false") for canary in PLAIN_CANARY + [c for c, _ in AMBIGUOUS_CANARY]),
    *(("25", manual) for manual in PLAIN_MANUAL + AMBIGUOUS_MANUAL),
    ("0x_19", "false"),
    ("._5", "false"),
    ("-._1", "false"),
    ("0o_1", "false"),
    ("1_0.5", "false"),
    ("+.5", "false"),
    ("1.e5", "false"),
    ("08", "false"),
    ("+.inf", "false"),
    ("0o0", "false"),
    ("1__0", "false"),
    ("25", "!!bool true"),
]


@pytest.mark.parametrize(("canary", "manual"), SPELLINGS)
def test_accepted_owned_fields_read_the_same_in_pyyaml_and_ruamel(canary: str, manual: str) -> None:
    text = registry(canary=canary, manual=manual)
    parsed = RegistryText(text, "yaml")
    if any(each.owned for each in registry_yaml.find_ambiguities(parsed)):
        return  # refused: nobody acts on it
    ours = owned_values(parsed.document)
    if not isinstance(ours[1], bool):
        return  # validation refuses a pause.manual that is not a boolean; a rollback cures it
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ruamel's notes on YAML 1.1 floats
        for name, load in readers().items():
            theirs = tuple(map(plain, owned_values(load(text))))
            assert all(map(is_same, ours, theirs)), (name, ours, theirs)


@pytest.mark.parametrize(
    "changes",
    [
        {("policy", "autonomous", "rollout", "pause", "manual"): True},
        {("policy", "autonomous", "rollout", "canaryPercent"): 50},
        {("policy", "autonomous", "governance", "actor"): "yes"},
    ],
)
@pytest.mark.parametrize(
    "before",
    [
        registry(),
        registry(manual="False", canary="!!int 25"),
        registry().replace("      pause:\n        manual: false\n", "      pause: {}\n"),
        registry().replace("      canaryPercent: 25\n", ""),
        "policy: {autonomous: {rollout: {canaryPercent: 25, pause: {manual: FALSE}}}}\n",
    ],
)
def test_an_edited_registry_reads_the_same_in_every_tool(
    before: str, changes: dict[tuple[str, ...], Any]
) -> None:
    after, _ = RegistryText(before, "yaml").edit(changes)
    parsed = RegistryText(after, "yaml")
    assert registry_yaml.find_ambiguities(parsed) == []
    ours = owned_values(parsed.document)
    for (*_, key), value in changes.items():
        assert key == "actor" or value in ours
    for load in readers().values():
        theirs = load(after)
        assert tuple(map(plain, owned_values(theirs))) == ours
        assert theirs["policy"]["autonomous"].get("governance", {}).get("actor") == (
            parsed.document["policy"]["autonomous"].get("governance", {}).get("actor")  # type: ignore[index]
        )


NUMBERISH = st.text(alphabet="0123456789_+-.:eExXoObBinfaINF", min_size=1, max_size=8)
WORDS = st.sampled_from(["yes", "No", "ON", "off", "y", "N", "true", "False", "~", "null", "abc"])


@settings(max_examples=500, deadline=None)
@given(NUMBERISH | WORDS, NUMBERISH | WORDS)
def test_owned_fields_that_are_not_refused_read_the_same_everywhere(
    canary: str, manual: str
) -> None:
    text = registry(canary=canary, manual=manual)
    try:
        parsed = RegistryText(text, "yaml")
    except DocumentError:
        return  # refused as unparseable
    if any(each.owned for each in registry_yaml.find_ambiguities(parsed)):
        return  # refused as ambiguous
    ours = owned_values(parsed.document)
    if ours[1] is not None and not isinstance(ours[1], bool):
        return  # validation refuses a pause.manual that is not a boolean; a rollback cures it
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for load in (yaml.safe_load, ruamel_yaml.YAML(typ="safe", pure=True).load):
            try:
                theirs = owned_values(load(text))
            except Exception:  # noqa: BLE001 - a tool that cannot read it acts on nothing
                continue
            assert all(map(is_same, ours, theirs)), (ours, theirs)
