"""Log formats an organisation describes itself, in a small YAML spec (docs/formats/custom.md).

    delimiter: ","            # or  regex: '<pattern with named groups>'
    header: true              # false: then  columns: [time, client, user, url, sent, received, verdict]
    fields: {ts: time, src_ip: client, user: user, url: url, bytes_up: sent, bytes_down: received, action: verdict}
    timestamp_format: "%Y-%m-%d %H:%M:%S"   # strptime, or epoch | epoch_ms | iso8601
    timezone: UTC
    blocked_values: [DENY, BLOCK]

`load_custom(name, spec_text)` checks the spec (a ValueError with a one-line message names the
first problem) and returns a `Source` named `custom:<name>`. It is not registered: nothing
detects it, the user names it (`--log-format custom:<name>`). Its `decl` is built from the spec
in the shape of schemas/*.yaml: a `line_kind` column (null on data lines, "header" / "comment"
otherwise) and one string column per mapped field, named after the canonical field it feeds.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone as dt_timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import yaml

from etl import schema
from etl.normalize import blank_to_null, clean_host, constant, lower, parse_time, to_int64
from etl.sources.base import Classified, Source
from etl.sources.framing.delimited import DelimitedReader
from etl.sources.framing.text import TextReader, rejected_lines, with_lines

KEYS = ("delimiter", "regex", "header", "columns", "fields", "timestamp_format", "timezone", "blocked_values",
        "comment")
# canonical field -> what it becomes (order: the decl's column order)
TARGETS = ("ts", "src_ip", "user", "url", "dest_host", "dest_ip", "dest_port", "bytes_up", "bytes_down",
           "action", "device_name")
SPECIAL_TIMES = ("epoch", "epoch_ms", "iso8601")
KIND = "line_kind"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_DIRECTIVE = re.compile(r"%(.)")
_STRPTIME_DIRECTIVES = set("aAbBhdeHIjmMpSyYzZ%")  # what Arrow's strptime reads
_REFERENCE = datetime(2026, 3, 14, 15, 9, 26, tzinfo=dt_timezone.utc)
_NULL = pa.scalar(None, pa.string())


def load_custom(name: str, spec_text: str) -> "CustomSource":
    """The Source a YAML spec describes; ValueError (one line) when the spec is not usable."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"custom format name {name!r}: use letters, digits, '.', '_' or '-' (at most 64)")
    try:
        return CustomSource(name, _check(name, spec_text))
    except _SpecError as exc:
        raise ValueError(f"custom format {name!r}: {exc}") from None


class _SpecError(ValueError):
    pass


def _check(name: str, spec_text: str) -> dict:
    try:
        spec = yaml.safe_load(spec_text)
    except yaml.YAMLError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "syntax error"
        raise _SpecError(f"not valid YAML ({first})") from None
    if not isinstance(spec, dict):
        raise _SpecError("the spec must be a YAML mapping of keys such as delimiter, fields, timestamp_format")
    unknown = [str(k) for k in spec if k not in KEYS]
    if unknown:
        raise _SpecError(f"unknown key {unknown[0]!r} (known: {', '.join(KEYS)})")
    out: dict = {}

    has_delimiter, has_regex = spec.get("delimiter") is not None, spec.get("regex") is not None
    if has_delimiter == has_regex:
        raise _SpecError("give exactly one of delimiter or regex" if has_delimiter else "neither delimiter nor regex given")
    comment = spec.get("comment", "#")
    if comment is not None and (not isinstance(comment, str) or not comment):
        raise _SpecError("comment must be a non-empty text (the prefix of comment lines) or null")
    out["comment"] = comment

    if has_delimiter:
        delimiter = spec["delimiter"]
        if delimiter == "tab":
            delimiter = "\t"
        if not isinstance(delimiter, str) or len(delimiter) != 1 or not delimiter.isascii() or delimiter in '"\r\n':
            raise _SpecError(f"delimiter must be one character such as ',' or '\\t' (not a quote), not {delimiter!r}")
        header = spec.get("header", False)
        if not isinstance(header, bool):
            raise _SpecError(f"header must be true or false, not {header!r}")
        columns = spec.get("columns")
        if header and columns is not None:
            raise _SpecError("columns given with header: true (the header line names the columns); drop one")
        if not header:
            if columns is None:
                raise _SpecError("header: false needs columns: [the column names, in order]")
            if (not isinstance(columns, list) or not columns
                    or not all(isinstance(c, str) and c.strip() for c in columns)):
                raise _SpecError("columns must be a list of column names")
            columns = [c.strip() for c in columns]
            duplicate = next((c for c in columns if columns.count(c) > 1), None)
            if duplicate:
                raise _SpecError(f"column {duplicate!r} is named twice in columns")
        out.update(kind="delimited", delimiter=delimiter, header=header, columns=columns)
    else:
        pattern = spec["regex"]
        for key in ("header", "columns", "delimiter"):
            if spec.get(key) not in (None, False):
                raise _SpecError(f"{key} applies to delimiter formats, not to regex ones (the named groups are the columns)")
        if not isinstance(pattern, str) or not pattern:
            raise _SpecError("regex must be a pattern text with named groups such as (?P<time>...)")
        try:
            groups = pc.extract_regex(pa.array([], pa.string()), pattern).type
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise _SpecError(f"regex is not usable: {str(exc).splitlines()[0]}") from None
        out.update(kind="regex", regex=pattern, header=False, columns=[f.name for f in groups])

    fields = spec.get("fields")
    if not isinstance(fields, dict) or not fields:
        raise _SpecError("fields must map canonical fields to columns, e.g. {ts: time, src_ip: client}")
    for target, column in fields.items():
        if target not in TARGETS:
            raise _SpecError(f"fields: unknown field {target!r} (known: {', '.join(TARGETS)})")
        if not isinstance(column, str) or not column.strip():
            raise _SpecError(f"fields.{target} must name a column, not {column!r}")
        if out["columns"] is not None and column not in out["columns"]:
            what = "named group" if out["kind"] == "regex" else "column"
            raise _SpecError(f"fields.{target} names {what} {column!r}, which does not exist "
                             f"(there are: {', '.join(out['columns'])})")
    if "ts" not in fields:
        raise _SpecError("fields must map ts (the time of each line)")
    out["fields"] = {t: fields[t].strip() for t in TARGETS if t in fields}

    out["timestamp_format"] = _time_format(spec.get("timestamp_format", "iso8601"))
    zone = spec.get("timezone", "UTC")
    if not isinstance(zone, str) or not _zone_ok(zone):
        raise _SpecError(f"timezone {zone!r} is not an IANA time zone name (such as UTC or Europe/Berlin)")
    out["timezone"] = zone
    blocked = spec.get("blocked_values", [])
    if blocked is None:
        blocked = []
    if isinstance(blocked, str):
        blocked = [blocked]
    if not isinstance(blocked, list) or not all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in blocked):
        raise _SpecError("blocked_values must be a list of the action values that mean blocked")
    if blocked and "action" not in out["fields"]:
        raise _SpecError("blocked_values given but fields maps no action column")
    out["blocked_values"] = sorted({str(v).strip().upper() for v in blocked})
    return out


def _time_format(spec) -> str:
    if not isinstance(spec, str) or not spec.strip():
        raise _SpecError(f"timestamp_format must be a strptime format or one of {', '.join(SPECIAL_TIMES)}")
    if spec in SPECIAL_TIMES:
        return spec
    if "%" not in spec:
        raise _SpecError(f"timestamp_format {spec!r} is neither a strptime format (no %-directive) "
                         f"nor one of {', '.join(SPECIAL_TIMES)}")
    bad = next((d for d in _DIRECTIVE.findall(spec) if d not in _STRPTIME_DIRECTIVES), None)
    if bad is not None or spec.endswith("%") and not spec.endswith("%%"):
        raise _SpecError(f"timestamp_format {spec!r}: %{bad or ''} is not a supported strptime directive")
    # it must read back a full date (and the time of day, when it has one): a format without a
    # year would put every line in 1900
    parsed = pc.strptime(pa.array([_REFERENCE.strftime(spec)]), format=spec, unit="s", error_is_null=True)[0].as_py()
    if parsed is not None and parsed.tzinfo is not None:
        parsed = parsed.astimezone(dt_timezone.utc).replace(tzinfo=None)
    want = _REFERENCE.replace(tzinfo=None)
    has_time = any(d in spec for d in ("%H", "%I"))
    if parsed is None or parsed.date() != want.date() or (has_time and parsed.hour != want.hour):
        raise _SpecError(f"timestamp_format {spec!r} does not read back a full date "
                         f"(it needs a year, a month and a day)")
    return spec


def _zone_ok(zone: str) -> bool:
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    try:  # Arrow's own time zone database must know it too
        pc.assume_timezone(pa.array([0], pa.timestamp("s")), timezone=zone)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return False
    return True


def _decl(name: str, spec: dict) -> dict:
    columns = [{"name": KIND, "type": "string", "in_set": ["header", "comment"]}]
    for target, column in spec["fields"].items():
        entry = {"name": target, "type": "string", "source_column": column}
        if target == "ts":
            entry["required"] = True
        columns.append(entry)
    return {"name": f"custom:{name}", "description": f"custom format {name} (reference/parsers/{name}.yaml)",
            "columns": columns}


class RegexReader(TextReader):
    """Lines matched by a regex with named groups; a line it does not match is rejected."""

    def __init__(self, pattern: str, select: dict[str, str], comment: str | None):
        self.pattern, self.select, self.comment = pattern, select, comment

    def parse_lines(self, lines, numbers):
        lines = lines.combine_chunks() if isinstance(lines, pa.ChunkedArray) else lines
        n = len(lines)
        kinds = pa.nulls(n, pa.string())
        is_comment = np.zeros(n, dtype=bool)
        if self.comment is not None and n:
            mask = pc.starts_with(lines, self.comment)
            is_comment = np.asarray(mask.to_numpy(zero_copy_only=False), dtype=bool)
            kinds = pc.if_else(mask, "comment", kinds)
        found = pc.extract_regex(lines, self.pattern)
        matched = np.asarray(pc.is_valid(found).to_numpy(zero_copy_only=False), dtype=bool)
        missing = ~matched & ~is_comment
        rejects = rejected_lines(lines, numbers, pa.array(missing), "does not match the format's regex")
        arrays = [kinds]
        for group in self.select.values():
            arrays.append(pc.if_else(pa.array(is_comment), _NULL, pc.struct_field(found, group)))
        table = pa.Table.from_arrays(arrays, names=[KIND] + list(self.select))
        good = ~missing
        if missing.any():
            table, numbers = table.filter(pa.array(good)), numbers[good]
        return with_lines(table, numbers), rejects


class CustomSource(Source):
    def __init__(self, name: str, spec: dict):
        self.short_name = name
        self.name = f"custom:{name}"
        self.spec = spec
        self.decl = _decl(name, spec)
        how = f"delimiter {spec['delimiter']!r}" if spec["kind"] == "delimited" else "regex"
        self.description = f"custom format {name} ({how})"
        self._blocked = pa.array(spec["blocked_values"], pa.string())

    def detect(self, head: bytes) -> float:
        return 0.0  # never guessed: the user names the format

    def reader(self) -> TextReader:
        spec = self.spec
        if spec["kind"] == "regex":
            return RegexReader(spec["regex"], spec["fields"], spec["comment"])
        return DelimitedReader(spec["columns"], select=spec["fields"], delimiter=spec["delimiter"],
                               header=spec["header"], comment=spec["comment"], kind_column=KIND)

    def classify(self, rows: pa.Table) -> Classified:
        rows = rows.combine_chunks()
        kind = rows.column(KIND)
        special = pc.is_valid(kind)
        skipped = pa.table({"ts": pa.nulls(pc.sum(special).as_py() or 0, schema.TIMESTAMP),
                            "reason": kind.filter(special), "input_line": rows.column("input_line").filter(special)})
        data = rows.filter(pc.invert(special))
        fields = {name: blank_to_null(data.column(name)) for name in self.spec["fields"]}
        blanked = pa.table({KIND: data.column(KIND), **fields})
        reasons = schema.row_violations(blanked, self.decl)
        ts = parse_time(fields["ts"], self.spec["timestamp_format"], self.spec["timezone"])
        ts = _impossible_dates_to_null(ts, fields["ts"], self.spec["timestamp_format"], self.spec["timezone"])
        n = data.num_rows
        checks = [(pc.is_null(ts), "ts: not a valid time")]
        numbers = {}
        for target in ("bytes_up", "bytes_down", "dest_port"):
            if target in fields:
                numbers[target] = to_int64(fields[target])
                checks.append((pc.and_(pc.is_valid(fields[target]), pc.is_null(numbers[target])),
                               f"{target}: not a whole number"))
        if "dest_port" in numbers:
            port = numbers["dest_port"]
            checks.append((pc.fill_null(pc.greater(port, 65535), False), "dest_port: out of range [0, 65535]"))
        for bad, reason in reversed(checks):
            reasons = pc.if_else(pc.and_(pc.is_null(reasons), pc.fill_null(bad, False)), pa.scalar(reason), reasons)
        bad = pc.is_valid(reasons)
        rejected = pa.table({"input_line": data.column("input_line").filter(bad), "reason": reasons.filter(bad),
                             "ts": ts.filter(bad)})
        good = pc.invert(bad)

        def col(target, fn=None, kind=pa.string()):
            if target in numbers:
                return numbers[target]
            if target not in fields:
                return pa.nulls(n, kind)
            return fn(fields[target]) if fn else fields[target]

        host = pc.coalesce(col("dest_host", clean_host), col("url", clean_host))
        if "action" in fields:
            verdict = pc.utf8_upper(pc.utf8_trim_whitespace(fields["action"]))
            blocked = pc.fill_null(pc.is_in(verdict, value_set=self._blocked), False)
        else:
            blocked = pa.array(np.zeros(n, dtype=bool))
        transactions = pa.table({
            "ts": ts,
            "source": constant(self.name, n),
            "device_id": pa.nulls(n, pa.string()),
            "device_name": col("device_name", lower),
            "account": col("user"),
            "src_ip": col("src_ip"),
            "dest_host": host,
            "dest_ip": col("dest_ip"),
            "dest_port": pc.cast(col("dest_port", kind=pa.int64()), pa.int32()),
            "bytes_up": col("bytes_up", kind=pa.int64()),
            "bytes_down": col("bytes_down", kind=pa.int64()),
            "action": pc.if_else(blocked, "blocked", "allowed"),
            "process": pa.nulls(n, pa.string()),
            "input_line": data.column("input_line"),
        }).filter(good)
        return Classified.of(rejected=rejected, transactions=transactions, skipped=skipped)

    def __repr__(self) -> str:
        return f"<source {self.name}>"


def _impossible_dates_to_null(ts, values, spec: str, zone: str):
    """Arrow's strptime reads 31/02 as 03/03 (it checks the day against 31 only): where the format
    has %d, the day written must be the day read (in the format's own time zone)."""
    if spec in SPECIAL_TIMES or "%d" not in spec or "%z" in spec or "%Z" in spec:
        return ts  # (with a zone in the text, strptime's own checks are all there is)
    pattern = _format_regex(spec)
    if pattern is None:
        return ts
    try:
        written = pc.cast(pc.struct_field(pc.extract_regex(values, pattern), "day"), pa.int64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, KeyError):  # %d twice: leave it to strptime
        return ts
    read = pc.day(pc.cast(ts, pa.timestamp("us", tz=zone)))  # the day in the format's own zone
    same = pc.fill_null(pc.equal(read, written), True)
    return pa.chunked_array([pc.if_else(same, ts, pa.scalar(None, ts.type))])


_DIRECTIVE_REGEX = {"Y": r"\d{4}", "y": r"\d{2}", "m": r"\d{1,2}", "d": r"(?P<day>\d{1,2})", "e": r"\s?\d{1,2}",
                    "H": r"\d{1,2}", "I": r"\d{1,2}", "M": r"\d{1,2}", "S": r"\d{1,2}", "j": r"\d{1,3}",
                    "b": r"[A-Za-z]+", "B": r"[A-Za-z]+", "h": r"[A-Za-z]+", "a": r"[A-Za-z]+", "A": r"[A-Za-z]+",
                    "p": r"[A-Za-z]+", "z": r"\S+", "Z": r"\S+", "%": "%"}


def _format_regex(spec: str) -> str | None:
    """A regex finding the day of the month in text written with strptime format `spec`."""
    out, i = ["^"], 0
    while i < len(spec):
        if spec[i] == "%" and i + 1 < len(spec):
            piece = _DIRECTIVE_REGEX.get(spec[i + 1])
            if piece is None:
                return None
            out.append(piece)
            i += 2
        elif spec[i].isspace():
            out.append(r"\s+")
            i += 1
        else:
            out.append(re.escape(spec[i]))
            i += 1
    return "".join(out)
