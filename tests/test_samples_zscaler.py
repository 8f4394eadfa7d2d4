"""Zscaler against the real Elastic sample in ../shared/samples/zscaler (skipped when absent).

test-web.log holds 6 JSON lines `{"sourcetype":"zscalernss-web","event":{...}}`, every value a
string; its events carry exactly the 33 fields of the NSS web feed order, in that order, so the
same events written as tab- and comma-separated lines (built here, in memory) must give the same
transactions. Byte totals are summed here with json.loads (reqsize = up, respsize = down)."""
from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pytest

from etl import sources
from etl.sources import zscaler
from etl.sources.framing.text import text_lines
from etl.sources.zeek.jsonlines import read_json_lines, read_slowly

NAME = "test-web.log"
# the NSS web feed order this source reads TSV / CSV in (docs/formats/zscaler.md)
ORDER = ["time", "login", "proto", "eurl", "action", "appname", "appclass", "reqsize", "respsize", "stime", "ctime",
         "urlclass", "urlsupercat", "urlcat", "malwarecat", "threatname", "riskscore", "dlpeng", "dlpdict",
         "location", "dept", "cip", "sip", "reqmethod", "respcode", "ua", "ereferer", "ruletype", "rulelabel",
         "contenttype", "unscannabletype", "deviceowner", "devicehostname"]
GOLDEN = sorted((Path(zscaler.__file__).parent / "golden").glob("json*.log"))


def _read(data: bytes):
    parsed = zscaler.SOURCE.reader().parse(data)
    return parsed, zscaler.SOURCE.classify(parsed.rows)


@pytest.fixture(scope="module")
def sample(samples_dir) -> bytes:
    path = samples_dir / "zscaler" / NAME
    if not path.is_file():
        pytest.skip("no zscaler sample")
    return path.read_bytes()


@pytest.fixture(scope="module")
def events(sample) -> list[dict]:
    return [json.loads(line)["event"] for line in sample.decode().splitlines() if line.strip()]


def test_detected_and_every_line_accounted(sample):
    assert sources.detect(sample[:sources.SNIFF_BYTES]).best == "zscaler"
    parsed, classified = _read(sample)
    lines = [n for n, line in enumerate(sample.split(b"\n"), 1) if line.strip()]
    assert parsed.rejects == []
    assert classified.rejected.num_rows == 0 and classified.skipped.num_rows == 0
    assert parsed.lines == len(lines) == classified.lines() == 6
    assert classified.transactions.column("input_line").to_pylist() == lines


def test_bytes_and_actions_match_the_events(sample, events):
    tx = _read(sample)[1].transactions
    assert sum(tx.column("bytes_up").to_pylist()) == sum(int(e["reqsize"]) for e in events) == 2825
    assert sum(tx.column("bytes_down").to_pylist()) == sum(int(e["respsize"]) for e in events) == 28625
    assert tx.column("action").to_pylist() == [e["action"].lower() for e in events]
    assert tx.column("action").to_pylist().count("blocked") == 5


def test_spot_checks(sample):
    rows = {r["input_line"]: r for r in _read(sample)[1].transactions.to_pylist()}
    first = rows[1]  # Fri Dec 31 07:07:07 2021, test@example.com, HTTP, www.example.com, Blocked, 600 / 65
    assert first["ts"] == datetime(2021, 12, 31, 7, 7, 7, tzinfo=timezone.utc)
    assert (first["account"], first["src_ip"], first["dest_ip"], first["dest_host"], first["action"],
            first["bytes_up"], first["bytes_down"], first["device_name"], first["device_id"]) == \
        ("test@example.com", "81.2.69.193", "81.2.69.145", "www.example.com", "blocked", 600, 65,
         "testmachine35", "testmachine35")
    second = rows[2]  # eurl www.example.com.com/join/ (a path, no scheme)
    assert (second["dest_host"], second["dest_ip"], second["bytes_down"]) == ("www.example.com.com", "89.160.20.156", 14230)
    last = rows[6]  # Thu Aug 29 09:20:35 2022, HTTP_PROXY, eurl www.example.com:443, Allowed
    assert last["ts"] == datetime(2022, 8, 29, 9, 20, 35, tzinfo=timezone.utc)
    assert (last["dest_host"], last["dest_port"], last["action"]) == ("www.example.com", 443, "allowed")


def test_the_sample_events_are_in_the_feed_order(events):
    assert all(list(e) == ORDER for e in events)


def _as_tsv(events) -> bytes:
    return "".join("\t".join(e[k] for k in ORDER) + "\n" for e in events).encode()


def _as_csv(events) -> bytes:
    out = io.StringIO()
    csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\r\n").writerows([[e[k] for k in ORDER] for e in events])
    return out.getvalue().encode()


@pytest.mark.parametrize("write", [_as_tsv, _as_csv], ids=["tsv", "csv"])
def test_tab_and_comma_separated_outputs_read_the_same(sample, events, write):
    data = write(events)
    assert sources.detect(data).best == "zscaler"
    parsed, classified = _read(data)
    assert parsed.rejects == [] and classified.rejected.num_rows == 0
    assert classified.transactions.to_pylist() == _read(sample)[1].transactions.to_pylist()


def _json_lines(data: bytes):
    lines, numbers, _ = text_lines(data)
    text = zscaler.messages(lines)
    keep = [t.startswith("{") for t in text.to_pylist()]
    mask = pa.array(keep)
    return text.filter(mask), numbers[mask.to_numpy(zero_copy_only=False)]


@pytest.mark.parametrize("case", GOLDEN, ids=lambda c: c.stem)
def test_fast_and_line_by_line_agree(case):
    lines, numbers = _json_lines(case.read_bytes())
    fast, fast_rejects = read_json_lines(lines, numbers, zscaler._JSON_FIELDS, zscaler._JSON_ATTEMPTS)
    slow, slow_rejects = read_slowly(lines, numbers, zscaler._JSON_FIELDS)
    assert [r[:2] for r in fast_rejects] == [r[:2] for r in slow_rejects]
    assert fast.to_pylist() == slow.to_pylist()


def test_fast_and_line_by_line_agree_on_the_sample(sample):
    lines, numbers = _json_lines(sample)
    fast, _ = read_json_lines(lines, numbers, zscaler._JSON_FIELDS, zscaler._JSON_ATTEMPTS)
    assert fast.to_pylist() == read_slowly(lines, numbers, zscaler._JSON_FIELDS)[0].to_pylist()
