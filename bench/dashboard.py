"""Benchmark: the static dashboard of a 5,000-machine lake (time to write, page weights).

    .venv/bin/python bench/dashboard.py [--machines 5000] [--days 2] [--events 200000] [--workdir bench/out]

Generates a lake (`etl.generate.generate_lake`, unless one with these days committed is already
under <workdir>/dashboard-lake-<machines>-<days>-<events>), builds each day with
`etl.pipeline.run_day`, then times `etl.dashboard.write_dashboard` over the whole range and
prints: seconds to write, pages, total bytes, index.html and machines.html bytes, median and max
machine page bytes. The site is left under <workdir>/dashboard-site (bench/out/ is gitignored).
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
START = date(2026, 11, 16)
SEED = 5


def prepare(root: Path, machines: int, days: int, events: int) -> list[date]:
    from etl import query
    from etl.generate import generate_lake
    from etl.pipeline import run_day
    from etl.storage import Lake

    wanted = [START + timedelta(days=i) for i in range(days)]
    if root.exists() and query.committed_days(Lake(str(root)), wanted[0], wanted[-1]) == wanted:
        print(f"lake {root}: {days} committed days already there", flush=True)
        return wanted
    shutil.rmtree(root, ignore_errors=True)
    root.parent.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    generate_lake(Lake(str(root)), START, days, machines, events, seed=SEED)
    print(f"generated {machines:,} machines x {days} days x {events:,} events in {time.perf_counter() - began:.0f} s",
          flush=True)
    for day in wanted:
        began = time.perf_counter()
        run_day(str(root), day)
        print(f"built {day} in {time.perf_counter() - began:.0f} s", flush=True)
    return wanted


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--machines", type=int, default=5_000)
    parser.add_argument("--days", type=int, default=2)
    parser.add_argument("--events", type=int, default=200_000, help="network events per day")
    parser.add_argument("--workdir", default=str(REPO / "bench" / "out"))
    parser.add_argument("--prepare-only", action="store_true", help="generate and build the lake, no dashboard")
    args = parser.parse_args()

    work = Path(args.workdir)
    root = work / f"dashboard-lake-{args.machines}-{args.days}-{args.events}"
    days = prepare(root, args.machines, args.days, args.events)
    if args.prepare_only:
        return 0

    from etl.dashboard import write_dashboard
    from etl.storage import Lake

    site = work / "dashboard-site"
    shutil.rmtree(site, ignore_errors=True)
    began = time.perf_counter()
    summary = write_dashboard(Lake(str(root)), site, days[0], days[-1])
    seconds = time.perf_counter() - began

    machine_pages = sorted(p.stat().st_size for p in (site / "machines").glob("*.html"))
    print(f"lake: {args.machines:,} machines, {args.days} days x {args.events:,} events/day  "
          f"({summary['machines']:,} machines, {summary['apps']:,} apps, {summary['users']:,} users in the reports)")
    print(f"write_dashboard: {seconds:.1f} s")
    print(f"pages: {summary['pages']:,}  total: {summary['bytes']:,} bytes ({summary['bytes'] / 1e6:.1f} MB)")
    print(f"index.html: {(site / 'index.html').stat().st_size:,} bytes")
    print(f"machines.html: {(site / 'machines.html').stat().st_size:,} bytes")
    print(f"apps.html: {(site / 'apps.html').stat().st_size:,} bytes  users.html: {(site / 'users.html').stat().st_size:,} bytes")
    if machine_pages:
        print(f"machine pages: {len(machine_pages):,}  median {int(statistics.median(machine_pages)):,} bytes  "
              f"max {machine_pages[-1]:,} bytes")
    print(f"site: {site}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
