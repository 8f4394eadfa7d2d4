"""Newline-delimited JSON against a declared schema, fast and lossless.

Fast path: pyarrow's multithreaded JSON reader with the explicit schema from `schemas/`.
If the file holds anything that reader refuses (a broken line, an object where text was
declared, a wrong type), the file is parsed again line by line: good lines are kept, each
bad line is returned with its reason, so nothing is lost and nothing stops the rest.
"""
from __future__ import annotations

import json
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from etl import schema
from etl.sources.base import ParsedLines
from etl.sources.framing.lines import is_blank, line_spans

LINE_COLUMN = "input_line"


class NdjsonReader:
    """The LineReader of NDJSON sources: every piece is parsed on its own (no header state)."""

    def __init__(self, decl: dict):
        self.decl = decl

    def parse(self, data, first_line: int = 1, newlines: int | None = None) -> ParsedLines:
        return parse(data, self.decl, first_line, newlines)

    def parse_slowly(self, data) -> ParsedLines:
        """The line-by-line fallback on its own (tests check it agrees with the fast path)."""
        starts, ends, numbers = line_spans(data)
        return _parse_line_by_line(data, starts, ends, numbers, self.decl)


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
