"""ReasonCode: the machine-readable vocabulary of refusals and notes (core layer).

Every refusal and every informational note carries one of these codes; `docs/reason-codes.md`
explains each one and what the operator does about it.
"""

from __future__ import annotations

from enum import StrEnum


class ReasonCode(StrEnum):
    """Stable, grep-able reason codes (snake_case, never renamed once shipped)."""

    # Arguments and settings.
    REPO_REQUIRED = "repo_required"
    REPO_NOT_FOUND = "repo_not_found"
    INTENT_INVALID = "intent_invalid"
    EXPAND_STEP_INVALID = "expand_step_invalid"
    TO_PERCENT_INVALID = "to_percent_invalid"
    GOVERNANCE_MISSING = "governance_missing"
    REVIEW_BY_INVALID = "review_by_invalid"
    REVIEW_BY_PAST = "review_by_past"
    ARGUMENT_NOT_UTF8 = "argument_not_utf8"
    DURATION_INVALID = "duration_invalid"
    SETTINGS_INVALID = "settings_invalid"
    LAYOUT_AMBIGUOUS = "layout_ambiguous"
    FLEETS_INVALID = "fleets_invalid"
    FLEET_UNKNOWN = "fleet_unknown"
    FLEET_REQUIRED = "fleet_required"
    LAYOUT_PATHS_COLLIDE = "layout_paths_collide"
    LAYOUT_PATH_OUTSIDE_REPO = "layout_path_outside_repo"
    LAYOUT_PATH_IN_GIT_DIR = "layout_path_in_git_dir"
    PATH_SYMLINK = "path_symlink"
    WEBHOOK_SECRET_UNREADABLE = "webhook_secret_unreadable"
    WEBHOOK_SECRET_EMPTY = "webhook_secret_empty"

    # Promotion decision.
    PROMOTION_STATE_MISSING = "promotion_state_missing"
    PROMOTION_STATE_INVALID = "promotion_state_invalid"
    PROMOTION_DECISION_MISSING = "promotion_decision_missing"
    PROMOTION_DECISION_NOT_PROMOTE = "promotion_decision_not_promote"
    PROMOTION_DECISION_INCONSISTENT = "promotion_decision_inconsistent"
    PROMOTION_DECISION_STALE = "promotion_decision_stale"
    PROMOTION_DECISION_FUTURE = "promotion_decision_future"
    PROMOTION_DECISION_TRACE_MISMATCH = "promotion_decision_trace_mismatch"

    # Registry.
    REGISTRY_MISSING = "registry_missing"
    REGISTRY_PARSE_ERROR = "registry_parse_error"
    REGISTRY_YAML_AMBIGUOUS = "registry_yaml_ambiguous"
    REGISTRY_INVALID = "registry_invalid"
    REGISTRY_NOT_GUARDED_AUTO = "registry_not_guarded_auto"
    REGISTRY_MUTATION_INVALID = "registry_mutation_invalid"
    REGISTRY_EDIT_FAILED = "registry_edit_failed"

    # Records, files and concurrency.
    TELEMETRY_CORRUPT = "telemetry_corrupt"
    TELEMETRY_INDEX_MISMATCH = "telemetry_index_mismatch"
    JOURNAL_CORRUPT = "journal_corrupt"
    JOURNAL_STALE = "journal_stale"
    WRITE_INTERRUPTED = "write_interrupted"
    FILE_ERROR = "file_error"
    FILE_TOO_LARGE = "file_too_large"
    FILE_NOT_REGULAR = "file_not_regular"
    FILE_NOT_UTF8 = "file_not_utf8"
    LOCK_TIMEOUT = "lock_timeout"

    # Intent files (the GitOps loop's queue): each rejects one file, never the queue.
    INTENT_YAML_INVALID = "intent_yaml_invalid"
    INTENT_UNKNOWN_FIELD = "intent_unknown_field"
    INTENT_FIELD_INVALID = "intent_field_invalid"
    INTENT_FLEET_MISMATCH = "intent_fleet_mismatch"
    FLEET_ID_MISMATCH = "fleet_id_mismatch"
    INTENT_GOVERNANCE_MISSING = "intent_governance_missing"
    INTENT_REVIEW_BY_PAST = "intent_review_by_past"
    INTENT_TOO_LARGE = "intent_too_large"
    INTENT_NOT_UTF8 = "intent_not_utf8"
    INTENT_ALIAS_LIMIT = "intent_alias_limit"
    INTENT_NOT_REGULAR_FILE = "intent_not_regular_file"
    INTENT_NAME_INVALID = "intent_name_invalid"
    INTENT_UNREADABLE = "intent_unreadable"

    # Git and the loop around it.
    GIT_FAILED = "git_failed"
    NOT_A_GIT_REPO = "not_a_git_repo"
    GIT_NO_COMMITS = "git_no_commits"
    GIT_DETACHED_HEAD = "git_detached_head"
    WORKTREE_DIRTY = "worktree_dirty"
    BRANCH_MOVED = "branch_moved"
    REMOTE_UNAVAILABLE = "remote_unavailable"
    PUSH_CONFLICT = "push_conflict"
    BRANCH_DIVERGED = "branch_diverged"
    PUSH_UNVERIFIED = "push_unverified"
    PUSH_REJECTED = "push_rejected"
    BASE_REF_INVALID = "base_ref_invalid"
    PR_MERGE_CONFLICT = "pr_merge_conflict"
    PR_EDITS_OWNED_CONTENT = "pr_edits_owned_content"
    SCAFFOLD_EXISTS = "scaffold_exists"
    INSTALL_SPEC_INVALID = "install_spec_invalid"
    INSTALL_SPEC_UNKNOWN = "install_spec_unknown"
    # Signed commits (docs/gitops.md, "Signed commits"): the pass commits nothing unsigned.
    SIGNING_KEY_INVALID = "signing_key_invalid"
    SIGNING_KEY_IN_REPO = "signing_key_in_repo"
    SIGNING_UNSUPPORTED = "signing_unsupported"

    # Progression guards (docs/guards.md): a deferred expand/resume stays pending.
    GUARD_DECISION_PREDATES_CHANGE = "guard_decision_predates_change"
    GUARD_EXPAND_COOLDOWN = "guard_expand_cooldown"
    GUARD_BUDGET_EXPANDS = "guard_budget_expands"
    GUARD_BUDGET_PERCENT = "guard_budget_percent"
    GUARD_FREEZE_WINDOW = "guard_freeze_window"
    GUARD_OUTSIDE_ALLOW_WINDOW = "guard_outside_allow_window"
    GUARD_UPSTREAM_NOT_READY = "guard_upstream_not_ready"
    GUARD_SETTINGS_INVALID = "guard_settings_invalid"
    FREEZE_FILE_INVALID = "freeze_file_invalid"
    QUEUED_BEHIND_DEFERRED = "queued_behind_deferred"
    # ... and what rejects a held intent for good.
    SUPERSEDED_BY_ROLLBACK = "superseded_by_rollback"
    INTENT_DEFERRAL_EXPIRED = "intent_deferral_expired"
    INTENT_EXPAND_STEP_OVER_LIMIT = "intent_expand_step_over_limit"

    # Trust (docs/security.md): who signed an intent, who approved it, who changed the decision.
    INTENT_UNSIGNED = "intent_unsigned"
    INTENT_SIGNATURE_INVALID = "intent_signature_invalid"
    INTENT_SIGNER_NOT_ALLOWED = "intent_signer_not_allowed"
    INTENT_ACTOR_NOT_SIGNER = "intent_actor_not_signer"
    INTENT_ACTION_NOT_PERMITTED = "intent_action_not_permitted"
    INTENT_NOT_APPROVED = "intent_not_approved"
    INTENT_SELF_APPROVED = "intent_self_approved"
    INTENT_NOT_COMMITTED = "intent_not_committed"
    PROMOTION_DECISION_UNTRUSTED = "promotion_decision_untrusted"
    TRUST_SETTINGS_INVALID = "trust_settings_invalid"
    TRUST_HISTORY_SHALLOW = "trust_history_shallow"
    # The audit trail (docs/audit.md).
    AUDIT_DRIFT = "audit_drift"

    # The controller's HTTP server (the `reason` of an `http.refused` event).
    HTTP_UNAUTHORIZED = "http_unauthorized"
    HTTP_NOT_FOUND = "http_not_found"
    HTTP_METHOD_NOT_ALLOWED = "http_method_not_allowed"
    HTTP_METHOD_UNSUPPORTED = "http_method_unsupported"
    HTTP_BAD_REQUEST = "http_bad_request"
    HTTP_HEAD_TOO_LARGE = "http_head_too_large"
    HTTP_DEADLINE = "http_deadline"
    HTTP_BUSY = "http_busy"
    HTTP_CROWDED = "http_crowded"
    HTTP_BODY_TOO_LARGE = "http_body_too_large"
    HTTP_HOOK_NOT_CONFIGURED = "http_hook_not_configured"
    HTTP_PAYLOAD_INVALID = "http_payload_invalid"

    # Entries of the intents folder that are not intents (listed as ignored, never read).
    IGNORED_HIDDEN = "ignored_hidden"
    IGNORED_NOT_YAML_NAME = "ignored_not_yaml_name"
    IGNORED_FOLDER = "ignored_folder"
    IGNORED_IN_SUBFOLDER = "ignored_in_subfolder"

    # Notes carried by applied records (not refusals).
    ROLLOUT_UNCHANGED = "rollout_unchanged"
    IDEMPOTENCY_REQUEST_MISMATCH = "idempotency_request_mismatch"
    ROLLBACK_WITHOUT_DECISION = "rollback_without_decision"
    ROLLBACK_IN_ADVISORY_MODE = "rollback_in_advisory_mode"
    IDEMPOTENCY_REPLAY_OVERRIDDEN = "idempotency_replay_overridden"
    REGISTRY_INVALID_ELSEWHERE = "registry_invalid_elsewhere"
    TELEMETRY_NOT_APPENDED = "telemetry_not_appended"
    ROLLBACK_TARGET_ABOVE_CURRENT = "rollback_target_above_current"
    ROLLBACK_TARGET_UNKNOWN = "rollback_target_unknown"
