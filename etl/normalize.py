"""Small vectorised helpers shared by the format modules."""
from __future__ import annotations

from typing import Callable

import pyarrow as pa
import pyarrow.compute as pc

NULL_MARKERS = ["", "-", "null", "None", "N/A"]


def on_distinct(fn: Callable):
    """Run an Arrow string transform once per distinct value (logs repeat values endlessly)."""
    def wrapper(values, *args):
        if isinstance(values, pa.ChunkedArray):
            values = values.combine_chunks() if values.num_chunks else pa.array([], values.type)
        if len(values) < 1024:
            return fn(values, *args)
        encoded = pc.dictionary_encode(values)
        return pc.take(fn(encoded.dictionary, *args), encoded.indices)
    wrapper.__doc__ = fn.__doc__
    wrapper.__name__ = fn.__name__
    return wrapper


@on_distinct
def blank_to_null(values) -> pa.Array:
    """'-', '' and friends (as real exports write them) -> null."""
    values = pc.utf8_trim_whitespace(values)
    return pc.if_else(pc.is_in(values, value_set=pa.array(NULL_MARKERS)), pa.scalar(None, pa.string()), values)


@on_distinct
def lower(values) -> pa.Array:
    return pc.utf8_lower(values)


@on_distinct
def clean_host(values) -> pa.Array:
    """URL or host -> bare lower-case host name (no scheme, credentials, path, port, trailing dot)."""
    values = pc.utf8_lower(blank_to_null(values))
    values = pc.replace_substring_regex(values, r"^[a-z][a-z0-9+.-]*://", "")
    values = pc.replace_substring_regex(values, r"^[^/@]*@", "")
    values = pc.replace_substring_regex(values, r"[/?#].*$", "")
    # strip a :port, but not from a bare IPv6 literal
    values = pc.replace_substring_regex(values, r"^([^:\[\]]+):\d+$", r"\1")
    values = pc.replace_substring_regex(values, r"^\[([0-9a-f:.]+)\](:\d+)?$", r"\1")
    values = pc.replace_substring_regex(values, r"\.+$", "")
    return pc.if_else(pc.equal(values, ""), pa.scalar(None, pa.string()), values)


def map_unique(values, fn: Callable, out_type: pa.DataType) -> pa.ChunkedArray:
    """Apply a Python function once per distinct value and spread the results back.

    Logs repeat the same hosts, accounts and JSON blobs millions of times; the distinct set is
    small, so per-value Python work stays cheap while the row-level work stays in Arrow.
    """
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks() if values.num_chunks else pa.array([], values.type)
    distinct = pc.unique(values)
    mapped = pa.array([fn(v) if v is not None else None for v in distinct.to_pylist()], type=out_type)
    return pa.chunked_array([pc.take(mapped, pc.index_in(values, value_set=distinct))], type=out_type)


@on_distinct
def json_field(values, key: str) -> pa.Array:
    """One string field out of JSON *or* Python-dict text (`{"host": ..}` / `{'host': ..}`)."""
    pattern = r"""["']""" + key + r"""["']\s*:\s*["'](?P<v>[^"']*)["']"""
    extracted = pc.extract_regex(pc.fill_null(values, ""), pattern)
    found = pc.struct_field(extracted, "v")
    return pc.if_else(pc.is_valid(extracted), found, pa.scalar(None, pa.string()))


def keep(table, mask):
    """`table.filter(mask)` without the copy when every row is kept, which is the usual case
    (a folder holds one table, a day's rows are the day's, most rows pass their checks)."""
    if mask.null_count == 0 and pc.all(mask).as_py() is not False:
        return table
    return table.filter(mask)


def epoch_ms_to_ts(values) -> pa.ChunkedArray:
    return pc.cast(pc.multiply(pc.cast(values, pa.int64()), 1000), pa.timestamp("us", tz="UTC"))


def constant(value: str, length: int) -> pa.Array:
    return pc.fill_null(pa.nulls(length, pa.string()), value)


UTC_US = pa.timestamp("us", tz="UTC")


def parse_time(values, spec: str, timezone: str = "UTC") -> pa.ChunkedArray:
    """Text times -> timestamp[us, UTC], null where a value does not parse.

    `spec`: a strptime format, or `epoch` (seconds, fractions allowed), `epoch_ms`, `iso8601`.
    Times written without a zone are in `timezone` (an IANA name such as Europe/Berlin)."""
    values = blank_to_null(values)
    if spec in ("epoch", "epoch_ms"):
        numbers = pc.cast(pc.if_else(pc.match_substring_regex(values, r"^\d+(\.\d+)?$"), values,
                                     pa.scalar(None, pa.string())), pa.float64())
        micros = pc.multiply(numbers, 1_000_000 if spec == "epoch" else 1_000)
        return pa.chunked_array([pc.cast(pc.cast(pc.round(micros), pa.int64()), UTC_US)])
    if spec == "iso8601":
        from etl import schema

        shaped = pc.fill_null(pc.match_substring_regex(values, schema.ISO8601), False)
        values = pc.if_else(shaped, values, pa.scalar(None, pa.string()))
        if timezone != "UTC":
            has_zone = pc.fill_null(pc.match_substring_regex(values, r"(Z|[+-]\d{2}:?\d{2})$"), True)
            naive = pc.strptime(pc.if_else(has_zone, pa.scalar(None, pa.string()), pc.replace_substring(values, "T", " ")),
                                format="%Y-%m-%d %H:%M:%S", unit="us", error_is_null=True)
            local = _assume(naive, timezone)
            return pa.chunked_array([pc.coalesce(schema.parse_timestamps(pc.if_else(has_zone, values, pa.scalar(None, pa.string()))), local)])
        return pa.chunked_array([schema.parse_timestamps(values)])
    parsed = pc.strptime(values, format=spec, unit="us", error_is_null=True)
    if parsed.type.tz is None:
        return pa.chunked_array([_assume(parsed, timezone)])
    return pa.chunked_array([pc.cast(parsed, UTC_US)])


def _assume(naive, timezone: str):
    if timezone == "UTC":
        return pc.cast(naive, UTC_US)
    local = pc.assume_timezone(naive, timezone=timezone, ambiguous="earliest", nonexistent="earliest")
    return pc.cast(local, UTC_US)


def to_int64(values) -> pa.ChunkedArray:
    """Counts written as text ('1234', '-', '') -> int64, null where not a whole number."""
    values = blank_to_null(values)
    whole = pc.fill_null(pc.match_substring_regex(values, r"^\d{1,18}$"), False)
    return pa.chunked_array([pc.cast(pc.if_else(whole, values, pa.scalar(None, pa.string())), pa.int64())])
