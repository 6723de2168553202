"""Installed-package adapter: where the running reconciler was installed from (PEP 610).

`pip` records a direct URL install (a git URL, an archive, a local folder or an editable
checkout) in the distribution's `direct_url.json`; an install from a package index has none.
"""

from __future__ import annotations

import json
from importlib import metadata
from typing import Any, NamedTuple


class Origin(NamedTuple):
    """Where an installed distribution came from."""

    installed: bool
    """False: no such distribution (the code runs from a source tree that is not installed)."""
    direct_url: dict[str, Any] | None
    """The PEP 610 record; None when installed from a package index (or not installed)."""
    location: str
    """For messages: the direct URL, `a package index` or `an uninstalled source tree`."""


def installed_origin(name: str) -> Origin:
    """Return where distribution `name` was installed from (unreadable metadata: unknown)."""
    try:
        text = metadata.distribution(name).read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        return Origin(False, None, "an uninstalled source tree")
    except OSError:
        return Origin(False, None, "an installation whose metadata cannot be read")
    if text is None:
        return Origin(True, None, "a package index")
    try:
        doc = json.loads(text)
    except ValueError:
        return Origin(False, None, "an installation with an unreadable direct_url.json")
    if not isinstance(doc, dict):
        return Origin(False, None, "an installation with an unreadable direct_url.json")
    url = doc.get("url")
    if not isinstance(url, str):
        return Origin(True, doc, "an unknown direct URL")
    info = doc.get("dir_info")
    if isinstance(info, dict):
        kind = "the editable checkout" if info.get("editable") else "the folder"
        return Origin(True, doc, f"{kind} {url}")
    return Origin(True, doc, url)
