"""The day's report tables, computed with Arrow group_by from the attributed traffic.

Every table is computed from the *cube*: traffic summed per combination of the keys the reports
group by (device, user, source IP, app, unknown host). Counts, sums, first/last seen and
distinct counts over the cube equal those over the rows, and the cube is built batch by batch
while traffic is written, so the reports never need the day's traffic in memory.
"""
from __future__ import annotations

from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from etl import schema
from etl.attribute import ip_leases, logged_on_users, logon_users
from etl.catalog import registered_domains
from etl.identity import Directory
from etl.sources import ENDPOINT_SOURCES
from etl.sources.base import day_bounds

EXAMPLE_HOSTS = 5


def _in_day(table: pa.Table, day: date | None) -> pa.Table:
    """Rows of the day (a snapshot, day None, keeps every row)."""
    if day is None:
        return table
    start, end = day_bounds(day)
    ts = table.column("ts")
    keep = pc.and_(pc.greater_equal(ts, pa.scalar(start, ts.type)), pc.less(ts, pa.scalar(end, ts.type)))
    return table.filter(pc.fill_null(keep, False))


def sum_pair(table: pa.Table, up: str, down: str) -> pa.ChunkedArray:
    """up + down, null only when both are null (a source without byte counts)."""
    a, b = table.column(up), table.column(down)
    both_null = pc.and_(pc.is_null(a), pc.is_null(b))
    total = pc.add(pc.fill_null(a, 0), pc.fill_null(b, 0))
    return pc.if_else(both_null, pa.scalar(None, pa.int64()), total)


def decoded(table: pa.Table) -> pa.Table:
    """Dictionary-encoded string columns -> plain strings (done on small aggregated tables)."""
    return pa.table({
        name: pc.cast(col, col.type.value_type) if pa.types.is_dictionary(col.type) else col
        for name, col in zip(table.column_names, table.columns)})


CUBE_KEYS = ["device_id", "device_name", "user", "src_ip", "app_id", "app_name", "category", "unknown_host", "source"]
CUBE_MEASURES = [("n", "sum"), ("blocked", "sum"), ("bytes_up", "sum"), ("bytes_down", "sum"), ("first_seen", "min"),
                 ("last_seen", "max")]
_CUBE_RENAMES = {"n_sum": "n", "blocked_sum": "blocked", "bytes_up_sum": "bytes_up", "bytes_down_sum": "bytes_down",
                 "first_seen_min": "first_seen", "last_seen_max": "last_seen"}


def cube(rows: pa.Table) -> pa.Table:
    """Traffic rows, or cubes to merge, summed per combination of CUBE_KEYS."""
    if "n" not in rows.column_names:
        rows = decoded(rows)
        unknown = pc.if_else(pc.is_null(rows.column("app_id")), rows.column("dest_host"),
                             pa.scalar(None, pa.string()))
        rows = pa.table({
            **{key: (unknown if key == "unknown_host" else rows.column(key)) for key in CUBE_KEYS},
            "n": pa.array(np.ones(rows.num_rows, dtype=np.int64)),
            "blocked": pc.cast(pc.equal(rows.column("action"), "blocked"), pa.int64()),
            "bytes_up": rows.column("bytes_up"), "bytes_down": rows.column("bytes_down"),
            "first_seen": rows.column("ts"), "last_seen": rows.column("ts")})
    out = rows.group_by(CUBE_KEYS, use_threads=False).aggregate(CUBE_MEASURES)  # faster here, and in a stable order
    return out.rename_columns([_CUBE_RENAMES.get(c, c) for c in out.column_names])


class CubeBuilder:
    """Folds traffic batches into one cube: batches are cubed BATCH_ROWS at a time (grouping
    many small batches costs more than grouping few big ones) and partial cubes are merged
    as they pile up, so memory follows the cube, not the day's traffic."""

    BATCH_ROWS = 1 << 18
    MERGE_ROWS = 1 << 18

    def __init__(self):
        self._cube: pa.Table | None = None
        self._batches: list[pa.Table] = []
        self._batch_rows = 0
        self._parts: list[pa.Table] = []
        self._part_rows = 0

    def add(self, traffic: pa.Table) -> None:
        self._batches.append(traffic)
        self._batch_rows += traffic.num_rows
        if self._batch_rows >= self.BATCH_ROWS:
            self._cube_batches()

    def _cube_batches(self) -> None:
        if self._batches:
            part = cube(pa.concat_tables(self._batches))
            self._batches, self._batch_rows = [], 0
            self._parts.append(part)
            self._part_rows += part.num_rows
            if self._part_rows > max(self.MERGE_ROWS, self._cube.num_rows if self._cube is not None else 0):
                self._merge()

    def _merge(self) -> None:
        if self._parts:
            self._cube = cube(pa.concat_tables(([self._cube] if self._cube is not None else []) + self._parts))
            self._parts, self._part_rows = [], 0

    def result(self) -> pa.Table:
        self._cube_batches()
        self._merge()
        if self._cube is None:
            return cube(schema.report_schema("traffic").empty_table())
        return self._cube.sort_by([(key, "ascending") for key in CUBE_KEYS])


def _group(table: pa.Table, keys: list[str], extra: list, names: dict[str, str]) -> pa.Table:
    """Group the cube. Rows whose first key is null form their own group, dropped afterwards."""
    needed = list(dict.fromkeys([*keys, "n", "blocked", "bytes_up", "bytes_down", "first_seen", "last_seen",
                                 *[c for c, _ in extra]]))
    grouped = table.select(needed).group_by(keys, use_threads=False).aggregate(CUBE_MEASURES + extra)
    grouped = decoded(grouped.filter(pc.is_valid(grouped.column(keys[0]))))
    renames = {**_CUBE_RENAMES, "n_sum": "transactions", **names}
    return grouped.rename_columns([renames.get(c, c) for c in grouped.column_names])


def device_names(traffic_cube: pa.Table, context: dict) -> pa.Table:
    """device_id -> the device_name it was last seen with (names change: renames, DNS suffixes)."""
    parts = [traffic_cube.select(["device_id", "device_name", "last_seen"]).rename_columns(["device_id", "device_name", "ts"])]
    parts += [t.select(["device_id", "device_name", "ts"]) for t in context.values() if t is not None and t.num_rows]
    pairs = [decoded(p.group_by(["device_id", "device_name"], use_threads=False).aggregate([("ts", "max")]))
             for p in parts]
    pairs = pa.concat_tables(pairs).filter(pc.is_valid(pa.concat_tables(pairs).column("device_name")))
    latest = pairs.sort_by([("ts_max", "ascending"), ("device_name", "ascending")]).group_by(
        "device_id", use_threads=False).aggregate([("device_name", "last")])
    return latest.rename_columns(["device_id", "device_name"])


def _named(table: pa.Table, names: pa.Table) -> pa.Table:
    positions = pc.index_in(table.column("device_id"), value_set=names.column("device_id"))
    return table.append_column("device_name", pc.take(names.column("device_name"), positions))


def _history(rows: pa.Table | None, value: str, source: str) -> pa.Table | None:
    if rows is None or rows.num_rows == 0:
        return None
    if "ts" in rows.column_names:  # context rows: one instant each
        rows = rows.append_column("first_seen", rows.column("ts")).append_column("last_seen", rows.column("ts"))
    out = rows.group_by(["device_id", value], use_threads=False).aggregate([("first_seen", "min"), ("last_seen", "max")])
    out = decoded(out.filter(pc.and_(pc.is_valid(out.column("device_id")), pc.is_valid(out.column(value)))))
    out = out.rename_columns({"first_seen_min": "first_seen", "last_seen_max": "last_seen"})
    return out.append_column("source", pa.array([source] * out.num_rows, pa.string()))


def machine_users(day: date, traffic: pa.Table, context: dict, directory: Directory, names: pa.Table) -> pa.Table:
    """Who was on each machine, and how that is known: `network` (endpoint telemetry names the
    account), `appliance` (a proxy/firewall line attributed to the machine carried or was given
    the user), `logon`, `logged_on_users`."""
    endpoint = pc.is_in(traffic.column("source"), value_set=pa.array(ENDPOINT_SOURCES))
    pairs = traffic.select(["first_seen", "last_seen", "device_id", "user"])
    parts = [
        _history(pairs.filter(endpoint), "user", "network"),
        _history(pairs.filter(pc.invert(endpoint)), "user", "appliance"),
        _history(_in_day(logon_users(context.get("logons"), directory), day), "user", "logon"),
        _history(_in_day(logged_on_users(context.get("device_info"), directory), day), "user", "logged_on_users"),
    ]
    return _finish("machine_users", parts, ["device_id", "user", "source"], names)


def machine_ips(day: date, traffic: pa.Table, context: dict, names: pa.Table) -> pa.Table:
    info = context.get("device_info")
    public = None
    if info is not None and info.num_rows:
        public = _in_day(info, day).select(["ts", "device_id", "public_ip"]).rename_columns(["ts", "device_id", "ip"])
        public = public.filter(pc.is_valid(public.column("ip")))
    parts = [
        _history(traffic.select(["first_seen", "last_seen", "device_id", "src_ip"]).rename_columns(
            ["first_seen", "last_seen", "device_id", "ip"]), "ip", "local_ip"),
        _history(_in_day(ip_leases(context.get("ip_leases")), day), "ip", "network_info"),
        _history(public, "ip", "public_ip") if public is not None else None,
    ]
    return _finish("machine_ips", parts, ["device_id", "ip", "source"], names)


def _finish(name: str, parts: list, sort_keys: list[str], names: pa.Table) -> pa.Table:
    parts = [p for p in parts if p is not None and p.num_rows]
    if not parts:
        return schema.report_schema(name).empty_table()
    table = pa.concat_tables([schema.conform(_named(p.select([c for c in p.column_names if c != "device_name"]), names), name)
                              for p in parts])
    table = table.filter(pc.is_valid(table.column("device_id")))
    return table.sort_by([(k, "ascending") for k in sort_keys])


def machines(traffic: pa.Table, context: dict, ips: pa.Table, names: pa.Table) -> pa.Table:
    out = _group(traffic, ["device_id"], [("app_id", "count_distinct"), ("user", "count_distinct")],
                 {"app_id_count_distinct": "apps", "user_count_distinct": "users"})
    out = _named(out, names)
    ip_counts = decoded(ips.group_by("device_id", use_threads=False).aggregate([("ip", "count_distinct")])).rename_columns(
        ["device_id", "ip_addresses"])
    out = out.join(ip_counts, "device_id", join_type="left outer")
    out = out.append_column("os", _latest_os(out.column("device_id"), context.get("device_info")))
    out = out.append_column("total_bytes", sum_pair(out, "bytes_up", "bytes_down"))
    out = out.set_column(out.schema.get_field_index("ip_addresses"), "ip_addresses", pc.fill_null(out.column("ip_addresses"), 0))
    return schema.conform(out, "machines").sort_by("device_id")


def _latest_os(device_ids, device_info: pa.Table | None) -> pa.ChunkedArray:
    if device_info is None or device_info.num_rows == 0:
        return pa.chunked_array([pa.nulls(len(device_ids), pa.string())])
    known = decoded(device_info.select(["ts", "device_id", "os"]))
    known = known.filter(pc.is_valid(known.column("os"))).sort_by("ts")
    latest = known.group_by("device_id", use_threads=False).aggregate([("os", "last")])
    positions = pc.index_in(device_ids, value_set=latest.column("device_id"))
    return pc.take(latest.column("os_last"), positions)


def machine_apps(traffic: pa.Table, names: pa.Table) -> pa.Table:
    out = _group(traffic, ["app_id", "device_id", "app_name"], [], {})
    out = _named(out.filter(pc.is_valid(out.column("device_id"))), names)
    return schema.conform(out, "machine_apps").sort_by([("device_id", "ascending"), ("app_id", "ascending")])


def apps(traffic: pa.Table, risk: pa.Table | None = None) -> pa.Table:
    """`risk`: app_id, score, tag of the catalog's apps (`catalog.score.app_risk`)."""
    # app_id decides app_name and category: grouping by all three keeps them without first/last
    out = _group(traffic, ["app_id", "app_name", "category"], [("user", "count_distinct"),
                 ("device_id", "count_distinct"), ("src_ip", "count_distinct")],
                 {"app_name": "name", "user_count_distinct": "users",
                  "device_id_count_distinct": "machines", "src_ip_count_distinct": "ip_addresses"})
    out = out.append_column("bytes", sum_pair(out, "bytes_up", "bytes_down"))
    out = with_risk(out, risk)
    out = schema.conform(out, "apps")
    return out.sort_by([("transactions", "descending"), ("app_id", "ascending")])


def with_risk(table: pa.Table, risk: pa.Table | None) -> pa.Table:
    """score and tag joined on app_id (tag `none` for an app with no decision)."""
    if risk is None:
        risk = pa.table({"app_id": pa.array([], pa.string()), "score": pa.array([], pa.float64()),
                         "tag": pa.array([], pa.string())})
    at = pc.index_in(table.column("app_id"), value_set=risk.column("app_id"))
    table = table.append_column("score", pc.take(risk.column("score"), at))
    return table.append_column("tag", pc.fill_null(pc.take(risk.column("tag"), at), "none"))


def users(traffic: pa.Table, directory: Directory) -> pa.Table:
    out = _group(traffic, ["user"], [("app_id", "count_distinct"), ("device_id", "count_distinct"),
                                ("src_ip", "count_distinct")],
                 {"app_id_count_distinct": "apps", "device_id_count_distinct": "machines",
                  "src_ip_count_distinct": "ip_addresses"})
    out = out.join(directory.attributes(), "user", join_type="left outer")
    return schema.conform(out, "users").sort_by([("transactions", "descending"), ("user", "ascending")])


def user_apps(traffic: pa.Table) -> pa.Table:
    out = _group(traffic, ["user", "app_id", "app_name", "category"], [("device_id", "count_distinct")],
                 {"device_id_count_distinct": "machines"})
    out = out.filter(pc.is_valid(out.column("app_id")))
    return schema.conform(out, "user_apps").sort_by([("user", "ascending"), ("app_id", "ascending")])


def ip_addresses(traffic: pa.Table) -> pa.Table:
    out = _group(traffic, ["src_ip"], [("app_id", "count_distinct"), ("user", "count_distinct"),
                                  ("device_id", "count_distinct")],
                 {"src_ip": "ip", "app_id_count_distinct": "apps", "user_count_distinct": "users",
                  "device_id_count_distinct": "machines"})
    return schema.conform(out, "ip_addresses").sort_by([("transactions", "descending"), ("ip", "ascending")])


def unknown_domains(traffic: pa.Table) -> pa.Table:
    tx = decoded(traffic.filter(pc.is_valid(traffic.column("unknown_host"))))
    if tx.num_rows == 0:
        return schema.report_schema("unknown_domains").empty_table()
    tx = tx.append_column("domain", registered_domains(tx.column("unknown_host")))
    tx = tx.append_column("row_bytes", sum_pair(tx, "bytes_up", "bytes_down"))
    out = tx.group_by("domain", use_threads=False).aggregate([
        ("unknown_host", "count_distinct"), ("unknown_host", "distinct"), ("n", "sum"), ("row_bytes", "sum"),
        ("device_id", "count_distinct"), ("user", "count_distinct")])
    out = out.rename_columns({"unknown_host_count_distinct": "hosts", "unknown_host_distinct": "example_hosts",
                              "n_sum": "transactions", "row_bytes_sum": "bytes",
                              "device_id_count_distinct": "machines", "user_count_distinct": "users"})
    examples = pa.array([sorted(hosts)[:EXAMPLE_HOSTS] for hosts in out.column("example_hosts").to_pylist()],
                        pa.list_(pa.string()))
    out = out.set_column(out.schema.get_field_index("example_hosts"), "example_hosts", examples)
    out = out.sort_by([("transactions", "descending"), ("domain", "ascending")])
    out = out.append_column("rank", pa.array(range(1, out.num_rows + 1), pa.int64()))
    return schema.conform(out, "unknown_domains")


def build_reports(day: date, traffic: pa.Table, context: dict, directory: Directory,
                  risk: pa.Table | None = None) -> dict[str, pa.Table]:
    """Every report table but traffic (which ingest writes as it goes) and alerts (policies read
    the lake's history), from the traffic cube."""
    names = device_names(traffic, context)
    ips = machine_ips(day, traffic, context, names)
    return {
        "machines": machines(traffic, context, ips, names),
        "machine_apps": machine_apps(traffic, names),
        "machine_users": machine_users(day, traffic, context, directory, names),
        "machine_ips": ips,
        "apps": apps(traffic, risk),
        "users": users(traffic, directory),
        "user_apps": user_apps(traffic),
        "ip_addresses": ip_addresses(traffic),
        "unknown_domains": unknown_domains(traffic),
    }
