"""Read one day's raw endpoint exports: window -> parse -> validate -> classify -> count.

The lateness rule (documented in docs/lateness.md):
- a day D is built from the MDE hour folders whose *arrival* hour lies in
  [D 00:00, D+1 00:00 + lateness_hours) and the OCSF `dt=` folders D .. D+ceil(lateness/24);
  the context tables (DeviceInfo, DeviceLogonEvents, DeviceNetworkInfo) are also read
  `lookback_hours` back, for attribution only;
- an event belongs to the UTC day of its own timestamp. Events of other days found in D's
  window are counted as `other_day` (their own day's run reads them too);
- an event found in a file that lies outside its own day's window is *late*: it is counted in
  D's manifest under `late`, and the file is noted in the stray ledger of its day, so a re-run of
  that day reads the file too. Nothing is lost; nothing is counted twice within one day.
- a row that cannot be dated (broken JSON, bad timestamp) belongs to its file's arrival day.
"""
from __future__ import annotations

import hashlib
import logging
import math
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta, timezone

import pyarrow as pa
import pyarrow.compute as pc

from etl import formats
from etl.formats import ndjson
from etl.storage import (
    MDE_PREFIX, OCSF_PREFIX, Lake, UnreadableInput, decode_raw, parse_mde_hour, parse_ocsf_day,
    sha256_hex, stray_ledger_dir,
)
from etl.validate import gx_validate

log = logging.getLogger(__name__)

MDE_TABLE_FOLDERS = {
    "devicenetworkevents": "DeviceNetworkEvents",
    "deviceinfo": "DeviceInfo",
    "devicelogonevents": "DeviceLogonEvents",
    "devicenetworkinfo": "DeviceNetworkInfo",
}
CONTEXT_FOLDERS = ("deviceinfo", "devicelogonevents", "devicenetworkinfo")
CONTEXT_TABLES = ("device_info", "network_info", "logons")
GX_ROWS_PER_FILE = 2_000  # the GX sample: the head of every file read


@dataclass(frozen=True)
class Settings:
    lateness_hours: int = 6
    lookback_hours: int = 24
    max_reject_ratio: float = 0.05

    @classmethod
    def from_env(cls, **overrides) -> "Settings":
        """Defaults, then CLOUD_DISCOVERY_<FIELD> variables, then explicit overrides."""
        import os

        values = {}
        for name, default in asdict(cls()).items():
            raw = os.environ.get(f"CLOUD_DISCOVERY_{name.upper()}")
            if raw is not None:
                try:
                    values[name] = type(default)(raw)
                except ValueError:
                    raise ValueError(f"CLOUD_DISCOVERY_{name.upper()}={raw!r} is not a {type(default).__name__}") from None
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


@dataclass
class PlannedInput:
    path: str
    size: int
    source: str            # format name
    arrival_start: datetime  # UTC start of the arrival period the folder encodes
    arrival_end: datetime
    role: str              # window | lookback | stray
    folder_table: str | None = None  # MDE table the folder is named after


@dataclass
class SourceCounts:
    read: int = 0
    accepted: int = 0
    context: int = 0
    skipped: Counter = field(default_factory=Counter)
    quarantined: Counter = field(default_factory=Counter)
    other_day: int = 0
    late: Counter = field(default_factory=Counter)
    files: int = 0
    files_unreadable: int = 0
    warnings: list = field(default_factory=list)

    def reconciles(self) -> bool:
        return self.read == (self.accepted + self.context + sum(self.skipped.values())
                             + sum(self.quarantined.values()) + self.other_day)

    def as_dict(self) -> dict:
        return {
            "read": self.read, "accepted": self.accepted, "context": self.context,
            "skipped": dict(sorted(self.skipped.items())),
            "quarantined": dict(sorted(self.quarantined.items())),
            "other_day": self.other_day, "late": dict(sorted(self.late.items())),
            "files": self.files, "files_unreadable": self.files_unreadable,
            "warnings": self.warnings, "reconciled": self.reconciles(),
        }


@dataclass
class DayInput:
    """Everything one day's run takes from the raw layer."""
    day: date
    transactions: pa.Table
    context: dict[str, pa.Table]
    quarantine: pa.Table
    counts: dict[str, SourceCounts]
    inputs: list[dict]
    strays: dict[str, dict[str, int]]     # other day -> {path: events}
    validation: list[dict]


QUARANTINE_SCHEMA = pa.schema([
    ("source", pa.string()), ("input_path", pa.string()), ("input_line", pa.int64()),
    ("reason", pa.string()), ("raw", pa.string()),
])


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), tzinfo=timezone.utc)
    return start, start + timedelta(days=1)


def window(day: date, settings: Settings) -> tuple[datetime, datetime]:
    start, end = day_bounds(day)
    return start, end + timedelta(hours=settings.lateness_hours)


def in_window(planned: PlannedInput, day: date, settings: Settings) -> bool:
    """Does the file's arrival period overlap the day's window?"""
    start, end = window(day, settings)
    return planned.arrival_start < end and planned.arrival_end > start


# ---------------------------------------------------------------------------
# Planning: which raw objects a day reads
# ---------------------------------------------------------------------------

def plan_inputs(lake: Lake, day: date, settings: Settings) -> list[PlannedInput]:
    start, end = window(day, settings)
    lookback_start = start - timedelta(hours=settings.lookback_hours)
    planned: dict[str, PlannedInput] = {}

    for folder in lake.list_dirs(MDE_PREFIX):
        table_key = folder.rsplit("insights-logs-advancedhunting-", 1)[-1]
        if table_key not in MDE_TABLE_FOLDERS:
            continue
        first = lookback_start if table_key in CONTEXT_FOLDERS else start
        for tenant in lake.list_dirs(folder):
            d = first.date()
            while datetime.combine(d, time(0), tzinfo=timezone.utc) < end:
                for obj in lake.list_files(f"{tenant}/y={d:%Y}/m={d:%m}/d={d:%d}"):
                    hour = parse_mde_hour(obj.path)
                    if hour is None:
                        continue
                    hour = hour.replace(tzinfo=timezone.utc)
                    if first <= hour < end:
                        role = "window" if hour >= start else "lookback"
                        planned[obj.path] = PlannedInput(obj.path, obj.size, "mde", hour, hour + timedelta(hours=1),
                                                         role, MDE_TABLE_FOLDERS[table_key])
                d += timedelta(days=1)

    extra_days = math.ceil(settings.lateness_hours / 24)
    for offset in range(0, extra_days + 1):
        arrival = day + timedelta(days=offset)
        for obj in lake.list_files(f"{OCSF_PREFIX}/dt={arrival.isoformat()}"):
            a_start, a_end = day_bounds(arrival)
            planned[obj.path] = PlannedInput(obj.path, obj.size, "ocsf", a_start, a_end, "window")

    for entry in lake.list_files(stray_ledger_dir(day)):
        note = lake.read_json(entry.path)
        path = note["path"]
        if path in planned or not lake.exists(path):
            continue
        info = describe(lake, path)
        if info is not None:
            info.role = "stray"
            planned[path] = info
    return sorted(planned.values(), key=lambda p: p.path)


def describe(lake: Lake, path: str) -> PlannedInput | None:
    """A PlannedInput for any raw object path, from its folder layout."""
    size = lake.fs.size(lake.full(path))
    if path.startswith(MDE_PREFIX + "/"):
        hour = parse_mde_hour(path)
        table_key = path.split("/")[2].rsplit("insights-logs-advancedhunting-", 1)[-1]
        if hour is None:
            return None
        hour = hour.replace(tzinfo=timezone.utc)
        return PlannedInput(path, size, "mde", hour, hour + timedelta(hours=1), "window",
                            MDE_TABLE_FOLDERS.get(table_key))
    if path.startswith(OCSF_PREFIX + "/"):
        arrival = parse_ocsf_day(path)
        if arrival is None:
            return None
        a_start, a_end = day_bounds(arrival)
        return PlannedInput(path, size, "ocsf", a_start, a_end, "window")
    return None


# ---------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------

def _day_of(ts: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray:
    return pc.cast(ts, pa.date32())


def _quarantine_rows(source, path, lines, reasons, raw) -> pa.Table:
    n = len(lines)
    return pa.table({
        "source": [source] * n, "input_path": [path] * n, "input_line": pa.array(lines, pa.int64()),
        "reason": pa.array(reasons, pa.string()), "raw": pa.array(raw, pa.string()),
    }, schema=QUARANTINE_SCHEMA)


def read_day(lake: Lake, day: date, settings: Settings | None = None) -> DayInput:
    settings = settings or Settings()
    planned = plan_inputs(lake, day, settings)
    counts: dict[str, SourceCounts] = {}
    transactions: list[pa.Table] = []
    context: dict[str, list[pa.Table]] = {name: [] for name in CONTEXT_TABLES}
    quarantine: list[pa.Table] = []
    inputs: list[dict] = []
    strays: dict[str, dict[str, int]] = {}
    validation_rows: dict[tuple, list[pa.Table]] = {}
    day_scalar = pa.scalar(day, pa.date32())

    for item in planned:
        raw = lake.read_bytes(item.path)
        inputs.append({"path": item.path, "size": len(raw), "sha256": sha256_hex(raw), "role": item.role})
        home_day = item.arrival_start.date()
        try:
            data = decode_raw(item.path, raw)
        except UnreadableInput as exc:
            data, problem = _salvage(raw), str(exc)
            if data is None:
                if home_day == day:
                    c = counts.setdefault(item.source, SourceCounts())
                    c.files += 1
                    c.files_unreadable += 1
                    quarantine.append(_quarantine_rows(item.source, item.path, [None], [f"unreadable file: {problem}"], [None]))
                continue
            problem = f"truncated file: {problem}; {len(data)} bytes recovered"
        else:
            problem = None

        source = item.source
        detected = formats.detect(data) if data.strip() else source
        c = counts.setdefault(source, SourceCounts())
        c.files += 1
        if detected is None or detected != source:
            if home_day == day:
                c.files_unreadable += 1
                what = f"detected {detected}" if detected else "no known format"
                quarantine.append(_quarantine_rows(
                    source, item.path, [None], [f"unrecognised content for {source} folder: {what}"],
                    [data[:2000].decode("utf-8", "replace")]))
            continue
        if problem and home_day == day:
            c.warnings.append(f"{item.path}: {problem}")

        fmt = formats.get(source)
        parsed = fmt.parse(data)
        if item.role != "lookback":
            validation_rows.setdefault((source, item.folder_table), []).append(parsed.rows.slice(0, GX_ROWS_PER_FILE))
        classified = fmt.classify(parsed.rows)
        c.read += parsed.lines

        # lines that never became rows (broken JSON, wrong type) cannot be dated: home day owns them
        if parsed.rejects:
            if home_day == day:
                for number, reason, text in parsed.rejects:
                    c.quarantined[_reason_key(reason)] += 1
                quarantine.append(_quarantine_rows(
                    source, item.path, [r[0] for r in parsed.rejects], [r[1] for r in parsed.rejects],
                    [r[2] for r in parsed.rejects]))
            else:
                c.other_day += len(parsed.rejects)

        rejected = classified.rejected
        if rejected.num_rows:
            r_day = pc.fill_null(_day_of(rejected.column("ts")), pa.scalar(home_day, pa.date32()))
            mine = pc.equal(r_day, day_scalar)
            mine_rows = rejected.filter(mine)
            c.other_day += rejected.num_rows - mine_rows.num_rows
            if mine_rows.num_rows:
                lines = mine_rows.column("input_line").to_pylist()
                reasons = mine_rows.column("reason").to_pylist()
                texts = ndjson.raw_lines(data, lines)
                for reason in reasons:
                    c.quarantined[reason] += 1
                quarantine.append(_quarantine_rows(source, item.path, lines, reasons, [texts.get(n) for n in lines]))

        if source == "mde" and item.folder_table:
            _note_wrong_table(c, item, parsed.rows)

        for name, table in classified.tables.items():
            if table.num_rows == 0:
                continue
            is_context_only = source == "ocsf" and name == "device_info"  # derived from the same rows
            t_day = _day_of(table.column("ts"))
            if name == "skipped":
                t_day = pc.fill_null(t_day, pa.scalar(home_day, pa.date32()))
            mine = pc.fill_null(pc.equal(t_day, day_scalar), False)
            mine_table = table.filter(mine)
            if name in CONTEXT_TABLES:
                context[name].append(table)  # every context row helps attribution
            if is_context_only:
                continue
            elsewhere = table.num_rows - mine_table.num_rows
            if name == "transactions":
                c.accepted += mine_table.num_rows
                if mine_table.num_rows:
                    transactions.append(mine_table.append_column(
                        "input_path", pa.array([item.path] * mine_table.num_rows, pa.string())))
            elif name == "skipped":
                for reason, n in _value_counts(mine_table.column("reason")).items():
                    c.skipped[reason] += n
            else:
                c.context += mine_table.num_rows
            c.other_day += elsewhere
            if elsewhere:
                _note_strays(strays, c, item, table.filter(pc.invert(mine)), day, settings)

    for source, c in counts.items():
        if not c.reconciles():
            raise AssertionError(f"counts for {source} do not reconcile: {c.as_dict()}")

    validation = []
    for (source, scope), tables in sorted(validation_rows.items(), key=lambda kv: str(kv[0])):
        sample = pa.concat_tables(tables)
        validation.append(gx_validate(sample, formats.get(source).DECL, scope, name=source))

    return DayInput(
        day=day,
        transactions=pa.concat_tables(transactions) if transactions else None,
        context={k: pa.concat_tables(v) if v else None for k, v in context.items()},
        quarantine=pa.concat_tables(quarantine) if quarantine else QUARANTINE_SCHEMA.empty_table(),
        counts=counts, inputs=inputs, strays=strays, validation=validation,
    )


def _reason_key(reason: str) -> str:
    """Group quarantine reasons for counting (the full text stays on the quarantined row)."""
    if reason.startswith("invalid JSON"):
        return "invalid JSON"
    return reason.split(" got ")[0].rstrip(", ") if reason.startswith("wrong type") else reason


def _value_counts(values) -> dict[str, int]:
    counted = pc.value_counts(values)
    return {v["values"]: v["counts"] for v in counted.to_pylist()}


def _salvage(raw: bytes) -> bytes | None:
    """Decompress what a truncated gzip still holds (None when nothing can be recovered)."""
    import zlib
    decoder = zlib.decompressobj(wbits=31)
    try:
        data = decoder.decompress(raw)
    except zlib.error:
        return None
    if not data:
        return None
    # drop the partial last line: it is counted as a broken line when kept, so keep it
    return data


def _note_wrong_table(c: SourceCounts, item: PlannedInput, rows: pa.Table) -> None:
    if rows.num_rows == 0:
        return
    expected = "AdvancedHunting-" + item.folder_table
    other = pc.sum(pc.fill_null(pc.not_equal(rows.column("category"), expected), False)).as_py() or 0
    if other:
        c.warnings.append(f"{item.path}: {other} records of another table than its folder ({item.folder_table}); "
                          "each record was handled by its own category")


def _note_strays(strays, c: SourceCounts, item: PlannedInput, table: pa.Table, day: date, settings: Settings) -> None:
    """Events of other days: those whose own window does not cover this file are late."""
    days = _day_of(table.column("ts"))
    for other_day, n in _value_counts(pc.cast(days, pa.string())).items():
        if other_day is None:
            continue
        other = date.fromisoformat(other_day)
        if not in_window(item, other, settings):
            c.late[other_day] += n
            strays.setdefault(other_day, {})
            strays[other_day][item.path] = strays[other_day].get(item.path, 0) + n


def ledger_entry_path(other_day: date, path: str) -> str:
    return f"{stray_ledger_dir(other_day)}/{hashlib.sha1(path.encode()).hexdigest()}.json"
