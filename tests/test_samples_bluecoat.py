"""Blue Coat ProxySG against the real Elastic samples in ../shared/samples/bluecoat (skipped when
absent): W3C ELFF with #Fields, and the headerless bcreportermain_v1 layout.

Every line is accounted once, detection picks bluecoat (over generic w3c), and the byte totals
equal those computed here from the lines with a plain quote-aware split."""
from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest

from etl import sources
from etl.sources import bluecoat

ELFF = "test-proxy-main.log"
REPORTER = "test-proxy-bcreportermainv1.log"
_TOKEN = re.compile(r'"[^"]*"|\S+')


def _read(data: bytes):
    parsed = bluecoat.SOURCE.reader().parse(data)
    return parsed, bluecoat.SOURCE.classify(parsed.rows)


def _data_lines(data: bytes) -> list[list[str]]:
    return [_TOKEN.findall(line) for line in data.decode().splitlines() if line.strip() and not line.startswith("#")]


@pytest.fixture(scope="module")
def folder(samples_dir):
    path = samples_dir / "bluecoat"
    if not path.is_dir():
        pytest.skip("no bluecoat samples")
    return path


@pytest.mark.parametrize("name", [ELFF, REPORTER])
def test_detected_and_every_line_accounted(folder, name):
    data = (folder / name).read_bytes()
    detection = sources.detect(data[:sources.SNIFF_BYTES])
    assert detection.best == "bluecoat"
    assert detection.scores["bluecoat"] > detection.scores.get("w3c", 0)
    parsed, classified = _read(data)
    lines = [n for n, line in enumerate(data.split(b"\n"), 1) if line.strip()]
    assert parsed.rejects == []
    assert classified.rejected.num_rows == 0
    assert parsed.lines == len(lines) == classified.lines()
    numbers = sorted(classified.transactions.column("input_line").to_pylist()
                     + classified.skipped.column("input_line").to_pylist())
    assert numbers == lines


def test_elff_headers_skipped_and_bytes_match(folder):
    data = (folder / ELFF).read_bytes()
    _, classified = _read(data)
    assert classified.skipped.num_rows == 6 and set(classified.skipped.column("reason").to_pylist()) == {"header"}
    fields = _data_lines(data)  # #Fields: ... sc-bytes (7th) cs-bytes (8th) ...
    tx = classified.transactions
    assert tx.num_rows == len(fields) == 11
    assert sum(tx.column("bytes_down").to_pylist()) == sum(int(f[6]) for f in fields)
    assert sum(tx.column("bytes_up").to_pylist()) == sum(int(f[7]) for f in fields)
    assert max(len(f) for f in fields) == 27  # the line with extra trailing columns is still read


def test_elff_spot_checks(folder):
    _, classified = _read((folder / ELFF).read_bytes())
    rows = {r["input_line"]: r for r in classified.transactions.to_pylist()}
    first = rows[7]
    assert first["ts"] == datetime(2024, 3, 22, 16, 16, 1, tzinfo=timezone.utc)
    assert (first["account"], first["src_ip"], first["dest_host"], first["dest_port"]) == \
        ("aeinstein", "10.82.255.36", "pixel.tapad.com", 443)
    assert (first["bytes_down"], first["bytes_up"], first["action"]) == (1242, 969, "allowed")
    connect = rows[9]  # CONNECT tcp token.rubiconproject.com 443
    assert (connect["dest_host"], connect["dest_port"], connect["bytes_down"], connect["bytes_up"]) == \
        ("token.rubiconproject.com", 443, 39, 356)
    extra = rows[15]  # 3 extra trailing columns
    assert (extra["dest_host"], extra["bytes_down"], extra["bytes_up"]) == ("rules.quantcount.com", 4569, 546)
    assert set(r["action"] for r in rows.values()) == {"allowed"}  # every filter result is OBSERVED


def test_bcreportermain_bytes_and_spot_checks(folder):
    data = (folder / REPORTER).read_bytes()
    _, classified = _read(data)
    fields = _data_lines(data)  # ... s-ip (26th) sc-bytes (27th) cs-bytes (28th) ...
    tx = classified.transactions
    assert tx.num_rows == len(fields) == 5
    assert sum(tx.column("bytes_down").to_pylist()) == sum(int(f[26]) for f in fields)
    assert sum(tx.column("bytes_up").to_pylist()) == sum(int(f[27]) for f in fields)
    rows = {r["input_line"]: r for r in tx.to_pylist()}
    assert set(r["action"] for r in rows.values()) == {"blocked"}  # sc-filter-result DENIED on every line
    assert all(r["account"] is None for r in rows.values())
    second = rows[2]  # ... 401 TCP_DENIED OPTIONS - "https" tr6.snapchat.com 443 /p ...
    assert second["ts"] == datetime(2024, 11, 1, 14, 24, 28, tzinfo=timezone.utc)
    assert (second["src_ip"], second["dest_host"], second["dest_port"], second["bytes_down"], second["bytes_up"]) == \
        ("10.0.1.2", "tr6.snapchat.com", 443, 1297, 582)


def test_fields_kept_across_pieces():
    """A #Fields line in one piece governs the data lines of the next pieces of the same object."""
    head = b"#Software: SGOS 7.3\n#Fields: date time c-ip cs-host sc-bytes cs-bytes s-action sc-filter-result\n"
    tail = b"2024-05-02 08:00:01 10.0.0.1 www.box.com 100 200 TCP_MISS DENIED\n"
    reader = bluecoat.SOURCE.reader()
    first, second = reader.parse(head, 1), reader.parse(tail, 3)
    assert second.rejects == [] and first.rows.num_rows == 2
    tx = bluecoat.SOURCE.classify(second.rows).transactions.to_pylist()
    assert [(t["input_line"], t["dest_host"], t["bytes_down"], t["bytes_up"], t["action"]) for t in tx] == \
        [(3, "www.box.com", 100, 200, "blocked")]
    # a fresh reader (another object) has no #Fields yet
    fresh = bluecoat.SOURCE.reader().parse(tail, 1)
    assert [r[1] for r in fresh.rejects] == ["no #Fields header"]
