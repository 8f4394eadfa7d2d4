"""The one interface every input source implements, and the types it speaks in.

A source (Defender export, OCSF, a proxy log format, ...) is one `Source` object in
`etl/sources/<name>/`, registered in `etl/sources/__init__.py`. The pipeline only ever calls:

    detect(head)            -> confidence 0..1 that these first bytes are this format
    plan(lake, day, s)      -> the objects a continuous day reads (the source owns its raw layout)
    describe(lake, path)    -> a PlannedInput for one of its own paths, else None
    reader()                -> a fresh per-object LineReader: pieces of whole lines -> ParsedLines
    classify(rows)          -> Classified: rejected, transactions, skipped, context (canonical kinds)
    object_notes(item, rows)-> {warning text: count} about an object (e.g. a file in the wrong folder)

Every non-blank input line ends up exactly once: as a line the reader rejected, or in one of
Classified's tables (context kinds named in `derived` are made from rows counted elsewhere).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Protocol

import pyarrow as pa
import pyarrow.compute as pc

from etl import schema

CONTEXT_KINDS = ("device_info", "ip_leases", "logons")
HEAD_LINES = 10


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), tzinfo=timezone.utc)
    return start, start + timedelta(days=1)


def window(day: date, settings) -> tuple[datetime, datetime]:
    """The arrival window of a day: the day itself and `lateness_hours` after it."""
    start, end = day_bounds(day)
    return start, end + timedelta(hours=settings.lateness_hours)


@dataclass
class PlannedInput:
    path: str
    size: int
    source: str              # registered source name
    arrival_start: datetime  # UTC start of the arrival period the object's location encodes
    arrival_end: datetime
    role: str                # window | lookback | stray | upload
    hint: str | None = None  # what the location says the object holds (the MDE table of its folder)
    reads_first: bool = False  # context-only inputs, read before any transaction (attribution needs them)
    log_format: str | None = None  # for uploads: the format asked for (None: detect)


@dataclass
class ParsedLines:
    rows: pa.Table                        # the format's declared columns + input_line (1-based)
    rejects: list[tuple[int, str, str]]   # (line number, reason, raw line) the reader refused
    lines: int                            # non-blank lines seen

    @property
    def read(self) -> int:
        return self.lines


def _conform(table: pa.Table | None, kind: str) -> pa.Table:
    target = schema.canonical_schema(kind)
    if table is None:
        return target.empty_table()
    return pa.Table.from_arrays([table.column(f.name).cast(f.type) for f in target], schema=target)


@dataclass
class Classified:
    """What one piece of one input holds, every line accounted for exactly once."""
    rejected: pa.Table                 # input_line, reason, ts (may be null)
    transactions: pa.Table             # canonical transactions (schemas/canonical.yaml)
    skipped: pa.Table                  # ts, reason, input_line: valid lines that are not traffic
    context: dict[str, pa.Table] = field(default_factory=dict)  # CONTEXT_KINDS -> rows
    derived: frozenset = frozenset()   # context kinds derived from rows counted elsewhere

    @classmethod
    def of(cls, *, rejected=None, transactions=None, skipped=None, context=None, derived=()) -> "Classified":
        """Conformed to the canonical schemas: a source cannot hand over a column of its own."""
        context = {kind: _conform(table, kind) for kind, table in (context or {}).items() if table is not None}
        unknown = set(context) - set(CONTEXT_KINDS)
        if unknown:
            raise ValueError(f"unknown context kinds {sorted(unknown)}; known: {list(CONTEXT_KINDS)}")
        return cls(_conform(rejected, "rejected"), _conform(transactions, "transactions"),
                   _conform(skipped, "skipped"), context, frozenset(derived))

    def counted_context(self) -> dict[str, pa.Table]:
        return {k: t for k, t in self.context.items() if k not in self.derived}

    def lines(self) -> int:
        """Input lines this result accounts for (context rows of one line count once)."""
        context = [t.column("input_line") for t in self.counted_context().values() if t.num_rows]
        context_lines = len(pc.unique(pa.chunked_array(context).combine_chunks())) if context else 0
        return self.rejected.num_rows + self.transactions.num_rows + self.skipped.num_rows + context_lines


class LineReader(Protocol):
    def parse(self, data, first_line: int = 1, newlines: int | None = None) -> ParsedLines: ...


class Source:
    """Base of every source. Defaults suit an upload-only appliance format: nothing in raw/ to
    plan, no object notes. Subclasses set `name` and `decl` and implement detect/reader/classify."""
    name: str = ""
    decl: dict | None = None
    description: str = ""

    def detect(self, head: bytes) -> float:
        raise NotImplementedError

    def reader(self) -> LineReader:
        raise NotImplementedError

    def classify(self, rows: pa.Table) -> Classified:
        raise NotImplementedError

    def plan(self, lake, day: date, settings) -> list[PlannedInput]:
        return []

    def describe(self, lake, path: str) -> PlannedInput | None:
        return None

    def object_notes(self, item: PlannedInput, rows: pa.Table) -> Counter:
        return Counter()

    def __repr__(self) -> str:
        return f"<source {self.name}>"


def head_lines(head: bytes, limit: int = HEAD_LINES) -> list[bytes]:
    """The first non-blank lines of a head (a possibly cut last line is dropped when others exist)."""
    lines = head.splitlines()
    if len(lines) > 1 and not head.endswith((b"\n", b"\r")):
        lines = lines[:-1]
    return [line for line in (raw.strip() for raw in lines) if line][:limit]


def share_of_lines(head: bytes, looks_like) -> float:
    """Share of the head's first lines for which `looks_like(line)` holds."""
    lines = head_lines(head)
    if not lines:
        return 0.0
    return sum(1 for line in lines if looks_like(line)) / len(lines)
