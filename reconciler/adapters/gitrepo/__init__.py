"""Git adapter: plain `git` processes with a scrubbed environment, and one fast-import stream.

GitPython is not used: importing it costs ~100 ms of start-up and every call still forks a
`git`. Each process here costs ~5 ms on the 2-core machine, so a pass runs a fixed handful of
them and streams all its commits through one `git fast-import` (~1 ms per commit).
A failing command becomes `GitError` showing the command, its exit code and its stderr.
`processes.py` runs git, `cat_file.py` reads objects, `fast_import.py` writes commits.
"""

from reconciler.adapters.gitrepo.cat_file import CatFile
from reconciler.adapters.gitrepo.fast_import import (
    PACK_LIMIT,
    FastImport,
    merge_packs_when_due,
    remove_stale_marks,
    write_signed,
)
from reconciler.adapters.gitrepo.processes import (
    MARKS_PREFIX,
    SCRATCH_REF,
    ZERO_SHA,
    FileChange,
    Git,
    GitError,
    Identity,
    quote_path,
)

__all__ = [
    "MARKS_PREFIX",
    "PACK_LIMIT",
    "SCRATCH_REF",
    "ZERO_SHA",
    "CatFile",
    "FastImport",
    "FileChange",
    "Git",
    "GitError",
    "Identity",
    "merge_packs_when_due",
    "quote_path",
    "remove_stale_marks",
    "write_signed",
]
