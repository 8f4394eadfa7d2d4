"""The analyst's views: one user, one app, one source IP, and the machines list with what is new,
over a period of committed days or one snapshot.

The daily tables answer most of it (machine_users, machine_ips, user_apps, machine_apps); what
needs the pairing of two keys the daily tables do not keep (a user's source IPs, the users behind
an IP, an app's source IPs) reads only the matching traffic rows, with the filter pushed down.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from datetime import date, timedelta

import pyarrow as pa
import pyarrow.compute as pc

from etl import query, reports, schema
from etl.errors import UserError
from etl.storage import Lake, manifest_path

HOW = {"network": "network event", "appliance": "appliance log", "logon": "logon",
       "logged_on_users": "logged-on users (DeviceInfo)"}
TRAFFIC_COLUMNS = ["ts", "source", "device_id", "device_name", "user", "src_ip", "app_id", "app_name", "category",
                   "bytes_up", "bytes_down", "action"]


@dataclass(frozen=True)
class Period:
    """Committed days first..last, or one snapshot."""
    lake: Lake
    first: date | None = None
    last: date | None = None
    snapshot: str | None = None

    @property
    def label(self) -> str:
        return f"snapshot {self.snapshot}" if self.snapshot else f"{self.first} .. {self.last}"

    def table(self, name: str, columns: list[str] | None = None) -> pa.Table:
        if self.snapshot:
            from etl.snapshot import snapshot_table
            table = snapshot_table(self.lake, self.snapshot, name)
            return table.select(columns) if columns else table
        return query.read_table(self.lake, name, self.first, self.last, columns)

    def traffic_where(self, where) -> pa.Table:
        """Traffic rows of the period matching `where` (a pyarrow.compute expression)."""
        if self.snapshot:
            from etl.snapshot import read_snapshot
            files = [f["path"] for f in read_snapshot(self.lake, self.snapshot)["outputs"]["traffic"]["files"]]
        else:
            files = [f["path"] for d in query.committed_days(self.lake, self.first, self.last)
                     for f in self.lake.read_json(manifest_path(d))["outputs"]["traffic"]["files"]]
        if not files:
            return schema.report_schema("traffic").empty_table().select(TRAFFIC_COLUMNS)
        return reports.decoded(self.lake.read_parquet_where(files, TRAFFIC_COLUMNS, where))

    def cube(self) -> pa.Table:
        if self.snapshot:
            return reports.cube(self.table("traffic", TRAFFIC_COLUMNS + ["dest_host"]))
        return query.traffic_cube(self.lake, self.first, self.last)


def period(lake: Lake, first: date | None, last: date | None, last_days: int | None, snapshot: str | None) -> Period:
    """--from/--to, --last Nd (ending on the latest committed day), or --snapshot."""
    if snapshot:
        from etl.snapshot import read_snapshot
        read_snapshot(lake, snapshot)  # a clear error for an unknown id
        return Period(lake, snapshot=snapshot)
    if last_days:
        latest = query.latest_committed_day(lake)
        if latest is None:
            raise UserError(f"no committed days in {lake.url}; run `cloud-discovery run` first")
        return Period(lake, latest - timedelta(days=last_days - 1), latest)
    if first is None or last is None:
        raise UserError("give --from and --to, --last 7d|30d|90d, or --snapshot ID")
    if last < first:
        raise UserError(f"--to {last} is before --from {first}")
    if not query.committed_days(lake, first, last):
        raise UserError(f"no committed days between {first} and {last} in {lake.url}; run `cloud-discovery run` first")
    return Period(lake, first, last)


def _sum_history(table: pa.Table, keys: list[str]) -> pa.Table:
    """Rows summed per key: transactions and bytes where present, first/last seen, names kept."""
    measures = [(c, "sum") for c in ("transactions", "bytes_up", "bytes_down") if c in table.column_names]
    names = [c for c in ("device_name", "name", "app_name", "category") if c in table.column_names and c not in keys]
    out = table.group_by(keys, use_threads=False).aggregate(
        [*measures, ("first_seen", "min"), ("last_seen", "max"), *[(c, "last") for c in names]])
    renames = {f"{c}_sum": c for c, _ in measures} | {"first_seen_min": "first_seen", "last_seen_max": "last_seen"} | {
        f"{c}_last": c for c in names}
    out = out.rename_columns([renames.get(c, c) for c in out.column_names])
    return out.select([*keys, *names, *[c for c, _ in measures], "first_seen", "last_seen"])


def _rows_summary(rows: pa.Table, keys: list[str], distinct: dict[str, str]) -> pa.Table:
    """Traffic rows -> per key: transactions, bytes up/down, first/last seen, distinct counts."""
    if rows.num_rows == 0:
        return pa.table({**{k: pa.array([], pa.string()) for k in keys}, "transactions": pa.array([], pa.int64())})
    rows = rows.append_column("one", pa.array([1] * rows.num_rows, pa.int64()))
    out = rows.group_by(keys, use_threads=False).aggregate(
        [("one", "sum"), ("bytes_up", "sum"), ("bytes_down", "sum"), ("ts", "min"), ("ts", "max"),
         *[(c, "count_distinct") for c in distinct]])
    renames = {"one_sum": "transactions", "bytes_up_sum": "bytes_up", "bytes_down_sum": "bytes_down",
               "ts_min": "first_seen", "ts_max": "last_seen", **{f"{c}_count_distinct": n for c, n in distinct.items()}}
    return out.rename_columns([renames.get(c, c) for c in out.column_names])


def _daily(rows: pa.Table, distinct: dict[str, str]) -> pa.Table:
    rows = rows.append_column("day", pc.cast(rows.column("ts"), pa.date32()))
    return _rows_summary(rows, ["day"], distinct).sort_by("day")


def _risk(lake: Lake) -> pa.Table:
    from etl.catalog.score import app_risk
    return app_risk(lake)[0]


def _with_risk(table: pa.Table, lake: Lake) -> pa.Table:
    return reports.with_risk(table, _risk(lake))


# -- user --------------------------------------------------------------------------------------

def resolve_user(p: Period, text: str) -> str:
    """A user as typed (`CONTOSO\\ann`, `Ann@Contoso.com`, `ann`) -> the UPN the reports use."""
    from etl.identity import load_directory

    directory, _ = load_directory(p.lake)
    known = set(p.table("users", ["user"]).column("user").to_pylist())
    candidate = directory.resolve(text)
    if candidate in known:
        return candidate
    lowered = {u.lower(): u for u in known if u}
    key = (candidate or text).lower()
    if key in lowered:
        return lowered[key]
    near = difflib.get_close_matches(key, list(lowered), n=3)
    hint = f"; did you mean {', '.join(lowered[n] for n in near)}?" if near else ""
    raise UserError(f"no user {text!r} in {p.label}{hint}")


def user_views(p: Period, user: str) -> dict[str, pa.Table]:
    overview = p.table("users")
    overview = _sum_history(overview.filter(pc.equal(overview.column("user"), user)), ["user"])
    machine_users = p.table("machine_users")
    mine = machine_users.filter(pc.equal(machine_users.column("user"), user))
    machines = _sum_history(mine, ["device_id", "source"])
    machines = machines.append_column("how", pc.fill_null(
        pc.take(pa.array(list(HOW.values())), pc.index_in(machines.column("source"), value_set=pa.array(list(HOW)))),
        machines.column("source")))
    machines = machines.sort_by([("last_seen", "descending"), ("device_id", "ascending")])
    used = p.table("user_apps")
    apps = _sum_history(used.filter(pc.equal(used.column("user"), user)), ["app_id"])
    apps = query.by_traffic(_with_risk(apps, p.lake), "app_id")
    rows = p.traffic_where(pc.field("user") == user)
    ips = _rows_summary(rows, ["src_ip"], {"device_id": "machines"}).rename_columns({"src_ip": "ip"}) if rows.num_rows else \
        pa.table({"ip": pa.array([], pa.string())})
    if ips.num_rows:
        ips = ips.sort_by([("last_seen", "descending"), ("ip", "ascending")])
    daily = _daily(rows, {"app_id": "apps", "device_id": "machines"}) if rows.num_rows else pa.table({"day": pa.array([], pa.date32())})
    return {"overview": overview, "machines": machines.select(
                ["device_id", "device_name", "how", "source", "first_seen", "last_seen"]),
            "apps": apps.select([c for c in ("app_id", "app_name", "category", "score", "tag", "transactions", "bytes_up",
                                             "bytes_down", "total_bytes", "first_seen", "last_seen") if c in apps.column_names]),
            "IP addresses": ips, "day by day": daily}


# -- app ---------------------------------------------------------------------------------------

def resolve_app(p: Period, text: str) -> str:
    from etl.catalog import lake_catalog

    found = lake_catalog(p.lake).find(text)
    if found is not None:
        return found["app_id"]
    raise UserError(f"no app {text!r} in the catalog (an app id or name; `cloud-discovery catalog lookup HOST` "
                    f"finds the app of a host)")


def first_seen_in_organisation(lake: Lake, app_id: str):
    days = query.committed_range(lake)
    if days is None:
        return None
    apps = query.read_table(lake, "apps", days[0], days[1], ["app_id", "first_seen"])
    mine = apps.filter(pc.equal(apps.column("app_id"), app_id))
    return pc.min(mine.column("first_seen")).as_py() if mine.num_rows else None


def app_views(p: Period, app_id: str) -> dict[str, pa.Table]:
    apps = p.table("apps")
    mine = apps.filter(pc.equal(apps.column("app_id"), app_id))
    overview = _with_risk(_sum_history(mine.drop_columns([c for c in ("score", "tag") if c in mine.column_names]),
                                       ["app_id"]), p.lake) if mine.num_rows else mine
    if overview.num_rows:
        first = first_seen_in_organisation(p.lake, app_id)
        overview = overview.append_column("first_seen_in_organisation",
                                          pa.array([first], pa.timestamp("us", tz="UTC")))
    used = p.table("user_apps")
    used = used.filter(pc.equal(used.column("app_id"), app_id)).drop_columns(["app_name", "category"])
    users = query.by_traffic(_sum_history(used, ["user"]), "user")
    machine_apps = p.table("machine_apps")
    machine_apps = machine_apps.filter(pc.equal(machine_apps.column("app_id"), app_id)).drop_columns(["app_name"])
    machines = query.by_traffic(_sum_history(machine_apps, ["device_id"]), "device_id")
    rows = p.traffic_where(pc.field("app_id") == app_id)
    if rows.num_rows:
        ips = query.by_traffic(_rows_summary(rows, ["src_ip"], {"user": "users", "device_id": "machines"}), "src_ip")
        daily = _daily(rows, {"user": "users", "device_id": "machines"})
    else:
        ips, daily = pa.table({"src_ip": pa.array([], pa.string())}), pa.table({"day": pa.array([], pa.date32())})
    return {"overview": overview, "users": users, "machines": machines, "source IPs": ips, "day by day": daily}


# -- IP ----------------------------------------------------------------------------------------

def ip_views(p: Period, ip: str) -> dict[str, pa.Table]:
    held = p.table("machine_ips")
    holders = _sum_history(held.filter(pc.equal(held.column("ip"), ip)), ["device_id", "source"])
    holders = holders.sort_by([("first_seen", "ascending"), ("device_id", "ascending")]) if holders.num_rows else holders
    rows = p.traffic_where(pc.field("src_ip") == ip)
    if rows.num_rows:
        users = _rows_summary(rows, ["user", "device_id", "device_name"], {"app_id": "apps"}).sort_by(
            [("first_seen", "ascending"), ("device_id", "ascending")])
        daily = _daily(rows, {"user": "users", "device_id": "machines", "app_id": "apps"})
    else:
        users, daily = pa.table({"user": pa.array([], pa.string())}), pa.table({"day": pa.array([], pa.date32())})
    overview = p.table("ip_addresses")
    overview = _sum_history(overview.filter(pc.equal(overview.column("ip"), ip)), ["ip"])
    return {"overview": overview, "machines holding it": holders, "users behind it": users, "day by day": daily}


# -- machines ----------------------------------------------------------------------------------

def machines_with_new(p: Period) -> tuple[pa.Table, int]:
    """The machines of the period, each marked `new` when no committed day before the period saw it."""
    if p.snapshot:
        from etl.snapshot import read_snapshot
        table = p.table("machines").sort_by([("transactions", "descending"), ("device_id", "ascending")])
        began = read_snapshot(p.lake, p.snapshot)["time_range"]["first"]
        before = date.fromisoformat(began[:10]) if began else None
    else:
        table = query.machines_report(p.lake, p.first, p.last)
        before = p.first
    seen = set()
    bounds = query.committed_range(p.lake)
    if before is not None and bounds is not None and bounds[0] < before:
        seen = set(query.read_table(p.lake, "machines", bounds[0], before - timedelta(days=1),
                                    ["device_id"]).column("device_id").to_pylist())
    new = pc.invert(pc.is_in(table.column("device_id"), value_set=pa.array(sorted(seen), pa.string())))
    table = table.append_column("new", new)
    return table, pc.sum(pc.cast(new, pa.int64())).as_py() or 0
