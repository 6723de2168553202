"""Security review (wt-attack3): the page shows bidi overrides raw, unlike every text report.

docs/output.md: "a bidi override that reorders the line ... shown escaped as `\\u202e`, in
every text report too"; render/tables.escape_controls does it. The page (HTML and the
script's textContent) does not, so an approval ref or intent name can be displayed
reordered (e.g. `CAB-\\u202e001` reads `CAB-100`). Fails today.
"""

from __future__ import annotations

from reconciler.render import status_page as page
from tests.render.test_status_page import document


def test_bidi_overrides_are_shown_escaped() -> None:
    html = page.page_html(document(actor="CAB-\u202e001\u202c"), live=False)
    assert "\u202e" not in html
