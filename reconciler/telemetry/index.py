"""The telemetry key index: one format, read here and written here, for every segment.

Two files beside the apply-state file have the same shape:

- `promotion-apply-index.json` lists the active segment (rewritten with every record);
- `promotion-apply-segments.json` lists the sealed segments (rewritten at a rotation, or when
  it was found wrong).

```json
{"schemaVersion":"v2","telemetryFile":"../telemetry/promotion-apply.jsonl",
 "segments":[{"name":"promotion-apply.jsonl","size":1092,"crc":314159265,
   "earliest":"2026-11-24T09:30:00Z","latest":"2026-11-24T09:30:00Z"}],
 "keys":{"cab-123-expand":[0,0,1092]}}
```

`keys` maps an applied idempotency key to (segment number in `segments`, offset, length) of
its last applied record; each segment entry gives the bytes the index covers (a prefix of the
active file, a whole sealed segment) and the earliest and latest record time in them. Two
files rather than one because the active index is in every loop commit: it must stay as small
as the active segment, not grow with the whole history.

Older indexes are read too (docs/artifacts.md, "Key index"): the v1 active index (`size`,
`crc` or only `tailCrc`, and `keys` as (offset, length)) and the v1 segment index (no
`telemetryFile`, no times). They are rewritten in this format by the next write.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple, TypeGuard

from reconciler.adapters import files
from reconciler.core import applied_keys, jsontext
from reconciler.core.timestamps import format_timestamp, parse_timestamp
from reconciler.telemetry.segments import Segment

INDEX_NAME = "promotion-apply-index.json"
SEGMENTS_INDEX_NAME = "promotion-apply-segments.json"
INDEX_LIMIT = 64 * 1024 * 1024
SCHEMA = "v2"

SealedSpan = tuple[int, int, int]
"""(segment number, offset, length) of a record."""


def index_path(state_file: str) -> str:
    """Return the active segment's index path, beside the apply-state file."""
    return os.path.join(os.path.dirname(state_file), INDEX_NAME)


def sealed_index_path(state_file: str) -> str:
    """Return the sealed segments' index path, beside the apply-state file."""
    return os.path.join(os.path.dirname(state_file), SEGMENTS_INDEX_NAME)


def relative_telemetry(telemetry_path: str, index_file: str) -> str:
    """The active file's path as an index names it: relative, so a moved clone keeps it."""
    return os.path.relpath(telemetry_path, os.path.dirname(index_file))


class Index(NamedTuple):
    """What an index file claims: the segments it covers and where its keys are (untrusted)."""

    segments: tuple[Segment, ...]
    keys: dict[str, SealedSpan] | None
    """None when the key map is malformed (the records answer every lookup then)."""
    current: bool
    """Written in this format (False: an older one, to rewrite)."""
    unchecked: Mapping[str, object] | None = None
    """Parsed with `check_keys=False`: the key map as read (`keys` is then empty), each entry
    checked only when looked up (`span`)."""


def read_raw(path: str, what: str) -> bytes | None:
    """The index file's bytes, or None when it does not exist.

    Raises:
        RefusalError: it cannot be read (a symlink, too large).
    """
    return files.read_bounded(path, INDEX_LIMIT, what=what)


def parse(
    raw: bytes | None, telemetry_file: str, names: re.Pattern[str], *, check_keys: bool = True
) -> Index | None:
    """Parse an index for the active file `telemetry_file` (relative to the index).

    `names` is what its segment names must be (the active file's own name, or the sealed
    segments' pattern): an index naming any other path (`../x`) is not followed. None when
    it claims nothing: absent, not JSON, for another file, or without a usable listing.
    Without `check_keys` a key map is left `unchecked` (a lookup of a key the records must
    answer anyway need not check 20,000 others first).
    """
    doc = None if raw is None else applied_keys.loads_record(raw)
    if doc is None:
        return None
    if doc.get("schemaVersion") == SCHEMA:
        if doc.get("telemetryFile") != telemetry_file:
            return None
        segments = _segments(doc.get("segments"), names)
        if segments is None:
            return None
        return _listing(segments, doc.get("keys"), True, check_keys)
    if "segments" in doc:  # a v1 segment index: no telemetryFile, no times
        segments = _segments(doc.get("segments"), names)
        return None if segments is None else _listing(segments, doc.get("keys"), False, check_keys)
    return _v1_active(doc, telemetry_file, names)


def dumps(
    telemetry_file: str, segments: Sequence[Segment], keys: Mapping[str, SealedSpan]
) -> bytes:
    """The index document covering `segments`, with `keys` pointing into them."""
    doc = {
        "schemaVersion": SCHEMA,
        "telemetryFile": telemetry_file,
        "segments": [
            {
                "name": segment.name,
                "size": segment.size,
                "crc": segment.crc,
                "earliest": _stamp(segment.earliest),
                "latest": _stamp(segment.latest),
            }
            for segment in segments
        ],
        "keys": dict(keys),  # spans are tuples: JSON arrays
    }
    return (jsontext.dumps_compact(doc) + "\n").encode("utf-8")


def _stamp(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    if moment.microsecond:  # a hand-written record's fraction: truncating could hide it
        return moment.isoformat().replace("+00:00", "Z")
    return format_timestamp(moment)


def _is_count(value: object) -> TypeGuard[int]:
    return type(value) is int and value >= 0


def _segments(value: object, names: re.Pattern[str]) -> tuple[Segment, ...] | None:
    if not isinstance(value, list):
        return None
    segments = []
    for item in value:
        if not isinstance(item, dict):
            return None
        name, size, crc = item.get("name"), item.get("size"), item.get("crc")
        if not (isinstance(name, str) and names.fullmatch(name)):
            return None
        if not _is_count(size) or not _is_count(crc):
            return None
        earliest, latest = (
            parse_timestamp(item.get("earliest")),
            parse_timestamp(item.get("latest")),
        )
        segments.append(Segment(name, size, crc, earliest, latest))
    if len({segment.name for segment in segments}) != len(segments):
        return None
    return tuple(segments)


def _listing(segments: tuple[Segment, ...], keys: object, current: bool, check_keys: bool) -> Index:
    if check_keys or not isinstance(keys, dict):
        return Index(segments, checked_keys(keys, segments), current)
    return Index(segments, {}, current, keys)


def span(value: object, segments: Sequence[Segment]) -> SealedSpan | None:
    """One entry of a key map as a span into `segments`; None when it is not a valid one."""
    if type(value) is not list or len(value) != 3:
        return None
    number, offset, length = value
    if type(number) is not int or type(offset) is not int or type(length) is not int:
        return None
    if not (0 <= number < len(segments) and offset >= 0):
        return None
    return (number, offset, length) if 0 < length <= segments[number].size - offset else None


def checked_keys(value: object, segments: Sequence[Segment]) -> dict[str, SealedSpan] | None:
    """A key map whose every entry is a valid span into `segments`; None when any is not."""
    if not isinstance(value, dict):
        return None
    keys: dict[str, SealedSpan] = {}
    for key, entry in value.items():
        checked = span(entry, segments)
        if checked is None:
            return None
        keys[key] = checked
    return keys


def _v1_active(doc: Mapping[str, Any], telemetry_file: str, names: re.Pattern[str]) -> Index | None:
    """A v1 active index: `size`, `crc` (or, older still, only `tailCrc`), 2-part spans."""
    if doc.get("telemetryFile") != telemetry_file:
        return None
    name = os.path.basename(telemetry_file)
    size, crc, tail_crc = doc.get("size"), doc.get("crc"), doc.get("tailCrc")
    if not names.fullmatch(name) or not _is_count(size):
        return None
    if not (_is_count(crc) or _is_count(tail_crc)):
        return None
    segment = Segment(
        name,
        size,
        crc if _is_count(crc) else None,
        tail_crc=tail_crc if _is_count(tail_crc) else None,
    )
    spans = doc.get("keys")
    keys = None
    if isinstance(spans, dict) and all(isinstance(span, list) for span in spans.values()):
        keys = checked_keys({key: [0, *span] for key, span in spans.items()}, (segment,))
    return Index((segment,), keys, False)
