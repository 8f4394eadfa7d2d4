"""OCSF Network Activity (4001) and HTTP Activity (4002) NDJSON from non-Defender endpoint agents.

Layout: raw/ocsf/dt=YYYY-MM-DD/*.json[.gz], the folder day being the day the files arrived.
Device context (name, OS, the IP it used) is derived from the events themselves.
"""
from __future__ import annotations

import math
from datetime import timedelta

import pyarrow as pa
import pyarrow.compute as pc

import schemas
from etl import schema
from etl.normalize import blank_to_null, clean_host, constant, epoch_ms_to_ts, keep, lower
from etl.sources.base import Classified, PlannedInput, Source, day_bounds, share_of_lines
from etl.sources.framing.ndjson import NdjsonReader
from etl.storage import OCSF_PREFIX, ocsf_day_dir, parse_ocsf_day

NAME = "ocsf"
DECL = schemas.load("ocsf")
_RULES = DECL["transactions"]
_NET_ALLOWED = pa.array(_RULES["network_activity"]["allowed"], pa.int64())
_NET_FAILED = pa.array(_RULES["network_activity"]["failed"], pa.int64())
_SKIP_DIRECTIONS = {int(k): v for k, v in _RULES["skip_directions"].items()}
HTTP_ACTIVITY = 4002
ACTION_DENIED = 2
DISPOSITION_BLOCKED = 2
STATUS_FAILURE = 2


def _looks_like_event(line: bytes) -> bool:
    return line.startswith(b"{") and b'"class_uid"' in line


def _valid_ts(rows: pa.Table) -> pa.ChunkedArray:
    values = rows.column("time")
    ok = pc.fill_null(pc.greater_equal(values, 0), False)
    return epoch_ms_to_ts(pc.if_else(ok, values, pa.scalar(None, pa.int64())))


def classify(rows: pa.Table) -> Classified:
    reasons = schema.row_violations(rows, DECL)
    bad = pc.is_valid(reasons)
    rejected = pa.table({
        "input_line": rows.column("input_line").filter(bad),
        "reason": reasons.filter(bad),
        "ts": _valid_ts(rows.filter(bad)),
    })
    rows = keep(rows, pc.invert(bad))
    ts = _valid_ts(rows)

    klass = rows.column("class_uid")
    activity = rows.column("activity_id")
    is_http = pc.equal(klass, HTTP_ACTIVITY)
    net_allowed = pc.fill_null(pc.is_in(activity, value_set=_NET_ALLOWED), False)
    net_failed = pc.fill_null(pc.is_in(activity, value_set=_NET_FAILED), False)
    direction = rows.column("direction_id")
    skip_direction = pc.fill_null(pc.is_in(direction, value_set=pa.array(list(_SKIP_DIRECTIONS), pa.int64())), False)
    is_tx = pc.and_(pc.or_(is_http, pc.or_(net_allowed, net_failed)), pc.invert(skip_direction))

    blocked = pc.or_(
        pc.fill_null(pc.equal(rows.column("action_id"), ACTION_DENIED), False),
        pc.fill_null(pc.equal(rows.column("disposition_id"), DISPOSITION_BLOCKED), False),
    )
    failed = pc.or_(pc.and_(pc.invert(is_http), net_failed),
                    pc.fill_null(pc.equal(rows.column("status_id"), STATUS_FAILURE), False))
    action = pc.if_else(blocked, "blocked", pc.if_else(failed, "failed", "allowed"))

    device_name = lower(blank_to_null(rows.column("device_hostname")))
    events = pa.table({
        "ts": ts,
        "source": constant(NAME, rows.num_rows),
        "device_id": pc.coalesce(blank_to_null(rows.column("device_uid")), device_name),
        "device_name": device_name,
        "account": pc.coalesce(blank_to_null(rows.column("user_email")), blank_to_null(rows.column("user_name"))),
        "src_ip": pc.coalesce(blank_to_null(rows.column("src_ip")), blank_to_null(rows.column("device_ip"))),
        "dest_host": pc.coalesce(clean_host(rows.column("http_hostname")), clean_host(rows.column("tls_sni")),
                                 clean_host(rows.column("dst_hostname"))),
        "dest_ip": blank_to_null(rows.column("dst_ip")),
        "dest_port": pc.cast(rows.column("dst_port"), pa.int32()),
        "bytes_up": rows.column("bytes_out"),     # OCSF: out = source -> destination
        "bytes_down": rows.column("bytes_in"),    # in = destination -> source
        "action": action,
        "process": lower(blank_to_null(rows.column("process_name"))),
        "input_line": rows.column("input_line"),
    })
    direction_names = pa.array([str(k) for k in _SKIP_DIRECTIONS]), pa.array(list(_SKIP_DIRECTIONS.values()))
    direction_name = pc.take(direction_names[1], pc.index_in(pc.cast(direction, pa.string()), value_set=direction_names[0]))
    reason_direction = pc.binary_join_element_wise("direction:", direction_name, "")
    reason_activity = pc.binary_join_element_wise(
        pc.cast(klass, pa.string()), ":activity_id=", pc.fill_null(pc.cast(activity, pa.string()), "null"), "")
    reason = pc.if_else(skip_direction, reason_direction, reason_activity)
    not_tx = pc.invert(is_tx)
    return Classified.of(
        rejected=rejected, transactions=keep(events, is_tx),
        skipped=pa.table({"ts": ts, "reason": reason, "input_line": rows.column("input_line")}).filter(not_tx),
        context={"device_info": _device_info(ts, events.column("device_id"), device_name,
                                             blank_to_null(rows.column("device_os_name")))},
        derived=("device_info",))


def _device_info(ts, device_id, device_name, os) -> pa.Table:
    """What OCSF events say about their device, once per (device, name, OS) and UTC day, at the
    last time it was said: every event repeats it, and only the latest value is ever used."""
    seen = pa.table({"device_id": device_id, "device_name": device_name, "os": os, "ts": ts,
                     "day": pc.cast(ts, pa.date32())})
    seen = seen.filter(pc.is_valid(seen.column("device_id")))
    latest = seen.group_by(["device_id", "device_name", "os", "day"], use_threads=False).aggregate(
        [("ts", "max")])
    n = latest.num_rows
    return pa.table({
        "ts": latest.column("ts_max"), "device_id": latest.column("device_id"),
        "device_name": latest.column("device_name"), "os": latest.column("os"),
        "public_ip": pa.nulls(n, pa.string()), "logged_on_users": pa.nulls(n, pa.string()),
        "input_line": pa.nulls(n, pa.int64()),
    })


class OcsfSource(Source):
    name = NAME
    decl = DECL
    description = "OCSF 1.x Network Activity (4001) / HTTP Activity (4002) NDJSON"

    def detect(self, head: bytes) -> float:
        return 1.0 if share_of_lines(head, _looks_like_event) > 0 else 0.0

    def reader(self) -> NdjsonReader:
        return NdjsonReader(DECL)

    def classify(self, rows: pa.Table) -> Classified:
        return classify(rows)

    def plan(self, lake, day, settings) -> list[PlannedInput]:
        """The `dt=` folders of the day and of the days its lateness reaches into."""
        planned = []
        for offset in range(0, math.ceil(settings.lateness_hours / 24) + 1):
            for obj in lake.list_files(ocsf_day_dir(day + timedelta(days=offset))):
                item = self.describe(lake, obj.path, obj.size)
                if item is not None:
                    planned.append(item)
        return planned

    def describe(self, lake, path: str, size: int | None = None) -> PlannedInput | None:
        if not path.startswith(OCSF_PREFIX + "/"):
            return None
        arrival = parse_ocsf_day(path)
        if arrival is None:
            return None
        start, end = day_bounds(arrival)
        return PlannedInput(path, lake.size(path) if size is None else size, NAME, start, end, "window")


SOURCE = OcsfSource()
