"""Fleet ids (core layer): what names a fleet, and `reconcile init --fleets`'s list of them.

A fleet id is also a folder name (`policies/fleets/<id>/`), a CODEOWNERS path and a YAML key,
so it is kept to one plain word.
"""

from __future__ import annotations

import re

from reconciler.core.errors import RefusalError
from reconciler.core.reasons import ReasonCode

FLEET_ID_LIMIT = 63
"""Longest fleet id, in characters (a DNS label's limit: ids end up in hostnames and labels)."""
_FLEET_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}", re.ASCII)
"""A letter or digit, then letters, digits and `. _ -`: never `.` or `..`, never a path."""
FLEET_ID_RULE = "a letter or digit, then letters, digits, '.', '_' or '-', at most 63 characters"


def is_fleet_id(value: str) -> bool:
    """Tell whether `value` may name a fleet (and its folder under policies/fleets/)."""
    return _FLEET_ID.fullmatch(value) is not None


def case_twin_problem(first: str, second: str) -> str:
    """Two fleet ids that differ only in case, as a problem (`case_twins`, `--fleets`)."""
    return (
        f"fleets {first!r} and {second!r} differ only in case (one folder on a "
        "case-insensitive file system); rename one"
    )


def parse_fleet_list(text: str) -> tuple[str, ...]:
    """Return the fleet ids of a comma-separated list, in its order (spaces around ids dropped).

    Raises:
        RefusalError: an item is empty or not a fleet id, or an id comes twice, also when
            only its case differs (the folders would be one on a case-insensitive file
            system) (`fleets_invalid`).
    """
    option = "--fleets"
    ids: list[str] = []
    for position, item in enumerate(text.split(","), start=1):
        fleet_id = item.strip()
        if not fleet_id:
            raise _invalid(f"{option}: item {position} of {text!r} is empty; list fleet ids")
        if not is_fleet_id(fleet_id):
            raise _invalid(f"{option}: {fleet_id!r} is not a fleet id ({FLEET_ID_RULE})")
        twin = next((seen for seen in ids if seen.lower() == fleet_id.lower()), None)
        if twin == fleet_id:
            raise _invalid(f"{option}: fleet {twin!r} is listed twice; list each fleet once")
        if twin is not None:
            raise _invalid(f"{option}: {case_twin_problem(twin, fleet_id)}")
        ids.append(fleet_id)
    return tuple(ids)


def _invalid(message: str) -> RefusalError:
    return RefusalError(ReasonCode.FLEETS_INVALID, message)
