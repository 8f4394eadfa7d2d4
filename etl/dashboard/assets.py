"""The site's one stylesheet and one script, written to <out>/assets/ (shared by every page, so a
machine page carries only its own rows). No framework, no fonts, nothing fetched: the script
sorts tables (click a header), filters them (a text box), and renders the list pages' rows from
the compact JSON embedded in them."""

CSS = """\
:root{--fg:#1d2433;--muted:#5f6b7a;--line:#dde2ea;--bg:#f5f7fa;--card:#fff;--accent:#1f5fbf;
--ok:#2e7d32;--warn:#d38b00;--bad:#c62828;--none:#9aa3ad}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
color:var(--fg);background:var(--bg)}
header.top{background:#17233a;color:#fff;padding:10px 24px;display:flex;gap:24px;align-items:baseline;flex-wrap:wrap}
header.top .brand{font-weight:700;font-size:16px;color:#fff;text-decoration:none}
header.top nav a{color:#c9d6ee;text-decoration:none;margin-right:16px}
header.top nav a.active,header.top nav a:hover{color:#fff;text-decoration:underline}
header.top .period{margin-left:auto;color:#c9d6ee;font-size:13px}
main{padding:16px 24px 32px;max-width:1360px}
h1{font-size:22px;margin:4px 0 12px}
h2{font-size:16px;margin:0 0 8px}
a{color:var(--accent)}
.muted{color:var(--muted);fill:var(--muted)}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(128px,1fr));gap:10px;margin-bottom:16px}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:10px 12px}
.card .k{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.card .v{font-size:21px;font-weight:650;font-variant-numeric:tabular-nums}
.card .h{color:var(--muted);font-size:12px}
.grid2{display:grid;grid-template-columns:repeat(auto-fit,minmax(560px,1fr));gap:16px}
section.panel{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:12px 14px;margin-bottom:16px;
overflow-x:auto}
figure.chart{margin:0;max-width:900px}
figure.chart figcaption{display:none}
.split{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:16px;align-items:start}
svg.svg-chart{width:100%;height:auto;max-height:420px;font-size:11px}
svg .grid{stroke:#e8ecf1;stroke-width:1}
svg .axis,svg .legend,svg .value{fill:var(--muted)}
svg .label{fill:var(--fg)}
svg a .label{fill:var(--accent)}
table.data{border-collapse:collapse;width:100%;font-size:13px;font-variant-numeric:tabular-nums}
table.data th,table.data td{padding:4px 8px;border-bottom:1px solid var(--line);text-align:left;white-space:nowrap}
table.data td.wrap{white-space:normal;min-width:220px;max-width:560px}
table.data th{background:#eef2f7;position:sticky;top:0;font-weight:600;font-size:12px}
table.data th.num,table.data td.num{text-align:right}
table.sortable th{cursor:pointer;user-select:none}
table.sortable th::after{content:" \\2195";color:#aab3bf;font-size:11px}
table.sortable th[aria-sort=ascending]::after{content:" \\25B2";color:var(--fg)}
table.sortable th[aria-sort=descending]::after{content:" \\25BC";color:var(--fg)}
table.data tbody tr:hover{background:#f3f7ff}
.tools{display:flex;gap:12px;align-items:center;margin:0 0 8px}
.tools input{padding:6px 10px;border:1px solid var(--line);border-radius:6px;min-width:320px;font:inherit}
.tag{display:inline-block;padding:0 6px;border-radius:9px;font-size:12px;color:#fff;background:var(--none)}
.tag-sanctioned{background:var(--ok)}.tag-monitored{background:var(--warn)}.tag-unsanctioned{background:var(--bad)}
.sev-high{color:var(--bad);font-weight:600}.sev-medium{color:var(--warn);font-weight:600}.sev-low{color:var(--muted)}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px;margin:0}
dl.facts dt{color:var(--muted)}dl.facts dd{margin:0}
footer{color:var(--muted);font-size:12px;padding:0 24px 24px}
"""

JS = """\
(function () {
  "use strict";
  function human(n) {
    if (n === null || n === undefined) return "\\u2013";
    var units = ["B", "kB", "MB", "GB", "TB", "PB"], i = 0;
    while (Math.abs(n) >= 1000 && i < units.length - 1) { n /= 1000; i++; }
    return i === 0 ? n.toFixed(0) + " B" : n.toFixed(1) + " " + units[i];
  }
  function num(n) {
    if (n === null || n === undefined) return "\\u2013";
    return String(n).replace(/\\B(?=(\\d{3})+(?!\\d))/g, ",");
  }
  function key(cell) {
    var v = cell.getAttribute("data-v");
    if (v !== null) return v === "" ? null : parseFloat(v);
    var t = cell.textContent.trim();
    return t === "" || t === "\\u2013" ? null : t.toLowerCase();
  }
  function compare(a, b) {
    if (a === b) return 0;
    if (a === null) return 1;
    if (b === null) return -1;
    if (typeof a === "number" && typeof b === "number") return a - b;
    return String(a).localeCompare(String(b));
  }
  function sortTable(table, th) {
    var index = Array.prototype.indexOf.call(th.parentNode.children, th);
    var descending = th.getAttribute("aria-sort") === "ascending";
    Array.prototype.forEach.call(th.parentNode.children, function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", descending ? "descending" : "ascending");
    var body = table.tBodies[0];
    var rows = Array.prototype.map.call(body.rows, function (row, i) { return [key(row.cells[index]), i, row]; });
    rows.sort(function (a, b) {
      var c = compare(a[0], b[0]);
      if (c !== 0 && a[0] !== null && b[0] !== null && descending) c = -c;
      return c || a[1] - b[1];
    });
    var frag = document.createDocumentFragment();
    rows.forEach(function (r) { frag.appendChild(r[2]); });
    body.appendChild(frag);
  }
  function makeSortable(table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) {
      th.tabIndex = 0;
      th.addEventListener("click", function () { sortTable(table, th); });
      th.addEventListener("keydown", function (e) { if (e.key === "Enter") sortTable(table, th); });
    });
  }
  function render(table) {
    var source = document.getElementById(table.getAttribute("data-rows"));
    var data = JSON.parse(source.textContent);
    var base = table.getAttribute("data-base") || "";
    var kinds = Array.prototype.map.call(table.tHead.rows[0].cells, function (th) { return th.getAttribute("data-kind") || "text"; });
    var body = table.tBodies[0], frag = document.createDocumentFragment();
    data.forEach(function (row) {
      var tr = document.createElement("tr"), j = 0;
      kinds.forEach(function (kind) {
        var td = document.createElement("td"), v = row[j++];
        if (kind === "link") {
          var text = row[j++];
          if (v === null) { td.textContent = text; } else {
            var a = document.createElement("a");
            a.href = base + encodeURIComponent(v) + ".html";
            a.textContent = text;
            td.appendChild(a);
          }
        } else if (kind === "num" || kind === "bytes") {
          td.className = "num";
          td.setAttribute("data-v", v === null ? "" : String(v));
          td.textContent = kind === "bytes" ? human(v) : num(v);
          if (kind === "bytes" && v !== null) td.title = num(v) + " bytes";
        } else if (kind === "tag") {
          var s = document.createElement("span");
          s.className = "tag tag-" + v;
          s.textContent = v;
          td.appendChild(s);
        } else {
          if (kind === "wrap") td.className = "wrap";
          td.textContent = v === null ? "\\u2013" : v;
        }
        tr.appendChild(td);
      });
      frag.appendChild(tr);
    });
    body.appendChild(frag);
  }
  function makeFilter(input) {
    var table = document.getElementById(input.getAttribute("data-filter"));
    var cols = (input.getAttribute("data-cols") || "").split(",").filter(Boolean).map(Number);
    var count = document.getElementById(input.getAttribute("data-count"));
    function apply() {
      var q = input.value.trim().toLowerCase(), shown = 0, rows = table.tBodies[0].rows;
      for (var i = 0; i < rows.length; i++) {
        var row = rows[i], text = "";
        var cells = cols.length ? cols.map(function (c) { return row.cells[c]; }) : Array.prototype.slice.call(row.cells);
        cells.forEach(function (c) { if (c) text += " " + c.textContent.toLowerCase(); });
        var hit = !q || text.indexOf(q) >= 0;
        row.hidden = !hit;
        if (hit) shown++;
      }
      if (count) count.textContent = shown + " of " + rows.length;
    }
    input.addEventListener("input", apply);
    apply();
  }
  document.querySelectorAll("table[data-rows]").forEach(render);
  document.querySelectorAll("table.sortable").forEach(makeSortable);
  document.querySelectorAll("input[data-filter]").forEach(makeFilter);
  document.documentElement.setAttribute("data-ready", "1");
})();
"""
