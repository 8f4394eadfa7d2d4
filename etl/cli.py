"""`cloud-discovery`: the same pipeline the DAGs run, from a shell.

Every command takes --lake URL (default: $CLOUD_DISCOVERY_LAKE, else ./lake). Errors are one
line on stderr and a non-zero exit status.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import date, timedelta
from pathlib import Path

from etl.errors import UserError
from etl.output import print_table
from etl.runner import run_days, run_days_airflow
from etl.storage import Lake, StorageError, default_lake_url


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text}")
    return value


def _ratio(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1: {text}")
    return value


# ---------------------------------------------------------------------------
# Running days: embedded Airflow or direct
# ---------------------------------------------------------------------------

# ---------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------

def cmd_generate(args) -> int:
    from etl.generate import generate_lake

    lake = Lake(args.lake)
    started = time.monotonic()
    summary = generate_lake(lake, args.start, args.days, args.machines, args.events_per_day, seed=args.seed,
                            users=args.users, compress=args.gzip)
    print(f"generated {summary} in {time.monotonic() - started:.1f}s into {lake.url}")
    for fmt in args.appliance or []:
        rel = write_appliance_upload(lake, fmt, args.start, args.days, args.machines, args.appliance_lines,
                                     args.seed, args.users, args.events_per_day)
        print(f"generated a {fmt} log of the same fleet: {lake.url}/{rel}")
    return 0


def write_appliance_upload(lake: Lake, fmt: str, start: date, days: int, machines: int, lines: int, seed: int,
                           users, events_per_day: int) -> str:
    """An appliance log of the generated fleet, streamed into uploads/<fmt>/ like any upload."""
    from etl.generate import appliance_log
    from etl.storage import upload_path

    rel = upload_path(fmt, f"generated-{start.isoformat()}.log")
    with lake.fs.open(lake.full(rel), "wb") as out:
        for block in appliance_log(fmt, start, days, machines, lines, seed, users, events_per_day=events_per_day):
            out.write(block)
    return rel


def _settings(args):
    from etl.ingest import Settings
    return Settings.from_env(max_reject_ratio=getattr(args, "max_reject_ratio", None),
                             lateness_hours=getattr(args, "lateness_hours", None),
                             workers=getattr(args, "workers", None))


def require_lake(lake: Lake) -> None:
    """A lake URL that points at nothing is a typo, not an empty lake."""
    if not lake.exists(""):
        raise UserError(f"no lake at {lake.url} (check --lake or CLOUD_DISCOVERY_LAKE)")
    if not any(lake.exists(top) for top in ("raw", "reports", "uploads", "snapshots")):
        raise UserError(f"{lake.url} holds none of raw/, reports/, uploads/, snapshots/: not a Cloud Discovery lake")


def cmd_run(args) -> int:
    require_lake(Lake(args.lake))
    return run_days(Lake(args.lake), [args.date], args.direct, _settings(args), progress=False)


def cmd_backfill(args) -> int:
    if args.to < args.from_:
        raise UserError(f"--to {args.to} is before --from {args.from_}")
    days = [args.from_ + timedelta(days=i) for i in range((args.to - args.from_).days + 1)]
    require_lake(Lake(args.lake))
    return run_days(Lake(args.lake), days, args.direct, _settings(args), progress=True)


def cmd_report(args) -> int:
    from etl import query

    lake = Lake(args.lake)
    require_lake(lake)
    if args.snapshot:
        return _report_snapshot(lake, args)
    if args.from_ is None or args.to is None:
        raise UserError("report needs --from and --to (or --snapshot ID)")
    first, last = args.from_, args.to
    if last < first:
        raise UserError(f"--to {last} is before --from {first}")
    if not query.committed_days(lake, first, last):
        raise UserError(f"no committed days between {first} and {last} in {lake.url}; run `cloud-discovery run` first")
    if args.what == "machine":
        if not args.name:
            raise UserError("report machine needs a machine name: cloud-discovery report machine NAME")
        device = query.find_device(lake, args.name, first, last)
        if device is None:
            raise UserError(f"no machine named {args.name!r} between {first} and {last}")
        _print_views(query.machine_views(lake, device, first, last), args)
        return 0
    table = {"machines": query.machines_report, "apps": query.apps_report, "users": query.users_report}[args.what](
        lake, first, last)
    print_table(table, args.format, limit=args.limit)
    return 0


def _print_views(views: dict, args) -> None:
    for title, table in views.items():
        print_table(table.drop_columns([c for c in ("device_id",) if c in table.column_names and title != "overview"]),
                     args.format, title=f"{title}", limit=args.limit)


def _report_snapshot(lake: Lake, args) -> int:
    from etl import query
    from etl.snapshot import read_snapshot

    read_snapshot(lake, args.snapshot)  # a clear error for an unknown id
    if args.what == "machine":
        if not args.name:
            raise UserError("report machine needs a machine name: cloud-discovery report machine NAME --snapshot ID")
        views = query.snapshot_machine_views(lake, args.snapshot, args.name)
        if views is None:
            raise UserError(f"no machine named {args.name!r} in snapshot {args.snapshot}")
        _print_views(views, args)
        return 0
    print_table(query.snapshot_report(lake, args.snapshot, args.what), args.format, limit=args.limit)
    return 0


def _log_format(lake: Lake, log_format: str | None) -> str | None:
    """`auto`/None -> None (detect); a known format or custom:<name> -> itself; else a clear error."""
    if log_format in (None, "auto"):
        return None
    from etl.snapshot import SnapshotError, resolve_source
    try:
        resolve_source(lake, log_format)
    except SnapshotError as exc:
        raise UserError(str(exc)) from None
    return log_format


def _upload(lake: Lake, files: list[str], data_source: str, log_format: str | None) -> list[str]:
    from etl.snapshot import SOURCE_SETTINGS
    from etl.storage import UPLOADS_PREFIX, safe_name, upload_path

    if safe_name(data_source) != data_source:
        raise UserError(f"--source {data_source!r}: use letters, digits, '-', '_' and '.' only")
    missing = [f for f in files if not Path(f).is_file()]
    if missing:
        raise UserError(f"no such file: {missing[0]}")
    fmt = _log_format(lake, log_format)
    settings_rel = f"{UPLOADS_PREFIX}/{data_source}/{SOURCE_SETTINGS}"
    if fmt is not None:
        lake.write_json(settings_rel, {"log_format": fmt})
    elif log_format == "auto" and lake.exists(settings_rel):
        lake.remove(settings_rel)
    placed = []
    for local in files:
        rel = upload_path(data_source, Path(local).name)
        lake.upload_file(local, rel)
        placed.append(rel)
    return placed


def cmd_upload(args) -> int:
    lake = Lake(args.lake)
    for rel in _upload(lake, args.files, args.source, args.log_format):
        print(f"uploaded {lake.url}/{rel}")
    print("build its snapshot with: cloud-discovery process-uploads (or wait for the snapshot_reports DAG)")
    return 0


def cmd_snapshot(args) -> int:
    from etl.snapshot import build_snapshot, find_uploads, summary

    lake = Lake(args.lake)
    placed = set(_upload(lake, args.files, args.source, args.log_format))
    pending = {u.path: u for u in find_uploads(lake)}
    manifests = []
    for rel in sorted(placed):
        if rel in pending:
            manifests.append(build_snapshot(lake.url, pending[rel], _settings(args)))
        else:  # the same file as last time: its snapshot stands
            from etl.snapshot import Upload
            manifests.append(build_snapshot(lake.url, Upload(rel, args.source, _log_format(lake, args.log_format),
                                                             lake.fingerprint(rel), lake.size(rel)), _settings(args)))
    if args.format == "json":
        print(json.dumps({"snapshots": manifests}, default=str))
    else:
        for manifest in manifests:
            print(summary(manifest))
            print(f"  read it: cloud-discovery report apps --snapshot {manifest['snapshot_id']}")
    return 0


def cmd_snapshots(args) -> int:
    import pyarrow as pa

    from etl.snapshot import list_snapshots

    lake = Lake(args.lake)
    rows = [{"snapshot_id": m["snapshot_id"], "data_source": m["data_source"], "formats": ",".join(m["formats"]),
             "first": m["time_range"]["first"], "last": m["time_range"]["last"],
             "transactions": m["counts"]["accepted"], "quarantined": sum(m["counts"]["quarantined"].values()),
             "device_share": m["attribution"]["device_share"], "user_share": m["attribution"]["user_share"],
             "upload": m["inputs"][0]["path"]} for m in list_snapshots(lake)]
    if args.format == "json":
        print(json.dumps({"snapshots": rows}, default=str))
        return 0
    if not rows:
        print(f"no snapshots in {lake.url}")
        return 0
    print_table(pa.Table.from_pylist(rows), "table")
    return 0


def cmd_process_uploads(args) -> int:
    from etl.snapshot import find_uploads

    lake = Lake(args.lake)
    waiting = find_uploads(lake)
    if args.direct:
        from etl.snapshot import build_snapshot, refresh_days, summary

        for upload in waiting:
            print(summary(build_snapshot(lake.url, upload, _settings(args))))
        for day in refresh_days(lake.url, _settings(args)):
            print(f"{day['date']}  rebuilt with the uploads that cover it")
        if not waiting:
            print(f"no new or changed uploads in {lake.url}/uploads")
        return 0
    print(f"{len(waiting)} new or changed uploads; running the snapshot_reports DAG through Airflow")
    failures = []

    def on_result(outcome: dict) -> None:
        if outcome["state"] != "success":
            failures.append(outcome.get("error", "failed"))

    run_days_airflow(lake, [date.today()], on_result, dag_id="snapshot_reports")
    if failures:
        raise UserError(f"snapshot_reports failed: {failures[0]}")
    from etl.snapshot import list_snapshots
    done = {u.path for u in waiting}
    for manifest in list_snapshots(lake):
        if manifest["inputs"][0]["path"] in done:
            print(f"{manifest['snapshot_id']}  {manifest['counts']['accepted']:,} transactions  "
                  f"(cloud-discovery report apps --snapshot {manifest['snapshot_id']})")
    return 0


def cmd_demo(args) -> int:
    from etl.demo import run_demo
    return run_demo(Lake(args.lake), days=args.days, machines=args.machines, seed=args.seed,
                    events_per_day=args.events_per_day, direct=args.direct)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cloud-discovery",
        description="Shadow-IT discovery from endpoint exports in a bucket: validated, attributed, "
                    "cataloged Parquet reports.")
    lake_help = (f"lake root URL: a folder, file://... or s3://bucket/prefix "
                 f"(default: $CLOUD_DISCOVERY_LAKE, else ./lake; now {default_lake_url()})")
    parser.add_argument("--lake", default=None, help=lake_help)
    # --lake also after the command name (`cloud-discovery run --lake s3://...`)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--lake", default=argparse.SUPPRESS, help=lake_help)
    sub = parser.add_subparsers(dest="command", required=True)

    def command(name: str, **kwargs) -> argparse.ArgumentParser:
        return sub.add_parser(name, parents=[common], **kwargs)

    demo = command("demo", help="generate a demo lake, build every day through Airflow, print a summary")
    demo.add_argument("--days", type=_positive, default=7)
    demo.add_argument("--machines", type=_positive, default=60)
    demo.add_argument("--events-per-day", type=_positive, default=20_000)
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--direct", action="store_true", help="call the etl steps in-process instead of through Airflow")
    demo.set_defaults(func=cmd_demo)

    gen = command("generate", help="write a deterministic synthetic lake (MDE + OCSF exports, users directory)")
    gen.add_argument("--start", type=_date, required=True)
    gen.add_argument("--days", type=_positive, default=1)
    gen.add_argument("--machines", type=_positive, default=60)
    gen.add_argument("--users", type=_positive, default=None)
    gen.add_argument("--events-per-day", type=_positive, default=20_000)
    gen.add_argument("--seed", type=int, default=7)
    gen.add_argument("--gzip", action="store_true", help="write .json.gz objects")
    gen.add_argument("--appliance", type=lambda text: [f for f in text.split(",") if f], default=None,
                     metavar="squid,panos", help="also write appliance logs of the same fleet under uploads/<format>/")
    gen.add_argument("--appliance-lines", type=_positive, default=5_000, help="appliance log lines per day (default 5000)")
    gen.set_defaults(func=cmd_generate)

    def add_run_options(p):
        p.add_argument("--direct", action="store_true", help="call the etl steps in-process instead of through Airflow")
        p.add_argument("--max-reject-ratio", type=_ratio, default=None,
                       help="fail a day when more than this share of its records is quarantined (default 0.05)")
        p.add_argument("--lateness-hours", type=int, default=None,
                       help="hours after a day ends that its arrival window stays open (default 6)")
        p.add_argument("--workers", type=_positive, default=None,
                       help="parts a day's input is split into and read in parallel, each written as its own "
                            "traffic file; worker processes for days of 64 MB or more (default 2)")

    run = command("run", help="build one day (through the Airflow DAG, embedded; --direct without Airflow)")
    run.add_argument("--date", type=_date, required=True)
    add_run_options(run)
    run.set_defaults(func=cmd_run)

    backfill = command("backfill", help="build every day of a range in one process, with progress")
    backfill.add_argument("--from", dest="from_", type=_date, required=True)
    backfill.add_argument("--to", type=_date, required=True)
    add_run_options(backfill)
    backfill.set_defaults(func=cmd_backfill)

    report = command("report", help="show committed reports over a date range, or one snapshot's")
    report.add_argument("what", choices=["machines", "apps", "users", "machine"])
    report.add_argument("name", nargs="?", help="machine name or id (for `report machine`)")
    report.add_argument("--from", dest="from_", type=_date, default=None)
    report.add_argument("--to", type=_date, default=None)
    report.add_argument("--snapshot", default=None, metavar="ID", help="read this snapshot instead of a date range")
    report.add_argument("--format", choices=["table", "csv", "json"], default="table")
    report.add_argument("--limit", type=_positive, default=None)
    report.set_defaults(func=cmd_report)

    format_help = ("log format: auto (detect from the first lines), one of the registered formats, or "
                   "custom:<name> described by reference/parsers/<name>.yaml in the lake (default auto)")
    upload = command("upload", help="put log files under uploads/<source>/ for the snapshot_reports DAG")
    upload.add_argument("files", nargs="+", metavar="FILE", help="log files (.gz, .bz2, .zip accepted)")
    upload.add_argument("--source", required=True, help="data source name, the folder under uploads/")
    upload.add_argument("--log-format", default="auto", help=format_help)
    upload.set_defaults(func=cmd_upload)

    snap = command("snapshot", help="upload log files and build their snapshot reports in-process, one per file")
    snap.add_argument("files", nargs="+", metavar="FILE")
    snap.add_argument("--source", required=True, help="data source name, the folder under uploads/")
    snap.add_argument("--log-format", default="auto", help=format_help)
    snap.add_argument("--format", choices=["table", "json"], default="table")
    snap.set_defaults(func=cmd_snapshot)

    snaps = command("snapshots", help="list the snapshot reports in the lake")
    snaps.add_argument("--format", choices=["table", "json"], default="table")
    snaps.set_defaults(func=cmd_snapshots)

    process = command("process-uploads", help="turn new or changed uploads into snapshots (the snapshot_reports "
                                              "DAG once through Airflow; --direct in-process)")
    process.add_argument("--direct", action="store_true", help="call the etl steps in-process instead of through Airflow")
    process.set_defaults(func=cmd_process_uploads)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (UserError, StorageError, FileNotFoundError, ValueError) as exc:
        if os.environ.get("CLOUD_DISCOVERY_DEBUG"):
            raise
        print(f"cloud-discovery: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("cloud-discovery: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `cloud-discovery report ... | head`: the reader has gone, not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
