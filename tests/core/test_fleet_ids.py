"""Fleet ids and `reconcile init --fleets`'s comma-separated list of them."""

from __future__ import annotations

import pytest

from reconciler.core.errors import RefusalError
from reconciler.core.fleet_ids import is_fleet_id, parse_fleet_list
from reconciler.core.reasons import ReasonCode


@pytest.mark.parametrize(
    "value", ["staging", "prod-eu", "p", "0", "eu_west.2", "Prod", "a" * 63, "a..b", "9-"]
)
def test_a_plain_word_up_to_63_characters_is_a_fleet_id(value: str) -> None:
    assert is_fleet_id(value)


@pytest.mark.parametrize(
    "value",
    ["", ".", "..", ".hidden", "-prod", "_x", "a" * 64, "prod eu", "a/b", "prod\n", "préprod"],
    ids=repr,
)
def test_anything_else_is_not_a_fleet_id(value: str) -> None:
    assert not is_fleet_id(value)


def test_the_list_keeps_its_order_and_drops_spaces_around_ids() -> None:
    assert parse_fleet_list("staging, prod-eu ,prod-us") == ("staging", "prod-eu", "prod-us")
    assert parse_fleet_list("only") == ("only",)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "--fleets: item 1 of '' is empty; list fleet ids"),
        ("a,,b", "--fleets: item 2 of 'a,,b' is empty; list fleet ids"),
        ("a,", "--fleets: item 2 of 'a,' is empty; list fleet ids"),
        ("a,../b", "--fleets: '../b' is not a fleet id (a letter or digit, then letters"),
        ("a,b,a", "--fleets: fleet 'a' is listed twice; list each fleet once"),
        ("prod,Prod", "--fleets: fleets 'prod' and 'Prod' differ only in case"),
    ],
)
def test_an_empty_bad_or_repeated_id_is_refused_with_fleets_invalid(
    text: str, message: str
) -> None:
    with pytest.raises(RefusalError) as caught:
        parse_fleet_list(text)
    assert caught.value.reason is ReasonCode.FLEETS_INVALID
    assert caught.value.message.startswith(message)
    assert "\n" not in caught.value.message
