#!/usr/bin/env python3
"""Open an HTML file in headless Chromium and report every failed or external request.

Talks to the browser over the DevTools protocol on a pipe (``--remote-debugging-pipe``: NUL-separated
JSON on fds 3/4, stdlib only), attached to the page's own session, so the browser's background
traffic is not mixed in. A page passes when it loads, every request it makes is a ``data:`` URI or
the page file itself, no request fails, every <img> decodes, and nothing is logged as an error.

Usage: check_html_chromium.py PAGE.html [--chromium PATH] [--timeout SECONDS] [--json]
Exit codes: 0 clean, 1 problems found, 2 bad usage or no Chromium.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-extensions",
    "--remote-debugging-pipe",
)
# After the load event, keep listening this long for late requests.
SETTLE_S = 0.5


def find_chromium(explicit: str | None = None) -> str | None:
    """Path of a Chromium binary: `explicit`, /usr/bin/chromium, or the first on PATH."""
    if explicit:
        return explicit if Path(explicit).exists() or shutil.which(explicit) else None
    if Path("/usr/bin/chromium").exists():
        return "/usr/bin/chromium"
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


class _Pipe:
    """Minimal DevTools-protocol client over Chromium's debugging pipe."""

    def __init__(self, to_browser: int, from_browser: int, deadline: float):
        self.w, self.r, self.deadline = to_browser, from_browser, deadline
        self.buf = b""
        self.next_id = 0
        self.events: list[dict] = []

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self.w, json.dumps(msg).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def _read(self, timeout: float | None = None) -> dict:
        while b"\0" not in self.buf:
            left = self.deadline - time.monotonic()
            if timeout is not None:
                left = min(left, timeout)
            if left <= 0:
                raise TimeoutError("no message from Chromium in time")
            ready, _, _ = select.select([self.r], [], [], left)
            if not ready:
                raise TimeoutError("no message from Chromium in time")
            chunk = os.read(self.r, 1 << 20)
            if not chunk:
                raise ConnectionError("Chromium closed the debugging pipe")
            self.buf += chunk
        raw, _, self.buf = self.buf.partition(b"\0")
        return json.loads(raw)

    def pump(self, until_event: str | None, settle: float) -> None:
        """Collect events until `until_event` arrives, then for `settle` more seconds."""
        if until_event:
            while not any(e.get("method") == until_event for e in self.events):
                self.events.append(self._read())
        end = time.monotonic() + settle
        while (left := end - time.monotonic()) > 0:
            try:
                self.events.append(self._read(timeout=left))
            except TimeoutError:
                break


def check_page(page: Path, chromium: str, timeout: float = 60.0) -> dict:
    """Load `page` and return ``{"requests", "failed", "external", "errors", "broken_images", "images"}``."""
    url = page.resolve().as_uri()
    to_r, to_w = os.pipe()  # we write commands, Chromium reads fd 3
    from_r, from_w = os.pipe()  # Chromium writes fd 4, we read

    def child_fds():
        # Copy first: a pipe end may already be fd 3 or 4, and os.pipe() ends are close-on-exec.
        a, b = os.dup(to_r), os.dup(from_w)
        os.dup2(a, 3)
        os.dup2(b, 4)

    with tempfile.TemporaryDirectory(prefix="chromium-check-") as profile:
        proc = subprocess.Popen(
            [chromium, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=child_fds,  # noqa: PLW1509 - single-threaded; fds 3/4 must be set before exec
            close_fds=False,
        )
        os.close(to_r)
        os.close(from_w)
        try:
            pipe = _Pipe(to_w, from_r, time.monotonic() + timeout)
            target = pipe.send("Target.createTarget", {"url": "about:blank"})["targetId"]
            session = pipe.send("Target.attachToTarget", {"targetId": target, "flatten": True})[
                "sessionId"
            ]
            for domain in ("Network", "Page", "Log", "Runtime"):
                pipe.send(f"{domain}.enable", session=session)
            pipe.send("Page.navigate", {"url": url}, session=session)
            pipe.pump("Page.loadEventFired", SETTLE_S)
            probe = pipe.send(
                "Runtime.evaluate",
                {
                    "returnByValue": True,
                    "expression": "[document.images.length, Array.from(document.images).filter("
                    "i => !(i.complete && i.naturalWidth > 0)).map(i => i.src.slice(0, 80))]",
                },
                session=session,
            )
            images, broken = probe["result"]["value"]
            try:
                pipe.send("Browser.close")
            except (ConnectionError, TimeoutError, RuntimeError):
                pass
        finally:
            os.close(to_w)
            os.close(from_r)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    mine = [e for e in pipe.events if e.get("sessionId") == session]
    urls = {}
    failed, errors = [], []
    for e in mine:
        method, params = e.get("method"), e.get("params", {})
        if method == "Network.requestWillBeSent":
            urls[params["requestId"]] = params["request"]["url"]
        elif method == "Network.loadingFailed":
            failed.append(f"{urls.get(params['requestId'], '?')[:100]}: {params.get('errorText')}")
        elif method == "Network.responseReceived" and params["response"].get("status", 200) >= 400:
            failed.append(f"{params['response']['url'][:100]}: HTTP {params['response']['status']}")
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            errors.append(f"{params['entry'].get('text')} ({params['entry'].get('url', '')[:100]})")
        elif method == "Runtime.exceptionThrown":
            errors.append(params["exceptionDetails"].get("text", "exception"))
    external = sorted({u[:100] for u in urls.values() if not u.startswith("data:") and u != url})
    return {
        "page": url,
        "requests": len(urls),
        "failed": failed,
        "external": external,
        "errors": errors,
        "images": images,
        "broken_images": broken,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("page", type=Path)
    parser.add_argument(
        "--chromium", default=None, help="Chromium binary (default: /usr/bin/chromium or PATH)."
    )
    parser.add_argument(
        "--timeout", type=float, default=60.0, help="Seconds allowed for the whole check."
    )
    parser.add_argument("--json", action="store_true", help="Print the findings as JSON.")
    args = parser.parse_args(argv)
    if not args.page.is_file():
        print(f"Error: page not found: {args.page}", file=sys.stderr)
        return 2
    chromium = find_chromium(args.chromium)
    if chromium is None:
        print(
            "Error: no Chromium found (looked for /usr/bin/chromium and "
            f"{', '.join(CANDIDATES)} on PATH); install it, e.g. `apt-get install -y chromium`.",
            file=sys.stderr,
        )
        return 2
    report = check_page(args.page, chromium, args.timeout)
    problems = (
        report["failed"]
        + [f"external request: {u}" for u in report["external"]]
        + report["errors"]
        + [f"image not decoded: {s}" for s in report["broken_images"]]
    )
    if args.json:
        print(json.dumps(report | {"ok": not problems}, indent=2))
    else:
        print(
            f"{report['page']}: {report['requests']} requests, {report['images']} images, "
            f"{len(problems)} problem(s)"
        )
        for p in problems:
            print(f"  {p}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
