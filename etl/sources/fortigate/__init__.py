"""FortiGate (FortiOS) key=value syslog, uploaded as files (see docs/formats/fortigate.md).

Transactions: type=traffic subtype=forward|local lines whose action ends a session (accept,
close, timeout, server-/client-rst: allowed; deny, block, ip-conn: blocked), and type=utm
subtype=webfilter lines that were blocked (a blocked request may have no traffic line; an
allowed one is counted by its traffic line, so it is skipped as "utm:webfilter"). Everything
else is skipped as "<type>:<subtype>" (event:system, utm:dns, ...) or "traffic:<action>".
"""
from __future__ import annotations

import re

import pyarrow as pa
import pyarrow.compute as pc

import schemas
from etl import schema
from etl.normalize import blank_to_null, clean_host, constant, keep, lower, to_int64
from etl.sources.base import Classified, Source, share_of_lines
from etl.sources.framing.kv import KvReader, epoch_to_utc, local_to_utc, time_reason

NAME = "fortigate"
DECL = schemas.load(NAME)
_TRAFFIC = DECL["traffic"]
_SUBTYPES = pa.array(_TRAFFIC["subtypes"])
_ALLOWED = pa.array(_TRAFFIC["allowed"])
_BLOCKED = pa.array(_TRAFFIC["blocked"])
_WEBFILTER_BLOCKED = pa.array(DECL["webfilter_blocked"])

# logid (FortiOS) or log_id (FortiManager / FortiAnalyzer) of 10 digits, and a type=
_LOGID = re.compile(rb'(?:^|[\s>])(?:logid|log_id)="?\d{10}"?(?:\s|$)')
_TYPE = re.compile(rb'(?:^|\s)type="?[a-z-]+"?(?:\s|$)')
_DEVICE = re.compile(rb'(?:^|[\s>])(?:devid|devname|device_id|date|eventtime)=')


def _looks_like_fortigate(line: bytes) -> bool:
    return (b"CEF:" not in line and _LOGID.search(line) is not None and _TYPE.search(line) is not None
            and _DEVICE.search(line) is not None)


def _clean(rows: pa.Table, name: str):
    return blank_to_null(rows.column(name))


def _timestamps(rows: pa.Table) -> tuple[pa.Array, pa.Array]:
    """(ts, why it is null: "ts: missing" / "ts: not a valid time") per row."""
    date, time = _clean(rows, "date"), _clean(rows, "time")
    local = pc.binary_join_element_wise(date, time, " ")
    ts = pc.coalesce(local_to_utc(local, _clean(rows, "tz")),  # no tz: UTC; unreadable tz: next
                     epoch_to_utc(_clean(rows, "eventtime")), epoch_to_utc(_clean(rows, "timestamp")),
                     epoch_to_utc(_clean(rows, "itime")))
    return ts, time_reason(rows, ts, ("date", "time", "eventtime", "timestamp", "itime"))


def classify(rows: pa.Table) -> Classified:
    reasons = schema.row_violations(rows, DECL)
    bad = pc.is_valid(reasons)
    ts, ts_reason = _timestamps(rows)
    rejected = [pa.table({"input_line": rows.column("input_line").filter(bad), "reason": reasons.filter(bad),
                          "ts": ts.filter(bad)})]
    good = pc.invert(bad)
    rows, ts, ts_reason = keep(rows, good), ts.filter(good), ts_reason.filter(good)

    kind, subtype, action = (lower(_clean(rows, n)) for n in ("type", "subtype", "action"))
    traffic = pc.fill_null(pc.equal(kind, "traffic"), False)
    session_traffic = pc.and_(traffic, pc.fill_null(pc.is_in(subtype, value_set=_SUBTYPES), False))
    allowed = pc.fill_null(pc.is_in(action, value_set=_ALLOWED), False)
    blocked = pc.fill_null(pc.is_in(action, value_set=_BLOCKED), False)
    webfilter_blocked = pc.and_(
        pc.fill_null(pc.and_(pc.equal(kind, "utm"), pc.equal(subtype, "webfilter")), False),
        pc.fill_null(pc.is_in(action, value_set=_WEBFILTER_BLOCKED), False))
    is_tx = pc.or_(pc.and_(session_traffic, pc.or_(allowed, blocked)), webfilter_blocked)

    account = pc.coalesce(_clean(rows, "user"), _clean(rows, "unauthuser"))
    device = lower(_clean(rows, "srcname"))
    port = to_int64(rows.column("dstport"))
    port = pc.if_else(pc.fill_null(pc.less_equal(port, 65535), False), port, pa.scalar(None, pa.int64()))
    events = pa.table({
        "ts": ts,
        "source": constant(NAME, rows.num_rows),
        "device_id": device,
        "device_name": device,
        "account": account,
        "src_ip": _clean(rows, "srcip"),
        "dest_host": clean_host(rows.column("hostname")),
        "dest_ip": _clean(rows, "dstip"),
        "dest_port": pc.cast(port, pa.int32()),
        "bytes_up": to_int64(rows.column("sentbyte")),     # sentbyte: client -> server
        "bytes_down": to_int64(rows.column("rcvdbyte")),   # rcvdbyte: server -> client
        "action": pc.if_else(pc.or_(blocked, webfilter_blocked), "blocked", "allowed"),
        "process": pa.nulls(rows.num_rows, pa.string()),
        "input_line": rows.column("input_line"),
    })

    # the transaction rules, on the candidates only, with their values cleaned as above
    checked = pa.table({"srcip": events.column("src_ip"), "dstip": events.column("dest_ip"),
                        "hostname": events.column("dest_host")})
    tx_reason = pc.coalesce(schema.row_violations(checked, DECL["transaction_rules"]), ts_reason)
    tx_bad = pc.and_(is_tx, pc.is_valid(tx_reason))
    rejected.append(pa.table({"input_line": rows.column("input_line").filter(tx_bad),
                              "reason": tx_reason.filter(tx_bad), "ts": ts.filter(tx_bad)}))
    tx_ok = pc.and_(is_tx, pc.invert(pc.fill_null(tx_bad, False)))

    kind_text, subtype_text = pc.fill_null(kind, "-"), pc.fill_null(subtype, "-")
    reason = pc.if_else(pc.and_(session_traffic, pc.invert(pc.or_(allowed, blocked))),
                        pc.binary_join_element_wise("traffic", pc.fill_null(action, "no action"), ":"),
                        pc.binary_join_element_wise(kind_text, subtype_text, ":"))
    not_tx = pc.invert(is_tx)
    skipped = pa.table({"ts": ts, "reason": reason, "input_line": rows.column("input_line")}).filter(not_tx)
    return Classified.of(rejected=pa.concat_tables(rejected), transactions=keep(events, tx_ok), skipped=skipped)


class FortigateSource(Source):
    name = NAME
    decl = DECL
    description = "FortiGate / FortiOS key=value syslog (traffic, webfilter, event)"

    def detect(self, head: bytes) -> float:
        return share_of_lines(head, _looks_like_fortigate)

    def reader(self) -> KvReader:
        return KvReader(DECL, unquoted="token")

    def classify(self, rows: pa.Table) -> Classified:
        return classify(rows)


SOURCE = FortigateSource()
