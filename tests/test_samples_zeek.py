"""Zeek against the real zat captures in ../shared/samples/zeek/{tsv,json} (skipped when absent),
plus the agreement of the JSON reader's fast path and its line-by-line fallback.

Per file: detection picks zeek, nothing is rejected, every line is accounted once, and the byte
totals equal sums computed here from the raw files with str.split / json.loads: conn orig_bytes
(up) / resp_bytes (down), http request_body_len / response_body_len; ssl and dns carry none."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pytest

from etl import sources
from etl.sources import zeek
from etl.sources.framing.text import text_lines
from etl.sources.zeek.jsonlines import read_json_lines, read_slowly

FILES = [f"{kind}/{log}.log" for kind in ("tsv", "json") for log in ("conn", "http", "ssl", "dns")]
BYTES = {"conn": ("orig_bytes", "resp_bytes"), "http": ("request_body_len", "response_body_len")}
FAILED = {"S0", "REJ", "RSTOS0", "RSTRH", "SH", "SHR"}
GOLDEN = sorted((Path(zeek.__file__).parent / "golden").glob("*.log"))


def _read(data: bytes):
    parsed = zeek.SOURCE.reader().parse(data)
    return parsed, zeek.SOURCE.classify(parsed.rows)


def _records(name: str, data: bytes) -> tuple[list[dict], int]:
    """(data records as dicts, header lines) of a file, read independently of the source."""
    text = data.decode()
    if name.startswith("json/"):
        records = [json.loads(line) for line in text.splitlines() if line.strip()]
        return records, 0
    fields, records, headers = None, [], 0
    for line in text.splitlines():
        if line.startswith("#"):
            headers += 1
            if line.startswith("#fields\t"):
                fields = line.split("\t")[1:]
            continue
        values = line.split("\t")
        assert len(values) == len(fields)
        records.append({k: v for k, v in zip(fields, values) if v not in ("-", "(empty)")})
    return records, headers


def _count(value) -> int:
    return int(value) if value is not None else 0


@pytest.fixture(scope="module")
def samples(samples_dir) -> dict[str, bytes]:
    found = {name: (samples_dir / "zeek" / name) for name in FILES}
    if not all(p.is_file() for p in found.values()):
        pytest.skip("no zeek samples")
    return {name: p.read_bytes() for name, p in found.items()}


@pytest.mark.parametrize("name", FILES)
def test_detected_accounted_and_bytes_match(samples, name):
    data = samples[name]
    assert sources.detect(data[:sources.SNIFF_BYTES]).best == "zeek"
    parsed, classified = _read(data)
    lines = [n for n, line in enumerate(data.split(b"\n"), 1) if line.strip()]
    assert parsed.rejects == [] and classified.rejected.num_rows == 0
    assert parsed.lines == len(lines) == classified.lines()
    numbered = sorted(classified.transactions.column("input_line").to_pylist()
                      + classified.skipped.column("input_line").to_pylist())
    assert numbered == lines

    log = name.split("/")[1][:-4]
    records, headers = _records(name, data)
    reasons = classified.skipped.column("reason").to_pylist()
    assert reasons.count("header") == headers
    tx = classified.transactions
    if log == "dns":
        assert tx.num_rows == 0 and reasons.count("zeek:dns") == len(records)
        return
    assert tx.num_rows == len(records)
    if log in BYTES:
        up, down = BYTES[log]
        assert sum(v or 0 for v in tx.column("bytes_up").to_pylist()) == sum(_count(r.get(up)) for r in records)
        assert sum(v or 0 for v in tx.column("bytes_down").to_pylist()) == sum(_count(r.get(down)) for r in records)
    else:
        assert tx.column("bytes_up").null_count == tx.column("bytes_down").null_count == tx.num_rows
    failed = sum(1 for r in records if r.get("conn_state") in FAILED) if log == "conn" else 0
    assert tx.column("action").to_pylist().count("failed") == failed


def test_measured_totals(samples):
    """The numbers the report quotes, pinned (the independent sums above check the mapping)."""
    totals = {}
    for name in ("tsv/conn.log", "tsv/http.log", "json/conn.log", "json/http.log"):
        tx = _read(samples[name])[1].transactions
        totals[name] = (tx.num_rows, sum(v or 0 for v in tx.column("bytes_up").to_pylist()),
                        sum(v or 0 for v in tx.column("bytes_down").to_pylist()))
    assert totals == {"tsv/conn.log": (360, 105343, 5342835), "tsv/http.log": (150, 724760, 7181170),
                      "json/conn.log": (50, 32330, 100331), "json/http.log": (28, 24269, 736371)}
    tsv_conn = _read(samples["tsv/conn.log"])[1].transactions.column("action").to_pylist()
    assert tsv_conn.count("failed") == 158  # 156 S0 + 2 RSTOS0


def test_spot_checks(samples):
    tx = {r["input_line"]: r for r in _read(samples["tsv/conn.log"])[1].transactions.to_pylist()}
    first = tx[9]  # 1379288667.706265 CoyZrY2g74UvMMgp4a 192.168.33.10 1032 54.245.228.191 80 tcp http ... 601 38393 RSTO
    assert first["ts"] == datetime(2013, 9, 15, 23, 44, 27, 706265, tzinfo=timezone.utc)
    assert (first["src_ip"], first["dest_ip"], first["dest_port"], first["bytes_up"], first["bytes_down"],
            first["action"], first["dest_host"], first["account"]) == \
        ("192.168.33.10", "54.245.228.191", 80, 601, 38393, "allowed", None, None)
    s0 = tx[66]  # 192.168.33.10 1137 194.165.17.4 53 udp - - - - S0: a DNS query never answered
    assert (s0["dest_ip"], s0["dest_port"], s0["bytes_up"], s0["bytes_down"], s0["action"]) == \
        ("194.165.17.4", 53, None, None, "failed")
    icmp = tx[368]  # 109.67.16.18 3 192.168.33.10 3 icmp ... OTH, local_orig `-`: direction unknown, kept
    assert (icmp["src_ip"], icmp["dest_ip"], icmp["bytes_up"], icmp["action"]) == \
        ("109.67.16.18", "192.168.33.10", None, "allowed")

    http = {r["input_line"]: r for r in _read(samples["tsv/http.log"])[1].transactions.to_pylist()}
    assert (http[9]["dest_host"], http[9]["bytes_up"], http[9]["bytes_down"], http[9]["dest_port"]) == \
        ("guyspy.com", 0, 184, 80)
    assert all(r["account"] is None for r in http.values())  # username is `-` in every row

    jhttp = {r["input_line"]: r for r in _read(samples["json/http.log"])[1].transactions.to_pylist()}
    assert (jhttp[1]["dest_host"], jhttp[1]["dest_ip"], jhttp[1]["bytes_down"]) == ("mail.aol.com", "69.147.64.34", 303)
    assert jhttp[1]["ts"] == datetime(2019, 12, 3, 22, 45, 55, 938245, tzinfo=timezone.utc)

    jssl = _read(samples["json/ssl.log"])[1].transactions.to_pylist()
    assert (jssl[0]["dest_host"], jssl[0]["dest_port"], jssl[0]["action"]) == ("mail.aol.com", 443, "allowed")
    assert all(r["dest_host"] for r in jssl)  # server_name filled in every JSON row
    tssl = _read(samples["tsv/ssl.log"])[1].transactions.to_pylist()
    assert all(r["dest_host"] is None for r in tssl)  # and `-` in every TSV row


def _json_lines(data: bytes):
    lines, numbers, _ = text_lines(data)
    keep = pa.array([t.startswith("{") for t in lines.to_pylist()])
    return lines.filter(keep), numbers[keep.to_numpy(zero_copy_only=False)]


@pytest.mark.parametrize("name", [n for n in FILES if n.startswith("json/")])
def test_fast_and_line_by_line_agree_on_samples(samples, name):
    lines, numbers = _json_lines(samples[name])
    fast, fast_rejects = read_json_lines(lines, numbers, zeek._JSON_FIELDS, zeek._JSON_ATTEMPTS)
    slow, slow_rejects = read_slowly(lines, numbers, zeek._JSON_FIELDS)
    assert fast_rejects == slow_rejects == []
    assert fast.to_pylist() == slow.to_pylist()


@pytest.mark.parametrize("case", [c for c in GOLDEN if c.stem.startswith("json")], ids=lambda c: c.stem)
def test_fast_and_line_by_line_agree_on_golden(case):
    lines, numbers = _json_lines(case.read_bytes())
    fast, fast_rejects = read_json_lines(lines, numbers, zeek._JSON_FIELDS, zeek._JSON_ATTEMPTS)
    slow, slow_rejects = read_slowly(lines, numbers, zeek._JSON_FIELDS)
    assert [r[:2] for r in fast_rejects] == [r[:2] for r in slow_rejects]
    assert fast.to_pylist() == slow.to_pylist()


def test_header_state_survives_piece_boundaries(samples):
    """The base hands an object over in pieces: records after the first piece still know #fields."""
    data = samples["tsv/conn.log"]
    cut = data.index(b"\n", len(data) // 2) + 1
    reader = zeek.SOURCE.reader()
    first = reader.parse(data[:cut])
    second = reader.parse(data[cut:], first_line=data[:cut].count(b"\n") + 1)
    whole = _read(data)[1].transactions
    parts = [zeek.SOURCE.classify(p.rows).transactions for p in (first, second)]
    assert first.rejects == second.rejects == []
    assert pa.concat_tables(parts).to_pylist() == whole.to_pylist()
