"""Audits of the telemetry for `reconcile validate`: every line, and each index against the records.

A pass or an apply never needs these (a key an index lacks is searched for, a wrong pointer
is dropped); they tell an operator that `reconcile repair-index` would change something.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from reconciler.core import applied_keys
from reconciler.telemetry import index
from reconciler.telemetry.ledger import Ledger

Where = tuple[str, int, int]
"""(segment name, offset, length) of a record."""


def corrupt_lines(segments: list[tuple[str, bytes]]) -> list[str]:
    """One message per segment (path, bytes) holding a line that is not a JSON object."""
    problems = []
    for path, data in segments:
        try:
            applied_keys.index_applied(data)
        except applied_keys.CorruptLineError as exc:
            problems.append(applied_keys.corrupt_line(path, exc.number).message)
    return problems


def index_mismatches(ledger: Ledger) -> list[str]:
    """One line per key index whose keys disagree with the records it covers.

    The active index is compared with the bytes it covers, the sealed one with every
    sealed segment (one on disk it does not list holds keys it lacks). An index that claims
    nothing (absent, garbled, for another file) is rebuilt by the next write: not reported.
    """
    relative = index.relative_telemetry(ledger.path, ledger.index_file)
    found = []
    active = index.parse(
        index.read_raw(ledger.index_file, "telemetry index"),
        relative,
        re.compile(re.escape(ledger.active_name)),
    )
    if active is not None and len(active.segments) == 1:
        covered = ledger.active[: active.segments[0].size]
        expected = _where(ledger.active_name, covered)
        found.append(_compare(ledger.index_file, _listed(active), expected))
    sealed = index.parse(
        index.read_raw(ledger.segments_file, "segment index"), relative, ledger.pattern
    )
    if sealed is not None:
        expected = {}
        for number, segment in enumerate(ledger.sealed):
            expected.update(_where(segment.name, ledger.segment_bytes(number)))
        found.append(_compare(ledger.segments_file, _listed(sealed), expected))
    return [line for line in found if line]


def _where(name: str, data: bytes) -> dict[str, Where]:
    return {key: (name, *span) for key, span in applied_keys.index_applied(data).items()}


def _listed(parsed: index.Index) -> dict[str, Where] | None:
    if parsed.keys is None:
        return None
    names = [segment.name for segment in parsed.segments]
    return {
        key: (names[number], offset, length)
        for key, (number, offset, length) in parsed.keys.items()
    }


def _compare(
    index_file: str, actual: Mapping[str, Where] | None, expected: Mapping[str, Where]
) -> str:
    if actual is None:
        return f"the key index {index_file} has a malformed key map; run `reconcile repair-index`"
    missing = sorted(set(expected) - set(actual))
    wrong = sorted(key for key in actual if expected.get(key) != actual[key])
    if not missing and not wrong:
        return ""
    parts = [f"{len(missing)} applied key(s) missing, e.g. {missing[0]!r}"] if missing else []
    parts += [f"{len(wrong)} key(s) pointing at no such record, e.g. {wrong[0]!r}"] if wrong else []
    return (
        f"the key index {index_file} disagrees with the records ({'; '.join(parts)}); "
        "run `reconcile repair-index`"
    )
