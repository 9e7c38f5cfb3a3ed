#!/usr/bin/env python3
"""Open an HTML file in headless Chromium: failed or external requests, the first screen, sorting.

Talks to the browser over the DevTools protocol on a pipe (``--remote-debugging-pipe``: NUL-separated
JSON on fds 3/4, stdlib only), attached to the page's own session, so the browser's background
traffic is not mixed in. A page passes when it loads, every request it makes is a ``data:`` URI or
the page file itself, no request fails, every <img> decodes, nothing is logged as an error, every
element of each ``--first-screen`` selector (default: the report's leaderboard table and key
figures) lies inside the first viewport (default 1400x900), and a click on any header of a
``table.sortable`` orders its rows by that column (numbers as numbers, "–" last), a second click
the other way round, and at least one click per table reorders its rows.

Usage: check_html_chromium.py PAGE.html [--viewport WxH] [--screenshot OUT.png]
       [--first-screen SELECTOR ...] [--chromium PATH] [--timeout SECONDS] [--json]
Exit codes: 0 clean, 1 problems found, 2 bad usage or no Chromium.
"""

from __future__ import annotations

import argparse
import base64
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
VIEWPORT = (1400, 900)
#: What the report page (reports/html.py) must show on its first screen.
FIRST_SCREEN = ("#leaderboard table.sortable", "#key-figures img")

# Each element matching a selector: its box, and whether it is drawn inside the viewport.
_FIRST_SCREEN_JS = """
(function (selectors) {
  return selectors.map(function (sel) {
    var boxes = Array.prototype.map.call(document.querySelectorAll(sel), function (el) {
      var r = el.getBoundingClientRect();
      var inside = r.width > 0 && r.height > 0 && r.left >= 0 && r.top >= 0
        && r.right <= window.innerWidth && r.bottom <= window.innerHeight;
      return {box: [r.left, r.top, r.right, r.bottom].map(Math.round), inside: inside};
    });
    return {selector: sel, boxes: boxes};
  });
})(SELECTORS)
"""

# Click every header of every table.sortable twice; after each click the column must be ordered
# the way its aria-sort says (numbers as numbers before text, "–" or empty last), the rows must be
# the same rows, and some click must change the order. Written apart from the page's own sorter.
_SORT_JS = r"""
(function () {
  function value(cell) {
    var t = cell.textContent.trim();
    if (t === "" || t === "\u2013") return null;
    var m = t.match(/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?/i);
    return m ? parseFloat(m[0]) : t.toLowerCase();
  }
  function before(a, b) {  // a may precede b in ascending order
    if (b === null) return true;
    if (a === null) return false;
    if (typeof a !== typeof b) return typeof a === "number";
    return typeof a === "number" ? a <= b : a.localeCompare(b, undefined, {numeric: true}) <= 0;
  }
  function ordered(vals, desc) {
    for (var i = 1; i < vals.length; i++) {
      var a = vals[i - 1], b = vals[i];
      var ok = desc ? (a === null ? b === null : (b === null || before(b, a))) : before(a, b);
      if (!ok) return false;
    }
    return true;
  }
  var problems = [], tables = document.querySelectorAll("table.sortable"), reordered = 0;
  Array.prototype.forEach.call(tables, function (table, t) {
    var body = table.tBodies[0], heads = table.tHead.rows[0].cells;
    var rowsText = function () { return Array.prototype.map.call(body.rows, function (r) {
      return r.textContent; }); };
    var start = rowsText(), changed = false;
    Array.prototype.forEach.call(heads, function (th, c) {
      var name = th.textContent.trim(), seen = [];
      for (var k = 0; k < 2; k++) {
        th.click();
        var dir = th.getAttribute("aria-sort");
        seen.push(dir);
        var vals = Array.prototype.map.call(body.rows, function (r) { return value(r.cells[c]); });
        var now = rowsText();
        if (now.join("\n") !== start.join("\n")) changed = true;
        if (now.slice().sort().join("\n") !== start.slice().sort().join("\n"))
          problems.push("table " + t + " '" + name + "': rows changed, not only their order");
        if (dir !== "ascending" && dir !== "descending")
          problems.push("table " + t + " '" + name + "': no aria-sort after a click");
        else if (!ordered(vals, dir === "descending"))
          problems.push("table " + t + " '" + name + "': not " + dir + " after a click");
      }
      if (seen[0] === seen[1]) problems.push("table " + t + " '" + name + "': a second click "
        + "does not reverse the order");
    });
    if (changed) reordered++;
    else if (body.rows.length > 1) problems.push("table " + t + ": no click reorders its rows");
  });
  return {tables: tables.length, reordered: reordered, problems: problems};
})()
"""


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


def check_page(
    page: Path,
    chromium: str,
    timeout: float = 60.0,
    *,
    viewport: tuple[int, int] = VIEWPORT,
    screenshot: Path | None = None,
    first_screen: tuple[str, ...] = FIRST_SCREEN,
) -> dict:
    """Load `page` in a `viewport`-sized window; return what was found.

    Returns:
        ``{"page", "requests", "failed", "external", "errors", "images", "broken_images",
        "viewport", "first_screen", "sorting"}``; ``first_screen`` holds each selector's element
        boxes, ``sorting`` the sortable tables checked and the problems met. The screenshot of
        the first screen (before any click) goes to `screenshot` when given.
    """
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
            width, height = viewport
            pipe.send(
                "Emulation.setDeviceMetricsOverride",
                {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
                session=session,
            )
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
            seen = _evaluate(
                pipe, session, _FIRST_SCREEN_JS.replace("SELECTORS", json.dumps(first_screen))
            )
            if screenshot is not None:
                shot = pipe.send("Page.captureScreenshot", {"format": "png"}, session=session)
                Path(screenshot).write_bytes(base64.b64decode(shot["data"]))
            sorting = _evaluate(pipe, session, _SORT_JS)
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
        "viewport": list(viewport),
        "first_screen": seen,
        "sorting": sorting,
    }


def _evaluate(pipe: _Pipe, session: str, expression: str):
    """The JSON value of a page expression; an exception in it is an error, not a result."""
    reply = pipe.send(
        "Runtime.evaluate", {"expression": expression, "returnByValue": True}, session=session
    )
    if "exceptionDetails" in reply:
        raise RuntimeError(f"probe failed in the page: {reply['exceptionDetails'].get('text')}")
    return reply["result"]["value"]


def problems_of(report: dict) -> list[str]:
    """Every problem in `check_page`'s findings, one line each."""
    width, height = report["viewport"]
    out = (
        report["failed"]
        + [f"external request: {u}" for u in report["external"]]
        + report["errors"]
        + [f"image not decoded: {s}" for s in report["broken_images"]]
    )
    for found in report["first_screen"]:
        if not found["boxes"]:
            out.append(f"first screen: nothing matches {found['selector']!r}")
        out += [
            f"first screen: {found['selector']!r} element {i} at {b['box']} (left, top, right, "
            f"bottom) is not inside the {width}x{height} viewport"
            for i, b in enumerate(found["boxes"])
            if not b["inside"]
        ]
    return out + [f"sorting: {p}" for p in report["sorting"]["problems"]]


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
    parser.add_argument(
        "--viewport",
        default=f"{VIEWPORT[0]}x{VIEWPORT[1]}",
        help="Window size WIDTHxHEIGHT in CSS pixels (default: %(default)s).",
    )
    parser.add_argument(
        "--screenshot", type=Path, default=None, help="Write the first screen as a PNG here."
    )
    parser.add_argument(
        "--first-screen",
        action="append",
        default=None,
        metavar="SELECTOR",
        help="CSS selector whose every element must lie inside the first viewport (repeatable; "
        f"default: {', '.join(FIRST_SCREEN)}, the report page's headline; 'none': no check).",
    )
    args = parser.parse_args(argv)
    if not args.page.is_file():
        print(f"Error: page not found: {args.page}", file=sys.stderr)
        return 2
    try:
        viewport = tuple(int(v) for v in args.viewport.lower().split("x"))
        if len(viewport) != 2 or min(viewport) < 1:
            raise ValueError
    except ValueError:
        print(
            f"Error: --viewport {args.viewport!r} is not WIDTHxHEIGHT (e.g. 1400x900).",
            file=sys.stderr,
        )
        return 2
    selectors = FIRST_SCREEN if args.first_screen is None else tuple(args.first_screen)
    selectors = tuple(s for s in selectors if s != "none")
    chromium = find_chromium(args.chromium)
    if chromium is None:
        print(
            "Error: no Chromium found (looked for /usr/bin/chromium and "
            f"{', '.join(CANDIDATES)} on PATH); install it, e.g. `apt-get install -y chromium`.",
            file=sys.stderr,
        )
        return 2
    report = check_page(
        args.page,
        chromium,
        args.timeout,
        viewport=viewport,
        screenshot=args.screenshot,
        first_screen=selectors,
    )
    problems = problems_of(report)
    if args.json:
        print(json.dumps(report | {"ok": not problems, "problems": problems}, indent=2))
    else:
        sort = report["sorting"]
        print(
            f"{report['page']}: {report['requests']} requests, {report['images']} images, "
            f"{len(selectors)} first-screen selector(s) at {viewport[0]}x{viewport[1]}, "
            f"{sort['tables']} sortable table(s) ({sort['reordered']} reordered by a click), "
            f"{len(problems)} problem(s)"
        )
        for p in problems:
            print(f"  {p}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
