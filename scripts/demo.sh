#!/usr/bin/env bash
# `make demo`: run `reconcile apply` on a copy of the bundled policies/ example and show what
# it did: an expand, an expand refused under a hold decision, a rollback, and a replay.
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/reconciler-demo.XXXXXX")"
cp -R "$here/policies" "$work/policies"
cp "$work/policies/registry.yaml" "$work/registry.before.yaml"
review_by="$(date -u -d '+30 days' +%Y-%m-%dT%H:%M:%SZ)"
gov=(--by alice --approval-ref CAB-123 --review-by "$review_by")

step() { printf '\n\033[1m== %s\033[0m\n$ %s\n' "$1" "${*:2}"; }

step "1. expand the canary by 25% under a promote decision" reconcile apply --intent expand ...
reconcile apply --repo "$work" --intent expand --expand-step 25 "${gov[@]}" \
  --rationale "Promotion gates green for 7 days" --idempotency-key demo-expand-1 --pretty

step "2. the gates now say hold: a further expand is refused (exit 1, nothing written)" \
  reconcile apply --intent expand ...
python3 - "$work/policies/promotion/decision.json" <<'PY'
import json, sys
path = sys.argv[1]
doc = json.load(open(path))
doc["summary"].update(decision="hold", promote=False, failedGates=["outcome_reliability"],
                      reasonCodes=["promotion_autonomous_failure_rate_exceeded"])
doc["traceId"] = "gates-2026-11-24-1200"
json.dump(doc, open(path, "w"), indent=2)
PY
if reconcile apply --repo "$work" --intent expand "${gov[@]}" --rationale "One more step"; then
  echo "unexpected: the expand was not refused" >&2
  exit 1
fi

step "3. rollback is always allowed: pause the fleet under hold" reconcile apply --intent rollback ...
reconcile apply --repo "$work" --intent rollback --by bob --approval-ref INC-42 \
  --rationale "Failure rate above threshold" --review-by "$review_by" \
  --idempotency-key demo-rollback-1 --pretty

step "4. a retry of step 1 with the same idempotency key replays its record, changes nothing" \
  reconcile apply --idempotency-key demo-expand-1 ...
reconcile apply --repo "$work" --intent expand --expand-step 25 "${gov[@]}" \
  --rationale "Promotion gates green for 7 days" --idempotency-key demo-expand-1

step "telemetry: one record per real apply" cat policies/telemetry/promotion-apply.jsonl
cat "$work/policies/telemetry/promotion-apply.jsonl"

step "registry diff: only owned fields changed; comments, order and quoting kept" \
  git diff --no-index registry.before.yaml policies/registry.yaml
git --no-pager diff --no-index --color=always "$work/registry.before.yaml" \
  "$work/policies/registry.yaml" || true

step "validate the result" reconcile validate --repo "$work"
reconcile validate --repo "$work"
printf '\nDemo files are in %s\n' "$work"
