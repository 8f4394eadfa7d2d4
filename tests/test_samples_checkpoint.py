"""The public Check Point samples (../shared/samples/checkpoint/) through the checkpoint source.

test-checkpoint.log: 21 `[key:"value"; ...]` records, 14 firewall connections (13 Accept,
line 17 Drop) and 7 system / update events (no src, no dst). test-r81x.excerpt.log: line 1 a
"Log Update" (byte counts of an earlier connection, no addresses: skipped), lines 2-3 the
`[Fields@1.3.6.1.4.1.2620 ...]` layout with the `--5:00` offset and no `action` field: rejected
("action: missing"), since allowed and blocked cannot be told apart.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone

import pyarrow as pa
import pytest

from etl import sources
from etl.sources.checkpoint import SOURCE, syslog_time
from tests.builders import non_blank_line_numbers, read_with, sample_bytes

FILES = ["test-checkpoint.log", "test-r81x.excerpt.log"]
EXPECTED_REJECTS = {
    "test-checkpoint.log": {},
    "test-r81x.excerpt.log": {2: "action: missing", 3: "action: missing"},
}


def _run(samples_dir, name):
    data = sample_bytes(samples_dir, "checkpoint", name)
    return (data, *read_with(SOURCE, data))


def _value(line: str, key: str):
    """The value of `key` in either layout, by plain Python (independent of the source)."""
    for pattern in (rf'[\[;] ?{key}:"([^"]*)"', rf'[ \[]{key}="([^"]*)"'):
        m = re.search(pattern, line)
        if m:
            return m.group(1)
    return None


@pytest.mark.parametrize("name", FILES)
def test_detected_and_every_line_accounted(samples_dir, name):
    data, parsed, classified = _run(samples_dir, name)
    assert sources.detect(data[:sources.SNIFF_BYTES]).best == "checkpoint"
    assert parsed.rejects == []
    assert dict(zip(classified.rejected.column("input_line").to_pylist(),
                    classified.rejected.column("reason").to_pylist())) == EXPECTED_REJECTS[name]
    numbers = (classified.rejected.column("input_line").to_pylist()
               + classified.transactions.column("input_line").to_pylist()
               + classified.skipped.column("input_line").to_pylist())
    lines = non_blank_line_numbers(data)
    assert sorted(numbers) == lines


@pytest.mark.parametrize("name", FILES)
def test_transactions_and_bytes_match_a_plain_reading(samples_dir, name):
    data, _, classified = _run(samples_dir, name)
    want_lines, up, down = [], 0, 0
    for number, line in enumerate(data.decode("utf-8").splitlines(), 1):
        product = _value(line, "product") or _value(line, "ProductName")
        if product == "Log Update" or not _value(line, "src") or not _value(line, "dst"):
            continue
        if _value(line, "action") not in ("Accept", "Drop", "Reject", "Block"):
            continue
        want_lines.append(number)
        up += int(_value(line, "client_outbound_bytes") or 0)
        down += int(_value(line, "client_inbound_bytes") or 0)
    tx = classified.transactions.to_pylist()
    assert [r["input_line"] for r in tx] == want_lines
    assert sum(r["bytes_up"] or 0 for r in tx) == up
    assert sum(r["bytes_down"] or 0 for r in tx) == down


def test_spot_checks(samples_dir):
    _, _, classified = _run(samples_dir, "test-checkpoint.log")
    tx = {r["input_line"]: r for r in classified.transactions.to_pylist()}
    assert len(tx) == 14
    assert tx[4]["ts"] == datetime(2020, 3, 29, 13, 19, 22, tzinfo=timezone.utc)
    assert (tx[4]["src_ip"], tx[4]["dest_ip"], tx[4]["dest_port"], tx[4]["action"]) == \
        ("192.168.1.100", "194.29.39.10", 443, "allowed")
    assert tx[17]["action"] == "blocked" and tx[17]["dest_ip"] == "2.21.41.118"
    assert all(r["bytes_up"] is None and r["bytes_down"] is None for r in tx.values())  # no counts logged
    skipped = {r["input_line"]: r["reason"] for r in classified.skipped.to_pylist()}
    assert skipped[1] == "event:System Monitor" and skipped[14] == "event:Application Control"

    _, _, classified = _run(samples_dir, "test-r81x.excerpt.log")
    assert classified.skipped.to_pylist()[0]["reason"] == "log-update"
    rejected = {r["input_line"]: r["ts"] for r in classified.rejected.to_pylist()}
    assert rejected[2] == datetime(2023, 1, 13, 15, 10, 16, tzinfo=timezone.utc)  # 10:10:16--5:00


def test_user_and_machine_fields_of_the_fields_layout():
    """The r81x lines with an action added: user fields map as documented."""
    line = ('<85>1 2023-01-13T12:10:16--5:00 172.16.2.9 CP-GW - Log [Fields@1.3.6.1.4.1.2620 action="Accept" '
            'src="81.2.69.192" dst="172.28.11.213" proto="6" user="alice" src_user_name="bob" '
            'src_machine_name="zen" dst_machine_name="orac" svc="443" sport_svc="56530" ]\n')
    parsed = SOURCE.reader().parse(line.encode())
    row = SOURCE.classify(parsed.rows).transactions.to_pylist()[0]
    assert (row["account"], row["device_name"], row["dest_host"], row["dest_port"]) == ("bob", "zen", "orac", 443)
    assert row["ts"] == datetime(2023, 1, 13, 17, 10, 16, tzinfo=timezone.utc)


def test_odd_offsets():
    got = syslog_time(pa.array(["2023-01-13T10:10:16--5:00", "2023-01-13T10:10:16+5:30", "2023-01-13T10:10:16Z",
                                "2023-01-13T10:10:16--25:00", "2023-01-13 nonsense"])).to_pylist()
    assert got[:3] == [datetime(2023, 1, 13, 15, 10, 16, tzinfo=timezone.utc),
                       datetime(2023, 1, 13, 4, 40, 16, tzinfo=timezone.utc),
                       datetime(2023, 1, 13, 10, 10, 16, tzinfo=timezone.utc)]
    assert got[3:] == [None, None]
