"""Given/expect: user attribution and the machine histories on tiny tables."""
from datetime import date, datetime, timezone

import pyarrow as pa

from etl.attribute import UserHistory, attribute_users, logged_on_users
from etl.sources.mde import _ip_leases
from etl.identity import Directory
from etl import reports

UTC = timezone.utc
TS = pa.timestamp("us", tz="UTC")
DIRECTORY = Directory.from_table(pa.table({
    "upn": ["jane.doe@contoso.com", "bob.smith@contoso.com"], "display_name": ["Jane", "Bob"],
    "department": ["Sales", "IT"], "sam_account_name": ["jdoe", "bsmith"]}))


def t(hour, minute=0, day=20):
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def tx(rows):
    """rows: (ts, device_id, account)"""
    return pa.table({
        "ts": pa.array([r[0] for r in rows], TS), "device_id": [r[1] for r in rows],
        "device_name": [r[1] for r in rows], "account": pa.array([r[2] for r in rows], pa.string()),
    })


def logons(rows):
    """rows: (ts, device_id, account, logon_type, action_type)"""
    return pa.table({
        "ts": pa.array([r[0] for r in rows], TS), "device_id": [r[1] for r in rows],
        "device_name": [r[1] for r in rows], "account": [r[2] for r in rows],
        "logon_type": [r[3] for r in rows], "action_type": [r[4] for r in rows]})


def test_event_account_wins_then_last_interactive_logon_before_the_event():
    given = tx([(t(9), "d1", "CONTOSO\\bsmith"),      # own account
                (t(10), "d1", "NT AUTHORITY\\SYSTEM"),  # system: last logon before 10:00 is jdoe at 8:00
                (t(12), "d1", None),                    # bsmith logged on at 11:00
                (t(7), "d1", "local service"),         # before any logon that day: the one of the evening before
                (t(9), "d2", None)])                    # no history at all for d2
    history = logons([(t(8), "d1", "jdoe", "Interactive", "LogonSuccess"),
                      (t(11), "d1", "CONTOSO\\bsmith", "Unlock", "LogonSuccess"),
                      (t(11, 30), "d1", "jdoe", "Interactive", "LogonFailed"),   # failed: ignored
                      (t(11, 45), "d1", "svc_backup", "Service", "LogonSuccess"),  # not interactive
                      (t(22, day=19), "d1", "jdoe", "Interactive", "LogonSuccess")])
    out, stats = attribute_users(given, UserHistory.from_context({"logons": history}, DIRECTORY), DIRECTORY)
    assert out.column("user").to_pylist() == [
        "bob.smith@contoso.com", "jane.doe@contoso.com", "bob.smith@contoso.com", "jane.doe@contoso.com", None]
    assert stats == {"account": 1, "logon": 3, "logged_on_users": 0, "unattributed": 1}


def test_logged_on_users_is_the_last_resort():
    given = tx([(t(9), "d2", None)])
    info = pa.table({"ts": pa.array([t(8)], TS), "device_id": ["d2"], "device_name": ["d2"], "os": ["Windows11"],
                     "public_ip": [None], "logged_on_users": ['[{"UserName":"jdoe","DomainName":"CONTOSO"}]']})
    out, stats = attribute_users(given, UserHistory.from_context({"device_info": info}, DIRECTORY), DIRECTORY)
    assert out.column("user").to_pylist() == ["jane.doe@contoso.com"]
    assert stats["logged_on_users"] == 1


def test_logged_on_users_parses_json_and_python_style_lists():
    info = pa.table({"ts": pa.array([t(8), t(9)], TS), "device_id": ["d1", "d2"], "device_name": ["d1", "d2"],
                     "logged_on_users": ['[{"UserName":"administrator1"}, {"UserName":"bsmith"}]',
                                         "[{'UserName': 'jdoe', 'DomainName': 'CONTOSO'}]"]})
    users = logged_on_users(info, DIRECTORY).to_pylist()
    assert [(u["device_id"], u["user"]) for u in users] == [
        ("d1", "administrator1"), ("d1", "bob.smith@contoso.com"), ("d2", "jane.doe@contoso.com")]


def test_mde_ip_leases_explode_addresses_drop_link_local_and_keep_a_row_per_line():
    info = pa.table({"DeviceId": ["d1", "d2"], "DeviceName": ["D1", "d2"], "input_line": [3, 4],
                     "IPAddresses": ['[{"IPAddress":"10.0.0.5","SubnetPrefix":24},'
                                     '{"IPAddress":"fe80::1","SubnetPrefix":64},{"IPAddress":"10.9.9.9"}]', "[]"]})
    leases = _ip_leases(info, pa.array([t(8), t(9)], TS))
    assert leases.select(["device_id", "device_name", "ip", "input_line"]).to_pylist() == [
        {"device_id": "d1", "device_name": "d1", "ip": "10.0.0.5", "input_line": 3},
        {"device_id": "d1", "device_name": "d1", "ip": "10.9.9.9", "input_line": 3},
        {"device_id": "d2", "device_name": "d2", "ip": None, "input_line": 4}]


def traffic(rows):
    """rows: (ts, source, device, user, src_ip, host, app, up, down)"""
    cols = ["ts", "source", "device_id", "user", "src_ip", "dest_host", "app_id", "bytes_up", "bytes_down"]
    table = pa.table({c: [r[i] for r in rows] for i, c in enumerate(cols)})
    table = table.set_column(0, "ts", pa.array([r[0] for r in rows], TS))
    n = len(rows)
    extra = {"device_name": table.column("device_id"), "app_name": table.column("app_id"),
             "category": pa.array(["Cloud storage"] * n), "dest_ip": pa.nulls(n, pa.string()),
             "dest_port": pa.array([443] * n, pa.int32()), "action": pa.array(["allowed"] * n),
             "process": pa.nulls(n, pa.string()), "input_path": pa.array(["x"] * n), "input_line": pa.array(range(n))}
    for name, values in extra.items():
        table = table.append_column(name, values)
    return table.set_column(7, "bytes_up", pa.array([r[7] for r in rows], pa.int64())).set_column(
        8, "bytes_down", pa.array([r[8] for r in rows], pa.int64()))


TRAFFIC_ROWS = traffic([
    (t(9), "mde", "d1", "jane.doe@contoso.com", "10.0.0.5", "www.dropbox.com", "dropbox", None, None),
    (t(10), "mde", "d1", "jane.doe@contoso.com", "10.0.0.6", "api.dropbox.com", "dropbox", None, None),
    (t(11), "mde", "d1", "bob.smith@contoso.com", "10.0.0.6", "x.unknown-site.io", None, None, None),
    (t(9), "ocsf", "m1", "jane.doe@contoso.com", "10.0.0.9", "chatgpt.com", "openai_chatgpt", 100, 1000),
    (t(12), "ocsf", "m1", None, "10.0.0.9", "cdn.unknown-site.io", None, 50, 5),
])
TRAFFIC = reports.cube(TRAFFIC_ROWS)


def test_machines_counts_and_null_bytes_for_sources_without_bytes():
    day = date(2026, 11, 20)
    names = reports.device_names(TRAFFIC, {})
    ips = reports.machine_ips(day, TRAFFIC, {}, names)
    out = {r["device_id"]: r for r in reports.machines(TRAFFIC, {}, ips, names).to_pylist()}
    assert out["d1"]["transactions"] == 3 and out["d1"]["apps"] == 1 and out["d1"]["users"] == 2
    assert out["d1"]["bytes_up"] is None and out["d1"]["bytes_down"] is None and out["d1"]["total_bytes"] is None
    assert out["d1"]["ip_addresses"] == 2
    assert (out["m1"]["bytes_up"], out["m1"]["bytes_down"], out["m1"]["total_bytes"]) == (150, 1005, 1155)
    assert out["m1"]["first_seen"] == t(9) and out["m1"]["last_seen"] == t(12)


def test_apps_users_and_unknown_domains():
    apps = {r["app_id"]: r for r in reports.apps(TRAFFIC).to_pylist()}
    assert apps["dropbox"]["transactions"] == 2 and apps["dropbox"]["users"] == 1
    assert apps["dropbox"]["ip_addresses"] == 2 and apps["dropbox"]["bytes"] is None
    assert apps["openai_chatgpt"]["bytes"] == 1100 and apps["openai_chatgpt"]["tag"] == "none"
    users = {r["user"]: r for r in reports.users(TRAFFIC, DIRECTORY).to_pylist()}
    assert users["jane.doe@contoso.com"]["machines"] == 2 and users["jane.doe@contoso.com"]["department"] == "Sales"
    unknown = reports.unknown_domains(TRAFFIC).to_pylist()
    assert unknown == [{"rank": 1, "domain": "unknown-site.io", "hosts": 2,
                        "example_hosts": ["cdn.unknown-site.io", "x.unknown-site.io"], "transactions": 2,
                        "bytes": 55, "machines": 2, "users": 1}]


def test_machine_histories_union_their_sources():
    day = date(2026, 11, 20)
    history = logons([(t(8), "d1", "CONTOSO\\bsmith", "Interactive", "LogonSuccess"),
                      (t(8, day=19), "d1", "jdoe", "Interactive", "LogonSuccess")])  # previous day: not in D
    names = reports.device_names(TRAFFIC, {})
    users = reports.machine_users(day, TRAFFIC, {"logons": history}, DIRECTORY, names)
    got = {(r["device_id"], r["user"], r["source"]) for r in users.to_pylist()}
    assert got == {("d1", "jane.doe@contoso.com", "network"), ("d1", "bob.smith@contoso.com", "network"),
                   ("d1", "bob.smith@contoso.com", "logon"), ("m1", "jane.doe@contoso.com", "network")}
    ips = reports.machine_ips(day, TRAFFIC, {}, names)
    d1 = [r for r in ips.to_pylist() if r["device_id"] == "d1"]
    assert [(r["ip"], r["first_seen"], r["last_seen"]) for r in d1] == [
        ("10.0.0.5", t(9), t(9)), ("10.0.0.6", t(10), t(11))]


def test_cube_built_batch_by_batch_equals_the_cube_of_all_rows(monkeypatch):
    monkeypatch.setattr(reports.CubeBuilder, "MERGE_ROWS", 2)
    monkeypatch.setattr(reports.CubeBuilder, "BATCH_ROWS", 3)
    builder = reports.CubeBuilder()
    for start in range(0, TRAFFIC_ROWS.num_rows, 2):
        builder.add(TRAFFIC_ROWS.slice(start, 2))
    whole = reports.cube(TRAFFIC_ROWS).sort_by([(k, "ascending") for k in reports.CUBE_KEYS])
    assert builder.result().equals(whole)
    assert sum(whole.column("n").to_pylist()) == TRAFFIC_ROWS.num_rows


def test_cube_rows_sum_repeated_combinations():
    doubled = reports.cube(pa.concat_tables([TRAFFIC_ROWS, TRAFFIC_ROWS]))
    assert doubled.num_rows == TRAFFIC.num_rows
    apps = {r["app_id"]: r for r in reports.apps(doubled).to_pylist()}
    assert apps["dropbox"]["transactions"] == 4 and apps["openai_chatgpt"]["bytes"] == 2200
