"""The delimited framing's two paths agree: a clean piece read by read_csv whole gives exactly the
rows, line numbers and rejects that the line-by-line path gives."""
from __future__ import annotations

import pytest

from etl.sources.framing.delimited import DelimitedReader
from etl.sources.framing.text import TextReader
from etl.sources.panos import PanosReader

TRAFFIC = ("1,2026/11/16 00:00:02,serial,TRAFFIC,end,2561,2026/11/16 00:00:02,10.0.0.{n},1.2.3.4,0.0.0.0,0.0.0.0,"
           "rule,user{n},,web-browsing,vsys1,trust,untrust,e1,e2,default,2026/11/16 00:00:02,4100{n},1,5368{n},443,"
           "0,0,0x0,tcp,allow,{b},{u},{d},26,2026/11/16 00:00:00,2,any,0,1,0x0,10.0.0.0-10.255.255.255,US,0,1,25,"
           "tcp-fin,0,0,0,0,,fw,from-policy,,,0,,0,,N/A,0,0,0,0")


def both_paths(reader, data: bytes):
    fast = reader.parse(data, 7)
    slow = TextReader.parse(reader, data, 7)  # the line-by-line path
    return fast, slow


def as_rows(parsed):
    return parsed.rows.to_pylist(), sorted(parsed.rejects), parsed.lines


@pytest.mark.parametrize("shape", ["uniform", "mixed widths", "short and blank-looking lines", "no final newline"])
def test_a_clean_piece_read_whole_gives_what_the_line_by_line_path_gives(shape, monkeypatch):
    lines = [TRAFFIC.format(n=n, b=100 + n, u=60, d=40 + n) for n in range(40)]
    if shape == "mixed widths":
        lines[5] += ",extra,fields"
        lines[20] = lines[20].rsplit(",", 30)[0]  # THREAT-like: fewer trailing fields, still enough
    if shape == "short and blank-looking lines":
        lines[3] = "1,2026/11/16 00:00:02,serial,TRAFFIC"  # too few fields: rejected with its count
        lines[9] = "   \t "                                 # whitespace only: not a line at all
    data = ("\n".join(lines) + ("" if shape == "no final newline" else "\n")).encode()
    whole = []
    original = DelimitedReader._whole_piece
    monkeypatch.setattr(DelimitedReader, "_whole_piece",
                        lambda self, *a: whole.append(original(self, *a)) or whole[-1])
    fast, slow = both_paths(PanosReader(), data)
    assert whole and whole[-1] is not None  # the whole-piece path was taken
    assert as_rows(fast) == as_rows(slow)
    assert fast.rows.column("input_line").to_pylist()[:3] == [7, 8, 9] or shape == "short and blank-looking lines"
    if shape == "short and blank-looking lines":
        assert [r[0] for r in fast.rejects] == [10] and fast.lines == 39


@pytest.mark.parametrize("text", ['1,"quoted, with comma",3\n', "1,2,3\r\n4,5,6\r\n", "1,2,3\n\n4,5,6\n",
                                  "1,2,3\n\ufeff4,5,6\n"])
def test_a_piece_that_needs_line_by_line_care_takes_that_path(text):
    reader = DelimitedReader(["a", "b", "c"])
    assert reader._whole_piece(text.encode(), 1) is None
    fast, slow = both_paths(reader, text.encode())
    assert as_rows(fast) == as_rows(slow)
