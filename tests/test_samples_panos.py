"""PAN-OS against the real (sanitised) Elastic samples in ../shared/samples/panos (skipped when absent).

Every line is accounted once, detection picks panos, and the byte totals equal those computed
here with the csv module from the PAN-OS field positions (bytes_sent = 32, bytes_received = 33)."""
from __future__ import annotations

import csv
import json
from datetime import datetime, timezone

import pytest

from etl import sources
from etl.sources import panos

TRAFFIC = "test-panw-panos-traffic-sample.excerpt.log"
THREAT = "test-panw-panos-threat-url-no-xff-sample.log"


def _read(path):
    data = path.read_bytes()
    parsed = panos.SOURCE.reader().parse(data)
    return data, parsed, panos.SOURCE.classify(parsed.rows)


def _records(data: bytes) -> list[list[str]]:
    """Each line's CSV fields, the syslog header left in field 0 (it holds no comma)."""
    return [row for row in csv.reader(data.decode().splitlines()) if row]


def _by_line(table) -> dict[int, dict]:
    return {row["input_line"]: row for row in table.to_pylist()}


@pytest.fixture(scope="module")
def panos_dir(samples_dir):
    folder = samples_dir / "panos"
    if not folder.is_dir():
        pytest.skip("no panos samples")
    return folder


@pytest.mark.parametrize("name", [TRAFFIC, THREAT])
def test_detected_and_every_line_accounted(panos_dir, name):
    data, parsed, classified = _read(panos_dir / name)
    assert sources.detect(data[:sources.SNIFF_BYTES]).best == "panos"
    lines = [n for n, line in enumerate(data.split(b"\n"), 1) if line.strip()]
    assert parsed.rejects == []
    assert classified.rejected.num_rows == 0
    assert parsed.lines == len(lines) == classified.lines()
    numbers = sorted(classified.transactions.column("input_line").to_pylist()
                     + classified.skipped.column("input_line").to_pylist())
    assert numbers == lines


def test_traffic_bytes_match_the_fields(panos_dir):
    data, _, classified = _read(panos_dir / TRAFFIC)
    records = _records(data)
    counted = [r for r in records if r[3] == "TRAFFIC" and r[4] in ("end", "drop", "deny")]
    for r in records:  # the sample's own invariant: bytes = bytes_sent + bytes_received
        assert int(r[31]) == int(r[32]) + int(r[33])
    tx = classified.transactions
    assert tx.num_rows == len(counted)
    assert sum(tx.column("bytes_up").to_pylist()) == sum(int(r[32]) for r in counted)
    assert sum(tx.column("bytes_down").to_pylist()) == sum(int(r[33]) for r in counted)
    # start, the empty subtype and "test" are skipped under their names
    reasons = sorted(classified.skipped.column("reason").to_pylist())
    assert reasons == sorted(f"traffic:{r[4] or '(none)'}" for r in records if r not in counted)


def test_traffic_spot_checks(panos_dir):
    _, _, classified = _read(panos_dir / TRAFFIC)
    tx = _by_line(classified.transactions)
    first = tx[1]
    assert first["ts"] == datetime(2018, 11, 30, 16, 9, 7, tzinfo=timezone.utc)
    assert (first["src_ip"], first["dest_ip"], first["dest_port"]) == ("192.168.15.207", "175.16.199.1", 443)
    assert (first["bytes_up"], first["bytes_down"], first["action"]) == (1758, 5976, "allowed")
    assert first["account"] is None and first["dest_host"] is None  # srcuser is empty; TRAFFIC names no host
    assert tx[2]["dest_port"] is None  # ping: port 0
    assert (tx[24]["action"], tx[24]["bytes_up"], tx[24]["bytes_down"]) == ("blocked", 624, 0)  # drop
    assert tx[25]["action"] == "blocked"  # deny
    skipped = _by_line(classified.skipped)
    assert skipped[23]["reason"] == "traffic:start"
    assert skipped[26]["reason"] == "traffic:(none)"
    assert skipped[27]["reason"] == "traffic:test"


def test_threat_url_agrees_with_elastic(panos_dir):
    _, _, classified = _read(panos_dir / THREAT)
    expected = json.loads((panos_dir / (THREAT + "-expected.json")).read_text())["expected"][0]
    [row] = classified.transactions.to_pylist()
    assert row["dest_host"] == expected["destination"]["domain"] == expected["url"]["domain"]
    assert row["src_ip"] == expected["source"]["ip"]
    assert row["dest_ip"] == expected["destination"]["ip"]
    assert row["dest_port"] == expected["destination"]["port"]
    assert row["action"] == "allowed" and expected["event"]["type"] == ["allowed"]  # action alert
    assert row["bytes_up"] is None and row["bytes_down"] is None
    # Elastic was configured with +09:30; the wall-clock time is the same, we read it as UTC
    assert row["ts"].strftime("%Y-%m-%dT%H:%M:%S") == expected["@timestamp"][:19]
