"""Squid against the real Elastic sample in ../shared/samples/squid (skipped when absent), plus the
agreement of the reader's two paths (pyarrow CSV fast path and per-layout regexes).

Every line is accounted once, detection picks squid, and the bytes_down total equals the sum of
the native `bytes` column (field 5) computed here with str.split()."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from etl import sources
from etl.sources import squid
from etl.sources.framing.text import TextReader

NAME = "access1.log"
GOLDEN = sorted((Path(squid.__file__).parent / "golden").glob("*.log"))


def _read(data: bytes):
    parsed = squid.SOURCE.reader().parse(data)
    return parsed, squid.SOURCE.classify(parsed.rows)


@pytest.fixture(scope="module")
def sample(samples_dir) -> bytes:
    path = samples_dir / "squid" / NAME
    if not path.is_file():
        pytest.skip("no squid sample")
    return path.read_bytes()


def test_detected_and_every_line_accounted(sample):
    assert sources.detect(sample[:sources.SNIFF_BYTES]).best == "squid"
    parsed, classified = _read(sample)
    lines = [n for n, line in enumerate(sample.split(b"\n"), 1) if line.strip()]
    assert parsed.rejects == []
    assert classified.rejected.num_rows == 0 and classified.skipped.num_rows == 0
    assert parsed.lines == len(lines) == classified.lines() == 100
    assert classified.transactions.column("input_line").to_pylist() == lines


def test_bytes_match_the_fields(sample):
    _, classified = _read(sample)
    fields = [line.split() for line in sample.decode().splitlines() if line.strip()]
    tx = classified.transactions
    assert sum(tx.column("bytes_down").to_pylist()) == sum(int(f[4]) for f in fields)
    assert tx.column("bytes_up").null_count == tx.num_rows  # squid logs no request size
    denied = sum(1 for f in fields if f[3].startswith("TCP_DENIED"))
    assert tx.column("action").to_pylist().count("blocked") == denied == 15


def test_spot_checks(sample):
    _, classified = _read(sample)
    rows = {r["input_line"]: r for r in classified.transactions.to_pylist()}
    first = rows[1]  # 1157689312.049 5006 10.105.21.199 TCP_MISS/200 19763 CONNECT login.yahoo.com:443 badeyek DIRECT/209.73.177.115 -
    assert first["ts"] == datetime(2006, 9, 8, 4, 21, 52, 49000, tzinfo=timezone.utc)
    assert (first["account"], first["src_ip"], first["dest_host"], first["dest_port"], first["dest_ip"]) == \
        ("badeyek", "10.105.21.199", "login.yahoo.com", 443, "209.73.177.115")
    assert (first["bytes_down"], first["action"]) == (19763, "allowed")
    second = rows[2]  # GET http://www.goonernews.com/
    assert (second["dest_host"], second["dest_port"], second["bytes_down"]) == ("www.goonernews.com", 80, 10182)
    hit = rows[4]  # TCP_HIT/200 ... NONE/- : no server contacted, no dest_ip
    assert (hit["dest_host"], hit["dest_ip"], hit["action"]) == ("www.goonernews.com", None, "allowed")
    denied = rows[22]  # 1157689337.481 4 10.105.47.218 TCP_DENIED/407 1661 GET http://hi5.com/ - NONE/- text/html
    assert (denied["account"], denied["src_ip"], denied["dest_host"], denied["action"], denied["bytes_down"]) == \
        (None, "10.105.47.218", "hi5.com", "blocked", 1661)


def _both_paths(data: bytes):
    fast = squid.SOURCE.reader().parse(data)
    slow = TextReader.parse(squid.SOURCE.reader(), data)  # the regex reader only
    return fast, slow


@pytest.mark.parametrize("case", GOLDEN, ids=[c.stem for c in GOLDEN])
def test_fast_and_regex_paths_agree_on_golden(case):
    fast, slow = _both_paths(case.read_bytes())
    assert fast.lines == slow.lines
    assert fast.rejects == slow.rejects
    assert fast.rows.to_pylist() == slow.rows.to_pylist()


def test_fast_and_regex_paths_agree_on_sample(sample):
    fast, slow = _both_paths(sample)
    assert fast.rows.equals(slow.rows) and fast.rejects == slow.rejects == []


def test_fast_path_keeps_line_numbers_of_later_pieces():
    data = (b"1700000000.000    150 10.0.0.5 TCP_MISS/200 5120 GET http://a.example.com/ alice DIRECT/192.0.2.1 -\n"
            b"\n"
            b"1700000001.000 broken\n"
            b"1700000002.000      1 10.0.0.6 TCP_DENIED/407 10 GET http://b.example.com/ - HIER_NONE/- text/html\n")
    parsed = squid.SOURCE.reader().parse(data, first_line=101)
    assert parsed.rows.column("input_line").to_pylist() == [101, 104]
    assert [r[:2] for r in parsed.rejects] == [(103, squid.NOT_SQUID)]
    assert parsed.lines == 3
