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


def _ip_addresses(text: str) -> list[str]:
    """DeviceNetworkInfo.IPAddresses JSON -> the addresses (link-local IPv6 dropped)."""
    try:
        items = json.loads(text)
    except ValueError:
        return []
    out = []
    for item in items if isinstance(items, list) else []:
        ip = item.get("IPAddress") if isinstance(item, dict) else None
        if ip and not ip.lower().startswith("fe80:"):
            out.append(ip)
    return out


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


def network_info_ips(network_info: pa.Table | None) -> pa.Table:
    empty = pa.table({"ts": pa.array([], pa.timestamp("us", "UTC")), "device_id": pa.array([], pa.string()),
                      "device_name": pa.array([], pa.string()), "ip": pa.array([], pa.string())})
    if network_info is None or network_info.num_rows == 0:
        return empty
    rows = network_info.filter(pc.is_valid(network_info.column("ip_addresses")))
    lists = map_unique(rows.column("ip_addresses"), _ip_addresses, pa.list_(pa.string()))
    table = pa.table({"ts": rows.column("ts"), "device_id": rows.column("device_id"),
                      "device_name": rows.column("device_name"), "ips": lists})
    return _explode(table, "ips", "ip")


def _codes_and_times(table: pa.Table, devices: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Device codes, int64 microsecond times, and which rows have both."""
    codes = pc.index_in(table.column("device_id"), value_set=devices)
    times = pc.cast(table.column("ts"), pa.int64())
    valid = pc.and_(pc.is_valid(codes), pc.is_valid(times)).to_numpy(zero_copy_only=False)
    return (pc.fill_null(codes, 0).to_numpy().astype(np.int64), pc.fill_null(times, 0).to_numpy(), valid)


def _asof_user(events: pa.Table, history: pa.Table) -> pa.ChunkedArray:
    """For each event (device_id, ts), the user of the latest history row at or before it.

    A sorted-merge as-of join in numpy: (device, time) pairs are packed into one int64 key per
    row, so one `searchsorted` finds every event's latest preceding history row at once.
    """
    n = events.num_rows
    if history.num_rows == 0 or n == 0:
        return pa.chunked_array([pa.nulls(n, pa.string())])
    devices = pc.unique(pa.chunked_array(events.column("device_id").chunks + history.column("device_id").chunks,
                                         type=pa.string()))
    ev_dev, ev_t, ev_ok = _codes_and_times(events, devices)
    hi_dev, hi_t, hi_ok = _codes_and_times(history, devices)
    if not ev_ok.any():
        return pa.chunked_array([pa.nulls(n, pa.string())])
    earliest = ev_t[ev_ok].min() + ASOF_TOLERANCE_US
    if ev_t[ev_ok].max() - earliest >= 1 << _TIME_BITS:
        raise ValueError("as-of attribution is built for one day of events at a time")
    hi_ok &= (hi_t >= earliest) & (hi_t <= ev_t[ev_ok].max())
    candidates = np.flatnonzero(hi_ok)
    if len(candidates) == 0:
        return pa.chunked_array([pa.nulls(n, pa.string())])
    ev_key = (ev_dev << _TIME_BITS) | np.clip(ev_t - earliest, 0, None)
    hi_key = (hi_dev[candidates] << _TIME_BITS) | (hi_t[candidates] - earliest)
    order = candidates[np.argsort(hi_key, kind="stable")]
    pos = np.searchsorted(np.sort(hi_key, kind="stable"), ev_key, side="right") - 1
    match = order[np.maximum(pos, 0)]
    found = ev_ok & (pos >= 0) & (hi_dev[match] == ev_dev) & (ev_t >= hi_t[match])
    users = pc.take(history.column("user"), pa.array(match))
    return pc.if_else(pa.array(found), users, pa.scalar(None, pa.string()))


@dataclass(frozen=True)
class UserHistory:
    """Who was on which device when: built once per day from the context tables."""
    logons: pa.Table   # successful interactive logons: ts, device_id, device_name, user
    listed: pa.Table   # DeviceInfo.LoggedOnUsers: ts, device_id, device_name, user

    @classmethod
    def from_context(cls, context: dict, directory: Directory) -> "UserHistory":
        return cls(logon_users(context.get("logons"), directory),
                   logged_on_users(context.get("device_info"), directory))


def attribute_users(transactions: pa.Table, history: UserHistory, directory: Directory) -> tuple[pa.Table, Counter]:
    """Replaces `account` by `user`; returns the table and how many rows each method attributed."""
    direct = directory.resolve_array(transactions.column("account"))
    stats = Counter(account=int(pc.sum(pc.is_valid(direct)).as_py() or 0))
    user = direct
    for method, table in (("logon", history.logons), ("logged_on_users", history.listed)):
        missing = pc.is_null(user)
        if not pc.any(missing).as_py():
            break
        found = _asof_user(transactions, table)
        user = pc.coalesce(user, found)
        stats[method] += int(pc.sum(pc.and_(missing, pc.is_valid(found))).as_py() or 0)
    stats["unattributed"] += int(pc.sum(pc.is_null(user)).as_py() or 0)
    return transactions.drop_columns(["account"]).append_column("user", user), stats
