"""Real `reconcile --watch` processes and a real `git daemon` remote for the daemon tests.

`GitDaemon` serves bare repositories as git://127.0.0.1:<port>/<name> (receive-pack on) and
can be stopped and restarted on the same port. `Watcher` is one `python -m reconciler --watch`
process: it listens on 127.0.0.1:0 (the port is read from its `daemon.start` event, so no
port can be stolen between choosing and binding it), logs JSON events to a file outside its
checkout, and stops with SIGTERM (or dies with SIGKILL). `served_seed` is the replicas' remote:
a git daemon serving the bare remote of a watched seed clone (`Remote`).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, NamedTuple, TypeVar

from tests.support import gitrepos as g

T = TypeVar("T")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(probe: Callable[[], T | None], timeout: float, what: str, *, every: float = 0.05) -> T:
    """Call `probe` until it returns something truthy; return it, or fail naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(every)


def is_listening(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
        return True
    return False


def child_commands(pid: int) -> list[str]:
    """The command lines of the direct children of `pid` (read from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = (entry / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == pid:
                found.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode())
    return found


# The remote ------------------------------------------------------------------------------


class GitDaemon:
    """`git daemon --enable=receive-pack` over a folder of bare repositories."""

    def __init__(self, base: Path, port: int, log: Path) -> None:
        self.base = base
        self.port = port
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, name: str = "remote.git") -> str:
        return f"git://127.0.0.1:{self.port}/{name}"

    def start(self) -> None:
        assert self.process is None, "already running"
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    "git", "daemon", "--reuseaddr", "--enable=receive-pack", "--export-all",
                    f"--base-path={self.base}", "--listen=127.0.0.1", f"--port={self.port}",
                    "--informative-errors", str(self.base),
                ],
                stdout=log,
                stderr=log,
                # Its own process group: stopping it also stops its per-connection children.
                start_new_session=True,
            )  # fmt: skip
        wait_for(lambda: is_listening(self.port), 10, f"git daemon on port {self.port}")

    def stop(self) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None
        wait_for(lambda: not is_listening(self.port), 10, f"port {self.port} to close")


@contextlib.contextmanager
def git_daemon(base: Path) -> Iterator[GitDaemon]:
    """A running git daemon over `base` (stopped on exit, whatever happened)."""
    daemon = GitDaemon(base, free_port(), base.parent / f"{base.name}-git-daemon.log")
    daemon.start()
    try:
        yield daemon
    finally:
        daemon.stop()


def served_remote(daemon: GitDaemon, seed: Path, name: str = "remote.git") -> Path:
    """Make `seed`'s main the bare `daemon.base/name`; `seed` pushes to it over git://."""
    bare = daemon.base / name
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    g.git(seed, "remote", "add", "origin", daemon.url(name))
    g.git(seed, "push", "-q", "origin", "main")
    g.git(seed, "branch", "-q", "--set-upstream-to=origin/main")
    return bare


def clone_url(url: str, dest: Path) -> Path:
    """Clone over git:// (the clone's `origin` is the daemon's URL)."""
    subprocess.run(["git", "clone", "-q", url, str(dest)], check=True, capture_output=True)
    g.git(dest, "config", "user.name", "Operator")
    g.git(dest, "config", "user.email", "operator@example.com")
    return dest


def push_with_retry(repo: Path, attempts: int = 50) -> None:
    """Push main, rebasing onto the reconcilers' commits whenever they won the race."""
    for _ in range(attempts):
        done = subprocess.run(
            ["git", "-C", str(repo), "push", "-q", "origin", "main"], capture_output=True
        )
        if done.returncode == 0:
            return
        g.git(repo, "pull", "-q", "--rebase", "origin", "main")
    raise AssertionError(f"could not push from {repo} in {attempts} attempts")


# Policy repositories ---------------------------------------------------------------------


def make_watched_repo(path: Path, settings: str | None = None, *, paced: bool = True) -> Path:
    """The example policy repo, with a fresh decision and the intents folders committed.

    `paced=False`: the layout's pacing guard (decisionAfterChange) off, as in
    `gitrepos.make_policy_repo`.
    """
    g.make_policy_repo(path, generated_at=g.recent(), settings=settings, paced=paced)
    for folder in ("", "/applied", "/rejected"):
        keep = path / f"{g.INTENTS}{folder}/.gitkeep"
        keep.parent.mkdir(parents=True, exist_ok=True)
        keep.write_text("")
    g.commit_all(path, "intents folders")
    return path


def status(repo: Path) -> str:
    """`git status --porcelain` ('' when clean) without taking the index lock.

    A plain `git status` may refresh the index under index.lock, which would make a running
    daemon's own git commands fail: the tests must only watch.
    """
    return g.git(repo, "--no-optional-locks", "status", "--porcelain", "--untracked-files=all")


def canary_now(repo: Path) -> int | None:
    """The checkout's canary; None while a pass is rewriting the registry file.

    git updates a checkout file by file, unlinking each file before writing it anew, so a
    poll may find no registry for a moment.
    """
    try:
        return g.canary(repo)
    except FileNotFoundError:
        return None


def intent_bytes(intent: str = "expand", **kw: Any) -> bytes:
    return g.intent_text(intent, **kw).encode()


def drop_intent(repo: Path, name: str, data: bytes, intents: str = g.INTENTS) -> Path:
    """Write a pending intent atomically (a temp dot-file renamed in), as a CI checkout does.

    `intents`: the repo-relative intents folder (a fleet's, with several).
    """
    folder = repo / intents
    folder.mkdir(parents=True, exist_ok=True)
    temp = folder / f".{name}.tmp"
    temp.write_bytes(data)
    target = folder / name
    temp.rename(target)
    return target


def remote_records(url_or_bare: str | Path, dest: Path) -> list[dict[str, Any]]:
    """Every telemetry record on the remote's main (all segments), via a fresh clone."""
    subprocess.run(
        ["git", "clone", "-q", str(url_or_bare), str(dest)], check=True, capture_output=True
    )
    return g.all_records(dest)


# The daemon process ------------------------------------------------------------------------


class Watcher:
    """One `python -m reconciler --watch` process and its JSON event log."""

    def __init__(
        self, repo: Path, log: Path, args: list[str], env: dict[str, str] | None = None
    ) -> None:
        self.repo = repo
        self.log = log
        self.args = args
        self.env = env or {}
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0
        self._handle: IO[bytes] | None = None
        self._skip = 0
        """Events of earlier runs (before a restart) are not this run's."""

    # Life cycle

    def start(self, *, ready: bool = False, timeout: float = 20) -> Watcher:
        assert self.process is None, "already running"
        self._skip = len(self.all_events())
        self._handle = self.log.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "reconciler", "--watch", "--repo", str(self.repo), *self.args],
            stdout=subprocess.DEVNULL,
            stderr=self._handle,
            stdin=subprocess.DEVNULL,
            cwd=str(g.ROOT),
            env={**os.environ, "PYTHONPATH": str(g.ROOT), **self.env},
        )
        started = self.wait_event("daemon.start", timeout=timeout)
        self.port = int(str(started["listen"]).rsplit(":", 1)[1])
        wait_for(lambda: self.get("/healthz")[0] == 200, timeout, "/healthz")
        if ready:
            wait_for(lambda: self.get("/readyz")[0] == 200, timeout, "/readyz")
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 20) -> int:
        """SIGTERM; return the exit code."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self._reap(timeout)

    def kill(self) -> int:
        """SIGKILL (a crash at a random moment); return the exit code."""
        assert self.process is not None
        self.process.kill()
        return self._reap(10)

    def close(self) -> None:
        """Whatever state it is in: gone afterwards (the fixtures' teardown)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
        if self.process is not None:
            self._reap(10)

    def _reap(self, timeout: float) -> int:
        assert self.process is not None
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
            raise
        finally:
            if self._handle is not None:
                self._handle.close()
                self._handle = None
        self.process = None
        return code

    # HTTP

    def request(
        self, method: str, path: str, headers: dict[str, str] | None = None
    ) -> tuple[int, str]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            connection.request(method, path, headers=headers or {})
            response = connection.getresponse()
            return response.status, response.read().decode("utf-8", "replace")
        finally:
            connection.close()

    def get(self, path: str) -> tuple[int, str]:
        try:
            return self.request("GET", path)
        except OSError:
            return 0, ""

    def metrics(self) -> str:
        code, body = self.request("GET", "/metrics")
        assert code == 200, code
        return body

    # Events

    def all_events(self) -> list[dict[str, Any]]:
        """Every JSON event in the log file (of every run); a torn last line is skipped."""
        if not self.log.exists():
            return []
        found = []
        for line in self.log.read_bytes().decode("utf-8", "replace").splitlines():
            with contextlib.suppress(ValueError):
                event = json.loads(line)
                if isinstance(event, dict):
                    found.append(event)
        return found

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        """This run's events (all, or those called `name`)."""
        found = self.all_events()[self._skip :]
        return [event for event in found if name is None or event.get("event") == name]

    def wait_event(
        self,
        name: str,
        *,
        after: int = 0,
        timeout: float = 20,
        where: Callable[[dict[str, Any]], bool] = lambda _event: True,
    ) -> dict[str, Any]:
        """Wait for the first `name` event after the first `after` events of this run."""

        def probe() -> dict[str, Any] | None:
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(
                    f"the daemon exited ({self.process.returncode}): {self.tail()}"
                )
            for event in self.events()[after:]:
                if event.get("event") == name and where(event):
                    return event
            return None

        return wait_for(probe, timeout, f"event {name}")

    def tail(self, lines: int = 15) -> str:
        text = self.log.read_bytes().decode("utf-8", "replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def is_idle(self) -> bool:
        """Not in a pass (its last pass event is a pass.done) and nothing pending here.

        The last pass may have applied the last burst itself: nothing wakes the controller
        after its own push (no self-triggered pass), so an empty last pass is not required.
        """
        passes = [e for e in self.events() if str(e.get("event", "")).startswith("pass.")]
        pending = [name for name in g.pending(self.repo) if name != ".gitkeep"]
        return bool(passes) and passes[-1]["event"] == "pass.done" and not pending


def watch_args(
    *, push: bool = False, interval: str = "1s", extra: tuple[str, ...] = ()
) -> list[str]:
    """The flags every test daemon uses, plus `extra`."""
    args = ["--listen", "127.0.0.1:0", "--interval", interval, "--debounce", "100ms"]
    args += ["--log-format", "json", "--shutdown-timeout", "15s"]
    return [*(["--push"] if push else []), *args, *extra]


@contextlib.contextmanager
def watchers(*items: Watcher) -> Iterator[tuple[Watcher, ...]]:
    """Close every watcher on exit (a failing test never leaves a daemon running)."""
    try:
        yield items
    finally:
        for item in items:
            item.close()


ROTATE = 32 * 1024


class Remote(NamedTuple):
    daemon: GitDaemon
    seed: Path
    """The operator's clone: intents are pushed from here."""
    bare: Path


@contextlib.contextmanager
def served_seed(tmp_path: Path) -> Iterator[Remote]:
    """A git daemon serving the bare remote of a watched seed clone (for the replica tests)."""
    served = tmp_path / "served"
    served.mkdir()
    with git_daemon(served) as daemon:
        # Small segments: the records of one test span several (each one is read back).
        # Pacing off: the replicas apply bursts of resumes right after rollbacks on one decision.
        seed = make_watched_repo(
            tmp_path / "seed", settings=f"telemetryRotateBytes: {ROTATE}\n", paced=False
        )
        bare = served_remote(daemon, seed)
        yield Remote(daemon, seed, bare)
