"""Zeek ASCII logs (the default writer's TSV): a block of `#` directives, then one record per line.

    #separator \\x09            the field separator, written as an escape (always first)
    #set_separator  ,          separator inside set/vector values
    #empty_field    (empty)    an empty set / vector
    #unset_field    -          a field without a value
    #path   conn               which log this is (conn, http, ssl, dns, ...)
    #open   2014-04-03-10-08-27
    #fields ts  uid  id.orig_h ...   the column names of the records that follow
    #types  time string addr ...
    ...records...
    #close  2014-04-03-10-08-28

One framing serves one object and keeps the header state across its pieces; a new `#separator`
starts a new header block (concatenated logs), so records are always read with the `#fields`
written above them. Every line comes out once: directive lines as rows whose `directive` column
names the directive (the format's header, counted by the source as skipped), records as rows with
the requested fields (unset and empty values null), and records that cannot be framed (no
`#fields` above them, a field count other than `#fields`) as rejects.

Values are handed on as Zeek wrote them: its `\\xHH` escapes of non-printable bytes are not undone.
"""
from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from etl.normalize import constant

LINE_COLUMN = "input_line"
PATH_COLUMN = "path"
DIRECTIVE_COLUMN = "directive"
_ESCAPE = re.compile(r"\\x([0-9a-fA-F]{2})")


def unescape(text: str) -> str:
    """`\\x09` -> a tab (how `#separator` writes its value)."""
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)


class ZeekTsvFraming:
    """Frames the lines of one Zeek TSV object into rows of `columns`: (output name, Zeek field)."""

    def __init__(self, columns: list[tuple[str, str]]):
        self.columns = columns
        self._reset()

    def _reset(self) -> None:
        self.separator = "\t"
        self.set_separator = ","
        self.empty_field = "(empty)"
        self.unset_field = "-"
        self.path: str | None = None
        self.fields: list[str] | None = None

    def frame(self, lines: pa.Array, numbers: np.ndarray) -> tuple[pa.Table, list[tuple[int, str, str]]]:
        """Rows (path, directive, the columns..., input_line) and rejects of a piece's lines."""
        if isinstance(lines, pa.ChunkedArray):
            lines = lines.combine_chunks()
        is_directive = pc.fill_null(pc.starts_with(lines, "#"), False)
        directive_at = np.flatnonzero(np.asarray(is_directive.to_numpy(zero_copy_only=False), dtype=bool))
        tables, rejects = [], []
        start = 0
        texts = lines.take(pa.array(directive_at, pa.int64())).to_pylist() if len(directive_at) else []
        for position, text in zip(directive_at.tolist(), texts):
            if position > start:
                table, more = self._records(lines.slice(start, position - start), numbers[start:position])
                tables.append(table)
                rejects += more
            name = self._directive(text)
            tables.append(self._directive_row(name, int(numbers[position])))
            start = position + 1
        if start < len(lines):
            table, more = self._records(lines.slice(start), numbers[start:])
            tables.append(table)
            rejects += more
        if not tables:
            return self.empty(), rejects
        return pa.concat_tables(tables), rejects

    def schema(self) -> pa.Schema:
        names = [PATH_COLUMN, DIRECTIVE_COLUMN] + [name for name, _ in self.columns] + [LINE_COLUMN]
        return pa.schema([(n, pa.int64() if n == LINE_COLUMN else pa.string()) for n in names])

    def empty(self) -> pa.Table:
        return self.schema().empty_table()

    # -- directives ---------------------------------------------------------------------------

    def _values(self, text: str) -> tuple[str, list[str]]:
        body = text[1:]
        parts = body.split(self.separator)
        if len(parts) == 1 and any(c.isspace() for c in body):  # a header retyped with spaces
            parts = body.split()
        return parts[0].strip(), parts[1:]

    def _directive(self, text: str) -> str:
        """Apply one directive line to the header state; its name."""
        if text.startswith("#separator"):
            self._reset()  # a new header block: nothing of the previous one applies
            value = text[len("#separator"):].strip()
            self.separator = unescape(value) if value else "\t"
            return "separator"
        name, values = self._values(text)
        value = values[0] if values else ""
        if name == "set_separator":
            self.set_separator = value
        elif name == "empty_field":
            self.empty_field = value
        elif name == "unset_field":
            self.unset_field = value
        elif name == "path":
            self.path = value or None
        elif name == "fields":
            self.fields = [v.strip() for v in values]
        return name or "comment"

    def _directive_row(self, name: str, number: int) -> pa.Table:
        row = {PATH_COLUMN: [self.path], DIRECTIVE_COLUMN: [name]}
        row.update({column: [None] for column, _ in self.columns})
        row[LINE_COLUMN] = [number]
        return pa.table(row, schema=self.schema())

    # -- records ------------------------------------------------------------------------------

    def _records(self, lines: pa.Array, numbers: np.ndarray) -> tuple[pa.Table, list[tuple[int, str, str]]]:
        if self.fields is None:
            reason = "zeek: record before any #fields header"
            return self.empty(), [(int(n), reason, t) for n, t in zip(numbers, lines.to_pylist())]
        parts = pc.split_pattern(lines, self.separator)
        counts = pc.list_value_length(parts)
        expected = len(self.fields)
        ok = pc.equal(counts, expected)
        rejects = []
        if not pc.all(ok).as_py():
            bad = np.asarray(pc.invert(ok).to_numpy(zero_copy_only=False), dtype=bool)
            for n, count, text in zip(numbers[bad], counts.filter(pc.invert(ok)).to_pylist(),
                                      lines.filter(pc.invert(ok)).to_pylist()):
                rejects.append((int(n), f"zeek: {count} fields where #fields names {expected}", text))
            parts, numbers = parts.filter(ok), numbers[~bad]
        n = len(parts)
        index = {field: i for i, field in enumerate(self.fields)}
        missing = {self.unset_field, self.empty_field}
        out = {PATH_COLUMN: pa.nulls(n, pa.string()) if self.path is None else constant(self.path, n),
               DIRECTIVE_COLUMN: pa.nulls(n, pa.string())}
        for column, field in self.columns:
            if field not in index or n == 0:
                out[column] = pa.nulls(n, pa.string())
                continue
            values = pc.list_element(parts, index[field])
            unset = pc.is_in(values, value_set=pa.array(sorted(missing), pa.string()))
            out[column] = pc.if_else(unset, pa.scalar(None, pa.string()), values)
        out[LINE_COLUMN] = pa.array(numbers, pa.int64())
        return pa.table(out, schema=self.schema()), rejects
