"""`reconcile init --fleets` (setup layer): the files of a repository with several fleets.

Built from the same example as one fleet (`init_repo`): each fleet gets a copy of the policy
files under `policies/fleets/<id>/` with its `fleetId` spliced in, `reconciler.yaml` gains a
`fleets:` block chaining them in the order given, the one set of workflows covers every fleet
and CODEOWNERS has a section per fleet.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from reconciler.core import editing, yamlstyle, yamltext

FLEETS_DIR = "policies/fleets"
REQUIRES = "{minCanary: 100, soak: 24h}"
"""What a fleet needs of the one before it: its canary at 100% unpaused for a day."""
INTENT_FOLDERS = ("intents", "intents/applied", "intents/rejected")

PATHS_COMMENT = "# Paths, relative to this file; the built-in defaults are shown.\n"
FLEET_PATHS_COMMENT = """\
# Each fleet's files live in policies/fleets/<id>/ (registry.yaml, promotion/decision.json,
# intents/, state/, telemetry/); the folder's name is the fleet's id and its fleetId.
"""
FLEETS_COMMENT = """\

# Fleets (docs/fleets.md), in promotion order. A fleet's expand and resume wait until the
# fleet named by its `after:` has held at least `minCanary` percent, unpaused, for `soak`.
# To add a fleet, add it here and add its folder under policies/fleets/.
"""

CODEOWNERS_HEAD = """\
# Who must review a pull request that touches each path (GitHub, GitLab and Gitea read this
# file). Turn on branch protection's "Require review from Code Owners" for main, and replace
# the @your-org teams with yours. The last pattern that matches a path wins.
# docs/security.md explains what each of these protects.
#
# Each fleet has a section, so each can have its own reviewers: give a production fleet its
# own approvers team (@your-org/<fleet>-approvers below), and a staging approver cannot
# expand production. In each section:
# - intents/: requesters open pull requests here; that fleet's approvers review and merge.
# - the reconciler's own files (registry.yaml, state/, telemetry/, intents/applied/ and
#   intents/rejected/): only its commits change them. A human change to them is a hand edit,
#   which `reconcile verify` reports and which holds expand and resume (audit_drift) until
#   it is reverted or adopted.
# - promotion/: the promotion decision, written by the gates job (a decisionSigners
#   principal).
"""
CODEOWNERS_FLEET = """
# Fleet {id}.
{rows}"""
CODEOWNERS_SHARED = """
# Shared by every fleet. Who may change the rollout: the allowed-signers file and the access
# policy (trust:), the settings (fleets, trust, guards, signing) and the freeze windows.
/policies/access/             @your-org/rollout-admins
/reconciler.yaml              @your-org/rollout-admins
/policies/freeze.yaml         @your-org/rollout-admins

# This file itself.
/.github/CODEOWNERS           @your-org/rollout-admins
"""

# A single-fleet path in a workflow's text (a `paths:` filter or a comment), as the example
# spells it: each becomes the same path in every fleet's folder.
_FLEET_PATH = re.compile(
    r"(?<![\w./-])policies/(?=(?:intents|promotion|state|telemetry)(?:/|\b)|registry\.yaml)"
)
_DISPATCH = "rollout-dispatch.yml"
_DISPATCH_INPUTS = "    inputs:\n"
_DISPATCH_ENV = "          MODE: ${{ inputs.mode }}\n"
_DISPATCH_COMMAND = "            reconcile dispatch \\\n"


def fleet_files(fleet_id: str, policy_files: Mapping[str, bytes]) -> dict[str, bytes]:
    """Return one fleet's files (repo-relative path -> content) from the example's policy files.

    `policy_files` maps a name under policies/ (`registry.yaml`, ...) to its bytes; the
    registry's `fleetId` value becomes `fleet_id`, every other byte of it stays.

    Raises:
        RefusalError: the example registry does not parse or the edit would not read back
            (`registry_parse_error`, `registry_edit_failed`): a broken installation.
    """
    folder = f"{FLEETS_DIR}/{fleet_id}"
    result: dict[str, bytes] = {}
    for name, data in policy_files.items():
        if name == "registry.yaml":
            text = editing.edit_registry(data.decode(), "yaml", {("fleetId",): fleet_id})
            data = text.encode()
        result[f"{folder}/{name}"] = data
    result.update({f"{folder}/{sub}/.gitkeep": b"" for sub in INTENT_FOLDERS})
    return result


def settings_text(settings: str, fleet_ids: Sequence[str]) -> str:
    """Return the example settings with the `fleets:` block chaining `fleet_ids` in order.

    The single-fleet path settings shown commented at the end give way to where each fleet's
    files are.

    Raises:
        ValueError: `settings` does not end with the commented path settings.
    """
    if settings.count(PATHS_COMMENT) != 1:
        raise ValueError(f"the example settings must contain {PATHS_COMMENT.strip()!r} once")
    head = settings[: settings.index(PATHS_COMMENT)]
    lines = ["fleets:"]
    for previous, fleet_id in zip((None, *fleet_ids), fleet_ids, strict=False):
        if previous is None:
            lines.append(f"  {_plain_or_quoted(fleet_id)}: {{}}")
        else:
            lines += [
                f"  {_plain_or_quoted(fleet_id)}:",
                f"    after: {_plain_or_quoted(previous)}",
                f"    requires: {REQUIRES}",
            ]
    return head + FLEET_PATHS_COMMENT + FLEETS_COMMENT + "\n".join(lines) + "\n"


def codeowners_text(fleet_ids: Sequence[str]) -> str:
    """Return CODEOWNERS with a section per fleet, then the files every fleet shares."""
    sections = [CODEOWNERS_HEAD]
    for fleet_id in fleet_ids:
        folder = f"/{FLEETS_DIR}/{fleet_id}"
        owners = [
            (f"{folder}/intents/", f"@your-org/{fleet_id}-approvers"),
            (f"{folder}/registry.yaml", "@your-org/rollout-admins"),
            (f"{folder}/state/", "@your-org/rollout-admins"),
            (f"{folder}/telemetry/", "@your-org/rollout-admins"),
            # After intents/: the last matching pattern wins.
            (f"{folder}/intents/applied/", "@your-org/rollout-admins"),
            (f"{folder}/intents/rejected/", "@your-org/rollout-admins"),
            (f"{folder}/promotion/", "@your-org/gates-owners"),
        ]
        width = max(29, *(len(path) for path, _owner in owners)) + 1
        rows = "".join(f"{path.ljust(width)}{owner}\n" for path, owner in owners)
        sections.append(CODEOWNERS_FLEET.format(id=fleet_id, rows=rows))
    sections.append(CODEOWNERS_SHARED)
    return "".join(sections)


def fleet_workflow(text: str, name: str, fleet_ids: Sequence[str]) -> str:
    """Return a workflow of the example made to serve every fleet.

    Its single-fleet paths (`policies/intents/...` in a `paths:` filter or a comment) name
    every fleet's folder (`policies/fleets/*/intents/...`); the dispatch workflow gains a
    `fleet` input, a choice of `fleet_ids`, passed to `reconcile dispatch --fleet`.

    Raises:
        ValueError: the dispatch workflow lacks a line the input is added at, or the result
            does not read back with it.
    """
    result = _FLEET_PATH.sub(f"{FLEETS_DIR}/*/", text)
    if name != _DISPATCH:
        return result
    options = ", ".join(_plain_or_quoted(fleet_id, flow=True) for fleet_id in fleet_ids)
    fleet_input = (
        "      fleet:\n"
        '        description: "Which fleet: its folder under policies/fleets/"\n'
        "        type: choice\n"
        "        required: true\n"
        f"        options: [{options}]\n"
    )
    result = _add_after(result, _DISPATCH_INPUTS, fleet_input, name)
    result = _add_before(result, _DISPATCH_ENV, "          FLEET: ${{ inputs.fleet }}\n", name)
    result = _add_after(result, _DISPATCH_COMMAND, '              --fleet "$FLEET" \\\n', name)
    _check_dispatch(result, name, fleet_ids)
    return result


def _plain_or_quoted(value: str, *, flow: bool = False) -> str:
    # `123`, `true`, `on` or `null` would not read back as the id's text unquoted.
    return value if yamlstyle.is_plain_safe(value, flow=flow) else yamlstyle.double_quoted(value)


def _add_after(text: str, anchor: str, addition: str, name: str) -> str:
    if text.count(anchor) != 1:
        raise ValueError(f"workflow {name} must contain {anchor.strip()!r} exactly once")
    return text.replace(anchor, anchor + addition)


def _add_before(text: str, anchor: str, addition: str, name: str) -> str:
    if text.count(anchor) != 1:
        raise ValueError(f"workflow {name} must contain {anchor.strip()!r} exactly once")
    return text.replace(anchor, addition + anchor)


def _check_dispatch(text: str, name: str, fleet_ids: Sequence[str]) -> None:
    doc = yamltext.load_yaml(text)
    found: object = doc
    for key in ("on", "workflow_dispatch", "inputs", "fleet", "options"):
        found = found.get(key) if isinstance(found, dict) else None
    if found != list(fleet_ids):
        raise ValueError(f"workflow {name} does not read back with the fleet input")
