"""Palo Alto Networks PAN-OS syslog in its CSV format (TRAFFIC and THREAT/url records).

A record is one line of comma-separated fields, bare (`1,2026/01/01 00:00:00,serial,TRAFFIC,end,...`)
or after a syslog header (`<14>Jan  1 00:00:00 fw01 1,2026/...`). A syslog header has no comma,
so it only lengthens the first field (FUTURE_USE) and every position stays where the PAN-OS
field documentation puts it. Records have as many trailing fields as their type and PAN-OS
version give them: only the positions in schemas/panos.yaml are read, extra fields are ignored
and missing trailing ones are null (a TRAFFIC record cut before its byte counts is rejected).

- TRAFFIC end: an allowed transaction (blocked if its action is deny/drop/reset-*);
  TRAFFIC drop/deny: a blocked transaction, bytes kept; TRAFFIC start: skipped "traffic:start"
  (its end record carries the totals: counting both would count the session twice); any other
  subtype: skipped "traffic:<subtype>".
- THREAT url: a transaction without byte counts, host from the URL field, action from the
  action field; other THREAT subtypes: skipped "threat:<subtype>".
- every other type (SYSTEM, CONFIG, GLOBALPROTECT, ...): skipped under its name in lower case.

receive_time is the firewall's local time, written without a zone: read as UTC.
"""
from __future__ import annotations

import re

import pyarrow as pa
import pyarrow.compute as pc

import schemas
from etl import schema
from etl.normalize import NULL_MARKERS, UTC_US, clean_host, constant, keep, lower, to_int64
from etl.sources.base import Classified, Source, head_lines
from etl.sources.framing.delimited import DelimitedReader

NAME = "panos"
DECL = schemas.load(NAME)
TIME_FORMAT = "%Y/%m/%d %H:%M:%S"
TIMEZONE = "UTC"

_POSITIONS = {c["name"]: c["position"] for c in DECL["columns"]}
_BLOCKED_SUBTYPES = pa.array(["drop", "deny"])
_BLOCKED_ACTION = r"^(deny|drop|reset-|block|sinkhole|override-lockout)"  # allow/alert/continue/override: allowed
_TYPE = r"^[A-Z][A-Z0-9_-]{1,31}$"
_NULL = pa.scalar(None, pa.string())
_NULL_MARKERS = pa.array(NULL_MARKERS)
_TRAFFIC_SUBTYPES = pa.array(["end", "drop", "deny"])
_RULED = sorted({column for column, _, _ in schema.rules_for(DECL)})
_SIGNATURE = re.compile(
    rb"(?:^|[\s>,])\d*,\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2},[^,]*,"
    rb"(?:TRAFFIC|THREAT|SYSTEM|CONFIG|HIPMATCH|HIP-MATCH|GLOBALPROTECT|USERID|CORRELATION|DECRYPTION|"
    rb"AUTHENTICATION|AUTH|IPTAG|TUNNEL|GTP|SCTP),")


def _looks_like_record(line: bytes) -> bool:
    return _SIGNATURE.search(line) is not None


class PanosReader(DelimitedReader):
    """The positions PAN-OS records need; position 31 split into `bytes` (TRAFFIC) and `url` (THREAT)."""

    def __init__(self):
        super().__init__(select=_POSITIONS, min_fields=DECL["min_fields"])

    def refine(self, rows):
        kind = rows.column("type")
        for name, kind_of in (("bytes", "TRAFFIC"), ("url", "THREAT")):
            own = pc.fill_null(pc.equal(kind, kind_of), False)
            rows = rows.set_column(rows.schema.get_field_index(name), name,
                                   pc.if_else(own, rows.column(name), _NULL))
        return rows


def _reasons(kind, subtype) -> pa.ChunkedArray:
    """Why a record that is not traffic is skipped: traffic:<subtype>, threat:<subtype>, <type>."""
    sub = pc.fill_null(pc.if_else(pc.equal(pc.fill_null(subtype, ""), ""), "(none)", subtype), "(none)")
    prefix = lower(kind)
    with_sub = pc.binary_join_element_wise(prefix, sub, ":")
    has_sub = pc.is_in(kind, value_set=pa.array(["TRAFFIC", "THREAT"]))
    return pc.if_else(has_sub, with_sub, prefix)


def _blank(values) -> pa.Array:
    """'-', '' and the like -> null (PAN-OS fields are never padded, so no trimming is needed)."""
    return pc.if_else(pc.is_in(values, value_set=_NULL_MARKERS), _NULL, values)


def _ints(values) -> pa.ChunkedArray:
    """Counts as text -> int64, null where not a whole number (one cast when all are clean)."""
    try:
        numbers = pc.cast(values, pa.int64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return to_int64(values)
    if pc.any(pc.less(numbers, 0)).as_py():
        return to_int64(values)
    return numbers


def _real(parsed, written) -> pa.Array:
    """UTC instants, null where the written day is not the parsed one: Arrow's strptime reads
    31/02 as 03/03 (it checks the day against 31, not against the month)."""
    day = pc.cast(pc.struct_field(pc.extract_regex(written, r"^\d{4}/\d{1,2}/(?P<day>\d{1,2}) "), "day"), pa.int64())
    same = pc.fill_null(pc.equal(pc.day(parsed), day), False)
    return pc.cast(pc.if_else(same, parsed, pa.scalar(None, parsed.type)), UTC_US)


def classify(rows: pa.Table) -> Classified:
    rows = rows.combine_chunks()
    line = rows.column("input_line")
    kind = rows.column("type")
    subtype = lower(rows.column("subtype"))
    times = _blank(rows.column("receive_time"))
    ts = _real(pc.strptime(times, format=TIME_FORMAT, unit="us", error_is_null=True), times)  # UTC: see docstring
    rejected, skipped, transactions = [], [], []

    known = pc.fill_null(pc.match_substring_regex(kind, _TYPE), False)
    traffic = pc.fill_null(pc.and_(pc.equal(kind, "TRAFFIC"), pc.is_in(subtype, value_set=_TRAFFIC_SUBTYPES)), False)
    url = pc.fill_null(pc.and_(pc.equal(kind, "THREAT"), pc.equal(subtype, "url")), False)
    candidate = pc.or_(traffic, url)

    unknown = pc.invert(known)
    if pc.any(unknown).as_py():
        rejected.append(pa.table({"input_line": line.filter(unknown),
                                  "reason": constant("type: not a PAN-OS log type", pc.sum(unknown).as_py()),
                                  "ts": ts.filter(unknown)}))
    other = pc.and_(known, pc.invert(candidate))
    if pc.any(other).as_py():
        skipped.append(pa.table({"ts": ts.filter(other), "reason": _reasons(kind.filter(other), subtype.filter(other)),
                                 "input_line": line.filter(other)}))

    columns = {name: rows.column(name) for name in rows.column_names}
    columns.update(receive_time=times, subtype=subtype, ts=ts)
    table = pa.table(columns)
    for scope, mask in (("traffic", traffic), ("url", url)):
        if not pc.any(mask).as_py():
            continue
        part = keep(table, mask)
        blanked = part
        for name in _RULED:
            blanked = blanked.set_column(blanked.schema.get_field_index(name), name, _blank(part.column(name)))
        reasons = schema.row_violations(blanked, DECL, scope=scope)
        late = [(pc.is_null(part.column("ts")), "receive_time: not a valid time")]
        counts = {}
        if scope == "traffic":
            for name in ("bytes_sent", "bytes_received"):
                counts[name] = _ints(blanked.column(name))
                late.append((pc.is_null(counts[name]), f"{name}: not a whole number"))
        for bad, reason in reversed(late):
            reasons = pc.if_else(pc.and_(pc.is_null(reasons), bad), pa.scalar(reason), reasons)
        bad = pc.is_valid(reasons)
        if pc.any(bad).as_py():
            rejected.append(pa.table({"input_line": part.column("input_line").filter(bad),
                                      "reason": reasons.filter(bad), "ts": part.column("ts").filter(bad)}))
            good = pc.invert(bad)
            blanked, counts = blanked.filter(good), {k: v.filter(good) for k, v in counts.items()}
        if blanked.num_rows:
            transactions.append(_transactions(blanked, counts, scope))

    return Classified.of(rejected=pa.concat_tables(rejected) if rejected else None,
                         transactions=pa.concat_tables(transactions) if transactions else None,
                         skipped=pa.concat_tables(skipped) if skipped else None)


def _transactions(part: pa.Table, counts: dict, scope: str) -> pa.Table:
    """Transactions of rows that passed the checks (rule columns already blank -> null)."""
    n = part.num_rows
    action = lower(part.column("action"))
    blocked = pc.fill_null(pc.match_substring_regex(action, _BLOCKED_ACTION), False)
    if scope == "traffic":
        blocked = pc.or_(blocked, pc.fill_null(pc.is_in(part.column("subtype"), value_set=_BLOCKED_SUBTYPES), False))
        host = pa.nulls(n, pa.string())
        bytes_up, bytes_down = counts["bytes_sent"], counts["bytes_received"]
    else:
        host = clean_host(part.column("url"))
        bytes_up = bytes_down = pa.nulls(n, pa.int64())  # THREAT records carry no byte counts
    port = _ints(_blank(part.column("dport")))
    port = pc.if_else(pc.fill_null(pc.and_(pc.greater(port, 0), pc.less_equal(port, 65535)), False), port,
                      pa.scalar(None, pa.int64()))  # 0 (ICMP: no port) and nonsense -> null
    return pa.table({
        "ts": part.column("ts"),
        "source": constant(NAME, n),
        "device_id": pa.nulls(n, pa.string()),
        "device_name": pa.nulls(n, pa.string()),
        "account": _blank(part.column("srcuser")),
        "src_ip": part.column("src"),
        "dest_host": host,
        "dest_ip": _blank(part.column("dst")),
        "dest_port": pc.cast(port, pa.int32()),
        "bytes_up": bytes_up,       # bytes_sent: client -> server
        "bytes_down": bytes_down,   # bytes_received: server -> client
        "action": pc.if_else(blocked, "blocked", "allowed"),
        "process": pa.nulls(n, pa.string()),
        "input_line": part.column("input_line"),
    })


class PanosSource(Source):
    name = NAME
    decl = DECL
    description = "Palo Alto Networks PAN-OS syslog, CSV format (TRAFFIC, THREAT/url)"

    def detect(self, head: bytes) -> float:
        lines = head_lines(head)
        if not lines:
            return 0.0
        share = sum(1 for line in lines if _looks_like_record(line)) / len(lines)
        return 0.5 + 0.5 * share if share else 0.0

    def reader(self) -> PanosReader:
        return PanosReader()

    def classify(self, rows: pa.Table) -> Classified:
        return classify(rows)


SOURCE = PanosSource()
