"""Benchmark the status page: prints figures, asserts nothing.

A real `python -m reconciler --watch` on a policy repository with 60 processed intents (so
the page shows the full 50 history entries), then --requests sequential GETs each of `/` and
`/api/status` over one kept-alive connection: p50, p95 and max in milliseconds, and the
bytes sent. Also the time one pass spends building the page's data (`page_document`,
in-process), which the controller pays once per pass, never per request. The figures are in
docs/operations.md ("The status page").

`--fleets N` (N > 1): a repository of N fleets (`policies/fleets/f000/`...), each a copy of
one fleet that processed `--processed` intents (default 60), generated directly and committed
at once; also times `reconcile status`'s report (`repo_status`) over them.

Usage: python benchmarks/page_bench.py [--requests N] [--fleets N] [--processed N]
"""

from __future__ import annotations

import argparse
import http.client
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime

from daemon_bench import Daemon
from loop_bench import ENV, PROJECT, add_intents, git, make_repo


def timed_gets(port: int, path: str, count: int) -> tuple[list[float], int]:
    """`count` GETs of `path` on one connection; their times in ms and the last body's size."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    times, size = [], 0
    try:
        for _ in range(count):
            start = time.perf_counter()
            connection.request("GET", path)
            response = connection.getresponse()
            body = response.read()
            times.append((time.perf_counter() - start) * 1000)
            assert response.status == 200, (path, response.status, body[:200])
            size = len(body)
    finally:
        connection.close()
    return times, size


def is_served(port: int) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", "/api/status")
        response = connection.getresponse()
        response.read()
        return response.status == 200
    finally:
        connection.close()


def quantile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q * 100) - 1]


FLEET_FILES = ("registry.yaml", "promotion", "state", "telemetry", "intents", ".gitignore")


def make_fleets_repo(seed: str, repo: str, count: int) -> None:
    """`count` copies of `seed`'s one fleet as `policies/fleets/fNNN/`, in one commit."""
    os.makedirs(repo)
    git(repo, "init", "-q", "-b", "main")
    shutil.copy(os.path.join(seed, "reconciler.yaml"), os.path.join(repo, "reconciler.yaml"))
    with open(os.path.join(seed, "policies", "registry.yaml")) as handle:
        registry = handle.read()
    for number in range(count):
        fleet = f"f{number:03d}"
        folder = os.path.join(repo, "policies", "fleets", fleet)
        os.makedirs(folder)
        for name in FLEET_FILES:
            source = os.path.join(seed, "policies", name)
            if os.path.isdir(source):
                shutil.copytree(source, os.path.join(folder, name))
            elif os.path.exists(source):
                shutil.copy(source, os.path.join(folder, name))
        with open(os.path.join(folder, "registry.yaml"), "w") as handle:
            handle.write(registry.replace("fleetId: fleet-a", f"fleetId: {fleet}"))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", f"{count} fleets")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--fleets", type=int, default=1)
    parser.add_argument("--processed", type=int, default=60)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        repo = f"{root}/repo"
        make_repo(repo)
        add_intents(repo, args.processed, "a", kinds=("expand",))
        subprocess.run(
            [sys.executable, "-m", "reconciler", "--once", "--repo", repo],
            env=ENV, cwd=repo, check=True, capture_output=True,
        )  # fmt: skip
        print(f"history: {git(repo, 'rev-list', '--count', 'HEAD').strip()} commits")

        sys.path.insert(0, PROJECT)
        from reconciler.render.status_page import page_html
        from reconciler.reports.status import repo_status
        from reconciler.reports.status_page import page_document

        if args.fleets > 1:
            start = time.perf_counter()
            make_fleets_repo(repo, f"{root}/fleets", args.fleets)
            repo = f"{root}/fleets"
            print(
                f"{args.fleets} fleets of {args.processed} processed intents each, built in "
                f"{time.perf_counter() - start:.1f} s"
            )
            reports = []
            for _ in range(5):
                start = time.perf_counter()
                repo_status(repo, now=lambda: datetime.now(UTC))
                reports.append((time.perf_counter() - start) * 1000)
            print(
                f"status report of {args.fleets} fleets (repo_status, in-process): median "
                f"{statistics.median(reports):.1f} ms, min {min(reports):.1f} ms"
            )

        builds = []
        for _ in range(5):
            start = time.perf_counter()
            doc = page_document(repo, now=lambda: datetime.now(UTC))
            builds.append((time.perf_counter() - start) * 1000)
        print(
            f"page data built per pass (page_document): median {statistics.median(builds):.1f} ms"
        )
        start = time.perf_counter()
        drawn = page_html(doc, live=True)
        print(
            f"page_html of {len(doc['fleets'])} fleet(s) (once per pass): "
            f"{(time.perf_counter() - start) * 1000:.1f} ms, {len(drawn)} bytes"
        )

        daemon = Daemon(repo)
        try:
            daemon.wait_for(lambda event: event["event"] == "pass.done", 0, 60)
            port = int(daemon.url.rsplit(":", 1)[1])
            deadline = time.monotonic() + 30
            while not is_served(port) and time.monotonic() < deadline:
                time.sleep(0.05)  # the page is built just after the pass
            timed_gets(port, "/", 5)  # warm up
            for path in ("/", "/api/status"):
                times, size = timed_gets(port, path, args.requests)
                print(
                    f"GET {path:<12} {args.requests} requests: "
                    f"p50 {statistics.median(times):.2f} ms, "
                    f"p95 {quantile(times, 0.95):.2f} ms, "
                    f"max {max(times):.2f} ms, {size} bytes"
                )
        finally:
            daemon.stop()


if __name__ == "__main__":
    main()
