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
import math
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta, timezone

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

import schemas
from etl import formats, schema
from etl.formats import ndjson
from etl.normalize import keep
from etl.storage import (
    MDE_PREFIX, OCSF_PREFIX, Lake, mde_table_key, parse_mde_hour, parse_ocsf_day, stray_ledger_dir,
)


MDE_TABLE_FOLDERS = {
    "devicenetworkevents": "DeviceNetworkEvents",
    "deviceinfo": "DeviceInfo",
    "devicelogonevents": "DeviceLogonEvents",
    "devicenetworkinfo": "DeviceNetworkInfo",
}
CONTEXT_FOLDERS = ("deviceinfo", "devicelogonevents", "devicenetworkinfo")
CONTEXT_TABLES = ("device_info", "network_info", "logons")
GX_ROWS_PER_FILE = 200  # the GX sample: rows spread over every chunk read ...
GX_SAMPLE_ROWS = 20_000  # ... thinned to about this many per table


@dataclass(frozen=True)
class Settings:
    lateness_hours: int = 6
    lookback_hours: int = 24
    max_reject_ratio: float = 0.05
    workers: int = 2  # parts a day's input is split into, read in parallel (this machine class has 2 cores)

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
        if values.get("workers", 1) < 1:
            raise ValueError(f"CLOUD_DISCOVERY_WORKERS must be 1 or more, not {values['workers']}")
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

    def merge(self, other: "SourceCounts") -> None:
        self.read += other.read
        self.accepted += other.accepted
        self.context += other.context
        self.skipped.update(other.skipped)
        self.quarantined.update(other.quarantined)
        self.other_day += other.other_day
        self.late.update(other.late)
        self.files += other.files
        self.files_unreadable += other.files_unreadable
        self.warnings.extend(other.warnings)

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
            "warnings": sorted(self.warnings), "reconciled": self.reconciles(),
        }


QUARANTINE_SCHEMA = schema.flat_schema(schemas.load("quarantine"))


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
        table_key = mde_table_key(folder)
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


def split_into_parts(items: list[PlannedInput], parts: int) -> list[list[PlannedInput]]:
    """Up to `parts` groups of about equal bytes (largest object first, to the lightest group),
    each in path order. Deterministic: the same inputs always give the same parts, so a re-run
    writes the same files."""
    groups: list[list[PlannedInput]] = [[] for _ in range(max(1, min(parts, len(items))))]
    loads = [0] * len(groups)
    for item in sorted(items, key=lambda p: (-p.size, p.path)):
        lightest = loads.index(min(loads))
        groups[lightest].append(item)
        loads[lightest] += item.size
    return [sorted(group, key=lambda p: p.path) for group in groups]


def describe(lake: Lake, path: str) -> PlannedInput | None:
    """A PlannedInput for any raw object path, from its folder layout."""
    size = lake.size(path)
    if path.startswith(MDE_PREFIX + "/"):
        hour = parse_mde_hour(path)
        table_key = mde_table_key(path)
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


CHUNK_BYTES = 16 << 20  # big hourly exports are parsed in pieces, so memory does not grow with them


@dataclass
class Chunk:
    """A run of whole lines of one object, parsed and checked."""
    item: PlannedInput
    data: bytes
    first_line: int
    parsed: ndjson.ParsedLines
    classified: formats.Classified


def load_chunk(item: PlannedInput, data: bytes, first_line: int, newlines: int | None = None,
               prepare=None, day: date | None = None) -> Chunk:
    """Pure work on one piece: parse, check, classify, and `prepare` (attribution, catalog) the
    transactions of `day`; other days' keep only their time."""
    fmt = formats.get(item.source)
    parsed = fmt.parse(data, first_line, newlines)
    classified = fmt.classify(parsed.rows)
    transactions = classified.tables.get("transactions")
    if transactions is not None:
        transactions = transactions.append_column(
            "input_path", pa.array([item.path] * transactions.num_rows, pa.string()))
        if prepare is not None and transactions.num_rows:
            on_day = pc.fill_null(pc.equal(_day_of(transactions.column("ts")), pa.scalar(day, pa.date32())), False)
            classified.tables["transactions_other_days"] = transactions.filter(pc.invert(on_day)).select(["ts"])
            transactions = prepare(keep(transactions, on_day))
        classified.tables["transactions"] = transactions
    return Chunk(item, data, first_line, parsed, classified)


class DayReader:
    """Reads one day's raw objects one at a time, accounting for every line.

    `read(item)` returns the day's transactions from that object (or None) and keeps the rest:
    counts per source, quarantined rows, context rows (all of them: they help attribution),
    late-event notes, the input record with its checksum, and a GX sample of the parsed rows.
    """

    def __init__(self, lake: Lake, day: date, settings: Settings):
        self.lake, self.day, self.settings = lake, day, settings
        self.counts: dict[str, SourceCounts] = {}
        self.context: dict[str, list[pa.Table]] = {name: [] for name in CONTEXT_TABLES}
        self.quarantine: list[pa.Table] = []
        self.inputs: list[dict] = []
        self.strays: dict[str, dict[str, int]] = {}
        self.samples: dict[tuple, list[pa.Table]] = {}
        self._day = pa.scalar(day, pa.date32())
        self._wrong_table: Counter = Counter()

    def read_all(self, items: list[PlannedInput], prepare=None):
        """The day's transactions, piece by piece, in object and line order.

        Objects are streamed (never held whole): decoded text is cut into pieces of whole lines,
        each parsed, checked and accounted for before the next is read. `prepare`, when given,
        turns a piece's transactions into traffic (attribution, catalog). Parallelism comes from
        reading several parts of a day at once (`pipeline.ingest_day`), each with its own reader."""
        cutter, scratch = ndjson.PieceCutter(CHUNK_BYTES), bytearray()
        for item in items:
            stream = self.lake.raw_stream(item.path, scratch)
            unrecognised = None
            for piece, first_line, newlines in cutter.pieces(stream.blocks()):
                if first_line == 1 and not ndjson.is_blank(piece):
                    head = bytes(piece[:formats.SNIFF_BYTES])
                    detected = formats.detect(head)
                    if detected != item.source:
                        what = f"detected {detected}" if detected else "no known format"
                        unrecognised = (f"unrecognised content for {item.source} folder: {what}",
                                        head[:2000].decode("utf-8", "replace"))
                        stream.drain()
                        break
                yield self._account_chunk(load_chunk(item, piece, first_line, newlines, prepare, self.day))
            self._account_object(item, stream, unrecognised)

    def merge(self, other: "DayReader") -> None:
        """Take in what another reader of the same day found (one part of the day's input)."""
        for source, counts in other.counts.items():
            self.counts.setdefault(source, SourceCounts()).merge(counts)
        for name, tables in other.context.items():
            self.context[name].extend(tables)
        self.quarantine.extend(other.quarantine)
        self.inputs.extend(other.inputs)
        for other_day, files in other.strays.items():
            mine = self.strays.setdefault(other_day, {})
            for path, n in files.items():
                mine[path] = mine.get(path, 0) + n
        for key, parts in other.samples.items():
            for part in parts:
                self._add_sample(key, part)
        self._wrong_table.update(other._wrong_table)

    def __getstate__(self) -> dict:
        return {**self.__dict__, "lake": None}  # a part's findings travel back without the storage client

    def _account_object(self, item: PlannedInput, stream, unrecognised: tuple | None) -> None:
        """Record the object once it has been read through: checksum, size, whole-file problems."""
        self.inputs.append({"path": item.path, "size": stream.size, "sha256": stream.sha256, "role": item.role})
        owns_file = item.arrival_start.date() == self.day
        c = self.counts.setdefault(item.source, SourceCounts())
        c.files += 1
        if not owns_file:
            return
        if unrecognised or (stream.problem and stream.decoded == 0):
            reason, raw = unrecognised or (f"unreadable file: {stream.problem}", None)
            c.files_unreadable += 1
            self._quarantine(item.source, item.path, [None], [reason], [raw])
        elif stream.problem:
            c.warnings.append(f"{item.path}: truncated file: {stream.problem}; {stream.decoded} bytes recovered")

    def _account_chunk(self, chunk: Chunk) -> pa.Table | None:
        item, parsed, classified = chunk.item, chunk.parsed, chunk.classified
        home_day = item.arrival_start.date()
        owns_file = home_day == self.day
        c = self.counts.setdefault(item.source, SourceCounts())
        c.read += parsed.lines
        if item.role != "lookback":
            self._sample(item, parsed.rows)
        if item.source == "mde" and item.folder_table:
            self._wrong_table[(item.source, item.path, item.folder_table)] += _other_table_records(item, parsed.rows)
        self._count_rejects(c, item, chunk, parsed.rejects, classified.rejected, owns_file, home_day)

        transactions = None
        for name, table in classified.tables.items():
            if table.num_rows == 0:
                continue
            days = _day_of(table.column("ts"))
            if name == "skipped":
                days = pc.fill_null(days, pa.scalar(home_day, pa.date32()))
            mine = pc.fill_null(pc.equal(days, self._day), False)
            if name in CONTEXT_TABLES:
                self.context[name].append(table)
                if item.source == "ocsf":
                    continue  # OCSF device context is derived from rows counted as transactions/skipped
            mine_table = keep(table, mine)
            if name == "transactions":
                c.accepted += mine_table.num_rows
                if mine_table.num_rows:
                    transactions = mine_table
            elif name == "transactions_other_days":
                pass  # counted below as other days' rows
            elif name == "skipped":
                for reason, n in _value_counts(mine_table.column("reason")).items():
                    c.skipped[reason] += n
            else:
                c.context += mine_table.num_rows
            elsewhere = table.num_rows - mine_table.num_rows
            c.other_day += elsewhere
            if elsewhere:
                _note_strays(self.strays, c, item, table.filter(pc.invert(mine)), self.day, self.settings)
        return transactions

    def _count_rejects(self, c, item, chunk, line_rejects, row_rejects, owns_file, home_day) -> None:
        # lines that never became rows (broken JSON, wrong type) cannot be dated: the file's day owns them
        if line_rejects:
            if owns_file:
                for _, reason, _ in line_rejects:
                    c.quarantined[_reason_key(reason)] += 1
                self._quarantine(item.source, item.path, [r[0] for r in line_rejects],
                                 [r[1] for r in line_rejects], [r[2] for r in line_rejects])
            else:
                c.other_day += len(line_rejects)
        if row_rejects.num_rows:
            days = pc.fill_null(_day_of(row_rejects.column("ts")), pa.scalar(home_day, pa.date32()))
            mine = row_rejects.filter(pc.equal(days, self._day))
            c.other_day += row_rejects.num_rows - mine.num_rows
            if mine.num_rows:
                lines = mine.column("input_line").to_pylist()
                reasons = mine.column("reason").to_pylist()
                texts = ndjson.raw_lines(chunk.data, lines, chunk.first_line)
                for reason in reasons:
                    c.quarantined[reason] += 1
                self._quarantine(item.source, item.path, lines, reasons, [texts.get(n) for n in lines])

    def _sample(self, item: PlannedInput, rows: pa.Table) -> None:
        """Keep a GX sample spread over the day; thinned so it stays small however big the day."""
        self._add_sample((item.source, item.folder_table), _spread_sample(rows))

    def _add_sample(self, key: tuple, rows: pa.Table) -> None:
        parts = self.samples.setdefault(key, [])
        parts.append(rows)
        if sum(p.num_rows for p in parts) > 2 * GX_SAMPLE_ROWS:
            merged = pa.concat_tables(parts)
            self.samples[key] = [merged.take(np.arange(0, merged.num_rows, 2))]

    def _quarantine(self, source, path, lines, reasons, raw) -> None:
        self.quarantine.append(_quarantine_rows(source, path, lines, reasons, raw))

    def check(self) -> None:
        """Called once every object is read: folder mismatches become warnings; counts must reconcile."""
        for (source, path, table), other in sorted(self._wrong_table.items()):
            if other:
                self.counts[source].warnings.append(
                    f"{path}: {other} records of another table than its folder ({table}); "
                    "each record was handled by its own category")
        self._wrong_table.clear()
        for source, c in self.counts.items():
            if not c.reconciles():
                raise AssertionError(f"counts for {source} do not reconcile: {c.as_dict()}")

    def context_tables(self) -> dict[str, pa.Table | None]:
        return {k: pa.concat_tables(v) if v else None for k, v in self.context.items()}

    def quarantine_table(self) -> pa.Table:
        """Quarantined rows in input order (parts of a day may be read in any order)."""
        if not self.quarantine:
            return QUARANTINE_SCHEMA.empty_table()
        table = pa.concat_tables(self.quarantine)
        return table.sort_by([("input_path", "ascending"), ("input_line", "ascending")])

    def validation_samples(self) -> dict[tuple, pa.Table]:
        return {key: pa.concat_tables(parts) for key, parts in sorted(self.samples.items(), key=lambda kv: str(kv[0]))}


def is_context_input(item: PlannedInput) -> bool:
    """MDE context tables are read first: attribution needs them before any transaction."""
    return item.source == "mde" and item.folder_table in {MDE_TABLE_FOLDERS[f] for f in CONTEXT_FOLDERS}


def _spread_sample(rows: pa.Table, limit: int = GX_ROWS_PER_FILE) -> pa.Table:
    """Up to `limit` rows spread evenly over a file (deterministic)."""
    if rows.num_rows <= limit:
        return rows
    return rows.take(np.linspace(0, rows.num_rows - 1, limit).astype(np.int64))


def _reason_key(reason: str) -> str:
    """Group quarantine reasons for counting (the full text stays on the quarantined row)."""
    if reason.startswith("invalid JSON"):
        return "invalid JSON"
    return reason.split(" got ")[0].rstrip(", ") if reason.startswith("wrong type") else reason


def _value_counts(values) -> dict[str, int]:
    counted = pc.value_counts(values)
    return {v["values"]: v["counts"] for v in counted.to_pylist()}


def _other_table_records(item: PlannedInput, rows: pa.Table) -> int:
    """Records whose category is not the table their folder is named after."""
    if rows.num_rows == 0:
        return 0
    expected = "AdvancedHunting-" + item.folder_table
    return pc.sum(pc.fill_null(pc.not_equal(rows.column("category"), expected), False)).as_py() or 0


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
