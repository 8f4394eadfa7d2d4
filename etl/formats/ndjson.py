"""Newline-delimited JSON against a declared schema, fast and lossless.

Fast path: pyarrow's multithreaded JSON reader with the explicit schema from `schemas/`.
If the file holds anything that reader refuses (a broken line, an object where text was
declared, a wrong type), the file is parsed again line by line: good lines are kept, each
bad line is returned with its reason, so nothing is lost and nothing stops the rest.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from etl import schema

LINE_COLUMN = "input_line"


@dataclass
class ParsedLines:
    rows: pa.Table          # flat, declared columns + input_line (1-based line number)
    rejects: list[tuple[int, str, str]]  # (line number, reason, raw line)
    lines: int              # non-blank lines seen

    @property
    def read(self) -> int:
        return self.lines


def line_spans(data: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(start, end, line number) of every non-blank line, vectorised."""
    buf = np.frombuffer(data, dtype=np.uint8)
    if len(buf) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    newlines = np.flatnonzero(buf == 10)
    starts = np.concatenate(([0], newlines + 1))
    ends = np.concatenate((newlines, [len(buf)]))
    numbers = np.arange(1, len(starts) + 1)
    # strip a trailing \r, then drop empty lines
    has_cr = (ends > starts) & (buf[np.maximum(ends - 1, 0)] == 13)
    ends = ends - has_cr
    keep = ends > starts
    return starts[keep], ends[keep], numbers[keep]


class PieceCutter:
    """Cuts a stream of text blocks into pieces of whole lines of about `chunk_bytes`, so a large
    object is parsed a bounded piece at a time.

    A piece is a memoryview into one buffer reused from piece to piece and object to object,
    valid until the next piece is asked for: fresh multi-megabyte buffers per piece cost more
    in page faults than the parsing saves. One cutter serves one stream at a time."""

    def __init__(self, chunk_bytes: int):
        self.chunk_bytes = chunk_bytes
        self.buffer = bytearray()

    def pieces(self, blocks):
        """(piece, number of its first line, newlines in it) for each piece, in order."""
        chunk_bytes, buffer = self.chunk_bytes, self.buffer
        filled, first_line = 0, 1
        for block in blocks:
            if filled + len(block) > len(buffer):  # only while it grows to a piece and a block
                buffer.extend(bytes(filled + len(block) - len(buffer)))
            buffer[filled:filled + len(block)] = block
            filled += len(block)
            start = 0
            while filled - start >= chunk_bytes:
                end = buffer.find(b"\n", start + chunk_bytes - 1, filled)
                if end < 0:
                    break  # a line longer than a chunk: wait for its end
                newlines = buffer.count(b"\n", start, end + 1)
                yield from self._lend(buffer, start, end + 1, first_line, newlines)
                buffer = self.buffer
                first_line += newlines
                start = end + 1
            if start:
                with memoryview(buffer) as view:
                    view[:filled - start] = view[start:filled]  # the unfinished rest to the front, in place
                filled -= start
        if filled:
            yield from self._lend(buffer, 0, filled, first_line, buffer.count(b"\n", 0, filled))

    def _lend(self, buffer: bytearray, start: int, end: int, first_line: int, newlines: int):
        whole = memoryview(buffer)
        piece = whole[start:end]
        try:
            yield piece, first_line, newlines
        finally:
            if not _released(piece, whole):
                self.buffer = bytearray(buffer)  # the piece was kept: leave it its own buffer


def _released(*views: memoryview) -> bool:
    try:
        for view in views:
            view.release()
    except BufferError:
        return False
    return True


def is_blank(data) -> bool:
    """Only whitespace (or nothing)? Cheap for the usual case of text starting with `{`."""
    head = bytes(data[:64])
    if head.strip():
        return False
    return not bytes(data).strip()


def parse(data, decl: dict, first_line: int = 1, newlines: int | None = None) -> ParsedLines:
    """Parse NDJSON text (bytes or a memoryview) whose first line has number `first_line` (line
    numbers are 1-based); `newlines`, when the caller already counted them, saves counting again."""
    parsed = _parse(data, decl, newlines)
    if first_line != 1:
        parsed.rows = parsed.rows.set_column(
            parsed.rows.schema.get_field_index(LINE_COLUMN), LINE_COLUMN,
            pc.add(parsed.rows.column(LINE_COLUMN), first_line - 1))
        parsed.rejects = [(n + first_line - 1, reason, raw) for n, reason, raw in parsed.rejects]
    return parsed


def _parse(data, decl: dict, newlines: int | None = None) -> ParsedLines:
    if is_blank(data):
        return ParsedLines(_empty(decl), [], 0)
    try:
        nested = pj.read_json(
            pa.BufferReader(pa.py_buffer(data)),
            read_options=pj.ReadOptions(use_threads=False),  # pieces are already parsed in parallel
            parse_options=pj.ParseOptions(
                explicit_schema=schema.read_schema(decl), unexpected_field_behavior="ignore"
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        nested = None
    if nested is not None and _valid_utf8(nested):
        if newlines is None:
            newlines = int(np.count_nonzero(np.frombuffer(data, dtype=np.uint8) == 10))
        lines = newlines + (data[-1:] != b"\n")
        if nested.num_rows == lines:  # no blank lines: row i is line i + 1
            numbers = np.arange(1, lines + 1, dtype=np.int64)
        else:
            numbers = line_spans(data)[2]
        if nested.num_rows == len(numbers):
            rows = schema.flatten(nested, decl).append_column(LINE_COLUMN, pa.array(numbers))
            return ParsedLines(rows, [], len(numbers))
    starts, ends, numbers = line_spans(data)
    return _parse_line_by_line(data, starts, ends, numbers, decl)


def _valid_utf8(table: pa.Table) -> bool:
    """pyarrow's JSON reader does not check UTF-8; a file with bad bytes goes line by line."""
    try:
        table.validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


def _empty(decl: dict) -> pa.Table:
    return schema.flat_schema(decl).append(pa.field(LINE_COLUMN, pa.int64())).empty_table()


_PY_TYPES = {
    "string": (str,),
    "int64": (int,),
    "float64": (int, float),
    "bool": (bool,),
}


def _extract(record: dict, path: list[str]):
    value = record
    for part in path:
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _convert(value, type_name: str, column: str):
    """Python value -> the declared type, or raise ValueError naming the column."""
    if value is None:
        return None
    if type_name == "json":
        return value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    allowed = _PY_TYPES[type_name]
    if isinstance(value, bool) and type_name != "bool":
        raise ValueError(f"{column}: expected {type_name}, got boolean")
    if not isinstance(value, allowed):
        raise ValueError(f"{column}: expected {type_name}, got {type(value).__name__} {str(value)[:40]!r}")
    if type_name == "int64" and not -(2**63) <= value < 2**63:
        raise ValueError(f"{column}: integer {value} does not fit in 64 bits")
    return value


def _parse_line_by_line(data, starts, ends, numbers, decl) -> ParsedLines:
    cols = schema.columns(decl)
    paths = [c["path"].split(".") for c in cols]
    values: list[list] = [[] for _ in cols]
    kept_lines: list[int] = []
    rejects: list[tuple[int, str, str]] = []
    for start, end, number in zip(starts.tolist(), ends.tolist(), numbers.tolist()):
        raw = bytes(data[start:end])
        text = raw.decode("utf-8", errors="replace")
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            rejects.append((number, f"invalid UTF-8 at byte {exc.start}", text))
            continue
        try:
            record = json.loads(raw)
        except ValueError as exc:
            rejects.append((number, f"invalid JSON: {exc.args[0] if exc.args else exc}", text))
            continue
        if not isinstance(record, dict):
            rejects.append((number, f"not a JSON object: {type(record).__name__}", text))
            continue
        try:
            row = [_convert(_extract(record, p), c["type"], c["name"]) for p, c in zip(paths, cols)]
        except ValueError as exc:
            rejects.append((number, f"wrong type: {exc}", text))
            continue
        for column, value in zip(values, row):
            column.append(value)
        kept_lines.append(number)
    flat = schema.flat_schema(decl)
    arrays = [pa.array(v, type=f.type) for v, f in zip(values, flat)]
    rows = pa.Table.from_arrays(arrays, schema=flat)
    rows = rows.append_column(LINE_COLUMN, pa.array(kept_lines, pa.int64()))
    return ParsedLines(rows, rejects, len(starts))


def raw_lines(data: bytes, wanted: list[int], first_line: int = 1) -> dict[int, str]:
    """Text of the given line numbers (for quarantining rows that failed checks)."""
    if not wanted:
        return {}
    starts, ends, numbers = line_spans(data)
    numbers = numbers + (first_line - 1)
    index = {n: i for i, n in enumerate(numbers.tolist())}
    out = {}
    for number in wanted:
        i = index.get(number)
        if i is not None:
            out[number] = bytes(data[starts[i]:ends[i]]).decode("utf-8", errors="replace")
    return out
