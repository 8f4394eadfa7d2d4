"""Re-scoring committed days under the current catalog, weights, overrides and tags, from the
committed traffic alone (raw logs are never read again).

Traffic's app columns are re-matched when the catalog changed (an organisation's own apps, a
new shipped catalog); the app-level tables (apps, machine_apps, user_apps, unknown_domains,
alerts) are rebuilt from the re-matched traffic's cube, and the app counts of machines, users
and ip_addresses are recounted. The rest of the day (user and IP histories, OS, device names)
stands as committed. Each rescore is a new version of the day: its files get new names, the new
manifest lands last, and only then do the old version's files go, so a reader following
manifests never sees a mix.
"""
from __future__ import annotations

from datetime import date

import pyarrow as pa
import pyarrow.compute as pc

from etl import code_version, reports, schema
from etl.catalog import lake_catalog
from etl.catalog.score import app_risk
from etl.identity import load_directory
from etl.policies import evaluate_day
from etl.storage import Lake, manifest_path, report_file

REBUILT = ("apps", "machine_apps", "user_apps", "unknown_domains", "alerts")
RECOUNTED = {"machines": "device_id", "users": "user", "ip_addresses": "src_ip"}  # table -> its cube key
TRAFFIC_COLUMNS = schema.report_schema("traffic").names


def rematch(batch: pa.Table, catalog) -> pa.Table:
    """Traffic rows with app_id, app_name, category from `catalog`."""
    matched = catalog.match(batch.column("dest_host"), batch.column("dest_ip"))
    for name in ("app_id", "app_name", "category"):
        batch = batch.set_column(batch.schema.get_field_index(name), name, matched.column(name))
    return schema.conform(batch, "traffic")


def recount_apps(table: pa.Table, cube: pa.Table, key: str, cube_key: str) -> pa.Table:
    """`table` with its `apps` column recounted from the cube (distinct matched apps per key)."""
    counts = cube.filter(pc.is_valid(cube.column(cube_key))).group_by(cube_key, use_threads=False).aggregate(
        [("app_id", "count_distinct")])
    counts = reports.decoded(counts)
    at = pc.index_in(table.column(key), value_set=counts.column(cube_key))
    apps = pc.fill_null(pc.take(counts.column("app_id_count_distinct"), at), 0)
    return table.set_column(table.schema.get_field_index("apps"), "apps", apps)


def _names(machines: pa.Table) -> pa.Table:
    return machines.select(["device_id", "device_name"])


def rescore_day(lake_url: str | None, day: date) -> dict:
    """One committed day under the current catalog and scoring, as a new version of the day."""
    lake = Lake(lake_url)
    rel = manifest_path(day)
    if not lake.exists(rel):
        return {"date": day.isoformat(), "skipped": "not committed"}
    manifest = lake.read_json(rel)
    version = manifest.get("version", 1) + 1
    catalog = lake_catalog(lake)
    risk, scoring = app_risk(lake, catalog)
    directory, _ = load_directory(lake)
    outputs = dict(manifest["outputs"])
    written: list[str] = []

    rematched = catalog.version != manifest.get("catalog_version")
    cube = reports.CubeBuilder()
    traffic_files = []
    for part, file in enumerate(manifest["outputs"]["traffic"]["files"]):
        if not rematched:
            for batch in lake.iter_parquet(file["path"], TRAFFIC_COLUMNS):
                cube.add(batch)
            continue
        target = report_file("traffic", day, part).replace(".parquet", f"-v{version}.parquet")
        sink = lake.parquet_sink(target, schema.report_schema("traffic"))
        try:
            for batch in lake.iter_parquet(file["path"], TRAFFIC_COLUMNS):
                batch = rematch(batch, catalog)
                sink.write(batch)
                cube.add(batch)
        finally:
            traffic_files.append(sink.close())
        written.append(target)
    if rematched:
        outputs["traffic"] = {**outputs["traffic"], "files": traffic_files,
                              "rows": sum(f["rows"] for f in traffic_files),
                              "bytes": sum(f["bytes"] for f in traffic_files)}
    traffic_cube = cube.result()

    def committed(name: str) -> pa.Table:
        return pa.concat_tables([lake.read_parquet(f["path"]) for f in manifest["outputs"][name]["files"]])

    names = _names(committed("machines"))
    apps = reports.apps(traffic_cube, risk)
    changed = score_changes(committed("apps"), apps)
    tables = {
        "apps": apps,
        "machine_apps": reports.machine_apps(traffic_cube, names),
        "user_apps": reports.user_apps(traffic_cube),
        "unknown_domains": reports.unknown_domains(traffic_cube),
        "alerts": evaluate_day(lake, day, traffic_cube, risk, directory),
    }
    for name, cube_key in RECOUNTED.items():
        table = committed(name)
        key = "ip" if name == "ip_addresses" else cube_key
        tables[name] = schema.conform(recount_apps(table, traffic_cube, key, cube_key), name)
    for name, table in tables.items():
        target = report_file(name, day).replace(".parquet", f"-v{version}.parquet")
        entry = lake.write_parquet(target, table)
        outputs[name] = {"path": outputs.get(name, {}).get("path", target.rsplit("/", 1)[0]),
                         "rows": entry["rows"], "bytes": entry["bytes"], "files": [entry]}
        written.append(target)

    previous = {k: manifest.get(k) for k in ("catalog_version", "scoring", "code_version", "version")}
    new_manifest = {**manifest, "version": version, "code_version": code_version(),
                    "catalog_version": catalog.version, "scoring": scoring, "outputs": outputs,
                    "rescored": {"from_version": manifest.get("version", 1), "previous": previous,
                                 "traffic_rematched": rematched}}
    lake.write_json(rel, new_manifest)  # last: from here readers see the new version
    keep = {f["path"] for out in outputs.values() for f in out["files"]}
    for out in manifest["outputs"].values():
        for file in out["files"]:
            if file["path"] not in keep:
                lake.remove(file["path"])
    return {"date": day.isoformat(), "version": version, "traffic_rematched": rematched,
            "apps": tables["apps"].num_rows, "alerts": tables["alerts"].num_rows, "score_changes": changed}


def score_changes(before: pa.Table, after: pa.Table) -> int:
    """How many of the day's apps now have a different app, score or tag."""
    key = ["app_id", "score", "tag"]
    old = {tuple(r.values()) for r in before.select(key).to_pylist()}
    return sum(1 for r in after.select(key).to_pylist() if tuple(r.values()) not in old)
