"""Real git policy repositories for the `--once` loop tests: build, commit, run, inspect.

Everything here runs the real `git` binary in temp folders (tests/conftest.py isolates it
from the developer's config). A pass runs in-process with a fixed clock (`once`) or as a
real `python -m reconciler --once` process (`run_cli`) for exit codes, JSON and kill -9.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from reconciler.loop.once import OnceOptions, PassReport, run_once

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "policies"
FIXED = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)
"""The injected clock of in-process passes; the example decision is 6 h older."""
REVIEW_BY = "2099-01-01T00:00:00Z"
INTENTS = "policies/intents"
REGISTRY = "policies/registry.yaml"
DECISION = "policies/promotion/decision.json"
STATE = "policies/state/promotion-apply-state.json"
INDEX = "policies/state/promotion-apply-index.json"
SEGMENTS = "policies/state/promotion-apply-segments.json"
TELEMETRY = "policies/telemetry/promotion-apply.jsonl"
BOT = "rollout-reconciler <reconciler@localhost>"


# Git -------------------------------------------------------------------------------------


def git(repo: Path, *args: str, check: bool = True) -> str:
    """Run `git -C repo args...`; return stdout (trailing newline removed)."""
    done = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=False
    )
    if check and done.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed ({done.returncode}): {done.stderr}")
    return done.stdout.rstrip("\n")


def head(repo: Path, rev: str = "HEAD") -> str:
    return git(repo, "rev-parse", rev)


def commit_all(repo: Path, message: str = "operator change") -> str:
    """Stage everything and commit it (as the operator); return the new SHA."""
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--no-verify", "-m", message)
    return head(repo)


def status(repo: Path) -> str:
    """`git status --porcelain` including untracked files ('' when clean)."""
    return git(repo, "status", "--porcelain", "--untracked-files=all")


def count_commits(repo: Path, rev: str = "HEAD") -> int:
    return int(git(repo, "rev-list", "--count", rev))


def name_status(repo: Path, rev: str) -> set[tuple[str, str]]:
    """{(status letter, path)} of one commit against its parent (renames off)."""
    out = git(repo, "show", "-z", "--no-renames", "--name-status", "--format=", rev)
    items = [item for item in out.strip("\n").split("\0") if item]
    return {(items[i], items[i + 1]) for i in range(0, len(items) - 1, 2)}


def trailer(repo: Path, rev: str, key: str) -> str:
    """The value of one trailer of one commit ('' when absent)."""
    return git(repo, "log", "-1", f"--format=%(trailers:key={key},valueonly,unfold)", rev).strip()


def trailers(repo: Path, rev: str) -> dict[str, str]:
    """Every trailer of one commit, as git itself parses them."""
    out = git(repo, "log", "-1", "--format=%(trailers:only,unfold)", rev)
    found = {}
    for line in out.splitlines():
        key, sep, value = line.partition(": ")
        if sep:
            found[key] = value
    return found


def subject(repo: Path, rev: str) -> str:
    return git(repo, "log", "-1", "--format=%s", rev)


def bot_commits(repo: Path, rev: str = "HEAD") -> list[str]:
    """SHAs of the reconciler's commits reachable from `rev`, oldest first."""
    out = git(repo, "log", "--reverse", "--format=%H %an <%ae>", rev)
    return [line.split(" ", 1)[0] for line in out.splitlines() if line.endswith(BOT)]


def show_file(repo: Path, rev: str, path: str) -> str:
    return git(repo, "show", f"{rev}:{path}")


# Repositories ----------------------------------------------------------------------------


UNPACED = "guards:\n  decisionAfterChange: false\n"
"""reconciler.yaml's guards with every guard off (the `policies/` layout turns one on)."""


def make_policy_repo(
    path: Path,
    *,
    decision: str | None = "promote",
    generated_at: datetime | None = FIXED - timedelta(hours=6),
    trace_id: str = "gates-2026-11-24-0600",
    mode: str = "guarded_auto",
    settings: str | None = None,
    paced: bool = True,
) -> Path:
    """A git repo (branch main) holding a copy of the example policies/ tree, committed.

    `decision=None` removes the decision file; `generated_at=None` leaves it out of the
    decision; `settings` becomes reconciler.yaml. `paced=False` turns the layout's default
    guard (decisionAfterChange) off, for tests of other things that apply several expands
    on one decision.
    """
    if not paced:
        assert settings is None or "guards:" not in settings
        settings = UNPACED + (settings or "")
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.name", "Operator")
    git(path, "config", "user.email", "operator@example.com")
    shutil.copytree(EXAMPLE, path / "policies")
    if mode != "guarded_auto":
        registry = path / REGISTRY
        text = registry.read_text()
        registry.write_text(text.replace("mode: guarded_auto ", f"mode: {mode} ", 1))
    if decision is None:
        (path / DECISION).unlink()
    else:
        write_decision(path, decision, generated_at=generated_at, trace_id=trace_id)
    if settings is not None:
        (path / "reconciler.yaml").write_text(settings)
    commit_all(path, "policies: initial tree")
    return path


def write_decision(
    repo: Path,
    decision: str = "promote",
    *,
    generated_at: datetime | None = FIXED - timedelta(hours=6),
    trace_id: str | None = "gates-2026-11-24-0600",
    path: str = DECISION,
) -> Path:
    """Rewrite the example decision with another verdict, time or trace id (not committed)."""
    doc = json.loads((EXAMPLE / "promotion" / "decision.json").read_text())
    doc["summary"]["decision"] = decision
    doc["summary"]["promote"] = decision == "promote"
    doc.pop("generatedAt", None)
    doc.pop("traceId", None)
    if generated_at is not None:
        doc["generatedAt"] = generated_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    if trace_id is not None:
        doc["traceId"] = trace_id
    target = repo / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(doc, indent=2) + "\n")
    return target


def intent_text(
    intent: str = "expand",
    *,
    step: object = None,
    actor: str = "alice",
    approval_ref: str = "CAB-123",
    rationale: str = "gates green for 7 days",
    review_by: str = REVIEW_BY,
    **extra: Any,
) -> str:
    """The YAML of an intent file (governance complete unless overridden)."""
    lines = [f"intent: {intent}"]
    if step is not None:
        lines.append(f"expandStep: {json.dumps(step)}")
    lines += [
        "governance:",
        f"  actor: {actor}",
        f"  approvalRef: {approval_ref}",
        f"  rationale: {json.dumps(rationale)}",
        f"  reviewBy: {review_by}",
    ]
    lines += [f"{key}: {json.dumps(value)}" for key, value in extra.items()]
    return "\n".join(lines) + "\n"


def write_intent(
    repo: Path, name: str, content: str | bytes | None = None, *, folder: str = INTENTS, **kw: Any
) -> Path:
    """Write an intent file (default: `intent_text(**kw)`); not committed."""
    target = repo / folder / name
    target.parent.mkdir(parents=True, exist_ok=True)
    if content is None:
        content = intent_text(**kw)
    data = content.encode() if isinstance(content, str) else content
    target.write_bytes(data)
    return target


def add_intents(repo: Path, intents: dict[str, str | dict[str, Any]]) -> str:
    """Write intent files (text, or intent_text keyword arguments); commit only those."""
    for name, spec in intents.items():
        if isinstance(spec, dict):
            write_intent(repo, name, **spec)
        else:
            write_intent(repo, name, spec)
    git(repo, "add", "--", *(f"{INTENTS}/{name}" for name in intents))
    git(repo, "commit", "-q", "--no-verify", "-m", f"intents: {', '.join(intents)}")
    return head(repo)


def make_remote(tmp: Path, source: Path, name: str = "remote.git") -> Path:
    """A bare repository holding `source`'s main branch; `source` gets it as `origin`."""
    bare = tmp / name
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    git(source, "remote", "add", "origin", str(bare))
    git(source, "push", "-q", "origin", "main")
    git(source, "branch", "-q", "--set-upstream-to=origin/main")
    return bare


def clone(bare: Path, dest: Path) -> Path:
    subprocess.run(["git", "clone", "-q", str(bare), str(dest)], check=True, capture_output=True)
    git(dest, "config", "user.name", "Operator")
    git(dest, "config", "user.email", "operator@example.com")
    return dest


# Running ---------------------------------------------------------------------------------


def once(
    repo: Path,
    *,
    at: datetime = FIXED,
    clock: Callable[[], datetime] | None = None,
    **options: Any,
) -> PassReport:
    """Run one `--once` pass in-process with the clock fixed at `at` (or `clock`)."""
    return run_once(OnceOptions(repo=str(repo), **options), now=clock or (lambda: at))


def ticking_clock(start: datetime = FIXED, step: timedelta = timedelta(minutes=1)) -> Any:
    """A clock that moves `step` forward at every reading."""
    readings = iter(range(1_000_000))
    return lambda: start + step * next(readings)


def reconcile(
    cwd: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 100
) -> subprocess.CompletedProcess[str]:
    """Run `python -m reconciler <args>` as a real process in `cwd` (any command)."""
    return subprocess.run(
        [sys.executable, "-m", "reconciler", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=str(cwd),
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        check=False,
    )


def recent() -> datetime:
    """A decision time the real clock of a `reconcile` process accepts (max age 24h)."""
    return datetime.now(UTC) - timedelta(minutes=30)


def run_cli(
    repo: Path, *args: str, timeout: float = 60, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `python -m reconciler --once --repo repo args...` as a real process."""
    return subprocess.run(
        [sys.executable, "-m", "reconciler", "--once", "--repo", str(repo), *args],
        capture_output=True,
        text=True,
        errors="surrogateescape",
        timeout=timeout,
        cwd=str(ROOT),
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        check=False,
    )


def json_lines(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


# Reading the records -----------------------------------------------------------------------


def records(repo: Path, rev: str | None = None, path: str = TELEMETRY) -> list[dict[str, Any]]:
    """The telemetry records of the active segment (in the worktree, or at `rev`)."""
    if rev is not None:
        text = git(repo, "show", f"{rev}:{path}", check=False)
    else:
        file = repo / path
        text = file.read_text() if file.exists() else ""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def all_records(repo: Path, folder: str = "policies/telemetry") -> list[dict[str, Any]]:
    """Every telemetry record, sealed segments (oldest first) then the active file."""
    found: list[dict[str, Any]] = []
    names = sorted(p.name for p in (repo / folder).glob("*.jsonl") if p.name.count(".") > 1)
    for name in [*names, "promotion-apply.jsonl"]:
        file = repo / folder / name
        if file.exists():
            found += [json.loads(line) for line in file.read_text().splitlines() if line]
    return found


def state(repo: Path, path: str = STATE) -> dict[str, Any]:
    value: dict[str, Any] = json.loads((repo / path).read_text())
    return value


def pending(repo: Path, folder: str = INTENTS) -> list[str]:
    """Names of the files directly in the intents folder (processed ones are in subfolders)."""
    base = repo / folder
    if not base.exists():
        return []
    return sorted(p.name for p in base.iterdir() if not p.is_dir() or p.is_symlink())


def processed(repo: Path, kind: str, folder: str = INTENTS) -> list[str]:
    """Names of the files in `applied/` or `rejected/`."""
    base = repo / folder / kind
    return sorted(p.name for p in base.iterdir()) if base.exists() else []


def canary(repo: Path) -> int:
    """The registry's canaryPercent (YAML example layout), read as text."""
    for line in (repo / REGISTRY).read_text().splitlines():
        if line.strip().startswith("canaryPercent:"):
            return int(line.split(":", 1)[1].split("#", 1)[0])
    raise AssertionError("no canaryPercent line")


def statuses(report: PassReport) -> list[tuple[str, str]]:
    """(file name, status) of each outcome of a pass."""
    return [(outcome.source.name, outcome.status) for outcome in report.outcomes]
