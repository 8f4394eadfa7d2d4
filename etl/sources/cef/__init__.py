"""ArcSight CEF, generic (any vendor), uploaded as files (see docs/formats/cef.md).

Every CEF line that names a destination (dst, dhost or request) is a transaction; `act` blocked /
denied / deny / drop / block (...) makes it blocked. CEF lines with no destination are skipped as
"cef:no destination". Times: rt, else end, else start, else an ISO 8601 syslog header time.
"""
from __future__ import annotations

import re

import pyarrow as pa
import pyarrow.compute as pc

import schemas
from etl import schema
from etl.normalize import blank_to_null, clean_host, constant, keep, lower, parse_time, to_int64
from etl.sources.base import Classified, Source, share_of_lines
from etl.sources.framing.kv import CefReader, local_to_utc, time_reason

NAME = "cef"
DECL = schemas.load(NAME)
_BLOCKED = pa.array(DECL["blocked_actions"])
_NULL = pa.scalar(None, pa.string())
_CEF = re.compile(rb"(?:^|[\s>:])CEF:\d+\|")
_DATE = (r"^(?P<d>[A-Za-z]{3} +\d{1,2} \d{4} \d{1,2}:\d{2}:\d{2})(?P<f>\.\d{1,3})?"
         r"(?: (?P<z>[A-Za-z][A-Za-z0-9/_+:-]*|[+-]\d{2}:?\d{2}))?$")


def _looks_like_cef(line: bytes) -> bool:
    return _CEF.search(line) is not None


def _clean(rows: pa.Table, name: str):
    return blank_to_null(rows.column(name))


def cef_time(values) -> pa.ChunkedArray:
    """CEF time text -> timestamp[us, UTC]: milliseconds since the epoch, `MMM dd yyyy HH:mm:ss[.SSS]
    [ zone]` (no zone: UTC; a zone that is not an offset, an unambiguous abbreviation or an IANA
    name: null), or ISO 8601. Year-less `MMM dd HH:mm:ss` is not a time here (null)."""
    values = blank_to_null(values)
    ms = parse_time(pc.if_else(pc.fill_null(pc.match_substring_regex(values, r"^\d{1,16}$"), False),
                               values, _NULL), "epoch_ms")
    found = pc.extract_regex(values, _DATE)
    text = pc.if_else(pc.is_valid(found), pc.replace_substring_regex(pc.struct_field(found, "d"), " +", " "), _NULL)
    zone = pc.struct_field(found, "z")
    zone = pc.if_else(pc.equal(zone, ""), _NULL, zone)
    dated = local_to_utc(text, zone, fmt="%b %d %Y %H:%M:%S")
    fraction = pc.utf8_rpad(pc.utf8_slice_codeunits(pc.struct_field(found, "f"), 1, 4), 3, "0")  # ".5" -> 500 ms
    millis = pc.cast(pc.fill_null(pc.if_else(pc.is_valid(dated), fraction, _NULL), "000"), pa.int64())
    dated = pc.add(dated, pc.cast(pc.multiply(millis, 1000), pa.duration("us")))
    iso = parse_time(values, "iso8601")
    return pa.chunked_array([pc.coalesce(ms.combine_chunks(), dated, iso.combine_chunks())])


def _timestamps(rows: pa.Table) -> tuple[pa.Array, pa.Array]:
    ts = pc.coalesce(cef_time(rows.column("rt")), cef_time(rows.column("end")), cef_time(rows.column("start")),
                     parse_time(rows.column("syslog_ts"), "iso8601"))
    return ts, time_reason(rows, ts, ("rt", "end", "start"))


def classify(rows: pa.Table) -> Classified:
    reasons = schema.row_violations(rows, DECL)
    bad = pc.is_valid(reasons)
    ts, ts_reason = _timestamps(rows)
    rejected = [pa.table({"input_line": rows.column("input_line").filter(bad), "reason": reasons.filter(bad),
                          "ts": ts.filter(bad)})]
    good = pc.invert(bad)
    rows, ts, ts_reason = keep(rows, good), ts.filter(good), ts_reason.filter(good)

    dest_ip, dhost, request = _clean(rows, "dst"), _clean(rows, "dhost"), _clean(rows, "request")
    is_tx = pc.or_(pc.or_(pc.is_valid(dest_ip), pc.is_valid(dhost)), pc.is_valid(request))
    blocked = pc.fill_null(pc.is_in(lower(_clean(rows, "act")), value_set=_BLOCKED), False)
    device = lower(_clean(rows, "shost"))
    port = to_int64(rows.column("dpt"))
    port = pc.if_else(pc.fill_null(pc.less_equal(port, 65535), False), port, pa.scalar(None, pa.int64()))
    events = pa.table({
        "ts": ts,
        "source": constant(NAME, rows.num_rows),
        "device_id": device,
        "device_name": device,
        "account": _clean(rows, "suser"),
        "src_ip": _clean(rows, "src"),
        "dest_host": pc.coalesce(clean_host(request), clean_host(dhost)),
        "dest_ip": dest_ip,
        "dest_port": pc.cast(port, pa.int32()),
        "bytes_up": to_int64(rows.column("bytes_in")),     # bytesIn: source -> destination
        "bytes_down": to_int64(rows.column("bytes_out")),  # bytesOut: destination -> source
        "action": pc.if_else(blocked, "blocked", "allowed"),
        "process": pa.nulls(rows.num_rows, pa.string()),
        "input_line": rows.column("input_line"),
    })

    checked = pa.table({"src": events.column("src_ip"), "shost": device})
    tx_reason = pc.coalesce(schema.row_violations(checked, DECL["transaction_rules"]), ts_reason)
    tx_bad = pc.and_(is_tx, pc.is_valid(tx_reason))
    rejected.append(pa.table({"input_line": rows.column("input_line").filter(tx_bad),
                              "reason": tx_reason.filter(tx_bad), "ts": ts.filter(tx_bad)}))
    tx_ok = pc.and_(is_tx, pc.invert(pc.fill_null(tx_bad, False)))
    skipped = pa.table({"ts": ts, "reason": constant("cef:no destination", rows.num_rows),
                        "input_line": rows.column("input_line")}).filter(pc.invert(is_tx))
    return Classified.of(rejected=pa.concat_tables(rejected), transactions=keep(events, tx_ok), skipped=skipped)


class CefSource(Source):
    name = NAME
    decl = DECL
    description = "ArcSight CEF (any vendor), with or without a syslog header"

    def detect(self, head: bytes) -> float:
        return share_of_lines(head, _looks_like_cef)

    def reader(self) -> CefReader:
        return CefReader(DECL)

    def classify(self, rows: pa.Table) -> Classified:
        return classify(rows)


SOURCE = CefSource()
