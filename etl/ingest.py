"""Read one day's raw endpoint exports: window -> parse -> validate -> classify -> count.

The lateness rule (documented in docs/lateness.md):
- a day D is built from the raw objects whose *arrival* period overlaps
  [D 00:00, D+1 00:00 + lateness_hours): each source plans its own layout (MDE hour folders,
  OCSF `dt=` folders); context-only inputs are also read `lookback_hours` back, for attribution;
- an event belongs to the UTC day of its own timestamp. Events of other days found in D's
  window are counted as `other_day` (their own day's run reads them too);
- an event found in a file that lies outside its own day's window is *late*: it is counted in
  D's manifest under `late`, and the file is noted in the stray ledger of its day, so a re-run of
  that day reads the file too. Nothing is lost; nothing is counted twice within one day.
- a row that cannot be dated (broken JSON, bad timestamp) belongs to its file's arrival day.
"""
from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

import schemas
from etl import schema, sources
from etl.normalize import keep
from etl.sources.base import CONTEXT_KINDS, Classified, PlannedInput, window
from etl.sources.framing.lines import PieceCutter, is_blank, raw_lines
from etl.storage import Lake, stray_ledger_dir
from etl.validate import GX_SAMPLE_ROWS

GX_ROWS_PER_FILE = 200  # the GX sample: rows spread over every chunk read, thinned to GX_SAMPLE_ROWS per table


@dataclass(frozen=True)
class Settings:
    lateness_hours: int = 6
    lookback_hours: int = 24
    max_reject_ratio: float = 0.05
    max_expansion_ratio: float = 200.0  # a compressed upload expanding more than this is a decompression bomb
    max_decoded_gb: float = 64.0         # ... and so is one whose file or archive member decodes past this
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


def in_window(planned: PlannedInput, day: date, settings: Settings) -> bool:
    """Does the file's arrival period overlap the day's window?"""
    start, end = window(day, settings)
    return planned.arrival_start < end and planned.arrival_end > start


# ---------------------------------------------------------------------------
# Planning: which raw objects a day reads
# ---------------------------------------------------------------------------

def plan_inputs(lake: Lake, day: date, settings: Settings) -> list[PlannedInput]:
    """What every source plans for the day, plus the objects other days' runs found late events
    of this day in (the stray ledger)."""
    planned: dict[str, PlannedInput] = {}
    for source in sources.SOURCES.values():
        for item in source.plan(lake, day, settings):
            planned[item.path] = item
    for entry in lake.list_files(stray_ledger_dir(day)):
        note = lake.read_json(entry.path)
        path = note["path"]
        if path in planned or not lake.exists(path):
            continue
        info = sources.describe(lake, path)
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
    parsed: sources.base.ParsedLines
    classified: Classified
    transactions: pa.Table       # the day's transactions (traffic rows once prepared)
    other_days: pa.Table | None  # `ts` of transactions of other days, when prepared


def load_chunk(item: PlannedInput, reader, data: bytes, first_line: int, newlines: int | None = None,
               prepare=None, day: date | None = None) -> Chunk:
    """Pure work on one piece: parse, check, classify, and `prepare` (attribution, catalog) the
    transactions of `day`; other days' keep only their time."""
    parsed = reader.parse(data, first_line, newlines)
    classified = sources.get(item.source).classify(parsed.rows)
    transactions, other_days = classified.transactions, None
    transactions = transactions.append_column(
        "input_path", pa.array([item.path] * transactions.num_rows, pa.string()))
    if prepare is not None and transactions.num_rows:
        on_day = pc.fill_null(pc.equal(_day_of(transactions.column("ts")), pa.scalar(day, pa.date32())), False)
        other_days = transactions.filter(pc.invert(on_day)).select(["ts"])
        transactions = prepare(keep(transactions, on_day))
    return Chunk(item, data, first_line, parsed, classified, transactions, other_days)


class DayReader:
    """Reads one day's raw objects one at a time, accounting for every line.

    `read(item)` returns the day's transactions from that object (or None) and keeps the rest:
    counts per source, quarantined rows, context rows (all of them: they help attribution),
    late-event notes, the input record with its checksum, and a GX sample of the parsed rows.
    """

    def __init__(self, lake: Lake, day: date, settings: Settings):
        self.lake, self.day, self.settings = lake, day, settings
        self.counts: dict[str, SourceCounts] = {}
        self.context: dict[str, list[pa.Table]] = {name: [] for name in CONTEXT_KINDS}
        self.quarantine: list[pa.Table] = []
        self.inputs: list[dict] = []
        self.strays: dict[str, dict[str, int]] = {}
        self.samples: dict[tuple, list[pa.Table]] = {}
        self._day = pa.scalar(day, pa.date32())
        self._notes: Counter = Counter()  # (source, path, note) -> records

    def read_all(self, items: list[PlannedInput], prepare=None):
        """The day's transactions, piece by piece, in object and line order.

        Objects are streamed (never held whole): decoded text is cut into pieces of whole lines,
        each parsed, checked and accounted for before the next is read. `prepare`, when given,
        turns a piece's transactions into traffic (attribution, catalog). Parallelism comes from
        reading several parts of a day at once (`pipeline.ingest_day`), each with its own reader."""
        cutter, scratch = PieceCutter(CHUNK_BYTES), bytearray()
        for item in items:
            stream = self.lake.raw_stream(item.path, scratch)
            source, reader, unrecognised = sources.get(item.source), None, None
            for piece, first_line, newlines in cutter.pieces(stream.blocks()):
                if reader is None and not is_blank(piece):
                    head = bytes(piece[:sources.SNIFF_BYTES])
                    if source.detect(head) <= 0:
                        what = sources.detect(head).explain().split(";")[0]
                        unrecognised = (f"unrecognised content for {item.source} folder: {what}",
                                        head[:2000].decode("utf-8", "replace"))
                        stream.drain()
                        break
                    reader = source.reader()
                if reader is None:
                    continue  # blank so far: nothing to parse or count
                yield self._account_chunk(load_chunk(item, reader, piece, first_line, newlines, prepare, self.day))
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
        self._notes.update(other._notes)

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
        for note, n in sources.get(item.source).object_notes(item, parsed.rows).items():
            self._notes[(item.source, item.path, note)] += n
        self._count_rejects(c, item, chunk, parsed.rejects, classified.rejected, owns_file, home_day)

        for kind, table in classified.context.items():
            if table.num_rows:
                self.context[kind].append(table)
        counted = [("context", t) for t in classified.counted_context().values()]
        transactions = None
        for name, table in [("transactions", chunk.transactions), ("skipped", classified.skipped), *counted]:
            if table.num_rows == 0:
                continue
            days = _day_of(table.column("ts"))
            if name == "skipped":
                days = pc.fill_null(days, pa.scalar(home_day, pa.date32()))
            mine = pc.fill_null(pc.equal(days, self._day), False)
            mine_table = keep(table, mine)
            if name == "transactions":
                c.accepted += mine_table.num_rows
                transactions = mine_table if mine_table.num_rows else None
                elsewhere = table.num_rows - mine_table.num_rows
            elif name == "skipped":
                for reason, n in _value_counts(mine_table.column("reason")).items():
                    c.skipped[reason] += n
                elsewhere = table.num_rows - mine_table.num_rows
            else:  # a context line may be several rows (one per IP address): lines are counted
                mine_lines = _distinct_lines(mine_table)
                c.context += mine_lines
                elsewhere = _distinct_lines(table) - mine_lines
            c.other_day += elsewhere
            if elsewhere:
                others = table.filter(pc.invert(mine))
                if name == "context":
                    others = others.group_by("input_line", use_threads=False).aggregate([("ts", "min")]).rename_columns(
                        ["input_line", "ts"])
                _note_strays(self.strays, c, item, others, self.day, self.settings)
        if chunk.other_days is not None and chunk.other_days.num_rows:
            c.other_day += chunk.other_days.num_rows
            _note_strays(self.strays, c, item, chunk.other_days, self.day, self.settings)
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
                texts = raw_lines(chunk.data, lines, chunk.first_line)
                for reason in reasons:
                    c.quarantined[reason] += 1
                self._quarantine(item.source, item.path, lines, reasons, [texts.get(n) for n in lines])

    def _sample(self, item: PlannedInput, rows: pa.Table) -> None:
        """Keep a GX sample spread over the day; thinned so it stays small however big the day."""
        self._add_sample((item.source, item.hint), _spread_sample(rows))

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
        for (source, path, note), n in sorted(self._notes.items()):
            self.counts[source].warnings.append(f"{path}: {n} {note}")
        self._notes.clear()
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


def _distinct_lines(table: pa.Table) -> int:
    lines = table.column("input_line")
    return len(pc.unique(pc.drop_null(lines).combine_chunks())) if lines.null_count < len(lines) else 0


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
