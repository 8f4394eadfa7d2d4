"""Golden files per format (the Elastic-integrations / plaso way).

tests/golden/<format>/<case>.log is a hand-written raw input; <case>.expected.jsonl is what the
format module makes of it: parse -> classify, one JSON line per output row

    {"kind": "rejected-line" | "rejected" | <table name>, "input_line": n, ...row fields...}

sorted by (input_line, kind); rows that carry no input_line (skipped and context tables do not
have one) come after, in the order the format module produced them.

    pytest tests/test_golden.py                  # compare, fail with the first differing line
    pytest tests/test_golden.py --regen-golden   # rewrite the expected files (then READ them)
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from etl import formats
from etl.formats import ndjson

GOLDEN = Path(__file__).resolve().parent / "golden"
CASES = sorted(GOLDEN.glob("*/*.log"))
DERIVED_TABLES = {"ocsf": {"device_info"}}  # tables built from rows that are already counted elsewhere


def _case_id(path: Path) -> str:
    return f"{path.parent.name}/{path.stem}"


def serialise(parsed, classified) -> list[str]:
    """Deterministic text of everything a format module produced for one input."""
    rows: list[tuple] = []
    for position, (number, reason, raw) in enumerate(parsed.rejects):
        rows.append(("rejected-line", {"input_line": number, "reason": reason, "raw": raw}, position))
    for position, row in enumerate(classified.rejected.to_pylist()):
        rows.append(("rejected", row, position))
    for name in sorted(classified.tables):
        for position, row in enumerate(classified.tables[name].to_pylist()):
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


def produce(fmt, data: bytes) -> tuple[object, object, list[str]]:
    parsed = fmt.parse(data)
    classified = fmt.classify(parsed.rows)
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


def test_every_format_has_golden_cases():
    assert {p.parent.name for p in CASES} >= {"mde", "ocsf"}
    for case in CASES:
        assert case.parent.name in formats.FORMATS, f"{case}: no format named {case.parent.name!r}"


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_golden(case: Path, regen_golden: bool):
    name = case.parent.name
    fmt = formats.get(name)
    data = case.read_bytes()
    assert formats.detect(data[:4096]) == name, f"{case.name}: detect() does not name {name!r}"

    _, _, actual = produce(fmt, data)
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
    name = case.parent.name
    parsed, classified, _ = produce(formats.get(name), case.read_bytes())
    data_lines = [n for n, line in enumerate(case.read_bytes().split(b"\n"), 1) if line.strip()]
    assert parsed.lines == len(data_lines)
    produced = len(parsed.rejects) + classified.rejected.num_rows + sum(
        t.num_rows for table, t in classified.tables.items() if table not in DERIVED_TABLES.get(name, set()))
    assert produced == parsed.lines
    numbered = [r[0] for r in parsed.rejects] + classified.rejected.column("input_line").to_pylist()
    for table, t in classified.tables.items():
        if "input_line" in t.column_names and table not in DERIVED_TABLES.get(name, set()):
            numbered += t.column("input_line").to_pylist()
    assert len(numbered) == len(set(numbered))
    assert set(numbered) <= set(data_lines)


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_fast_and_line_by_line_parsers_agree(case: Path):
    """The pyarrow fast path and the line-by-line fallback must read good lines identically."""
    name = case.parent.name
    fmt = formats.get(name)
    data = case.read_bytes()
    fast = fmt.parse(data)
    starts, ends, numbers = ndjson.line_spans(data)
    slow = ndjson._parse_line_by_line(data, starts, ends, numbers, fmt.DECL)
    assert slow.lines == fast.lines
    assert [r[:2] for r in slow.rejects] == [r[:2] for r in fast.rejects]
    assert slow.rows.to_pylist() == fast.rows.to_pylist()
