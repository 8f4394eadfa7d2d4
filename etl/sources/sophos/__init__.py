"""Sophos XG / SFOS key=value syslog, uploaded as files (see docs/formats/sophos.md).

Transactions: log_type="Content Filtering" with log_component HTTP(S), and log_type="Firewall";
log_subtype Denied (also Drop, Warned) or status Deny make them blocked. Other log types are
skipped as "<log_type>:<log_component>" in lower case (e.g. "event:gui", "idp:anomaly").
"""
from __future__ import annotations

import re

import pyarrow as pa
import pyarrow.compute as pc

import schemas
from etl import schema
from etl.normalize import blank_to_null, clean_host, constant, keep, lower, parse_time, to_int64
from etl.sources.base import Classified, Source, share_of_lines
from etl.sources.framing.kv import KvReader, local_to_utc

NAME = "sophos"
DECL = schemas.load(NAME)
_TX = DECL["transactions"]
_FIREWALL = pa.array(_TX["firewall"])
_CONTENT = pa.array(_TX["content_filtering"])
_CONTENT_COMPONENTS = pa.array(_TX["content_filtering_components"])
_BLOCKED_SUBTYPES = pa.array(DECL["blocked_subtypes"])
_BLOCKED_STATUS = pa.array(DECL["blocked_status"])
_NULL = pa.scalar(None, pa.string())

_LOG_TYPE = re.compile(rb'(?:^|[\s>])log_type="[^"]*"')
_LOG_COMPONENT = re.compile(rb'(?:^|\s)log_component=')
_DEVICE = re.compile(rb'(?:^|[\s>])(?:device="SFW"|device_name=|log_id=)')


def _looks_like_sophos(line: bytes) -> bool:
    return (b"CEF:" not in line and _LOG_TYPE.search(line) is not None and _LOG_COMPONENT.search(line) is not None
            and _DEVICE.search(line) is not None)


def _clean(rows: pa.Table, name: str):
    return blank_to_null(rows.column(name))


def _timestamps(rows: pa.Table) -> tuple[pa.Array, pa.Array]:
    """(ts, why it is null) per row: date+time in `timezone` (a zone that cannot be mapped safely,
    or none: UTC), else SFOS 19+ `timestamp` (ISO 8601)."""
    date, time = _clean(rows, "date"), _clean(rows, "time")
    local = pc.binary_join_element_wise(date, time, " ")
    ts = pc.coalesce(local_to_utc(local, _clean(rows, "timezone"), unknown_offset="+0000"),
                     parse_time(rows.column("timestamp"), "iso8601"))
    written = pc.or_(pc.or_(pc.is_valid(date), pc.is_valid(time)), pc.is_valid(_clean(rows, "timestamp")))
    reason = pc.if_else(written, "ts: not a valid time", "ts: missing")
    return ts, pc.if_else(pc.is_null(ts), reason, _NULL)


def classify(rows: pa.Table) -> Classified:
    reasons = schema.row_violations(rows, DECL)
    bad = pc.is_valid(reasons)
    ts, ts_reason = _timestamps(rows)
    rejected = [pa.table({"input_line": rows.column("input_line").filter(bad), "reason": reasons.filter(bad),
                          "ts": ts.filter(bad)})]
    good = pc.invert(bad)
    rows, ts, ts_reason = keep(rows, good), ts.filter(good), ts_reason.filter(good)

    log_type, component = lower(_clean(rows, "log_type")), lower(_clean(rows, "log_component"))
    subtype, status = lower(_clean(rows, "log_subtype")), lower(_clean(rows, "status"))
    firewall = pc.fill_null(pc.is_in(log_type, value_set=_FIREWALL), False)
    content = pc.fill_null(pc.and_(pc.is_in(log_type, value_set=_CONTENT),
                                   pc.is_in(component, value_set=_CONTENT_COMPONENTS)), False)
    is_tx = pc.or_(firewall, content)
    blocked = pc.or_(pc.fill_null(pc.is_in(subtype, value_set=_BLOCKED_SUBTYPES), False),
                     pc.fill_null(pc.is_in(status, value_set=_BLOCKED_STATUS), False))

    port = to_int64(rows.column("dst_port"))
    port = pc.if_else(pc.fill_null(pc.less_equal(port, 65535), False), port, pa.scalar(None, pa.int64()))
    # `domain=www. google.ca`: SFOS can split a name with a space; a host name holds none
    domain = pc.replace_substring_regex(_clean(rows, "domain"), r"\s+", "")
    events = pa.table({
        "ts": ts,
        "source": constant(NAME, rows.num_rows),
        "device_id": pa.nulls(rows.num_rows, pa.string()),
        "device_name": pa.nulls(rows.num_rows, pa.string()),
        "account": _clean(rows, "user_name"),
        "src_ip": _clean(rows, "src_ip"),
        "dest_host": pc.coalesce(clean_host(rows.column("url")), clean_host(domain)),
        "dest_ip": _clean(rows, "dst_ip"),
        "dest_port": pc.cast(port, pa.int32()),
        # sent_bytes / bytes_sent: client -> server; recv_bytes / bytes_received: server -> client
        "bytes_up": pc.coalesce(to_int64(rows.column("sent_bytes")), to_int64(rows.column("bytes_sent"))),
        "bytes_down": pc.coalesce(to_int64(rows.column("recv_bytes")), to_int64(rows.column("bytes_received"))),
        "action": pc.if_else(blocked, "blocked", "allowed"),
        "process": pa.nulls(rows.num_rows, pa.string()),
        "input_line": rows.column("input_line"),
    })

    checked = pa.table({"src_ip": events.column("src_ip"), "dst_ip": events.column("dest_ip"),
                        "url": _clean(rows, "url"), "domain": domain})
    tx_reason = pc.coalesce(schema.row_violations(checked, DECL["transaction_rules"]), ts_reason)
    tx_bad = pc.and_(is_tx, pc.is_valid(tx_reason))
    rejected.append(pa.table({"input_line": rows.column("input_line").filter(tx_bad),
                              "reason": tx_reason.filter(tx_bad), "ts": ts.filter(tx_bad)}))
    tx_ok = pc.and_(is_tx, pc.invert(pc.fill_null(tx_bad, False)))

    reason = pc.binary_join_element_wise(pc.fill_null(log_type, "-"), pc.fill_null(component, "-"), ":")
    skipped = pa.table({"ts": ts, "reason": reason, "input_line": rows.column("input_line")}).filter(pc.invert(is_tx))
    return Classified.of(rejected=pa.concat_tables(rejected), transactions=keep(events, tx_ok), skipped=skipped)


class SophosSource(Source):
    name = NAME
    decl = DECL
    description = "Sophos XG / SFOS key=value syslog (Content Filtering, Firewall)"

    def detect(self, head: bytes) -> float:
        return share_of_lines(head, _looks_like_sophos)

    def reader(self) -> KvReader:
        return KvReader(DECL, unquoted="to_next_key")

    def classify(self, rows: pa.Table) -> Classified:
        return classify(rows)


SOURCE = SophosSource()
