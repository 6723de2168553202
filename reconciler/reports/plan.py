"""`reconcile plan`: the pull-request check, writing nothing.

The branch is merged into its target in memory (reports.merging) and the pending intents of
the merged tree are evaluated, in the loop's order, on the merged tree's registry, decision
and telemetry: exactly what `--once` commits once the branch merges. Per intent it shows the
status, reason codes, canary and pause before -> after, the commit subject and trailers; it
also flags every change the branch makes by hand to what the reconciler owns
(reports.pr_edits) and lists the entries of the intents folder that are not intents.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from reconciler.adapters import files
from reconciler.core import commit_messages, queueing
from reconciler.core.errors import RefusalError
from reconciler.core.guard_settings import PassGuards
from reconciler.core.outcome_rows import outcome_row
from reconciler.core.passes import IntentSource, Outcome
from reconciler.core.reasons import ReasonCode
from reconciler.inputs import fleet_layouts, guarding, layouts, trusting
from reconciler.inputs.fleet import Fleet
from reconciler.inputs.layouts import Layout
from reconciler.loop import checkout as checkouts
from reconciler.loop import pass_state, prediction, provenance, queue, symlinks
from reconciler.loop.checkout import Checkout
from reconciler.loop.config import LoopConfig, load_configs
from reconciler.loop.paths import LoopPaths
from reconciler.reports import auditing, merging, pr_edits
from reconciler.telemetry import ledger
from reconciler.telemetry.ledger import Change, Ledger


class PlanItem(NamedTuple):
    """One predicted outcome; `new` when the branch adds or changes the intent."""

    outcome: Outcome
    new: bool


class Plan(NamedTuple):
    """The plan of a branch against the branch it merges into."""

    base: str
    """The target commit (the tip of `base_ref`) the branch is merged into."""
    base_ref: str
    merge_base: str
    head: str
    items: list[PlanItem]
    problems: list[str]
    """The branch's own edits of content the reconciler owns, one line each."""
    ignored: list[queueing.Ignored]
    """Entries of the merged intents folder that are not intents."""

    @property
    def rejected(self) -> bool:
        """Whether an intent the branch adds would be rejected."""
        return any(item.new and item.outcome.status == "rejected" for item in self.items)

    @property
    def failed(self) -> bool:
        """Whether the check fails (exit 3): a new intent rejected, or owned content edited."""
        return self.rejected or bool(self.problems)


def _refuse_symlinks(checkout: Checkout, commit: str, rel: LoopPaths) -> None:
    listing = checkouts.tree_blobs(checkout, commit, *symlinks.listing_specs(rel))
    symlinks.refuse_tracked_symlinks(listing, rel, commit)


def make_plan(
    repo: str, base: str | None, *, now: Callable[[], datetime], fleets: Sequence[str] = ()
) -> Plan:
    """Plan the merge of HEAD into `base` (default: the default branch).

    With several fleets, every fleet (or those `fleets` names) is planned as the loop runs
    them: upstream first, each on the merged tree as the fleets before it left it (their
    predicted registry and records), so a downstream's upstream gate sees them.

    Raises:
        RefusalError: not a git repository, unknown base, a conflicting merge, an invalid
            registry after the merge; `fleet_unknown`, `fleets_invalid`.
    """
    configs = load_configs(repo)  # every fleet: an upstream not planned is still read
    chosen = {each.fleet.id for each in (load_configs(repo, fleets=fleets) if fleets else configs)}
    config = configs[0]
    checkout = checkouts.open_checkout(config.layout.repo)
    # An explicit empty --base is an invalid ref, not "use the default" (resolve_base says so).
    base_ref = base if base is not None else default_base(checkout, config)
    target, merge_base = resolve_base(checkout, base_ref, explicit=base is not None)
    rels = [each.relative_paths(checkout) for each in configs]
    problems: list[str] = []
    for each, rel in zip(configs, rels, strict=True):
        if each.fleet.id not in chosen:
            continue
        # The loop would refuse a symlink committed on the target or brought by the merge as
        # it does one at HEAD (checked with the pending intents): the plan must not predict
        # through one.
        _refuse_symlinks(checkout, target, rel)
        problems += pr_edits.owned_edits(checkout, rel, merge_base)
    items: list[PlanItem] = []
    ignored: list[queueing.Ignored] = []
    with (
        merging.merged(checkout, target, base_ref) as merge,
        tempfile.TemporaryDirectory(prefix="reconcile-plan-") as root,
    ):
        view = merge.checkout
        for rel in rels:
            merging.materialise(
                view, view.head, root, [rel.registry, rel.decision, rel.state, rel.telemetry]
            )
        in_root = {
            each.fleet.id: _fleet_in(root, each, rel)
            for each, rel in zip(configs, rels, strict=True)
        }
        for each, rel in zip(configs, rels, strict=True):
            if each.fleet.id in chosen:
                fleet_items, fleet_ignored = _plan_fleet(
                    checkout, view, each, rel, root, target, in_root, now
                )
                items += fleet_items
                ignored += fleet_ignored
    return Plan(target, base_ref, merge_base, checkout.head, items, problems, ignored)


def _fleet_in(root: str, config: LoopConfig, rel: LoopPaths) -> Fleet:
    """A fleet's files in the materialised merge (where its predicted outcomes land)."""
    return config.fleet._replace(
        registry=pass_state.in_tree(root, rel.registry),
        decision=pass_state.in_tree(root, rel.decision),
        state=pass_state.in_tree(root, rel.state),
        telemetry=pass_state.in_tree(root, rel.telemetry),
    )


def _plan_fleet(
    checkout: Checkout,
    view: Checkout,
    config: LoopConfig,
    rel: LoopPaths,
    root: str,
    target: str,
    in_root: dict[str, Fleet],
    now: Callable[[], datetime],
) -> tuple[list[PlanItem], list[queueing.Ignored]]:
    """One fleet's predicted outcomes on the merged tree, then landed there (`_land`)."""
    pending_at_target = merging.tree_queue(checkout, target, rel.intents)[0]
    at_target = {entry.path: entry.blob for entry in pending_at_target}
    _refuse_symlinks(view, view.head, rel)
    entries, ignored = merging.tree_queue(view, view.head, rel.intents)
    merging.write_intents(view, entries, root)
    sources = _sources(checkout, view, config, rel, entries, root)
    layout = _merged_layout(view, config, rel, root)
    if layout.upstream is not None:
        # The upstream as the merge has it, with what its own pass just predicted: the loop's
        # downstream pass reads the upstream's files after the upstream's commits.
        layout = layout._replace(upstream=in_root[layout.upstream.id])
    trust = provenance.pass_trust(view, _merged_trust_files(view, layout, rel, root), rel.decision)
    sources = _merge_pending(pass_state.with_provenance(view, trust, sources), at_target)
    state = pass_state.load_state(
        config,
        pass_state.record_files(rel),
        registry_file=pass_state.in_tree(root, rel.registry),
        decision_file=pass_state.in_tree(root, rel.decision),
        base_commit=view.head,
        now=now(),
        guards=_merged_guards(view, layout, rel, root),
        trust=trust,
    )
    pass_state.require_usable_registry(state, sources, now())
    history = Ledger(
        pass_state.in_tree(root, rel.telemetry),
        pass_state.in_tree(root, rel.state),
        config.rotate_bytes,
    )
    # The audit of the branch as checked out: the history the merge brings in.
    state = pass_state.with_drift(
        state, auditing.auditor(config.layout.repo, remember=False), view, history, sources
    )
    changes: list[Change] = []
    outcomes = prediction.predict(state, sources, history, now, changes=changes)
    _land(in_root[config.fleet.id], outcomes, changes)
    merged_blobs = {entry.path: entry.blob for entry in entries}
    items = [
        PlanItem(outcome, _is_new(outcome.source.path, merged_blobs, at_target))
        for outcome in outcomes
    ]
    return items, ignored


def _land(fleet: Fleet, outcomes: Sequence[Outcome], changes: Sequence[Change]) -> None:
    """Write a fleet's predicted registry and records into the materialised merge.

    What the loop's commits leave for the next fleet's pass: the upstream gate of a fleet
    planned later reads them.
    """
    applied = [outcome for outcome in outcomes if outcome.status == "applied"]
    written: list[tuple[str, bytes | None]] = list(changes)
    if applied:
        written.append((fleet.registry, applied[-1].state.registry.text.encode("utf-8")))
    for path, data in written:
        if data is None:
            files.remove(path, durable=False)
        else:
            os.makedirs(os.path.dirname(path), exist_ok=True)  # no telemetry yet, say
            files.atomic_write(path, data, durable=False)


def _merged_layout(view: Checkout, config: LoopConfig, rel: LoopPaths, root: str) -> Layout:
    """The layout with the merge's reconciler.yaml: what the pass after the merge reads.

    Raises:
        RefusalError: the merged reconciler.yaml is invalid (the pass would refuse it too).
    """
    merging.materialise_file(view, view.head, root, rel.settings)
    folder = os.path.dirname(pass_state.in_tree(root, rel.settings))
    return fleet_layouts.with_settings(config.layout, layouts.load_repo_settings(folder))


def _in_repo(rel: LoopPaths, relative: str) -> str:
    """A repo-relative path (as settings give it) as a path of the worktree."""
    prefix = rel.settings.rpartition("/")[0]  # where the repository is in the worktree
    return f"{prefix}/{relative}" if prefix else relative


def _merged_trust_files(
    view: Checkout, layout: Layout, rel: LoopPaths, root: str
) -> trusting.TrustFiles | RefusalError | None:
    """The trust files of the merge: its `trust:`, allowed signers and access policy."""
    settings = trusting.trust_settings(layout)
    if settings is not None and not isinstance(settings, RefusalError):
        for relative in (settings.allowed_signers, settings.access):
            if relative is not None:
                with contextlib.suppress(RefusalError):  # a bad path: load_trust says why
                    merging.materialise_file(view, view.head, root, _in_repo(rel, relative))
    prefix = rel.settings.rpartition("/")[0]
    return trusting.load_trust(layout, os.path.join(root, *prefix.split("/")) if prefix else root)


def _merge_pending(sources: list[IntentSource], at_target: dict[str, str]) -> list[IntentSource]:
    """The sources, with approval left to the merge for each file the branch brings.

    That merge is yet to be made (the file is new or changed), so `plan` does not predict it.
    """
    return [
        source._replace(provenance=source.provenance._replace(merge_pending=True, approval=None))
        if source.provenance is not None
        and source.provenance.committed
        and at_target.get(source.path) != source.blob
        else source
        for source in sources
    ]


def _merged_guards(view: Checkout, layout: Layout, rel: LoopPaths, root: str) -> PassGuards | None:
    """The guards as merged: reconciler.yaml's `guards:` and the freeze file of the merge.

    A pull request that adds a freeze window, or that main tightened since the branch forked,
    is planned with it, as the pass after the merge will evaluate it.
    """
    freeze_file = guarding.load_guard_settings(layout)[0].freeze_file
    if freeze_file is None:
        return guarding.load_guards(layout, records=ledger.applied_records)
    relative = _in_repo(rel, freeze_file)
    merging.materialise_file(view, view.head, root, relative)
    return guarding.load_guards(layout, (root, relative), records=ledger.applied_records)


def _is_new(path: str, merged: dict[str, str], at_target: dict[str, str]) -> bool:
    # Not committed (only in the worktree), not pending on the target, or changed by the branch.
    return path not in merged or at_target.get(path) != merged[path]


def _sources(
    checkout: Checkout,
    view: Checkout,
    config: LoopConfig,
    rel: LoopPaths,
    entries: Sequence[merging.TreeEntry],
    root: str,
) -> list[IntentSource]:
    """The pending intents of the merged tree, then the worktree's uncommitted ones.

    A file not committed yet counts too, so a plan right after `reconcile intent new` shows
    it; every committed file is read as the merge has it, never from the worktree.
    """
    items = [queue.PendingFile(item.path, pass_state.in_tree(root, item.path)) for item in entries]
    adding = queue.find_adding_commits(view, [item.path for item in items])
    sources = [queue.read_source(item, adding.get(item.path)) for item in items]
    merged = {entry.path for entry in entries}
    tracked = symlinks.tracked_intents(checkout, rel)
    sources += [
        queue.read_source(item, None)
        for item in queue.list_pending(checkout, config.fleet.intents)
        if item.path not in tracked and item.path not in merged
    ]
    return sorted(sources, key=lambda source: os.fsencode(source.path))


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


def resolve_base(checkout: Checkout, ref: str, *, explicit: bool) -> tuple[str, str]:
    """Return the commit `ref` names and its merge-base with HEAD (where the branch started).

    Raises:
        RefusalError: `ref` is not a commit, or shares no history with HEAD
            (`base_ref_invalid`).
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
    return target, merge_base.stdout.decode().strip()


def plan_rows(plan: Plan) -> list[dict[str, Any]]:
    """One JSON-ready row per intent: outcome_row plus `new` and the full commit message."""
    rows = []
    for item in plan.items:
        row = outcome_row(item.outcome, None)
        row["new"] = item.new
        row["message"] = commit_messages.commit_message(item.outcome)
        rows.append(row)
    return rows


def plan_summary(plan: Plan, rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The last JSON line of `plan --json`."""
    return {
        "type": "plan",
        "base": plan.base,
        "baseRef": plan.base_ref,
        "mergeBase": plan.merge_base,
        "head": plan.head,
        "new": len({row["intentFile"] for row in rows if row["new"]}),
        "rejected": plan.rejected,
        "reasonCodes": [str(ReasonCode.PR_EDITS_OWNED_CONTENT)] if plan.problems else [],
        "problems": list(plan.problems),
        "ignored": [queueing.ignored_json(item) for item in plan.ignored],
    }


def owned_edits_error(plan: Plan) -> RefusalError:
    """The owned-content problems as one error (printed after the plan; the exit is 3)."""
    return RefusalError(
        ReasonCode.PR_EDITS_OWNED_CONTENT,
        f"the branch edits {len(plan.problems)} thing(s) only the reconciler (or the gates job) "
        "writes; the plan above is what the reconciler would commit after such a merge, so "
        "revert those edits and ask for changes through intents",
        details=plan.problems,
    )
