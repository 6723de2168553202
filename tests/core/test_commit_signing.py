"""Bulk commit signing: object names, cat-file output, re-parenting, packs, pack indexes."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from reconciler.core import commit_signing as cs
from reconciler.core import ssh_signatures as sigs


def _git(repo: Path, *args: str, data: bytes | None = None) -> bytes:
    return subprocess.run(
        ["git", *args], cwd=repo, input=data, capture_output=True, check=True
    ).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    _git(tmp_path, "init", "-q", "-b", "main", "repo")
    return tmp_path / "repo"


def _commit(parent: str | None, message: str) -> bytes:
    tree = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"  # the empty tree
    head = f"tree {tree}\n" + (f"parent {parent}\n" if parent else "")
    head += "author bot <b@x> 1 +0000\ncommitter bot <b@x> 1 +0000\n"
    return f"{head}\n{message}\n".encode()


def test_object_id_is_the_name_git_gives(repo: Path) -> None:
    body = _commit(None, "one")
    expected = _git(repo, "hash-object", "-t", "commit", "--stdin", data=body).decode().strip()
    assert cs.object_id(b"commit", body) == expected


def test_parse_batch_reads_bodies_in_order_and_refuses_surprises() -> None:
    one, two = _commit(None, "one"), _commit(None, "two\n\nbody")
    a, b = cs.object_id(b"commit", one), cs.object_id(b"commit", two)
    out = b"%s commit %d\n%s\n%s commit %d\n%s\n" % (
        a.encode(), len(one), one, b.encode(), len(two), two,
    )  # fmt: skip
    assert cs.parse_batch(out, [a, b]) == [one, two]
    with pytest.raises(ValueError, match="did not return commit"):
        cs.parse_batch(out, [b, a])
    with pytest.raises(ValueError, match="missing"):
        cs.parse_batch(b"%s missing\n" % a.encode(), [a])
    with pytest.raises(ValueError, match="ends inside"):
        cs.parse_batch(out[:-5], [a, b])
    with pytest.raises(ValueError, match="not a commit"):
        cs.parse_batch(b"%s blob 2\nhi\n" % a.encode(), [a])


def test_reparent_swaps_only_the_mapped_parents() -> None:
    body = _commit("a" * 40, "parent " + "a" * 40)
    out = cs.reparent(body, {"a" * 40: "b" * 40})
    assert out == body.replace(b"parent " + b"a" * 40 + b"\n", b"parent " + b"b" * 40 + b"\n", 1)
    assert out.endswith(b"\nparent " + b"a" * 40 + b"\n")  # the message is left alone
    assert cs.reparent(body, {"c" * 40: "d" * 40}) == body


def test_signed_chain_is_written_by_index_pack_and_verified_by_git(
    repo: Path, tmp_path: Path
) -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    first = _commit(None, "one")
    first_id = cs.object_id(b"commit", first)
    second = _commit(first_id, "two")
    signed = cs.sign_commits([(first_id, first), (cs.object_id(b"commit", second), second)], key)

    pack = cs.pack_objects([body for _, _, body in signed])
    name = _git(repo, "index-pack", "--stdin", data=pack).decode().split()[-1]

    index = (repo / ".git" / "objects" / "pack" / f"pack-{name}.idx").read_bytes()
    assert cs.pack_index_names(index) == {new for _, new, _ in signed}
    (old_first, new_first, _), (_, new_second, _) = signed
    assert old_first == first_id and new_first != first_id
    assert _git(repo, "rev-parse", f"{new_second}^").decode().strip() == new_first
    _git(repo, "update-ref", "refs/heads/main", new_second)
    allowed = tmp_path / "allowed"
    allowed.write_text(f"bot {sigs.public_line(key)}\n")
    for sha in (new_first, new_second):
        done = subprocess.run(
            ["git", "-c", f"gpg.ssh.allowedSignersFile={allowed}", "verify-commit", sha],
            cwd=repo, capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr


def test_a_large_object_gets_a_multi_byte_size_header(repo: Path) -> None:
    body = _commit(None, "x" * 5000)
    name = _git(repo, "index-pack", "--stdin", data=cs.pack_objects([body])).decode().split()[-1]
    assert _git(repo, "cat-file", "commit", cs.object_id(b"commit", body)) == body
    assert name


def test_pack_index_names_refuses_other_files() -> None:
    with pytest.raises(ValueError, match="version-2"):
        cs.pack_index_names(b"PACK\0\0\0\2")
    header = b"\377tOc\0\0\0\2" + b"\0\0\0\1" * 256
    with pytest.raises(ValueError, match="cut short"):
        cs.pack_index_names(header + b"\0" * 10)
