"""The declarations in schemas/ -> Arrow read schema, row checks, GX suite: one contract."""
import pyarrow as pa
import pytest

import schemas
from etl import schema
from etl.validate import gx_validate

DECL = {
    "name": "tiny",
    "columns": [
        {"name": "ts", "path": "ts", "type": "string", "required": True, "format": "iso8601"},
        {"name": "device", "path": "device.uid", "type": "string", "required": True, "min_length": 1},
        {"name": "port", "path": "dst.port", "type": "int64", "min": 0, "max": 65535},
        {"name": "kind", "path": "kind", "type": "int64", "in_set": [1, 2]},
        {"name": "action", "path": "action", "type": "string", "required": True, "tables": ["net"]},
    ],
}


def test_read_schema_nests_dotted_paths():
    read = schema.read_schema(DECL)
    assert read.field("device").type == pa.struct([("uid", pa.string())])
    assert read.field("dst").type == pa.struct([("port", pa.int64())])
    assert read.names == ["ts", "device", "dst", "kind", "action"]


def test_flatten_names_columns_by_declaration():
    nested = pa.table({"ts": ["2026-01-01T00:00:00Z"], "device": [{"uid": "d1"}], "dst": [{"port": 443}],
                       "kind": [1], "action": ["x"]}, schema=schema.read_schema(DECL))
    flat = schema.flatten(nested, DECL)
    assert flat.column_names == ["ts", "device", "port", "kind", "action"]
    assert flat.to_pylist() == [{"ts": "2026-01-01T00:00:00Z", "device": "d1", "port": 443, "kind": 1, "action": "x"}]


GIVEN = pa.table({
    "ts": ["2026-01-01T00:00:00.1234567Z", "yesterday", "2026-01-01T00:00:00Z", "2026-01-01 10:00:00", None],
    "device": ["d1", "d2", "", "d4", "d5"],
    "port": [443, 70000, None, 80, 1],
    "kind": [1, 2, 3, None, 1],
    "action": ["a", "a", "a", None, "a"],
})


def test_row_violations_report_the_first_broken_rule_per_row():
    reasons = schema.row_violations(GIVEN, DECL, scope="net").to_pylist()
    assert reasons == [
        None,
        "ts: not an ISO 8601 timestamp",
        "device: shorter than 1",
        "action: missing",
        "ts: missing",
    ]


def test_rules_scoped_to_other_tables_do_not_apply():
    reasons = schema.row_violations(GIVEN, DECL, scope="info").to_pylist()
    assert reasons[3] is None  # action is only required for `net`


def test_out_of_range_and_set_violations():
    table = GIVEN.slice(0, 1)
    bad = table.set_column(2, "port", pa.array([-1], pa.int64()))
    assert schema.row_violations(bad, DECL, "net").to_pylist() == ["port: out of range [0, 65535]"]
    bad = table.set_column(3, "kind", pa.array([7], pa.int64()))
    assert schema.row_violations(bad, DECL, "net").to_pylist() == ["kind: not one of [1, 2]"]


def test_parse_timestamps_keeps_microseconds_and_assumes_utc_without_zone():
    parsed = schema.parse_timestamps(pa.array(["2026-01-01T00:00:00.1234567Z", "2026-01-01T10:00:00",
                                               "2026-01-01T12:00:00+02:00"]))
    assert [v.isoformat() for v in parsed.to_pylist()] == [
        "2026-01-01T00:00:00.123456+00:00", "2026-01-01T10:00:00+00:00", "2026-01-01T10:00:00+00:00"]


def test_gx_suite_finds_exactly_what_the_arrow_checks_find():
    """GX (sample) and Arrow (every row) implement the same declared rules."""
    arrow_failures = {}
    for column, rule, arg in schema.rules_for(DECL, "net"):
        if rule == "require_any":
            continue
        bad = schema._violates(GIVEN, column, rule, arg)
        arrow_failures[(column, rule)] = sum(bad.to_pylist())
    summary = gx_validate(GIVEN, DECL, scope="net", name="schema-test")
    gx_types = {"required": "expect_column_values_to_not_be_null",
                "min_length": "expect_column_value_lengths_to_be_between",
                "between": "expect_column_values_to_be_between",
                "in_set": "expect_column_values_to_be_in_set",
                "iso8601": "expect_column_values_to_match_regex"}
    gx_failures = {(e["column"], e["type"]): e["unexpected_count"] for e in summary["expectations"]}
    assert summary["success"] is False
    for (column, rule), count in arrow_failures.items():
        assert gx_failures[(column, gx_types[rule])] == count, (column, rule)


@pytest.mark.parametrize("name", ["mde", "ocsf", "reports", "quarantine"])
def test_shipped_declarations_load_and_build(name):
    decl = schemas.load(name)
    if name == "reports":
        for table in decl["tables"]:
            assert len(schema.report_schema(table)) == len(decl["tables"][table]["columns"])
    elif name in ("mde", "ocsf"):
        assert len(schema.flat_schema(decl)) == len(decl["columns"])
        schema.read_schema(decl)
        assert schema.gx_expectations(decl, [c["name"] for c in decl["columns"]])
