"""HTML pieces: the page shell, tables, figure cards, safe file names, compact JSON.

Everything that came from logs (device names, users, domains, reasons) goes through esc();
file names are slugs of [a-z0-9-] only, so no name can leave its folder.
"""
from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from functools import lru_cache
from html import escape

from etl.dashboard.svg import human_bytes, number

CSP = ("default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; "
       "connect-src 'none'; form-action 'none'; base-uri 'none'")
NAV = [("index.html", "Overview"), ("machines.html", "Machines"), ("apps.html", "Apps"), ("users.html", "Users")]
DASH = "–"
ACTIVE = ' class="active"'
NUM = ' class="num"'
SLUG_LIMIT = 60
# names some file systems refuse (Windows devices) and ours
_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10)),
             "index", "assets"}


@lru_cache(maxsize=1 << 16)
def _escape(text: str) -> str:
    return escape(text, quote=True)


def esc(value) -> str:
    """HTML-escaped text (cached: app names, sources, days repeat on thousands of pages)."""
    return DASH if value is None else _escape(value if isinstance(value, str) else str(value))


# ---------------------------------------------------------------------------
# File names
# ---------------------------------------------------------------------------

def slugify(text: str | None) -> str:
    """A name as a file-name stem: ASCII letters, digits and single dashes, at most SLUG_LIMIT long."""
    ascii_text = unicodedata.normalize("NFKD", text or "").encode("ascii", "ignore").decode("ascii").lower()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text).strip("-")[:SLUG_LIMIT].strip("-")
    if not slug:
        slug = "x"
    return f"{slug}-x" if slug in _RESERVED else slug


class Slugs:
    """Distinct slugs for keys: a clash (names that slugify alike, e.g. `A.B` and `a-b`) gets a short
    digest of the key appended. Deterministic for the same keys added in the same order."""

    def __init__(self):
        self._by_key: dict[str, str] = {}
        self._taken: set[str] = set()

    def add(self, key: str, name: str | None) -> str:
        if key in self._by_key:
            return self._by_key[key]
        base = slugify(name or key)
        slug, n = base, 1
        if slug in self._taken:
            slug = f"{base}-{hashlib.sha1(key.encode('utf-8')).hexdigest()[:8]}"
        while slug in self._taken:
            n += 1
            slug = f"{base}-{n}"
        self._taken.add(slug)
        self._by_key[key] = slug
        return slug

    def get(self, key) -> str | None:
        return self._by_key.get(key)

    def __len__(self) -> int:
        return len(self._by_key)


def json_script(element_id: str, value) -> str:
    """Data for the script, inert (type application/json) and unable to close its element."""
    body = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    body = body.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
    body = body.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return f'<script type="application/json" id="{esc(element_id)}">{body}</script>'


# ---------------------------------------------------------------------------
# Page shell, cards, tables
# ---------------------------------------------------------------------------

def page(title: str, body: str, depth: int, active: str | None, period_label: str) -> str:
    up = "../" * depth
    nav = "".join(f'<a href="{up}{href}"{ACTIVE if href == active else ""}>{label}</a>' for href, label in NAV)
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="referrer" content="no-referrer">'
        f"<title>{esc(title)} · Cloud Discovery</title>"
        '<link rel="icon" href="data:,">'
        f'<link rel="stylesheet" href="{up}assets/dashboard.css">'
        "</head><body>"
        f'<header class="top"><a class="brand" href="{up}index.html">Cloud Discovery</a><nav>{nav}</nav>'
        f'<span class="period">{esc(period_label)}</span></header>'
        f"<main>{body}</main>"
        '<footer>Static Cloud Discovery dashboard: every figure is from the committed reports of the period '
        "above; nothing on these pages is fetched from a network.</footer>"
        f'<script src="{up}assets/dashboard.js"></script>'
        "</body></html>\n")


def card(label: str, value, fig_id: str | None = None, kind: str = "num", hint: str | None = None) -> str:
    """A headline figure: the element with id `fig_id` holds the plain integer (tests read it)."""
    ident = f' id="{esc(fig_id)}"' if fig_id else ""
    if kind == "bytes":  # readable big, exact below
        exact = (f'<span{ident}>{int(value)}</span> bytes' if value is not None
                 else f'<span{ident}></span>no byte counts')
        return (f'<div class="card"><div class="k">{esc(label)}</div><div class="v">{human_bytes(value)}</div>'
                f'<div class="h">{exact}</div></div>')
    if kind == "num":
        shown = f'<span{ident} data-v="{int(value or 0)}">{int(value or 0)}</span>'
    else:
        shown = f"<span{ident}>{esc(value)}</span>"
    extra = f'<div class="h">{esc(hint)}</div>' if hint else ""
    return f'<div class="card"><div class="k">{esc(label)}</div><div class="v">{shown}</div>{extra}</div>'


def cards(items: list[str]) -> str:
    return f'<div class="cards">{"".join(items)}</div>'


def panel(title: str | None, content: str, panel_id: str | None = None) -> str:
    ident = f' id="{esc(panel_id)}"' if panel_id else ""
    head = f"<h2>{esc(title)}</h2>" if title else ""
    return f'<section class="panel"{ident}>{head}{content}</section>'


def link(text, href: str | None) -> str:
    return f'<a href="{esc(href)}">{esc(text)}</a>' if href else esc(text)


def tag_badge(tag: str | None) -> str:
    tag = tag or "none"
    return f'<span class="tag tag-{esc(tag)}">{esc(tag)}</span>'


def _cell(kind: str, v) -> str:
    if kind == "num":
        return f'<td class="num" data-v="{"" if v is None else v}">{number(v)}</td>'
    if kind == "bytes":
        if v is None:
            return f'<td class="num" data-v="">{DASH}</td>'
        return f'<td class="num" data-v="{v}" title="{number(v)} bytes">{human_bytes(v)}</td>'
    if kind == "score":
        return f'<td class="num" data-v="{"" if v is None else v}">{DASH if v is None else f"{v:.1f}"}</td>'
    if kind == "link":  # (text, href or None)
        return f"<td>{link(*v)}</td>"
    if kind == "tag":
        return f"<td>{tag_badge(v)}</td>"
    if kind == "sev":
        return f'<td class="sev-{esc(v)}">{esc(v)}</td>'
    if kind == "wrap":
        return f'<td class="wrap">{esc(v)}</td>'
    if kind == "html":  # already escaped by the caller
        return f"<td>{v}</td>"
    return f"<td>{esc(v)}</td>"


def table(table_id: str, columns: list[tuple[str, str]], rows, sortable: bool = True,
          empty: str = "None in this period.", note: str | None = None) -> str:
    """A table of rows of raw values; `columns`: (header, kind) with kind num, bytes, score, link,
    tag, sev, wrap, html or text. Numeric cells carry data-v for sorting."""
    rows = list(rows)
    head = "".join(f'<th{NUM if kind in ("num", "bytes", "score") else ""}>{esc(name)}</th>' for name, kind in columns)
    kinds = [kind for _, kind in columns]
    body = "".join("<tr>" + "".join(_cell(k, v) for k, v in zip(kinds, row)) + "</tr>" for row in rows)
    cls = "data sortable" if sortable else "data"
    out = f'<table id="{esc(table_id)}" class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
    if not rows:
        out += f'<p class="muted">{esc(empty)}</p>'
    if note:
        out += f'<p class="muted">{esc(note)}</p>'
    return out


def json_table(table_id: str, columns: list[tuple[str, str]], rows: list[list], base: str,
               filter_cols: list[int], placeholder: str) -> str:
    """A list page's table: the rows travel as one compact JSON array and the script renders them
    (a `link` column takes two values: slug, text). Sortable and filterable like the others."""
    head = "".join(f'<th data-kind="{kind}"{NUM if kind in ("num", "bytes") else ""}>{esc(name)}</th>'
                   for name, kind in columns)
    tools = (f'<div class="tools"><input type="search" id="{esc(table_id)}-filter" placeholder="{esc(placeholder)}" '
             f'data-filter="{esc(table_id)}" data-cols="{",".join(map(str, filter_cols))}" '
             f'data-count="{esc(table_id)}-count" autocomplete="off">'
             f'<span id="{esc(table_id)}-count" class="muted">{len(rows)} of {len(rows)}</span></div>')
    return (tools + json_script(f"{table_id}-rows", rows)
            + f'<table id="{esc(table_id)}" class="data sortable" data-rows="{esc(table_id)}-rows" data-base="{esc(base)}">'
            f"<thead><tr>{head}</tr></thead><tbody></tbody></table>"
            + ('<noscript><p class="muted">This list is drawn by the page\'s script (assets/dashboard.js).</p></noscript>'))


def facts(items: list[tuple[str, str]]) -> str:
    """A definition list; values are HTML (escape them first)."""
    return '<dl class="facts">' + "".join(f"<dt>{esc(k)}</dt><dd>{v}</dd>" for k, v in items) + "</dl>"
