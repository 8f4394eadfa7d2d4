"""Benchmark: the daily continuous report against a DuckDB reference, at two sizes.

    python bench/continuous_report.py [--sizes 1000000,5000000] [--workdir bench/out]

For each size it generates a one-day lake (unless present), times
`cloud-discovery run --date D --direct` (the whole pipeline: parse, validate, quarantine,
attribute, catalog match, every report table, manifest) as a child process with its peak RSS,
times one DuckDB query that computes `machines` and `machine_apps` from the same raw files
(parse JSON, exact-host catalog join, group by, write Parquet), checks both agree on
per-machine transactions and bytes, and prints one line per size. It also times how long the
DAG file takes to parse once Airflow is imported. DuckDB is a dev/bench dependency only.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import textwrap
import time
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DAY = date(2026, 11, 20)
MACHINES = 5000  # the same fleet at every size, so the sizes differ in events only


def run_measured(cmd: list[str]) -> tuple[float, float, str]:
    """Wall time and peak RSS of a command *and all its child processes together* (the pipeline
    reads a day in worker processes, and Great Expectations runs in one too), sampled every 20 ms."""
    import psutil

    started = time.monotonic()
    child = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    watched = psutil.Process(child.pid)
    peak = 0
    while child.poll() is None:
        try:
            tree = [watched, *watched.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
        except psutil.Error:
            pass  # a process ended between listing and reading it
        time.sleep(0.02)
    out, err = child.communicate()
    wall = time.monotonic() - started
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:5])} ... failed:\n{err.decode()[-3000:]}")
    return wall, peak / (1 << 20), out.decode()


DUCKDB_REFERENCE = r"""
import sys, duckdb, pyarrow.csv as pcsv
lake, day, out = sys.argv[1], sys.argv[2], sys.argv[3]
con = duckdb.connect()
con.execute("SET threads TO 2")
apps = pcsv.read_csv(sys.argv[4])
con.register("apps", apps)
con.execute("CREATE TABLE catalog AS SELECT unnest(string_split(domains, ' ')) AS host, app_id FROM apps")
next_day = (__import__('datetime').date.fromisoformat(day) + __import__('datetime').timedelta(days=1)).isoformat()
con.execute(f'''
CREATE TABLE tx AS
WITH mde AS (
  SELECT properties.DeviceId AS device_id,
         lower(regexp_replace(regexp_replace(coalesce(nullif(properties.RemoteUrl, ''),
               json_extract_string(properties.AdditionalFields, '$.host'),
               json_extract_string(properties.AdditionalFields, '$.server_name')),
               '^[a-z]+://', ''), '[/:?#].*$', '')) AS host,
         CAST(NULL AS BIGINT) AS bytes_up, CAST(NULL AS BIGINT) AS bytes_down,
         CAST(properties.Timestamp AS TIMESTAMPTZ) AS ts, filename
  FROM read_ndjson('{lake}/raw/mde/insights-logs-advancedhunting-devicenetworkevents/*/*/*/*/*/*/*.json',
       filename=true, columns={{category: 'VARCHAR', properties: 'STRUCT(DeviceId VARCHAR, ActionType VARCHAR,
       RemoteUrl VARCHAR, AdditionalFields VARCHAR, Timestamp VARCHAR)'}})
  WHERE category = 'AdvancedHunting-DeviceNetworkEvents'
    AND properties.ActionType IN ('ConnectionSuccess','ConnectionRequest','ConnectionAttempt',
        'ConnectionAcknowledged','HttpConnectionInspected','SslConnectionInspected','SshConnectionInspected',
        'FtpConnectionInspected','SmtpConnectionInspected','ConnectionFailed')
    AND coalesce(lower(json_extract_string(properties.AdditionalFields, '$.direction')), '') <> 'in'
), mde_window AS (
  SELECT * EXCLUDE (filename) FROM mde
  WHERE regexp_extract(filename, 'y=(\d+)/m=(\d+)/d=(\d+)/h=(\d+)', ['y','m','d','h']) IS NOT NULL
    AND make_timestamp(CAST(regexp_extract(filename, 'y=(\d+)', 1) AS INT), CAST(regexp_extract(filename, 'y=\d+/m=(\d+)', 1) AS INT),
        CAST(regexp_extract(filename, '/d=(\d+)/', 1) AS INT), CAST(regexp_extract(filename, '/h=(\d+)/', 1) AS INT), 0, 0)
        BETWEEN TIMESTAMP '{day} 00:00:00' AND TIMESTAMP '{next_day} 05:00:00'
), ocsf AS (
  SELECT coalesce(device.uid, lower(device.hostname)) AS device_id,
         lower(coalesce(http_request.url.hostname, tls.sni, dst_endpoint.hostname)) AS host,
         traffic.bytes_out AS bytes_up, traffic.bytes_in AS bytes_down,
         make_timestamptz(time * 1000) AS ts
  FROM read_ndjson(['{lake}/raw/ocsf/dt={day}/*', '{lake}/raw/ocsf/dt={next_day}/*'], columns={{time: 'BIGINT',
       class_uid: 'BIGINT', activity_id: 'BIGINT', device: 'STRUCT(uid VARCHAR, hostname VARCHAR)',
       connection_info: 'STRUCT(direction_id BIGINT)', traffic: 'STRUCT(bytes_in BIGINT, bytes_out BIGINT)',
       http_request: 'STRUCT(url STRUCT(hostname VARCHAR))', tls: 'STRUCT(sni VARCHAR)',
       dst_endpoint: 'STRUCT(hostname VARCHAR)'}})
  WHERE (class_uid = 4002 OR activity_id IN (1, 6, 4, 5))
    AND coalesce(connection_info.direction_id, 0) NOT IN (1, 3)
)
SELECT t.*, c.app_id FROM (SELECT * FROM mde_window UNION ALL SELECT * FROM ocsf) t
LEFT JOIN catalog c ON c.host = t.host
WHERE CAST(t.ts AT TIME ZONE 'UTC' AS DATE) = DATE '{day}'
''')
con.execute(f"COPY (SELECT device_id, count(*) AS transactions, sum(bytes_up) AS bytes_up, sum(bytes_down) AS bytes_down, "
            f"count(DISTINCT app_id) AS apps, min(ts) AS first_seen, max(ts) AS last_seen FROM tx GROUP BY device_id) "
            f"TO '{out}/machines.parquet' (FORMAT parquet)")
con.execute(f"COPY (SELECT device_id, app_id, count(*) AS transactions, sum(bytes_up) AS bytes_up, "
            f"sum(bytes_down) AS bytes_down FROM tx WHERE app_id IS NOT NULL GROUP BY ALL) "
            f"TO '{out}/machine_apps.parquet' (FORMAT parquet)")
"""


def compare(ours_machines: Path, reference_machines: Path) -> tuple[bool, str]:
    import pyarrow.parquet as pq

    ours = {r["device_id"]: (r["transactions"], r["bytes_up"], r["bytes_down"])
            for r in pq.read_table(ours_machines).to_pylist()}
    ref = {r["device_id"]: (r["transactions"], r["bytes_up"], r["bytes_down"])
           for r in pq.read_table(reference_machines).to_pylist()}
    if ours == ref:
        return True, f"{len(ours)} machines agree"
    only_ours = len(set(ours) - set(ref))
    only_ref = len(set(ref) - set(ours))
    differ = sum(1 for k in set(ours) & set(ref) if ours[k] != ref[k])
    return False, f"MISMATCH: {only_ours} machines only ours, {only_ref} only DuckDB, {differ} differ"


def dag_parse_seconds() -> float:
    code = textwrap.dedent(f"""
        import time, runpy, airflow.sdk, airflow.providers.standard.sensors.time_delta, airflow.timetables.interval
        started = time.perf_counter()
        runpy.run_path({str(REPO / 'dags' / 'endpoint_continuous_report.py')!r})
        print(time.perf_counter() - started)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return float(out.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000000,5000000", help="comma-separated events per day")
    parser.add_argument("--workdir", default=str(REPO / "bench" / "out"))
    parser.add_argument("--machines", type=int, default=MACHINES, help="machines in every generated lake")
    args = parser.parse_args()
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    cli = [sys.executable, "-m", "etl.cli"]
    print(f"machine: {os.cpu_count()} cores, python {sys.version.split()[0]}; day {DAY}")
    results = []
    for size in [int(s) for s in args.sizes.split(",")]:
        lake = workdir / f"lake-{size}-{args.machines}"
        if not (lake / "reference" / "users.csv").exists():
            machines = args.machines
            print(f"generating {size:,} events, {machines} machines into {lake} ...", flush=True)
            subprocess.run([*cli, "--lake", str(lake), "generate", "--start", DAY.isoformat(), "--days", "1",
                            "--machines", str(machines), "--events-per-day", str(size), "--seed", "3"], check=True,
                           stdout=subprocess.DEVNULL)
        wall, rss, out = run_measured([*cli, "--lake", str(lake), "run", "--date", DAY.isoformat(), "--direct"])
        manifest = json.loads((lake / "_manifests" / "reports" / f"date={DAY}.json").read_text())
        events = sum(c["read"] for c in manifest["counts"].values())
        ref_out = workdir / f"duckdb-{size}"
        ref_out.mkdir(exist_ok=True)
        ref_wall, ref_rss, _ = run_measured([sys.executable, "-c", DUCKDB_REFERENCE, str(lake), DAY.isoformat(),
                                             str(ref_out), str(REPO / "etl" / "catalog" / "apps.csv")])
        ok, detail = compare(lake / manifest["outputs"]["machines"]["path"], ref_out / "machines.parquet")
        line = (f"{size:>10,} target | {events:>10,} events | {events / wall:>9,.0f} events/s | {wall:6.1f} s | "
                f"peak RSS {rss:6.0f} MB | DuckDB {ref_wall:5.1f} s ({ref_rss:.0f} MB) | ratio {wall / ref_wall:4.2f} | {detail}")
        print(line, flush=True)
        results.append((size, wall, rss, ok))
    if len(results) >= 2:
        growth = results[-1][2] / results[0][2] - 1
        print(f"peak RSS growth {results[0][0]:,} -> {results[-1][0]:,}: {growth:+.0%}")
    print(f"DAG file parse (Airflow already imported): {dag_parse_seconds():.3f} s")
    return 0 if all(ok for *_, ok in results) else 1


if __name__ == "__main__":
    sys.exit(main())
