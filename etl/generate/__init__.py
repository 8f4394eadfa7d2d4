"""Deterministic synthetic data: a small company's endpoint telemetry and appliance logs.

``generate_lake`` writes, into a lake, what a Defender for Endpoint streaming export and an
OCSF-speaking endpoint agent would land there for a made-up company (Contoso), plus the
directory export ``reference/users.csv``.  ``appliance_log`` streams a Squid access.log or a
PAN-OS TRAFFIC syslog feed of the same company, and ``appliance_truth`` says which device and
user each of its lines really was.  Same arguments and seed => byte-identical output: all
randomness comes from ``numpy.random.default_rng`` seeded from (seed, purpose, hour), no wall
clock is read, gzip headers carry mtime 0, and nothing depends on set or hash order.

Modules: ``fleet`` (the world: machines, users, hosts catalogue, processes, and over time the
IP leases and who is logged on), ``lake`` (the hour loop and arrival-hour objects), ``mde`` and
``ocsf`` (the endpoint writers), ``squid`` and ``panos`` (the appliance writers).

Endpoint events: ``events_per_day`` network events per UTC day in total (MDE
DeviceNetworkEvents plus OCSF records), spread over machines and hours by activity; one event
per user on the first day is guaranteed to carry the UPN, so every directory user appears in
the events (when events_per_day >= users).  See ``fleet`` for the world model and ``lake`` for
arrival times and lateness.
"""
from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
import pyarrow as pa

from etl.generate.fleet import TICKS, Hosts, Procs, Sessions, Timeline, World, appliance_sessions
from etl.generate.lake import LakeGen
from etl.generate.mde import MDE_TABLES
from etl.generate.panos import PanosWriter
from etl.generate.squid import SquidWriter
from etl.storage import Lake

__all__ = ["APPLIANCE_FORMATS", "GenerateSummary", "MDE_TABLES", "appliance_log",
           "appliance_truth", "generate_lake"]

APPLIANCE_FORMATS = {"squid": SquidWriter, "panos": PanosWriter}


@dataclass(frozen=True)
class GenerateSummary:
    """What ``generate_lake`` wrote.  Event counts are lines actually written."""

    files_written: int  # every object written, reference/users.csv included
    mde_network: int  # DeviceNetworkEvents lines
    mde_other: int  # DeviceInfo + DeviceLogonEvents + DeviceNetworkInfo + DeviceProcessEvents
    ocsf: int  # OCSF lines (4001 + 4002)
    machines: int
    users: int
    start: date
    days: int
    tenant_id: str = ""
    bytes_written: int = 0  # total object bytes (compressed size when compress=True)
    late_events: int = 0  # network events (MDE + OCSF) that arrive 26-50 hours late
    mde_tables: tuple[tuple[str, int], ...] = ()  # lines per MDE table

    @property
    def events(self) -> int:
        return self.mde_network + self.mde_other + self.ocsf


def _world(start: date, machines: int, seed: int, users: int | None, ocsf_share: float
           ) -> tuple[Timeline, int]:
    n_users = users if users is not None else max(20, int(machines * 0.4))
    if n_users < 1:
        raise ValueError("users must be >= 1")
    hosts = Hosts()
    procs = Procs(hosts)
    world = World(seed, machines, n_users, ocsf_share, hosts)
    return Timeline(world, hosts, procs, start, seed), n_users


def generate_lake(lake: Lake, start: date, days: int, machines: int, events_per_day: int,
                  seed: int = 7, users: int | None = None, ocsf_share: float = 0.3,
                  compress: bool = False, late_share: float = 0.001) -> GenerateSummary:
    """Write ``days`` days of synthetic endpoint telemetry from ``start`` into ``lake``.

    ``events_per_day`` is the number of network events per UTC day over both endpoint
    sources (MDE DeviceNetworkEvents + OCSF); the other MDE tables come on top.  The run
    streams hour by hour; memory is bounded by one hour of events plus late arrivals.
    """
    if isinstance(start, datetime):
        start = start.date()
    if days < 1:
        raise ValueError("days must be >= 1")
    if machines < 1:
        raise ValueError("machines must be >= 1")
    if events_per_day < 0:
        raise ValueError("events_per_day must be >= 0")
    if not 0.0 <= ocsf_share <= 1.0:
        raise ValueError("ocsf_share must be within [0, 1]")
    if not 0.0 <= late_share <= 1.0:
        raise ValueError("late_share must be within [0, 1]")
    timeline, n_users = _world(start, machines, seed, users, ocsf_share)
    world = timeline.w
    gen = LakeGen(lake, start, days, events_per_day, timeline, compress, late_share)
    gen.run()

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["upn", "display_name", "department", "sam_account_name"])
    for row in zip(world.upn, world.display, world.dept, world.sam):
        writer.writerow(row)
    data = out.getvalue().encode()
    lake.write_bytes("reference/users.csv", data)

    mde_other = sum(gen.counts[t] for t in MDE_TABLES if t != "devicenetworkevents")
    return GenerateSummary(
        files_written=gen.files + 1,
        mde_network=gen.counts["devicenetworkevents"],
        mde_other=mde_other,
        ocsf=gen.counts["ocsf"],
        machines=machines,
        users=n_users,
        start=start,
        days=days,
        tenant_id=world.tenant,
        bytes_written=gen.bytes + len(data),
        late_events=gen.late,
        mde_tables=tuple((t, gen.counts[t]) for t in MDE_TABLES),
    )


# ---------------------------------------------------------------------------
# Appliance logs of the same world
# ---------------------------------------------------------------------------

def _appliance(fmt: str, start: date, days: int, machines: int, lines_per_day: int, seed: int,
               users: int | None, ocsf_share: float, events_per_day: int | None
               ) -> tuple[Timeline, Iterator[Sessions]]:
    if fmt not in APPLIANCE_FORMATS:
        raise ValueError(f"unknown appliance format {fmt!r} (one of {sorted(APPLIANCE_FORMATS)})")
    if isinstance(start, datetime):
        start = start.date()
    if days < 1:
        raise ValueError("days must be >= 1")
    if machines < 1:
        raise ValueError("machines must be >= 1")
    if lines_per_day < 0:
        raise ValueError("lines_per_day must be >= 0")
    if not 0.0 <= ocsf_share <= 1.0:
        raise ValueError("ocsf_share must be within [0, 1]")
    timeline, n_users = _world(start, machines, seed, users, ocsf_share)
    epd = n_users if events_per_day is None else events_per_day
    resolution = APPLIANCE_FORMATS[fmt].RESOLUTION
    return timeline, appliance_sessions(timeline, days, lines_per_day, resolution, epd)


def appliance_log(fmt: str, start: date, days: int, machines: int, lines_per_day: int,
                  seed: int, users: int | None = None, *, ocsf_share: float = 0.3,
                  events_per_day: int | None = None) -> Iterator[bytes]:
    """Blocks of a ``fmt`` ("squid" access.log or "panos" TRAFFIC syslog) appliance log of the
    world ``generate_lake`` builds for the same start, machines, seed and users.

    ``lines_per_day`` lines a UTC day over ``days`` days, in time order, one block per
    5-minute slot (memory stays bounded however long the log).  Every line's client IP is the
    one the machine held at that moment in the lake's DHCP history (DeviceNetworkInfo /
    LocalIP), its destination comes from the same hosts catalogue and its user, when shown,
    is the user logged on.  ``ocsf_share`` and ``events_per_day`` matter only to agree with a
    lake made with other values: the first decides which machines report through OCSF (the
    device ids in ``appliance_truth``), the second changes who is logged on in tiny worlds on
    the first day (leave None for a lake with events_per_day >= users).
    """
    timeline, sessions = _appliance(fmt, start, days, machines, lines_per_day, seed, users,
                                    ocsf_share, events_per_day)  # bad arguments raise here
    writer = APPLIANCE_FORMATS[fmt](timeline)
    return (writer.render(s) for s in sessions)


def appliance_truth(fmt: str, start: date, days: int, machines: int, lines_per_day: int,
                    seed: int, users: int | None = None, *, ocsf_share: float = 0.3,
                    events_per_day: int | None = None) -> pa.Table:
    """What each line of the same ``appliance_log`` really was, one row per line, in order:
    ts (the line's time, UTC), src_ip, device_id (the MDE DeviceId, or the OCSF device uid for
    machines that report through OCSF), device_name and user (UPN of who was logged on, also
    for lines that show no user)."""
    timeline, sessions = _appliance(fmt, start, days, machines, lines_per_day, seed, users,
                                    ocsf_share, events_per_day)
    w = timeline.w
    device_id = np.where(w.ocsf, np.array(w.ocsf_uid, dtype=object),
                         np.array(w.dev_id, dtype=object))
    name = np.array(w.name, dtype=object)
    upn = np.array(w.upn, dtype=object)
    parts: dict[str, list] = {"ts": [], "src_ip": [], "device_id": [], "device_name": [],
                              "user": []}
    for s in sessions:
        parts["ts"].append(s.ts // (TICKS // 1_000_000))
        parts["src_ip"].append(s.ip)
        parts["device_id"].append(device_id[s.machine])
        parts["device_name"].append(name[s.machine])
        parts["user"].append(upn[s.user])

    def cat(key, dtype):
        arrays = parts[key]
        return np.concatenate(arrays) if arrays else np.empty(0, dtype=dtype)

    return pa.table({
        "ts": pa.array(cat("ts", np.int64), pa.int64()).cast(pa.timestamp("us", tz="UTC")),
        "src_ip": pa.array(cat("src_ip", object).tolist(), pa.string()),
        "device_id": pa.array(cat("device_id", object).tolist(), pa.string()),
        "device_name": pa.array(cat("device_name", object).tolist(), pa.string()),
        "user": pa.array(cat("user", object).tolist(), pa.string()),
    })
