"""Forcepoint Web Security against the Elastic samples in ../shared/samples/forcepoint_web.

The export has no byte counts: every transaction has null bytes. Fields are checked against
a plain csv-module reading of each line and against Elastic's pipeline test input."""
from __future__ import annotations

import csv
import json
from datetime import datetime, timezone

import pytest

from etl import sources
from etl.sources import forcepoint

FILES = ["forcepoint-web-test.log", "full-sample.excerpt.log"]


@pytest.fixture(scope="module")
def fp_dir(samples_dir):
    folder = samples_dir / "forcepoint_web"
    if not folder.is_dir():
        pytest.skip("no forcepoint_web samples")
    return folder


def _read(path):
    data = path.read_bytes()
    parsed = forcepoint.SOURCE.reader().parse(data)
    return data, parsed, forcepoint.SOURCE.classify(parsed.rows)


@pytest.mark.parametrize("name", FILES)
def test_every_line_is_a_transaction(fp_dir, name):
    data, parsed, classified = _read(fp_dir / name)
    assert sources.detect(data[:sources.SNIFF_BYTES]).best == "forcepoint"
    lines = [n for n, line in enumerate(data.split(b"\n"), 1) if line.strip()]
    assert parsed.rejects == [] and classified.rejected.num_rows == 0 and classified.skipped.num_rows == 0
    assert classified.transactions.column("input_line").to_pylist() == lines
    rows = [r for r in csv.reader(data.decode().splitlines()) if r]
    assert all(len(r) == 17 for r in rows)
    tx = classified.transactions.to_pylist()
    for row, got in zip(rows, tx):
        assert got["bytes_up"] is None and got["bytes_down"] is None
        assert got["action"] == {"Allowed": "allowed", "Blocked": "blocked"}[row[5]]
        assert got["account"] == row[2]
        assert got["dest_ip"] == row[10]
        assert got["src_ip"] == (row[11] if row[11] != "Not available" else row[9])
        day, month, year = row[0].split("/")
        assert got["ts"] == datetime.fromisoformat(f"{year}-{month}-{day}T{row[1]}+00:00")


def test_spot_checks(fp_dir):
    _, _, classified = _read(fp_dir / "full-sample.excerpt.log")
    tx = {r["input_line"]: r for r in classified.transactions.to_pylist()}
    assert tx[1]["dest_host"] == "fundingchoicesmessages.google.com" and tx[1]["dest_port"] == 443
    assert tx[1]["account"] == "dom.tmw@12345-54321-nosuchdomain.autoregistration.proxy"
    assert tx[1]["device_name"] == "u123456" and tx[1]["src_ip"] == "10.0.0.133"
    assert tx[8]["dest_host"] == "polka.typekit.com" and tx[8]["dest_port"] == 443  # CONNECT host:443/
    assert tx[8]["src_ip"] == "203.0.113.227"  # source_ip "Not available": the connection IP
    assert tx[9]["dest_host"] == "www.msftconnecttest.com" and tx[9]["dest_port"] == 80
    assert tx[5]["ts"] == datetime(2022, 12, 16, 7, 6, 26, tzinfo=timezone.utc)


def test_agrees_with_elastic_pipeline_input(fp_dir):
    """test-forcepoint-web.json holds a message and Elastic's names for its fields."""
    event = json.loads((fp_dir / "test-forcepoint-web.json").read_text())["events"][0]
    message, fields = event["message"].encode(), event["forcepoint_web"]
    parsed = forcepoint.SOURCE.reader().parse(message)
    assert parsed.rejects == []
    raw = parsed.rows.to_pylist()[0]
    for name, value in fields.items():
        assert raw[name] == value, name
    [tx] = forcepoint.SOURCE.classify(parsed.rows).transactions.to_pylist()
    assert tx["dest_host"] == "aom-au.nearmap.com" and tx["dest_ip"] == fields["destination_ip"]
    assert tx["src_ip"] == fields["connection_ip"] and tx["action"] == "allowed"
