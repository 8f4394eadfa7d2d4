"""`cloud-discovery demo`: a realistic demo lake, every day built through Airflow, a summary."""
from __future__ import annotations

import time
from datetime import date, timedelta

from etl import query
from etl.output import print_table
from etl.storage import Lake

DEMO_START = date(2026, 11, 16)


def run_demo(lake: Lake, days: int = 7, machines: int = 60, seed: int = 7, events_per_day: int = 20_000,
             direct: bool = False, start: date = DEMO_START) -> int:
    from etl.runner import run_days
    from etl.generate import generate_lake
    from etl.ingest import Settings

    began = time.monotonic()
    print(f"Generating a demo lake in {lake.url}: {machines} machines, {days} days from {start}, seed {seed} ...")
    summary = generate_lake(lake, start, days, machines, events_per_day, seed=seed)
    print(f"  {summary}")
    last = start + timedelta(days=days - 1)
    how = "directly (no Airflow)" if direct else "through the Airflow DAG endpoint_continuous_report (embedded, SQLite)"
    print(f"\nBuilding {days} days {how} ...")
    built = [start + timedelta(days=i) for i in range(days)]
    status = run_days(lake, built, direct, Settings.from_env(), progress=True)
    if status:
        return status
    late = days_with_late_events(lake, built)
    if late:
        print(f"\nRe-running {len(late)} day(s) whose late events arrived after they were built "
              f"(the stray ledger makes the re-run read them) ...")
        status = run_days(lake, late, direct, Settings.from_env(), progress=True)
        if status:
            return status

    apps = query.apps_report(lake, start, last)
    print_table(apps.select(["name", "category", "score", "tag", "transactions", "users", "machines", "bytes_up",
                             "bytes_down"]),
                 "table", title=f"Top discovered apps, {start} .. {last} (score 0-10, 10 safest: "
                                f"cloud-discovery catalog explain APP)", limit=10)
    alerts = query.read_table(lake, "alerts", start, last)
    if alerts.num_rows:
        print_table(alerts.select(["date", "policy_id", "app_name", "group_value", "users", "reason"]), "table",
                    title=f"Discovery policy alerts, {start} .. {last}: {alerts.num_rows} (first 5; "
                          f"cloud-discovery policy test --from {start} --to {last})", limit=5)
    machines_table = query.machines_report(lake, start, last)
    print_table(machines_table.select(["device_name", "os", "transactions", "bytes_up", "bytes_down", "apps",
                                        "users", "ip_addresses"]),
                 "table", title="Top machines (bytes come from OCSF agents; Defender for Endpoint reports none)",
                 limit=10)
    if machines_table.num_rows:
        device, name, views = richest_machine(lake, machines_table, start, last)
        print_table(views["user history"].select(["user", "source", "first_seen", "last_seen"]), "table",
                     title=f"User history of {name}")
        print_table(views["IP-address history"].select(["ip", "source", "first_seen", "last_seen"]), "table",
                     title=f"IP-address history of {name}", limit=10)

    show_uploaded_log(lake, start, days, machines, seed, events_per_day)

    from etl.dashboard import publish_dashboard
    board = publish_dashboard(lake.url, last, days)
    print(f"\nDashboard of {start} .. {last}: {board['pages']:,} pages ({board['bytes']:,} bytes), open {board['index']}")

    root = lake.root if lake.is_local else lake.url
    print(f"""
Reports (Parquet, Hive-partitioned by date): {root}/reports/<table>/date=YYYY-MM-DD/part-*.parquet
Manifests: {root}/_manifests/reports/   Quarantine: {root}/quarantine/

Read them with DuckDB:
  python -c "import duckdb; print(duckdb.sql(\\"SELECT name, sum(transactions) AS tx FROM read_parquet('{root}/reports/apps/*/*.parquet', hive_partitioning=true) GROUP BY name ORDER BY tx DESC LIMIT 10\\"))"
or pandas:
  python -c "import pandas as pd; print(pd.read_parquet('{root}/reports/machines').groupby('device_name')[['transactions','bytes_up','bytes_down']].sum(min_count=1).nlargest(10, 'transactions'))"
More: cloud-discovery report machine {name if machines_table.num_rows else 'NAME'} --from {start} --to {last}
      cloud-discovery report user USER --from {start} --to {last}   (also: report app APP, report ip IP)
      cloud-discovery catalog explain dropbox; cloud-discovery policy test --from {start} --to {last}

Demo finished in {time.monotonic() - began:.0f}s.""")
    return 0


def show_uploaded_log(lake: Lake, start: date, days: int, machines: int, seed: int, events_per_day: int) -> None:
    """Upload a Squid log of the same fleet, build its snapshot, and show its rows attributed in
    the continuous report (the days it covers are rebuilt with it)."""
    import pyarrow.compute as pc

    from etl.cli import write_appliance_upload
    from etl.snapshot import build_snapshot, find_uploads, refresh_days, summary

    rel = write_appliance_upload(lake, "squid", start, days, machines, 2_000, seed, None, events_per_day)
    print(f"\nUploaded a Squid access.log of the same fleet: {rel}")
    for upload in find_uploads(lake):
        manifest = build_snapshot(lake.url, upload)
        print(summary(manifest))
    rebuilt = refresh_days(lake.url)
    print(f"  {len(rebuilt)} continuous days rebuilt to include it")
    rows = query.read_table(lake, "traffic", start, start, ["ts", "source", "device_name", "user", "src_ip", "dest_host",
                                                           "bytes_down", "action"])
    squid = rows.filter(pc.equal(rows.column("source"), "squid")).drop_columns(["date"])
    print_table(squid, "table", title=f"Squid rows in the continuous traffic of {start}, attributed by IP", limit=5)


def days_with_late_events(lake: Lake, days: list[date]) -> list[date]:
    """Days of `days` whose committed partition lacks late events a later run found."""
    waiting: set[date] = set()
    for day in days:
        waiting.update(query.late_days_to_rerun(lake, day))
    return sorted(d for d in waiting if d in days)


def richest_machine(lake: Lake, machines_table, first: date, last: date):
    """Among the ten busiest machines, the one whose user and IP histories have the most sources."""
    best = None
    for device, name in list(zip(machines_table.column("device_id").to_pylist(),
                                 machines_table.column("device_name").to_pylist()))[:10]:
        views = query.machine_views(lake, device, first, last)
        sources = len(set(views["user history"].column("source").to_pylist())) + len(
            set(views["IP-address history"].column("source").to_pylist()))
        if best is None or sources > best[0]:
            best = (sources, device, name, views)
    return best[1:]
