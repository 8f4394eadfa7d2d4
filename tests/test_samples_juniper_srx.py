"""The public Juniper SRX sample (../shared/samples/juniper_srx/test-flow.excerpt.log) through the
juniper_srx source.

21 RFC 5424 records: 7 RT_FLOW_SESSION_CLOSE (allowed, with byte totals), 3 RT_FLOW_SESSION_DENY
(one `_LS`: blocked, no bytes), 4 RT_FLOW_SESSION_CREATE (one `_LS`: skipped "session-create"),
7 APPTRACK_SESSION_* (skipped "apptrack": the same sessions again). Some APPTRACK lines carry
typographic quotes (`”st0.0”`). No line is rejected.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest

from etl import sources
from etl.sources.juniper_srx import SOURCE
from tests.builders import non_blank_line_numbers, read_with, sample_bytes

NAME = "test-flow.excerpt.log"


@pytest.fixture(scope="module")
def run(samples_dir):
    data = sample_bytes(samples_dir, "juniper_srx", NAME)
    return (data, *read_with(SOURCE, data))


def test_detected_and_every_line_accounted(run):
    data, parsed, classified = run
    assert sources.detect(data[:sources.SNIFF_BYTES]).best == "juniper_srx"
    assert parsed.rejects == []
    assert classified.rejected.num_rows == 0
    numbers = (classified.transactions.column("input_line").to_pylist()
               + classified.skipped.column("input_line").to_pylist())
    assert sorted(numbers) == non_blank_line_numbers(data)


def test_kinds_and_bytes_match_a_plain_reading(run):
    data, _, classified = run
    closes, denies, up, down, skipped = [], [], 0, 0, {}
    for number, line in enumerate(data.decode("utf-8").splitlines(), 1):
        msgid = line.split(" ")[5]
        if msgid.startswith("RT_FLOW_SESSION_CLOSE"):
            closes.append(number)
            up += int(re.search(r' bytes-from-client="(\d+)"', line).group(1))
            down += int(re.search(r' bytes-from-server="(\d+)"', line).group(1))
        elif msgid.startswith("RT_FLOW_SESSION_DENY"):
            denies.append(number)
        elif msgid.startswith("RT_FLOW_SESSION_CREATE"):
            skipped[number] = "session-create"
        elif msgid.startswith("APPTRACK_"):
            skipped[number] = "apptrack"
    tx = classified.transactions.to_pylist()
    assert sorted(r["input_line"] for r in tx if r["action"] == "allowed") == closes
    assert sorted(r["input_line"] for r in tx if r["action"] == "blocked") == denies
    assert (len(closes), len(denies)) == (7, 3)
    assert sum(r["bytes_up"] or 0 for r in tx) == up == 4928
    assert sum(r["bytes_down"] or 0 for r in tx) == down == 2446
    assert all(r["bytes_up"] is None and r["bytes_down"] is None for r in tx if r["action"] == "blocked")
    assert {r["input_line"]: r["reason"] for r in classified.skipped.to_pylist()} == skipped


def test_spot_checks(run):
    _, _, classified = run
    tx = {r["input_line"]: r for r in classified.transactions.to_pylist()}
    line8 = tx[8]  # RT_FLOW_SESSION_CLOSE, HTTP, source NAT
    assert line8["ts"] == datetime(2019, 4, 12, 14, 29, 6, 576000, tzinfo=timezone.utc)
    assert (line8["src_ip"], line8["dest_ip"], line8["dest_port"]) == ("10.3.255.203", "67.43.156.15", 80)
    assert (line8["bytes_up"], line8["bytes_down"], line8["account"]) == (337, 535, None)  # username N/A
    line2 = tx[2]  # DENY at +01:00
    assert line2["ts"] == datetime(2019, 11, 14, 10, 12, 46, 573000, tzinfo=timezone.utc)
    assert (line2["action"], line2["src_ip"], line2["dest_port"]) == ("blocked", "10.0.0.26", 161)
    assert tx[20]["action"] == "blocked"  # RT_FLOW_SESSION_DENY_LS
    assert all(r["dest_host"] is None and r["device_name"] is None for r in tx.values())
