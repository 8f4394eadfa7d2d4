"""Comma- or tab-separated lines with double-quote quoting, as string columns (shared by the
CSV formats), with one row per line and its line number kept.

`split_fields(lines, wanted)` gives the fields at the `wanted` positions of every line (quotes
removed, `""` read as `"`), how many fields each line has, and which lines are broken. It runs
`pyarrow.csv.read_csv` over the joined lines, which needs every row to have the same number
of fields: the lines are read with the commonest field count of the first lines, the
`invalid_row_handler` notes each other line's own count (one Python call per such line), and
those lines are read again per count. So a file whose records differ in length (PAN-OS: one
length per log type and version) costs a few passes, not one Python call per line.

read_csv does not keep to lines by itself, so lines that could break the one-row-per-line
order never reach it:
- a line with an odd number of quote characters is broken (a quoted field cut short or running
  onto the next line: read_csv would swallow the next line into it) and rejected;
- a line with a carriage return inside (read_csv ends a row there), and an empty line (read_csv
  makes it a row of empty fields), are split by Arrow string kernels instead (`_split_kernels`);
- and the row count is checked: if read_csv ever returns other than one row per line (a
  quote opening a field that does not close on the line), the kernels read those lines.

Measured on 16 MB pieces (docs/formats/panos.md): 310-430 MB/s against 55-72 MB/s for the
kernels on the all-quoted Forcepoint layout; about even on unquoted PAN-OS lines; 234-330
against 76-191 MB/s on PAN-OS with quoted THREAT lines mixed in. Quote and CR counts per line
come from numpy over the array's bytes (three times faster than a string kernel).

`DelimitedReader` is the `TextReader` built on it: named columns (given, or from a header line),
lines with another field count than expected rejected with both counts (or, with
`min_fields`, only lines with too few: extra trailing fields are ignored and missing ones are
null), optional comment lines, and an optional `kind_column` telling header and comment rows
apart from data rows, so the source can count them as skipped.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pv

from etl.sources.base import ParsedLines
from etl.sources.framing.lines import is_utf8
from etl.sources.framing.text import TextReader, rejected_lines, with_lines

UTF8_BOM = b"\xef\xbb\xbf"
_PLACEHOLDERS = ("\x1f", "\x1e", "\x1d", "\x1c", "\x00")
_NULL = pa.scalar(None, pa.string())
_SAMPLE = 64  # lines whose field counts choose the first read's width


@dataclass
class Split:
    fields: dict[int, pa.Array]  # field position -> its values, null where a line has fewer fields
    counts: np.ndarray           # number of fields of each line (0 for a broken line)
    broken: np.ndarray           # bool: the line's quotes do not balance (its fields are null)


def _as_array(values) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        return values.combine_chunks() if values.num_chunks else pa.array([], values.type)
    return values


def split_fields(lines, wanted: list[int], delimiter: str = ",", quote: str | None = '"') -> Split:
    """The fields at positions `wanted` (0-based) of every line, as strings."""
    lines = _as_array(lines)
    wanted = sorted(set(wanted))
    n = len(lines)
    broken = np.zeros(n, dtype=bool)
    if n == 0:
        return Split({i: pa.array([], pa.string()) for i in wanted}, np.zeros(0, np.int64), broken)
    offsets, text = _buffers(lines)
    if quote is not None:
        broken = _per_line(offsets, text, quote) % 2 == 1
    has_cr = np.zeros(n, dtype=bool)
    if np.count_nonzero(text == 13):
        has_cr = _per_line(offsets, text, "\r") > 0
    empty = _np_mask(pc.equal(pc.binary_length(lines), 0))  # read_csv makes an empty line a row of empties
    by_kernels = (has_cr | empty) & ~broken
    by_csv = ~(broken | by_kernels)
    parts: list[tuple[np.ndarray, dict[int, pa.Array], np.ndarray]] = []
    if by_csv.all():
        parts.append(_read_csv(lines, np.arange(n), wanted, delimiter, quote))
    elif by_csv.any():
        at = np.flatnonzero(by_csv)
        parts.append(_read_csv(lines.take(pa.array(at)), at, wanted, delimiter, quote))
    if by_kernels.any():
        at = np.flatnonzero(by_kernels)
        parts.append(_split_kernels(lines.take(pa.array(at)), at, wanted, delimiter, quote))
    if broken.any():
        at = np.flatnonzero(broken)
        parts.append((at, {i: pa.nulls(len(at), pa.string()) for i in wanted}, np.zeros(len(at), np.int64)))
    return _assemble(parts, n, wanted, broken)


def _buffers(lines: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """The offsets of a string array's values and the bytes they point into (no copy)."""
    kind = np.int64 if pa.types.is_large_string(lines.type) else np.int32
    offsets = np.frombuffer(lines.buffers()[1], dtype=kind)[lines.offset:lines.offset + len(lines) + 1]
    data = lines.buffers()[2]
    return offsets, (np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, np.uint8))


def _per_line(offsets: np.ndarray, text: np.ndarray, char: str) -> np.ndarray:
    """How many times an ASCII character occurs in each value (numpy: 3x a string kernel)."""
    found = np.flatnonzero(text == ord(char))
    return np.diff(np.searchsorted(found, offsets))


def _assemble(parts, n: int, wanted: list[int], broken: np.ndarray) -> Split:
    """Parts of (line indices, fields, counts) back into line order."""
    parts = [p for p in parts if len(p[0])]
    counts = np.zeros(n, dtype=np.int64)
    if len(parts) == 1 and np.array_equal(parts[0][0], np.arange(n)):
        return Split(parts[0][1], parts[0][2], broken)
    order = np.concatenate([p[0] for p in parts])
    for at, _, c in parts:
        counts[at] = c
    inverse = np.empty(n, dtype=np.int64)
    inverse[order] = np.arange(n)
    inverse = pa.array(inverse)
    fields = {i: pa.concat_arrays([p[1][i] for p in parts]).take(inverse) for i in wanted}
    return Split(fields, counts, broken)


def _read_csv(lines: pa.Array, at: np.ndarray, wanted: list[int], delimiter: str, quote: str | None):
    """read_csv of lines with balanced quotes and no CR: (at, fields, counts), every line once."""
    n = len(lines)
    sample = Counter(field_counts(lines.slice(0, _SAMPLE), delimiter, quote).tolist())
    width = sample.most_common(1)[0][0]
    table, others = _read_width(lines, width, wanted, delimiter, quote)
    if table is None:  # read_csv did not keep to one row per line: the kernels do
        return _split_kernels(lines, at, wanted, delimiter, quote)
    if not others:
        return at, _fields_of(table, width, wanted, n), np.full(n, width, dtype=np.int64)
    numbers = np.array([number for number, _ in others], dtype=np.int64) - 1
    widths = np.array([w for _, w in others], dtype=np.int64)
    main = np.ones(n, dtype=bool)
    main[numbers] = False
    parts = [(np.flatnonzero(main), _fields_of(table, width, wanted, table.num_rows), np.full(table.num_rows, width, np.int64))]
    for w in np.unique(widths):
        index = numbers[widths == w]
        sub = lines.take(pa.array(index))
        group, again = _read_width(sub, int(w), wanted, delimiter, quote)
        if group is None or again:  # cannot happen with a known width; the kernels are exact
            parts.append(_split_kernels(sub, index, wanted, delimiter, quote))
        else:
            parts.append((index, _fields_of(group, int(w), wanted, len(index)), np.full(len(index), w, np.int64)))
    merged = _assemble(parts, n, wanted, np.zeros(n, dtype=bool))
    return at, merged.fields, merged.counts


def _read_width(lines: pa.Array, width: int, wanted: list[int], delimiter: str, quote: str | None):
    """(table of the wanted columns of the lines with `width` fields, [(row number, count)] of the
    others), or (None, None) when read_csv's rows are not the lines."""
    names = [f"f{i}" for i in range(width)]
    include = [names[i] for i in wanted if i < width] or names[:1]
    others: list[tuple[int, int]] = []

    def note(row) -> str:
        others.append((row.number, row.actual_columns))
        return "skip"

    joined = pc.binary_join(pa.ListArray.from_arrays(pa.array([0, len(lines)], pa.int32()), lines), "\n")
    buffer = joined[0].as_buffer()
    table = pv.read_csv(
        pa.BufferReader(buffer),
        read_options=pv.ReadOptions(column_names=names, use_threads=False, block_size=max(1 << 20, buffer.size + 1)),
        parse_options=pv.ParseOptions(delimiter=delimiter, quote_char=quote or False, double_quote=True,
                                      newlines_in_values=False, ignore_empty_lines=False, invalid_row_handler=note),
        convert_options=pv.ConvertOptions(column_types={c: pa.string() for c in include}, include_columns=include,
                                          strings_can_be_null=False, quoted_strings_can_be_null=False,
                                          check_utf8=False))
    if table.num_rows + len(others) != len(lines) or any(number is None for number, _ in others):
        return None, None
    return table, others


def _fields_of(table: pa.Table, width: int, wanted: list[int], n: int) -> dict[int, pa.Array]:
    return {i: (_as_array(table.column(f"f{i}")) if i < width else pa.nulls(n, pa.string())) for i in wanted}


# ---- the string-kernel splitter (lines read_csv cannot take one per row) --------------------

def _split_kernels(lines: pa.Array, at: np.ndarray, wanted: list[int], delimiter: str, quote: str | None):
    """(at, fields, counts) by Arrow string kernels. Lines with quotes are split after the
    delimiters inside quotes have been swapped for a placeholder: split on the quote character,
    a line's quoted text is in its odd-numbered pieces (an escaped `""` gives an empty even
    piece, so the parity holds), so the swap is one replace over those pieces."""
    keep = (wanted[-1] + 1) if wanted else 1
    counts = field_counts(lines, delimiter, quote)
    if quote is None or not pc.any(pc.match_substring(lines, quote)).as_py():
        return at, _columns(pc.split_pattern(lines, delimiter, max_splits=keep), wanted), counts
    by_quote = pc.split_pattern(lines, quote)
    flat = by_quote.flatten()
    offsets = np.asarray(by_quote.offsets)
    offsets = offsets - offsets[0]
    placeholder = next((p for p in _PLACEHOLDERS if not pc.any(pc.match_substring(flat, p)).as_py()), None)
    if placeholder is None:  # every candidate character occurs in the text (never seen in a log)
        return at, _split_python(lines, wanted, delimiter, quote), counts
    position = np.arange(len(flat)) - np.repeat(offsets[:-1], np.diff(offsets))
    inside = pa.array(position % 2 == 1)
    flat = pc.if_else(inside, pc.replace_substring(flat, delimiter, placeholder), flat)
    rebuilt = pc.binary_join(pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), flat), quote)
    fields = _columns(pc.split_pattern(rebuilt, delimiter, max_splits=keep), wanted)
    return at, {i: _unquote(f, quote, placeholder, delimiter) for i, f in fields.items()}, counts


def _columns(parts: pa.ListArray, wanted: list[int]) -> dict[int, pa.Array]:
    """Element i of every list (null where the list is shorter) for each wanted i."""
    offsets = np.asarray(parts.offsets)
    counts = np.diff(offsets)
    starts = offsets[:-1]
    return {i: parts.values.take(pa.array(starts + i, mask=counts <= i)) for i in wanted}


def _unquote(field: pa.Array, quote: str, placeholder: str, delimiter: str) -> pa.Array:
    """Enclosing quotes off, doubled quotes made single, the placeholder back to the delimiter."""
    if not pc.any(pc.match_substring(field, quote)).as_py():
        return pc.replace_substring(field, placeholder, delimiter)
    enclosed = pc.and_(pc.and_(pc.starts_with(field, quote), pc.ends_with(field, quote)),
                       pc.greater_equal(pc.binary_length(field), 2))
    inner = pc.if_else(enclosed, pc.utf8_slice_codeunits(field, 1, -1), field)
    inner = pc.replace_substring(inner, quote + quote, quote)
    return pc.replace_substring(inner, placeholder, delimiter)


def _split_python(lines: pa.Array, wanted: list[int], delimiter: str, quote: str):  # pragma: no cover
    import csv  # safety net only: text holding all five placeholder characters

    rows = [next(csv.reader([line], delimiter=delimiter, quotechar=quote), []) for line in lines.to_pylist()]
    return {i: pa.array([r[i] if i < len(r) else None for r in rows], pa.string()) for i in wanted}


def field_counts(lines, delimiter: str = ",", quote: str | None = '"') -> np.ndarray:
    """Exact number of fields of each line (for messages about a few lines; quotes respected)."""
    lines = _as_array(lines)
    if quote is None:
        return np.asarray(pc.count_substring(lines, delimiter)) + 1
    if len(lines) == 0:
        return np.zeros(0, dtype=np.int64)
    by_quote = pc.split_pattern(lines, quote)
    offsets = np.asarray(by_quote.offsets)
    offsets = offsets - offsets[0]
    flat = by_quote.flatten()
    position = np.arange(len(flat)) - np.repeat(offsets[:-1], np.diff(offsets))
    outside = np.asarray(pc.count_substring(flat, delimiter)) * (position % 2 == 0)
    return np.add.reduceat(outside, offsets[:-1]) + 1


class DelimitedReader(TextReader):
    """Lines of delimited fields -> a table of named string columns plus `input_line`.

    columns      the names of the fields in order; None with `header=True` (the header names them)
                 or when `select` gives positions
    select       the output columns as {name: field name or 0-based position}; default: every column
    header       the first non-comment line of each object names the fields (a row of kind "header")
    min_fields   None: a data line must have exactly as many fields as there are columns; a number:
                 it must have at least that many (extra fields are ignored, missing ones are null)
    comment      lines starting with this text are comment rows (kind "comment"; their fields null)
    kind_column  a column that is null on data rows and says "header" / "comment" on the others
    """

    def __init__(self, columns: list[str] | None = None, *, select: dict | None = None, delimiter: str = ",",
                 quote: str | None = '"', header: bool = False, min_fields: int | None = None,
                 comment: str | None = None, kind_column: str | None = None):
        named = select is not None and all(isinstance(v, int) for v in select.values())
        if columns is None and not header and not named:
            raise ValueError("DelimitedReader needs columns, header=True or select by position")
        if columns is None and not header and min_fields is None:
            raise ValueError("fields selected by position need min_fields")
        for what, char in (("delimiter", delimiter), ("quote", quote)):
            if char is not None and (len(char) != 1 or not char.isascii() or char in "\r\n"):
                raise ValueError(f"{what} must be one ASCII character other than CR/LF, not {char!r}")
        if delimiter == quote:
            raise ValueError("delimiter and quote must differ")
        self.delimiter, self.quote, self.min_fields = delimiter, quote, min_fields
        self.comment, self.kind_column, self.header = comment, kind_column, header
        self.stateless = not header
        self.select = dict(select) if select is not None else None
        self.names = list(self.select) if self.select is not None else list(columns or [])
        self.problem: str | None = None
        self.columns: list[str] | None = None
        self.positions: list[int | None] = []
        if columns is not None:
            self._bind(list(columns))
        elif not header:
            self.positions = list(self.select.values())
            self.width = max(self.positions) + 1

    def _bind(self, columns: list[str]) -> None:
        """The fields' names are known (given, or read from the header): find the output columns."""
        self.columns, self.width = columns, len(columns)
        wanted = self.select if self.select is not None else {c: c for c in columns}
        if not self.names:
            self.names = list(wanted)
        self.positions = []
        for field in wanted.values():
            if isinstance(field, int):
                self.positions.append(field)
            elif field in columns:
                self.positions.append(columns.index(field))
            else:
                self.positions.append(None)
                self.problem = self.problem or f"the header has no column {field!r}"

    def refine(self, rows: pa.Table) -> pa.Table:
        """A format's last touch to the rows, on both paths below (default: none)."""
        return rows

    def parse(self, data, first_line: int = 1, newlines: int | None = None) -> ParsedLines:
        """A piece with none of what needs line-by-line care (quotes, CR, empty lines, BOMs,
        invalid UTF-8) goes to read_csv whole, without being cut into a line array first; any
        other piece, line by line (`parse_lines`)."""
        fast = self._whole_piece(data, first_line, newlines) if self.stateless and self.comment is None else None
        if fast is None:
            return super().parse(data, first_line, newlines)
        return fast

    def parse_lines(self, lines: pa.Array, numbers: np.ndarray):
        rows, rejects = self._parse_lines(lines, numbers)
        return self.refine(rows), rejects

    def _whole_piece(self, data, first_line: int, newlines: int | None = None) -> ParsedLines | None:
        raw = data if isinstance(data, (bytes, bytearray)) else memoryview(data).cast("B")
        if not len(raw):
            return None
        text = bytes(raw) if isinstance(raw, memoryview) else raw
        # one-byte searches only (memchr speed); an empty line is found after read_csv instead
        if any(mark in text for mark in [b"\r", b"\xef"] + ([self.quote.encode()] if self.quote else [])):
            if b"\r" in text or UTF8_BOM in text or (self.quote and self.quote.encode() in text):
                return None
        if not is_utf8(text):
            return None
        wanted = sorted({p for p in self.positions if p is not None})
        width = Counter(line.count(self.delimiter.encode()) + 1
                        for line in text[:1 << 16].split(b"\n")[:_SAMPLE] if line).most_common(1)[0][0]
        if width < 2 or ((width < self.min_fields) if self.min_fields is not None else (width != self.width)):
            return None  # most lines have the wrong field count: the line-by-line path says so per line
        others: list[tuple[int, int, str]] = []

        def note(row) -> str:
            others.append((row.number, row.actual_columns, row.text))
            return "skip"

        names = [f"f{i}" for i in range(width)]
        ends = [names[0], names[-1]]  # empty on an empty line, which read_csv reads as a row of empties
        include = sorted({names[i] for i in wanted if i < width} | set(ends), key=names.index)
        table = pv.read_csv(
            pa.py_buffer(text),
            read_options=pv.ReadOptions(column_names=names, use_threads=False, block_size=len(text) + 1),
            parse_options=pv.ParseOptions(delimiter=self.delimiter, quote_char=False, newlines_in_values=False,
                                          ignore_empty_lines=False, invalid_row_handler=note),
            convert_options=pv.ConvertOptions(column_types={c: pa.string() for c in include}, include_columns=include,
                                              strings_can_be_null=False, check_utf8=False))
        if pc.any(pc.and_(pc.equal(table.column(ends[0]), ""), pc.equal(table.column(ends[1]), ""))).as_py():
            return None  # perhaps an empty line: the line-by-line path drops those
        total = table.num_rows + len(others)
        lines = (text.count(b"\n") if newlines is None else newlines) + (not text.endswith(b"\n"))
        if any(number is None for number, _, _ in others) or total != lines:
            return None
        main = np.ones(total, dtype=bool)
        main[np.array([n for n, _, _ in others], dtype=np.int64) - 1] = False
        numbers = np.arange(first_line, first_line + total)
        fields = _fields_of(table, width, wanted, table.num_rows)
        if others:
            blank = np.array([not t.strip() for _, _, t in others], dtype=bool)  # not lines at all
            line_kept = np.ones(total, dtype=bool)
            line_kept[np.array([n for n, _, _ in others], dtype=np.int64)[blank] - 1] = False
            compact = np.cumsum(line_kept) - 1  # a kept line's index among the kept lines
            kept = [o for o, b in zip(others, blank) if not b]
            at = compact[np.array([n for n, _, _ in kept], dtype=np.int64) - 1]
            rest = split_fields(pa.array([t for _, _, t in kept], pa.string()), wanted, self.delimiter, None)
            n_kept = int(line_kept.sum())
            merged = _assemble([(compact[main], fields, np.full(table.num_rows, width, np.int64)),
                                (at, rest.fields, rest.counts)], n_kept, wanted, np.zeros(n_kept, dtype=bool))
            fields, counts, numbers = merged.fields, merged.counts, numbers[line_kept]
            texts = {first_line + n - 1: t for n, _, t in kept}
        else:
            counts, texts = np.full(total, width, np.int64), {}
        wrong = counts < self.min_fields if self.min_fields is not None else counts != self.width
        expected = f"expected at least {self.min_fields}" if self.min_fields is not None else f"expected {self.width}"
        rejects = [(int(n), f"{int(c)} fields, {expected}", texts[int(n)]) for n, c in zip(numbers[wrong], counts[wrong])]
        if wrong.any():
            good = pa.array(~wrong)
            fields, numbers = {i: f.filter(good) for i, f in fields.items()}, numbers[~wrong]
        n = len(numbers)
        rows = self._table(pa.nulls(n, pa.string()), fields, numbers, n)
        return ParsedLines(self.refine(rows), rejects, n + len(rejects))

    def output_schema(self) -> pa.Schema:
        names = ([self.kind_column] if self.kind_column else []) + self.names
        return pa.schema([(name, pa.string()) for name in names])

    def _parse_lines(self, lines: pa.Array, numbers: np.ndarray):
        lines = _as_array(lines)
        n = len(lines)
        special = np.zeros(n, dtype=bool)   # header and comment lines
        kinds = pa.nulls(n, pa.string())
        if self.comment is not None and n:
            is_comment = pc.starts_with(lines, self.comment)
            if pc.any(is_comment).as_py():
                kinds = pc.if_else(is_comment, "comment", kinds)
                special |= _np_mask(is_comment)
        header_line = None  # the line that is this object's header, when this piece has it
        if self.header and self.columns is None and not special.all():
            first = int(np.flatnonzero(~special)[0])
            line = lines.slice(first, 1)
            width = int(field_counts(line, self.delimiter, self.quote)[0])
            split = split_fields(line, list(range(width)), self.delimiter, self.quote)
            if split.broken[0]:
                self._bind([])
                self.problem = "the header line has unbalanced quotes"
            else:
                self._bind([(split.fields[i][0].as_py() or "").strip() for i in range(width)])
            header_line = np.zeros(n, dtype=bool)
            header_line[first] = True
            kinds = pc.if_else(pa.array(header_line), "header", kinds)
            special |= header_line
        data = ~special
        rejects: list[tuple[int, str, str]] = []
        if not data.any():
            fields = {}
            if header_line is not None and self.problem is None:
                mark = pa.array(header_line)
                fields = {p: pc.if_else(mark, pa.scalar(self.columns[p]), _NULL) for p in self.positions}
            return self._table(kinds, fields, numbers, n), rejects
        if self.header and self.columns is None:  # cannot happen: a data line would have been the header
            raise AssertionError("data line before the header")
        if self.problem is not None:
            rejects += rejected_lines(lines, numbers, pa.array(data), f"no usable header: {self.problem}")
            keep = pa.array(special)
            return self._table(kinds.filter(keep), {}, numbers[special], int(special.sum())), rejects

        wanted = [p for p in self.positions if p is not None]
        data_lines = lines if not special.any() else lines.filter(pa.array(data))
        split = split_fields(data_lines, wanted, self.delimiter, self.quote)
        bad = split.broken.copy()
        if self.min_fields is None:
            wrong = ~bad & (split.counts != self.width)
            expected = f"expected {self.width}"
        else:
            wrong = ~bad & (split.counts < self.min_fields)
            expected = f"expected at least {self.min_fields}"
        data_numbers = numbers[data]
        if bad.any():
            rejects += rejected_lines(data_lines, data_numbers, pa.array(bad), "unbalanced quotes")
        if wrong.any():
            texts = data_lines.filter(pa.array(wrong)).to_pylist()
            rejects += [(int(number), f"{int(count)} fields, {expected}", text) for number, count, text
                        in zip(data_numbers[wrong], split.counts[wrong], texts)]
            bad |= wrong
        fields = split.fields
        if special.any():  # header and comment rows carry no fields: null, in line order
            index = np.cumsum(data) - 1
            index = pa.array(index, mask=special)
            fields = {i: f.take(index) for i, f in fields.items()}
            if header_line is not None:  # the header row holds the names it gives, not nulls
                mark = pa.array(header_line)
                fields = {i: pc.if_else(mark, pa.scalar(self.columns[i]), f) for i, f in fields.items()}
            line_bad = np.zeros(n, dtype=bool)
            line_bad[data] = bad
            bad = line_bad
        if bad.any():
            good = pa.array(~bad)
            kinds, numbers = kinds.filter(good), numbers[~bad]
            fields = {i: f.filter(good) for i, f in fields.items()}
        return self._table(kinds, fields, numbers, len(numbers)), rejects

    def _table(self, kinds, fields: dict, numbers, n: int) -> pa.Table:
        arrays = [kinds] if self.kind_column else []
        arrays += [fields[p] if p in fields else pa.nulls(n, pa.string()) for p in self.positions]
        return with_lines(pa.Table.from_arrays(arrays, schema=self.output_schema()), numbers)


def _np_mask(mask) -> np.ndarray:
    return np.asarray(pc.fill_null(mask, False).to_numpy(zero_copy_only=False), dtype=bool)
