"""Custom formats (etl.sources.custom): a YAML spec -> a Source; given/expect cases, every
bad-spec message, and golden-style cases in tests/custom_formats/ (<case>.yaml spec, <case>.log
input, <case>.expected.jsonl output; `--regen-golden` rewrites the expected files)."""
from __future__ import annotations

import textwrap
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pytest

from etl import schema
from etl.sources.custom import load_custom
from tests.test_golden import first_difference, serialise

CASES_DIR = Path(__file__).resolve().parent / "custom_formats"
CASES = sorted(CASES_DIR.glob("*.log"))

CSV_SPEC = """
delimiter: ","
header: true
fields: {ts: time, src_ip: client, user: user, url: url, bytes_up: sent, bytes_down: received, action: verdict}
timestamp_format: "%Y-%m-%d %H:%M:%S"
timezone: UTC
blocked_values: [DENY, BLOCK]
"""


def utc(*parts) -> datetime:
    return datetime(*parts, tzinfo=timezone.utc)


def run(spec: str, text: str, name: str = "acme"):
    source = load_custom(name, textwrap.dedent(spec))
    parsed = source.reader().parse(textwrap.dedent(text).lstrip("\n").encode())
    classified = source.classify(parsed.rows)
    assert len(parsed.rejects) + classified.lines() == parsed.lines  # every line once
    return source, parsed, classified


def rows(table) -> list[dict]:
    return table.to_pylist()


# ---- given / expect ----------------------------------------------------------------------

def test_delimited_with_header():
    source, parsed, out = run(CSV_SPEC, """
        time,client,user,url,sent,received,verdict
        2026-01-05 10:00:00,10.0.0.1,alice,https://www.Example.com/x?a=1,100,2000,ALLOW
        2026-01-05 10:00:01,10.0.0.2,-,"files.example.net:443/a,b",5,,deny
    """)
    assert source.name == "custom:acme"
    assert rows(out.skipped) == [{"ts": None, "reason": "header", "input_line": 1}]
    first, second = rows(out.transactions)
    assert first == {"ts": utc(2026, 1, 5, 10, 0, 0), "source": "custom:acme", "device_id": None,
                     "device_name": None, "account": "alice", "src_ip": "10.0.0.1", "dest_host": "www.example.com",
                     "dest_ip": None, "dest_port": None, "bytes_up": 100, "bytes_down": 2000, "action": "allowed",
                     "process": None, "input_line": 2}
    assert (second["account"], second["dest_host"], second["bytes_up"], second["bytes_down"], second["action"]) == \
        (None, "files.example.net", 5, None, "blocked")


def test_header_columns_in_any_order_and_extra_columns():
    _, _, out = run(CSV_SPEC, """
        verdict,extra,received,sent,url,user,client,time
        BLOCK,x,10,20,blocked.example,bob,10.0.0.9,2026-01-05 11:00:00
    """)
    [tx] = rows(out.transactions)
    assert (tx["src_ip"], tx["account"], tx["bytes_up"], tx["bytes_down"], tx["action"], tx["dest_host"]) == \
        ("10.0.0.9", "bob", 20, 10, "blocked", "blocked.example")


def test_delimited_without_header():
    spec = """
        delimiter: "\\t"
        columns: [time, client, host, port, verdict, machine]
        fields: {ts: time, src_ip: client, dest_host: host, dest_port: port, action: verdict, device_name: machine}
        timestamp_format: epoch
        blocked_values: [dropped]
    """
    _, parsed, out = run(spec, "1767607200\t10.0.0.5\tAPI.example.com\t8443\tDROPPED\tWS-17\n"
                               "1767607201.5\t10.0.0.5\tcdn.example.com\t443\tpassed\tWS-17\n"
                               "1767607202\t10.0.0.5\tshort.example\n")
    first, second = rows(out.transactions)
    assert first["ts"] == utc(2026, 1, 5, 10, 0, 0) and second["ts"] == datetime(2026, 1, 5, 10, 0, 1, 500000,
                                                                                  tzinfo=timezone.utc)
    assert (first["dest_host"], first["dest_port"], first["action"], first["device_name"]) == \
        ("api.example.com", 8443, "blocked", "ws-17")
    assert second["action"] == "allowed" and out.skipped.num_rows == 0
    assert parsed.rejects == [(3, "3 fields, expected 6", "1767607202\t10.0.0.5\tshort.example")]


def test_regex_spec():
    spec = r"""
        regex: '^(?P<when>\S+) (?P<ip>\d+\.\d+\.\d+\.\d+) (?P<who>\S+) "(?P<req>[^"]*)" (?P<up>\d+|-) (?P<down>\d+|-) (?P<res>\w+)$'
        fields: {ts: when, src_ip: ip, user: who, url: req, bytes_up: up, bytes_down: down, action: res}
        timestamp_format: iso8601
        blocked_values: [denied]
    """
    _, parsed, out = run(spec, """
        # comment lines are skipped
        2026-01-05T10:00:00Z 10.1.1.1 carol "https://mail.example.org/inbox" 300 4000 OK
        2026-01-05T10:00:01+02:00 10.1.1.2 - "ftp://files.example.org:2121/x" - - DENIED
        this line is not in the format
    """)
    assert rows(out.skipped) == [{"ts": None, "reason": "comment", "input_line": 1}]
    first, second = rows(out.transactions)
    assert (first["ts"], first["account"], first["dest_host"], first["bytes_up"], first["action"]) == \
        (utc(2026, 1, 5, 10, 0, 0), "carol", "mail.example.org", 300, "allowed")
    assert (second["ts"], second["account"], second["dest_host"], second["bytes_down"], second["action"]) == \
        (utc(2026, 1, 5, 8, 0, 1), None, "files.example.org", None, "blocked")
    assert parsed.rejects == [(4, "does not match the format's regex", "this line is not in the format")]


def test_local_timezone_is_converted_to_utc():
    spec = CSV_SPEC.replace("timezone: UTC", "timezone: Europe/Berlin")
    _, _, out = run(spec, """
        time,client,user,url,sent,received,verdict
        2026-01-05 10:00:00,10.0.0.1,a,x.example,1,1,ok
        2026-07-05 10:00:00,10.0.0.1,a,x.example,1,1,ok
        2026-03-29 02:30:00,10.0.0.1,a,x.example,1,1,ok
    """)
    winter, summer, gap = [r["ts"] for r in rows(out.transactions)]
    assert winter == utc(2026, 1, 5, 9, 0, 0)   # CET, +01:00
    assert summer == utc(2026, 7, 5, 8, 0, 0)   # CEST, +02:00
    # 02:30 never happened (the clocks went 02:00 -> 03:00): normalize.parse_time asks Arrow for
    # nonexistent="earliest", which is the last microsecond before the change
    assert gap == datetime(2026, 3, 29, 0, 59, 59, 999999, tzinfo=timezone.utc)


def test_blocked_values_are_case_insensitive_and_others_allowed():
    _, _, out = run(CSV_SPEC, """
        time,client,user,url,sent,received,verdict
        2026-01-05 10:00:00,10.0.0.1,a,x.example,1,1,deny
        2026-01-05 10:00:01,10.0.0.1,a,x.example,1,1, Block
        2026-01-05 10:00:02,10.0.0.1,a,x.example,1,1,DENIED
        2026-01-05 10:00:03,10.0.0.1,a,x.example,1,1,
    """)
    assert [r["action"] for r in rows(out.transactions)] == ["blocked", "blocked", "allowed", "allowed"]


def test_rejected_rows():
    _, parsed, out = run(CSV_SPEC, """
        time,client,user,url,sent,received,verdict
        2026-02-30 10:00:00,10.0.0.1,a,x.example,1,1,ok
        not a time,10.0.0.1,a,x.example,1,1,ok
        -,10.0.0.1,a,x.example,1,1,ok
        2026-01-05 10:00:03,10.0.0.1,a,x.example,1.5,1,ok
        2026-01-05 10:00:04,10.0.0.1,a,"x.example,1,1,ok
    """)
    assert [(r["input_line"], r["reason"]) for r in rows(out.rejected)] == [
        (2, "ts: not a valid time"), (3, "ts: not a valid time"), (4, "ts: missing"),
        (5, "bytes_up: not a whole number")]
    assert [(n, reason) for n, reason, _ in parsed.rejects] == [(6, "unbalanced quotes")]


def test_header_missing_a_mapped_column_rejects_the_data_lines():
    _, parsed, out = run(CSV_SPEC, """
        time,client,user,url,sent,received
        2026-01-05 10:00:00,10.0.0.1,a,x.example,1,1
    """)
    assert rows(out.skipped) == [{"ts": None, "reason": "header", "input_line": 1}]
    assert parsed.rejects == [(2, "no usable header: the header has no column 'verdict'",
                               "2026-01-05 10:00:00,10.0.0.1,a,x.example,1,1")]


def test_header_holds_for_later_pieces_of_the_object():
    source = load_custom("acme", CSV_SPEC)
    reader = source.reader()
    first = reader.parse(b"# export\ntime,client,user,url,sent,received,verdict\n")
    second = reader.parse(b"2026-01-05 10:00:00,10.0.0.1,a,x.example,1,2,ok\n", first_line=3)
    assert rows(source.classify(first.rows).skipped) == [
        {"ts": None, "reason": "comment", "input_line": 1}, {"ts": None, "reason": "header", "input_line": 2}]
    [tx] = rows(source.classify(second.rows).transactions)
    assert (tx["input_line"], tx["bytes_down"]) == (3, 2)
    # a new object has its own header: its first line is read as one
    again = source.reader().parse(b"2026-01-05 10:00:00,10.0.0.1,a,x.example,1,2,ok\n"
                                  b"2026-01-05 10:00:01,10.0.0.1,a,x.example,1,2,ok\n")
    assert rows(source.classify(again.rows).skipped) == [{"ts": None, "reason": "header", "input_line": 1}]
    assert again.rejects[0][:2] == (2, "no usable header: the header has no column 'time'")


def test_decl_matches_the_rows_and_the_rules():
    source = load_custom("acme", CSV_SPEC)
    parsed = source.reader().parse(b"time,client,user,url,sent,received,verdict\n"
                                   b"2026-01-05 10:00:00,10.0.0.1,a,x.example,1,2,ok\n")
    assert source.decl["name"] == "custom:acme"
    expected = schema.flat_schema(source.decl).append(pa.field("input_line", pa.int64()))
    assert parsed.rows.schema == expected
    assert ("ts", "required", None) in schema.rules_for(source.decl)
    assert source.detect(b"time,client\n") == 0.0
    # the header row carries the names it gives, so a not-null check on ts holds on every row
    assert parsed.rows.column("ts").to_pylist() == ["time", "2026-01-05 10:00:00"]


# ---- bad specs: one clear line each --------------------------------------------------------

GOOD = {"delimiter": '","', "columns": "[time, client, verdict]", "fields": "{ts: time, src_ip: client, action: verdict}",
        "timestamp_format": '"%Y-%m-%d %H:%M:%S"'}


def spec_of(**changes) -> str:
    keys = {**GOOD, **changes}
    return "\n".join(f"{k}: {v}" for k, v in keys.items() if v is not None)


BAD_SPECS = [
    ("delimiter: [", "not valid YAML"),
    ("- just\n- a list", "the spec must be a YAML mapping"),
    (spec_of(colour="blue"), "unknown key 'colour'"),
    (spec_of(delimiter=None), "neither delimiter nor regex given"),
    (spec_of(regex="'(?P<time>.*)'"), "give exactly one of delimiter or regex"),
    (spec_of(delimiter='";;"'), "delimiter must be one character"),
    (spec_of(delimiter="'\"'"), "delimiter must be one character"),
    (spec_of(header="yes please"), "header must be true or false"),
    (spec_of(header="true"), "columns given with header: true"),
    (spec_of(columns=None), "header: false needs columns"),
    (spec_of(columns="time"), "columns must be a list of column names"),
    (spec_of(columns="[time, time, verdict]"), "column 'time' is named twice"),
    (spec_of(delimiter=None, regex="'(?P<time>\\S+) (?P<client>\\S+) (?P<verdict>\\S+)'", columns="[a]"),
     "columns applies to delimiter formats"),
    (spec_of(delimiter=None, columns=None, regex="'(?P<time>\\S+'"), "regex is not usable: Invalid regular expression"),
    (spec_of(delimiter=None, columns=None, regex="'(\\S+) (\\S+)'"), "regex is not usable: Regular expression contains unnamed groups"),
    (spec_of(fields=None), "fields must map canonical fields to columns"),
    (spec_of(fields="{ts: time, colour: client}"), "fields: unknown field 'colour'"),
    (spec_of(fields="{ts: time, src_ip: clinet}"), "fields.src_ip names column 'clinet', which does not exist"),
    (spec_of(delimiter=None, columns=None, regex="'(?P<time>\\S+) (?P<ip>\\S+)'", fields="{ts: time, src_ip: client}"),
     "fields.src_ip names named group 'client', which does not exist (there are: time, ip)"),
    (spec_of(fields="{src_ip: client}"), "fields must map ts"),
    (spec_of(fields="{ts: [time]}"), "fields.ts must name a column"),
    (spec_of(timestamp_format='"YYYY-MM-DD"'), "timestamp_format 'YYYY-MM-DD' is neither a strptime format"),
    (spec_of(timestamp_format='"%Y-%m-%d %Q"'), "%Q is not a supported strptime directive"),
    (spec_of(timestamp_format='"%H:%M:%S"'), "does not read back a full date"),
    (spec_of(timestamp_format='"%b %d %H:%M:%S"'), "does not read back a full date"),
    (spec_of(timestamp_format="42"), "timestamp_format must be a strptime format"),
    (spec_of(timezone="Mars/Olympus_Mons"), "timezone 'Mars/Olympus_Mons' is not an IANA time zone name"),
    (spec_of(blocked_values="{a: 1}"), "blocked_values must be a list"),
    (spec_of(fields="{ts: time}", blocked_values="[DENY]"), "blocked_values given but fields maps no action column"),
    (spec_of(comment="''"), "comment must be a non-empty text"),
]


@pytest.mark.parametrize("text,message", BAD_SPECS, ids=[m for _, m in BAD_SPECS])
def test_bad_spec_messages(text, message):
    with pytest.raises(ValueError) as info:
        load_custom("acme", text)
    shown = str(info.value)
    assert shown.startswith("custom format 'acme': ") and message in shown
    assert "\n" not in shown


def test_bad_name():
    with pytest.raises(ValueError, match="custom format name '../x'"):
        load_custom("../x", spec_of())


def test_good_spec_of_the_bad_spec_table_loads():
    assert load_custom("acme", spec_of()).name == "custom:acme"


# ---- golden-style cases ----------------------------------------------------------------------

@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_custom_golden(case: Path, regen_golden: bool):
    source = load_custom(case.stem, case.with_suffix(".yaml").read_text())
    data = case.read_bytes()
    parsed = source.reader().parse(data)
    classified = source.classify(parsed.rows)
    assert len(parsed.rejects) + classified.lines() == parsed.lines
    assert parsed.lines == sum(1 for line in data.split(b"\n") if line.strip())
    actual = serialise(parsed, classified)
    expected_path = case.with_name(case.stem + ".expected.jsonl")
    if regen_golden:
        expected_path.write_text("".join(line + "\n" for line in actual), encoding="utf-8")
        return
    diff = first_difference(expected_path.read_text(encoding="utf-8").splitlines(), actual)
    assert not diff, diff


def test_there_are_golden_cases():
    assert len(CASES) >= 2


# ---- the delimited framing underneath (etl/sources/framing/delimited.py) --------------------

def test_split_fields_agrees_with_the_csv_module():
    """Random quoted/unquoted lines of 1..8 fields against Python's csv reader; lines whose
    quotes do not balance are broken. Lines with a CR inside go through the string kernels."""
    import csv
    import random

    from etl.sources.framing.delimited import split_fields

    rng = random.Random(5)

    def field():
        value = "".join(rng.choice('ab,"é\t ') for _ in range(rng.randint(0, 5)))
        return '"' + value.replace('"', '""') + '"' if ('"' in value or "," in value or rng.random() < .3) else value

    lines = [",".join(field() for _ in range(rng.choice([1, 3, 3, 3, 5, 8]))) for _ in range(3000)]
    lines += ['a,"b', '"a""b",c', "a,,b,", ",", "a,b\rc", '"a\rb",c', ""]
    wanted = [0, 1, 2, 4, 7]
    split = split_fields(pa.array(lines), wanted)
    for i, line in enumerate(lines):
        if line.count('"') % 2:
            assert split.broken[i], line
            continue
        row = next(csv.reader([line.replace("\r", "\x07")]), None) or [""]
        row = [v.replace("\x07", "\r") for v in row]
        assert split.counts[i] == len(row), line
        for j in wanted:
            assert split.fields[j][i].as_py() == (row[j] if j < len(row) else None), (line, j)


def test_split_fields_reads_mixed_widths_in_line_order():
    from etl.sources.framing.delimited import split_fields

    lines = pa.array(["a,b,c", "d,e", "f,g,h", "i", 'j,"k,l",m,n'])
    split = split_fields(lines, [0, 1, 2])
    assert split.counts.tolist() == [3, 2, 3, 1, 4]
    assert split.fields[1].to_pylist() == ["b", "e", "g", None, "k,l"]
    assert split.fields[2].to_pylist() == ["c", None, "h", None, "m"]


def test_split_fields_keeps_one_row_per_line_when_read_csv_would_not():
    """`a"b,"c,d` has an even number of quotes, but read_csv opens a quoted field at `"c` that
    the line never closes and runs on into the next line: the row count tells, the kernels read it."""
    from etl.sources.framing.delimited import split_fields

    split = split_fields(pa.array(["x,y,z", 'a"b,"c,d', "e,f,g"]), [0, 1])
    assert split.fields[0].to_pylist() == ["x", 'a"b,"c', "e"]
    assert split.fields[1].to_pylist() == ["y", "d", "f"]
