"""The real CEF sample (../shared/samples/cef/test-cef.log, Elastic's synthetic pipeline test input)
through detect -> reader -> classify, read in place, and the CEF splitter on hand-made lines.

The sample's 4 lines carry no time at all (no rt, end, start, nor a syslog header) and no in/out
byte counts. Lines 1, 2 and 4 name a destination (dst), so they would be transactions, and are
rejected "ts: missing"; line 3 (`spriv=user dpriv=root`) names none and is skipped. Line 4 ends
with trailing spaces, on purpose.
"""
from __future__ import annotations

import re

import pyarrow as pa
import pytest

from etl import sources
from etl.sources.framing.kv import cef_values, split_cef
from tests.builders import sample_bytes

NAME = "cef"
EXPECTED_REJECTS = {1: "ts: missing", 2: "ts: missing", 4: "ts: missing"}


@pytest.fixture(scope="module")
def sample(samples_dir) -> bytes:
    return sample_bytes(samples_dir, "cef", "test-cef.log")


@pytest.fixture(scope="module")
def result(sample):
    source = sources.get(NAME)
    parsed = source.reader().parse(sample)
    return parsed, source.classify(parsed.rows)


def test_detected(sample):
    assert sources.detect(sample[:sources.SNIFF_BYTES]).best == NAME


def test_every_line_accounted_once(result):
    parsed, classified = result
    assert parsed.lines == 4 and parsed.rejects == []
    assert dict(zip(classified.rejected.column("input_line").to_pylist(),
                    classified.rejected.column("reason").to_pylist())) == EXPECTED_REJECTS
    assert classified.skipped.to_pylist() == [{"ts": None, "reason": "cef:no destination", "input_line": 3}]
    assert classified.transactions.num_rows == 0


def test_no_byte_counts_in_the_sample(sample, result):
    parsed, _ = result
    assert not re.search(rb"\s(in|out)=\d", sample)  # checked independently: the sample has none
    assert parsed.rows.column("bytes_in").null_count == parsed.rows.column("bytes_out").null_count == 4


def test_spot_checks(result):
    parsed, _ = result
    rows = {row["input_line"]: row for row in parsed.rows.to_pylist()}
    assert (rows[1]["device_vendor"], rows[1]["device_product"], rows[1]["name"]) == ("Elastic", "Vaporware", "Web request")
    assert (rows[1]["src"], rows[1]["spt"], rows[1]["dst"], rows[1]["dpt"]) == ("89.160.20.156", "33876", "192.168.10.1", "443")
    assert (rows[1]["request"], rows[1]["request_method"]) == ("https://www.example.com/cart", "POST")
    assert rows[2]["suser"] == "bob"
    # a value with spaces runs to the next key; trailing spaces are dropped
    assert (rows[4]["dst"], rows[4]["src"]) == ("192.168.1.2", "192.168.3.4")


def test_header_and_extension_escapes():
    lines = pa.array([r"<134>Mar 11 10:00:02 px CEF:0|Vendor\|Inc|Gate|2.1|100|URL \| blocked|5|"
                      r"msg=a b\=c d\\e  src=10.0.0.1 request=https://x.example/?a=b&c=d   ",
                      "CEF:0|only|four|fields"])
    cef = split_cef(lines)
    assert cef.column("device_vendor").to_pylist() == ["Vendor|Inc", None]
    assert cef.column("name").to_pylist() == ["URL | blocked", None]
    values = cef_values(cef.column("extension"), ["msg", "src", "request"])
    assert {k: v.to_pylist()[0] for k, v in values.items()} == {
        "msg": "a b=c d\\e", "src": "10.0.0.1", "request": "https://x.example/?a=b&c=d"}
