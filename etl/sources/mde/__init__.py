"""Microsoft Defender for Endpoint streaming-API export (Advanced Hunting tables as NDJSON).

Layout: raw/mde/insights-logs-advancedhunting-<table>/tenantId=<t>/y=/m=/d=/h=/m=00/PT1H.json[.gz],
each folder hour being the hour the records *arrived*. DeviceNetworkEvents are transactions;
DeviceInfo, DeviceNetworkInfo and DeviceLogonEvents are context, read `lookback_hours` back.
"""
from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, time, timedelta, timezone

import pyarrow as pa
import pyarrow.compute as pc

import schemas
from etl import schema
from etl.normalize import blank_to_null, clean_host, constant, json_field, keep, lower, map_unique, on_distinct
from etl.sources.base import Classified, PlannedInput, Source, share_of_lines, window
from etl.sources.framing.ndjson import NdjsonReader
from etl.storage import MDE_PREFIX, mde_table_key, parse_mde_hour

NAME = "mde"
DECL = schemas.load("mde")
TABLES = tuple(DECL["tables"])
_PREFIX = DECL["category_prefix"]
_ALLOWED = pa.array(DECL["transactions"]["allowed"])
_FAILED = pa.array(DECL["transactions"]["failed"])
_STRING_NULL = pa.scalar(None, pa.string())


def _looks_like_record(line: bytes) -> bool:
    return line.startswith(b"{") and b'"category"' in line and _PREFIX.encode() in line


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
    rejected, skipped, transactions = [], [], None
    context: dict[str, pa.Table] = {}

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
            skipped.append(not_transactions)
        elif table == "DeviceInfo":
            context["device_info"] = _device_info(part, ts)
        elif table == "DeviceNetworkInfo":
            context["ip_leases"] = _ip_leases(part, ts)
        elif table == "DeviceLogonEvents":
            context["logons"] = _logons(part, ts)

    return Classified.of(rejected=pa.concat_tables(rejected) if rejected else None, transactions=transactions,
                         skipped=pa.concat_tables(skipped) if skipped else None, context=context)


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


def _ip_addresses(text: str) -> list[str | None]:
    """DeviceNetworkInfo.IPAddresses JSON -> the addresses (link-local IPv6 dropped); [None] when
    there are none, so the line still has its row."""
    try:
        items = json.loads(text)
    except ValueError:
        items = []
    out = []
    for item in items if isinstance(items, list) else []:
        ip = item.get("IPAddress") if isinstance(item, dict) else None
        if ip and not ip.lower().startswith("fe80:"):
            out.append(ip)
    return out or [None]


def _ip_leases(part: pa.Table, ts) -> pa.Table:
    """One row per address a DeviceNetworkInfo report lists."""
    lists = map_unique(pc.fill_null(part.column("IPAddresses"), "[]"), _ip_addresses, pa.list_(pa.string()))
    parents = pc.list_parent_indices(lists)
    return pa.table({
        "ts": pc.take(ts, parents),
        "device_id": pc.take(part.column("DeviceId"), parents),
        "device_name": pc.take(lower(part.column("DeviceName")), parents),
        "ip": pc.list_flatten(lists),
        "input_line": pc.take(part.column("input_line"), parents),
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


TABLE_FOLDERS = {table.lower(): table for table in TABLES}  # folder key -> Advanced Hunting table
CONTEXT_TABLES = ("DeviceInfo", "DeviceLogonEvents", "DeviceNetworkInfo")


class MdeSource(Source):
    name = NAME
    decl = DECL
    description = "Microsoft Defender for Endpoint streaming-API export (Advanced Hunting NDJSON)"

    def detect(self, head: bytes) -> float:
        # one record is proof enough: a broken line at the top must not hide a good file
        return 1.0 if share_of_lines(head, _looks_like_record) > 0 else 0.0

    def reader(self) -> NdjsonReader:
        return NdjsonReader(DECL)

    def classify(self, rows: pa.Table) -> Classified:
        return classify(rows)

    def plan(self, lake, day, settings) -> list[PlannedInput]:
        """Hour folders whose arrival hour lies in the day's window; context folders also
        `lookback_hours` before it (role `lookback`: read for attribution only)."""
        start, end = window(day, settings)
        lookback_start = start - timedelta(hours=settings.lookback_hours)
        planned = []
        for folder in lake.list_dirs(MDE_PREFIX):
            table = TABLE_FOLDERS.get(mde_table_key(folder))
            if table is None:
                continue
            first = lookback_start if table in CONTEXT_TABLES else start
            for tenant in lake.list_dirs(folder):
                d = first.date()
                while datetime.combine(d, time(0), tzinfo=timezone.utc) < end:
                    for obj in lake.list_files(f"{tenant}/y={d:%Y}/m={d:%m}/d={d:%d}"):
                        item = self._planned(obj.path, obj.size)
                        if item is not None and first <= item.arrival_start < end:
                            item.role = "window" if item.arrival_start >= start else "lookback"
                            planned.append(item)
                    d += timedelta(days=1)
        return planned

    def describe(self, lake, path: str) -> PlannedInput | None:
        if not path.startswith(MDE_PREFIX + "/"):
            return None
        return self._planned(path, lake.size(path))

    def _planned(self, path: str, size: int) -> PlannedInput | None:
        hour = parse_mde_hour(path)
        if hour is None:
            return None
        hour = hour.replace(tzinfo=timezone.utc)
        table = TABLE_FOLDERS.get(mde_table_key(path))
        return PlannedInput(path, size, NAME, hour, hour + timedelta(hours=1), "window", table,
                            reads_first=table in CONTEXT_TABLES)

    def object_notes(self, item: PlannedInput, rows: pa.Table) -> Counter:
        """Records whose category is not the table their folder is named after."""
        if not item.hint or rows.num_rows == 0:
            return Counter()
        other = pc.sum(pc.fill_null(pc.not_equal(rows.column("category"), _PREFIX + item.hint), False)).as_py() or 0
        note = (f"records of another table than its folder ({item.hint}); "
                "each record was handled by its own category")
        return Counter({note: other}) if other else Counter()


SOURCE = MdeSource()
