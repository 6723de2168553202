"""The `fleets:` block's problems: which refuse the repository, which hold one fleet."""

from __future__ import annotations

from reconciler.core.fleet_settings import order_problems, parse_fleets


def test_an_unknown_key_like_an_order_key_holds_the_fleet_and_names_what_was_meant() -> None:
    found, problems, held = parse_fleets(
        {"prod-eu": {"afer": "staging", "requries": {}, "registyFile": "x.yaml", "zzz": 1}}
    )
    assert held == {
        "prod-eu": [
            'fleets.prod-eu: unknown key "afer" (did you mean "after"?)',
            'fleets.prod-eu: unknown key "requries" (did you mean "requires"?)',
        ]
    }
    # Maybe a misspelt path: the fleet's files cannot be told, the repository is refused.
    assert problems == [
        'fleets.prod-eu: unknown key "registyFile" (did you mean "registryFile"?)',
        'fleets.prod-eu: unknown key "zzz"',
    ]
    assert found["prod-eu"].after is None


def test_a_bad_or_own_after_is_held_and_a_cycle_holds_each_fleet_in_it() -> None:
    found, problems, held = parse_fleets(
        {"a": {"after": "b"}, "b": {"after": "a"}, "c": {"after": "c"}, "d": {"after": 5}}
    )
    assert problems == []
    assert held == {
        "c": ["fleets.c.after names the fleet itself"],
        "d": ["fleets.d.after must be a non-empty one-line string"],
    }
    assert found["c"].after is None
    cycle = "fleets: the promotion order has a cycle: a -> b -> a"
    assert order_problems(found, ["a", "b", "c", "d"]) == {"a": [cycle], "b": [cycle]}
    unknown = order_problems({"a": found["a"]._replace(after="x")}, ["a"])
    assert unknown == {"a": ["fleets.a.after names an unknown fleet 'x' (known: a)"]}
