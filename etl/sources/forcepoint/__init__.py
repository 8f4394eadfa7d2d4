"""Forcepoint (Websense) Web Security cloud CSV export (the Log Export SIEM tool's default format).

One request per line, 17 double-quoted columns and no header:
"date","time","user","workstation","category","action","risk_class","policy_name","url",
"connection_ip","destination_ip","source_ip","threat_type","threat_name","user_agent_string",
"http_status_code","http_request_method". Every line is a transaction (blocked requests keep
their place); the export has no byte counts, so bytes_up/bytes_down are null. Dates are
dd/mm/yyyy and times are the cloud service's UTC. A line with another number of columns is
rejected by the reader with both counts.
"""
from __future__ import annotations

import re

import pyarrow as pa
import pyarrow.compute as pc

import schemas
from etl import schema
from etl.normalize import NULL_MARKERS, UTC_US, clean_host, constant, keep, lower, on_distinct
from etl.sources.base import Classified, Source, head_lines
from etl.sources.framing.delimited import DelimitedReader

NAME = "forcepoint"
DECL = schemas.load(NAME)
COLUMNS = [c["name"] for c in DECL["columns"]]
TIME_FORMAT = "%d/%m/%Y %H:%M:%S"
_NULL = pa.scalar(None, pa.string())
_NULL_MARKERS = pa.array(NULL_MARKERS + DECL["null_markers"])
_BLOCKED = r"block|den(y|ied)"  # Blocked, Blocked by quota, Denied, ...; every other action is allowed
_SCHEME_PORTS = {"https": 443, "http": 80, "ftp": 21}
_RECORD = re.compile(rb'^"\d{1,2}/\d{1,2}/\d{4}","\d{1,2}:\d{2}:\d{2}"(?:,"(?:[^"]|"")*"){15}$')


def _looks_like_record(line: bytes) -> bool:
    return _RECORD.match(line.lstrip(b"\xef\xbb\xbf")) is not None


def _blank(values) -> pa.Array:
    return pc.if_else(pc.is_in(values, value_set=_NULL_MARKERS), _NULL, values)


def _authority(urls) -> pa.Array:
    """`HTTPS://host:port/path?q` -> `HTTPS://host:port`: URLs are nearly all distinct, their
    hosts are not."""
    found = pc.extract_regex(urls, r"^(?P<a>[^/?#]*(?://[^/?#]*)?)")  # 5x faster than naming the scheme
    return pc.struct_field(found, "a")


@on_distinct
def _port(urls) -> pa.Array:
    """The URL's explicit port, else its scheme's (https 443, http 80, ftp 21), else null."""
    found = pc.extract_regex(pc.utf8_lower(urls), r"^(?:(?P<scheme>[a-z][a-z0-9+.-]*)://)?(?:[^/@?#]*@)?"
                                                   r"(?:\[[0-9a-f:.]+\]|[^/:?#]*)(?::(?P<port>\d{1,5}))?")
    explicit = pc.struct_field(found, "port")
    scheme = pc.struct_field(found, "scheme")
    by_scheme = pc.take(pa.array([str(p) for p in _SCHEME_PORTS.values()]),
                        pc.index_in(scheme, value_set=pa.array(list(_SCHEME_PORTS))))
    port = pc.cast(pc.coalesce(pc.if_else(pc.equal(explicit, ""), _NULL, explicit), by_scheme), pa.int64())
    return pc.if_else(pc.fill_null(pc.and_(pc.greater(port, 0), pc.less_equal(port, 65535)), False), port,
                      pa.scalar(None, pa.int64()))


def _real(parsed, written) -> pa.Array:
    """UTC instants, null where the written day is not the parsed one: Arrow's strptime reads
    31/02 as 03/03 (it checks the day against 31, not against the month)."""
    day = pc.cast(pc.struct_field(pc.extract_regex(written, r"^(?P<day>\d{1,2})/"), "day"), pa.int64())
    same = pc.fill_null(pc.equal(pc.day(parsed), day), False)
    return pc.cast(pc.if_else(same, parsed, pa.scalar(None, parsed.type)), UTC_US)


def classify(rows: pa.Table) -> Classified:
    rows = rows.combine_chunks()
    blanked = rows
    for name in COLUMNS:
        blanked = blanked.set_column(blanked.schema.get_field_index(name), name, _blank(rows.column(name)))
    when = pc.binary_join_element_wise(blanked.column("date"), blanked.column("time"), " ")
    ts = _real(pc.strptime(when, format=TIME_FORMAT, unit="us", error_is_null=True), when)
    reasons = schema.row_violations(blanked, DECL)
    reasons = pc.if_else(pc.and_(pc.is_null(reasons), pc.is_null(ts)), pa.scalar("date, time: not a valid time"),
                         reasons)
    bad = pc.is_valid(reasons)
    rejected = pa.table({"input_line": rows.column("input_line").filter(bad), "reason": reasons.filter(bad),
                         "ts": ts.filter(bad)})
    good = pc.invert(bad)
    part, ts = keep(blanked, good), keep(pa.table({"ts": ts}), good).column("ts")
    n = part.num_rows
    url = _authority(part.column("url"))  # scheme://host:port: few distinct, so the transforms run once each
    blocked = pc.fill_null(pc.match_substring_regex(lower(part.column("action")), _BLOCKED), False)
    transactions = pa.table({
        "ts": ts,
        "source": constant(NAME, n),
        "device_id": pa.nulls(n, pa.string()),
        "device_name": lower(part.column("workstation")),
        "account": part.column("user"),
        "src_ip": pc.coalesce(part.column("source_ip"), part.column("connection_ip")),
        "dest_host": clean_host(url),
        "dest_ip": part.column("destination_ip"),
        "dest_port": pc.cast(_port(url), pa.int32()),
        "bytes_up": pa.nulls(n, pa.int64()),     # the export has no byte counts
        "bytes_down": pa.nulls(n, pa.int64()),
        "action": pc.if_else(blocked, "blocked", "allowed"),
        "process": pa.nulls(n, pa.string()),
        "input_line": part.column("input_line"),
    })
    return Classified.of(rejected=rejected, transactions=transactions)


class ForcepointSource(Source):
    name = NAME
    decl = DECL
    description = "Forcepoint (Websense) Web Security cloud CSV export (17 quoted columns)"

    def detect(self, head: bytes) -> float:
        lines = head_lines(head)
        if not lines:
            return 0.0
        share = sum(1 for line in lines if _looks_like_record(line)) / len(lines)
        return 0.5 + 0.5 * share if share else 0.0

    def reader(self) -> DelimitedReader:
        return DelimitedReader(COLUMNS)

    def classify(self, rows: pa.Table) -> Classified:
        return classify(rows)


SOURCE = ForcepointSource()
