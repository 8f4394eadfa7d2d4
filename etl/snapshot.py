"""Snapshot reports from uploaded firewall / proxy logs (uploads/<data-source>/<file>).

find_uploads   : uploads whose content has not been turned into a snapshot yet (path + ETag or
                 size/mtime, then sha256: a re-upload of identical content does nothing)
build_snapshot : one upload -> snapshots/<id>/<table>/part-0.parquet, quarantine, manifest last

An upload is read member by member (gzip, bzip2, zip; a corrupt member or a decompression
bomb is quarantined with its reason, the good members still go through). Each member's
format is detected from its first lines (or named: --log-format), parsed by its source,
then attributed: a log's own user wins; otherwise (source IP, time) -> the device that held
the IP then, from the endpoint data of the lake, and device -> the user on it at that time.
"""
from __future__ import annotations

import hashlib
from collections import Counter, deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta

import pyarrow as pa
import pyarrow.compute as pc

from etl import code_version, reports, schema, sources
from etl.attribute import AsOfIndex, DeviceHistory, UserHistory, attribute_devices, attribute_users, changes
from etl.catalog import lake_catalog
from etl.catalog.score import app_risk
from etl.identity import Directory, load_directory
from etl.ingest import QUARANTINE_SCHEMA, CHUNK_BYTES, Settings, _quarantine_rows, _reason_key, _value_counts
from etl.sources.base import Source
from etl.sources.framing.lines import PieceCutter, is_blank, raw_lines
from etl.storage import (
    UPLOADS_PREFIX, ArchiveLimits, Lake, StorageError, custom_parser_path, is_zip, manifest_path,
    snapshot_dir, snapshot_file, snapshot_manifest_path, snapshot_manifests_dir, upload_ledger_path,
    upload_source, ZipArchive,
)

SOURCE_SETTINGS = "_source.json"  # uploads/<data-source>/_source.json: {"log_format": ...}
HISTORY_DAYS_BEFORE = 1  # endpoint days read before a snapshot's first day, for IP and user history


class SnapshotError(ValueError):
    """An upload that cannot become a snapshot at all (said in one line)."""


def snapshot_id(data_source: str, sha256: str) -> str:
    """Content-addressed: the same bytes for the same data source always make the same snapshot."""
    return f"{data_source}-{sha256[:16]}"


# ---------------------------------------------------------------------------
# Which uploads are new or changed
# ---------------------------------------------------------------------------

@dataclass
class Upload:
    path: str
    data_source: str
    log_format: str | None   # None: detect per file
    fingerprint: str
    size: int

    def as_dict(self) -> dict:
        return {"path": self.path, "data_source": self.data_source, "log_format": self.log_format,
                "fingerprint": self.fingerprint, "size": self.size}


def data_source_format(lake: Lake, data_source: str) -> str | None:
    """The format an upload folder was declared with (`upload --log-format`), else None (detect);
    a folder named after a registered format means that format."""
    rel = f"{UPLOADS_PREFIX}/{data_source}/{SOURCE_SETTINGS}"
    if lake.exists(rel):
        fmt = lake.read_json(rel).get("log_format")
        return None if fmt in (None, "auto") else fmt
    return data_source if data_source in sources.SOURCES and data_source not in sources.ENDPOINT_SOURCES else None


def find_uploads(lake: Lake) -> list[Upload]:
    """Uploads whose fingerprint differs from the one their last snapshot was built from."""
    found = []
    formats: dict[str, str | None] = {}
    for obj in lake.list_files(UPLOADS_PREFIX):
        name = obj.path.rsplit("/", 1)[-1]
        data_source = upload_source(obj.path)
        if data_source is None or name.startswith(("_", ".")):
            continue
        if data_source not in formats:
            formats[data_source] = data_source_format(lake, data_source)
        fingerprint = lake.fingerprint(obj.path)
        ledger = upload_ledger_path(obj.path)
        if lake.exists(ledger) and lake.read_json(ledger).get("fingerprint") == fingerprint:
            continue
        found.append(Upload(obj.path, data_source, formats[data_source], fingerprint, obj.size))
    return found


# ---------------------------------------------------------------------------
# Reading one upload
# ---------------------------------------------------------------------------

def resolve_source(lake: Lake, log_format: str) -> Source:
    """A registered format, or `custom:<name>` from reference/parsers/<name>.yaml in the lake."""
    if log_format.startswith("custom:"):
        name = log_format.split(":", 1)[1]
        rel = custom_parser_path(name)
        if not lake.exists(rel):
            raise SnapshotError(f"no custom format {name!r}: {lake.url}/{rel} does not exist")
        from etl.sources.custom import load_custom
        return load_custom(name, lake.read_bytes(rel).decode("utf-8"))
    if log_format not in sources.SOURCES:
        raise SnapshotError(f"unknown log format {log_format!r}; known: {', '.join(sorted(sources.SOURCES))}, custom:<name>")
    return sources.SOURCES[log_format]


@dataclass
class Counts:
    read: int = 0
    accepted: int = 0
    context: int = 0
    skipped: Counter = field(default_factory=Counter)
    quarantined: Counter = field(default_factory=Counter)
    files_refused: int = 0  # files or archive members quarantined whole (unknown format, corrupt, bomb)

    def reconciles(self) -> bool:
        return self.read == self.accepted + self.context + sum(self.skipped.values()) + sum(self.quarantined.values())

    def as_dict(self) -> dict:
        return {"read": self.read, "accepted": self.accepted, "context": self.context,
                "skipped": dict(sorted(self.skipped.items())), "quarantined": dict(sorted(self.quarantined.items())),
                "files_refused": self.files_refused, "reconciled": self.reconciles()}


WORKERS = 2  # pieces of one upload in work at once: the machines this runs on have two cores or more


def _parse_and_classify(source: Source, reader, data: bytes, first_line: int, newlines: int):
    parsed = reader.parse(data, first_line, newlines)
    return parsed, source.classify(parsed.rows)


class UploadReader:
    """Reads every member of one upload, accounting for every line; keeps the canonical
    transactions (all days: a snapshot covers whatever its log covers)."""

    def __init__(self, lake: Lake, upload: Upload, settings: Settings):
        self.lake, self.upload = lake, upload
        self.limits = ArchiveLimits(max_ratio=settings.max_expansion_ratio,
                                    max_bytes=int(settings.max_decoded_gb * (1 << 30)))
        self.forced = resolve_source(lake, upload.log_format) if upload.log_format else None
        self.counts = Counts()
        self.members: list[dict] = []
        self.quarantine: list[pa.Table] = []
        self.formats: Counter = Counter()
        self.size, self.sha256 = 0, None

    def transactions(self):
        """Canonical transaction tables, piece by piece."""
        if is_zip(self.lake, self.upload.path):
            self.size, self.sha256 = self.lake.sha256(self.upload.path)
            try:
                archive = ZipArchive(self.lake, self.upload.path, self.limits)
            except StorageError as exc:
                self._refuse_whole(self.upload.path, str(exc), None)
                self.members.append({"path": self.upload.path, "bytes": self.size, "decoded": 0, "format": None,
                                     "refused": str(exc)})
                return
            with archive:
                for member in archive.members:
                    yield from self._read_member(member)
        else:
            stream = self.lake.raw_stream(self.upload.path, limits=self.limits)
            yield from self._read_member(stream)
            self.size, self.sha256 = stream.size, stream.sha256

    def _read_member(self, stream):
        """A big upload is one task, so its pieces use both cores here (Arrow kernels and
        read_csv release the GIL): a stateless reader's pieces are parsed and classified two at
        a time; a reader that keeps state from piece to piece (a header) parses in order on this
        thread while the piece before is classified. Results are taken in order, at most
        `WORKERS` pieces ahead, so memory stays flat."""
        cutter = PieceCutter(CHUNK_BYTES)
        source, reader, refused = self.forced, None, None
        in_flight: deque = deque()
        with ThreadPoolExecutor(WORKERS, thread_name_prefix="piece") as pool:
            for piece, first_line, newlines in cutter.pieces(stream.blocks()):
                if reader is None:
                    if is_blank(piece):
                        continue
                    head = bytes(piece[:sources.SNIFF_BYTES])
                    if source is None:
                        detection = sources.detect(head)
                        if detection.best is None:
                            refused = (detection.explain(), head[:2000].decode("utf-8", "replace"))
                            stream.drain()
                            break
                        source = sources.get(detection.best)
                    reader = source.reader()
                data = bytes(piece)  # its own copy: the cutter reuses its buffer meanwhile
                if getattr(reader, "stateless", False):
                    work = pool.submit(_parse_and_classify, source, reader, data, first_line, newlines)
                else:
                    parsed = reader.parse(data, first_line, newlines)
                    work = pool.submit(lambda p=parsed: (p, source.classify(p.rows)))
                in_flight.append((data, first_line, work))
                while len(in_flight) >= WORKERS:
                    yield from self._finish(stream.label, source, *in_flight.popleft())
            while in_flight:
                yield from self._finish(stream.label, source, *in_flight.popleft())
        record = {"path": stream.label, "bytes": stream.size, "decoded": stream.decoded,
                  "format": source.name if source is not None and not refused else None}
        if refused or (stream.problem and stream.decoded == 0):
            reason, raw = refused or (f"unreadable file: {stream.problem}", None)
            record["refused"] = reason
            self._refuse_whole(stream.label, reason, raw)
        elif stream.problem:
            record["warning"] = f"truncated: {stream.problem}; {stream.decoded:,} bytes recovered"
            self._refuse_whole(stream.label, f"rest of file unreadable: {stream.problem}", None, count=False)
        if source is not None and not refused:
            self.formats[source.name] += 1
        self.members.append(record)

    def _finish(self, label, source, data, first_line, work):
        parsed, classified = work.result()
        self._account(label, source, data, first_line, parsed, classified)
        if classified.transactions.num_rows:
            yield classified.transactions.append_column(
                "input_path", pa.array([label] * classified.transactions.num_rows, pa.string()))

    def _refuse_whole(self, label: str, reason: str, raw: str | None, count: bool = True) -> None:
        """A file (or archive member) that cannot be read at all: one quarantine row, no lines."""
        self.quarantine.append(_quarantine_rows(self.upload.data_source, label, [None], [reason], [raw]))
        if count:
            self.counts.files_refused += 1

    def _account(self, label, source, piece, first_line, parsed, classified) -> None:
        c = self.counts
        c.read += parsed.lines
        c.accepted += classified.transactions.num_rows
        for reason, n in _value_counts(classified.skipped.column("reason")).items():
            c.skipped[reason] += n
        c.context += (classified.lines() - classified.rejected.num_rows - classified.transactions.num_rows
                      - classified.skipped.num_rows)
        if parsed.rejects:
            for _, reason, _ in parsed.rejects:
                c.quarantined[_reason_key(reason)] += 1
            self.quarantine.append(_quarantine_rows(self.upload.data_source, label, [r[0] for r in parsed.rejects],
                                                    [r[1] for r in parsed.rejects], [r[2] for r in parsed.rejects]))
        rejected = classified.rejected
        if rejected.num_rows:
            lines = rejected.column("input_line").to_pylist()
            reasons = rejected.column("reason").to_pylist()
            texts = raw_lines(piece, lines, first_line)
            for reason in reasons:
                c.quarantined[_reason_key(reason)] += 1
            self.quarantine.append(_quarantine_rows(self.upload.data_source, label, lines, reasons,
                                                    [texts.get(n) for n in lines]))

    def quarantine_table(self) -> pa.Table:
        if not self.quarantine:
            return QUARANTINE_SCHEMA.empty_table()
        return pa.concat_tables(self.quarantine)


# ---------------------------------------------------------------------------
# Attribution history from the lake's endpoint data
# ---------------------------------------------------------------------------

def endpoint_history(lake: Lake, first: date, last: date) -> tuple[DeviceHistory, UserHistory, int]:
    """Who held which IP and who used which device, from the committed endpoint days around a
    snapshot: every endpoint transaction's (time, local IP, device, user), DeviceNetworkInfo
    leases and interactive logons (as the committed machine_ips / machine_users keep them).
    Returns the histories and how many committed days they come from."""
    from etl.query import committed_days

    days = committed_days(lake, first - timedelta(days=HISTORY_DAYS_BEFORE), last)
    ips, users = [], []
    for day in days:
        outputs = lake.read_json(manifest_path(day))["outputs"]
        for file in outputs.get("traffic", {}).get("files", []):
            for batch in lake.iter_parquet(file["path"], ["ts", "source", "device_id", "device_name", "src_ip", "user"]):
                batch = batch.filter(pc.is_in(batch.column("source"), value_set=pa.array(sources.ENDPOINT_SOURCES)))
                ips.append(changes(batch.select(["ts", "src_ip", "device_id", "device_name"]).rename_columns(
                    ["ts", "ip", "device_id", "device_name"]), "ip", "device_id"))
                users.append(changes(batch.select(["ts", "device_id", "user"]), "device_id", "user"))
        for file in outputs.get("machine_ips", {}).get("files", []):
            leases = lake.read_parquet(file["path"])
            leases = leases.filter(pc.equal(leases.column("source"), "network_info"))
            for column in ("first_seen", "last_seen"):
                ips.append(leases.select([column, "ip", "device_id", "device_name"]).rename_columns(
                    ["ts", "ip", "device_id", "device_name"]))
        for file in outputs.get("machine_users", {}).get("files", []):
            logons = lake.read_parquet(file["path"])
            logons = logons.filter(pc.is_in(logons.column("source"), value_set=pa.array(["logon", "logged_on_users"])))
            for column in ("first_seen", "last_seen"):
                users.append(logons.select([column, "device_id", "user"]).rename_columns(["ts", "device_id", "user"]))
    ip_rows = pa.concat_tables(ips, promote_options="permissive") if ips else pa.table({
        "ts": pa.array([], schema.TIMESTAMP), "ip": pa.array([], pa.string()),
        "device_id": pa.array([], pa.string()), "device_name": pa.array([], pa.string())})
    user_rows = pa.concat_tables(users, promote_options="permissive") if users else pa.table({
        "ts": pa.array([], schema.TIMESTAMP), "device_id": pa.array([], pa.string()), "user": pa.array([], pa.string())})
    user_index = AsOfIndex(changes(user_rows, "device_id", "user"))
    no_list = AsOfIndex(user_rows.slice(0, 0))
    return DeviceHistory.from_sightings(ip_rows), UserHistory(user_index, no_list), len(days)


@dataclass
class SnapshotPreparer:
    """Canonical appliance transactions -> traffic rows: device by IP, user, catalog."""
    devices: DeviceHistory
    users: UserHistory
    directory: Directory
    catalog: object
    attribution: Counter = field(default_factory=Counter)

    def __call__(self, transactions: pa.Table) -> pa.Table:
        from etl.pipeline import _with_apps

        with_devices, stats = attribute_devices(transactions, self.devices)
        self.attribution.update(stats)
        attributed, stats = attribute_users(with_devices, self.users, self.directory)
        self.attribution.update(stats)
        self.attribution["rows"] += attributed.num_rows
        self.attribution["with_device"] += int(pc.sum(pc.is_valid(attributed.column("device_id"))).as_py() or 0)
        self.attribution["with_user"] += int(pc.sum(pc.is_valid(attributed.column("user"))).as_py() or 0)
        return _with_apps(attributed, self.catalog)


def attribution_shares(stats: Counter) -> dict:
    rows = stats.get("rows", 0)
    share = (lambda n: round(n / rows, 4) if rows else None)
    return {"transactions": rows, "device_share": share(stats.get("with_device", 0)),
            "user_share": share(stats.get("with_user", 0)), "methods": {k: v for k, v in sorted(stats.items())
                                                                         if k not in ("rows", "with_device", "with_user")}}


# ---------------------------------------------------------------------------
# Building one snapshot
# ---------------------------------------------------------------------------

CANONICAL_STAGED = schema.canonical_schema("transactions").append(pa.field("input_path", pa.string()))


def build_snapshot(lake_url: str | None, upload: Upload | dict, settings: Settings | None = None) -> dict:
    """One upload -> its snapshot (idempotent: the same content gives the same snapshot id and
    the same files). Returns the manifest."""
    settings = settings or Settings.from_env()
    lake = Lake(lake_url)
    upload = Upload(**upload) if isinstance(upload, dict) else upload
    size, sha256 = lake.sha256(upload.path)
    sid = snapshot_id(upload.data_source, sha256)
    if lake.exists(snapshot_manifest_path(sid)):  # the same bytes were already turned into this snapshot
        manifest = lake.read_json(snapshot_manifest_path(sid))
        _note_upload(lake, upload, sha256, sid)
        return {**manifest, "unchanged": True}

    staging = f"{snapshot_dir('_staging')}/{hashlib.sha1(upload.path.encode()).hexdigest()}"
    lake.remove(staging)
    reader = UploadReader(lake, upload, settings)
    sink = lake.parquet_sink(f"{staging}/transactions.parquet", CANONICAL_STAGED)
    first = last = None
    try:
        for batch in reader.transactions():
            sink.write(pa.Table.from_arrays([batch.column(f.name).cast(f.type) for f in CANONICAL_STAGED],
                                            schema=CANONICAL_STAGED))
            lo, hi = pc.min(batch.column("ts")).as_py(), pc.max(batch.column("ts")).as_py()
            first = lo if first is None or lo < first else first
            last = hi if last is None or hi > last else last
    except BaseException:
        sink.close()
        lake.remove(staging)
        raise
    staged = sink.close()
    if not reader.counts.reconciles():
        raise AssertionError(f"counts for {upload.path} do not reconcile: {reader.counts.as_dict()}")

    directory, directory_input = load_directory(lake)
    catalog = lake_catalog(lake)
    history_days = 0
    if first is not None:
        devices, users, history_days = endpoint_history(lake, first.date(), last.date())
    else:
        devices, users, _ = endpoint_history(lake, date.min + timedelta(days=2), date.min + timedelta(days=2))
    prepare = SnapshotPreparer(devices, users, directory, catalog)

    remove_snapshot(lake, sid)
    traffic_sink = lake.parquet_sink(snapshot_file(sid, "traffic"), schema.report_schema("traffic"))
    cube = reports.CubeBuilder()
    days: Counter = Counter()
    try:
        if staged["rows"]:
            for batch in lake.iter_parquet(staged["path"], CANONICAL_STAGED.names):
                traffic = prepare(batch)
                traffic_sink.write(traffic)
                cube.add(traffic)
                days.update(_value_counts(pc.cast(pc.cast(traffic.column("ts"), pa.date32()), pa.string())))
    finally:
        traffic_file = traffic_sink.close()
    lake.remove(staging)

    outputs = {"traffic": {"path": f"{snapshot_dir(sid)}/traffic", "rows": traffic_file["rows"], "files": [traffic_file]}}
    risk, scoring = app_risk(lake, catalog)
    snapshot_cube = cube.result()
    tables = reports.build_reports(None, snapshot_cube, {}, directory, risk)
    tables["alerts"] = snapshot_alerts(lake, snapshot_cube, risk, directory, first, last)
    for name, table in tables.items():
        entry = lake.write_parquet(snapshot_file(sid, name), table)
        outputs[name] = {"path": f"{snapshot_dir(sid)}/{name}", "rows": entry["rows"], "files": [entry]}
    quarantine = reader.quarantine_table()
    quarantined = lake.write_parquet(snapshot_file(sid, "quarantine"), quarantine) if quarantine.num_rows else None

    manifest = {
        "snapshot_id": sid,
        "data_source": upload.data_source,
        "log_format": upload.log_format or "auto",
        "formats": dict(sorted(reader.formats.items())),
        "inputs": [{"path": upload.path, "size": size, "sha256": sha256, "fingerprint": upload.fingerprint,
                    "members": reader.members}] + ([directory_input] if directory_input else []),
        "counts": reader.counts.as_dict(),
        "time_range": {"first": first.isoformat() if first else None, "last": last.isoformat() if last else None},
        "days": dict(sorted(days.items())),
        "attribution": {**attribution_shares(prepare.attribution), "history_days": history_days},
        "code_version": code_version(),
        "catalog_version": catalog.version,
        "scoring": scoring,
        "outputs": outputs,
        "quarantine": quarantined,
    }
    lake.write_json(snapshot_manifest_path(sid), manifest)  # last: from here the snapshot is committed
    _note_upload(lake, upload, sha256, sid)
    return manifest


def snapshot_alerts(lake: Lake, cube: pa.Table, risk: pa.Table, directory, first, last) -> pa.Table:
    """The policies on the whole snapshot as one period ending on its last day; "new" means not
    used in the continuous reports before the snapshot's first day. No dedup against the daily
    alerts: a snapshot is a one-off look."""
    from etl.policies import evaluate, lake_history, load_policies

    policies = load_policies(lake)
    if first is None or not policies:
        return schema.report_schema("alerts").empty_table()
    history = lake_history(lake, first.date(), policies, directory)
    history.alerted = {}
    return evaluate(policies, last.date(), cube, risk, directory, history)


def _note_upload(lake: Lake, upload: Upload, sha256: str, sid: str) -> None:
    """Remember what this upload path was turned into; a changed file's old snapshot goes."""
    ledger = upload_ledger_path(upload.path)
    if lake.exists(ledger):
        previous = lake.read_json(ledger).get("snapshot_id")
        if previous and previous != sid and not _still_used(lake, previous, upload.path):
            remove_snapshot(lake, previous)
    lake.write_json(ledger, {"path": upload.path, "fingerprint": upload.fingerprint, "sha256": sha256,
                             "snapshot_id": sid})


def _still_used(lake: Lake, sid: str, except_path: str) -> bool:
    """Does another upload path (the same bytes uploaded twice) still point at this snapshot?"""
    for entry in lake.list_files("_ledger/uploads"):
        note = lake.read_json(entry.path)
        if note.get("snapshot_id") == sid and note.get("path") != except_path and lake.exists(note["path"]):
            return True
    return False


def remove_snapshot(lake: Lake, sid: str) -> None:
    lake.remove(snapshot_manifest_path(sid))  # first: a snapshot without its manifest is not committed
    lake.remove(snapshot_dir(sid))


# ---------------------------------------------------------------------------
# Reading snapshots back
# ---------------------------------------------------------------------------

def list_snapshots(lake: Lake) -> list[dict]:
    out = []
    for entry in lake.list_files(snapshot_manifests_dir()):
        if entry.path.endswith(".json"):
            out.append(lake.read_json(entry.path))
    return sorted(out, key=lambda m: (m.get("time_range", {}).get("first") or "", m["snapshot_id"]))


def read_snapshot(lake: Lake, sid: str) -> dict:
    rel = snapshot_manifest_path(sid)
    if not lake.exists(rel):
        known = [m["snapshot_id"] for m in list_snapshots(lake)]
        raise SnapshotError(f"no snapshot {sid!r} in {lake.url}" + (f"; known: {', '.join(known[:10])}" if known else ""))
    return lake.read_json(rel)


def snapshot_table(lake: Lake, sid: str, table: str) -> pa.Table:
    manifest = read_snapshot(lake, sid)
    entry = manifest["outputs"].get(table)
    if entry is None:
        return schema.report_schema(table).empty_table()
    return pa.concat_tables([lake.read_parquet(f["path"]) for f in entry["files"]])


def summary(manifest: dict) -> str:
    """The one-screen text the CLI prints for a snapshot."""
    c, a = manifest["counts"], manifest["attribution"]
    out = manifest["outputs"]
    share = (lambda v: "-" if v is None else f"{v:.0%}")
    lines = [
        f"snapshot {manifest['snapshot_id']}  ({', '.join(manifest['formats']) or 'no readable file'};"
        f" {manifest['time_range']['first'] or '-'} .. {manifest['time_range']['last'] or '-'})",
        f"  lines: {c['read']:,} read, {c['accepted']:,} transactions, {sum(c['skipped'].values()):,} skipped, "
        f"{sum(c['quarantined'].values()):,} quarantined, {c['files_refused']} files refused",
        f"  apps {out['apps']['rows']}, users {out['users']['rows']}, machines {out['machines']['rows']}, "
        f"source IPs {out['ip_addresses']['rows']}, unknown domains {out['unknown_domains']['rows']}",
        f"  attribution: {share(a['device_share'])} of transactions to a machine, {share(a['user_share'])} to a user"
        f" (endpoint history from {a['history_days']} committed days)",
    ]
    for member in manifest["inputs"][0]["members"]:
        if member.get("refused"):
            lines.append(f"  refused {member['path']}: {member['refused']}")
        elif member.get("warning"):
            lines.append(f"  warning {member['path']}: {member['warning']}")
    top = sorted(c["quarantined"].items(), key=lambda kv: -kv[1])[:3]
    if top:
        lines.append("  top reject reasons: " + "; ".join(f"{r} ({n})" for r, n in top))
    return "\n".join(lines)


def snapshots_covering(lake: Lake, day: date) -> list[dict]:
    """Committed snapshots with transactions on `day`."""
    return [m for m in list_snapshots(lake) if day.isoformat() in m.get("days", {})]


def stale_days(lake: Lake) -> list[date]:
    """Committed continuous days whose manifest does not include exactly the snapshots that now
    cover them (an upload arrived, changed or went after the day was built)."""
    wanted: dict[str, set] = {}
    for manifest in list_snapshots(lake):
        for day in manifest.get("days", {}):
            wanted.setdefault(day, set()).add(manifest["snapshot_id"])
    stale = []
    for entry in lake.list_files("_manifests/reports"):
        day = date.fromisoformat(entry.path.rsplit("date=", 1)[-1][:10])
        included = {s["snapshot_id"] for s in lake.read_json(entry.path).get("snapshots", [])}
        if included != wanted.get(day.isoformat(), set()):
            stale.append(day)
    return sorted(stale)  # days never built are left to their own scheduled runs


def refresh_days(lake_url: str | None, settings: Settings | None = None) -> list[dict]:
    """Rebuild every stale committed day (see stale_days), in-process, one after the other."""
    from etl.pipeline import run_day

    lake = Lake(lake_url)
    return [{"date": day.isoformat(), **{k: v for k, v in run_day(lake.url, day, settings=settings).items()
                                           if k in ("transactions",)}} for day in stale_days(lake)]
