"""Appliance logs (Squid access.log, PAN-OS TRAFFIC syslog) of the generated world: determinism,
line shape, and agreement with the endpoint lake (IP history, logged-on users) line by line."""
from __future__ import annotations

import bisect
import csv
import gzip
import io
import json
import re
from datetime import date, datetime, timedelta, timezone

import pyarrow as pa
import pytest

from etl.generate import appliance_log, appliance_truth, generate_lake
from etl.generate.fleet import Hosts
from etl.storage import Lake

START = date(2026, 11, 16)
WORLD = dict(start=START, days=2, machines=8, seed=5, users=10)
LINES_PER_DAY = 1500
FORMATS = ("squid", "panos")

SQUID = re.compile(
    r"^(?P<sec>\d{10})\.(?P<ms>\d{3}) (?P<elapsed>[ \d]{5}\d|\d{7,}) "
    r"(?P<ip>10\.\d{1,3}\.\d{1,3}\.\d{1,3}) (?P<code>TCP_[A-Z_]+)/(?P<status>\d{3}) "
    r"(?P<bytes>\d+) (?P<method>CONNECT|GET|POST|HEAD|PUT) (?P<url>\S+) (?P<user>\S+) "
    r"(?P<hier>HIER_DIRECT/\d{1,3}(?:\.\d{1,3}){3}|HIER_NONE/-) (?P<ctype>-|[a-z]+/[a-z0-9.+-]+)$")
SYSLOG = re.compile(r"^<14>(?P<ts>[A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2}) PA-VM (?P<msg>1,.*)$")
PAN_TIME = re.compile(r"^\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}$")
IP = re.compile(r"^\d{1,3}(?:\.\d{1,3}){3}$")
PAN_FIELDS = 65  # FUTURE_USE ... SCTP Chunks Received
# constant fields of the TRAFFIC line, by position
PAN_CONSTANT = {0: "1", 2: "007051000012345", 3: "TRAFFIC", 5: "2561", 13: "", 15: "vsys1",
                16: "trust", 17: "untrust", 18: "ethernet1/2", 19: "ethernet1/1",
                20: "default", 23: "1", 38: "0", 40: "0x0", 41: "10.0.0.0-10.255.255.255",
                43: "0", 47: "0", 48: "0", 49: "0", 50: "0", 51: "", 52: "PA-VM",
                53: "from-policy", 54: "", 55: "", 56: "0", 57: "", 58: "0", 59: "",
                60: "N/A", 61: "0", 62: "0", 63: "0", 64: "0"}


def _log(fmt: str, **kw) -> bytes:
    args = dict(WORLD, lines_per_day=LINES_PER_DAY)
    args.update(kw)
    return b"".join(appliance_log(fmt, **args))


@pytest.fixture(scope="module")
def logs() -> dict[str, tuple[list[str], pa.Table]]:
    out = {}
    for fmt in FORMATS:
        lines = _log(fmt).decode().splitlines()
        out[fmt] = lines, appliance_truth(fmt, **WORLD, lines_per_day=LINES_PER_DAY)
    return out


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> dict:
    """The endpoint lake of the same world: IP history, logged-on users, OCSF records."""
    root = Lake(str(tmp_path_factory.mktemp("lake")))
    generate_lake(root, events_per_day=2000, **WORLD)
    dni: dict[str, list[tuple[str, str]]] = {}  # DeviceId -> sorted (Timestamp, private IP)
    logged_on: dict[tuple[str, str], str] = {}  # (DeviceId, hour) -> sAMAccountName
    local_ips: list[tuple[str, str, str]] = []  # (DeviceId, Timestamp, LocalIP)
    ocsf: list[tuple[str, str, str, str | None]] = []  # (uid, iso time, ip, email)
    for obj in root.list_files("raw"):
        data = root.read_bytes(obj.path)
        text = (gzip.decompress(data) if obj.path.endswith(".gz") else data).decode()
        for line in text.splitlines():
            record = json.loads(line)
            if obj.path.startswith("raw/ocsf/"):
                t = datetime.fromtimestamp(record["time"] / 1000, timezone.utc)
                email = record["actor"]["user"].get("email_addr")
                ocsf.append((record["device"]["uid"], _iso(t), record["device"]["ip"], email))
                continue
            p = record["properties"]
            if "IPAddresses" in p:
                ip = [a["IPAddress"] for a in json.loads(p["IPAddresses"])
                      if a["IPAddress"].startswith("10.")][0]
                dni.setdefault(p["DeviceId"], []).append((p["Timestamp"], ip))
            elif "LoggedOnUsers" in p:
                user = json.loads(p["LoggedOnUsers"])[0]["UserName"]
                logged_on[(p["DeviceId"], p["Timestamp"][:13])] = user
            elif "LocalIP" in p and p["LocalIP"].startswith("10."):
                local_ips.append((p["DeviceId"], p["Timestamp"], p["LocalIP"]))
    for v in dni.values():
        v.sort()
    users = list(csv.DictReader(io.StringIO(root.read_bytes("reference/users.csv").decode())))
    return dict(dni=dni, logged_on=logged_on, local_ips=local_ips, ocsf=ocsf,
                sam={u["upn"]: u["sam_account_name"] for u in users})


def _iso(t: datetime) -> str:
    """The MDE timestamp form (7 fractional digits), so times compare as strings."""
    return f"{t:%Y-%m-%dT%H:%M:%S}.{t.microsecond:06d}0Z"


def _ip_at(history: list[tuple[str, str]], ts: str) -> str | None:
    i = bisect.bisect_right(history, (ts, "~")) - 1
    return history[i][1] if i >= 0 else None


def _line_time(fmt: str, line: str) -> datetime:
    if fmt == "squid":
        m = SQUID.match(line)
        return datetime.fromtimestamp(int(m["sec"]), timezone.utc) + \
            timedelta(milliseconds=int(m["ms"]))
    gen = SYSLOG.match(line)["msg"].split(",")[6]
    return datetime.strptime(gen, "%Y/%m/%d %H:%M:%S").replace(tzinfo=timezone.utc)


def _line_ip_user(fmt: str, line: str) -> tuple[str, str | None]:
    if fmt == "squid":
        m = SQUID.match(line)
        return m["ip"], None if m["user"] == "-" else m["user"]
    f = SYSLOG.match(line)["msg"].split(",")
    return f[7], f[12] or None


@pytest.mark.parametrize("fmt", FORMATS)
def test_same_arguments_same_bytes_other_seed_differs(fmt):
    blocks = list(appliance_log(fmt, **WORLD, lines_per_day=LINES_PER_DAY))
    assert len(blocks) > 10 and all(b.endswith(b"\n") for b in blocks)  # streamed in blocks
    assert b"".join(blocks) == _log(fmt)
    assert _log(fmt, seed=6) != _log(fmt)
    truth = appliance_truth(fmt, **WORLD, lines_per_day=LINES_PER_DAY)
    assert truth.equals(appliance_truth(fmt, **WORLD, lines_per_day=LINES_PER_DAY))


def test_squid_lines_are_native_access_log(logs):
    lines, _ = logs["squid"]
    hosts = set(Hosts().names)
    codes, users, times = set(), 0, []
    for line in lines:
        m = SQUID.match(line)
        assert m, line
        code = f"{m['code']}/{m['status']}"
        if m["method"] == "CONNECT":
            host, port = m["url"].rsplit(":", 1)
            assert port == "443" and m["ctype"] == ("text/html" if m["code"] == "TCP_DENIED"
                                                    else "-")
        else:
            assert m["url"].startswith("http://")
            host = m["url"][7:].split("/", 1)[0]
        assert host in hosts
        codes.add(code)
        if code == "TCP_DENIED/403":
            assert m["hier"] == "HIER_NONE/-"
        users += m["user"] != "-"
        times.append(int(m["sec"]) * 1000 + int(m["ms"]))
    assert times == sorted(times) and len(lines) == WORLD["days"] * LINES_PER_DAY
    assert {"TCP_TUNNEL/200", "TCP_DENIED/403", "TCP_MISS/200"} <= codes
    assert 0.35 < users / len(lines) < 0.65  # about half carry a user: the rest need the IP


def test_panos_lines_are_traffic_syslog_in_field_order(logs):
    lines, _ = logs["panos"]
    catalogue_ips = {ip for row in Hosts().ips for ip in row}
    subtypes = {}
    for line in lines:
        m = SYSLOG.match(line)
        assert m, line
        f = m["msg"].split(",")
        assert len(f) == PAN_FIELDS, line
        for i, value in PAN_CONSTANT.items():
            assert f[i] == value, (i, line)
        receive, generated, start = (datetime.strptime(f[i], "%Y/%m/%d %H:%M:%S")
                                     for i in (1, 6, 35))
        assert PAN_TIME.match(f[21]) and receive == generated
        assert m["ts"] == f"{generated:%b} {generated.day:2d} {generated:%H:%M:%S}"
        assert all(IP.match(f[i]) for i in (7, 8, 9, 10)) and f[7].startswith("10.")
        assert f[8] in catalogue_ips
        assert f[12] == "" or f[12].startswith("contoso\\")
        sent, received, packets, ps, pr = (int(f[i]) for i in (32, 33, 34, 44, 45))
        assert int(f[31]) == sent + received and packets == ps + pr
        assert start == generated - timedelta(seconds=int(f[36]))
        assert f[28].startswith("0x") and f[29] in ("tcp", "udp")
        assert 0 < int(f[24]) < 65536 and 0 < int(f[25]) < 65536
        assert f[37] and f[42] and f[46]
        subtype, action = f[4], f[30]
        subtypes[subtype] = subtypes.get(subtype, 0) + 1
        assert action == {"end": "allow", "start": "allow", "deny": "deny", "drop": "drop"}[subtype]
        if subtype in ("deny", "drop"):
            assert f[9] == "0.0.0.0" and received == 0 and f[46] == "policy-deny"
        if subtype == "start":
            assert f[36] == "0" and f[46] == "n/a"
    assert set(subtypes) == {"end", "start", "deny", "drop"}
    assert subtypes["end"] > 0.9 * len(lines)
    seq = [int(SYSLOG.match(line)["msg"].split(",")[39]) for line in lines]
    assert seq == sorted(set(seq))  # sequence numbers increase line by line


@pytest.mark.parametrize("fmt", FORMATS)
def test_truth_has_one_row_per_line_with_its_time_ip_and_user(fmt, logs, lake):
    lines, truth = logs[fmt]
    assert truth.column_names == ["ts", "src_ip", "device_id", "device_name", "user"]
    assert truth.num_rows == len(lines)
    for line, row in zip(lines, truth.to_pylist()):
        assert _line_time(fmt, line) == row["ts"]
        ip, user = _line_ip_user(fmt, line)
        assert ip == row["src_ip"]
        if user is not None:  # shown as sAMAccountName, DOMAIN\\sam or UPN: the logged-on one
            sam = lake["sam"][row["user"]]
            assert user in (sam, f"contoso\\{sam}", row["user"]), (line, row)


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_line_ip_maps_to_its_device_in_the_mde_ip_history(fmt, logs, lake):
    """(time, IP) of every line -> exactly the device the truth names, by DeviceNetworkInfo; the
    lines of OCSF machines match no MDE device, and agree with the OCSF records' device IP."""
    _, truth = logs[fmt]
    dni = lake["dni"]
    mde_lines = 0
    by_device: dict[str, list[tuple[str, str]]] = {}
    for row in truth.to_pylist():
        ts = _iso(row["ts"])
        owners = {d for d, history in dni.items() if _ip_at(history, ts) == row["src_ip"]}
        if row["device_id"] in dni:
            assert owners == {row["device_id"]}, row
            mde_lines += 1
        else:
            assert not owners, row
            by_device.setdefault(row["device_id"], []).append((ts, row["src_ip"]))
    assert mde_lines > 0.5 * truth.num_rows and by_device
    # OCSF machines: merged with their records' device.ip, each IP is one unbroken lease
    for uid, t, ip, _ in lake["ocsf"]:
        if uid in by_device:
            by_device[uid].append((t, ip))
    for seen in by_device.values():
        ips = [ip for _, ip in sorted(seen)]
        runs = [ip for i, ip in enumerate(ips) if i == 0 or ip != ips[i - 1]]
        assert len(runs) == len(set(runs)), runs
    # and the MDE network events' LocalIP follows the same history the lines were checked on
    assert all(_ip_at(dni[d], t) == ip for d, t, ip in lake["local_ips"])
    assert any(len({ip for _, ip in v}) > 1 for v in dni.values())  # leases do change


@pytest.mark.parametrize("fmt", FORMATS)
def test_users_are_who_was_logged_on(fmt, logs, lake):
    """The truth's user is DeviceInfo.LoggedOnUsers of that device and hour (MDE machines) and
    the OCSF actor of that device and hour (OCSF machines)."""
    _, truth = logs[fmt]
    ocsf_user = {(uid, t[:13]): email for uid, t, _, email in lake["ocsf"] if email}
    checked = 0
    for row in truth.to_pylist():
        key = (row["device_id"], _iso(row["ts"])[:13])
        if key in lake["logged_on"]:
            assert lake["logged_on"][key] == lake["sam"][row["user"]], row
            checked += 1
        elif key in ocsf_user:
            assert ocsf_user[key] == row["user"], row
            checked += 1
    assert checked > 0.5 * truth.num_rows


def test_tiny_world_first_day_take_overs_agree_when_told_the_events_per_day(tmp_path):
    """With more users than shifts, generate_lake moves users onto machines for an hour on day
    0, depending on events_per_day; given the same value the appliance users follow."""
    world = dict(start=START, days=1, machines=2, seed=2, users=30)
    root = Lake(str(tmp_path))
    generate_lake(root, events_per_day=15, ocsf_share=0.0, **world)
    logged_on = {}
    for obj in root.list_files("raw/mde/insights-logs-advancedhunting-deviceinfo"):
        for line in root.read_bytes(obj.path).decode().splitlines():
            p = json.loads(line)["properties"]
            logged_on[(p["DeviceId"], p["Timestamp"][:13])] = \
                json.loads(p["LoggedOnUsers"])[0]["UserName"]
    users = list(csv.DictReader(io.StringIO(root.read_bytes("reference/users.csv").decode())))
    sam = {u["upn"]: u["sam_account_name"] for u in users}

    def pairs(**kw):
        truth = appliance_truth("squid", **world, lines_per_day=3000, ocsf_share=0.0, **kw)
        return [(logged_on[k], sam[r["user"]]) for r in truth.to_pylist()
                if (k := (r["device_id"], _iso(r["ts"])[:13])) in logged_on]

    told = pairs(events_per_day=15)
    assert len(told) > 1000 and all(a == b for a, b in told)
    assert any(a != b for a, b in pairs())  # the default assumes events_per_day >= users


@pytest.mark.parametrize("kwargs", [dict(fmt="bluecoat"), dict(days=0), dict(machines=0),
                                    dict(lines_per_day=-1)])
def test_rejects_bad_arguments_before_streaming(kwargs):
    args = {**WORLD, "fmt": "squid", "lines_per_day": 10, **kwargs}
    with pytest.raises(ValueError):
        appliance_log(**args)
    with pytest.raises(ValueError):
        appliance_truth(**args)
