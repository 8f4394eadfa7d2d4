"""Microsoft Defender for Endpoint streaming-API export (Advanced Hunting tables as NDJSON)."""
from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

import schemas
from etl import schema
from etl.formats import ndjson
from etl.formats.base import Classified
from etl.normalize import blank_to_null, clean_host, constant, json_field, keep, lower, on_distinct

NAME = "mde"
DECL = schemas.load("mde")
TABLES = tuple(DECL["tables"])
_PREFIX = DECL["category_prefix"]
_ALLOWED = pa.array(DECL["transactions"]["allowed"])
_FAILED = pa.array(DECL["transactions"]["failed"])
_STRING_NULL = pa.scalar(None, pa.string())


def sniff(line: bytes) -> bool:
    line = line.strip()
    return line.startswith(b"{") and b'"category"' in line and _PREFIX.encode() in line


def parse(data: bytes, first_line: int = 1, newlines: int | None = None) -> ndjson.ParsedLines:
    return ndjson.parse(data, DECL, first_line, newlines)


@on_distinct
def _strip_prefix(values) -> pa.Array:
    return pc.replace_substring_regex(values, "^" + _PREFIX, "")


def table_names(rows: pa.Table) -> pa.Array:
    """`AdvancedHunting-DeviceInfo` -> `DeviceInfo` (the record says which table it is)."""
    return _strip_prefix(rows.column("category"))


def _valid_ts(rows: pa.Table) -> pa.ChunkedArray:
    """Event time where Timestamp is a valid ISO 8601 string, else null."""
    values = rows.column("Timestamp")
    ok = pc.fill_null(pc.match_substring_regex(values, schema.ISO8601), False)
    return schema.parse_timestamps(pc.if_else(ok, values, _STRING_NULL))


def classify(rows: pa.Table) -> Classified:
    names = table_names(rows)
    rejected, skipped = [], []
    tables: dict[str, pa.Table] = {}

    missing = pc.is_null(names)
    if pc.any(missing).as_py():
        part = rows.filter(missing)
        rejected.append(_rejects(part, pa.array([schema.rule_reason("category", "required", None)] * part.num_rows)))

    unknown = pc.and_(pc.is_valid(names), pc.invert(pc.is_in(names, value_set=pa.array(TABLES))))
    if pc.any(unknown).as_py():
        part = rows.filter(unknown)
        reason = pc.binary_join_element_wise("category:", table_names(part), "")
        skipped.append(pa.table({"ts": _valid_ts(part), "reason": reason, "input_line": part.column("input_line")}))

    for table in TABLES:
        part = keep(rows, pc.fill_null(pc.equal(names, table), False))
        if part.num_rows == 0:
            continue
        parsed: dict = {}
        reasons = schema.row_violations(part, DECL, scope=table, parsed=parsed)
        ts = parsed["Timestamp"]
        bad = pc.is_valid(reasons)
        if pc.any(bad).as_py():
            rejected.append(_rejects(part.filter(bad), reasons.filter(bad), ts.filter(bad)))
            part, ts = part.filter(pc.invert(bad)), ts.filter(pc.invert(bad))
        if part.num_rows == 0:
            continue
        if table == "DeviceNetworkEvents":
            transactions, not_transactions = _network_events(part, ts)
            tables["transactions"] = transactions
            skipped.append(not_transactions)
        elif table == "DeviceInfo":
            tables["device_info"] = _device_info(part, ts)
        elif table == "DeviceNetworkInfo":
            tables["network_info"] = _network_info(part, ts)
        elif table == "DeviceLogonEvents":
            tables["logons"] = _logons(part, ts)

    if skipped:
        tables["skipped"] = pa.concat_tables(skipped)
    rejected_table = pa.concat_tables(rejected) if rejected else _rejects(rows.slice(0, 0), pa.array([], pa.string()))
    return Classified(rejected_table, tables)


def _rejects(part: pa.Table, reasons, ts=None) -> pa.Table:
    return pa.table({"input_line": part.column("input_line"), "reason": reasons,
                     "ts": _valid_ts(part) if ts is None else ts})


def _account(part: pa.Table) -> pa.ChunkedArray:
    """InitiatingProcessAccountUpn, else DOMAIN\\name from the account name and domain."""
    upn = blank_to_null(part.column("InitiatingProcessAccountUpn"))
    name = blank_to_null(part.column("InitiatingProcessAccountName"))
    domain = pc.fill_null(blank_to_null(part.column("InitiatingProcessAccountDomain")), "")
    qualified = pc.if_else(pc.equal(domain, ""), name, pc.binary_join_element_wise(domain, name, "\\"))
    return pc.coalesce(upn, qualified)


def _network_events(part: pa.Table, ts) -> tuple[pa.Table, pa.Table]:
    action_type = part.column("ActionType")
    extra = part.column("AdditionalFields")
    inbound = pc.fill_null(pc.equal(lower(json_field(extra, "direction")), "in"), False)
    allowed = pc.is_in(action_type, value_set=_ALLOWED)
    failed = pc.is_in(action_type, value_set=_FAILED)
    is_tx = pc.and_(pc.or_(allowed, failed), pc.invert(inbound))

    host = pc.coalesce(
        clean_host(part.column("RemoteUrl")),
        clean_host(json_field(extra, "host")),
        clean_host(json_field(extra, "server_name")),
    )
    events = pa.table({
        "ts": ts,
        "source": constant(NAME, part.num_rows),
        "device_id": part.column("DeviceId"),
        "device_name": lower(part.column("DeviceName")),
        "account": _account(part),
        "src_ip": blank_to_null(part.column("LocalIP")),
        "dest_host": host,
        "dest_ip": blank_to_null(part.column("RemoteIP")),
        "dest_port": pc.cast(part.column("RemotePort"), pa.int32()),
        "bytes_up": pa.nulls(part.num_rows, pa.int64()),   # MDE carries no byte counts
        "bytes_down": pa.nulls(part.num_rows, pa.int64()),
        "action": pc.if_else(failed, "failed", "allowed"),
        "process": lower(blank_to_null(part.column("InitiatingProcessFileName"))),
        "input_line": part.column("input_line"),
    })
    reason = pc.if_else(inbound, pc.binary_join_element_wise(action_type, " (inbound)", ""), action_type)
    not_tx = pc.invert(is_tx)
    skipped = pa.table({"ts": ts, "reason": reason, "input_line": part.column("input_line")}).filter(not_tx)
    return keep(events, is_tx), skipped


def _device_info(part: pa.Table, ts) -> pa.Table:
    return pa.table({
        "ts": ts,
        "device_id": part.column("DeviceId"),
        "device_name": lower(part.column("DeviceName")),
        "os": blank_to_null(part.column("OSPlatform")),
        "public_ip": blank_to_null(part.column("PublicIP")),
        "logged_on_users": part.column("LoggedOnUsers"),
        "input_line": part.column("input_line"),
    })


def _network_info(part: pa.Table, ts) -> pa.Table:
    return pa.table({
        "ts": ts,
        "device_id": part.column("DeviceId"),
        "device_name": lower(part.column("DeviceName")),
        "ip_addresses": part.column("IPAddresses"),
        "input_line": part.column("input_line"),
    })


def _logons(part: pa.Table, ts) -> pa.Table:
    name = blank_to_null(part.column("AccountName"))
    domain = pc.fill_null(blank_to_null(part.column("AccountDomain")), "")
    account = pc.if_else(pc.equal(domain, ""), name, pc.binary_join_element_wise(domain, name, "\\"))
    return pa.table({
        "ts": ts,
        "device_id": part.column("DeviceId"),
        "device_name": lower(part.column("DeviceName")),
        "account": account,
        "logon_type": part.column("LogonType"),
        "action_type": part.column("ActionType"),
        "input_line": part.column("input_line"),
    })
