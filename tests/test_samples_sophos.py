"""The real Sophos XG sample (../shared/samples/sophos/test-sophos-18-5-content-filtering-http.log,
Elastic's pipeline test input) through detect -> reader -> classify, read in place.

Its 8 lines (no trailing newline) are all Content Filtering / HTTP, timezone="GMT": subtype Allowed
on lines 1-4 and 8, Denied on 5-6, Warned on 7. Edge cases: `domain=www. google.ca` (line 8),
`exceptions=` empty and unquoted (every line), values with a leading space (`reason=" cloud clean"`).
"""
from __future__ import annotations

import re
from datetime import datetime, timezone

import pyarrow as pa
import pytest

from etl import sources
from etl.sources.framing.kv import kv_values
from tests.builders import sample_bytes

NAME = "sophos"


@pytest.fixture(scope="module")
def sample(samples_dir) -> bytes:
    return sample_bytes(samples_dir, "sophos", "test-sophos-18-5-content-filtering-http.log")


@pytest.fixture(scope="module")
def result(sample):
    source = sources.get(NAME)
    parsed = source.reader().parse(sample)
    return parsed, source.classify(parsed.rows)


def test_detected(sample):
    assert sources.detect(sample[:sources.SNIFF_BYTES]).best == NAME


def test_every_line_is_a_transaction(sample, result):
    parsed, classified = result
    assert parsed.lines == 8 and parsed.rejects == []
    assert classified.rejected.num_rows == 0 and classified.skipped.num_rows == 0
    assert classified.transactions.column("input_line").to_pylist() == list(range(1, 9))


def test_bytes_match_an_independent_count(sample, result):
    _, classified = result
    lines = sample.decode("utf-8").split("\n")
    sent = [int(re.search(r"\ssent_bytes=(\d+)", line).group(1)) for line in lines]
    recv = [int(re.search(r"\srecv_bytes=(\d+)", line).group(1)) for line in lines]
    tx = classified.transactions
    assert tx.column("bytes_up").to_pylist() == sent
    assert tx.column("bytes_down").to_pylist() == recv
    assert sum(recv) == 2468282 and sum(sent) == 0


def test_spot_checks(result):
    _, classified = result
    tx = {row["input_line"]: row for row in classified.transactions.to_pylist()}
    assert [tx[n]["action"] for n in range(1, 9)] == ["allowed"] * 4 + ["blocked"] * 3 + ["allowed"]
    assert tx[1]["ts"] == datetime(2016, 12, 2, 18, 27, 3, tzinfo=timezone.utc)  # timezone="GMT"
    assert (tx[1]["account"], tx[1]["src_ip"], tx[1]["dest_ip"], tx[1]["dest_port"]) == (
        "rich", "192.168.73.220", "67.43.156.13", 80)
    assert tx[3]["dest_host"] == "the.earth.li" and tx[3]["dest_port"] == 443
    assert tx[6]["dest_host"] == "www.vancity.com" and tx[6]["bytes_down"] == 0
    assert tx[8]["dest_host"] == "www.google.ca"  # url host; domain=www. google.ca agrees once unsplit


def test_unquoted_values_run_to_the_next_key(result):
    parsed, _ = result
    rows = parsed.rows.to_pylist()
    assert rows[7]["domain"] == "www. google.ca"
    values = kv_values(pa.array(['exceptions= activityname="" reason=" cloud clean" ether_type=Unknown (0x0000) x=1']),
                       ["exceptions", "activityname", "reason", "ether_type", "x"], unquoted="to_next_key")
    assert {k: v.to_pylist()[0] for k, v in values.items()} == {
        "exceptions": "", "activityname": "", "reason": " cloud clean", "ether_type": "Unknown (0x0000)", "x": "1"}
