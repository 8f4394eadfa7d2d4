"""Juniper SRX structured syslog: RFC 5424 header + `[junos@2636... key="value" ...]`
(see docs/formats/juniper_srx.md).

RT_FLOW_SESSION_CLOSE is an allowed transaction carrying the session's byte totals,
RT_FLOW_SESSION_DENY a blocked one (no bytes); RT_FLOW_SESSION_CREATE ("session-create") and
APPTRACK_SESSION_* ("apptrack": the same sessions again) are skipped, as is every other message.
"""
from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

import schemas
from etl import schema
from etl.normalize import blank_to_null, constant, keep, parse_time, to_int64
from etl.sources.base import Classified, Source, share_of_lines
from etl.sources.framing.structured import RFC5424, sd_values
from etl.sources.framing.text import TextReader, rejected_lines, with_lines

NAME = "juniper_srx"
DECL = schemas.load(NAME)
COLUMNS = [c["name"] for c in DECL["columns"]]
_MESSAGES = DECL["messages"]
_ALLOWED = pa.array(_MESSAGES["allowed"])
_BLOCKED = pa.array(_MESSAGES["blocked"])
_SKIPPED = _MESSAGES["skipped"]
_SKIPPED_PREFIXES = _MESSAGES["skipped_prefixes"]
_HEADER = ("syslog_ts", "syslog_host", "syslog_msgid")
_KEYS = {c: c.replace("_", "-") for c in COLUMNS if c not in _HEADER}
_STRING_NULL = pa.scalar(None, pa.string())

_SIGNATURE = re.compile(rb"^(?:\xef\xbb\xbf)?(?:<\d{1,3}>1 )?\d{4}-\d\d-\d\dT\S+ \S+ \S+ \S+ \S+ \[junos@[\d.]+ ")


def _looks_like_record(line: bytes) -> bool:
    return bool(_SIGNATURE.match(line))


# RFC 5424 header (also without `<PRI>1`, as collectors write it to files): TIMESTAMP HOST APP
# PROCID MSGID, then the structured data. Captures stop at the MSGID: the values are read from
# the whole line (no header token looks like `key="`), so the message is never copied out.
_HEADER = r"^(?:<\d{1,3}>\d{1,2} )?(?P<ts>\d{4}-\d{2}-\d{2}T\S+|-) (?P<host>\S+) \S+ \S+ (?P<msgid>\S+) "
_OPENED = r"^(?:<\d{1,3}>\d{1,2} )?\S+ \S+ \S+ \S+ \S+ \[junos@"
_CLOSED = r'(?:[^\\]["”]|\[junos@\S*)\s*\]'   # a quoted value (or the bare id), then `]`


class JuniperSrxReader(TextReader):
    def parse_lines(self, lines, numbers):
        head = pc.extract_regex(lines, _HEADER)
        framed = pc.is_valid(head)
        opened = pc.fill_null(pc.match_substring_regex(lines, _OPENED), False)
        truncated = pc.and_(opened, pc.invert(pc.fill_null(pc.match_substring_regex(lines, _CLOSED), False)))
        rejects = (rejected_lines(lines, numbers, pc.invert(framed), "not RFC 5424 syslog")
                   + rejected_lines(lines, numbers, pc.and_(framed, truncated), "truncated record (no closing ])"))
        good = pc.and_(framed, pc.invert(truncated))
        mask = np.asarray(good.to_numpy(zero_copy_only=False), dtype=bool)
        head, lines, numbers = head.filter(good), lines.filter(good), numbers[mask]
        # keys only count inside a junos element: other lines (SD "-" and free text) give none
        sd = pc.if_else(pc.fill_null(pc.match_substring_regex(lines, _OPENED), False), lines, _STRING_NULL)
        values = sd_values(sd, _KEYS.values(), RFC5424)
        columns = {f"syslog_{k}": blank_to_null(pc.struct_field(head, k)) for k in ("ts", "host", "msgid")}
        columns.update({c: values[key] for c, key in _KEYS.items()})
        table = pa.table([columns[c] for c in COLUMNS], schema=schema.flat_schema(DECL))
        return with_lines(table, numbers), rejects


def _port(values):
    written = blank_to_null(values)
    number = to_int64(written)
    ok = pc.fill_null(pc.and_(pc.greater_equal(number, 0), pc.less_equal(number, 65535)), False)
    bad = pc.and_(pc.is_valid(written), pc.invert(ok))
    return pc.cast(pc.if_else(ok, number, pa.scalar(None, pa.int64())), pa.int32()), bad


def _bad_count(rows: pa.Table, applies) -> pa.ChunkedArray:
    """Reason where a byte count is written but is no whole number (a '-' is just absent)."""
    reason = pa.nulls(rows.num_rows, pa.string())
    for column in ("bytes_from_server", "bytes_from_client"):
        written = blank_to_null(rows.column(column))
        bad = pc.and_(applies, pc.and_(pc.is_valid(written), pc.is_null(to_int64(written))))
        reason = pc.if_else(bad, pa.scalar(f"{column}: not a count"), reason)
    return reason


def _skip_reasons(event) -> pa.ChunkedArray:
    reason = pc.binary_join_element_wise("junos:", event, "")
    for prefix, text in _SKIPPED_PREFIXES.items():
        reason = pc.if_else(pc.starts_with(event, prefix), pa.scalar(text), reason)
    for msgid, text in _SKIPPED.items():
        reason = pc.if_else(pc.equal(event, msgid), pa.scalar(text), reason)
    return reason


def classify(rows: pa.Table) -> Classified:
    n = rows.num_rows
    ts = parse_time(rows.column("syslog_ts"), "iso8601")
    event = pc.replace_substring_regex(rows.column("syslog_msgid"), r"_LS$", "")
    allowed = pc.fill_null(pc.is_in(event, value_set=_ALLOWED), False)
    blocked = pc.fill_null(pc.is_in(event, value_set=_BLOCKED), False)
    traffic = pc.or_(allowed, blocked)
    dest_port, bad_port = _port(rows.column("destination_port"))
    src, dst = blank_to_null(rows.column("source_address")), blank_to_null(rows.column("destination_address"))

    reasons = schema.row_violations(rows, DECL)
    reasons = pc.coalesce(reasons, pc.if_else(pc.is_null(ts), pa.scalar("ts: not a valid time"), _STRING_NULL))
    traffic_reason = pc.if_else(pc.is_null(src), pa.scalar(schema.rule_reason("source_address", "required", None)),
                                pc.if_else(pc.is_null(dst),
                                           pa.scalar(schema.rule_reason("destination_address", "required", None)),
                                           pc.if_else(bad_port, pa.scalar("destination_port: not a port"),
                                                      _bad_count(rows, allowed))))
    reasons = pc.coalesce(reasons, pc.if_else(traffic, traffic_reason, _STRING_NULL))
    bad = pc.is_valid(reasons)
    good = pc.invert(bad)
    rejected = pa.table({"input_line": rows.column("input_line"), "reason": reasons, "ts": ts}).filter(bad)

    skip = pc.and_(good, pc.invert(traffic))
    skipped = pa.table({"ts": ts, "reason": _skip_reasons(pc.fill_null(event, "")),
                        "input_line": rows.column("input_line")}).filter(skip)

    no_bytes = pa.scalar(None, pa.int64())
    transactions = pa.table({
        "ts": ts,
        "source": constant(NAME, n),
        "device_id": pa.nulls(n, pa.string()),
        "device_name": pa.nulls(n, pa.string()),
        "account": blank_to_null(rows.column("username")),
        "src_ip": src,
        "dest_host": pa.nulls(n, pa.string()),   # RT_FLOW names no host (application is an app id)
        "dest_ip": dst,
        "dest_port": dest_port,
        "bytes_up": pc.if_else(allowed, to_int64(rows.column("bytes_from_client")), no_bytes),
        "bytes_down": pc.if_else(allowed, to_int64(rows.column("bytes_from_server")), no_bytes),
        "action": pc.if_else(blocked, "blocked", "allowed"),
        "process": pa.nulls(n, pa.string()),
        "input_line": rows.column("input_line"),
    })
    return Classified.of(rejected=rejected, transactions=keep(transactions, pc.and_(good, traffic)), skipped=skipped)


class JuniperSrxSource(Source):
    name = NAME
    decl = DECL
    description = "Juniper SRX RT_FLOW session records (RFC 5424 structured syslog, [junos@2636...])"

    def detect(self, head: bytes) -> float:
        share = share_of_lines(head, _looks_like_record)
        return 0.5 + 0.5 * share if share > 0 else 0.0

    def reader(self) -> JuniperSrxReader:
        return JuniperSrxReader()

    def classify(self, rows: pa.Table) -> Classified:
        return classify(rows)


SOURCE = JuniperSrxSource()
