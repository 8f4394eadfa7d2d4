"""Golden files per source, next to its parser (the Elastic-integrations / plaso way).

etl/sources/<source>/golden/<case>.log is a hand-written raw input; <case>.expected.jsonl is what
the source makes of it: reader -> classify, one JSON line per output row

    {"kind": "rejected-line" | "rejected" | "transactions" | "skipped" | <context kind>, "input_line": n, ...}

sorted by (input_line, kind); rows that carry no input_line (context derived from other rows)
come after, in the order the source produced them.

    pytest tests/test_golden.py                  # compare, fail with the first differing line
    pytest tests/test_golden.py --regen-golden   # rewrite the expected files (then READ them)
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from etl import sources
from etl.sources.framing.ndjson import NdjsonReader

SOURCES_DIR = Path(sources.__file__).resolve().parent
CASES = sorted(SOURCES_DIR.glob("*/golden/*.log"))


def _source_name(case: Path) -> str:
    return case.parent.parent.name


def _case_id(path: Path) -> str:
    return f"{_source_name(path)}/{path.stem}"


def serialise(parsed, classified) -> list[str]:
    """Deterministic text of everything a format module produced for one input."""
    rows: list[tuple] = []
    for position, (number, reason, raw) in enumerate(parsed.rejects):
        rows.append(("rejected-line", {"input_line": number, "reason": reason, "raw": raw}, position))
    tables = {"rejected": classified.rejected, "transactions": classified.transactions,
              "skipped": classified.skipped, **classified.context}
    for name in sorted(tables):
        for position, row in enumerate(tables[name].to_pylist()):
            rows.append((name, row, position))

    def key(item):
        kind, row, position = item
        line = row.get("input_line")
        return (line is None, line if line is not None else 0, kind, position)

    out = []
    for kind, row, _ in sorted(rows, key=key):
        record = {"kind": kind, "input_line": row.get("input_line"), **row}
        out.append(json.dumps(record, default=str, sort_keys=True, ensure_ascii=False))
    return out


def produce(source, data: bytes) -> tuple[object, object, list[str]]:
    parsed = source.reader().parse(data)
    classified = source.classify(parsed.rows)
    return parsed, classified, serialise(parsed, classified)


def first_difference(expected: list[str], actual: list[str]) -> str:
    for i, (want, got) in enumerate(zip(expected, actual), 1):
        if want != got:
            a, b = json.loads(want), json.loads(got)
            fields = sorted(k for k in set(a) | set(b) if a.get(k, "<absent>") != b.get(k, "<absent>"))
            detail = "\n".join(f"    {k}: expected {a.get(k, '<absent>')!r}, got {b.get(k, '<absent>')!r}"
                               for k in fields)
            return (f"line {i} differs (fields: {', '.join(fields)})\n{detail}\n"
                    f"  expected: {want}\n  actual:   {got}")
    if len(expected) != len(actual):
        longer, what = (expected, "missing from the output") if len(expected) > len(actual) else (actual, "unexpected")
        i = min(len(expected), len(actual))
        return f"{len(expected)} lines expected, {len(actual)} produced; line {i + 1} {what}:\n  {longer[i]}"
    return ""


def test_every_source_has_golden_cases():
    assert {_source_name(p) for p in CASES} == set(sources.SOURCES)


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_golden(case: Path, regen_golden: bool):
    name = _source_name(case)
    data = case.read_bytes()
    detected = sources.detect(data[:sources.SNIFF_BYTES])
    assert detected.best == name, f"{case.name}: detection says {detected.explain()!r}, not {name!r}"

    _, _, actual = produce(sources.get(name), data)
    expected_path = case.with_name(case.stem + ".expected.jsonl")
    if regen_golden:
        expected_path.write_text("".join(line + "\n" for line in actual), encoding="utf-8")
        return
    assert expected_path.is_file(), f"{expected_path.name} missing: run pytest {__file__} --regen-golden"
    expected = expected_path.read_text(encoding="utf-8").splitlines()
    diff = first_difference(expected, actual)
    if diff:
        pytest.fail(f"{_case_id(case)}: output differs from {expected_path.name}\n{diff}\n"
                    f"(if the new output is right: pytest tests/test_golden.py --regen-golden, then review the diff)",
                    pytrace=False)


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_every_line_accounted_once(case: Path):
    """Each non-blank line is exactly one of: a rejected line, a rejected row, or a row of one
    table (the OCSF device_info table is derived from rows already counted)."""
    parsed, classified, _ = produce(sources.get(_source_name(case)), case.read_bytes())
    data_lines = [n for n, line in enumerate(case.read_bytes().split(b"\n"), 1) if line.strip()]
    assert parsed.lines == len(data_lines)
    assert len(parsed.rejects) + classified.lines() == parsed.lines
    numbered = [r[0] for r in parsed.rejects]
    for table in (classified.rejected, classified.transactions, classified.skipped):
        numbered += table.column("input_line").to_pylist()
    for table in classified.counted_context().values():  # one line may give several rows (IP addresses)
        numbered += sorted(set(table.column("input_line").to_pylist()))
    assert len(numbered) == len(set(numbered))
    assert set(numbered) <= set(data_lines)


NDJSON_CASES = [c for c in CASES if isinstance(sources.get(_source_name(c)).reader(), NdjsonReader)]


@pytest.mark.parametrize("case", NDJSON_CASES, ids=[_case_id(c) for c in NDJSON_CASES])
def test_fast_and_line_by_line_parsers_agree(case: Path):
    """The pyarrow fast path and the line-by-line fallback must read good lines identically."""
    reader = sources.get(_source_name(case)).reader()
    data = case.read_bytes()
    fast, slow = reader.parse(data), reader.parse_slowly(data)
    assert slow.lines == fast.lines
    assert [r[:2] for r in slow.rejects] == [r[:2] for r in fast.rejects]
    assert slow.rows.to_pylist() == fast.rows.to_pylist()
