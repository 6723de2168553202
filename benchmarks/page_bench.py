"""Benchmark the status page: prints figures, asserts nothing.

A real `python -m reconciler --watch` on a policy repository with 60 processed intents (so
the page shows the full 50 history entries), then --requests sequential GETs each of `/` and
`/api/status` over one kept-alive connection: p50, p95 and max in milliseconds, and the
bytes sent. Also the time one pass spends building the page's data (`page_document`,
in-process), which the controller pays once per pass, never per request. The figures are in
docs/operations.md ("The status page").

Usage: python benchmarks/page_bench.py [--requests N]
"""

from __future__ import annotations

import argparse
import http.client
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        repo = f"{root}/repo"
        make_repo(repo)
        add_intents(repo, 60, "a", kinds=("expand",))
        subprocess.run(
            [sys.executable, "-m", "reconciler", "--once", "--repo", repo],
            env=ENV, cwd=repo, check=True, capture_output=True,
        )  # fmt: skip
        print(f"history: {git(repo, 'rev-list', '--count', 'HEAD').strip()} commits")

        sys.path.insert(0, PROJECT)
        from reconciler.render.status_page import page_html
        from reconciler.reports.status_page import page_document

        builds = []
        for _ in range(5):
            start = time.perf_counter()
            doc = page_document(repo, now=lambda: datetime.now(UTC))
            builds.append((time.perf_counter() - start) * 1000)
        print(
            f"page data built per pass (page_document): median {statistics.median(builds):.1f} ms"
        )
        # Several fleets are not there yet: 100 copies of this one show what drawing them costs.
        many = dict(doc, fleets=doc["fleets"] * 100)
        start = time.perf_counter()
        drawn = page_html(many, live=True)
        print(
            "page_html of 100 fleets (once per pass): "
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
