"""JSON objects, one per line, read by key paths whose keys may themselves contain dots (Zeek's
`id.orig_h`), every wanted value handed on as text.

`framing/ndjson.py` splits declared paths on dots and keeps JSON types; Zeek keys contain dots,
and the Zscaler feed writes numbers as strings in one template and as numbers in another, so
the sources that need that read through here instead:

- fast path: pyarrow's JSON reader over the lines (joined into one buffer), with an explicit
  schema per attempt (the caller lists the types to try, e.g. `ts` as a number, then as text);
  the values are then cast to text (`600`, `1575413096.052279`, `true`);
- fallback: when no attempt reads the whole piece, line by line with `json.loads`, so a broken
  line is one reject and its neighbours are kept; values are written as text the same way.
"""
from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

LINE_COLUMN = "input_line"
INFER = None  # an attempt that lets pyarrow infer every type


class Field:
    """One wanted value: output column `name`, found at `keys` (top-level key first), read as `type`."""

    def __init__(self, name: str, keys: tuple[str, ...], type: pa.DataType = pa.string()):
        self.name, self.keys, self.type = name, tuple(keys), type


def joined(lines: pa.Array) -> pa.Buffer:
    """The lines as one newline-separated buffer (no per-line Python)."""
    with_newline = pc.binary_join_element_wise(lines, "", "\n")
    if isinstance(with_newline, pa.ChunkedArray):
        with_newline = with_newline.combine_chunks()
    offsets = np.frombuffer(with_newline.buffers()[1], dtype=np.int32)[with_newline.offset:
                                                                        with_newline.offset + len(with_newline) + 1]
    return with_newline.buffers()[2][int(offsets[0]):int(offsets[-1])]


def _schema(fields: list[Field], types: dict[str, pa.DataType]) -> pa.Schema:
    tree: dict = {}
    for f in fields:
        node = tree
        *parents, leaf = f.keys
        for key in parents:
            node = node.setdefault(key, {})
        node.setdefault(leaf, types.get(f.name, f.type))

    def build(node: dict) -> list[tuple[str, pa.DataType]]:
        return [(k, pa.struct(build(v)) if isinstance(v, dict) else v) for k, v in node.items()]

    return pa.schema(build(tree))


def _pick(table: pa.Table, keys: tuple[str, ...], n: int) -> pa.Array:
    first, *rest = keys
    if first not in table.column_names:
        return pa.nulls(n, pa.string())
    array = table.column(first).combine_chunks()
    for key in rest:
        if not pa.types.is_struct(array.type) or array.type.get_field_index(key) < 0:
            return pa.nulls(n, pa.string())
        array = pc.struct_field(array, key)
    return _as_text(array)


def _as_text(array: pa.Array) -> pa.Array:
    if pa.types.is_string(array.type):
        return array
    if pa.types.is_null(array.type):
        return pa.nulls(len(array), pa.string())
    if pa.types.is_struct(array.type) or pa.types.is_list(array.type):
        raise TypeError(f"{array.type} where a value was wanted")
    return pc.cast(array, pa.string())


def read_json_lines(lines: pa.Array, numbers: np.ndarray, fields: list[Field],
                    attempts: list[dict[str, pa.DataType] | None]) -> tuple[pa.Table, list[tuple[int, str, str]]]:
    """Rows (one text column per field, then input_line) and rejects of JSON lines."""
    if isinstance(lines, pa.ChunkedArray):
        lines = lines.combine_chunks()
    n = len(lines)
    if n == 0:
        return empty(fields), []
    data = joined(lines)
    for types in attempts:
        options = pj.ParseOptions(unexpected_field_behavior="infer") if types is None else pj.ParseOptions(
            explicit_schema=_schema(fields, types), unexpected_field_behavior="ignore")
        try:
            nested = pj.read_json(pa.BufferReader(data), read_options=pj.ReadOptions(use_threads=False),
                                  parse_options=options)
            if nested.num_rows != n:
                continue
            columns = {f.name: _pick(nested, f.keys, n) for f in fields}
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, TypeError):
            continue
        columns[LINE_COLUMN] = pa.array(numbers, pa.int64())
        return pa.table(columns, schema=schema(fields)), []
    return read_slowly(lines, numbers, fields)


def schema(fields: list[Field]) -> pa.Schema:
    return pa.schema([(f.name, pa.string()) for f in fields] + [(LINE_COLUMN, pa.int64())])


def empty(fields: list[Field]) -> pa.Table:
    return schema(fields).empty_table()


def text(value) -> str | None:
    """A JSON value as text: `true`, `600`; floats as Arrow writes them (`read_slowly` batches those)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return pc.cast(pa.array([value], pa.float64()), pa.string())[0].as_py()
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _texts(values: list, type: pa.DataType) -> pa.Array:
    """A column of raw JSON values as the fast path writes them for a field read as `type`."""
    as_float = pa.types.is_floating(type)
    floats = [i for i, v in enumerate(values)
              if isinstance(v, float) or (as_float and isinstance(v, int) and not isinstance(v, bool))]
    at = set(floats)
    out = [None if i in at else text(v) for i, v in enumerate(values)]
    if floats:
        written = pc.cast(pa.array([float(values[i]) for i in floats], pa.float64()), pa.string()).to_pylist()
        for i, t in zip(floats, written):
            out[i] = t
    return pa.array(out, pa.string())


def _extract(record: dict, keys: tuple[str, ...]):
    value = record
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def read_slowly(lines: pa.Array, numbers: np.ndarray, fields: list[Field]) -> tuple[pa.Table, list[tuple[int, str, str]]]:
    """The line-by-line fallback (tests check it agrees with the fast path on good lines)."""
    values: list[list] = [[] for _ in fields]
    kept, rejects = [], []
    for number, raw in zip(numbers.tolist(), lines.to_pylist()):
        try:
            record = json.loads(raw)
        except ValueError as exc:
            rejects.append((int(number), f"invalid JSON: {exc.args[0] if exc.args else exc}", raw))
            continue
        if not isinstance(record, dict):
            rejects.append((int(number), f"not a JSON object: {type(record).__name__}", raw))
            continue
        for column, f in zip(values, fields):
            column.append(_extract(record, f.keys))
        kept.append(number)
    columns = {f.name: _texts(v, f.type) for f, v in zip(fields, values)}
    columns[LINE_COLUMN] = pa.array(kept, pa.int64())
    return pa.table(columns, schema=schema(fields)), rejects
