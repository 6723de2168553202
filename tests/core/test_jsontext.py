from __future__ import annotations

import json

import pytest

from reconciler.core.errors import DocumentError
from reconciler.core.jsontext import (
    JsonArray,
    JsonNode,
    JsonObject,
    JsonScalar,
    compose_json,
    load_json,
)


def test_load_json_returns_plain_values() -> None:
    text = '{"a": [1, 2.5, true, null, "x\\u00e9"], "b": {"c": -0}}'

    assert load_json(text) == {"a": [1, 2.5, True, None, "xé"], "b": {"c": 0}}


def test_a_byte_order_mark_is_accepted() -> None:
    assert load_json('\ufeff{"a": 1}\n') == {"a": 1}


REFUSALS = [
    pytest.param('{"a": 1, "a": 2}', "duplicate_key", 1, 10, id="duplicate-top-level-key"),
    pytest.param(
        '{\n  "rollout": {\n    "canaryPercent": 5,\n    "canaryPercent": 10\n  }\n}',
        "duplicate_key",
        4,
        5,
        id="duplicate-nested-key",
    ),
    pytest.param('[{"a": 1}, {"b": 1, "b": 2}]', "duplicate_key", 1, 21, id="duplicate-in-a-list"),
    pytest.param('{"a": NaN}', "syntax", 1, 7, id="nan"),
    pytest.param('{"a": [1, Infinity]}', "syntax", 1, 11, id="infinity"),
    pytest.param('{"a":\n -Infinity}', "syntax", 2, 2, id="negative-infinity"),
    pytest.param('{"a": 1,}', "syntax", 1, 9, id="trailing-comma"),
    pytest.param('{"a" 1}', "syntax", 1, 6, id="missing-colon"),
    pytest.param("{'a': 1}", "syntax", 1, 2, id="single-quotes"),
    pytest.param('{"a": 1} {}', "syntax", 1, 10, id="extra-data"),
    pytest.param("", "syntax", 1, 1, id="empty-text"),
]


@pytest.mark.parametrize(("text", "kind", "line", "column"), REFUSALS)
def test_invalid_json_is_refused_with_a_located_one_line_error(
    text: str, kind: str, line: int, column: int
) -> None:
    with pytest.raises(DocumentError) as caught:
        load_json(text)

    error = caught.value
    assert (error.kind, error.line, error.column) == (kind, line, column)
    assert error.message.startswith(f"line {line}, column {column}: ")
    assert "\n" not in error.message


def test_duplicate_key_message_names_the_key() -> None:
    with pytest.raises(DocumentError, match=r'^line 1, column 25: duplicate key "canaryPercent"$'):
        load_json('{"canaryPercent": 5,    "canaryPercent": 6}')


def nested_arrays(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_nesting_up_to_max_depth_is_accepted_and_one_more_is_refused() -> None:
    assert load_json(nested_arrays(64)) is not None

    with pytest.raises(DocumentError, match=r"^line 1, column 65: nesting is deeper than 64"):
        load_json(nested_arrays(65))


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    assert load_json(json.dumps({"a": "[" * 100})) == {"a": "[" * 100}


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("[" * (1 << 20), id="1-mib-of-open-brackets"),
        pytest.param(nested_arrays(5000), id="past-the-recursion-limit"),
        pytest.param('{"a": ' * 3000 + "1" + "}" * 3000, id="deep-objects"),
    ],
)
def test_hostile_nesting_is_refused_as_too_deep(text: str) -> None:
    with pytest.raises(DocumentError) as caught:
        load_json(text)

    assert caught.value.kind == "too_deep"


def test_recursion_past_the_limit_is_too_deep_even_under_a_huge_max_depth() -> None:
    with pytest.raises(DocumentError, match=r"^nesting is deeper than 100000 levels$") as caught:
        load_json(nested_arrays(5000), max_depth=100_000)

    assert caught.value.kind == "too_deep"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param('{"a": "open', "line 1, column 7: invalid JSON", id="unterminated-string"),
        pytest.param("{} x", "line 1, column 3: extra data after the document", id="extra-data"),
        pytest.param("{1: 2}", "line 1, column 2: expected a string key", id="number-key"),
        pytest.param("[1, @]", "line 1, column 5: expected a value", id="stray-character"),
    ],
)
def test_compose_refuses_text_it_cannot_follow(text: str, message: str) -> None:
    with pytest.raises(DocumentError, match=f"^{message}$"):
        compose_json(text)


def spans(node: JsonNode, text: str) -> list[str]:
    """Every node's and key's text, in document order."""
    found = [text[node.start : node.end]]
    if isinstance(node, JsonObject):
        for member in node.members:
            found.append(text[member.key_start : member.key_end])
            found += spans(member.value, text)
    elif isinstance(node, JsonArray):
        for item in node.items:
            found += spans(item, text)
    return found


def test_compose_records_the_span_of_every_key_and_value() -> None:
    text = '\ufeff{ "a" :[1,-2.5e3 , true],\r\n\t"k\\"é": {"n": null, "s": "\\u00e9✓"}, "e": {} }'

    root = compose_json(text)

    assert spans(root, text) == [
        text[1:],
        '"a"',
        "[1,-2.5e3 , true]",
        "1",
        "-2.5e3",
        "true",
        '"k\\"é"',
        '{"n": null, "s": "\\u00e9✓"}',
        '"n"',
        "null",
        '"s"',
        '"\\u00e9✓"',
        '"e"',
        "{}",
    ]


def test_compose_decodes_keys_and_scalars() -> None:
    root = compose_json('{"k\\"é": [1, 2.0, "x\\n", false]}')

    assert isinstance(root, JsonObject)
    assert root.members[0].key == 'k"é'
    values = root.members[0].value
    assert isinstance(values, JsonArray)
    scalars = [item.value for item in values.items if isinstance(item, JsonScalar)]
    assert [(type(value), value) for value in scalars] == [
        (int, 1),
        (float, 2.0),
        (str, "x\n"),
        (bool, False),
    ]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        pytest.param(' "top" ', "top", id="string"),
        pytest.param("42", 42, id="number"),
        pytest.param("null", None, id="null"),
    ],
)
def test_compose_accepts_a_scalar_document(text: str, value: object) -> None:
    root = compose_json(text)

    assert isinstance(root, JsonScalar)
    assert root.value == value


def test_compose_is_iterative_past_the_recursion_limit() -> None:
    root = compose_json(nested_arrays(5000))

    depth = 0
    node: JsonNode = root
    while isinstance(node, JsonArray):
        depth += 1
        node = node.items[0] if node.items else JsonScalar(0, 0, None)
    assert depth == 5000
