"""The real FortiGate sample (../shared/samples/fortigate/test-fortinet.log, Elastic's pipeline test
input) through detect -> reader -> classify, read in place.

What its 53 lines hold (read from the file; no trailing newline, a U+FEFF at the start of line 44):
- transactions: traffic forward/local lines 2, 26, 27, 28, 29, 30, 44, 46 (close/accept: allowed;
  deny/ip-conn: blocked) and the blocked webfilter line 1;
- rejected: 47 and 48 (`date= desc=... msg=...`: no type, no time);
- skipped: everything else (event:*, utm:app-ctrl/dns/ssl/voip, the allowed webfilter line 3,
  traffic line 25 with action="dns").
"""
from __future__ import annotations

import re
from collections import Counter
from datetime import datetime, timezone

import pytest

from etl import sources

NAME = "fortigate"
TRANSACTION_LINES = [1, 2, 26, 27, 28, 29, 30, 44, 46]
EXPECTED_REJECTS = {47: "type: missing", 48: "type: missing"}


@pytest.fixture(scope="module")
def sample(samples_dir) -> bytes:
    path = samples_dir / "fortigate" / "test-fortinet.log"
    if not path.is_file():
        pytest.skip(f"{path} not present")
    return path.read_bytes()


@pytest.fixture(scope="module")
def result(sample):
    source = sources.get(NAME)
    parsed = source.reader().parse(sample)
    return parsed, source.classify(parsed.rows)


def _value(line: str, key: str) -> str | None:
    """The value of `key` outside quotes, the plain-Python way (no Arrow)."""
    for match in re.finditer(r'(?:^|\s|>)([\w-]+)=("[^"]*"|\S*)', line):
        if match.group(1) == key:
            return match.group(2).strip('"')
    return None


def _independent_transactions(sample: bytes) -> dict[int, tuple[int | None, int | None]]:
    out = {}
    for number, line in enumerate(sample.decode("utf-8").split("\n"), 1):
        kind, subtype, action = _value(line, "type"), _value(line, "subtype"), _value(line, "action")
        traffic = kind == "traffic" and subtype in ("forward", "local") and action in (
            "accept", "close", "timeout", "server-rst", "client-rst", "deny", "block", "ip-conn")
        webfilter = kind == "utm" and subtype == "webfilter" and action == "blocked"
        if traffic or webfilter:
            sent, rcvd = _value(line, "sentbyte"), _value(line, "rcvdbyte")
            out[number] = (int(sent) if sent else None, int(rcvd) if rcvd else None)
    return out


def test_the_sample_holds_what_the_expectations_were_derived_from(sample):
    lines = sample.split(b"\n")
    assert len(lines) == 53 and not sample.endswith(b"\n")
    assert lines[43].startswith(b"\xef\xbb\xbf<189>date=2020-04-23 time=01:16:08")


def test_detected(sample):
    assert sources.detect(sample[:sources.SNIFF_BYTES]).best == NAME


def test_every_line_accounted_once(sample, result):
    parsed, classified = result
    assert parsed.lines == 53
    assert parsed.rejects == []
    assert dict(zip(classified.rejected.column("input_line").to_pylist(),
                    classified.rejected.column("reason").to_pylist())) == EXPECTED_REJECTS
    numbers = (classified.rejected.column("input_line").to_pylist()
               + classified.transactions.column("input_line").to_pylist()
               + classified.skipped.column("input_line").to_pylist())
    assert sorted(numbers) == list(range(1, 54))


def test_transactions_and_bytes_match_an_independent_count(sample, result):
    _, classified = result
    expected = _independent_transactions(sample)
    tx = classified.transactions.to_pylist()
    assert [row["input_line"] for row in tx] == TRANSACTION_LINES == sorted(expected)
    assert sum(row["bytes_up"] or 0 for row in tx) == sum(up or 0 for up, _ in expected.values()) == 443739
    assert sum(row["bytes_down"] or 0 for row in tx) == sum(down or 0 for _, down in expected.values()) == 144260
    assert {row["input_line"]: (row["bytes_up"], row["bytes_down"]) for row in tx} == expected


def test_skip_reasons(result):
    _, classified = result
    assert Counter(classified.skipped.column("reason").to_pylist()) == {
        "event:connector": 10, "event:system": 8, "event:vpn": 6, "utm:app-ctrl": 5, "utm:dns": 4,
        "event:user": 3, "utm:webfilter": 1, "utm:ssl": 1, "event:endpoint": 1, "traffic:dns": 1,
        "utm:voip": 1, "event:security-rating": 1}


def test_spot_checks(result):
    _, classified = result
    tx = {row["input_line"]: row for row in classified.transactions.to_pylist()}
    utc = timezone.utc
    # webfilter blocked, 12:17:48 at tz -0500
    assert tx[1]["ts"] == datetime(2020, 4, 23, 17, 17, 48, tzinfo=utc)
    assert (tx[1]["account"], tx[1]["src_ip"], tx[1]["dest_host"], tx[1]["action"]) == (
        "elasticuser", "192.168.2.1", "elastic.co", "blocked")
    assert (tx[1]["bytes_up"], tx[1]["bytes_down"], tx[1]["dest_port"]) == (1152, 1130, 443)
    # traffic deny without tz: UTC
    assert tx[2]["ts"] == datetime(2020, 4, 23, 1, 16, 8, tzinfo=utc) and tx[2]["action"] == "blocked"
    # the line behind the byte-order mark reads like its twin on line 2
    assert {k: v for k, v in tx[44].items() if k != "input_line"} == {k: v for k, v in tx[2].items() if k != "input_line"}
    assert (tx[30]["account"], tx[30]["bytes_up"], tx[30]["bytes_down"], tx[30]["action"]) == (
        "elasticuser", 923, 77654, "allowed")
    assert tx[29]["action"] == "blocked" and tx[29]["bytes_up"] is None  # ip-conn, no byte counts
    # srcname -> device, unauthuser -> account, tz +0200
    assert (tx[46]["device_name"], tx[46]["account"], tx[46]["ts"]) == (
        "hostname-for-pc", "USER-NAME", datetime(2023, 5, 2, 6, 31, 47, tzinfo=utc))
    skipped = {row["input_line"]: row for row in classified.skipped.to_pylist()}
    # FortiOS admin event with no date/time: eventtime in ns
    assert skipped[52]["ts"] == datetime(2023, 12, 11, 1, 22, 32, 722386, tzinfo=utc)
    # FortiManager-style line: date/time with tz +0200
    assert skipped[50]["reason"] == "event:system"
    assert skipped[50]["ts"] == datetime(2023, 12, 13, 5, 56, 14, tzinfo=utc)
