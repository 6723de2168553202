"""`reconcile demo`: the operator flow on the bundled example, in a temporary folder.

A bare repository plays the remote (GitHub), one clone the operator's laptop, another the
CI runner of the reconcile workflow. Operators write intents with `reconcile intent new`,
check them with `reconcile plan` on a branch, merge; CI runs `reconcile --once --push`.
Then `status` and `history` show the result. Every step is a real `reconcile` or `git`
process, printed before it runs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from reconciler import __version__
from reconciler.core.install_spec import EXAMPLE_URL
from reconciler.core.timestamps import format_timestamp

_BOLD, _DIM, _RESET = "\033[1m", "\033[2m", "\033[0m"


class Demo:
    """One demo run in `root`; `say` prints, `run` runs a command in a folder and echoes it."""

    def __init__(self, root: str, now: datetime, *, color: bool) -> None:
        self.root = root
        self.now = now
        self.color = color
        self.env = {
            **os.environ,
            "GIT_AUTHOR_NAME": "Alice Operator",
            "GIT_AUTHOR_EMAIL": "alice@example.com",
            "GIT_COMMITTER_NAME": "Alice Operator",
            "GIT_COMMITTER_EMAIL": "alice@example.com",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
        }
        self.env.pop("GITHUB_STEP_SUMMARY", None)

    def say(self, title: str) -> None:
        """Print a step title."""
        text = f"\n== {title}"
        sys.stdout.write((f"{_BOLD}{text}{_RESET}" if self.color else text) + "\n")
        sys.stdout.flush()

    def run(self, where: str, *args: str, ok: Sequence[int] = (0,), show: bool = True) -> str:
        """Run a command in `root/where`; print it (and its output when `show`)."""
        shown = " ".join(("reconcile", *args[3:]) if args[:3] == _RECONCILE else args)
        prompt = f"{where}$ {shown}"
        sys.stdout.write((f"{_DIM}{prompt}{_RESET}" if self.color else prompt) + "\n")
        sys.stdout.flush()
        done = subprocess.run(
            args, cwd=os.path.join(self.root, where), env=self.env, capture_output=True, text=True,
            check=False,
        )  # fmt: skip
        if show:
            sys.stdout.write(done.stdout)
            sys.stdout.write(done.stderr)
        if done.returncode not in ok:
            raise RuntimeError(f"demo step failed (exit {done.returncode}): {shown}\n{done.stderr}")
        return done.stdout


_RECONCILE = (sys.executable, "-m", "reconciler")


def reconcile(*args: str) -> tuple[str, ...]:
    """The command line of a `reconcile` process."""
    return (*_RECONCILE, *args)


def run_demo(root: str | None, *, now: Callable[[], datetime], color: bool) -> str:
    """Run the demo in `root` (default: a new temporary folder); return the folder."""
    root = root or tempfile.mkdtemp(prefix="reconcile-demo-")
    demo = Demo(root, now(), color=color)
    review_by = format_timestamp(demo.now + timedelta(days=30))
    _setup(demo)
    demo.say("1. an operator writes two expand intents on a branch and checks them with `plan`")
    demo.run("ops", "git", "switch", "-q", "-c", "expand-canary")
    _intent(demo, "expand", "CAB-123", "Promotion gates green for 7 days", review_by, "25")
    _intent(demo, "expand", "CAB-124", "And one more step", review_by, "25")
    demo.run("ops", "git", "add", "-A", show=False)
    demo.run("ops", "git", "commit", "-q", "-m", "Expand the canary twice by 25%", show=False)
    demo.run("ops", *reconcile("plan", "--base", "origin/main"))
    _merge(demo, "expand-canary")
    demo.say("2. another merge: a malformed intent file")
    with open(os.path.join(root, "ops", "policies", "intents", "zz-typo.yaml"), "w") as handle:
        handle.write(
            "intent: expand\nexpandStpe: 50   # a typo must never fall back to a default\n"
        )
    _commit_push(demo, "A typo")
    demo.say(
        "3. CI: one pass, one commit per intent; the second expand waits for evidence on the "
        "first (decisionAfterChange): deferred, no commit, still pending"
    )
    demo.run("ci", *reconcile("--once", "--push"), ok=(0, 3))
    demo.run("ci", *reconcile("status"))
    demo.say("4. the gates job writes a new promote decision; CI applies the deferred expand")
    demo.run("ops", "git", "pull", "-q", "--ff-only", show=False)
    _write_decision(demo, "ops", "promote", _after_the_last_change(now))
    _commit_push(demo, "gates: promote")
    demo.run("ci", *reconcile("--once", "--push"))
    demo.say("5. the gates job writes a hold decision; an expand and a rollback are merged")
    demo.run("ops", "git", "pull", "-q", "--ff-only", show=False)
    _write_decision(demo, "ops", "hold", now())
    _intent(demo, "expand", "CAB-125", "One more step", review_by, "25")
    _intent(demo, "rollback", "INC-42", "Failure rate above threshold", review_by)
    _commit_push(demo, "Hold decision; expand and rollback intents")
    demo.say("6. CI: the next pass rejects the expand (decision hold) and applies the rollback")
    demo.run("ci", *reconcile("--once", "--push"), ok=(0, 3))
    demo.say("7. the posture now")
    demo.run("ci", *reconcile("status"))
    demo.say("8. the audit trail: `git log` read through its trailers, then checked end to end")
    demo.run("ci", *reconcile("history"))
    demo.run("ci", "git", "log", "--oneline", "-8")
    demo.run("ci", *reconcile("verify"))
    demo.say("9. the registry diff of the first expand: owned lines only, comments kept")
    demo.run("ci", "git", "log", "-p", "-1", "--format=%h %s", "--grep=canary 25% -> 50%",
             "--", "policies/registry.yaml")  # fmt: skip
    sys.stdout.write(f"\nThe demo repositories are in {root} (remote.git, ops, ci).\n")
    return root


def _setup(demo: Demo) -> None:
    demo.say("0. a policy repository from the bundled example, on a bare remote")
    seed = os.path.join(demo.root, "seed")
    # The demo never runs the workflows; a real repository names where its CI installs from.
    install = EXAMPLE_URL.format(version=__version__)
    demo.run(".", *reconcile("init", "seed", "--install", install))
    # The demo runs in seconds, not hours: it turns the recommended 1h expand cooldown off.
    settings = os.path.join(demo.root, "seed", "reconciler.yaml")
    with open(settings) as handle:
        text = handle.read()
    with open(settings, "w") as handle:
        handle.write(text.replace("expandCooldown: 1h", "expandCooldown: 0  # the demo's", 1))
    demo.run("seed", "git", "init", "-q", "-b", "main", show=False)
    _write_decision(demo, "seed", "promote", demo.now - timedelta(hours=1))
    demo.run("seed", "git", "add", "-A", show=False)
    demo.run("seed", "git", "commit", "-q", "-m", "Policy repository", show=False)
    demo.run(".", "git", "clone", "-q", "--bare", "seed", "remote.git", show=False)
    demo.run(".", "git", "clone", "-q", "remote.git", "ops")
    demo.run(".", "git", "clone", "-q", "remote.git", "ci")
    shutil.rmtree(seed)


def _after_the_last_change(now: Callable[[], datetime]) -> datetime:
    """A time in a later second than the pass before (records are timed to the second).

    A decision must be generated after the change it judges; the demo's steps take less
    than a second, so it waits for the next one (at most a second).
    """
    import time

    time.sleep(1 - time.time() % 1)
    return now()


def _write_decision(demo: Demo, where: str, value: str, generated: datetime) -> None:
    path = os.path.join(demo.root, where, "policies", "promotion", "decision.json")
    with open(path) as handle:
        doc = json.load(handle)
    doc["generatedAt"] = format_timestamp(generated)
    doc["traceId"] = f"gates-{format_timestamp(generated)}"
    doc["summary"]["decision"] = value
    doc["summary"]["promote"] = value == "promote"
    if value != "promote":
        doc["summary"]["failedGates"] = ["outcomeReliability"]
        doc["summary"]["gateFailCount"] = 1
        doc["gates"]["outcomeReliability"]["status"] = "fail"
    with open(path, "w") as handle:
        json.dump(doc, handle, indent=2)
        handle.write("\n")


def _intent(
    demo: Demo, intent: str, ref: str, rationale: str, review_by: str, step: str | None = None
) -> str:
    args = ["intent", "new", intent, "--by", "alice", "--approval-ref", ref]
    args += ["--rationale", rationale, "--review-by", review_by]
    if step:
        args += ["--step", step]
    return demo.run("ops", *reconcile(*args)).strip().splitlines()[-1]


def _merge(demo: Demo, branch: str) -> None:
    demo.run("ops", "git", "switch", "-q", "main", show=False)
    demo.run("ops", "git", "merge", "-q", "--no-ff", "-m", f"Merge {branch}", branch)
    demo.run("ops", "git", "push", "-q", "origin", "main", show=False)


def _commit_push(demo: Demo, message: str) -> None:
    demo.run("ops", "git", "add", "-A", show=False)
    demo.run("ops", "git", "commit", "-q", "-m", message, show=False)
    demo.run("ops", "git", "push", "-q", "origin", "main", show=False)
