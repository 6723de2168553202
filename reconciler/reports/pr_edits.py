"""The changes a pull request makes by hand to what the reconciler owns (`plan` flags them).

The branch's own changes (merge-base to HEAD) are compared: the owned registry fields by
value (parsed, so comments and other fields may change), and every change to the decision,
telemetry, state and processed intents. core.ownership holds the rule.
"""

from __future__ import annotations

from reconciler.core import ownership
from reconciler.core.editing import RegistryText
from reconciler.core.errors import DocumentError
from reconciler.core.passes import as_text
from reconciler.inputs import documents
from reconciler.loop import checkout as checkouts
from reconciler.loop import queue
from reconciler.loop.checkout import Checkout
from reconciler.loop.paths import LoopPaths
from reconciler.telemetry import segments


def owned_edits(checkout: Checkout, rel: LoopPaths, merge_base: str) -> list[str]:
    """One line per owned field or file the branch changes since `merge_base`."""
    out = checkout.git.run(
        "diff", "--name-only", "-z", "--no-renames", merge_base, checkout.head, "--"
    ).stdout
    changed = sorted({path for path in out.decode("utf-8", "surrogateescape").split("\0") if path})
    owned = owned_files(rel)
    problems = []
    for path in changed:
        if path == rel.registry:
            before = _registry_doc(checkout, merge_base, path)
            after = _registry_doc(checkout, checkout.head, path)
            if before is _UNREADABLE or after is _UNREADABLE:
                continue  # an unreadable registry at HEAD is refused by the evaluation itself
            problems += [
                f"{path}: {line}: the reconciler owns this field; change it through an intent"
                for line in ownership.changed_owned_fields(before, after)
            ]
            continue
        why = ownership.owned_file_problem(path, owned)
        if why:
            problems.append(f"{as_text(path)}: {why}")
    return problems


_UNREADABLE = object()


def _registry_doc(checkout: Checkout, commit: str, path: str) -> object:
    """The registry document of `commit` (None when it has none; _UNREADABLE if unparseable)."""
    entries = checkouts.tree_blobs(checkout, commit, path)
    if path not in entries or entries[path][0] == "120000":
        return None
    blob = entries[path][1]
    data = checkouts.cat_blobs(checkout, [blob])[blob]
    try:
        return RegistryText(data.decode("utf-8"), documents.registry_format(path)).document
    except (UnicodeDecodeError, DocumentError):
        return _UNREADABLE


def owned_files(rel: LoopPaths) -> ownership.OwnedFiles:
    """The files only the reconciler writes, repo-relative (plan's check, verify's audit)."""
    return ownership.OwnedFiles(
        decision=rel.decision,
        state_files=(rel.state, rel.index_file, rel.segments),
        telemetry=rel.telemetry,
        segments=segments.segment_pattern(rel.telemetry.rpartition("/")[2]),
        processed=(f"{rel.intents}/{queue.APPLIED}", f"{rel.intents}/{queue.REJECTED}"),
    )
