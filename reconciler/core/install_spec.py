"""What the scaffolded workflows install (core layer): check a pip spec, pick a default.

`reconcile init` writes `python -m pip install <SPEC>` into three workflow files, where it
runs in bash on a CI runner. A SPEC comes from `--install` (an operator's text) or from the
running installation's metadata, so it is checked against a strict allow-list: one pip
argument (a `name==version` pin, a `git+https://...@tag` URL, a path), nothing bash or YAML
would read as anything but text.

Pure: the caller reads the installation's metadata (PEP 610 `direct_url.json`) and passes it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

from reconciler.core.errors import RefusalError
from reconciler.core.reasons import ReasonCode

PACKAGE = "rollout-reconciler"
SPEC_LIMIT = 300
"""Longest SPEC accepted, in characters."""
_SPEC = re.compile(r"[A-Za-z0-9./](?:[A-Za-z0-9._/:@+=,%#-]*[A-Za-z0-9._/@+=,%#-])?", re.ASCII)
"""Letters, digits and `. _ / : @ + = , % # -`; not starting with `-` (a pip option) or `#`,
not ending with `:` (YAML would read `install x:` as a mapping key).

No whitespace, quotes, `$`, backticks, `;`, `&`, `|`, `<`, `>`, `(`, `)`, `*`, `?`, `[`,
`]`, `{`, `}`, `!`, `~` or backslash: in the workflow's bash line the SPEC stays one literal
word, and in its YAML plain scalar it cannot start a comment or end the value."""
_REMOTE_URL = re.compile(r"(?!file:)[a-z][a-z0-9+.-]*://", re.ASCII | re.IGNORECASE)
"""A URL with a scheme other than `file:` (PEP 610 requires a URL; a bare path is local)."""
_PASSWORD = re.compile(r"^[^/]*//[^/@]*:[^/@]*@")
"""`user:password@` in the URL's authority (`git@host` and `host:port` have no such pair)."""
EXAMPLE_URL = "git+https://git.example.com/platform/rollout-reconciler@v{version}"


def check_install_spec(spec: str, source: str = "--install") -> str:
    """Return `spec` when it can be pasted into the workflows' install line as it is.

    Raises:
        RefusalError: `install_spec_invalid`, naming `source` and the allowed characters.
    """
    if len(spec) <= SPEC_LIMIT and _SPEC.fullmatch(spec):
        return spec
    shown = json.dumps(spec[:80] + ("..." if len(spec) > 80 else ""))  # ASCII, one line
    raise RefusalError(
        ReasonCode.INSTALL_SPEC_INVALID,
        f"{source} must be one pip requirement or URL of at most {SPEC_LIMIT} characters, "
        "made of letters, digits and . _ / : @ + = , % # - (not starting with - or #, "
        "not ending with :), "
        f"e.g. rollout-reconciler==0.1.0 or {EXAMPLE_URL.format(version='0.1.0')}; "
        f"got {shown}",
    )


def default_install_spec(version: str, direct_url: Mapping[str, object] | None) -> str | None:
    """The SPEC that installs this very reconciler on a fresh machine, or None when unknown.

    `direct_url` is the installation's PEP 610 record (None: there is none, so it came from a
    package index, which then has `rollout-reconciler==<version>`). A git URL is pinned to the
    commit that was installed; an archive URL is used as it is. A local path (`file:`, a bare
    path, an editable source checkout) is unknown: a CI runner cannot reach it; so is a URL
    with a `user:password@` (it would be committed in the workflows).
    """
    if direct_url is None:
        return f"{PACKAGE}=={version}"
    url = direct_url.get("url")
    if not isinstance(url, str) or not _REMOTE_URL.match(url) or _PASSWORD.search(url):
        return None  # a local path, or credentials PEP 610 says to strip (not for a workflow)
    vcs = direct_url.get("vcs_info")
    if isinstance(vcs, Mapping):
        commit = vcs.get("commit_id")
        if vcs.get("vcs") != "git" or not isinstance(commit, str) or not commit:
            return None
        spec = f"git+{url}@{commit}"
    elif isinstance(direct_url.get("archive_info"), Mapping):
        spec = url
    else:
        return None  # a folder (dir_info) somewhere else: not installable from CI either
    subdirectory = direct_url.get("subdirectory")
    if isinstance(subdirectory, str) and subdirectory:
        spec += f"#subdirectory={subdirectory}"
    try:
        return check_install_spec(spec)
    except RefusalError:
        return None  # e.g. a URL with ${TOKEN} in it: the operator must say what CI uses


def unknown_install_error(version: str, location: str) -> RefusalError:
    """The refusal of `init` without `--install` when no default is known."""
    return RefusalError(
        ReasonCode.INSTALL_SPEC_UNKNOWN,
        f"cannot tell where a CI runner can install {PACKAGE} {version} from (this one runs "
        f"from {location}); pass --install SPEC, the argument of the workflows' "
        "`python -m pip install`; nothing was written",
        details=[
            f"--install {EXAMPLE_URL.format(version=version)}  (a tag of your copy of its "
            "git repository)",
            f"--install {PACKAGE}=={version}  (from your package index; set PIP_INDEX_URL "
            "in the workflows when it is a private one)",
        ],
    )
