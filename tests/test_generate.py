"""The synthetic lake generator: determinism, layout, record shape, counts, lateness, users."""
from __future__ import annotations

import bisect
import csv
import gzip
import io
import json
from datetime import date, datetime, timedelta, timezone

import pytest

from etl.generate import MDE_TABLES, generate_lake
from etl.storage import Lake, mde_hour_dir, ocsf_day_dir, parse_mde_hour, parse_ocsf_day

START = date(2026, 11, 16)
SMALL = dict(start=START, days=2, machines=6, events_per_day=1500, users=12)
MDE_KEYS = ["time", "tenantId", "operationName", "category", "properties"]


def _files(lake: Lake) -> dict[str, bytes]:
    return {o.path: lake.read_bytes(o.path) for o in lake.list_files("")}


def _lines(rel: str, data: bytes) -> list[str]:
    if rel.endswith(".gz"):
        data = gzip.decompress(data)
    return data.decode().splitlines()


def _ts(text: str) -> datetime:
    assert len(text) == 28 and text.endswith("Z"), text  # 7 fractional digits + Z
    return datetime.strptime(text[:26], "%Y-%m-%dT%H:%M:%S.%f")


def _table_of(rel: str) -> str:
    return rel.split("/")[2].removeprefix("insights-logs-advancedhunting-")


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    lake = Lake(str(tmp_path_factory.mktemp("lake")))
    summary = generate_lake(lake, **SMALL)
    return lake, summary, _files(lake)


def test_same_seed_is_byte_identical_and_other_seed_differs(small, tmp_path):
    _, _, files = small
    again = Lake(str(tmp_path / "again"))
    generate_lake(again, **SMALL)
    assert _files(again) == files
    other = Lake(str(tmp_path / "other"))
    generate_lake(other, **SMALL, seed=8)
    other_files = _files(other)
    assert other_files != files
    common = set(other_files) & set(files)
    assert any(other_files[p] != files[p] for p in common)


def test_layout_matches_storage_helpers(small):
    _, summary, files = small
    tables = set()
    for rel in files:
        if rel.startswith("raw/mde/"):
            table = _table_of(rel)
            hour = parse_mde_hour(rel)
            assert table in MDE_TABLES and hour is not None
            assert rel == mde_hour_dir(table, summary.tenant_id, hour) + "/PT1H.json"
            tables.add(table)
        elif rel.startswith("raw/ocsf/"):
            day = parse_ocsf_day(rel)
            name = rel.rsplit("/", 1)[1]
            assert rel == f"{ocsf_day_dir(day)}/{name}"
            agent, hh = name.removesuffix(".json").split("-")[1:]
            assert name == f"agent-{int(agent)}-{int(hh):02d}.json" and 0 <= int(hh) < 24
        else:
            assert rel == "reference/users.csv", rel
    assert tables == set(MDE_TABLES)
    assert summary.files_written == len(files)
    assert summary.bytes_written == sum(len(v) for v in files.values())


def test_every_mde_line_is_a_streaming_api_record_in_its_arrival_folder(small):
    _, summary, files = small
    seen = 0
    for rel, data in files.items():
        if not rel.startswith("raw/mde/"):
            continue
        table = _table_of(rel)
        folder = parse_mde_hour(rel)
        for line in _lines(rel, data):
            record = json.loads(line)
            assert list(record) == MDE_KEYS
            assert record["category"] == MDE_TABLES[table]
            assert record["tenantId"] == summary.tenant_id
            assert record["operationName"] == "Publish"
            arrival = _ts(record["time"])
            assert folder <= arrival < folder + timedelta(hours=1)
            props = record["properties"]
            delay = arrival - _ts(props["Timestamp"])
            assert timedelta(minutes=1) <= delay <= timedelta(hours=51)
            assert len(props["DeviceId"]) == 40
            if table == "devicenetworkevents" and props["AdditionalFields"] is not None:
                assert isinstance(json.loads(props["AdditionalFields"]), dict)
            seen += 1
    assert seen == summary.mde_network + summary.mde_other


def test_ocsf_lines_are_network_or_http_activity(small):
    _, _, files = small
    classes = set()
    for rel, data in files.items():
        if not rel.startswith("raw/ocsf/"):
            continue
        for line in _lines(rel, data):
            r = json.loads(line)
            assert isinstance(r["time"], int) and r["category_uid"] == 4
            assert r["class_uid"] in (4001, 4002)
            assert r["type_uid"] == r["class_uid"] * 100 + r["activity_id"]
            assert r["metadata"]["version"] == "1.1.0"
            assert r["traffic"]["bytes_in"] >= 0 and r["traffic"]["bytes_out"] >= 0
            if r["class_uid"] == 4002:
                assert r["http_request"]["url"]["hostname"] == r["dst_endpoint"]["hostname"]
            arrival_day = parse_ocsf_day(rel)
            event_day = datetime.fromtimestamp(r["time"] / 1000, timezone.utc).date()
            assert event_day <= arrival_day
            classes.add(r["class_uid"])
    assert classes == {4001, 4002}


def test_summary_counts_equal_lines_written(small):
    _, summary, files = small
    per_table = {t: 0 for t in MDE_TABLES}
    ocsf = 0
    for rel, data in files.items():
        n = len(_lines(rel, data))
        if rel.startswith("raw/mde/"):
            per_table[_table_of(rel)] += n
        elif rel.startswith("raw/ocsf/"):
            ocsf += n
    assert summary.mde_network == per_table["devicenetworkevents"]
    assert summary.mde_other == sum(per_table.values()) - per_table["devicenetworkevents"]
    assert summary.ocsf == ocsf
    assert dict(summary.mde_tables) == per_table
    # events_per_day counts network events of both endpoint sources, exactly
    assert summary.mde_network + summary.ocsf == SMALL["days"] * SMALL["events_per_day"]
    assert (summary.machines, summary.users, summary.start, summary.days) == (6, 12, START, 2)


def test_compress_writes_gzip_with_the_same_content(small, tmp_path):
    _, summary, files = small
    lake = Lake(str(tmp_path / "gz"))
    gz_summary = generate_lake(lake, **SMALL, compress=True)
    gz_files = _files(lake)
    assert gz_summary.mde_network == summary.mde_network and gz_summary.ocsf == summary.ocsf
    raw = [p for p in gz_files if p.startswith("raw/")]
    assert raw and all(p.endswith(".gz") and gz_files[p][:2] == b"\x1f\x8b" for p in raw)
    assert all(gz_files[p][4:8] == b"\0\0\0\0" for p in raw)  # header mtime 0: reproducible
    for p in raw:
        assert gzip.decompress(gz_files[p]) == files[p.removesuffix(".gz")]
    again = Lake(str(tmp_path / "gz-again"))
    generate_lake(again, **SMALL, compress=True)
    assert _files(again) == gz_files  # gzip headers carry no wall-clock mtime


def test_late_share_lands_events_in_folders_more_than_a_day_later(tmp_path):
    def delays(late_share: float) -> list[timedelta]:
        lake = Lake(str(tmp_path / str(late_share)))
        summary = generate_lake(lake, START, 1, 4, 2000, users=6, late_share=late_share)
        out = []
        for obj in lake.list_files("raw/mde/insights-logs-advancedhunting-devicenetworkevents"):
            folder = parse_mde_hour(obj.path)
            for line in _lines(obj.path, lake.read_bytes(obj.path)):
                out.append(folder - _ts(json.loads(line)["properties"]["Timestamp"]))
        return out, summary

    late, summary = delays(0.05)
    n_late = sum(d > timedelta(hours=24) for d in late)
    assert 0 < n_late < len(late) * 0.15
    assert summary.late_events >= n_late
    on_time, summary = delays(0.0)
    assert max(on_time) < timedelta(hours=1) and summary.late_events == 0


def test_users_csv_lists_exactly_the_users_seen_in_events(small):
    _, summary, files = small
    assert [p for p in files if p.startswith("reference/")] == ["reference/users.csv"]
    rows = list(csv.DictReader(io.StringIO(files["reference/users.csv"].decode())))
    assert files["reference/users.csv"].decode().splitlines()[0] == \
        "upn,display_name,department,sam_account_name"
    assert len(rows) == summary.users
    assert {r["upn"] for r in rows} == _upns_in_events(files)
    for r in rows:
        assert r["upn"].endswith("@contoso.com") and r["display_name"] and r["department"]
        assert r["sam_account_name"] and r["sam_account_name"] == r["sam_account_name"].lower()


def _upns_in_events(files: dict[str, bytes]) -> set[str]:
    seen = set()
    for rel, data in files.items():
        if rel.startswith("raw/mde/insights-logs-advancedhunting-devicenetworkevents"):
            for line in _lines(rel, data):
                upn = json.loads(line)["properties"]["InitiatingProcessAccountUpn"]
                if upn:
                    seen.add(upn)
        elif rel.startswith("raw/ocsf/"):
            for line in _lines(rel, data):
                email = json.loads(line)["actor"]["user"].get("email_addr")
                if email:
                    seen.add(email)
    return seen


def test_every_directory_user_shows_up_even_in_a_sparse_world(tmp_path):
    """More users than machines can hold in shifts and barely more events than users."""
    lake = Lake(str(tmp_path))
    summary = generate_lake(lake, START, 1, 3, 40, users=30, ocsf_share=0.34)
    files = _files(lake)
    rows = list(csv.DictReader(io.StringIO(files["reference/users.csv"].decode())))
    assert summary.users == len(rows) == 30
    assert _upns_in_events(files) == {r["upn"] for r in rows}


def test_local_ips_agree_with_the_device_network_info_history(small):
    """Each network event's LocalIP is the device's IP as of DeviceNetworkInfo (DHCP history),
    and no private IP is held by two devices in the same hour."""
    _, _, files = small
    history: dict[str, list[tuple[str, str]]] = {}
    events = []
    for rel, data in files.items():
        table = _table_of(rel) if rel.startswith("raw/mde/") else None
        for line in _lines(rel, data) if table else ():
            p = json.loads(line)["properties"]
            if table == "devicenetworkinfo":
                ips = [a["IPAddress"] for a in json.loads(p["IPAddresses"])
                       if a["IPAddress"].startswith("10.")]
                history.setdefault(p["DeviceId"], []).append((p["Timestamp"], ips[0]))
            elif table == "devicenetworkevents" and p["LocalIP"] not in ("-", "0.0.0.0"):
                events.append(p)
    for v in history.values():
        v.sort()
    owners: dict[tuple[str, str], set[str]] = {}
    for p in events:
        v = history[p["DeviceId"]]
        i = bisect.bisect_right(v, (p["Timestamp"], "~")) - 1
        assert i >= 0 and v[i][1] == p["LocalIP"]
        owners.setdefault((p["LocalIP"], p["Timestamp"][:13]), set()).add(p["DeviceId"])
    assert events and all(len(s) == 1 for s in owners.values())
    assert any(len({ip for _, ip in v}) > 1 for v in history.values())  # leases do change


@pytest.mark.parametrize("kwargs", [dict(days=0), dict(machines=0), dict(events_per_day=-1),
                                    dict(ocsf_share=1.5), dict(late_share=-0.1)])
def test_rejects_bad_arguments(tmp_path, kwargs):
    args = dict(SMALL, **kwargs)
    with pytest.raises(ValueError):
        generate_lake(Lake(str(tmp_path)), **args)
