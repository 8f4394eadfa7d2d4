"""Tables on a terminal, as CSV or as JSON (what `report` and the demo print)."""
from __future__ import annotations

import json
import sys


def print_table(table, fmt: str, title: str | None = None, limit: int | None = None) -> None:
    import pyarrow.csv as pcsv

    if limit is not None:
        table = table.slice(0, limit)
    if fmt == "csv":
        import io
        sink = io.BytesIO()
        pcsv.write_csv(table, sink)
        sys.stdout.write(sink.getvalue().decode())
        return
    if fmt == "json":
        for row in table.to_pylist():
            print(json.dumps(row, default=str))
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
