"""Broadcom (Blue Coat) ProxySG access logs, uploaded as files.

Two layouts, one reader (etl/sources/framing/w3c.py):
* W3C ELFF: `#Software: SGOS ...`, `#Fields: date time time-taken c-ip ...`, then data lines;
  `#Fields` may change mid-file, lines with extra trailing values keep the declared ones.
* `bcreportermain_v1`: the same kind of lines without any header, in a fixed column order
  (schemas/bluecoat.yaml), with runs of double spaces between some values.

Every data line is a request: a transaction, `blocked` when sc-filter-result is DENIED or
s-action contains DENIED (TCP_DENIED, TCP_POLICY_DENIED...). sc-bytes (proxy -> client) is
bytes_down, cs-bytes (client -> proxy) is bytes_up. date/time are UTC (ProxySG writes GMT).
"""
from __future__ import annotations

import re

import pyarrow as pa
import pyarrow.compute as pc

import schemas
from etl import schema
from etl.normalize import clean_host, constant, to_int64
from etl.sources.base import Classified, Source, head_lines
from etl.sources.framing import w3c

NAME = "bluecoat"
DECL = schemas.load(NAME)
BCREPORTERMAIN = DECL["bcreportermain_v1"]
_BLOCKED = DECL["blocked"]
# a bcreportermain_v1 line: date time time-taken c-ip, 7 more values, then sc-filter-result
BCREPORTERMAIN_SHAPE = (r"^\d{4}-\d{2}-\d{2} +\d{2}:\d{2}:\d{2}(?:\.\d+)? +\d+ +\S+"
                        r"(?: +(?:\"[^\"]*\"|[^\" ]\S*)){7} +(?:OBSERVED|DENIED|PROXIED) ")
_SHAPE = re.compile(BCREPORTERMAIN_SHAPE)
# ELFF field names only ProxySG writes (s-action is its cache/proxy action, TCP_MISS ...)
BLUECOAT_FIELDS = {"s-action", "sc-filter-result", "cs-auth-group", "x-exception-id", "s-supplier-name",
                   "s-supplier-ip", "s-supplier-country", "s-supplier-failures", "x-virus-id", "cs-categories",
                   "sc-filter-category", "x-bluecoat-transaction-uuid"}
_SOFTWARE = re.compile(r"sgos|blue ?coat|proxysg", re.IGNORECASE)
_FAILED_EXCEPTIONS = ["tcp_error", "dns_unresolved_hostname", "dns_server_failure", "gateway_error",
                      "connect_failed", "server_request_limit_exceeded"]


def _is_bcreportermain(line: bytes) -> bool:
    return bool(_SHAPE.match(line.decode("utf-8", "replace").lstrip("\ufeff")))


def detect(head: bytes) -> float:
    lines = head_lines(head)
    directives = w3c.directive_lines(lines)
    if any(_SOFTWARE.search(value) for value in directives.get("software", [])):
        return 1.0
    fields = set(w3c.field_names(lines))
    if fields & BLUECOAT_FIELDS or any(f.startswith("x-bluecoat-") for f in fields):
        return 0.9
    if not directives.get("fields") and any(_is_bcreportermain(line) for line in lines):
        return 0.9
    return 0.0


def _blocked(rows: pa.Table) -> pa.Array:
    """sc-filter-result DENIED or s-action *DENIED*. Real exports declare `#Fields` without the
    cs(User-Agent) their lines carry before sc-filter-result (the public ProxySG sample does), which
    moves the filter result one column on, into cs-categories: an exact DENIED there counts too."""
    denied = pa.array([v.upper() for v in _BLOCKED["filter_result"]])
    by_result = pc.is_in(pc.utf8_upper(pc.fill_null(rows.column("sc_filter_result"), "")), value_set=denied)
    shifted = pc.is_in(pc.utf8_upper(pc.fill_null(rows.column("cs_categories"), "")), value_set=denied)
    by_action = w3c.contains_any(rows.column("s_action"), [_BLOCKED["action_contains"]])
    return pc.or_(pc.or_(by_result, shifted), by_action)


def _failed(rows: pa.Table) -> pa.Array:
    """The proxy could not reach the server: s-action TCP_ERR_MISS..., or a connection/DNS exception."""
    by_action = w3c.contains_any(rows.column("s_action"), ["_ERR"])
    by_exception = w3c.contains_any(rows.column("x_exception_id"), _FAILED_EXCEPTIONS)
    return pc.or_(by_action, by_exception)


def classify(rows: pa.Table) -> Classified:
    data, directives = w3c.data_rows(rows)
    skipped = [w3c.header_skips(directives)]
    rejected = []

    reasons = schema.row_violations(data, DECL)
    ts = w3c.timestamps(data.column("date"), data.column("time"))
    reasons = pc.if_else(pc.and_(pc.is_null(reasons), pc.is_null(ts)), "date/time: not a valid time", reasons)
    bad = pc.is_valid(reasons)
    if pc.any(bad).as_py():
        rejected.append(pa.table({"input_line": data.column("input_line").filter(bad), "reason": reasons.filter(bad),
                                  "ts": ts.filter(bad)}))
        good = pc.invert(bad)
        data, ts = data.filter(good), ts.filter(good)

    scheme, authority = w3c.url_authority(data.column("cs_uri"))
    scheme = pc.coalesce(pc.utf8_lower(data.column("cs_uri_scheme")), scheme)
    port = pc.coalesce(w3c.port_numbers(data.column("cs_uri_port")), w3c.authority_port(authority),
                       w3c.default_port(scheme))
    blocked = _blocked(data)
    action = pc.if_else(blocked, "blocked", pc.if_else(_failed(data), "failed", "allowed"))
    n = data.num_rows
    transactions = pa.table({
        "ts": ts,
        "source": constant(NAME, n),
        "device_id": pa.nulls(n, pa.string()),
        "device_name": pa.nulls(n, pa.string()),
        "account": data.column("cs_username"),
        "src_ip": data.column("c_ip"),
        "dest_host": pc.coalesce(clean_host(data.column("cs_host")), clean_host(authority)),
        "dest_ip": pc.coalesce(w3c.ip_addresses(data.column("s_supplier_ip")), w3c.ip_addresses(data.column("r_ip"))),
        "dest_port": port,
        "bytes_up": to_int64(data.column("cs_bytes")),
        "bytes_down": to_int64(data.column("sc_bytes")),
        "action": action,
        "process": pa.nulls(n, pa.string()),
        "input_line": data.column("input_line"),
    })
    return Classified.of(rejected=pa.concat_tables(rejected) if rejected else None, transactions=transactions,
                         skipped=pa.concat_tables(skipped))


class BluecoatSource(Source):
    name = NAME
    decl = DECL
    description = "Blue Coat / Broadcom ProxySG access log (W3C ELFF or headerless bcreportermain_v1)"

    def detect(self, head: bytes) -> float:
        return detect(head)

    def reader(self) -> w3c.W3cReader:
        return w3c.W3cReader(DECL, default_fields=BCREPORTERMAIN, default_shape=BCREPORTERMAIN_SHAPE,
                             default_name="bcreportermain_v1")

    def classify(self, rows: pa.Table) -> Classified:
        return classify(rows)


SOURCE = BluecoatSource()
