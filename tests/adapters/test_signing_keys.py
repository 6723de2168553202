"""Loading the signing key: what is accepted, and one refusal line for everything else."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from reconciler.adapters.signing_keys import KEY_LIMIT, load_signing_key
from reconciler.core.errors import RefusalError
from tests.support import signing as s


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / "repo").mkdir()
    return tmp_path / "repo"


@pytest.mark.parametrize(
    ("kind", "cls"),
    [("ed25519", ed25519.Ed25519PrivateKey), ("rsa", rsa.RSAPrivateKey)],
    ids=["ed25519", "rsa"],
)
def test_ed25519_and_rsa_keys_load(tmp_path: Path, repo: Path, kind: str, cls: type) -> None:
    key = s.make_key(tmp_path / "keys", kind=kind)
    assert isinstance(load_signing_key(str(key), source="test", repository=str(repo)), cls)


def test_a_home_relative_path_is_expanded(
    tmp_path: Path, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s.make_key(tmp_path / "home" / ".ssh", "bot")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    key = load_signing_key("~/.ssh/bot", source="test", repository=str(repo))
    assert isinstance(key, ed25519.Ed25519PrivateKey)


@pytest.mark.parametrize(
    ("make", "why"),
    [
        (lambda folder: folder, "it is a folder"),
        (lambda folder: _write(folder / "big", b"x" * (KEY_LIMIT + 1)), "larger than"),
        (lambda folder: _write(folder / "empty", b""), "not an OpenSSH private key"),
    ],
    ids=["folder", "too-large", "empty"],
)
def test_what_is_not_a_key_file_is_refused(
    tmp_path: Path, repo: Path, make: object, why: str
) -> None:
    assert callable(make)
    path = make(tmp_path)
    with pytest.raises(RefusalError) as caught:
        load_signing_key(str(path), source="signing.key", repository=str(repo))
    assert caught.value.reason == "signing_key_invalid"
    assert why in caught.value.message and "(signing.key)" in caught.value.message


def test_the_repository_itself_counts_as_inside(repo: Path) -> None:
    with pytest.raises(RefusalError) as caught:
        load_signing_key(str(repo), source="test", repository=str(repo))
    assert caught.value.reason == "signing_key_in_repo"


def test_a_sibling_folder_with_the_same_prefix_is_outside(tmp_path: Path, repo: Path) -> None:
    key = s.make_key(tmp_path / "repo-keys")
    assert load_signing_key(str(key), source="test", repository=str(repo)) is not None


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
