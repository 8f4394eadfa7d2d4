"""Zeek (Bro) network logs: conn, http and ssl, as TSV (`#fields` headers) or as JSON lines.

conn.log records are connections (bytes both ways, conn_state), http.log requests (Host header,
body sizes, username), ssl.log TLS handshakes (server_name, no bytes). The three describe the same
traffic from different angles, so every record of each log uploaded is one transaction (see
docs/formats/zeek.md). dns.log and every other log are skipped as `zeek:<path>`, TSV header lines
as `header`. Timestamps are epoch seconds (UTC), or ISO 8601 when the JSON writer was set to it.
"""
from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

import schemas
from etl import schema
from etl.normalize import blank_to_null, clean_host, constant, parse_time, to_int64
from etl.sources.base import Classified, Source, head_lines, share_of_lines
from etl.sources.framing.text import TextReader
from etl.sources.framing.zeek_tsv import DIRECTIVE_COLUMN, PATH_COLUMN, ZeekTsvFraming
from etl.sources.zeek.jsonlines import Field, read_json_lines

NAME = "zeek"
DECL = schemas.load("zeek")
COLUMNS = DECL["columns"]
TRANSACTION_PATHS = tuple(DECL["transactions"])
_FAILED_STATES = pa.array(DECL["failed_conn_states"], pa.string())
_FALSE = pa.array(["F", "false"], pa.string())
_STRING_NULL = pa.scalar(None, pa.string())
_JSON_TYPES = {"float64": pa.float64(), "int64": pa.int64(), "bool": pa.bool_()}
_JSON_FIELDS = [Field(c["name"], (c["field"],), _JSON_TYPES.get(c.get("json"), pa.string()))
                for c in COLUMNS if "field" in c]
# the JSON writer's types first; then `ts` as text (JSON::TS_ISO8601 / TS_MILLIS writers)
_JSON_ATTEMPTS = [{}, {"ts": pa.string()}]
_TSV_COLUMNS = [(c["name"], c["field"]) for c in COLUMNS if "field" in c and c["name"] != PATH_COLUMN]


def _row_schema() -> pa.Schema:
    return schema.flat_schema(DECL).append(pa.field("input_line", pa.int64()))


class ZeekReader(TextReader):
    """One object: TSV lines through the Zeek TSV framing (header state kept across pieces),
    lines starting with `{` as JSON records."""

    def __init__(self):
        self.tsv = ZeekTsvFraming(_TSV_COLUMNS)

    def parse_lines(self, lines, numbers):
        target = _row_schema()
        is_json = pc.fill_null(pc.starts_with(lines, "{"), False)
        tables, rejects = [], []
        if pc.any(is_json).as_py():
            mask = np.asarray(is_json.to_numpy(zero_copy_only=False), dtype=bool)
            rows, more = read_json_lines(lines.filter(is_json), numbers[mask], _JSON_FIELDS, _JSON_ATTEMPTS)
            rows = rows.append_column(DIRECTIVE_COLUMN, pa.nulls(rows.num_rows, pa.string()))
            tables.append(rows.select(target.names))
            rejects += more
            lines, numbers = lines.filter(pc.invert(is_json)), numbers[~mask]
        if len(lines):
            rows, more = self.tsv.frame(lines, numbers)
            tables.append(rows.select(target.names))
            rejects += more
        if not tables:
            return target.empty_table(), rejects
        rows = pa.concat_tables([t.cast(target) for t in tables])
        if len(tables) > 1:
            rows = rows.sort_by("input_line")
        return rows, rejects


def infer_path(rows: pa.Table) -> pa.ChunkedArray:
    """The log a record is from: `#path` / `_path` where written, else from the fields it has."""
    inferred = pa.nulls(rows.num_rows, pa.string())
    for rule in reversed(DECL["infer_path"]):
        has = None
        for column in rule["any"]:
            present = pc.is_valid(rows.column(column))
            has = present if has is None else pc.or_(has, present)
        inferred = pc.if_else(has, rule["path"], inferred)
    return pc.coalesce(blank_to_null(rows.column(PATH_COLUMN)), inferred, pa.scalar("unknown"))


_NUMBER = r"^\d+(?:\.\d*)?(?:[eE][+-]?\d+)?$"
MILLIS_FROM = 1e11  # an epoch in seconds this large is the year 5138: such values are milliseconds


def _ts(values) -> pa.ChunkedArray:
    """Epoch seconds (the default; as text from JSON maybe `1.772439301112e+12`), epoch
    milliseconds (JSON::TS_MILLIS) or ISO 8601 (JSON::TS_ISO8601) -> timestamp; null if none."""
    numeric = pc.fill_null(pc.match_substring_regex(values, _NUMBER), False)
    seconds = pc.cast(pc.if_else(numeric, values, _STRING_NULL), pa.float64())
    seconds = pc.if_else(pc.fill_null(pc.greater_equal(seconds, MILLIS_FROM), False), pc.divide(seconds, 1000.0), seconds)
    micros = pc.cast(pc.round(pc.multiply(seconds, 1_000_000.0)), pa.int64())
    epoch = pc.cast(micros, schema.TIMESTAMP)
    return pc.coalesce(epoch, parse_time(pc.if_else(numeric, _STRING_NULL, values), "iso8601"))


def _port(values) -> pa.ChunkedArray:
    numbers = to_int64(values)
    ok = pc.fill_null(pc.less_equal(numbers, 65535), False)
    return pc.cast(pc.if_else(ok, numbers, pa.scalar(None, pa.int64())), pa.int32())


def _skipped(part: pa.Table, reason, ts=None) -> pa.Table:
    if isinstance(reason, str):
        reason = constant(reason, part.num_rows)
    return pa.table({"ts": pa.nulls(part.num_rows, schema.TIMESTAMP) if ts is None else ts,
                     "reason": reason, "input_line": part.column("input_line")})


def classify(rows: pa.Table) -> Classified:
    skipped, rejected = [], []
    header = pc.is_valid(rows.column(DIRECTIVE_COLUMN))
    if pc.any(header).as_py():
        skipped.append(_skipped(rows.filter(header), "header"))
        rows = rows.filter(pc.invert(header))

    path = infer_path(rows)
    ts = _ts(rows.column("ts"))
    is_tx = pc.is_in(path, value_set=pa.array(TRANSACTION_PATHS))
    if not pc.all(is_tx).as_py():
        other = pc.invert(is_tx)
        reason = pc.binary_join_element_wise("zeek:", path.filter(other), "")
        skipped.append(_skipped(rows.filter(other), reason, ts.filter(other)))
        rows, path, ts = rows.filter(is_tx), path.filter(is_tx), ts.filter(is_tx)

    reasons = pa.nulls(rows.num_rows, pa.string())
    for name in TRANSACTION_PATHS:  # the rules each log's records must meet
        here = pc.equal(path, name)
        if pc.any(here).as_py():
            reasons = pc.if_else(here, schema.row_violations(rows, DECL, scope=name), reasons)
    bad_ts = pc.and_(pc.is_null(reasons), pc.and_(pc.is_valid(rows.column("ts")), pc.is_null(ts)))
    reasons = pc.if_else(bad_ts, "ts: not a valid time", reasons)
    bad = pc.is_valid(reasons)
    if pc.any(bad).as_py():
        rejected.append(pa.table({"input_line": rows.column("input_line").filter(bad),
                                  "reason": reasons.filter(bad), "ts": ts.filter(bad)}))
        good = pc.invert(bad)
        rows, path, ts = rows.filter(good), path.filter(good), ts.filter(good)

    is_conn, is_http, is_ssl = (pc.equal(path, p) for p in ("conn", "http", "ssl"))
    inbound = pc.and_(is_conn, pc.fill_null(pc.is_in(rows.column("local_orig"), value_set=_FALSE), False))
    if pc.any(inbound).as_py():
        skipped.append(_skipped(rows.filter(inbound), "zeek:conn:inbound", ts.filter(inbound)))
        outbound = pc.invert(inbound)
        rows, ts = rows.filter(outbound), ts.filter(outbound)
        is_conn, is_http, is_ssl = is_conn.filter(outbound), is_http.filter(outbound), is_ssl.filter(outbound)

    n = rows.num_rows
    no_text, no_count = pa.nulls(n, pa.string()), pa.nulls(n, pa.int64())
    failed = pc.or_(
        pc.and_(is_conn, pc.fill_null(pc.is_in(rows.column("conn_state"), value_set=_FAILED_STATES), False)),
        pc.and_(is_ssl, pc.fill_null(pc.is_in(rows.column("established"), value_set=_FALSE), False)))
    transactions = pa.table({
        "ts": ts,
        "source": constant(NAME, n),
        "device_id": no_text,   # Zeek names no machine: the device comes from the IP later
        "device_name": no_text,
        "account": pc.if_else(is_http, blank_to_null(rows.column("username")), no_text),
        "src_ip": blank_to_null(rows.column("orig_h")),
        "dest_host": pc.if_else(is_http, clean_host(rows.column("host")),
                                pc.if_else(is_ssl, clean_host(rows.column("server_name")), no_text)),
        "dest_ip": blank_to_null(rows.column("resp_h")),
        "dest_port": _port(rows.column("resp_p")),
        # conn: orig_bytes = payload originator -> responder; http: body sizes; ssl: none
        "bytes_up": pc.if_else(is_conn, to_int64(rows.column("orig_bytes")),
                               pc.if_else(is_http, to_int64(rows.column("request_body_len")), no_count)),
        "bytes_down": pc.if_else(is_conn, to_int64(rows.column("resp_bytes")),
                                 pc.if_else(is_http, to_int64(rows.column("response_body_len")), no_count)),
        "action": pc.if_else(failed, "failed", "allowed"),
        "process": no_text,
        "input_line": rows.column("input_line"),
    })
    return Classified.of(rejected=pa.concat_tables(rejected) if rejected else None, transactions=transactions,
                         skipped=pa.concat_tables(skipped) if skipped else None)


def _looks_like_json_record(line: bytes) -> bool:
    if not line.startswith(b"{") or b'"id.orig_h"' not in line:
        return False
    try:
        record = json.loads(line)
    except ValueError:
        return False
    return isinstance(record, dict) and "ts" in record and "id.orig_h" in record


def detect(head: bytes) -> float:
    lines = [line.lstrip(b"\xef\xbb\xbf") for line in head_lines(head)]
    if any(line.startswith(b"#separator") for line in lines) and any(
            line.startswith((b"#fields", b"#path")) for line in lines):
        return 1.0
    return 1.0 if share_of_lines(head, _looks_like_json_record) > 0 else 0.0


class ZeekSource(Source):
    name = NAME
    decl = DECL
    description = "Zeek conn / http / ssl logs (TSV with #fields headers, or JSON lines)"

    def detect(self, head: bytes) -> float:
        return detect(head)

    def reader(self) -> ZeekReader:
        return ZeekReader()

    def classify(self, rows: pa.Table) -> Classified:
        return classify(rows)


SOURCE = ZeekSource()
