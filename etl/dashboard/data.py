"""What the dashboard shows, read once from the lake: range-level tables and per-day series.

A period is either a date range of committed continuous days or one snapshot. Both are read the
same way: one pass over the period's traffic files builds the traffic cube (what
`query.machines_report` / `apps_report` / `users_report` compute from, read here once instead of
three times) and, in the same pass, a small per-day table (day, device, app -> transactions,
bytes up, bytes down) for the charts. Machine histories (users with logons, IPs with leases)
come from the daily machine_users / machine_ips tables, read once and split per device later.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from etl import query, reports
from etl.errors import UserError
from etl.storage import Lake, manifest_day, manifest_path, manifests_dir

DEFAULT_DAYS = 30  # a range with no first day: the 30 days ending on `last`
TAGS = ("sanctioned", "monitored", "unsanctioned", "none")
DAILY_KEYS = ["date", "device_id", "app_id"]
_SCAN_COLUMNS = query.TRAFFIC_CUBE_COLUMNS


@dataclass
class Period:
    mode: str                      # "range" or "snapshot"
    label: str
    first: date | None
    last: date | None
    days: list[date]
    snapshot_id: str | None = None
    earlier_days: int = 0          # committed continuous days before the period ("new apps" are new against them)


@dataclass
class DashboardData:
    period: Period
    machines: pa.Table             # reports.machines over the period
    apps: pa.Table                 # reports.apps, with score and tag
    users: pa.Table
    ip_addresses: pa.Table
    unknown_domains: pa.Table
    alerts: pa.Table
    machine_apps: pa.Table         # per device and app over the period
    machine_users: pa.Table        # per device, user, source over the period
    machine_ips: pa.Table          # per device, ip, source over the period
    user_apps: pa.Table            # per user and app over the period
    user_ips: pa.Table             # per user and source IP over the period (from the cube)
    daily: pa.Table                # date, device_id, app_id, transactions, bytes_up, bytes_down
    new_app_ids: set = field(default_factory=set)
    totals: dict = field(default_factory=dict)


# ---------------------------------------------------------------------------
# One pass over the traffic: the cube and the per-day table
# ---------------------------------------------------------------------------

def _plain(column) -> pa.ChunkedArray | pa.Array:
    return pc.cast(column, column.type.value_type) if pa.types.is_dictionary(column.type) else column


def _daily_sums(table: pa.Table) -> pa.Table:
    out = table.group_by(DAILY_KEYS, use_threads=False).aggregate(
        [("transactions", "sum"), ("bytes_up", "sum"), ("bytes_down", "sum")])
    return out.rename_columns([c[:-4] if c.endswith("_sum") else c for c in out.column_names])


def scan_traffic(lake: Lake, files: list[tuple[date | None, str]]) -> tuple[pa.Table, pa.Table]:
    """(traffic cube, per-day table) of traffic files; a file's day None: each row's own UTC day."""
    builder = reports.CubeBuilder()
    parts: list[pa.Table] = []
    for day, path in files:
        for batch in lake.iter_parquet(path, _SCAN_COLUMNS):
            builder.add(batch)
            n = batch.num_rows
            when = (pa.array(np.full(n, (day - date(1970, 1, 1)).days, dtype=np.int32), pa.date32()) if day
                    else pc.cast(batch.column("ts"), pa.date32()))
            parts.append(_daily_sums(pa.table({
                "date": when, "device_id": _plain(batch.column("device_id")), "app_id": _plain(batch.column("app_id")),
                "transactions": pa.array(np.ones(n, dtype=np.int64)),
                "bytes_up": batch.column("bytes_up"), "bytes_down": batch.column("bytes_down")})))
            if len(parts) > 16:
                parts = [_daily_sums(pa.concat_tables(parts))]
    daily = _daily_sums(pa.concat_tables(parts)) if parts else pa.table({
        "date": pa.array([], pa.date32()), "device_id": pa.array([], pa.string()), "app_id": pa.array([], pa.string()),
        "transactions": pa.array([], pa.int64()), "bytes_up": pa.array([], pa.int64()),
        "bytes_down": pa.array([], pa.int64())})
    return builder.result(), daily.sort_by([(k, "ascending") for k in DAILY_KEYS])


# ---------------------------------------------------------------------------
# Range-level tables from daily ones
# ---------------------------------------------------------------------------

def user_ips(cube: pa.Table) -> pa.Table:
    out = cube.select(["user", "src_ip", "n", "first_seen", "last_seen"]).group_by(
        ["user", "src_ip"], use_threads=False).aggregate([("n", "sum"), ("first_seen", "min"), ("last_seen", "max")])
    out = reports.decoded(out.filter(pc.and_(pc.is_valid(out.column("user")), pc.is_valid(out.column("src_ip")))))
    return out.rename_columns({"src_ip": "ip", "n_sum": "transactions", "first_seen_min": "first_seen",
                               "last_seen_max": "last_seen"})


def _totals(cube: pa.Table) -> dict:
    def total(name: str) -> int:
        return int(pc.sum(cube.column(name)).as_py() or 0)
    return {"transactions": total("n"), "bytes_up": total("bytes_up"), "bytes_down": total("bytes_down")}


def committed_before(lake: Lake, day: date) -> list[date]:
    """Committed continuous days before `day` (from the manifests' names)."""
    days = (manifest_day(o.path) for o in lake.list_files(manifests_dir()))
    return sorted(d for d in days if d is not None and d < day)


def _app_ids_on(lake: Lake, days: list[date]) -> set:
    seen: set = set()
    for day in days:
        entry = lake.read_json(manifest_path(day))["outputs"].get("apps")
        for file in (entry or {}).get("files", []):
            seen.update(pc.unique(lake.read_parquet(file["path"]).column("app_id")).to_pylist())
    return seen


def _new_apps(lake: Lake, apps: pa.Table, before: date | None) -> tuple[set, int]:
    earlier = committed_before(lake, before) if before else []
    known = _app_ids_on(lake, earlier)
    return {a for a in apps.column("app_id").to_pylist() if a not in known}, len(earlier)


# ---------------------------------------------------------------------------
# The two kinds of period
# ---------------------------------------------------------------------------

def resolve_range(lake: Lake, first: date | None, last: date | None) -> list[date]:
    if last is None:
        last = query.latest_committed_day(lake)
        if last is None:
            raise UserError(f"no committed day in {lake.url}: run the pipeline first")
    if first is None:
        first = last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise UserError(f"first day {first} is after last day {last}")
    days = query.committed_days(lake, first, last)
    if not days:
        raise UserError(f"no committed day between {first} and {last} in {lake.url}")
    return days


def load_range(lake: Lake, first: date | None, last: date | None) -> DashboardData:
    from etl.catalog.score import app_risk
    from etl.identity import load_directory

    days = resolve_range(lake, first, last)
    first, last = days[0], days[-1]
    files = []
    for day in days:
        entry = lake.read_json(manifest_path(day))["outputs"].get("traffic")
        files += [(day, f["path"]) for f in (entry or {}).get("files", [])]
    cube, daily = scan_traffic(lake, files)

    ips = query.read_table(lake, "machine_ips", first, last)
    os_history = query.read_table(lake, "machines", first, last, ["device_id", "os", "last_seen"]).rename_columns(
        ["device_id", "os", "ts", "date"])
    names = reports.device_names(cube, {})
    machines = reports.machines(cube, {"device_info": os_history}, ips, names)  # as query.machines_report
    apps = reports.apps(cube, app_risk(lake)[0])                                 # as query.apps_report
    users = reports.users(cube, load_directory(lake)[0])                         # as query.users_report
    new_ids, earlier = _new_apps(lake, apps, first)
    label = f"{first} .. {last}" if first != last else f"{first}"
    return DashboardData(
        period=Period("range", label, first, last, days, earlier_days=earlier),
        machines=machines, apps=apps, users=users,
        ip_addresses=reports.ip_addresses(cube), unknown_domains=reports.unknown_domains(cube),
        alerts=query.read_table(lake, "alerts", first, last),
        machine_apps=reports.machine_apps(cube, names),
        machine_users=query.history(query.read_table(lake, "machine_users", first, last), ["device_id", "user", "source"]),
        machine_ips=query.history(ips, ["device_id", "ip", "source"]),
        user_apps=reports.user_apps(cube), user_ips=user_ips(cube), daily=daily,
        new_app_ids=new_ids, totals=_totals(cube))


def load_snapshot(lake: Lake, sid: str) -> DashboardData:
    from etl.snapshot import read_snapshot, snapshot_table

    manifest = read_snapshot(lake, sid)
    files = [(None, f["path"]) for f in manifest["outputs"].get("traffic", {}).get("files", [])]
    cube, daily = scan_traffic(lake, files)

    def table(name: str) -> pa.Table:
        return snapshot_table(lake, sid, name)

    span = manifest.get("time_range") or {}
    first = date.fromisoformat(span["first"][:10]) if span.get("first") else None
    last = date.fromisoformat(span["last"][:10]) if span.get("last") else None
    apps = table("apps")
    new_ids, earlier = _new_apps(lake, apps, first)
    days = sorted(set(daily.column("date").to_pylist()))
    label = f"snapshot {sid}" + (f" ({first} .. {last})" if first else "")
    return DashboardData(
        period=Period("snapshot", label, first, last, days, snapshot_id=sid, earlier_days=earlier),
        machines=table("machines"), apps=apps, users=table("users"), ip_addresses=table("ip_addresses"),
        unknown_domains=table("unknown_domains"), alerts=table("alerts"),
        machine_apps=table("machine_apps"),
        machine_users=query.history(table("machine_users"), ["device_id", "user", "source"]),
        machine_ips=query.history(table("machine_ips"), ["device_id", "ip", "source"]),
        user_apps=table("user_apps"), user_ips=user_ips(cube), daily=daily,
        new_app_ids=new_ids, totals=_totals(cube))


# ---------------------------------------------------------------------------
# Splitting a table into per-entity slices (one sort, no per-row Python)
# ---------------------------------------------------------------------------

def split_by(table: pa.Table, key: str, order: list[tuple[str, str]] | None = None) -> tuple[pa.Table, dict]:
    """`table` sorted by `key` (then `order`) and {key value: (offset, length)} of each run."""
    table = table.filter(pc.is_valid(table.column(key)))
    table = table.sort_by([(key, "ascending"), *(order or [])])
    if table.num_rows == 0:
        return table, {}
    runs = table.select([key]).group_by(key, use_threads=False).aggregate([([], "count_all")])
    counts = runs.column("count_all").to_numpy()
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return table, {k: (int(o), int(c)) for k, o, c in zip(runs.column(key).to_pylist(), offsets, counts)}
