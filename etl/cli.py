"""`cloud-discovery`: the same pipeline the DAGs run, from a shell.

Every command takes --lake URL (default: $CLOUD_DISCOVERY_LAKE, else ./lake). Errors are one
line on stderr and a non-zero exit status.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

from etl.query import late_days_to_rerun
from etl.storage import Lake, StorageError, default_lake_url, manifest_path

DAG_ID = "endpoint_continuous_report"


class UserError(Exception):
    """A problem the user can fix; shown as one line, no traceback."""


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

def airflow_home(lake: Lake) -> str:
    """$AIRFLOW_HOME, else `.airflow` next to a local lake, else ./.airflow."""
    if os.environ.get("AIRFLOW_HOME"):
        return os.environ["AIRFLOW_HOME"]
    base = Path(lake.root).parent if lake.is_local else Path.cwd()
    return str(base / ".airflow")


def run_days_airflow(lake: Lake, days: list[date], on_result) -> None:
    """Run the DAG once per day through Airflow (dag.test in one child process)."""
    home = airflow_home(lake)
    Path(home).mkdir(parents=True, exist_ok=True)
    results = Path(home) / "cli-results.jsonl"
    log_path = Path(home) / "cli-run.log"
    results.write_text("")
    env = {**os.environ, "CLOUD_DISCOVERY_LAKE": lake.url}
    cmd = [sys.executable, "-m", "orchestration.embedded", "--dag", DAG_ID, "--airflow-home", home,
           "--results", str(results), *[d.isoformat() for d in days]]
    seen = 0
    with open(log_path, "w") as log:
        child = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        while True:
            finished = child.poll() is not None
            lines = results.read_text().splitlines()
            for line in lines[seen:]:
                outcome = json.loads(line)
                if outcome["state"] != "success":
                    failed = [t for t, s in outcome["tasks"].items() if s == "failed"]
                    from orchestration.embedded import last_error
                    error = last_error(log_path.read_text()) or "see the log"
                    outcome["error"] = f"task {', '.join(failed) or '?'} failed: {error} (log: {log_path})"
                on_result(outcome)
            seen = len(lines)
            if finished:
                break
            time.sleep(0.2)
    if child.returncode != 0 and seen < len(days):
        from orchestration.embedded import last_error
        raise UserError(f"Airflow could not run the DAG: {last_error(log_path.read_text()) or 'see ' + str(log_path)}")


def run_days_direct(lake: Lake, days: list[date], on_result, settings) -> None:
    from etl.pipeline import RejectRatioExceeded, run_day

    for day in days:
        try:
            run_day(lake.url, day, settings=settings)
            on_result({"date": day.isoformat(), "state": "success"})
        except RejectRatioExceeded as exc:
            on_result({"date": day.isoformat(), "state": "failed", "error": str(exc)})


def day_summary(lake: Lake, day: date) -> str:
    manifest = lake.read_json(manifest_path(day))
    counts = manifest["counts"]
    read = sum(c["read"] for c in counts.values())
    accepted = sum(c["accepted"] for c in counts.values())
    skipped = sum(sum(c["skipped"].values()) for c in counts.values())
    quarantined = sum(sum(c["quarantined"].values()) for c in counts.values())
    tables = manifest["outputs"]
    text = (f"{read:,} read, {accepted:,} transactions, {skipped:,} skipped, {quarantined:,} quarantined; "
            f"{tables['machines']['rows']} machines, {tables['apps']['rows']} apps")
    waiting = late_days_to_rerun(lake, day)
    if waiting:
        text += (f"; {sum(waiting.values())} late events for {', '.join(map(str, sorted(waiting)))} "
                 f"(re-run those days to include them)")
    return text


def _run(lake: Lake, days: list[date], direct: bool, settings, progress: bool) -> int:
    failures = 0
    done = 0
    started = time.monotonic()

    def on_result(outcome: dict) -> None:
        nonlocal failures, done
        done += 1
        day = date.fromisoformat(outcome["date"])
        if outcome["state"] == "success":
            line = f"{day}  ok  {day_summary(lake, day)}"
        else:
            failures += 1
            line = f"{day}  FAILED  {outcome.get('error', '')}"
        if progress:
            width = 20
            filled = int(width * done / len(days))
            line = f"[{'#' * filled}{'.' * (width - filled)}] {done}/{len(days)} {time.monotonic() - started:5.1f}s  " + line
        print(line, flush=True)

    if direct:
        run_days_direct(lake, days, on_result, settings)
    else:
        if settings is not None:
            for name, value in vars(settings).items():
                os.environ[f"CLOUD_DISCOVERY_{name.upper()}"] = str(value)
        run_days_airflow(lake, days, on_result)
    return 1 if failures else 0


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
    return 0


def _settings(args):
    from etl.ingest import Settings
    return Settings.from_env(max_reject_ratio=getattr(args, "max_reject_ratio", None),
                             lateness_hours=getattr(args, "lateness_hours", None),
                             workers=getattr(args, "workers", None))


def require_lake(lake: Lake) -> None:
    """A lake URL that points at nothing is a typo, not an empty lake."""
    if not lake.exists(""):
        raise UserError(f"no lake at {lake.url} (check --lake or CLOUD_DISCOVERY_LAKE)")
    if not (lake.exists("raw") or lake.exists("reports")):
        raise UserError(f"{lake.url} holds neither raw/ nor reports/: not a Cloud Discovery lake")


def cmd_run(args) -> int:
    require_lake(Lake(args.lake))
    return _run(Lake(args.lake), [args.date], args.direct, _settings(args), progress=False)


def cmd_backfill(args) -> int:
    if args.to < args.from_:
        raise UserError(f"--to {args.to} is before --from {args.from_}")
    days = [args.from_ + timedelta(days=i) for i in range((args.to - args.from_).days + 1)]
    require_lake(Lake(args.lake))
    return _run(Lake(args.lake), days, args.direct, _settings(args), progress=True)


def _print_table(table, fmt: str, title: str | None = None, limit: int | None = None) -> None:
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
    if value is None:
        return "-"
    if hasattr(value, "strftime"):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, int) and abs(value) >= 10_000:
        return f"{value:,}"
    if isinstance(value, list):
        return ",".join(map(str, value))
    return str(value)


def cmd_report(args) -> int:
    from etl import query

    lake = Lake(args.lake)
    first, last = args.from_, args.to
    if last < first:
        raise UserError(f"--to {last} is before --from {first}")
    require_lake(lake)
    if not query.committed_days(lake, first, last):
        raise UserError(f"no committed days between {first} and {last} in {lake.url}; run `cloud-discovery run` first")
    if args.what == "machine":
        if not args.name:
            raise UserError("report machine needs a machine name: cloud-discovery report machine NAME")
        device = query.find_device(lake, args.name, first, last)
        if device is None:
            raise UserError(f"no machine named {args.name!r} between {first} and {last}")
        for title, table in query.machine_views(lake, device, first, last).items():
            _print_table(table.drop_columns([c for c in ("device_id",) if c in table.column_names and title != "overview"]),
                         args.format, title=f"{title}", limit=args.limit)
        return 0
    table = {"machines": query.machines_report, "apps": query.apps_report, "users": query.users_report}[args.what](
        lake, first, last)
    _print_table(table, args.format, limit=args.limit)
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

    report = command("report", help="show committed reports over a date range")
    report.add_argument("what", choices=["machines", "apps", "users", "machine"])
    report.add_argument("name", nargs="?", help="machine name or id (for `report machine`)")
    report.add_argument("--from", dest="from_", type=_date, required=True)
    report.add_argument("--to", type=_date, required=True)
    report.add_argument("--format", choices=["table", "csv", "json"], default="table")
    report.add_argument("--limit", type=_positive, default=None)
    report.set_defaults(func=cmd_report)
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
