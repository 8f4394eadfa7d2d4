"""The public Cisco ASA sample (../shared/samples/cisco_asa/test-sample.log, UTF-8 with
`Speciäl Ö01`) through the cisco_asa source.

92 lines, many message ids. Transactions: the 302014/302016 teardowns (allowed, their one
`bytes` total in bytes_down), the denies (106023, 106100 denied, 106006, 106007, 106015, the
338008 Dynamic Filter drop) and the 304001/304002 URL records. Built connections are skipped as
"connection built", every other message as "asa:<msgid>". No line is rejected.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone

import pyarrow as pa
import pytest

import etl.sources.cisco_asa as asa
from etl import sources
from etl.sources.cisco_asa import SOURCE
from tests.builders import non_blank_line_numbers, read_with, sample_bytes

NAME = "test-sample.log"
ALLOWED = {"302014", "302016", "304001"}
BLOCKED = {"106001", "106006", "106007", "106015", "106023", "710003", "304002"}


@pytest.fixture(scope="module")
def run(samples_dir):
    data = sample_bytes(samples_dir, "cisco_asa", NAME)
    return (data, *read_with(SOURCE, data))


def test_detected_and_every_line_accounted(run):
    data, parsed, classified = run
    assert sources.detect(data[:sources.SNIFF_BYTES]).best == "cisco_asa"
    assert parsed.rejects == []
    assert classified.rejected.num_rows == 0
    numbers = (classified.transactions.column("input_line").to_pylist()
               + classified.skipped.column("input_line").to_pylist())
    assert sorted(numbers) == non_blank_line_numbers(data)


def test_kinds_and_bytes_match_a_plain_reading(run):
    data, _, classified = run
    allowed, blocked, skipped, total = [], [], {}, 0
    for number, line in enumerate(data.decode("utf-8").splitlines(), 1):
        msgid = re.search(r"%ASA-(?:\w+-)?\d-(\d{6})", line).group(1)
        text = line.split(msgid, 1)[1]
        if msgid in ("302014", "302016"):
            total += int(re.search(r" bytes (\d+)", text).group(1))
        if msgid in ALLOWED:
            allowed.append(number)
        elif msgid in BLOCKED or (msgid == "106100" and " denied " in text) or \
                (msgid == "338008" and "dropped" in text):
            blocked.append(number)
        else:
            skipped[number] = "connection built" if msgid in ("302013", "302015") else f"asa:{msgid}"
    tx = classified.transactions.to_pylist()
    assert sorted(r["input_line"] for r in tx if r["action"] == "allowed") == allowed
    assert sorted(r["input_line"] for r in tx if r["action"] == "blocked") == blocked
    assert {r["input_line"]: r["reason"] for r in classified.skipped.to_pylist()} == skipped
    assert sum(r["bytes_down"] or 0 for r in tx) == total == 10_444_345
    assert all(r["bytes_up"] is None for r in tx)  # the ASA does not split its total
    assert all(r["bytes_down"] is None for r in tx if r["input_line"] in blocked)


def test_spot_checks(run):
    _, _, classified = run
    tx = {r["input_line"]: r for r in classified.transactions.to_pylist()}
    skipped = {r["input_line"]: r for r in classified.skipped.to_pylist()}
    # 3: `Apr 15 2014 09:34:34 EDT:` -> UTC-4
    assert skipped[3]["ts"] == datetime(2014, 4, 15, 13, 34, 34, tzinfo=timezone.utc)
    # 12: outbound UDP teardown, outside listed first: the inside address is the client
    assert (tx[12]["src_ip"], tx[12]["dest_ip"], tx[12]["dest_port"], tx[12]["bytes_down"]) == \
        ("10.123.1.35", "192.168.2.222", 53, 140)
    # 83: VPN user on the outside side is the client; the trailing (user) is the account
    assert (tx[83]["src_ip"], tx[83]["dest_ip"], tx[83]["dest_port"]) == ("67.43.156.15", "1.128.3.4", 443)
    assert tx[83]["account"] == "domain\\USER001" and tx[83]["bytes_down"] == 9610
    assert tx[89]["account"] == "Speciäl Ö01"
    # URL records
    assert (tx[70]["dest_host"], tx[70]["src_ip"], tx[70]["action"]) == ("example.com", "10.5.111.32", "allowed")
    assert (tx[71]["dest_host"], tx[71]["action"]) == ("www.example.net", "blocked")
    assert (tx[73]["account"], tx[73]["dest_host"]) == ("USER001", "testingserver.com")
    # denies
    assert (tx[1]["src_ip"], tx[1]["dest_ip"], tx[1]["dest_port"], tx[1]["action"]) == \
        ("10.1.2.30", "192.168.0.8", 53, "blocked")
    assert tx[54]["ts"] == datetime(2012, 8, 15, 23, 30, 9, tzinfo=timezone.utc)  # no colon after the msgid


def test_times_without_a_year(monkeypatch):
    monkeypatch.setattr(asa, "_now", lambda: datetime(2026, 1, 2, 12, 0, tzinfo=timezone.utc))
    ts, reason = asa.header_time(pa.array(["Jan  2 09:00:00", "Dec 31 23:00:00", "Jan  4 00:00:00",
                                           "Feb 29 10:00:00", "Apr 15 2014 09:34:34"]),
                                 pa.array([None, None, None, None, "PDT"]))
    assert ts.to_pylist() == [datetime(2026, 1, 2, 9, tzinfo=timezone.utc),
                              datetime(2025, 12, 31, 23, tzinfo=timezone.utc),  # ahead of now: last year
                              datetime(2025, 1, 4, 0, tzinfo=timezone.utc),
                              None,                                              # no Feb 29 in 2026
                              datetime(2014, 4, 15, 16, 34, 34, tzinfo=timezone.utc)]
    assert reason.to_pylist() == [None, None, None, "ts: not a valid time", None]


def test_relayed_line_without_a_year(monkeypatch):
    monkeypatch.setattr(asa, "_now", lambda: datetime(2026, 3, 10, tzinfo=timezone.utc))
    line = (b"Mar  3 10:18:00 fw-hq %ASA-6-302014: Teardown TCP connection 5009 for outside:20.42.65.93/443 "
            b"to inside:10.0.5.36/60003 duration 0:00:01 bytes 77 TCP FINs\n")
    row = SOURCE.classify(SOURCE.reader().parse(line).rows).transactions.to_pylist()[0]
    assert row["ts"] == datetime(2026, 3, 3, 10, 18, tzinfo=timezone.utc)
    assert (row["src_ip"], row["dest_ip"], row["bytes_down"]) == ("10.0.5.36", "20.42.65.93", 77)
