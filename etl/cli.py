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
from etl.output import print_table, print_views, rows_json
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
    import ipaddress

    from etl import investigate, query

    lake = Lake(args.lake)
    require_lake(lake)
    p = investigate.period(lake, args.from_, args.to, args.last, args.snapshot)
    header = {"report": args.what, "from": p.first and p.first.isoformat(), "to": p.last and p.last.isoformat(),
              "snapshot": p.snapshot}
    if args.what in ("machine", "user", "app", "ip") and not args.name:
        raise UserError(f"report {args.what} needs a {'machine name' if args.what == 'machine' else args.what.upper()}: "
                        f"cloud-discovery report {args.what} NAME --last 7d")
    if args.what == "machine":
        if p.snapshot:
            views = query.snapshot_machine_views(lake, p.snapshot, args.name)
        else:
            device = query.find_device(lake, args.name, p.first, p.last)
            views = None if device is None else query.machine_views(lake, device, p.first, p.last)
        if views is None:
            raise UserError(f"no machine named {args.name!r} in {p.label}")
        print_views(views, args.format, {**header, "machine": args.name}, args.limit)
        return 0
    if args.what == "user":
        user = investigate.resolve_user(p, args.name)
        print_views(investigate.user_views(p, user), args.format, {**header, "user": user}, args.limit)
        return 0
    if args.what == "app":
        app_id = investigate.resolve_app(p, args.name)
        print_views(investigate.app_views(p, app_id), args.format, {**header, "app_id": app_id}, args.limit)
        return 0
    if args.what == "ip":
        try:
            ip = str(ipaddress.ip_address(args.name.strip()))
        except ValueError:
            raise UserError(f"not an IP address: {args.name!r}") from None
        print_views(investigate.ip_views(p, ip), args.format, {**header, "ip": ip}, args.limit)
        return 0
    if args.what == "machines":
        table, new = investigate.machines_with_new(p)
        if args.format == "json":
            print(json.dumps({**header, "machines": table.num_rows, "new": new,
                              "rows": rows_json(table.slice(0, args.limit) if args.limit else table)}))
            return 0
        if args.format == "table":
            print(f"{table.num_rows} machines discovered in {p.label}, {new} new (first seen inside it)")
        print_table(table, args.format, limit=args.limit)
        return 0
    if p.snapshot:
        table = query.snapshot_report(lake, p.snapshot, args.what)
    else:
        table = {"apps": query.apps_report, "users": query.users_report}[args.what](lake, p.first, p.last)
    print_table(table, args.format, limit=args.limit)
    return 0


def _last(text: str) -> int:
    value = text.strip().lower()
    if value.endswith("d") and value[:-1].isdigit() and int(value[:-1]) > 0:
        return int(value[:-1])
    raise argparse.ArgumentTypeError(f"--last takes a number of days such as 7d, 30d or 90d, not {text!r}")


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


def _catalog_context(lake: Lake):
    from etl.catalog import lake_catalog
    from etl.catalog.score import lake_scoring
    from etl.catalog.tags import current

    catalog = lake_catalog(lake)
    return catalog, lake_scoring(lake, catalog), current(lake)


def _find_app(catalog, text: str) -> dict:
    app = catalog.find(text)
    if app is None:
        raise UserError(f"no app {text!r} in the catalog (an app id or name; `cloud-discovery catalog lookup HOST` "
                        f"finds the app of a host)")
    return app


def _score(value) -> str:
    return "N/A" if value is None else f"{value:.2f}"


def cmd_catalog(args) -> int:
    import pyarrow as pa

    from etl.catalog import views

    lake = Lake(args.lake)
    catalog, scoring, tags = _catalog_context(lake)
    if args.action == "lookup":
        result = views.lookup(catalog, scoring, tags, args.target)
        if args.format == "json":
            print(json.dumps(result))
        elif result["app_id"] is None:
            print(f"{result['host']}: no app in catalog {catalog.version}; registered domain {result['registered_domain']}")
        else:
            print(f"{result['host']}: {result['name']} ({result['app_id']}), {result['category']}, score "
                  f"{_score(result['score'])}, tag {result['tag']}, matched {result['matched_pattern']}")
        return 0
    if args.action == "stats":
        result = views.stats(catalog)
        if args.format == "json":
            print(json.dumps(result))
            return 0
        print(f"catalog {result['catalog_version']}: {result['apps']} apps ({result['custom_apps']} the organisation's own) "
              f"in {result['categories']} categories, {result['facts']} documented facts")
        print("apps with at least one documented fact, per group: " +
              ", ".join(f"{g} {share:.0%}" for g, share in result["coverage"].items()))
        print_table(pa.Table.from_pylist([{"factor": f, "apps_documented": share}
                                          for f, share in result["factor_coverage"].items()]), "table")
        return 0
    if args.action == "explain":
        from etl.catalog.score import explain

        result = explain(scoring, _find_app(catalog, args.target)["app_id"])
        if args.format == "json":
            print(json.dumps(result))
            return 0
        print(f"{result['name']} ({result['app_id']}), {result['category']}: score {_score(result['score'])} "
              f"(catalog {result['catalog_version']}, weights {result['weights_hash']}, N/A: {result['na']})")
        if "override" in result:
            print(f"  override: {result['override']}")
        rows = views.contributions(result)
        print_table(pa.Table.from_pylist([{**r, "score": r["score"], "points": None if r["points"] is None else round(r["points"], 3)}
                                          for r in rows]).drop_columns(["group_score"]), "table")
        print("score = sum of points = sum over groups of group_weight x group_score / sum of group weights; "
              "group_score = weighted mean of its counted factors")
        return 0
    if args.action == "suggest":
        from etl import query, reports

        first, last = _range_or_recent(lake, args)
        unknown = reports.unknown_domains(query.traffic_cube(lake, first, last))
        found = views.suggestions(unknown, args.limit, first, last)
        if args.format == "json":
            print(json.dumps({"from": first.isoformat(), "to": last.isoformat(), "suggestions": found}))
            return 0
        if args.format == "csv":
            import csv
            writer = csv.DictWriter(sys.stdout, fieldnames=list(found[0]["row"]) if found else ["app_id"],
                                    lineterminator="\n")
            writer.writeheader()
            writer.writerows(s["row"] for s in found)
            return 0
        if not found:
            print(f"no unknown domains between {first} and {last}")
            return 0
        print(f"top unknown registered domains {first}..{last}; add rows to reference/catalog/apps.csv "
              f"(pick a category), then `cloud-discovery rescore --from {first} --to {last}`")
        print_table(pa.Table.from_pylist([{k: v for k, v in s.items() if k not in ("row", "example_hosts")}
                                          for s in found]), "table")
        print("\napps.csv rows (cloud-discovery catalog suggest --format csv):")
        for s in found:
            r = s["row"]
            print(",".join([r["app_id"], r["name"], r["vendor"], r["category"], r["domains"], r["ip_ranges"], r["source"]]))
        return 0
    raise AssertionError(args.action)


def _range_or_recent(lake: Lake, args) -> tuple[date, date]:
    """--from/--to, else the 30 days up to the latest committed day."""
    from etl import query

    if args.from_ and args.to:
        if args.to < args.from_:
            raise UserError(f"--to {args.to} is before --from {args.from_}")
        return args.from_, args.to
    latest = query.latest_committed_day(lake)
    if latest is None:
        raise UserError(f"no committed days in {lake.url}; run `cloud-discovery run` first")
    last = args.to or latest
    return args.from_ or last - timedelta(days=29), last


def cmd_tag(args) -> int:
    from etl.catalog import lake_catalog
    from etl.catalog.tags import TAGS, history, set_tag

    lake = Lake(args.lake)
    app = _find_app(lake_catalog(lake), args.app)
    if args.history:
        entries = history(lake, app["app_id"])
        if args.format == "json":
            print(json.dumps({"app_id": app["app_id"], "history": entries}))
        elif not entries:
            print(f"{app['app_id']}: never tagged (its tag is none)")
        else:
            import pyarrow as pa
            print_table(pa.Table.from_pylist(entries).select(["when", "who", "old", "tag", "note"]), "table")
        return 0
    if args.tag is None:
        raise UserError(f"give a tag ({'|'.join(TAGS)}) or --history: cloud-discovery tag {args.app} unsanctioned")
    entry = set_tag(lake, app["app_id"], args.tag, args.note)
    if args.format == "json":
        print(json.dumps(entry))
        return 0
    print(f"{app['app_id']}: {entry['old']} -> {entry['tag']} (by {entry['who']} at {entry['when']})")
    print("days built from now on carry it; `cloud-discovery rescore --from D --to D` applies it to committed days")
    return 0


def cmd_block_script(args) -> int:
    from etl.catalog.blocklists import render, tagged_domains

    lake = Lake(args.lake)
    catalog, _, tags = _catalog_context(lake)
    apps = tagged_domains(catalog, tags, args.tag)
    sys.stdout.write(render(args.format, apps, args.tag, catalog.version))
    if not apps:
        print(f"cloud-discovery: no app is tagged {args.tag} (cloud-discovery tag APP {args.tag})", file=sys.stderr)
    return 0


def cmd_rescore(args) -> int:
    from etl.query import committed_days
    from etl.rescore import rescore_day

    if args.to < args.from_:
        raise UserError(f"--to {args.to} is before --from {args.from_}")
    lake = Lake(args.lake)
    require_lake(lake)
    days = committed_days(lake, args.from_, args.to)
    if not days:
        raise UserError(f"no committed days between {args.from_} and {args.to} in {lake.url}")
    results = [rescore_day(lake.url, day) for day in days]
    if args.format == "json":
        print(json.dumps({"days": results}))
        return 0
    for r in results:
        print(f"{r['date']}  version {r['version']}: {r['apps']} apps, {r['score_changes']} with a new score or tag, "
              f"{r['alerts']} alerts{', traffic re-matched to the catalog' if r['traffic_rematched'] else ''}")
    return 0


def cmd_policy(args) -> int:
    from etl import policies

    lake = Lake(args.lake)
    if args.action == "init":
        from etl.storage import POLICIES_PREFIX
        for template in sorted(policies.TEMPLATES.glob("*.yaml")):
            rel = f"{POLICIES_PREFIX}/{template.name}"
            if lake.exists(rel):
                print(f"kept {lake.url}/{rel} (exists)")
            else:
                lake.write_bytes(rel, template.read_bytes())
                print(f"wrote {lake.url}/{rel}")
        return 0
    if args.action == "list":
        import pyarrow as pa
        rows = [{"id": p.id, "name": p.name, "severity": p.severity, "group_by": p.group_by,
                 "new_within_days": p.new_within_days, "dedup_days": p.dedup_days, "conditions": json.dumps(p.conditions),
                 "from": p.where} for p in policies.load_policies(lake)]
        if args.format == "json":
            print(json.dumps({"policies": rows}))
        else:
            print_table(pa.Table.from_pylist(rows) if rows else pa.table({"id": pa.array([], pa.string())}), "table")
        return 0
    require_lake(lake)
    first, last = _range_or_recent(lake, args)
    found = policies.replay(lake, first, last)
    if args.format == "json":
        print(json.dumps({"from": first.isoformat(), "to": last.isoformat(), "would_fire": found}, default=str))
        return 0
    if not found:
        print(f"no policy would fire between {first} and {last}")
        return 0
    import pyarrow as pa
    print_table(pa.Table.from_pylist([{"date": a["date"], "policy": a["policy_id"], "app": a["app_id"],
                                       "group": a["group_value"], "users": a["users"],
                                       "top_users": a["top_users"][:3], "reason": a["reason"]} for a in found]), "table")
    return 0


def cmd_export(args) -> int:
    from etl import investigate
    from etl.export import export

    lake = Lake(args.lake)
    require_lake(lake)
    p = investigate.period(lake, args.from_, args.to, args.last, args.snapshot)
    result = export(p, args.table, args.format, Path(args.out), args.tenant_id)
    print(f"wrote {result['rows']:,} rows of {args.table} ({p.label}) as {args.format} to {result['path']} "
          f"({result['bytes']:,} bytes)")
    return 0


def cmd_dashboard(args) -> int:
    from etl import investigate
    from etl.dashboard import write_dashboard

    lake = Lake(args.lake)
    require_lake(lake)
    p = investigate.period(lake, args.from_, args.to, args.last, args.snapshot)
    started = time.monotonic()
    result = write_dashboard(lake, Path(args.out), p.first, p.last, p.snapshot)
    print(f"wrote the dashboard of {p.label}: {result['pages']:,} pages, {result['bytes']:,} bytes, in "
          f"{time.monotonic() - started:.1f}s")
    print(f"open {Path(result['index']).resolve().as_uri()}")
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

    report = command("report", help="show committed reports over a period (--from/--to or --last), or one "
                                     "snapshot's; investigate one machine, user, app or source IP")
    report.add_argument("what", choices=["machines", "apps", "users", "machine", "user", "app", "ip"])
    report.add_argument("name", nargs="?", help="machine name or id, user (UPN, DOMAIN\\name, any case), "
                                                "app id or name, or IP address")
    report.add_argument("--from", dest="from_", type=_date, default=None)
    report.add_argument("--to", type=_date, default=None)
    report.add_argument("--last", type=_last, default=None, metavar="7d|30d|90d",
                        help="the N days up to the latest committed day")
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

    catalog = command("catalog", help="the app catalog: look a host up, coverage stats, explain a score, "
                                      "suggest custom apps from unknown domains")
    catalog.add_argument("action", choices=["lookup", "stats", "explain", "suggest"])
    catalog.add_argument("target", nargs="?", help="HOST for lookup, APP (id or name) for explain")
    catalog.add_argument("--format", choices=["table", "json", "csv"], default="table",
                         help="csv: only for suggest (ready-to-paste reference/catalog/apps.csv rows)")
    catalog.add_argument("--from", dest="from_", type=_date, default=None, help="suggest: first day (default: 30 days before --to)")
    catalog.add_argument("--to", type=_date, default=None, help="suggest: last day (default: the latest committed day)")
    catalog.add_argument("--limit", type=_positive, default=20, help="suggest: how many domains (default 20)")
    catalog.set_defaults(func=_checked_catalog)

    tag = command("tag", help="sanction an app (sanctioned|unsanctioned|monitored|none), or show its tag history")
    tag.add_argument("app", metavar="APP", help="app id or name")
    tag.add_argument("tag", nargs="?", choices=["sanctioned", "unsanctioned", "monitored", "none"])
    tag.add_argument("--note", default=None, help="why (kept in the history)")
    tag.add_argument("--history", action="store_true", help="print the app's tag history")
    tag.add_argument("--format", choices=["table", "json"], default="table")
    tag.set_defaults(func=cmd_tag)

    block = command("block-script", help="print a block list of the tagged apps in an appliance's own syntax")
    block.add_argument("--format", required=True, choices=["squid", "panos", "fortigate", "zscaler", "bluecoat",
                                                           "cisco_asa", "juniper_srx", "websense", "domains"])
    block.add_argument("--tag", default="unsanctioned", choices=["sanctioned", "unsanctioned", "monitored"],
                       help="which tag to list (default unsanctioned)")
    block.set_defaults(func=cmd_block_script)

    rescore = command("rescore", help="recompute committed days' app tables (apps, machine_apps, user_apps, "
                                      "unknown_domains, alerts, app counts) under the current catalog, weights, "
                                      "overrides and tags, from their traffic")
    rescore.add_argument("--from", dest="from_", type=_date, required=True)
    rescore.add_argument("--to", type=_date, required=True)
    rescore.add_argument("--format", choices=["table", "json"], default="table")
    rescore.set_defaults(func=cmd_rescore)

    export = command("export", help="write a report table of a period (or snapshot) as csv, xlsx or parquet; "
                                     "--format sentinel: traffic as Microsoft Sentinel McasShadowItReporting rows")
    export.add_argument("table", metavar="TABLE", help="a report table (schemas/reports.yaml); traffic for sentinel")
    export.add_argument("--from", dest="from_", type=_date, default=None)
    export.add_argument("--to", type=_date, default=None)
    export.add_argument("--last", type=_last, default=None, metavar="7d|30d|90d")
    export.add_argument("--snapshot", default=None, metavar="ID")
    export.add_argument("--format", required=True, choices=["csv", "xlsx", "parquet", "sentinel"],
                        help="sentinel writes CSV, or a JSON array when --out ends in .json, or Parquet for .parquet")
    export.add_argument("--out", required=True, metavar="FILE")
    export.add_argument("--tenant-id", default=None, help="sentinel: the TenantId column (default empty)")
    export.set_defaults(func=cmd_export)

    board = command("dashboard", help="write a static, self-contained dashboard site (opens from disk, no network)")
    board.add_argument("--from", dest="from_", type=_date, default=None)
    board.add_argument("--to", type=_date, default=None)
    board.add_argument("--last", type=_last, default=None, metavar="7d|30d|90d")
    board.add_argument("--snapshot", default=None, metavar="ID")
    board.add_argument("--out", required=True, metavar="DIR", help="a local folder (created; its old pages are replaced)")
    board.set_defaults(func=cmd_dashboard)

    policy = command("policy", help="discovery policies: test them against committed days without writing, "
                                    "list them, or copy the templates into the lake (init)")
    policy.add_argument("action", choices=["test", "list", "init"])
    policy.add_argument("--from", dest="from_", type=_date, default=None, help="test: first day (default: 30 days before --to)")
    policy.add_argument("--to", type=_date, default=None, help="test: last day (default: the latest committed day)")
    policy.add_argument("--format", choices=["table", "json"], default="table")
    policy.set_defaults(func=cmd_policy)
    return parser


def _checked_catalog(args) -> int:
    if args.action in ("lookup", "explain") and not args.target:
        raise UserError(f"catalog {args.action} needs {'a HOST' if args.action == 'lookup' else 'an APP'}")
    if args.format == "csv" and args.action != "suggest":
        raise UserError("--format csv is for catalog suggest")
    return cmd_catalog(args)


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
