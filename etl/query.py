"""Reading committed reports back, over a date range (what `cloud-discovery report` shows).

Only committed days are read (a day counts once its manifest exists), and only the files its
manifest lists, so a reader never sees a half-written day.
"""
from __future__ import annotations

from datetime import date

import pyarrow as pa
import pyarrow.compute as pc

from etl import reports, schema
from etl.identity import load_directory
from etl.storage import Lake, days_between, manifest_day, manifest_path, manifests_dir


def is_committed(lake: Lake, day: date) -> bool:
    """A day counts once its manifest exists (it is written last)."""
    return lake.exists(manifest_path(day))


def committed_days(lake: Lake, first: date, last: date) -> list[date]:
    return [d for d in days_between(first, last) if is_committed(lake, d)]


def committed_range(lake: Lake) -> tuple[date, date] | None:
    """The first and last committed days of the lake."""
    days = [d for d in (manifest_day(o.path) for o in lake.list_files(manifests_dir())) if d is not None]
    return (min(days), max(days)) if days else None


def latest_committed_day(lake: Lake) -> date | None:
    bounds = committed_range(lake)
    return bounds[1] if bounds else None


def read_table(lake: Lake, table: str, first: date, last: date, columns: list[str] | None = None) -> pa.Table:
    parts = []
    for day in committed_days(lake, first, last):
        manifest = lake.read_json(manifest_path(day))
        entry = manifest["outputs"].get(table)
        if entry is None:
            continue
        part = pa.concat_tables([lake.read_parquet(f["path"]) for f in entry["files"]])
        if columns:
            part = part.select(columns)
        parts.append(part.append_column("date", pa.array([day] * part.num_rows, pa.date32())))
    if not parts:
        empty = schema.report_schema(table)
        if columns:
            empty = pa.schema([empty.field(c) for c in columns])
        return empty.append(pa.field("date", pa.date32())).empty_table()
    return pa.concat_tables(parts)


TRAFFIC_CUBE_COLUMNS = ["ts", "source", "action", "device_id", "device_name", "user", "src_ip", "dest_host", "app_id", "app_name",
                        "category", "bytes_up", "bytes_down"]


def traffic_cube(lake: Lake, first: date, last: date) -> pa.Table:
    """The traffic cube of a date range, read a row group at a time: memory follows the number of
    (device, user, IP, app) combinations, not the months of traffic behind them."""
    builder = reports.CubeBuilder()
    for day in committed_days(lake, first, last):
        entry = lake.read_json(manifest_path(day))["outputs"].get("traffic")
        if entry is not None:
            for file in entry["files"]:
                for batch in lake.iter_parquet(file["path"], TRAFFIC_CUBE_COLUMNS):
                    builder.add(batch)
    return builder.result()


def history(table: pa.Table, keys: list[str]) -> pa.Table:
    """Daily rows summed over a period per `keys`: first/last seen, transactions and bytes where present, names kept."""
    extra = [("transactions", "sum")] if "transactions" in table.column_names else []
    extra += [("bytes_up", "sum"), ("bytes_down", "sum")] if "bytes_up" in table.column_names else []
    named = [c for c in ("device_name", "app_name") if c in table.column_names and c not in keys]
    out = table.group_by(keys, use_threads=False).aggregate(
        [("first_seen", "min"), ("last_seen", "max"), *extra, *[(c, "last") for c in named]])
    renames = {"first_seen_min": "first_seen", "last_seen_max": "last_seen", "transactions_sum": "transactions",
               "bytes_up_sum": "bytes_up", "bytes_down_sum": "bytes_down",
               **{f"{c}_last": c for c in named}}
    return out.rename_columns([renames.get(c, c) for c in out.column_names])


def machines_report(lake: Lake, first: date, last: date) -> pa.Table:
    cube = traffic_cube(lake, first, last)
    ips = read_table(lake, "machine_ips", first, last)
    daily = read_table(lake, "machines", first, last, ["device_id", "os", "last_seen"])
    os_history = daily.rename_columns(["device_id", "os", "ts", "date"])
    names = reports.device_names(cube, {})
    return reports.machines(cube, {"device_info": os_history}, ips, names).sort_by(
        [("transactions", "descending"), ("device_id", "ascending")])


def apps_report(lake: Lake, first: date, last: date) -> pa.Table:
    """Apps over the range, with the current score and tag (each day's partition keeps the ones it
    was built or re-scored with)."""
    from etl.catalog.score import app_risk

    return reports.apps(traffic_cube(lake, first, last), app_risk(lake)[0])


def users_report(lake: Lake, first: date, last: date) -> pa.Table:
    directory, _ = load_directory(lake)
    return reports.users(traffic_cube(lake, first, last), directory)


def find_device(lake: Lake, name: str, first: date, last: date) -> str | None:
    """A device id from a device name (case-insensitive, with or without its DNS suffix) or an id."""
    daily = read_table(lake, "machines", first, last, ["device_id", "device_name"])
    wanted = name.lower()
    names = pc.utf8_lower(pc.fill_null(daily.column("device_name"), ""))
    hit = pc.or_(pc.or_(pc.equal(names, wanted), pc.equal(daily.column("device_id"), name)),
                 pc.starts_with(names, wanted + "."))
    rows = daily.filter(hit)
    return rows.column("device_id")[0].as_py() if rows.num_rows else None


def machine_views(lake: Lake, device_id: str, first: date, last: date) -> dict[str, pa.Table]:
    """The four Machines-tab views for one device over a range."""
    def only(table: pa.Table) -> pa.Table:
        return table.filter(pc.equal(table.column("device_id"), device_id))

    overview = machines_report(lake, first, last)
    apps = history(only(read_table(lake, "machine_apps", first, last)), ["device_id", "app_id"])
    user_history = history(only(read_table(lake, "machine_users", first, last)), ["device_id", "user", "source"])
    ip_history = history(only(read_table(lake, "machine_ips", first, last)), ["device_id", "ip", "source"])
    return {
        "overview": only(overview),
        "discovered apps": by_traffic(apps, "app_id"),
        "user history": user_history.sort_by([("last_seen", "descending"), ("user", "ascending")]),
        "IP-address history": ip_history.sort_by([("last_seen", "descending"), ("ip", "ascending")]),
    }


def by_traffic(table: pa.Table, key: str) -> pa.Table:
    """Busiest first: bytes up + down (where known), then transactions, then the key."""
    table = table.append_column("total_bytes", reports.sum_pair(table, "bytes_up", "bytes_down"))
    return table.sort_by([("total_bytes", "descending"), ("transactions", "descending"), (key, "ascending")])


def late_days_to_rerun(lake: Lake, day: date) -> dict[date, int]:
    """Days that `day`'s run found late events for, which their committed partition lacks.

    A day built before its late events arrived does not include them until it is re-run (its
    ledger then names the files). Days not committed yet will include them when first built."""
    manifest = lake.read_json(manifest_path(day))
    waiting: dict[date, int] = {}
    for other, files in manifest.get("late", {}).items():
        other_day = date.fromisoformat(other)
        if not is_committed(lake, other_day):
            continue
        read = {i["path"] for i in lake.read_json(manifest_path(other_day))["inputs"]}
        missing = sum(n for path, n in files.items() if path not in read)
        if missing:
            waiting[other_day] = missing
    return waiting


def snapshot_report(lake: Lake, snapshot_id: str, what: str) -> pa.Table:
    """A snapshot's machines / apps / users table, busiest first."""
    from etl.snapshot import snapshot_table

    table = snapshot_table(lake, snapshot_id, what)
    key = {"machines": "device_id", "apps": "app_id", "users": "user"}[what]
    return table.sort_by([("transactions", "descending"), (key, "ascending")])


def snapshot_machine_views(lake: Lake, snapshot_id: str, name: str) -> dict[str, pa.Table] | None:
    """The four Machines-tab views of one device in a snapshot (None: no such machine)."""
    from etl.snapshot import snapshot_table

    machines = snapshot_table(lake, snapshot_id, "machines")
    wanted = name.lower()
    names = pc.utf8_lower(pc.fill_null(machines.column("device_name"), ""))
    rows = machines.filter(pc.or_(pc.or_(pc.equal(names, wanted), pc.equal(machines.column("device_id"), name)),
                                  pc.starts_with(names, wanted + ".")))
    if rows.num_rows == 0:
        return None
    device_id = rows.column("device_id")[0].as_py()

    def only(table: str) -> pa.Table:
        t = snapshot_table(lake, snapshot_id, table)
        return t.filter(pc.equal(t.column("device_id"), device_id))

    return {
        "overview": rows.slice(0, 1),
        "discovered apps": by_traffic(only("machine_apps"), "app_id"),
        "user history": only("machine_users").sort_by([("last_seen", "descending"), ("user", "ascending")]),
        "IP-address history": only("machine_ips").sort_by([("last_seen", "descending"), ("ip", "ascending")]),
    }
