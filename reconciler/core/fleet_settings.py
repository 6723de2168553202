"""The `fleets:` block of reconciler.yaml (core layer): several fleets in one repository.

A mapping by fleet id. Each fleet has the shape of the single-fleet `policies/` folder below
its `root` (default `policies/fleets/<id>`), or explicit file paths; `after` and `requires`
order the promotion (`core/upstream.py`); `guards` overrides the top-level `guards:` keys for
that fleet. Validated here, without I/O; `inputs/fleet_layouts.py` resolves the paths.
See docs/fleets.md.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import NamedTuple

from reconciler.core.fleet_ids import FLEET_ID_RULE, case_twin_problem, is_fleet_id
from reconciler.core.repo_settings import PATH_KEYS

FLEETS_ROOT = "policies/fleets"
"""Where fleet folders live by default: `policies/fleets/<id>/`."""
FLEET_KEYS = frozenset({"root", *PATH_KEYS, "intentsDir", "after", "requires", "guards"})
_ORDER_KEYS = ("after", "requires", "guards")
"""The keys that only order or pace a fleet (never say where its files are)."""


class FleetSettings(NamedTuple):
    """One fleet's entry of `fleets:` (every field None/empty when not set)."""

    id: str
    root: str | None = None
    """The fleet's folder, repo-relative; None: `policies/fleets/<id>`."""
    paths: Mapping[str, str] = MappingProxyType({})
    """Explicit files by reconciler.yaml key (`registryFile`, ...), repo-relative."""
    intents_dir: str | None = None
    after: str | None = None
    """The upstream fleet (promotion order)."""
    requires: object = None
    """`requires:` as decoded (`upstream.parse_requires` validates it with `after`)."""
    guards: object = None
    """`guards:` overrides as decoded (merged onto the top-level block by `merge_guards`)."""

    def folder(self) -> str:
        """The fleet's folder, repo-relative with `/`."""
        return (self.root or f"{FLEETS_ROOT}/{self.id}").strip("/")


ParsedFleets = tuple[dict[str, "FleetSettings"], list[str], dict[str, list[str]]]
"""(the fleets, the block's problems, each fleet's held problems): see `parse_fleets`."""


def parse_fleets(value: object) -> ParsedFleets:
    """Validate a decoded `fleets:` block (None: no entry); every problem one line.

    Two kinds of problems. The block's: it is not a mapping, a key is not a fleet id, an entry
    is not a mapping, a path setting is bad, an unknown key unlike `after`, `requires` and
    `guards` (it may be a misspelt path); the fleets' files cannot be told, and every command
    refuses the repository (`fleets_invalid`). A fleet's held ones (by fleet id): an unknown
    key like those three, a bad `after` or `guards`; that fleet is resolved without its
    `after` and `requires` and its expand and resume wait (its rollbacks apply: an unrelated
    typo never stops one). `order_problems` and the `requires` check add to the held ones.
    """
    if value is None:
        return {}, [], {}
    if not isinstance(value, dict):
        return {}, ["fleets must be a mapping by fleet id"], {}
    found: dict[str, FleetSettings] = {}
    problems: list[str] = []
    held: dict[str, list[str]] = {}
    for key, entry in value.items():
        name = str(key)
        if not isinstance(key, str) or not is_fleet_id(key):
            problems.append(f"fleets: {name!r} is not a fleet id ({FLEET_ID_RULE})")
            continue
        parsed, found_problems, found_held = _parse_fleet(key, {} if entry is None else entry)
        problems += found_problems
        if found_held:
            held[key] = found_held
        if parsed is not None:
            found[key] = parsed
    return found, problems, held


def _parse_fleet(fleet: str, entry: object) -> tuple[FleetSettings | None, list[str], list[str]]:
    where = f"fleets.{fleet}"
    if not isinstance(entry, dict):
        return None, [f"{where} must be a mapping (or empty)"], []
    held: list[str] = []
    problems: list[str] = []
    for key in entry:
        if key not in FLEET_KEYS:
            # A misspelt `after`/`requires`/`guards` holds the fleet's progression; any
            # other unknown key may be a misspelt path (`registyFile`, `rot`): the fleet's
            # files cannot be told, so the repository is refused, as for a bad path.
            close = isinstance(key, str) and difflib.get_close_matches(key, _ORDER_KEYS, 1, 0.7)
            (held if close else problems).append(f'{where}: unknown key "{key}"{_meant(key)}')
    strings: dict[str, str] = {}
    for key in ("root", *PATH_KEYS, "intentsDir", "after"):
        raw = entry.get(key)
        if raw is None:
            continue
        if not isinstance(raw, str) or not raw.strip() or any(ord(ch) < 32 for ch in raw):
            (held if key == "after" else problems).append(
                f"{where}.{key} must be a non-empty one-line string"
            )
        else:
            strings[key] = raw
    problems += [
        f"{where}.{key} must be a path relative to the repository, not {strings[key]!r}"
        for key in ("root", *PATH_KEYS, "intentsDir")
        if key in strings and (strings[key].startswith(("/", "\\")) or ":" in strings[key][:2])
    ]
    after = strings.get("after")
    if after is not None and after == fleet:
        held.append(f"{where}.after names the fleet itself")
        after = None
    guards = entry.get("guards")
    if guards is not None and not isinstance(guards, dict):
        held.append(f"{where}.guards must be a mapping of guards settings to override")
    return (
        FleetSettings(
            id=fleet,
            root=strings.get("root"),
            paths={key: strings[key] for key in PATH_KEYS if key in strings},
            intents_dir=strings.get("intentsDir"),
            after=after,
            requires=entry.get("requires"),
            guards=guards,
        ),
        problems,
        held,
    )


def case_twins(ids: Sequence[str]) -> list[str]:
    """Fleet ids that differ only in case: one folder on a case-insensitive file system."""
    seen: dict[str, str] = {}
    problems = []
    for fleet in ids:
        twin = seen.setdefault(fleet.casefold(), fleet)
        if twin != fleet:
            problems.append(case_twin_problem(twin, fleet))
    return problems


def _meant(key: object) -> str:
    """` (did you mean "after"?)` for a key close to a known one; empty otherwise."""
    if not isinstance(key, str):
        return ""
    found = difflib.get_close_matches(key, sorted(FLEET_KEYS), 1, 0.6)
    return f' (did you mean "{found[0]}"?)' if found else ""


def order_problems(
    fleets: Mapping[str, FleetSettings], known: Sequence[str]
) -> dict[str, list[str]]:
    """Problems of the promotion order, by fleet.

    An `after` naming an unknown fleet (that fleet's), a cycle (each fleet's in it).
    """
    problems: dict[str, list[str]] = {}
    for fleet in fleets.values():
        if fleet.after is not None and fleet.after not in known:
            problems.setdefault(fleet.id, []).append(
                f"fleets.{fleet.id}.after names an unknown fleet {fleet.after!r} (known: "
                f"{', '.join(known) or 'none'})"
            )
    for start in sorted(fleets):
        seen = [start]
        current = fleets[start].after
        while current is not None and current in fleets and current not in seen:
            seen.append(current)
            current = fleets[current].after
        if current == start and min(seen) == start:  # each cycle once, from its least id
            cycle = f"fleets: the promotion order has a cycle: {' -> '.join(seen)} -> {start}"
            for member in seen:
                problems.setdefault(member, []).append(cycle)
    return problems


def promotion_order(ids: Sequence[str], fleets: Mapping[str, FleetSettings]) -> list[str]:
    """The fleets upstream first (then by id): a pass handles staging before prod.

    Assumes `order_problems` found nothing (the fleets it names are passed without `after`).
    """
    depth: dict[str, int] = {}

    def level(fleet: str) -> int:
        if fleet not in depth:
            settings = fleets.get(fleet)
            upstream = settings.after if settings is not None else None
            depth[fleet] = 0 if upstream is None or upstream not in ids else level(upstream) + 1
        return depth[fleet]

    return sorted(ids, key=lambda fleet: (level(fleet), fleet))


def merge_guards(top: object, override: object) -> object:
    """The `guards:` block of one fleet: the top-level keys, then the fleet's overrides.

    A key the fleet sets replaces the top-level one whole (`budget` included). Anything but
    two mappings is returned as is for `guard_settings.parse_guards` to judge.
    """
    if override is None:
        return top
    if top is None:
        return override
    if isinstance(top, dict) and isinstance(override, dict):
        return {**top, **override}
    return override
