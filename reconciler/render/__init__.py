"""Everything `reconcile` shows people or programs, as strings; the commands write them.

- `json_output`: JSON documents (one indented object) and JSON lines (one object per item).
- `vocabulary`: the words and forms of every human output (pause, changes, times, absences).
- `tables`: plain-text tables; every cell is data, never markup, and never a second line.
- `text`: the line-by-line reports for people (a pass, plan, status, validate, dispatch...).
- `markdown`: the GitHub step summaries of `plan` and `dispatch`, data escaped.
- `diagnostics`: the `error:` and `warning:` lines of stderr.

The conventions are written down in docs/output.md. This file imports nothing: `reconcile
apply` loads only `json_output` and `diagnostics` (start-up time).
"""
