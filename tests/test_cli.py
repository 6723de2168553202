"""The `reconcile` CLI in-process (CliRunner): exact messages, exit codes, output shapes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from reconciler import __version__
from reconciler.cli import cli
from tests.support import fleet
from tests.support.fleet import SUPERLOOP, gov


def run(*argv: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, list(argv), env=env, catch_exceptions=False)


def apply_args(repo: Path, *extra: str) -> list[str]:
    return ["apply", "--repo", str(repo), *extra]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["apply", "--intent", "expand", *gov()], "--repo is required"),
        (["--intent", "grow", *gov()], "--intent must be one of expand, resume, rollback"),
        ([*gov()], "--intent must be one of expand, resume, rollback"),
        (
            ["--intent", "expand", "--expand-step", "0", *gov()],
            "--expand-step must be an integer between 1 and 100",
        ),
        (
            ["--intent", "expand", "--expand-step", "101", *gov()],
            "--expand-step must be an integer between 1 and 100",
        ),
        (
            ["--intent", "expand", "--expand-step", "2.5", *gov()],
            "--expand-step must be an integer between 1 and 100",
        ),
        (
            ["--intent", "resume", "--expand-step", "-1", *gov()],
            "--expand-step must be an integer between 1 and 100",
        ),
        (["--intent", "expand", *gov()[2:]], "--by is required"),
        (["--intent", "expand", "--by", "", *gov()[2:]], "--by is required"),
        (["--intent", "expand", *gov()[:2], *gov()[4:]], "--approval-ref is required"),
        (["--intent", "expand", *gov()[:4], *gov()[6:]], "--rationale is required"),
        (["--intent", "expand", *gov()[:6]], "--review-by is required"),
        (
            ["--intent", "expand", *gov()[:6], "--review-by", "2099-01-01"],
            "--review-by must be an ISO-8601 timestamp",
        ),
        (
            ["--intent", "expand", *gov()[:6], "--review-by", "2020-01-01T00:00:00Z"],
            "--review-by must be in the future",
        ),
    ],
    ids=[
        "no-repo",
        "bad-intent",
        "no-intent",
        "step-0",
        "step-101",
        "step-float",
        "resume-step-negative",
        "no-by",
        "empty-by",
        "no-approval",
        "no-rationale",
        "no-review-by",
        "date-only-review-by",
        "past-review-by",
    ],
)
def test_argument_errors_print_the_bash_tools_message_and_exit_1(
    repo: Path, argv: list[str], message: str
) -> None:
    full = argv if argv[0] == "apply" else apply_args(repo, *argv)
    before = sorted(p.relative_to(repo) for p in repo.rglob("*"))
    result = run(*full)
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == f"error: {message}"
    assert result.stderr.splitlines()[-1].startswith("reason: ")
    assert result.stdout == ""
    assert sorted(p.relative_to(repo) for p in repo.rglob("*")) == before


def test_rollback_ignores_a_malformed_expand_step(repo: Path) -> None:
    result = run(*apply_args(repo, "--intent", "rollback", "--expand-step", "abc", *gov()))
    assert result.exit_code == 0, result.stderr


def test_expand_prints_the_record_compact_by_default_and_indented_with_pretty(repo: Path) -> None:
    result = run(*apply_args(repo, "--intent", "expand", "--expand-step", "25", *gov()))
    assert result.exit_code == 0, result.stderr
    assert len(result.stdout.splitlines()) == 1
    record = json.loads(result.stdout)
    assert record["rollout"]["after"] == {"canaryPercent": 50, "manualPause": False}
    assert str(repo / SUPERLOOP / "promotion-state.json") in record["evidenceRefs"]
    assert record["loopId"] is None and record["horizonRef"] is None
    pretty = run(*apply_args(repo, "--intent", "resume", "--pretty", *gov()))
    assert pretty.stdout.startswith('{\n  "schemaVersion": "v1",')


def test_decision_refusal_message_and_reason_code(repo: Path) -> None:
    fleet.write_decision(repo, "hold")
    before = {p: p.read_bytes() for p in repo.rglob("*") if p.is_file()}
    result = run(*apply_args(repo, "--intent", "expand", "--expand-step", "10", *gov()))
    assert result.exit_code == 1
    assert {p: p.read_bytes() for p in repo.rglob("*") if p.is_file()} == before
    assert result.stderr == (
        "error: intent expand requires promotion decision promote (found: hold)\n"
        "reason: promotion_decision_not_promote\n"
    )


def test_invalid_registry_lists_every_problem(repo: Path) -> None:
    doc = fleet.registry_doc(True, "yes")
    fleet.write_json(repo / SUPERLOOP / "registry.v1.json", doc)
    result = run(*apply_args(repo, "--intent", "rollback", *gov()))
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"error: invalid fleet registry: {repo / SUPERLOOP / 'registry.v1.json'}",
        " - policy.autonomous.rollout.canaryPercent must be an integer between 0 and 100"
        " when present",
        " - policy.autonomous.rollout.pause.manual must be boolean when present",
        "error: failed to read/validate fleet registry",
        "reason: registry_invalid",
    ]


def test_trace_id_comes_from_the_flag_then_the_environment_then_a_new_uuid(repo: Path) -> None:
    flagged = run(*apply_args(repo, "--intent", "resume", "--trace-id", "t-flag", *gov()))
    assert json.loads(flagged.stdout)["traceId"] == "t-flag"
    env = run(
        *apply_args(repo, "--intent", "resume", *gov()), env={"OPS_MANAGER_TRACE_ID": "t-env"}
    )
    assert json.loads(env.stdout)["traceId"] == "t-env"
    generated = json.loads(run(*apply_args(repo, "--intent", "resume", *gov())).stdout)["traceId"]
    assert len(generated) == 36 and generated[14] == "4" and generated == generated.lower()


def test_replay_with_a_different_request_is_flagged_in_the_record(repo: Path) -> None:
    run(*apply_args(repo, "--intent", "expand", "--idempotency-key", "k", *gov()))
    result = run(*apply_args(repo, "--intent", "resume", "--idempotency-key", "k", *gov()))
    assert result.exit_code == 0
    assert result.stderr == ""  # not a terminal: the warning is for people (see test_apply_tty)
    record = json.loads(result.stdout)
    assert record["replayed"] is True
    assert record["reasonCodes"] == ["idempotency_request_mismatch"]


def test_relative_path_flags_are_absolute_in_the_record(repo: Path, monkeypatch) -> None:
    monkeypatch.chdir(repo)
    result = run(
        "apply", "--repo", ".", "--intent", "resume", "--apply-state-file", "out/state.json", *gov()
    )
    record = json.loads(result.stdout)
    assert record["files"]["applyStateFile"] == os.path.join(os.getcwd(), "out", "state.json")
    assert record["files"]["registryFile"] == str(repo / SUPERLOOP / "registry.v1.json")


def test_validate_reports_the_layout_and_exits_0_on_a_valid_repo(repo: Path) -> None:
    result = run("validate", "--repo", str(repo))
    assert result.exit_code == 0, result.stdout
    assert result.stdout.startswith("layout: superloop (")
    assert "registry: ok (fleet fleet-phase11, mode guarded_auto, canary 25%" in result.stdout


def test_validate_json_lists_every_problem_and_exits_1(repo: Path) -> None:
    doc = fleet.registry_doc(150, False)
    doc["loops"] = []
    fleet.write_json(repo / SUPERLOOP / "registry.v1.json", doc)
    result = run("validate", "--repo", str(repo), "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False
    assert report["registry"]["problems"] == [
        "loops must include at least one loop entry",
        "policy.autonomous.rollout.canaryPercent must be an integer between 0 and 100 when present",
    ]
    assert report["layout"]["name"] == "superloop"


@pytest.mark.parametrize("kind", ["registry", "decision", "intent", "record"])
def test_schema_prints_a_json_schema(kind: str) -> None:
    result = run("schema", kind)
    assert result.exit_code == 0
    assert json.loads(result.stdout)["type"] == "object"


def test_version_and_help() -> None:
    assert run("--version").stdout.strip() == f"reconcile, version {__version__}"
    commands = ("apply", "validate", "schema", "plan", "status", "history", "dispatch", "init")
    for command in (*commands, "repair-index", "demo"):
        help_text = run(command, "--help").stdout
        assert "Examples:" in help_text, command
    assert "Examples:" in run("intent", "new", "--help").stdout
    assert "--once" in run("--help").stdout


def test_unknown_option_is_a_usage_error_with_exit_2(repo: Path) -> None:
    result = CliRunner().invoke(cli, apply_args(repo, "--frobnicate"))
    assert result.exit_code == 2


def test_an_empty_trace_id_flag_falls_back_to_the_environment(repo: Path) -> None:
    result = run(
        *apply_args(repo, "--intent", "resume", "--trace-id", "", *gov()),
        env={"OPS_MANAGER_TRACE_ID": "t-env"},
    )
    assert json.loads(result.stdout)["traceId"] == "t-env"


def test_flags_also_read_reconciler_environment_variables(repo: Path) -> None:
    env = {"RECONCILER_APPLY_BY": "env-actor", "RECONCILER_APPLY_EVIDENCE_REF": "ev://a ev://b"}
    result = run(*apply_args(repo, "--intent", "resume", *gov()[2:]), env=env)
    record = json.loads(result.stdout)
    assert record["governance"]["actor"] == "env-actor"
    assert {"ev://a", "ev://b"} <= set(record["evidenceRefs"])


def test_the_repo_check_comes_after_the_intent_check_as_in_the_bash_tool(tmp_path: Path) -> None:
    result = run("apply", "--repo", str(tmp_path / "missing"), *gov())
    assert (
        result.stderr.splitlines()[0] == "error: --intent must be one of expand, resume, rollback"
    )
    result = run("apply", "--repo", str(tmp_path / "missing"), "--intent", "rollback", *gov())
    assert result.stderr.splitlines()[0] == f"error: repo not found: {tmp_path / 'missing'}"


def test_the_schemas_accept_the_example_decision_and_reject_malformed_records() -> None:
    from jsonschema import Draft202012Validator

    record_schema = json.loads(run("schema", "record").stdout)
    decision_schema = json.loads(run("schema", "decision").stdout)
    example = json.loads(
        (Path(__file__).parent.parent / "policies" / "promotion" / "decision.json").read_text()
    )
    Draft202012Validator(decision_schema).validate(example)
    validator = Draft202012Validator(record_schema)
    assert not validator.is_valid({"schemaVersion": "v1"})
    assert not validator.is_valid({"intent": "grow"})


def test_a_real_record_validates_against_the_record_schema(repo: Path) -> None:
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(json.loads(run("schema", "record").stdout))
    record = json.loads(
        run(*apply_args(repo, "--intent", "expand", "--idempotency-key", "k", *gov())).stdout
    )
    validator.validate(record)
    replayed = json.loads(
        run(*apply_args(repo, "--intent", "expand", "--idempotency-key", "k", *gov())).stdout
    )
    validator.validate(replayed)
    # A record written by the bash tool (no expandStep / decision linkage) is valid too.
    legacy = {
        k: v
        for k, v in record.items()
        if k not in ("expandStep", "decisionTraceId", "decisionGeneratedAt")
    }
    validator.validate(legacy)


def test_validate_warns_about_a_typo_but_still_exits_0(repo: Path) -> None:
    doc = fleet.registry_doc(25, False)
    doc["policy"]["autonomous"]["rollout"]["canaryPrecent"] = 50
    fleet.write_json(repo / SUPERLOOP / "registry.v1.json", doc)
    result = run("validate", "--repo", str(repo))
    assert result.exit_code == 0
    assert (
        "warning: policy.autonomous.rollout.canaryPrecent is not a known field and is ignored"
        in result.stdout
    )


def test_a_listen_address_out_of_range_says_so() -> None:
    # `--listen 127.0.0.1:99999` said "expected HOST:PORT", which it was.
    out_of_range = run("--watch", "--listen", "127.0.0.1:99999")
    assert out_of_range.exit_code == 2
    assert "port 99999 is outside 0..65535" in out_of_range.output
    for value in ("localhost", "127.0.0.1:\u00b2", "127.0.0.1:\u0663"):  # not ASCII digits
        malformed = run("--watch", "--listen", value)
        assert malformed.exit_code == 2, value
        assert "expected HOST:PORT, e.g. 127.0.0.1:9464" in malformed.output
