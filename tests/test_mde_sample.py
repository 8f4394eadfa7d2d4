"""The real Defender for Endpoint sample (../shared/samples/mde/test-device.log) through a day run.

The sample is read in place (never copied into the repo) and written into a temporary lake as
one hourly export of the devicenetworkevents folder, arriving 2023-07-19 18:00 UTC.

What the 31 lines hold (read from the file, one JSON record per line):
- lines 1-13 and 31: other tables and other days (2022-11-07/08/09, 2024-05-08): 14 records that
  belong to other days' runs (`other_day`);
- lines 14-30: 2023-07-19, DeviceNetworkEvents except line 29 (DeviceProcessEvents):
  transactions (outbound connections):
    14 ConnectionFailed -> subdomain.domain.tld, upn email@domain
    18 HttpConnectionInspected, direction Out, host www.gstatic.com (JSON text in AdditionalFields)
    19 ConnectionSuccess -> url.com, upn email@domain
    20 SslConnectionInspected, direction Out, AdditionalFields an object with server_name
       janeslaptop1.corporatedomain and no RemoteUrl
    23 ConnectionRequest by root (macbookpro-123\\root), no host
    25 SshConnectionInspected Out, 27 SmtpConnectionInspected Out, 28 FtpConnectionInspected Out
    30 SmtpConnectionInspected Out with RemoteIP "-" and LocalIP "-"
  skipped: 15 DnsConnectionInspected, 16 NtlmAuthenticationInspected (direction In),
    17 NetworkSignatureInspected, 21 InboundConnectionAccepted (network service),
    22 IcmpConnectionInspected (direction In), 24 ConnectionFound,
    26 InboundInternetScanInspected, 29 category DeviceProcessEvents.
"""
from __future__ import annotations

import json
from datetime import date, datetime

import pyarrow.parquet as pq
import pytest

from etl.ingest import Settings
from etl.pipeline import run_day
from tests.builders import write_mde

DAY = date(2023, 7, 19)
ARRIVAL = datetime(2023, 7, 19, 18)
DEVICE = "22bb10ffe3104214b20fc7de339a2b053e915e5c"


@pytest.fixture(scope="module")
def sample_bytes(samples_dir) -> bytes:
    path = samples_dir / "mde" / "test-device.log"
    if not path.is_file():
        pytest.skip(f"{path} not present")
    return path.read_bytes()


@pytest.fixture(scope="module")
def sample_run(sample_bytes, tmp_path_factory):
    lake = tmp_path_factory.mktemp("mde-sample") / "lake"
    path = write_mde(lake, "devicenetworkevents", ARRIVAL, sample_bytes)
    run_day(str(lake), DAY, settings=Settings())
    manifest = json.loads((lake / "_manifests" / "reports" / f"date={DAY}.json").read_text())

    def table(name):
        return pq.read_table(lake / "reports" / name / f"date={DAY}" / "part-0.parquet").to_pylist()

    traffic = {row["input_line"]: row for row in table("traffic")}
    return {"lake": lake, "path": path.relative_to(lake).as_posix(), "manifest": manifest,
            "counts": manifest["counts"]["mde"], "traffic": traffic, "table": table}


def test_sample_has_the_lines_the_expectations_were_derived_from(sample_bytes):
    records = [json.loads(line) for line in sample_bytes.splitlines() if line.strip()]
    assert len(records) == 31
    on_day = [i for i, r in enumerate(records, 1) if r["properties"]["Timestamp"].startswith("2023-07-19")]
    assert on_day == list(range(14, 31))
    assert records[19]["properties"]["ActionType"] == "SslConnectionInspected"
    assert records[19]["properties"]["AdditionalFields"]["server_name"] == "janeslaptop1.corporatedomain"


def test_every_record_is_accounted_for(sample_run):
    c = sample_run["counts"]
    assert c["read"] == 31
    assert c["files"] == 1 and c["files_unreadable"] == 0
    assert c["quarantined"] == {}
    assert c["accepted"] == 9
    assert c["context"] == 0
    assert c["skipped"] == {
        "ConnectionFound": 1,
        "DnsConnectionInspected": 1,
        "IcmpConnectionInspected (inbound)": 1,
        "InboundConnectionAccepted": 1,
        "InboundInternetScanInspected": 1,
        "NetworkSignatureInspected": 1,
        "NtlmAuthenticationInspected (inbound)": 1,
        "category:DeviceProcessEvents": 1,
    }
    assert c["other_day"] == 14
    assert c["read"] == c["accepted"] + c["context"] + sum(c["skipped"].values()) \
        + sum(c["quarantined"].values()) + c["other_day"]
    assert c["reconciled"] is True


def test_other_days_are_late_and_noted_for_their_own_runs(sample_run):
    c = sample_run["counts"]
    # lines 1-4 -> 2022-11-07; 7, 31 -> 2022-11-08; 8-12 -> 2022-11-09; 5, 6, 13 -> 2024-05-08
    assert c["late"] == {"2022-11-07": 4, "2022-11-08": 2, "2022-11-09": 5, "2024-05-08": 3}
    assert sum(c["late"].values()) == c["other_day"]
    lake = sample_run["lake"]
    for day in c["late"]:
        notes = list((lake / "_ledger" / "strays" / f"date={day}").glob("*.json"))
        assert len(notes) == 1
        assert json.loads(notes[0].read_text())["path"] == sample_run["path"]


def test_the_transactions(sample_run):
    traffic = sample_run["traffic"]
    assert sorted(traffic) == [14, 18, 19, 20, 23, 25, 27, 28, 30]
    assert all(row["device_id"] == DEVICE for row in traffic.values())
    assert all(row["source"] == "mde" for row in traffic.values())
    assert all(row["input_path"] == sample_run["path"] for row in traffic.values())
    assert {n: row["action"] for n, row in traffic.items() if row["action"] != "allowed"} == {14: "failed"}
    hosts = {n: row["dest_host"] for n, row in traffic.items()}
    assert hosts == {14: "subdomain.domain.tld", 18: "www.gstatic.com", 19: "url.com",
                     20: "janeslaptop1.corporatedomain", 23: None, 25: None, 27: None, 28: None, 30: None}
    assert {n: row["dest_port"] for n, row in traffic.items()} == {
        14: 80, 18: 8080, 19: 8080, 20: 8531, 23: 443, 25: 22, 27: 25, 28: 21, 30: 25}
    # MDE carries no byte counts: null, never 0
    assert all(row["bytes_up"] is None and row["bytes_down"] is None for row in traffic.values())


def test_object_additional_fields_give_the_host(sample_run):
    """Line 20: SslConnectionInspected, direction Out, AdditionalFields a JSON object (not text),
    no RemoteUrl: it is a transaction and its host comes from server_name."""
    row = sample_run["traffic"][20]
    assert row["dest_host"] == "janeslaptop1.corporatedomain"
    assert row["dest_ip"] == "175.16.199.0"
    assert row["action"] == "allowed"


def test_dash_ips_become_null(sample_run):
    row = sample_run["traffic"][30]
    assert row["src_ip"] is None and row["dest_ip"] is None
    others = [r for n, r in sample_run["traffic"].items() if n != 30]
    assert {r["src_ip"] for r in others} == {"89.160.20.112"}
    for table in ("traffic", "machine_ips", "ip_addresses"):
        for row in sample_run["table"](table):
            assert "-" not in {row.get("src_ip"), row.get("ip"), row.get("dest_ip")}


def test_system_accounts_are_not_users(sample_run):
    traffic = sample_run["traffic"]
    assert traffic[23]["user"] is None  # macbookpro-123\root
    users = {row["user"] for row in traffic.values()} - {None}
    assert users == {"email@domain"}
    report_users = {row["user"] for row in sample_run["table"]("users")}
    assert report_users == {"email@domain"}
    for row in sample_run["table"]("machine_users"):
        assert row["user"] == "email@domain"


def test_upn_is_the_user_of_the_connection_to_url_com(sample_run):
    row = sample_run["traffic"][19]
    assert row["dest_host"] == "url.com"
    assert row["user"] == "email@domain"
    assert sample_run["traffic"][14]["user"] == "email@domain"
