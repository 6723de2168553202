"""The `signing:` block of reconciler.yaml and RECONCILER_SIGNING_KEY_FILE, table-driven."""

from __future__ import annotations

import pytest

from reconciler.core.errors import RefusalError
from reconciler.core.repo_settings import parse_repo_settings
from reconciler.core.signing_settings import SigningSettings, effective_signing, parse_signing


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        (None, None),
        ({"format": "ssh", "key": "/etc/reconciler/key"}, "/etc/reconciler/key"),
        ({"key": "/etc/reconciler/key"}, "/etc/reconciler/key"),
        ({"format": "ssh", "key": "~/.ssh/reconciler"}, "~/.ssh/reconciler"),
    ],
    ids=["unset", "ssh", "format-defaults-to-ssh", "home"],
)
def test_a_valid_block_gives_the_key(block: object, expected: str | None) -> None:
    settings, problems = parse_signing(block, "reconciler.yaml")
    assert problems == []
    assert (settings.key if settings else None) == expected


@pytest.mark.parametrize(
    ("block", "problem"),
    [
        ("ssh", "signing must be a mapping"),
        ({"format": "openpgp", "key": "/k"}, "signing.format openpgp is not supported yet"),
        ({"format": "x509", "key": "/k"}, "signing.format must be ssh, not 'x509'"),
        ({"format": "ssh"}, "signing.key must be the path of an SSH private key file"),
        ({"key": ""}, "signing.key must be the path of an SSH private key file"),
        ({"key": 12}, "signing.key must be the path of an SSH private key file"),
        ({"key": "keys/bot"}, "signing.key must be an absolute path (or ~/...)"),
        ({"key": "~"}, "signing.key must be an absolute path (or ~/...)"),
        ({"key": "/k", "passphrase": "x"}, 'unknown setting "signing.passphrase"'),
    ],
    ids=["not-mapping", "openpgp", "other", "no-key", "empty", "number", "relative", "home",
         "unknown"],
)  # fmt: skip
def test_a_bad_block_is_refused_with_its_problem(block: object, problem: str) -> None:
    settings, problems = parse_signing(block, "reconciler.yaml")
    assert settings is None
    assert any(problem in line for line in problems), problems


def test_reconciler_yaml_refuses_a_bad_signing_block_and_keeps_a_good_one() -> None:
    with pytest.raises(RefusalError) as caught:
        parse_repo_settings({"signing": {"format": "openpgp", "key": "/k"}}, "reconciler.yaml")
    assert caught.value.reason == "settings_invalid"
    assert list(caught.value.details) == ["signing.format openpgp is not supported yet (only ssh)"]
    good = parse_repo_settings({"signing": {"key": "/k"}}, "reconciler.yaml")
    assert good.signing == SigningSettings("ssh", "/k", "reconciler.yaml")


FILE = SigningSettings("ssh", "/etc/key", "reconciler.yaml")


@pytest.mark.parametrize(
    ("configured", "env", "expected"),
    [
        (None, None, None),
        (FILE, None, FILE),
        (None, "key", SigningSettings("ssh", "key", "RECONCILER_SIGNING_KEY_FILE")),
        (FILE, "/run/key", SigningSettings("ssh", "/run/key", "RECONCILER_SIGNING_KEY_FILE")),
    ],
    ids=["neither", "file", "variable", "variable-wins"],
)
def test_the_variable_wins_over_the_file(
    configured: SigningSettings | None, env: str | None, expected: SigningSettings | None
) -> None:
    assert effective_signing(configured, env) == expected


@pytest.mark.parametrize("env", ["", "  "])
def test_an_empty_variable_is_refused(env: str) -> None:
    with pytest.raises(RefusalError) as caught:
        effective_signing(FILE, env)
    assert caught.value.reason == "signing_key_invalid"
