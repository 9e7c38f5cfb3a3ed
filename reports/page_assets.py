"""The report page's inline style sheet and its one script (table sorting), kept apart from the
page's assembly (`reports.html`) so that each reads on its own."""

CSS = """
body { font-family: system-ui, sans-serif; margin: 0.6em auto; max-width: 1380px; color: #222;
  padding: 0 10px; }
h1 { font-size: 1.35em; margin: 0.2em 0; }
h2 { font-size: 1.15em; margin: 1.2em 0 0.4em; }
h1, h2, h3 { font-weight: 600; }
nav { font-size: 0.85em; margin: 0 0 0.4em; }
nav a { margin-right: 0.9em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.3em 0 1.2em; }
th, td { border: 1px solid #ccc; padding: 2px 6px; text-align: right; }
td { white-space: nowrap; }
.scroll { overflow-x: auto; }
th { background: #f0f0f0; }
td:nth-child(2), th:nth-child(2) { text-align: left; }
#leaderboard td:nth-child(3) { text-align: left; }
.js table.sortable th { cursor: pointer; user-select: none; }
th[aria-sort="ascending"]::after { content: " \\25B2"; font-size: 0.7em; }
th[aria-sort="descending"]::after { content: " \\25BC"; font-size: 0.7em; }
td.best { font-weight: 700; }
.headline { display: flex; gap: 18px; align-items: flex-start; }
.headline > section { min-width: 0; }
#leaderboard table { font-size: 0.78em; margin: 0.2em 0; }
#leaderboard td, #leaderboard th { padding: 1px 5px; }
#leaderboard th { white-space: normal; max-width: 5.5em; vertical-align: bottom;
  position: sticky; top: 0; }
#leaderboard .scroll { max-height: calc(100vh - 190px); overflow-y: auto; }
#leaderboard h2, #key-figures h2 { margin: 0.2em 0; }
#leaderboard { width: min-content; flex: none; }
#key-figures { flex: 1 1 0; }
#key-figures figure { margin: 0 0 0.4em; }
#key-figures figcaption { font-size: 0.8em; }
figure { margin: 1em 0 2em; }
figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-size: 0.9em; color: #444; }
.caption { font-size: 0.8em; color: #444; margin: 0.1em 0; max-width: 60em; }
pre { background: #f7f7f7; padding: 0.6em; overflow-x: auto; font-size: 0.8em; }
.meta { color: #555; font-size: 0.85em; margin: 0; }
"""

# Click (or Enter on) a header to sort by that column; again to reverse. Numbers compare as numbers
# (the leading number of "0.734 [0.730, 0.737]" or "99.5%"), "–" (no value) always sorts last.
SORT_JS = """
document.documentElement.classList.add("js");
(function () {
  function key(cell) {
    var t = (cell.getAttribute("data-sort") || cell.textContent).trim();
    if (t === "" || t === "\\u2013") return null;
    var n = parseFloat(t);
    return isNaN(n) ? t.toLowerCase() : n;
  }
  function cmp(a, b) {
    if (typeof a === typeof b) return typeof a === "number" ? a - b
      : a.localeCompare(b, undefined, {numeric: true});
    return typeof a === "number" ? -1 : 1;
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    var heads = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(heads, function (th, col) {
      th.tabIndex = 0;
      th.title = (th.title ? th.title + ". " : "") + "Click to sort";
      function sort() {
        var now = th.getAttribute("aria-sort");
        var desc = now ? now === "ascending" : th.hasAttribute("data-desc");
        var body = table.tBodies[0];
        var rows = Array.prototype.map.call(body.rows, function (r, i) {
          return {r: r, i: i, k: key(r.cells[col])};
        });
        rows.sort(function (a, b) {
          if (a.k === null || b.k === null) return (a.k === null) - (b.k === null) || a.i - b.i;
          return (desc ? cmp(b.k, a.k) : cmp(a.k, b.k)) || a.i - b.i;
        });
        rows.forEach(function (x) { body.appendChild(x.r); });
        Array.prototype.forEach.call(heads, function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", desc ? "descending" : "ascending");
      }
      th.addEventListener("click", sort);
      th.addEventListener("keydown", function (e) {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sort(); }
      });
    });
  });
})();
"""
