"""Telemetry: the one home of the records, their segments and their key index.

- `ledger`: the Ledger, what `reconcile apply` and the loop both read and write through:
  "was this key applied?" (`find_applied`), applied records since a time (`applied_since`),
  appends and rotation;
- `active`: the active file checked against its index; `segments`: sealed segments' names,
  discovery and checks; `index`: the one index format (and reading the old one);
- `reading`: which segments a read since a time must open; `checks`: `validate`'s audits.

The apply journal (reconciler/journal.py) is not telemetry: it makes one apply's writes atomic.
"""
