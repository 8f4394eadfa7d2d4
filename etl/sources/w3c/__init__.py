"""Generic W3C Extended Log File Format (IIS and other web servers and proxies), uploaded as files.

The `#Fields:` directive names the columns (etl/sources/framing/w3c.py reads them per object, and
again whenever it changes); schemas/w3c.yaml maps the common W3C field names onto this source's
columns. Any file with a `#Fields:` line is claimed, at a lower confidence than the vendor sources
built on the same framing (Blue Coat), so those win on their own files.

date + time are UTC (the W3C spec; IIS writes UTC). A line without `date` takes the date of the
latest `#Date:` directive.
"""
from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

import schemas
from etl import schema
from etl.normalize import clean_host, constant, to_int64
from etl.sources.base import Classified, Source, head_lines
from etl.sources.framing import w3c

NAME = "w3c"
DECL = schemas.load(NAME)
BLOCKED_WORDS = ["DENIED", "DENY", "BLOCK", "DROP", "REJECT"]
FAILED_WORDS = ["FAIL", "ERROR"]


def detect(head: bytes) -> float:
    directives = w3c.directive_lines(head_lines(head))
    if not directives.get("fields"):
        return 0.0
    return 0.6 if directives.get("software") or directives.get("version") else 0.5


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
    port = pc.coalesce(w3c.port_numbers(data.column("r_port")), w3c.port_numbers(data.column("cs_uri_port")),
                       w3c.authority_port(authority), w3c.port_numbers(data.column("s_port")),
                       w3c.default_port(scheme))
    action_text = data.column("x_action")
    action = pc.if_else(w3c.contains_any(action_text, BLOCKED_WORDS), "blocked",
                        pc.if_else(w3c.contains_any(action_text, FAILED_WORDS), "failed", "allowed"))
    n = data.num_rows
    transactions = pa.table({
        "ts": ts,
        "source": constant(NAME, n),
        "device_id": pa.nulls(n, pa.string()),
        "device_name": pa.nulls(n, pa.string()),
        "account": data.column("cs_username"),
        "src_ip": data.column("c_ip"),
        "dest_host": pc.coalesce(clean_host(data.column("cs_host")), clean_host(data.column("r_host")),
                                 clean_host(authority)),
        "dest_ip": pc.coalesce(w3c.ip_addresses(data.column("r_ip")), w3c.ip_addresses(data.column("s_ip"))),
        "dest_port": port,
        "bytes_up": to_int64(data.column("cs_bytes")),
        "bytes_down": to_int64(data.column("sc_bytes")),
        "action": action,
        "process": pa.nulls(n, pa.string()),
        "input_line": data.column("input_line"),
    })
    return Classified.of(rejected=pa.concat_tables(rejected) if rejected else None, transactions=transactions,
                         skipped=pa.concat_tables(skipped))


class W3cSource(Source):
    name = NAME
    decl = DECL
    description = "Generic W3C extended log format (#Fields header: IIS and other servers and proxies)"

    def detect(self, head: bytes) -> float:
        return detect(head)

    def reader(self) -> w3c.W3cReader:
        return w3c.W3cReader(DECL)

    def classify(self, rows: pa.Table) -> Classified:
        return classify(rows)


SOURCE = W3cSource()
