"""W3C Extended Log File Format (ELFF) framing, shared by the formats that write it (IIS, Blue Coat
ProxySG, other proxies and web servers), vectorised.

    #Software: SGOS 6.7.5.14
    #Version: 1.0
    #Date: 2024-03-22 16:24:15
    #Fields: date time c-ip cs-username cs-host sc-status sc-bytes cs-bytes ...
    2024-03-22 16:16:01 10.1.2.3 alice example.com 200 1242 969 ...

* Directive lines (`#Name: value`, or any line starting with `#`) come out as rows with only the
  `directive` column set (`Fields`, `Software`, `Date`, `Remark`, `Start-Date`, ..., `comment` for
  a `#` line that is not a directive), so the source can count them (skipped, reason "header").
* `#Fields:` is read per object (one reader per object) and may change mid-file: each data line is
  read with the latest `#Fields` before it, also across the pieces of one object.
* Values are separated by runs of spaces or tabs. A double-quoted value may contain spaces (`""`
  inside it is one `"`). `-` (or an empty quoted value) is null.
* A data line with MORE values than `#Fields` names keeps the declared ones (Blue Coat appends
  columns); one with FEWER is a reader reject; data before any `#Fields` is a reader reject
  "no #Fields header" (unless the source gives a default layout for headerless lines).

The source's declaration says which W3C field feeds which of its columns: each column lists its
W3C names under `w3c:` (case-insensitive, the first one present in `#Fields` wins); the column
named `directive` gets the directive name. A column with `directive_fallback: Date` takes the
date part of the latest `#Date:` directive when `#Fields` has none of its names (the W3C spec
allows `time` alone, the date being the `#Date` one).
"""
from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from etl import schema
from etl.normalize import parse_time
from etl.sources.framing.text import LINE_COLUMN, TextReader, rejected_lines

DIRECTIVE_COLUMN = "directive"
NO_FIELDS = "no #Fields header"
_DIRECTIVE = re.compile(r"^#\s*([A-Za-z][A-Za-z0-9_-]*)\s*:\s*(.*)$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_SPACE_MARK, _TAB_MARK = "\x1f", "\x1e"  # stand for blanks inside quotes while splitting
_NULL = pa.scalar(None, pa.string())


def directive_lines(head_lines: list[bytes]) -> dict[str, list[str]]:
    """{directive name (lower case): [values]} of the directive lines among a head's lines."""
    found: dict[str, list[str]] = {}
    for raw in head_lines:
        text = raw.decode("utf-8", "replace").lstrip("\ufeff").strip()
        match = _DIRECTIVE.match(text)
        if match:
            found.setdefault(match.group(1).lower(), []).append(match.group(2).strip())
    return found


def field_names(head_lines: list[bytes]) -> list[str]:
    """Every field name the head's `#Fields:` lines declare (lower case)."""
    return [name.lower() for value in directive_lines(head_lines).get("fields", []) for name in value.split()]


def split_fields(lines: pa.Array) -> pa.ListArray:
    """Each line's values: split at runs of blanks, double-quoted values kept whole (quotes on)."""
    return pc.ascii_split_whitespace(_mask_quoted_blanks(pc.ascii_trim_whitespace(pc.fill_null(lines, ""))))


def _mask_quoted_blanks(lines: pa.StringArray) -> pa.StringArray:
    """The blanks between double quotes replaced by marks (numpy over the lines' bytes: the quote
    parity is a running count of quotes, restarted at each line that follows an odd one)."""
    if isinstance(lines, pa.ChunkedArray):
        lines = lines.combine_chunks()
    if not len(lines) or lines.buffers()[2] is None:
        return lines
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)[lines.offset:lines.offset + len(lines) + 1]
    low = int(offsets[0])
    raw = np.frombuffer(lines.buffers()[2], dtype=np.uint8)[low:int(offsets[-1])]
    quote = raw == 34
    if not quote.any():
        return lines
    parity = np.cumsum(quote, dtype=np.uint8) & 1  # wraps at 256: the parity survives
    bounds = offsets - low
    before = np.zeros(len(lines), dtype=np.uint8)
    before[1:] = parity[bounds[1:-1] - 1] if len(lines) > 1 else before[1:]
    before[bounds[:-1] == 0] = 0
    if before.any():  # some line has an odd number of quotes: its parity must not leak on
        parity ^= np.repeat(before, np.diff(bounds))
    inside = parity.astype(bool)
    masked = raw.copy()
    masked[inside & (raw == 32)] = ord(_SPACE_MARK)
    masked[inside & (raw == 9)] = ord(_TAB_MARK)
    return pa.StringArray.from_buffers(len(lines), pa.py_buffer(bounds.astype(np.int32)), pa.py_buffer(masked))


def _take_field(tokens: pa.ListArray, index: int) -> pa.Array:
    """The `index`-th value of every list (each has more than `index` values)."""
    starts = tokens.offsets.to_numpy()[:-1]
    return pc.take(tokens.values, pa.array(starts + index))


def field_values(values: pa.Array) -> pa.Array:
    """Raw values -> text: quotes off (and the blanks masked inside them back), `-` and empty -> null."""
    opens = pc.starts_with(values, '"')
    if pc.any(opens).as_py():
        quoted = pc.and_(opens, pc.and_(pc.ends_with(values, '"'), pc.greater_equal(pc.binary_length(values), 2)))
        inner = pc.replace_substring(pc.utf8_slice_codeunits(values, 1, -1), '""', '"')
        inner = pc.replace_substring(pc.replace_substring(inner, _SPACE_MARK, " "), _TAB_MARK, "\t")
        values = pc.if_else(quoted, inner, values)
    empty = pc.less_equal(pc.binary_length(values), 1)  # only then can it be "-" or ""
    if pc.any(empty).as_py():
        values = pc.if_else(pc.and_(empty, pc.or_(pc.equal(values, "-"), pc.equal(values, ""))), _NULL, values)
    return values


class W3cReader(TextReader):
    """Reader of one W3C extended log object into the columns of `decl`.

    `default_fields`: the layout of data lines before any `#Fields` (a headerless vendor format),
    used for the lines matching `default_shape` (a regex); `default_name` names it in rejects."""

    def __init__(self, decl: dict, default_fields: list[str] | None = None, default_shape: str | None = None,
                 default_name: str = "the default layout"):
        self.decl = decl
        self.schema = schema.flat_schema(decl)
        self.aliases = {c["name"]: [n.lower() for n in c.get("w3c", [])] for c in schema.columns(decl)}
        self.fallbacks = {c["name"]: c["directive_fallback"].lower() for c in schema.columns(decl)
                          if c.get("directive_fallback")}
        if DIRECTIVE_COLUMN not in self.aliases:
            raise ValueError(f"{decl.get('name')}: a W3C declaration needs a {DIRECTIVE_COLUMN!r} column")
        self.default_fields = [n.lower() for n in default_fields] if default_fields else None
        self.default_shape = default_shape
        self.default_name = default_name
        self.fields: list[str] | None = None  # the latest #Fields of this object
        self.directives: dict[str, str] = {}  # latest value of each directive (lower-case name)

    def parse_lines(self, lines: pa.StringArray, numbers: np.ndarray):
        is_directive = pc.fill_null(pc.starts_with(lines, "#"), False)
        marks = np.flatnonzero(np.asarray(is_directive.to_numpy(zero_copy_only=False), dtype=bool))
        tables, rejects, start = [], [], 0
        for at in [*marks.tolist(), len(lines)]:
            if at > start:
                table, more = self._data(lines.slice(start, at - start), numbers[start:at])
                tables.append(table)
                rejects += more
            if at < len(lines):
                tables.append(self._directive(lines[at].as_py(), numbers[at]))
            start = at + 1
        if not tables:
            return self.schema.empty_table().append_column(LINE_COLUMN, pa.array([], pa.int64())), rejects
        return pa.concat_tables(tables), rejects

    def _directive(self, text: str, number: int) -> pa.Table:
        match = _DIRECTIVE.match(text.strip())
        name = match.group(1) if match else "comment"
        if match:
            value = match.group(2).strip()
            self.directives[name.lower()] = value
            if name.lower() == "fields":
                self.fields = [n.lower() for n in value.split()] or None
        columns = {f.name: pa.nulls(1, f.type) for f in self.schema}
        columns[DIRECTIVE_COLUMN] = pa.array([name], pa.string())
        columns[LINE_COLUMN] = pa.array([number], pa.int64())
        return pa.table(columns)

    def _data(self, lines: pa.StringArray, numbers: np.ndarray):
        if self.fields is not None:
            return self._frame(lines, numbers, self.fields, "#Fields")
        if self.default_fields is None:
            shaped = pa.array(np.zeros(len(lines), bool))
        elif self.default_shape:
            shaped = pc.fill_null(pc.match_substring_regex(lines, self.default_shape), False)
        else:
            shaped = pa.array(np.ones(len(lines), bool))
        rejects = rejected_lines(lines, numbers, pc.invert(shaped), NO_FIELDS)
        keep = np.asarray(shaped.to_numpy(zero_copy_only=False), dtype=bool)
        table, more = self._frame(lines.filter(shaped), numbers[keep], self.default_fields or [], self.default_name)
        return table, rejects + more

    def _frame(self, lines: pa.StringArray, numbers: np.ndarray, fields: list[str], layout: str):
        tokens = split_fields(lines)
        short = pc.less(pc.list_value_length(tokens), len(fields))
        rejects = rejected_lines(lines, numbers, short, f"fewer fields than {layout} declares ({len(fields)})")
        if rejects:
            keep = pc.invert(short)
            tokens, numbers = tokens.filter(keep), numbers[np.asarray(keep.to_numpy(zero_copy_only=False), dtype=bool)]
        n = len(tokens)
        position = {name: i for i, name in reversed(list(enumerate(fields)))}  # first occurrence wins
        columns = {}
        for f in self.schema:
            index = next((position[a] for a in self.aliases[f.name] if a in position), None)
            if index is not None and n:
                columns[f.name] = field_values(_take_field(tokens, index)).cast(f.type)
            elif f.name in self.fallbacks and self.directives.get(self.fallbacks[f.name]):
                day = self.directives[self.fallbacks[f.name]].split()[0]
                columns[f.name] = pa.array([day if _DATE.match(day) else None] * n, f.type)
            else:
                columns[f.name] = pa.nulls(n, f.type)
        columns[LINE_COLUMN] = pa.array(numbers, pa.int64())
        return pa.table(columns), rejects


def timestamps(date, time) -> pa.ChunkedArray:
    """W3C `date` + `time` (YYYY-MM-DD, HH:MM:SS[.fff]) -> timestamp[us, UTC]; the spec says UTC."""
    joined = pc.binary_join_element_wise(date, time, " ")
    return parse_time(joined, "iso8601")


def data_rows(rows: pa.Table) -> tuple[pa.Table, pa.Table]:
    """(data rows, directive rows) of a W3C reader's rows."""
    is_directive = pc.is_valid(rows.column(DIRECTIVE_COLUMN))
    return rows.filter(pc.invert(is_directive)), rows.filter(is_directive)


def header_skips(directives: pa.Table) -> pa.Table:
    """Directive rows as skipped rows (reason "header")."""
    n = directives.num_rows
    return pa.table({"ts": pa.nulls(n, pa.timestamp("us", tz="UTC")),
                     "reason": pc.fill_null(pa.nulls(n, pa.string()), "header"),
                     "input_line": directives.column(LINE_COLUMN)})


# ---------------------------------------------------------------------------
# Helpers for the sources' classify(): URLs, ports, counts
# ---------------------------------------------------------------------------

DEFAULT_PORTS = {"http": 80, "https": 443, "ftp": 21, "ws": 80, "wss": 443}
_AUTHORITY = r"^(?:(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://)?(?P<authority>[^/?#\s]*)"
_PORT = r"^(?:[^@]*@)?(?:\[[^\]]*\]|[^:\[\]]*):(?P<port>\d{1,5})$"
_IP = r"^(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9A-Fa-f:]*:[0-9A-Fa-f:.]+)$"


def url_authority(urls) -> tuple[pa.Array, pa.Array]:
    """(scheme lower-cased or null, authority `[user@]host[:port]` or null) of URLs, `host:port`
    (CONNECT targets) and paths (null authority)."""
    urls = _array(urls)
    found = pc.extract_regex(pc.fill_null(urls, ""), _AUTHORITY)
    scheme = pc.utf8_lower(pc.struct_field(found, "scheme"))
    authority = pc.struct_field(found, "authority")
    scheme = pc.if_else(pc.equal(scheme, ""), _NULL, scheme)
    authority = pc.if_else(pc.or_(pc.equal(authority, ""), pc.is_null(urls)), _NULL, authority)
    return scheme, authority


def _array(values) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        return values.combine_chunks() if values.num_chunks else pa.array([], values.type)
    return values


def authority_port(authority) -> pa.Array:
    """The explicit :port of an authority (int32), null where none."""
    found = pc.extract_regex(pc.fill_null(_array(authority), ""), _PORT)
    return port_numbers(pc.if_else(pc.is_valid(found), pc.struct_field(found, "port"), _NULL))


def port_numbers(values) -> pa.Array:
    """Port text -> int32, null where not a number in 0..65535."""
    values = _array(values)
    whole = pc.fill_null(pc.match_substring_regex(values, r"^\d{1,5}$"), False)
    numbers = pc.cast(pc.if_else(whole, values, _NULL), pa.int64())
    ok = pc.fill_null(pc.less_equal(numbers, 65535), False)
    return pc.cast(pc.if_else(ok, numbers, pa.scalar(None, pa.int64())), pa.int32())


def default_port(scheme) -> pa.Array:
    """Port a URL scheme implies (http 80, https 443, ftp 21), null for others."""
    scheme = pc.utf8_lower(_array(scheme))
    keys = pa.array(list(DEFAULT_PORTS))
    index = pc.index_in(scheme, value_set=keys)
    return pc.take(pa.array(list(DEFAULT_PORTS.values()), pa.int32()), index)


def ip_addresses(values) -> pa.Array:
    """Values that are IPv4/IPv6 literals, null for the rest (names, '-')."""
    values = _array(values)
    ok = pc.fill_null(pc.match_substring_regex(values, _IP), False)
    return pc.if_else(ok, values, _NULL)


def contains_any(values, words: list[str]) -> pa.Array:
    """True where the value contains one of `words` (case-insensitive); false for null."""
    pattern = "|".join(re.escape(w) for w in words)
    return pc.fill_null(pc.match_substring_regex(_array(values), pattern, ignore_case=True), False)
