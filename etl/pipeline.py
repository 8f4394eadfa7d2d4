"""One day of the continuous endpoint report, in three steps the DAG and the CLI share.

ingest_day  : raw window -> validated, attributed, cataloged traffic, its cube, context, quarantine (staged)
build_day   : staged cube + context -> every other report table (staged)
evaluate_policies_day : staged cube + the lake's history -> the day's alerts (staged)
commit_day  : staged files -> their partitions, then the manifest (last). Re-running a day
              replaces exactly that day; a partition without its manifest is not committed.
"""
from __future__ import annotations

import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from datetime import date
from itertools import chain

import pyarrow as pa
import pyarrow.compute as pc

from etl import code_version, reports, schema
from etl.attribute import UserHistory, attribute_users
from etl.catalog import Catalog, lake_catalog
from etl.catalog.score import app_risk
from etl.identity import Directory, load_directory
from etl.ingest import DayReader, PlannedInput, Settings, ledger_entry_path, plan_inputs, split_into_parts
from etl.policies import evaluate_day
from etl.sources import SOURCES
from etl.sources.base import CONTEXT_KINDS, day_bounds
from etl.storage import (
    Lake, Stage, manifest_path, quarantine_dir, quarantine_file, report_dir, report_file, stage_day_dir,
)
from etl.validate import SideValidator
from etl.workers import ChildProcessPool

SIDE_VALIDATION_MIN_BYTES = 64 << 20  # below this a GX child process costs more than it overlaps
PROCESS_PARTS_MIN_BYTES = 64 << 20  # below this, parts are read on threads: starting processes costs more


class RejectRatioExceeded(Exception):
    """Too much of a day's input was quarantined to trust the result."""


def new_run_id() -> str:
    return f"manual__{uuid.uuid4().hex[:12]}"


def _with_apps(transactions: pa.Table, catalog) -> pa.Table:
    matched = catalog.match(transactions.column("dest_host"), transactions.column("dest_ip"))
    table = pa.Table.from_arrays([*transactions.columns, *matched.columns],
                                 names=[*transactions.column_names, *matched.column_names])
    return schema.conform(table, "traffic")


def _check_reject_ratio(day: date, counts: dict, settings: Settings, stage: str) -> None:
    """Fail the day, saying why, when too many records or whole files were rejected."""
    where = f"Nothing was committed; the rejected input is staged under {stage}/ for inspection."
    read = sum(c.read for c in counts.values())
    rejected = sum(sum(c.quarantined.values()) for c in counts.values())
    if read and rejected / read > settings.max_reject_ratio:
        top = sorted(((n, r) for c in counts.values() for r, n in c.quarantined.items()), reverse=True)[:3]
        reasons = "; ".join(f"{r} ({n})" for n, r in top)
        raise RejectRatioExceeded(
            f"{day}: {rejected} of {read} records quarantined ({rejected / read:.1%}) exceeds the "
            f"allowed {settings.max_reject_ratio:.1%}; top reasons: {reasons}. {where}")
    files = sum(c.files for c in counts.values())
    unreadable = sum(c.files_unreadable for c in counts.values())
    if files and unreadable / files > settings.max_reject_ratio:
        raise RejectRatioExceeded(
            f"{day}: {unreadable} of {files} input files could not be read at all ({unreadable / files:.1%}) "
            f"exceeds the allowed {settings.max_reject_ratio:.1%}. {where}")


@dataclass
class Preparer:
    """Transactions -> traffic rows: user attribution and catalog matching, counting how each
    row was attributed. Picklable, so every part of a day (thread or process) gets its own."""
    history: UserHistory
    directory: Directory
    catalog: Catalog
    attribution: Counter = field(default_factory=Counter)

    def __call__(self, transactions: pa.Table) -> pa.Table:
        attributed, stats = attribute_users(transactions, self.history, self.directory)
        self.attribution.update(stats)
        return _with_apps(attributed, self.catalog)


@dataclass
class PartResult:
    reader: DayReader     # counts, quarantine, context, inputs, samples of the part's objects
    traffic: dict         # the staged traffic file: path, rows, bytes, sha256
    cube: pa.Table        # the part's traffic cube
    attribution: Counter


def ingest_part(lake_url: str | None, day: date, settings: Settings, items: list[PlannedInput],
                traffic_rel: str, preparer: Preparer, leading: list[pa.Table]) -> PartResult:
    """One part of a day's input -> its own traffic file and cube (runs in a worker process or
    thread). `leading`: transactions found earlier (in context files), written first."""
    lake = Lake(lake_url)
    preparer = replace(preparer, attribution=Counter())
    reader = DayReader(lake, day, settings)
    sink = lake.parquet_sink(traffic_rel, schema.report_schema("traffic"))
    cube = reports.CubeBuilder()
    try:
        for batch in chain((preparer(t) for t in leading), reader.read_all(items, preparer)):
            if batch is not None:
                sink.write(batch)
                cube.add(batch)
    finally:
        traffic = sink.close()
    result = PartResult(reader, traffic, cube.result(), preparer.attribution)
    pa.default_memory_pool().release_unused()  # before the result is copied out of a worker process
    return result


def _part_pool(planned: list[PlannedInput], parts: int):
    """Processes for big days (pyarrow's JSON reader and the Python between Arrow calls hold the
    GIL, so threads would share one core), threads for small ones (nothing to win back)."""
    if parts > 1 and sum(p.size for p in planned) >= PROCESS_PARTS_MIN_BYTES:
        return ChildProcessPool(parts)
    return ThreadPoolExecutor(max_workers=parts)


def include_snapshots(lake: Lake, day: date, traffic_rel: str, cube: reports.CubeBuilder) -> dict:
    """The day's rows of every committed snapshot (uploaded appliance logs), already parsed and
    attributed, into the day's traffic as one more part: raw uploads are never parsed again."""
    from etl.snapshot import snapshots_covering

    covering = snapshots_covering(lake, day)
    if not covering:
        return {"snapshots": [], "files": []}
    start, end = day_bounds(day)
    sink = lake.parquet_sink(traffic_rel, schema.report_schema("traffic"))
    used = []
    try:
        for manifest in covering:
            rows = 0
            for file in manifest["outputs"]["traffic"]["files"]:
                for batch in lake.iter_parquet(file["path"], schema.report_schema("traffic").names):
                    ts = batch.column("ts")
                    mine = batch.filter(pc.and_(pc.greater_equal(ts, pa.scalar(start, ts.type)),
                                                pc.less(ts, pa.scalar(end, ts.type))))
                    if mine.num_rows:
                        sink.write(mine)
                        cube.add(reports.cube(mine))  # the day's builder folds cubes of parts
                        rows += mine.num_rows
            used.append({"snapshot_id": manifest["snapshot_id"], "rows": rows})
    finally:
        entry = sink.close()
    return {"snapshots": used, "files": [entry]}


def ingest_day(lake_url: str | None, day: date, run_id: str, settings: Settings | None = None) -> dict:
    """Raw window -> staged traffic (validated, attributed, cataloged), context and quarantine.

    Context files are read first (attribution needs them). The other objects are split into
    `settings.workers` parts of about equal size, read in parallel: each part streams its objects
    in pieces that are parsed, attributed and appended to the part's traffic file and cube, so
    memory stays bounded by the piece size rather than the day."""
    settings = settings or Settings()
    lake = Lake(lake_url)
    stage = Stage.of(day, run_id)
    lake.remove(stage.root)
    planned = plan_inputs(lake, day, settings)
    validator = SideValidator(in_process=sum(p.size for p in planned) < SIDE_VALIDATION_MIN_BYTES)
    others = [p for p in planned if not p.reads_first]
    parts = split_into_parts(others, settings.workers)
    pool = _part_pool(others, len(parts))
    try:
        directory, directory_input = load_directory(lake)
        catalog = lake_catalog(lake)
        reader = DayReader(lake, day, settings)
        held_back = [tx for tx in reader.read_all([p for p in planned if p.reads_first]) if tx is not None]
        preparer = Preparer(UserHistory.from_context(reader.context_tables(), directory), directory, catalog)
        # context folders' samples are complete now (parts sample only their own folders): check them meanwhile
        checks = {key: validator.submit(sample, key[0], key[1], key[0])
                  for key, sample in reader.validation_samples().items()}
        running = [pool.submit(ingest_part, lake_url, day, settings, items, stage.traffic(k), preparer,
                               held_back if k == 0 else [])
                   for k, items in enumerate(parts)]
        results = [job.result() for job in running]

        attribution: Counter = Counter()
        traffic_cube = reports.CubeBuilder()
        for result in results:
            reader.merge(result.reader)
            attribution.update(result.attribution)
            traffic_cube.add(result.cube)
        reader.check()
        for key, sample in reader.validation_samples().items():
            if key not in checks:
                checks[key] = validator.submit(sample, key[0], key[1], key[0])

        quarantine = reader.quarantine_table()
        staged_quarantine = {}
        for source in SOURCES:
            rows = quarantine.filter(pc.equal(quarantine.column("source"), source))
            if rows.num_rows:
                staged_quarantine[source] = lake.write_parquet(stage.quarantine(source), rows)
        _check_reject_ratio(day, reader.counts, settings, lake.full(stage.quarantine_dir))

        staged_traffic = [result.traffic for result in results]
        from_snapshots = include_snapshots(lake, day, stage.traffic(len(staged_traffic)), traffic_cube)
        if from_snapshots["files"]:
            staged_traffic.append(from_snapshots.pop("files")[0])
        from_snapshots.pop("files", None)
        lake.write_parquet(stage.cube, traffic_cube.result())
        for name, table in reader.context_tables().items():
            if table is not None and table.num_rows:
                lake.write_parquet(stage.context(name), table)
        validation = [checks[key].result() for key in sorted(checks, key=str)]
    finally:
        pool.shutdown(cancel_futures=True)
        validator.close()

    draft = {
        "date": day.isoformat(),
        "run_id": run_id,
        "code_version": code_version(),
        "catalog_version": catalog.version,
        "settings": asdict(settings),
        "inputs": sorted(reader.inputs, key=lambda i: i["path"]) + ([directory_input] if directory_input else []),
        "counts": {s: c.as_dict() for s, c in sorted(reader.counts.items())},
        "attribution": dict(sorted(attribution.items())),
        "validation": validation,
        "late": reader.strays,
        "snapshots": from_snapshots["snapshots"],
        "staged": {"traffic": staged_traffic, "quarantine": staged_quarantine},
    }
    lake.write_json(stage.draft, draft)
    return {"date": day.isoformat(), "run_id": run_id, "transactions": sum(t["rows"] for t in staged_traffic),
            "counts": draft["counts"], "late": {d: sum(v.values()) for d, v in reader.strays.items()}}


def build_day(lake_url: str | None, day: date, run_id: str) -> dict:
    lake = Lake(lake_url)
    stage = Stage.of(day, run_id)
    if not lake.exists(stage.draft):
        raise FileNotFoundError(f"{day}: nothing staged for run {run_id}; run the ingest step first")
    pa.default_memory_pool().release_unused()  # after ingest in the same process (--direct), start lean
    directory, _ = load_directory(lake)
    traffic_cube = lake.read_parquet(stage.cube)
    context = {}
    for name in CONTEXT_KINDS:
        path = stage.context(name)
        context[name] = lake.read_parquet(path) if lake.exists(path) else None
    risk, scoring = app_risk(lake)
    tables = reports.build_reports(day, traffic_cube, context, directory, risk)
    lake.write_parquet(stage.risk, risk)
    staged = {name: lake.write_parquet(stage.report(name), table) for name, table in tables.items()}
    lake.write_json(stage.reports_index, staged)
    lake.write_json(stage.draft, {**lake.read_json(stage.draft), "scoring": scoring})
    return {"date": day.isoformat(), "run_id": run_id,
            "rows": {n: t.num_rows for n, t in tables.items()}}


def evaluate_policies_day(lake_url: str | None, day: date, run_id: str) -> dict:
    """The discovery policies (reference/policies/) on the staged day -> its staged alerts."""
    lake = Lake(lake_url)
    stage = Stage.of(day, run_id)
    if not lake.exists(stage.risk):
        raise FileNotFoundError(f"{day}: no reports staged for run {run_id}; run the build step first")
    directory, _ = load_directory(lake)
    alerts = evaluate_day(lake, day, lake.read_parquet(stage.cube), lake.read_parquet(stage.risk), directory)
    index = lake.read_json(stage.reports_index)
    index["alerts"] = lake.write_parquet(stage.report("alerts"), alerts)
    lake.write_json(stage.reports_index, index)
    return {"date": day.isoformat(), "run_id": run_id, "alerts": alerts.num_rows,
            "policies": sorted(set(alerts.column("policy_id").to_pylist()))}


def commit_day(lake_url: str | None, day: date, run_id: str) -> dict:
    """Publish the staged day: data files first, manifest last."""
    lake = Lake(lake_url)
    stage = Stage.of(day, run_id)
    draft = lake.read_json(stage.draft)
    staged = draft.pop("staged")
    staged_files = {"traffic": staged["traffic"], **{name: [entry] for name, entry in lake.read_json(stage.reports_index).items()}}
    staged_quarantine = staged["quarantine"]
    manifest_rel = manifest_path(day)
    lake.remove(manifest_rel)  # from here until the new manifest lands, the day is not committed

    outputs = {}
    for name in schema.report_tables():
        lake.remove(report_dir(name, day))
        files = []
        for part, entry in enumerate(staged_files[name]):
            target = report_file(name, day, part)
            lake.move(entry["path"], target)
            files.append({**entry, "path": target})
        outputs[name] = {"path": report_dir(name, day), "rows": sum(f["rows"] for f in files),
                         "bytes": sum(f["bytes"] for f in files), "files": files}

    quarantined = {}
    for source in SOURCES:
        lake.remove(quarantine_dir(source, day))
        entry = staged_quarantine.get(source)
        if entry:
            target = quarantine_file(source, day)
            lake.move(entry["path"], target)
            quarantined[source] = {**entry, "path": target}

    for other_day, files in sorted(draft["late"].items()):
        for path, events in sorted(files.items()):
            lake.write_json(ledger_entry_path(date.fromisoformat(other_day), path),
                            {"path": path, "events": events, "found_by": day.isoformat()})

    manifest = {**draft, "partition": f"date={day.isoformat()}", "outputs": outputs, "quarantine": quarantined}
    lake.write_json(manifest_rel, manifest)
    lake.remove(stage_day_dir(day))  # this run's stage, and any a failed attempt left for inspection
    return {"date": day.isoformat(), "manifest": manifest_rel,
            "rows": {name: out["rows"] for name, out in outputs.items()}}


def run_day(lake_url: str | None, day: date, run_id: str | None = None, settings: Settings | None = None) -> dict:
    """The steps in-process (what `cloud-discovery run --direct` does)."""
    run_id = run_id or new_run_id()
    ingested = ingest_day(lake_url, day, run_id, settings)
    build_day(lake_url, day, run_id)
    evaluate_policies_day(lake_url, day, run_id)
    committed = commit_day(lake_url, day, run_id)
    return {**ingested, **committed}
