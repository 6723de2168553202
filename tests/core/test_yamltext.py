from __future__ import annotations

import math

import pytest
from yaml.nodes import MappingNode, ScalarNode

from reconciler.core.errors import DocumentError
from reconciler.core.yamltext import STR_TAG, compose_yaml, load_yaml, resolve_plain_tag

CORE_SCHEMA = [
    pytest.param("yes", "yes", id="yes-is-a-string"),
    pytest.param("no", "no", id="no-is-a-string"),
    pytest.param("on", "on", id="on-is-a-string"),
    pytest.param("off", "off", id="off-is-a-string"),
    pytest.param("y", "y", id="y-is-a-string"),
    pytest.param("n", "n", id="n-is-a-string"),
    pytest.param("true", True, id="true"),
    pytest.param("True", True, id="True"),
    pytest.param("TRUE", True, id="TRUE"),
    pytest.param("False", False, id="False"),
    pytest.param("tRUE", "tRUE", id="mixed-case-bool-is-a-string"),
    pytest.param("~", None, id="tilde-is-null"),
    pytest.param("null", None, id="null"),
    pytest.param("NULL", None, id="NULL"),
    pytest.param("", None, id="empty-is-null"),
    pytest.param("0o17", 15, id="0o-octal"),
    pytest.param("0x1F", 31, id="0x-hex"),
    pytest.param("08", 8, id="leading-zero-is-decimal"),
    pytest.param("017", 17, id="leading-zero-is-not-octal"),
    pytest.param("-12", -12, id="negative-int"),
    pytest.param("+12", 12, id="plus-int"),
    pytest.param("1_000", "1_000", id="underscores-make-a-string"),
    pytest.param("0b101", "0b101", id="0b-is-a-string"),
    pytest.param("1e3", 1000.0, id="exponent-is-a-float"),
    pytest.param("1.5", 1.5, id="float"),
    pytest.param(".5", 0.5, id="float-without-leading-digit"),
    pytest.param(".inf", math.inf, id="inf"),
    pytest.param("-.Inf", -math.inf, id="negative-inf"),
    pytest.param("2026-12-31T00:00:00Z", "2026-12-31T00:00:00Z", id="timestamp-is-a-string"),
    pytest.param("2026-12-31", "2026-12-31", id="date-is-a-string"),
    pytest.param("1:30", "1:30", id="no-sexagesimal"),
    pytest.param("'123'", "123", id="quoted-digits-are-a-string"),
    pytest.param("!!str 12", "12", id="explicit-str-tag"),
    pytest.param("!!int '12'", 12, id="explicit-int-tag"),
]


@pytest.mark.parametrize(("spelling", "expected"), CORE_SCHEMA)
def test_plain_scalars_follow_the_yaml_1_2_core_schema(spelling: str, expected: object) -> None:
    value = load_yaml(f"key: {spelling}\n")["key"]  # type: ignore[index]

    assert type(value) is type(expected)
    assert value == expected


def test_nan_is_a_float() -> None:
    value = load_yaml("key: .NaN\n")["key"]  # type: ignore[index]

    assert isinstance(value, float)
    assert math.isnan(value)


def test_merge_key_is_an_ordinary_key() -> None:
    assert load_yaml("base: {a: 1}\n<<: {b: 2}\n") == {"base": {"a": 1}, "<<": {"b": 2}}


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty-text"),
        pytest.param("# only a comment\n", id="comment-only"),
        pytest.param("---\n", id="explicit-empty-document"),
    ],
)
def test_an_empty_document_loads_as_none(text: str) -> None:
    assert load_yaml(text) is None


def test_a_byte_order_mark_and_a_document_end_marker_are_accepted() -> None:
    assert load_yaml("\ufeffa: 1\n...\n") == {"a": 1}


def test_an_anchor_without_an_alias_is_accepted() -> None:
    assert load_yaml("a: &anchor {b: 1}\n") == {"a": {"b": 1}}


REFUSALS = [
    pytest.param("a: 1\nb: 2\na: 3\n", "duplicate_key", 3, 1, id="duplicate-top-level-key"),
    pytest.param(
        "rollout:\n  canaryPercent: 5\n  canaryPercent: 10\n",
        "duplicate_key",
        3,
        3,
        id="duplicate-nested-key",
    ),
    pytest.param("{a: 1, a: 2}\n", "duplicate_key", 1, 8, id="duplicate-flow-key"),
    pytest.param("a: &x 1\nb: *x\n", "alias", 2, 4, id="scalar-alias"),
    pytest.param("a: &x [1]\nb: [2, *x]\n", "alias", 2, 8, id="alias-in-a-sequence"),
    pytest.param("a: &x [*x]\n", "alias", 1, 8, id="recursive-alias"),
    pytest.param("a: &k key\n*k : 1\n", "alias", 2, 1, id="alias-as-a-key"),
    pytest.param("a: 1\n---\nb: 2\n", "multiple_documents", 2, 1, id="two-documents"),
    pytest.param("a: 1\n--- b\n", "multiple_documents", 2, 1, id="second-document-inline"),
    pytest.param("1: a\n", "syntax", 1, 1, id="int-key"),
    pytest.param("null: a\n", "syntax", 1, 1, id="null-key"),
    pytest.param("true: a\n", "syntax", 1, 1, id="bool-key"),
    pytest.param("? [a]\n: b\n", "syntax", 1, 3, id="sequence-key"),
    pytest.param("a:\n\tb: 1\n", "syntax", 2, 1, id="tab-indentation"),
    pytest.param("a: [1, 2\n", "syntax", 2, 1, id="unclosed-flow-sequence"),
    pytest.param("a: 'open\n", "syntax", 2, 1, id="unclosed-quote"),
    pytest.param("a: b: c\n", "syntax", 1, 5, id="mapping-in-a-plain-scalar"),
    pytest.param("a: !!binary aGk=\n", "syntax", 1, 4, id="binary-tag"),
    pytest.param("a: !!timestamp 2026-01-01\n", "syntax", 1, 4, id="timestamp-tag"),
    pytest.param("a: !local x\n", "syntax", 1, 4, id="local-tag"),
    pytest.param("a: !!int x\n", "syntax", 1, 4, id="explicit-int-that-is-not-one"),
    pytest.param("é: \x07\n", "syntax", 1, 4, id="control-character-after-non-ascii"),
    pytest.param(
        "# " + "[" * 1001 + "\né: \x07\n", "syntax", 2, 4, id="control-character-pure-python"
    ),
    pytest.param("a: !!set {x}\n", "syntax", 1, 4, id="set-tag"),
    pytest.param("a: " + "1" * 5000 + "\n", "syntax", 1, 4, id="int-longer-than-python-allows"),
]


@pytest.mark.parametrize(("text", "kind", "line", "column"), REFUSALS)
def test_unsafe_or_invalid_yaml_is_refused_with_a_located_one_line_error(
    text: str, kind: str, line: int, column: int
) -> None:
    with pytest.raises(DocumentError) as caught:
        load_yaml(text)

    error = caught.value
    assert (error.kind, error.line, error.column) == (kind, line, column)
    assert error.message.startswith(f"line {line}, column {column}: ")
    assert "\n" not in error.message


def test_duplicate_key_message_names_the_key() -> None:
    with pytest.raises(DocumentError, match=r'^line 3, column 5: duplicate key "canaryPercent"$'):
        load_yaml("rollout:\n    canaryPercent: 5\n    canaryPercent: 10\n")


def billion_laughs(levels: int = 100, width: int = 110) -> str:
    lines = ['l0: &l0 "lol"']
    for level in range(1, levels):
        aliases = ", ".join([f"*l{level - 1}"] * width)
        lines.append(f"l{level}: &l{level} [{aliases}]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    "padding",
    [
        pytest.param("", id="libyaml-parser"),
        pytest.param("# " + "[" * 2000 + "\n", id="pure-python-parser"),
    ],
)
def test_a_64_kib_billion_laughs_is_refused_without_expanding_it(padding: str) -> None:
    text = padding + billion_laughs()
    assert 64_000 <= len(text) <= 70_000

    with pytest.raises(DocumentError) as caught:
        load_yaml(text)

    assert caught.value.kind == "alias"


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("[" * (1 << 20), id="1-mib-of-open-brackets"),
        pytest.param("{a: " * (1 << 18), id="deep-flow-mappings"),
        pytest.param("- " * (1 << 19) + "x", id="deep-compact-block-sequences"),
        pytest.param("".join(" " * i + "k:\n" for i in range(200)), id="deep-block-mappings"),
    ],
)
def test_hostile_nesting_is_refused_as_too_deep(text: str) -> None:
    with pytest.raises(DocumentError) as caught:
        load_yaml(text)

    assert caught.value.kind == "too_deep"


def nested_mappings(depth: int) -> str:
    return (
        "".join(" " * level + "k:\n" for level in range(depth - 1)) + " " * (depth - 1) + "k: 1\n"
    )


def test_nesting_up_to_max_depth_is_accepted_and_one_more_is_refused() -> None:
    assert load_yaml(nested_mappings(64)) is not None

    with pytest.raises(DocumentError, match=r"^line 65, column 65: nesting is deeper than 64"):
        load_yaml(nested_mappings(65))


def test_max_depth_is_adjustable() -> None:
    with pytest.raises(DocumentError) as caught:
        load_yaml("a: {b: [1]}\n", max_depth=2)

    assert caught.value.kind == "too_deep"


def test_python_recursion_limit_becomes_too_deep() -> None:
    text = "[" * 5000 + "]" * 5000  # many brackets: the pure-Python parser is used

    with pytest.raises(DocumentError) as caught:
        load_yaml(text, max_depth=100_000)

    assert caught.value.kind == "too_deep"


def test_bracket_heavy_text_loads_the_same_through_the_pure_python_parser() -> None:
    text = "items: [" + ", ".join(["[1, {a: yes}]"] * 600) + "]\nflag: TRUE\n"

    assert load_yaml(text) == {"items": [[1, {"a": "yes"}]] * 600, "flag": True}


def test_bracket_heavy_text_reports_aliases_at_the_alias() -> None:
    text = "# " + "{" * 1001 + "\na: &x 1\nb: *x\n"

    with pytest.raises(DocumentError, match=r"^line 3, column 4: aliases are not allowed"):
        load_yaml(text)


def test_compose_gives_character_marks_without_the_byte_order_mark() -> None:
    text = "\ufeffé: naïve\nb: 2\n"

    node = compose_yaml(text)

    assert isinstance(node, MappingNode)
    value = node.value[0][1]
    assert isinstance(value, ScalarNode)
    body = text[1:]
    assert body[value.start_mark.index : value.end_mark.index] == "naïve"
    assert node.value[1][0].start_mark.index == body.index("b")


def test_compose_refuses_what_load_refuses() -> None:
    with pytest.raises(DocumentError) as caught:
        compose_yaml("a: &x 1\nb: *x\n")

    assert caught.value.kind == "alias"


@pytest.mark.parametrize(
    ("spelling", "is_string"),
    [
        pytest.param("yes", True, id="yes"),
        pytest.param("2026-01-01", True, id="date"),
        pytest.param("true", False, id="true"),
        pytest.param("08", False, id="int"),
        pytest.param("", False, id="empty"),
    ],
)
def test_resolve_plain_tag_reports_the_core_schema_tag(spelling: str, is_string: bool) -> None:
    assert (resolve_plain_tag(spelling) == STR_TAG) is is_string
