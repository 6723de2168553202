"""Signing a pass's commits in bulk (core layer: bytes in, bytes out).

git 2.39's fast-import cannot write signed commits, so `adapters/gitrepo.FastImport` lets it
write blobs, trees and unsigned commits, reads the commits back in one `git cat-file
--batch`, and hands them here: each is re-parented onto its predecessor's signed copy and
signed in order (`sign_commits`), and all of them go back to git as one pack
(`pack_objects`) through one `git index-pack --stdin`. Two processes per pass, whatever its
size; the SHA-1 of each signed object is computed here and checked against the pack's index
(`pack_index_names`).
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from collections.abc import Mapping, Sequence

from reconciler.core.ssh_signatures import SigningKey, sign_commit

COMMIT_TYPE = 1
"""The pack format's object type number of a commit."""


def object_id(kind: bytes, body: bytes) -> str:
    """The SHA-1 git names an object by: `<kind> <size>`, a NUL byte, then `<body>`."""
    return hashlib.sha1(b"%s %d\0%s" % (kind, len(body), body), usedforsecurity=False).hexdigest()


def parse_batch(output: bytes, wanted: Sequence[str]) -> list[bytes]:
    """Split `git cat-file --batch` output into the commit bodies of `wanted`, in order.

    Raises:
        ValueError: an object is missing, not a commit, or the output is cut short.
    """
    bodies: list[bytes] = []
    at = 0
    for sha in wanted:
        end = output.index(b"\n", at)
        header = output[at:end].split(b" ")
        if len(header) != 3 or header[0].decode("ascii", "replace") != sha:
            raise ValueError(f"cat-file did not return commit {sha}: {output[at:end]!r}")
        if header[1] != b"commit":
            raise ValueError(f"{sha} is a {header[1].decode('ascii', 'replace')}, not a commit")
        size = int(header[2])
        body = output[end + 1 : end + 1 + size]
        if len(body) != size or output[end + 1 + size : end + 2 + size] != b"\n":
            raise ValueError(f"cat-file output ends inside commit {sha}")
        bodies.append(body)
        at = end + 2 + size
    return bodies


def reparent(body: bytes, signed: Mapping[str, str]) -> bytes:
    """Point the commit's `parent` lines at the signed copies of the commits `signed` maps."""
    head, separator, message = body.partition(b"\n\n")
    lines = head.split(b"\n")
    for number, line in enumerate(lines):
        if line.startswith(b"parent "):
            old = line[7:].decode("ascii")
            lines[number] = b"parent " + signed.get(old, old).encode("ascii")
    return b"\n".join(lines) + separator + message


def sign_commits(
    commits: Sequence[tuple[str, bytes]], key: SigningKey
) -> list[tuple[str, str, bytes]]:
    """Sign unsigned commits given parents first; return (old SHA, new SHA, signed body).

    A commit whose parent is one of `commits` gets that parent's signed copy as its parent,
    so the signed chain is the unsigned one with every object replaced.
    """
    signed: dict[str, str] = {}
    out: list[tuple[str, str, bytes]] = []
    for old, body in commits:
        new_body = sign_commit(reparent(body, signed), key)
        new = object_id(b"commit", new_body)
        signed[old] = new
        out.append((old, new, new_body))
    return out


def pack_objects(bodies: Sequence[bytes]) -> bytes:
    """A version-2 pack holding `bodies` as whole (undeltified) commit objects."""
    parts = [b"PACK", struct.pack(">II", 2, len(bodies))]
    for body in bodies:
        size = len(body)
        header = bytearray([(COMMIT_TYPE << 4) | (size & 0x0F)])
        size >>= 4
        while size:
            header[-1] |= 0x80
            header.append(size & 0x7F)
            size >>= 7
        parts += [bytes(header), zlib.compress(body, 1)]
    data = b"".join(parts)
    return data + hashlib.sha1(data, usedforsecurity=False).digest()


def pack_index_names(index: bytes) -> set[str]:
    """The object names a version-2 pack index (`.idx`) lists.

    Raises:
        ValueError: not a version-2 pack index.
    """
    if index[:8] != b"\377tOc\0\0\0\2" or len(index) < 8 + 256 * 4:
        raise ValueError("not a version-2 pack index")
    (count,) = struct.unpack_from(">I", index, 8 + 255 * 4)
    start = 8 + 256 * 4
    names = index[start : start + 20 * count]
    if len(names) != 20 * count:
        raise ValueError("pack index cut short")
    return {names[at : at + 20].hex() for at in range(0, len(names), 20)}
