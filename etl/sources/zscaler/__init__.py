"""Zscaler Internet Access (ZIA) NSS web logs: every proxied web request, allowed or blocked.

Three outputs of the same feed are read (see docs/formats/zscaler.md):
- JSON lines, `{"sourcetype":"zscalernss-web","event":{...}}` (Splunk HEC style) or the bare
  event object, values written as strings (numbers are accepted too);
- tab-separated and comma-separated lines without a header, fields in the NSS web feed order of
  Zscaler's documentation (time, login, proto, eurl, action, ..., devicehostname: 33 fields).
A syslog header in front of a line (RFC 3164 or 5424, with or without a `tag:`) is taken off.
NSS writes `time` without a zone, in the feed's time zone: UTC (GMT, the Cloud NSS default) is
assumed. reqsize is bytes_up (client -> Zscaler -> server), respsize bytes_down.
"""
from __future__ import annotations

import csv
import json
import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

import schemas
from etl import schema
from etl.normalize import UTC_US, clean_host, constant, keep, lower, to_int64
from etl.sources.base import Classified, Source, head_lines, share_of_lines
from etl.sources.framing.text import TextReader, rejected_lines, split_syslog
from etl.sources.zeek.jsonlines import INFER, Field, read_json_lines

NAME = "zscaler"
DECL = schemas.load("zscaler")
COLUMNS = DECL["columns"]
MIN_FIELDS = int(DECL["min_fields"])
_ALLOWED = pa.array(DECL["transactions"]["allowed"], pa.string())
_BLOCKED = pa.array(DECL["transactions"]["blocked"], pa.string())
_NULL_TEXT = pa.array(["", "-", "None", "NA", "N/A", "null"], pa.string())
_STRING_NULL = pa.scalar(None, pa.string())
TIME_FORMAT = "%a %b %d %H:%M:%S %Y"  # Fri Dec 31 07:07:07 2021

# JSON: each column's candidates, every `event.<key>` first, then the top-level keys
_EVENT_FIELDS = {c["name"]: [Field(f"{c['name']}\0event.{k}", ("event", k)) for k in c["json"]]
                 for c in COLUMNS if not c.get("top_level_only")}
_TOP_FIELDS = {c["name"]: [Field(f"{c['name']}\0{k}", (k,)) for k in c["json"]] for c in COLUMNS}
_JSON_FIELDS = [f for fields in _EVENT_FIELDS.values() for f in fields] + \
               [f for fields in _TOP_FIELDS.values() for f in fields]
_JSON_ATTEMPTS = [{}, INFER]  # every value a string (the documented templates); else numbers too

# CSV: a line whose quoted fields are all closed (so no line can swallow the next one)
_CSV_FIELD = r'(?:"(?:[^"]|"")*"|[^",][^,]*|)'
_CSV_LINE = rf"^{_CSV_FIELD}(?:,{_CSV_FIELD})*$"
_SYSLOG_TAG = r"^[A-Za-z0-9_.\-/]+(?:\[\d+\])?:\s*"
_SYSLOG_SD = r'^(?:-|(?:\[[^\]"]*(?:"(?:[^"\\]|\\.)*"[^\]"]*)*\])+)(?:\s+|$)'
_TIME = r'^"?(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) +\d{1,2} \d{2}:\d{2}:\d{2} \d{4}"?$'
_URL_PORT = r"^(?:[A-Za-z][A-Za-z0-9+.-]*://)?(?:[^/@]*@)?(?:\[[0-9A-Fa-f:.]+\]|[^/:?#\[\]]+):(?P<port>\d{1,5})(?:[/?#]|$)"


def _row_schema() -> pa.Schema:
    return schema.flat_schema(DECL).append(pa.field("input_line", pa.int64()))


def _null_placeholders(values) -> pa.Array:
    values = pc.utf8_trim_whitespace(values)
    return pc.if_else(pc.is_in(values, value_set=_NULL_TEXT), _STRING_NULL, values)


def messages(lines: pa.Array) -> pa.Array:
    """The lines without their syslog header (and its `tag:`), where they have one."""
    framed = split_syslog(lines)
    message = framed.column("message")
    rfc5424 = pc.is_valid(framed.column("syslog_app"))
    if pc.any(rfc5424).as_py():  # its structured data (`-` or `[id k="v"]...`) is still in front
        message = pc.if_else(rfc5424, pc.replace_substring_regex(message, _SYSLOG_SD, ""), message)
    had_header = pc.is_valid(framed.column("syslog_host"))
    if pc.any(had_header).as_py():
        message = pc.if_else(had_header, pc.replace_substring_regex(message, _SYSLOG_TAG, ""), message)
    return message.combine_chunks() if isinstance(message, pa.ChunkedArray) else message


def _unquote(parts: pa.ListArray) -> pa.ListArray:
    values = parts.values.slice(parts.offsets[0].as_py(), parts.offsets[-1].as_py() - parts.offsets[0].as_py())
    quoted = pc.and_(pc.and_(pc.starts_with(values, '"'), pc.ends_with(values, '"')),
                     pc.greater_equal(pc.utf8_length(values), 2))
    inner = pc.replace_substring(pc.utf8_slice_codeunits(values, 1, -1), '""', '"')
    offsets = pc.subtract(parts.offsets, parts.offsets[0])
    return pa.ListArray.from_arrays(offsets, pc.if_else(quoted, inner, values))


def split_fields(messages: pa.Array, comma: bool) -> pa.ListArray:
    """Fields of tab- or comma-separated lines (CSV lines must be valid, see `_CSV_LINE`)."""
    if comma:  # every delimiter comma -> \x1f, token by token from the start of the line
        marked = pc.replace_substring_regex(pc.binary_join_element_wise(messages, ",", ""),
                                            f"({_CSV_FIELD}),", "\\1\x1f")
        parts = pc.split_pattern(pc.utf8_slice_codeunits(marked, 0, -1), "\x1f")
    else:
        parts = pc.split_pattern(messages, "\t")
    if isinstance(parts, pa.ChunkedArray):
        parts = parts.combine_chunks()
    return _unquote(parts)


class ZscalerReader(TextReader):
    """JSON lines through the JSON reader, the rest as TSV (a tab in the line) or CSV."""

    def parse_lines(self, lines, numbers):
        target = _row_schema()
        text = messages(lines)
        is_json = np.asarray(pc.fill_null(pc.starts_with(text, "{"), False).to_numpy(zero_copy_only=False), dtype=bool)
        tables, rejects = [], []
        if is_json.any():
            rows, more = _json_rows(text.filter(pa.array(is_json)), numbers[is_json])
            tables.append(rows)
            rejects += more
        if not is_json.all():
            rows, more = _delimited_rows(lines.filter(pa.array(~is_json)), text.filter(pa.array(~is_json)),
                                         numbers[~is_json])
            tables.append(rows)
            rejects += more
        if not tables:
            return target.empty_table(), rejects
        rows = pa.concat_tables([t.select(target.names).cast(target) for t in tables])
        if len(tables) > 1:
            rows = rows.sort_by("input_line")
        return rows, rejects


def _json_rows(text: pa.Array, numbers: np.ndarray) -> tuple[pa.Table, list]:
    found, rejects = read_json_lines(text, numbers, _JSON_FIELDS, _JSON_ATTEMPTS)
    sourcetype = _null_placeholders(found.column(_TOP_FIELDS["sourcetype"][0].name))
    enveloped = pc.is_valid(sourcetype)
    out = {}
    for c in COLUMNS:
        name = c["name"]
        inside = [_null_placeholders(found.column(f.name)) for f in _EVENT_FIELDS.get(name, [])]
        # a top-level key of an enveloped record is the envelope's (Splunk HEC `time`, `host`), not the event's
        outside = [pc.if_else(enveloped, _STRING_NULL, _null_placeholders(found.column(f.name)))
                   for f in _TOP_FIELDS[name]] if name != "sourcetype" else [sourcetype]
        values = inside + outside
        out[name] = pc.coalesce(*values) if len(values) > 1 else values[0]
    out["input_line"] = found.column("input_line")
    return pa.table(out), rejects


def _delimited_rows(lines: pa.Array, text: pa.Array, numbers: np.ndarray) -> tuple[pa.Table, list]:
    has_tab = pc.fill_null(pc.match_substring(text, "\t"), False)
    tables, rejects = [], []
    for comma in (False, True):
        mask = pc.invert(has_tab) if comma else has_tab
        if not pc.any(mask).as_py():
            continue
        picked = np.asarray(mask.to_numpy(zero_copy_only=False), dtype=bool)
        part, raw, nums = text.filter(mask), lines.filter(mask), numbers[picked]
        if comma:
            valid = pc.fill_null(pc.match_substring_regex(part, _CSV_LINE), False)
            rejects += rejected_lines(raw, nums, pc.invert(valid), "zscaler: not a valid CSV line (unclosed quotes)")
            keep_mask = np.asarray(valid.to_numpy(zero_copy_only=False), dtype=bool)
            part, raw, nums = part.filter(valid), raw.filter(valid), nums[keep_mask]
        if len(part) == 0:
            continue
        parts = split_fields(part, comma)
        counts = pc.list_value_length(parts)
        short = pc.less(counts, MIN_FIELDS)
        if pc.any(short).as_py():
            for n, count, line in zip(nums[np.asarray(short.to_numpy(zero_copy_only=False), dtype=bool)],
                                      counts.filter(short).to_pylist(), raw.filter(short).to_pylist()):
                rejects.append((int(n), f"zscaler: {count} fields, the NSS web feed order has {MIN_FIELDS}", line))
            enough = pc.invert(short)
            parts, nums = parts.filter(enough), nums[np.asarray(enough.to_numpy(zero_copy_only=False), dtype=bool)]
        out = {}
        for c in COLUMNS:
            if "position" in c and len(parts):
                out[c["name"]] = _null_placeholders(pc.list_element(parts, c["position"]))
            else:
                out[c["name"]] = pa.nulls(len(parts), pa.string())
        out["input_line"] = pa.array(nums, pa.int64())
        tables.append(pa.table(out))
    if not tables:
        return _row_schema().empty_table(), rejects
    return pa.concat_tables(tables), rejects


def parse_nss_time(values) -> pa.ChunkedArray:
    """`Fri Dec 31 07:07:07 2021` (UTC) -> timestamp; null where it is not a real instant."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    text = pc.replace_substring_regex(pc.utf8_trim_whitespace(values), r"\s+", " ")
    parsed = pc.strptime(text, format=TIME_FORMAT, unit="us", error_is_null=True)
    # strptime rolls Feb 30 over into March: the day written must be the day parsed
    day = pc.cast(pc.struct_field(pc.extract_regex(text, r"^\S+ \S+ (?P<d>\d{1,2}) "), "d"), pa.int64())
    real = pc.fill_null(pc.equal(pc.day(parsed), day), False)
    return pa.chunked_array([pc.cast(pc.if_else(real, parsed, pa.scalar(None, parsed.type)), UTC_US)])


def _port(urls) -> pa.ChunkedArray:
    found = pc.extract_regex(pc.fill_null(urls, ""), _URL_PORT)
    port = pc.cast(pc.if_else(pc.is_valid(found), pc.struct_field(found, "port"), _STRING_NULL), pa.int64())
    ok = pc.fill_null(pc.less_equal(port, 65535), False)
    return pc.cast(pc.if_else(ok, port, pa.scalar(None, pa.int64())), pa.int32())


def classify(rows: pa.Table) -> Classified:
    skipped = None
    sourcetype = rows.column("sourcetype")
    web = pc.fill_null(pc.starts_with(sourcetype, "zscalernss-web"), True)
    if not pc.all(web).as_py():
        other = rows.filter(pc.invert(web))
        skipped = pa.table({"ts": parse_nss_time(other.column("time")),
                            "reason": pc.binary_join_element_wise("sourcetype:", other.column("sourcetype"), ""),
                            "input_line": other.column("input_line")})
        rows = rows.filter(web)

    reasons = schema.row_violations(rows, DECL)
    ts = parse_nss_time(rows.column("time"))
    reasons = pc.coalesce(reasons, pc.if_else(pc.is_null(ts), "time: not a valid time", _STRING_NULL))
    verdict = lower(rows.column("action"))
    allowed = pc.fill_null(pc.is_in(verdict, value_set=_ALLOWED), False)
    blocked = pc.fill_null(pc.is_in(verdict, value_set=_BLOCKED), False)
    reasons = pc.coalesce(reasons, pc.if_else(pc.or_(allowed, blocked), _STRING_NULL, "action: unknown verdict"))
    bad = pc.is_valid(reasons)
    rejected = pa.table({"input_line": rows.column("input_line").filter(bad), "reason": reasons.filter(bad),
                         "ts": ts.filter(bad)})
    good = pc.invert(bad)
    rows, ts, blocked = keep(rows, good), ts.filter(good), blocked.filter(good)

    n = rows.num_rows
    login, location = rows.column("login"), rows.column("location")
    # traffic of a known location without authentication is logged with the location name as login
    is_location = pc.fill_null(pc.equal(login, location), False)
    device = lower(rows.column("devicehostname"))
    transactions = pa.table({
        "ts": ts,
        "source": constant(NAME, n),
        "device_id": device,   # Zscaler Client Connector names the machine
        "device_name": device,
        "account": pc.if_else(is_location, _STRING_NULL, login),
        "src_ip": rows.column("cip"),
        "dest_host": pc.coalesce(clean_host(rows.column("url")), clean_host(rows.column("host"))),
        "dest_ip": rows.column("sip"),
        "dest_port": _port(rows.column("url")),
        "bytes_up": to_int64(rows.column("reqsize")),     # request: client -> server
        "bytes_down": to_int64(rows.column("respsize")),  # response: server -> client
        "action": pc.if_else(blocked, "blocked", "allowed"),
        "process": pa.nulls(n, pa.string()),
        "input_line": rows.column("input_line"),
    })
    return Classified.of(rejected=rejected, transactions=transactions, skipped=skipped)


# -- detection ---------------------------------------------------------------------------------

_VERDICTS = {v.lower() for v in DECL["transactions"]["allowed"] + DECL["transactions"]["blocked"]}
_IP = re.compile(r"^(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9A-Fa-f:]*:[0-9A-Fa-f:.]+)$")
_TIME_RE = re.compile(_TIME)


def _keys(record: dict) -> set:
    event = record.get("event")
    return set(event) if isinstance(event, dict) else set(record)


def _looks_like_json(line: bytes) -> bool:
    if not line.startswith(b"{"):
        return False
    try:
        record = json.loads(line)
    except ValueError:
        return False
    if not isinstance(record, dict):
        return False
    if str(record.get("sourcetype", "")).startswith("zscalernss-web"):
        return True
    keys = _keys(record)
    return (bool(keys & {"time", "datetime"}) and bool(keys & {"cip", "ClientIP", "clientip"})
            and bool(keys & {"reqsize", "requestsize"}) and bool(keys & {"respsize", "responsesize"})
            and "action" in keys)


def _looks_like_delimited(message: str) -> bool:
    if "\t" in message:
        fields = message.split("\t")
    else:
        try:
            fields = next(csv.reader([message]))
        except (csv.Error, StopIteration):
            return False
    fields = [f.strip().strip('"') for f in fields]
    return (len(fields) >= MIN_FIELDS and bool(_TIME_RE.match(fields[0]))
            and fields[4].lower() in _VERDICTS and bool(_IP.match(fields[21])))


def detect(head: bytes) -> float:
    if share_of_lines(head, _looks_like_json) > 0:
        return 1.0
    lines = head_lines(head)
    texts = [line.decode("utf-8", "replace").lstrip("\ufeff") for line in lines]
    if not texts or any(t.startswith("{") for t in texts):
        return 0.0
    found = messages(pa.array(texts, pa.string())).to_pylist()
    return 0.9 if any(_looks_like_delimited(m) for m in found) else 0.0


class ZscalerSource(Source):
    name = NAME
    decl = DECL
    description = "Zscaler ZIA NSS web log (JSON feed, or TSV / CSV in the NSS default web field order)"

    def detect(self, head: bytes) -> float:
        return detect(head)

    def reader(self) -> ZscalerReader:
        return ZscalerReader()

    def classify(self, rows: pa.Table) -> Classified:
        return classify(rows)


SOURCE = ZscalerSource()
