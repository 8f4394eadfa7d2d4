"""Check Point Log Exporter syslog: RFC 5424 header + `[key:"value"; ...]` or
`[Fields@1.3.6.1.4.1.2620 key="value" ...]` body (see docs/formats/checkpoint.md).

Connection records (src and dst present) with an Accept/Drop/Reject/Block action are
transactions; records without src/dst (system, update and policy events) and the "Log Update"
records (byte-count updates of a connection logged earlier, without its addresses) are skipped.
"""
from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

import schemas
from etl import schema
from etl.normalize import blank_to_null, clean_host, constant, keep, lower, parse_time, to_int64
from etl.sources.base import Classified, Source, share_of_lines
from etl.sources.framing.structured import CHECKPOINT, RFC5424, first_of, sd_values
from etl.sources.framing.text import TextReader, rejected_lines, with_lines

NAME = "checkpoint"
DECL = schemas.load(NAME)
COLUMNS = [c["name"] for c in DECL["columns"]]
_ALLOWED = pa.array(DECL["actions"]["allowed"])
_BLOCKED = pa.array(DECL["actions"]["blocked"])
_STRING_NULL = pa.scalar(None, pa.string())
LOG_UPDATE = "Log Update"

# raw column -> the keys it is read from, first found wins (the Fields@ layout renamed a few)
KEYS = {
    "time": ("time",),
    "product": ("product", "ProductName"),
    "action": ("action",),
    "src": ("src",),
    "dst": ("dst",),
    "s_port": ("s_port", "sport_svc"),
    "service": ("service", "svc"),
    "proto": ("proto",),
    "user": ("user",),
    "src_user_name": ("src_user_name",),
    "src_machine_name": ("src_machine_name",),
    "bytes": ("bytes",),
    "client_outbound_bytes": ("client_outbound_bytes",),
    "client_inbound_bytes": ("client_inbound_bytes",),
    "resource": ("resource",),
    "url": ("url",),
    "dst_machine_name": ("dst_machine_name",),
}
_ALL_KEYS = sorted({k for keys in KEYS.values() for k in keys})

# RFC 5424 header (or the same without `<PRI>1`, as collectors write it to files), then the body
_HEADER = r"^(?:<\d{1,3}>\d{1,2} )?(?P<ts>\S+) (?P<host>\S+) \S+ \S+ \S+ \["
_BODY_START = r'^(?:<\d{1,3}>\d{1,2} )?\S+ \S+ \S+ \S+ \S+ \[(?:Fields@|[\w.-]+::?")'
_BODY_END = r'(?:^|[^\\])["”]\s*\]\s*$'   # a quoted value, then the closing bracket
_FIELDS_LAYOUT = r"^(?:<\d{1,3}>\d{1,2} )?\S+ \S+ \S+ \S+ \S+ \[Fields@"

_SIGNATURE_FIELDS = re.compile(rb"\[Fields@1\.3\.6\.1\.4\.1\.2620[ \]]")
_SIGNATURE_PAIRS = re.compile(rb'\[[\w.-]+::?"(?:[^"\\]|\\.)*"(?:; [\w.-]+::?"|\])')
_CP_KEYS = (b'loguid:"{', b'originsicname:"', b' CheckPoint ', b'product:"')


def _looks_like_record(line: bytes) -> bool:
    if _SIGNATURE_FIELDS.search(line):
        return True
    return bool(_SIGNATURE_PAIRS.search(line)) and any(k in line for k in _CP_KEYS)


class CheckpointReader(TextReader):
    def parse_lines(self, lines, numbers):
        # keys are read from the whole line: the header holds no `key:"` / `key="`, so it
        # cannot be mistaken for a pair, and the body need not be copied out
        starts = pc.fill_null(pc.match_substring_regex(lines, _BODY_START), False)
        whole = pc.and_(starts, pc.fill_null(pc.match_substring_regex(lines, _BODY_END), False))
        rejects = (rejected_lines(lines, numbers, pc.invert(starts), "not a Check Point Log Exporter record")
                   + rejected_lines(lines, numbers, pc.and_(starts, pc.invert(whole)),
                                    "truncated record (no closing ])"))
        good = np.asarray(whole.to_numpy(zero_copy_only=False), dtype=bool)
        lines, numbers = lines.filter(whole), numbers[good]
        head = pc.extract_regex(lines, _HEADER)
        fields = np.asarray(pc.match_substring_regex(lines, _FIELDS_LAYOUT).to_numpy(zero_copy_only=False), dtype=bool)
        values = _by_layout(lines, fields)
        columns = {"syslog_ts": blank_to_null(pc.struct_field(head, "ts")),
                   "syslog_host": blank_to_null(pc.struct_field(head, "host"))}
        columns.update({name: first_of(values, *keys) for name, keys in KEYS.items()})
        table = pa.table([columns[c] for c in COLUMNS], schema=schema.flat_schema(DECL))
        return with_lines(table, numbers), rejects


def _by_layout(bodies: pa.Array, fields: np.ndarray) -> dict[str, pa.Array]:
    """Every key of every body, read with the layout its line uses, in the lines' order."""
    if fields.all() or not fields.any():
        return sd_values(bodies, _ALL_KEYS, RFC5424 if fields.any() else CHECKPOINT)
    order = np.concatenate([np.flatnonzero(fields), np.flatnonzero(~fields)])
    back = pa.array(np.argsort(order, kind="stable"))
    a = sd_values(bodies.filter(pa.array(fields)), _ALL_KEYS, RFC5424)
    b = sd_values(bodies.filter(pa.array(~fields)), _ALL_KEYS, CHECKPOINT)
    return {k: pc.take(pa.concat_arrays([a[k], b[k]]), back) for k in _ALL_KEYS}


def syslog_time(values) -> pa.ChunkedArray:
    """RFC 5424 header time -> UTC. Some exporters write the offset with a doubled sign and a
    one-digit hour (`2023-01-13T10:10:16--5:00`): read as -05:00. No zone means UTC."""
    values = blank_to_null(values)
    values = pc.replace_substring_regex(values, r"(\d{2}:\d{2}:\d{2}(?:\.\d+)?)-(-\d)", r"\1\2")
    values = pc.replace_substring_regex(values, r"(:\d{2}(?:\.\d+)?)([+-])(\d):?(\d{2})$", r"\1\20\3:\4")
    return parse_time(values, "iso8601")


def _account(rows: pa.Table):
    """src_user_name, else user; Identity Awareness writes `Full Name (login)`: the login."""
    raw = pc.coalesce(blank_to_null(rows.column("src_user_name")), blank_to_null(rows.column("user")))
    login = pc.extract_regex(raw, r"^.*\((?P<login>[^()]+)\)\s*$")
    return pc.if_else(pc.is_valid(login), pc.utf8_trim_whitespace(pc.struct_field(login, "login")), raw)


def _port(values):
    """(port as int32 or null, True where a value is written but is no port)."""
    written = blank_to_null(values)
    number = to_int64(written)
    ok = pc.and_(pc.greater_equal(number, 0), pc.less_equal(number, 65535))
    bad = pc.and_(pc.is_valid(written), pc.invert(pc.fill_null(ok, False)))
    return pc.cast(pc.if_else(pc.fill_null(ok, False), number, pa.scalar(None, pa.int64())), pa.int32()), bad


def _bad_count(rows: pa.Table) -> pa.ChunkedArray:
    """Reason where a byte count is written but is no whole number (a '-' is just absent)."""
    reason = pa.nulls(rows.num_rows, pa.string())
    for column in ("bytes", "client_inbound_bytes", "client_outbound_bytes"):
        written = blank_to_null(rows.column(column))
        bad = pc.and_(pc.is_valid(written), pc.is_null(to_int64(written)))
        reason = pc.if_else(bad, pa.scalar(f"{column}: not a count"), reason)
    return reason


def classify(rows: pa.Table) -> Classified:
    rejected, skipped = [], []
    n = rows.num_rows
    reasons = schema.row_violations(rows, DECL)
    ts = pc.coalesce(parse_time(rows.column("time"), "epoch"), syslog_time(rows.column("syslog_ts")))
    reasons = pc.coalesce(reasons, pc.if_else(pc.is_null(ts), pa.scalar("ts: not a valid time"), _STRING_NULL))

    product = blank_to_null(rows.column("product"))
    action = blank_to_null(rows.column("action"))
    update = pc.fill_null(pc.equal(product, LOG_UPDATE), False)
    no_src, no_dst = pc.is_null(blank_to_null(rows.column("src"))), pc.is_null(blank_to_null(rows.column("dst")))
    dest_port, bad_port = _port(rows.column("service"))
    allowed = pc.fill_null(pc.is_in(action, value_set=_ALLOWED), False)
    blocked = pc.fill_null(pc.is_in(action, value_set=_BLOCKED), False)
    other_action = pc.and_(pc.is_valid(action), pc.invert(pc.or_(allowed, blocked)))
    # not a connection: neither end named, or one end only and no traffic verdict (login events)
    event = pc.and_(pc.invert(update), pc.or_(pc.and_(no_src, no_dst),
                                              pc.and_(pc.or_(no_src, no_dst), pc.invert(pc.or_(allowed, blocked)))))
    traffic = pc.invert(pc.or_(update, event))

    traffic_reason = pc.if_else(
        pc.is_null(action), pa.scalar(schema.rule_reason("action", "required", None)),
        pc.if_else(no_src, pa.scalar(schema.rule_reason("src", "required", None)),
                   pc.if_else(no_dst, pa.scalar(schema.rule_reason("dst", "required", None)),
                              pc.if_else(bad_port, pa.scalar("service: not a port"), _bad_count(rows)))))
    reasons = pc.coalesce(reasons, pc.if_else(traffic, traffic_reason, _STRING_NULL))
    bad = pc.is_valid(reasons)
    if pc.any(bad).as_py():
        rejected.append(pa.table({"input_line": rows.column("input_line").filter(bad),
                                  "reason": reasons.filter(bad), "ts": ts.filter(bad)}))
    good = pc.invert(bad)

    skip_reason = pc.if_else(update, pa.scalar("log-update"),
                             pc.if_else(event, pc.binary_join_element_wise("event:", pc.fill_null(product, "-"), ""),
                                        pc.if_else(other_action, pc.binary_join_element_wise("action:", action, ""),
                                                   _STRING_NULL)))
    skip = pc.and_(good, pc.is_valid(skip_reason))
    if pc.any(skip).as_py():
        skipped.append(pa.table({"ts": ts.filter(skip), "reason": skip_reason.filter(skip),
                                 "input_line": rows.column("input_line").filter(skip)}))

    is_tx = pc.and_(pc.and_(good, traffic), pc.or_(allowed, blocked))
    up = to_int64(rows.column("client_outbound_bytes"))
    down = to_int64(rows.column("client_inbound_bytes"))
    # only a total: it goes to bytes_down (as for other sources that do not split it)
    down = pc.if_else(pc.and_(pc.is_null(up), pc.is_null(down)), to_int64(rows.column("bytes")), down)
    transactions = pa.table({
        "ts": ts,
        "source": constant(NAME, n),
        "device_id": pa.nulls(n, pa.string()),
        "device_name": lower(blank_to_null(rows.column("src_machine_name"))),
        "account": _account(rows),
        "src_ip": blank_to_null(rows.column("src")),
        "dest_host": pc.coalesce(clean_host(rows.column("resource")), clean_host(rows.column("url")),
                                 clean_host(rows.column("dst_machine_name"))),
        "dest_ip": blank_to_null(rows.column("dst")),
        "dest_port": dest_port,
        "bytes_up": up,
        "bytes_down": down,
        "action": pc.if_else(blocked, "blocked", "allowed"),
        "process": pa.nulls(n, pa.string()),
        "input_line": rows.column("input_line"),
    })
    return Classified.of(rejected=pa.concat_tables(rejected) if rejected else None,
                         transactions=keep(transactions, is_tx),
                         skipped=pa.concat_tables(skipped) if skipped else None)


class CheckpointSource(Source):
    name = NAME
    decl = DECL
    description = "Check Point Log Exporter syslog ([key:\"value\"; ...] or [Fields@2620 key=\"value\"])"

    def detect(self, head: bytes) -> float:
        share = share_of_lines(head, _looks_like_record)
        return 0.5 + 0.5 * share if share > 0 else 0.0

    def reader(self) -> CheckpointReader:
        return CheckpointReader()

    def classify(self, rows: pa.Table) -> Classified:
        return classify(rows)


SOURCE = CheckpointSource()
