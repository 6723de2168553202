"""An `adopt` commit as the reconciler writes it (its record and trailers), for verify's tests.

The adopt intent itself is built elsewhere; this writes what verify reads: one commit that
appends an applied record with `"intent": "adopt"`, `rollout.before` the last applied
record's `after`, `rollout.after` the registry's current owned values, chained by prevHash,
with trailers that agree with it.
"""

from __future__ import annotations

import json
from pathlib import Path

from reconciler.core import audit_chain
from reconciler.core.yamltext import load_yaml
from tests.support import gitrepos as g


def adopt(repo: Path, key: str = "adopt-1", *, base: str | None = None) -> str:
    """Commit an applied adopt record of the registry's current owned values; its sha.

    `base`: the record's `git.baseCommit` (default HEAD, as the loop writes it).
    """
    telemetry = repo / g.TELEMETRY
    lines = telemetry.read_text().splitlines()
    last = [r for r in map(json.loads, lines) if r["status"] == "applied"][-1]
    registry = load_yaml((repo / g.REGISTRY).read_text())  # the reconciler's own reading
    assert isinstance(registry, dict)
    autonomous = registry["policy"]["autonomous"]
    rollout, governance = autonomous["rollout"], dict(autonomous["governance"])
    after = {"canaryPercent": rollout["canaryPercent"], "manualPause": rollout["pause"]["manual"]}
    intent = f"{g.INTENTS}/{key}.yaml"
    record = {
        **last,
        "intent": "adopt",
        "status": "applied",
        "idempotencyKey": key,
        "traceId": f"trace-{key}",
        "timestamp": governance["changedAt"],
        "governance": governance,
        "rollout": {"before": last["rollout"]["after"], "after": after},
        "git": {"intentFile": intent, "intentCommit": None, "baseCommit": base or g.head(repo)},
        "prevHash": audit_chain.line_hash(lines[-1].encode()),
    }
    telemetry.write_text("\n".join([*lines, json.dumps(record, separators=(",", ":"))]) + "\n")
    before, new = last["rollout"]["after"], after
    trailers = {
        "Reconcile-Intent": intent,
        "Reconcile-Status": "applied",
        "Reconcile-Action": "adopt",
        "Idempotency-Key": key,
        "Trace-Id": record["traceId"],
        "Decision-Trace-Id": record["decisionTraceId"],
        "Actor": governance["actor"],
        "Approval-Ref": governance["approvalRef"],
        "Canary": f"{before['canaryPercent']} -> {new['canaryPercent']}",
        "Manual-Pause": f"{str(before['manualPause']).lower()} -> "
        f"{str(new['manualPause']).lower()}",
    }
    message = f"adopt {key}\n\n" + "".join(f"{k}: {v}\n" for k, v in trailers.items())
    g.git(repo, "add", g.TELEMETRY)
    g.git(repo, "commit", "-q", "-m", message)
    return g.head(repo)
