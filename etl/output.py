"""Tables on a terminal, as CSV or as JSON (what `report` and the demo print).

JSON output is always one document; CSV cells that a spreadsheet would run as a formula (text
starting with =, +, -, @, tab or carriage return) are prefixed with a single quote, as OWASP's
CSV-injection advice says; numbers stay numbers.
"""
from __future__ import annotations

import io
import json
import sys

import pyarrow as pa
import pyarrow.compute as pc

FORMULA_START = r"^[=+\-@\t\r]"


def spreadsheet_safe(table: pa.Table) -> pa.Table:
    """Text cells neutralised for spreadsheets; list cells joined with commas first."""
    columns = []
    for col in table.columns:
        if pa.types.is_dictionary(col.type):
            col = pc.cast(col, col.type.value_type)
        if pa.types.is_list(col.type) or pa.types.is_large_list(col.type):
            col = pa.chunked_array([pa.array([None if v is None else ",".join(map(str, v)) for v in col.to_pylist()],
                                             pa.string())])
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            risky = pc.fill_null(pc.match_substring_regex(col, FORMULA_START), False)
            col = pc.if_else(risky, pc.binary_join_element_wise(pa.scalar("'"), col, ""), col)
        columns.append(col)
    return pa.Table.from_arrays(columns, names=table.column_names)


def table_csv(table: pa.Table) -> str:
    import pyarrow.csv as pcsv

    sink = io.BytesIO()
    pcsv.write_csv(spreadsheet_safe(table), sink)
    return sink.getvalue().decode()


def _plain(value):
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def rows_json(table: pa.Table) -> list[dict]:
    return json.loads(json.dumps(table.to_pylist(), default=_plain))


def print_table(table, fmt: str, title: str | None = None, limit: int | None = None) -> None:
    if limit is not None:
        table = table.slice(0, limit)
    if fmt == "csv":
        sys.stdout.write(table_csv(table))
        return
    if fmt == "json":
        print(json.dumps(table.to_pylist(), default=_plain))
        return
    if title:
        print(f"\n{title}")
    rows = [[_cell(v) for v in row.values()] for row in table.to_pylist()]
    headers = table.column_names
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)))
    if not rows:
        print("(no rows)")


def print_views(views: dict, fmt: str, header: dict | None = None, limit: int | None = None) -> None:
    """Several named tables: one JSON document {..header, "views": {name: rows}}, CSV sections
    (a `# name` line before each), or titled terminal tables."""
    if fmt == "json":
        body = {**(header or {}), "views": {name: rows_json(t.slice(0, limit) if limit else t) for name, t in views.items()}}
        print(json.dumps(body, default=_plain))
        return
    for i, (name, table) in enumerate(views.items()):
        if fmt == "csv":
            sys.stdout.write(("\n" if i else "") + f"# {name}\n")
            print_table(table, "csv", limit=limit)
        else:
            print_table(table, "table", title=name, limit=limit)


def _cell(value) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if value is None:
        return "-"
    if hasattr(value, "hour"):
        return value.strftime("%Y-%m-%d %H:%M")
    if hasattr(value, "strftime"):  # a date
        return value.isoformat()
    if isinstance(value, float):
        return f"{value:.2f}".rstrip("0").rstrip(".")
    if isinstance(value, int) and abs(value) >= 10_000:
        return f"{value:,}"
    if isinstance(value, list):
        return ",".join(map(str, value))
    return str(value)
