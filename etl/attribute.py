"""Who did what from which machine: user attribution and the machine histories.

User of a transaction, in order:
1. the account on the event itself (MDE InitiatingProcessAccountUpn / DOMAIN\\name, OCSF actor),
   normalised to the directory UPN; system and service accounts do not count;
2. else the last interactive logon on that device before the event (DeviceLogonEvents);
3. else the first user DeviceInfo.LoggedOnUsers listed at or before the event.
What cannot be attributed stays null.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from etl import schema
from etl.identity import Directory
from etl.normalize import map_unique

INTERACTIVE_LOGONS = ["Interactive", "RemoteInteractive", "Unlock", "CachedInteractive",
                      "CachedRemoteInteractive"]
ASOF_TOLERANCE_US = -7 * 24 * 3600 * 1_000_000  # look back at most a week
_TIME_BITS = 42  # microsecond offsets within ~50 days; device codes use the bits above


def _logged_on_users(text: str) -> list[str]:
    """`[{"UserName":"jdoe","DomainName":"CONTOSO"}]` (JSON or Python-style) -> ["CONTOSO\\jdoe"]."""
    try:
        items = json.loads(text)
    except ValueError:
        try:
            items = json.loads(text.replace("'", '"'))
        except ValueError:
            return []
    if isinstance(items, dict):
        items = [items]
    users = []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and item.get("UserName"):
            domain = item.get("DomainName")
            users.append(f"{domain}\\{item['UserName']}" if domain else str(item["UserName"]))
    return users


def _explode(table: pa.Table, list_column: str, name: str) -> pa.Table:
    lists = table.column(list_column)
    parents = pc.list_parent_indices(lists)
    out = table.drop_columns([list_column]).take(parents)
    return out.append_column(name, pc.list_flatten(lists))


def logon_users(logons: pa.Table | None, directory: Directory) -> pa.Table:
    """Successful interactive logons: ts, device_id, device_name, user."""
    if logons is None or logons.num_rows == 0:
        return pa.table({"ts": pa.array([], pa.timestamp("us", "UTC")), "device_id": pa.array([], pa.string()),
                         "device_name": pa.array([], pa.string()), "user": pa.array([], pa.string())})
    ok = pc.and_(pc.equal(logons.column("action_type"), "LogonSuccess"),
                 pc.is_in(logons.column("logon_type"), value_set=pa.array(INTERACTIVE_LOGONS)))
    ok = pc.fill_null(ok, False)
    rows = logons.filter(ok)
    users = directory.resolve_array(rows.column("account"))
    out = pa.table({"ts": rows.column("ts"), "device_id": rows.column("device_id"),
                    "device_name": rows.column("device_name"), "user": users})
    return out.filter(pc.is_valid(out.column("user")))


def logged_on_users(device_info: pa.Table | None, directory: Directory) -> pa.Table:
    """DeviceInfo.LoggedOnUsers, one row per (report, user): ts, device_id, device_name, user, position."""
    empty = pa.table({"ts": pa.array([], pa.timestamp("us", "UTC")), "device_id": pa.array([], pa.string()),
                      "device_name": pa.array([], pa.string()), "user": pa.array([], pa.string())})
    if device_info is None or device_info.num_rows == 0:
        return empty
    rows = device_info.filter(pc.is_valid(device_info.column("logged_on_users")))
    if rows.num_rows == 0:
        return empty
    lists = map_unique(rows.column("logged_on_users"), _logged_on_users, pa.list_(pa.string()))
    table = pa.table({"ts": rows.column("ts"), "device_id": rows.column("device_id"),
                      "device_name": rows.column("device_name"), "accounts": lists})
    table = _explode(table, "accounts", "account")
    users = directory.resolve_array(table.column("account"))
    table = table.drop_columns(["account"]).append_column("user", users)
    return table.filter(pc.is_valid(table.column("user")))


def ip_leases(leases: pa.Table | None) -> pa.Table:
    """The addresses devices reported holding: ts, device_id, device_name, ip."""
    if leases is None or leases.num_rows == 0:
        return schema.canonical_schema("ip_leases").empty_table().drop_columns(["input_line"])
    rows = leases.filter(pc.is_valid(leases.column("ip")))
    return rows.select(["ts", "device_id", "device_name", "ip"])


class AsOfIndex:
    """Latest history row at or before an instant, per key: a sorted-merge as-of join.

    (key, time) pairs are packed into one int64 key, sorted once; each batch of events is then
    answered with a single numpy `searchsorted`. By default the key is the device and the value
    the user; for appliance lines the key is the source IP and the value the device."""

    def __init__(self, history: pa.Table, key: str = "device_id", value: str = "user"):
        self.key = key
        history = history.filter(pc.and_(pc.is_valid(history.column(key)), pc.is_valid(history.column("ts"))))
        self.users = history.column(value)
        self.devices = pc.unique(history.column(key))
        codes = pc.index_in(history.column(key), value_set=self.devices).to_numpy().astype(np.int64)
        times = pc.cast(history.column("ts"), pa.int64()).to_numpy()
        self.origin = int(times.min()) - (1 << (_TIME_BITS - 1)) if len(times) else 0
        if len(times) and int(times.max()) - self.origin >= 1 << _TIME_BITS:
            raise ValueError("as-of attribution history spans more than ~50 days")
        keys = (codes << _TIME_BITS) | (times - self.origin)
        self.order = np.argsort(keys, kind="stable")
        self.keys, self.codes, self.times = keys[self.order], codes, times

    def lookup(self, events: pa.Table) -> pa.ChunkedArray:
        n = events.num_rows
        if len(self.keys) == 0 or n == 0:
            return pa.chunked_array([pa.nulls(n, self.users.type)])
        codes = pc.index_in(events.column(self.key), value_set=self.devices)
        times = pc.cast(events.column("ts"), pa.int64())
        valid = pc.and_(pc.is_valid(codes), pc.is_valid(times)).to_numpy(zero_copy_only=False)
        ev_codes = pc.fill_null(codes, 0).to_numpy().astype(np.int64)
        ev_times = pc.fill_null(times, 0).to_numpy()
        offsets = np.clip(ev_times - self.origin, 0, (1 << _TIME_BITS) - 1)
        pos = np.searchsorted(self.keys, (ev_codes << _TIME_BITS) | offsets, side="right") - 1
        match = self.order[np.maximum(pos, 0)]
        found = (valid & (pos >= 0) & (self.codes[match] == ev_codes) & (ev_times >= self.times[match])
                 & (ev_times - self.times[match] <= -ASOF_TOLERANCE_US))
        users = pc.take(self.users, pa.array(match))
        return pc.if_else(pa.array(found), users, pa.scalar(None, self.users.type))


@dataclass(frozen=True)
class UserHistory:
    """Who was on which device when: built once per day from the context tables."""
    logons: AsOfIndex  # successful interactive logons
    listed: AsOfIndex  # DeviceInfo.LoggedOnUsers

    @classmethod
    def from_context(cls, context: dict, directory: Directory) -> "UserHistory":
        return cls(AsOfIndex(logon_users(context.get("logons"), directory)),
                   AsOfIndex(logged_on_users(context.get("device_info"), directory)))


def attribute_users(transactions: pa.Table, history: UserHistory, directory: Directory) -> tuple[pa.Table, Counter]:
    """Replaces `account` by `user`; returns the table and how many rows each method attributed."""
    direct = directory.resolve_array(transactions.column("account"))
    stats = Counter(account=int(pc.sum(pc.is_valid(direct)).as_py() or 0))
    user = direct
    for method, index in (("logon", history.logons), ("logged_on_users", history.listed)):
        missing = pc.is_null(user)
        if not pc.any(missing).as_py():
            break
        found = index.lookup(transactions)
        user = pc.coalesce(user, found)
        stats[method] += int(pc.sum(pc.and_(missing, pc.is_valid(found))).as_py() or 0)
    stats["unattributed"] += int(pc.sum(pc.is_null(user)).as_py() or 0)
    return transactions.drop_columns(["account"]).append_column("user", user), stats


def changes(sightings: pa.Table, key: str, value: str) -> pa.Table:
    """Sightings (ts, key, value, ...) -> only the rows where a run of one value per key starts or
    ends: the as-of history of who held each IP (key ip, value device_id) or
    who used each device (key device_id, value user). Small, and exact for IPs that move between
    machines and back."""
    rows = sightings.filter(pc.and_(pc.is_valid(sightings.column(key)), pc.is_valid(sightings.column(value))))
    if rows.num_rows <= 1:
        return rows
    rows = rows.sort_by([(key, "ascending"), ("ts", "ascending"), (value, "ascending")])
    keys, values = rows.column(key).combine_chunks(), rows.column(value).combine_chunks()
    n = len(keys)
    same = pc.and_(pc.equal(keys.slice(1), keys.slice(0, n - 1)), pc.equal(values.slice(1), values.slice(0, n - 1)))
    starts = pa.concat_arrays([pa.array([True]), pc.invert(same)])
    ends = pa.concat_arrays([pc.invert(same), pa.array([True])])
    return rows.filter(pc.or_(starts, ends))  # first and last sighting of each run: reducing parts, then their union, stays exact


@dataclass(frozen=True)
class DeviceHistory:
    """Who held which IP when: as-of by (source IP, time), from endpoint sightings."""
    ids: AsOfIndex
    names: AsOfIndex

    @classmethod
    def from_sightings(cls, sightings: pa.Table) -> "DeviceHistory":
        """sightings: ts, ip, device_id, device_name."""
        held = changes(sightings, "ip", "device_id")
        return cls(AsOfIndex(held, key="ip", value="device_id"), AsOfIndex(held, key="ip", value="device_name"))


def attribute_devices(transactions: pa.Table, history: DeviceHistory) -> tuple[pa.Table, Counter]:
    """Fill device_id / device_name of rows that have none from the IP lease history (src_ip, ts);
    rows that name their device keep it. Counts how many rows got their device by IP."""
    by_ip = transactions.select(["ts", "src_ip"]).rename_columns(["ts", "ip"])
    found_id, found_name = history.ids.lookup(by_ip), history.names.lookup(by_ip)
    missing = pc.is_null(transactions.column("device_id"))
    device_id = pc.coalesce(transactions.column("device_id"), found_id)
    device_name = pc.if_else(missing, found_name, transactions.column("device_name"))
    stats = Counter(device_by_ip=int(pc.sum(pc.and_(missing, pc.is_valid(found_id))).as_py() or 0))
    out = transactions.set_column(transactions.schema.get_field_index("device_id"), "device_id", device_id)
    return out.set_column(out.schema.get_field_index("device_name"), "device_name", device_name), stats
