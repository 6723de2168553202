"""`reconcile plan`: the pull-request check, writing nothing.

The intents a branch adds since its base are evaluated, in the loop's order, on top of the
base commit's registry, decision and telemetry (read from git, not from the checkout), so
the plan shows what the reconciler will commit once the branch merges: per intent the
status, reason codes, canary and pause before -> after, the commit subject and trailers.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from datetime import datetime
from typing import Any, NamedTuple

from reconciler.adapters import files
from reconciler.core import commit_messages
from reconciler.core.errors import RefusalError
from reconciler.core.passes import Outcome
from reconciler.core.reasons import ReasonCode
from reconciler.ledger import Ledger
from reconciler.loop import checkout as checkouts
from reconciler.loop import prediction, queue, symlinks
from reconciler.loop.checkout import Checkout
from reconciler.loop.config import LoopConfig, load_config
from reconciler.loop.once import OnceOptions
from reconciler.reports.outcomes import outcome_row


class PlanItem(NamedTuple):
    """One predicted outcome; `new` when the base lacks the intent (else already pending)."""

    outcome: Outcome
    new: bool


class Plan(NamedTuple):
    """The plan of a branch against its base."""

    base: str
    base_ref: str
    head: str
    items: list[PlanItem]

    @property
    def rejected(self) -> bool:
        """Whether an intent the branch adds would be rejected (exit 3)."""
        return any(item.new and item.outcome.status == "rejected" for item in self.items)


def make_plan(repo: str, base: str | None, *, now: Callable[[], datetime]) -> Plan:
    """Evaluate the intents added since `base` (default: merge-base with the default branch).

    Raises:
        RefusalError: not a git repository, unknown base, invalid registry at the base.
    """
    config = load_config(OnceOptions(repo=repo))
    checkout = checkouts.open_checkout(config.layout.repo)
    # An explicit empty --base is an invalid ref, not "use the default" (resolve_base says so).
    base_ref = base if base is not None else default_base(checkout, config)
    base_sha = resolve_base(checkout, base_ref, explicit=base is not None)
    rel = config.relative_paths(checkout)
    # The loop would refuse a symlink committed at the base as it does one at HEAD (checked
    # with the pending intents): the plan must not predict through one.
    listing = checkouts.tree_blobs(checkout, base_sha, *symlinks.listing_specs(rel))
    symlinks.refuse_tracked_symlinks(listing, rel, base_sha)
    at_base = intents_at(checkout, base_sha, rel.intents)
    sources = prediction.read_pending(checkout, config)
    with tempfile.TemporaryDirectory(prefix="reconcile-plan-") as root:
        materialise(
            checkout, base_sha, root, [rel.registry, rel.decision, rel.state, rel.telemetry]
        )
        state = prediction.load_state(
            config,
            prediction.record_files(rel),
            registry_file=prediction.in_tree(root, rel.registry),
            decision_file=prediction.in_tree(root, rel.decision),
            base_commit=base_sha,
            now=now(),
        )
        prediction.require_usable_registry(state, sources, now())
        history = Ledger(
            prediction.in_tree(root, rel.telemetry),
            prediction.in_tree(root, rel.state),
            config.rotate_bytes,
        )
        outcomes = prediction.predict(state, sources, history, now)
    items = [PlanItem(outcome, outcome.source.path not in at_base) for outcome in outcomes]
    return Plan(base_sha, base_ref, checkout.head, items)


def default_base(checkout: Checkout, config: LoopConfig) -> str:
    """The default branch to compare with: `<remote>/<branch>`, `<remote>/HEAD`, main, master."""
    remote = config.remote
    candidates = []
    if config.branch:
        candidates.append(f"{remote}/{config.branch}")
    symbolic = checkout.git.run(
        "symbolic-ref", "-q", "--short", f"refs/remotes/{remote}/HEAD", check=False
    )
    if symbolic.returncode == 0:
        candidates.append(symbolic.stdout.decode().strip())
    candidates += [f"{remote}/main", f"{remote}/master", "main", "master"]
    for candidate in candidates:
        done = checkout.git.run(
            "rev-parse", "--verify", "-q", f"{candidate}^{{commit}}", check=False
        )
        if done.returncode == 0:
            return candidate
    raise RefusalError(
        ReasonCode.BASE_REF_INVALID,
        f"cannot find the default branch to compare with (tried {', '.join(candidates)}); "
        "pass --base REF",
    )


def resolve_base(checkout: Checkout, ref: str, *, explicit: bool) -> str:
    """Return the merge-base of HEAD and `ref` (the commit the branch started from).

    Raises:
        RefusalError: `ref` is not a commit (`base_ref_invalid`).
    """
    if not ref or ref.startswith("-"):
        raise RefusalError(ReasonCode.BASE_REF_INVALID, f"--base is not a valid ref: {ref!r}")
    done = checkout.git.run("rev-parse", "--verify", "-q", f"{ref}^{{commit}}", check=False)
    if done.returncode != 0:
        hint = "" if explicit else " (set it with --base)"
        raise RefusalError(ReasonCode.BASE_REF_INVALID, f"unknown base ref: {ref}{hint}")
    target = done.stdout.decode().strip()
    merge_base = checkout.git.run("merge-base", checkout.head, target, check=False)
    if merge_base.returncode != 0:
        raise RefusalError(ReasonCode.BASE_REF_INVALID, f"HEAD and {ref} have no common history")
    return merge_base.stdout.decode().strip()


def intents_at(checkout: Checkout, commit: str, intents: str) -> set[str]:
    """Return the pending intent paths of `commit`; any other pending one is new.

    New means added by the branch or not committed yet (a plan run before `git commit`).
    """
    out = checkout.git.run("ls-tree", "-z", "--name-only", commit, "--", f"{intents}/").stdout
    found = set()
    for item in out.split(b"\0"):
        path = item.decode("utf-8", "surrogateescape")
        folder, _, name = path.rpartition("/")
        if folder == intents and name.lower().endswith(queue.INTENT_SUFFIXES):
            found.add(path)
    return found


def materialise(checkout: Checkout, commit: str, root: str, paths: list[str]) -> None:
    """Write the files of `commit` that the evaluation reads into `root` (same relative paths).

    The registry and decision themselves, and every file in the folders of the state and
    telemetry files (indexes and telemetry segments).
    """
    registry, decision, state, telemetry = paths
    specs = [registry, decision]
    for path in (state, telemetry):
        folder = path.rpartition("/")[0]
        specs.append(f"{folder}/" if folder else path)
    # Not recursive: only the files directly in those folders (never, say, a whole
    # applied/ history in the bash layout, where the state folder is the fleet folder).
    entries = checkouts.tree_blobs(checkout, commit, *specs)
    wanted = {path: blob for path, (mode, blob) in entries.items() if mode != "120000"}
    contents = checkouts.cat_blobs(checkout, list(wanted.values()))
    for path, blob in wanted.items():
        target = prediction.in_tree(root, path)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        files.atomic_write(target, contents[blob], durable=False)


def plan_rows(plan: Plan) -> list[dict[str, Any]]:
    """One JSON-ready row per intent: outcome_row plus `new` and the full commit message."""
    rows = []
    for item in plan.items:
        row = outcome_row(item.outcome, None)
        row["new"] = item.new
        row["message"] = commit_messages.commit_message(item.outcome)
        rows.append(row)
    return rows


def _cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def plan_markdown(plan: Plan) -> str:
    """The plan as a Markdown summary (GitHub step summary / --summary-file)."""
    rows = plan_rows(plan)
    new = [row for row in rows if row["new"]]
    counts = {status: sum(row["status"] == status for row in new) for status in
              ("applied", "replayed", "rejected")}  # fmt: skip
    lines = [
        "## reconcile plan",
        "",
        f"Base `{plan.base[:12]}` ({_cell(plan.base_ref)}), head `{plan.head[:12]}`: "
        f"{len(new)} new intent(s): {counts['applied']} would be applied, "
        f"{counts['replayed']} replayed, {counts['rejected']} rejected.",
        "",
    ]
    if not rows:
        lines.append("No pending intents.")
        return "\n".join(lines) + "\n"
    lines += [
        "| intent | new | status | action | canary | pause | reasons |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        mark = {"applied": "✅", "replayed": "🔁", "rejected": "❌"}[row["status"]]
        lines.append(
            f"| `{_cell(row['intentFile'].rsplit('/', 1)[-1])}` | {'yes' if row['new'] else 'no'} "
            f"| {mark} {row['status']} | {row['action']} "
            f"| {row['canary']['before']}% → {row['canary']['after']}% "
            f"| {str(row['manualPause']['before']).lower()} → "
            f"{str(row['manualPause']['after']).lower()} "
            f"| {_cell(', '.join(row['reasonCodes']) or '-')} |"
        )
    lines.append("")
    for row in rows:
        lines += [
            f"<details><summary>{_cell(row['subject'])}</summary>",
            "",
            "```",
            row["message"].rstrip("\n").replace("```", "'''"),
            "```",
            "",
            "</details>",
            "",
        ]
    return "\n".join(lines)
