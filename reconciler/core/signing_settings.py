"""The `signing:` settings (core layer): which key signs the reconciler's commits.

`reconciler.yaml` may hold `signing: {format: ssh, key: /abs/path/to/key}`; the environment
variable `RECONCILER_SIGNING_KEY_FILE` (read by `loop/config.py`) names the key too and wins
over the file, as every `RECONCILER_*` variable wins over `reconciler.yaml`. With neither,
commits are unsigned. Loading the key is `adapters/signing_keys.py`'s; see docs/gitops.md,
"Signed commits".
"""

from __future__ import annotations

from typing import Literal, NamedTuple

from reconciler.core.errors import RefusalError
from reconciler.core.reasons import ReasonCode

SIGNING_KEY = "signing"
"""The top-level key of the block in reconciler.yaml."""
ENV_KEY_FILE = "RECONCILER_SIGNING_KEY_FILE"
FORMATS = ("ssh",)
PLANNED_FORMATS = ("openpgp",)
_KEYS = frozenset({"format", "key"})


class SigningSettings(NamedTuple):
    """How the reconciler signs its commits."""

    format: Literal["ssh"]
    """Only `ssh` (git's `gpg.format=ssh`: an SSHSIG in the `gpgsig` header) so far."""
    key: str
    """The private key file: absolute (or `~/...`) in reconciler.yaml; from the environment
    variable, a relative path is relative to the directory the command runs in."""
    source: str
    """Where the key path came from: `reconciler.yaml` or the variable's name (messages)."""


def parse_signing(value: object, source: str) -> tuple[SigningSettings | None, list[str]]:
    """Validate the `signing:` block of reconciler.yaml; return it (None: unset) and problems.

    The key path must be absolute or start with `~/`: a relative path would be read from
    wherever the command runs (and a key file inside the repository would be a leaked
    secret, which `signing_keys` refuses when it loads the key).
    """
    if value is None:
        return None, []
    if not isinstance(value, dict):
        return None, ["signing must be a mapping such as {format: ssh, key: /path/to/key}"]
    problems = [f'unknown setting "signing.{key}"' for key in value if key not in _KEYS]
    kind = value.get("format", "ssh")
    if kind in PLANNED_FORMATS:
        problems.append(f"signing.format {kind} is not supported yet (only ssh)")
    elif kind not in FORMATS:
        problems.append(f"signing.format must be ssh, not {kind!r}")
    key = value.get("key")
    if not isinstance(key, str) or not key.strip() or any(ord(c) < 32 for c in key):
        problems.append("signing.key must be the path of an SSH private key file")
    elif not key.startswith(("/", "~/")):
        problems.append(
            f"signing.key must be an absolute path (or ~/...), not {key!r}: a relative path "
            "would depend on where the reconciler runs (use RECONCILER_SIGNING_KEY_FILE for that)"
        )
    if problems:
        return None, problems
    assert isinstance(key, str)
    return SigningSettings("ssh", key, source), []


def effective_signing(
    configured: SigningSettings | None, env_value: str | None
) -> SigningSettings | None:
    """The signing in force: the environment variable's key, else reconciler.yaml's.

    Raises:
        RefusalError: the variable is set but empty (`signing_key_invalid`): an unset
            secret in CI must not quietly turn signing off.
    """
    if env_value is None:
        return configured
    if not env_value.strip():
        raise RefusalError(
            ReasonCode.SIGNING_KEY_INVALID,
            f"{ENV_KEY_FILE} is set but empty; set it to the SSH private key file that signs "
            "the reconciler's commits, or unset it",
        )
    return SigningSettings("ssh", env_value, ENV_KEY_FILE)
