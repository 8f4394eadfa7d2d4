"""`cloud-discovery export`: a report table of a period (or snapshot) to CSV, XLSX or Parquet, or
the discovered-app traffic shaped like Microsoft Sentinel's McasShadowItReporting table.

CSV and XLSX cells that a spreadsheet would run as a formula are neutralised (etl.output);
Parquet keeps the data as it is. docs/export.md documents the Sentinel columns one by one.
"""
from __future__ import annotations

import json
from datetime import datetime, time, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from etl import query, reports, schema
from etl.errors import UserError
from etl.output import spreadsheet_safe, table_csv

FORMATS = ("csv", "xlsx", "parquet", "sentinel")
XLSX_MAX_ROWS = 1_048_575  # a worksheet's rows, less the header
SENTINEL_COLUMNS = ["TenantId", "TimeGenerated", "StreamName", "TotalEvents", "BlockedEvents", "UploadedBytes",
                    "TotalBytes", "DownloadedBytes", "IpAddress", "UserName", "EnrichedUserName", "MachineName",
                    "MachineId", "AppId", "AppName", "AppTags", "AppScore", "AppCategory", "AppInstance",
                    "SourceSystem", "Type"]


def exportable() -> list[str]:
    return schema.report_tables()


def write_csv(table: pa.Table, out: Path) -> None:
    out.write_text(table_csv(table), encoding="utf-8")


def write_xlsx(table: pa.Table, out: Path, sheet: str) -> None:
    import xlsxwriter

    if table.num_rows > XLSX_MAX_ROWS:
        raise UserError(f"{table.num_rows:,} rows do not fit in one worksheet ({XLSX_MAX_ROWS:,}); "
                        f"export as csv or parquet, or a shorter period")
    safe = spreadsheet_safe(table)
    book = xlsxwriter.Workbook(str(out), {"strings_to_formulas": False, "strings_to_urls": False,
                                          "strings_to_numbers": False})
    try:
        ws = book.add_worksheet(sheet[:31])
        bold = book.add_format({"bold": True})
        stamp = book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
        day = book.add_format({"num_format": "yyyy-mm-dd"})
        for c, name in enumerate(safe.column_names):
            ws.write_string(0, c, name, bold)
        for c, column in enumerate(safe.columns):
            for r, value in enumerate(column.to_pylist(), start=1):
                if value is None:
                    continue
                if isinstance(value, bool):
                    ws.write_boolean(r, c, value)
                elif isinstance(value, (int, float)):
                    ws.write_number(r, c, value)
                elif isinstance(value, datetime):  # Excel has no time zones: UTC, as every report
                    ws.write_datetime(r, c, value.astimezone(timezone.utc).replace(tzinfo=None), stamp)
                elif hasattr(value, "isoformat"):
                    ws.write_datetime(r, c, datetime.combine(value, time()), day)
                else:
                    ws.write_string(r, c, str(value))
        ws.freeze_panes(1, 0)
        ws.autofilter(0, 0, max(safe.num_rows, 1), max(safe.num_columns - 1, 0))
    finally:
        book.close()


def sentinel_rows(period, tenant_id: str | None = None) -> pa.Table:
    """One row per (day, source, app, user, source IP, machine) with discovered-app traffic, in
    McasShadowItReporting's column names and types."""
    from etl.catalog.score import app_risk

    risk, _ = app_risk(period.lake)
    if period.snapshot:
        parts = [(None, period.cube())]
    else:
        parts = [(d, query.traffic_cube(period.lake, d, d)) for d in query.committed_days(period.lake, period.first,
                                                                                          period.last)]
    out = []
    for day, cube in parts:
        cube = reports.decoded(cube.filter(pc.is_valid(cube.column("app_id"))))
        if cube.num_rows == 0:
            continue
        keys = ["source", "app_id", "app_name", "category", "user", "src_ip", "device_id", "device_name"]
        grouped = cube.group_by(keys, use_threads=False).aggregate(
            [("n", "sum"), ("blocked", "sum"), ("bytes_up", "sum"), ("bytes_down", "sum"), ("first_seen", "min")])
        grouped = reports.with_risk(grouped, risk)
        if day is not None:
            when = pa.array([datetime.combine(day, time(), timezone.utc)] * grouped.num_rows, pa.timestamp("us", tz="UTC"))
        else:  # a snapshot: the day each combination was first seen
            when = pc.floor_temporal(grouped.column("first_seen_min"), unit="day")
        up, down = grouped.column("bytes_up_sum"), grouped.column("bytes_down_sum")  # null: the source gives none
        tags = [json.dumps([] if t == "none" else [t]) for t in grouped.column("tag").to_pylist()]
        score = pc.cast(pc.round(grouped.column("score")), pa.int32())
        n = grouped.num_rows
        nothing = pa.nulls(n, pa.string())
        out.append(pa.table({
            "TenantId": pa.array([tenant_id] * n, pa.string()), "TimeGenerated": when,
            "StreamName": grouped.column("source"), "TotalEvents": grouped.column("n_sum"),
            "BlockedEvents": grouped.column("blocked_sum"), "UploadedBytes": up, "TotalBytes": reports.sum_pair(grouped, "bytes_up_sum", "bytes_down_sum"),
            "DownloadedBytes": down, "IpAddress": grouped.column("src_ip"), "UserName": grouped.column("user"),
            "EnrichedUserName": grouped.column("user"), "MachineName": grouped.column("device_name"),
            "MachineId": grouped.column("device_id"), "AppId": grouped.column("app_id"),
            "AppName": grouped.column("app_name"), "AppTags": pa.array(tags, pa.string()), "AppScore": score,
            "AppCategory": grouped.column("category"), "AppInstance": nothing,
            "SourceSystem": pa.array(["CloudDiscovery"] * n, pa.string()),
            "Type": pa.array(["McasShadowItReporting"] * n, pa.string()),
        }))
    if not out:
        return pa.table({c: pa.array([], pa.string()) for c in SENTINEL_COLUMNS})
    table = pa.concat_tables(out, promote_options="permissive")
    return table.sort_by([("TimeGenerated", "ascending"), ("AppId", "ascending"), ("UserName", "ascending"),
                          ("IpAddress", "ascending"), ("MachineId", "ascending")])


def export(period, table_name: str, fmt: str, out: Path, tenant_id: str | None = None) -> dict:
    """Write one table of the period to `out`; returns {path, rows, bytes, format}."""
    if fmt not in FORMATS:
        raise UserError(f"--format must be one of {', '.join(FORMATS)}")
    if fmt == "sentinel":
        if table_name != "traffic":
            raise UserError("--format sentinel exports the traffic (as McasShadowItReporting rows): "
                            "cloud-discovery export traffic --format sentinel ...")
        table = sentinel_rows(period, tenant_id)
    else:
        if table_name not in exportable():
            raise UserError(f"no report table {table_name!r}; tables: {', '.join(exportable())}")
        table = period.table(table_name)
    out.parent.mkdir(parents=True, exist_ok=True)
    suffix = out.suffix.lower()
    if fmt == "sentinel" and suffix == ".json":  # the body the Logs Ingestion API takes: one JSON array
        out.write_text(json.dumps(table.to_pylist(), default=lambda v: v.isoformat()), encoding="utf-8")
    elif fmt == "csv" or (fmt == "sentinel" and suffix != ".parquet"):
        write_csv(table, out)
    elif fmt == "xlsx":
        write_xlsx(table, out, table_name)
    else:
        pq.write_table(table, out, compression="zstd")
    return {"path": str(out), "rows": table.num_rows, "bytes": out.stat().st_size, "format": fmt}
