"""Turn the declarations in `schemas/` into Arrow schemas, row checks and GX suites.

One declaration, three uses:
- `read_schema` : the nested Arrow schema pyarrow's JSON reader parses with;
- `row_violations`: exact Arrow-compute checks over every row (the rules that quarantine);
- `gx_expectations`: the same rules as a Great Expectations suite (run on a sample).
"""
from __future__ import annotations

import re
from datetime import datetime, timezone
from functools import cache

import pyarrow as pa
import pyarrow.compute as pc

import schemas

ISO8601 = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:?\d{2})?$"
_ZONE = r"(Z|[+-]\d{2}:?\d{2})$"

_ARROW_TYPES = {
    "string": pa.string(),
    "json": pa.string(),  # JSON text; objects met in the input are re-serialised to text
    "int64": pa.int64(),
    "int32": pa.int32(),
    "float64": pa.float64(),
    "bool": pa.bool_(),
    "timestamp": pa.timestamp("us", tz="UTC"),
    "list<string>": pa.list_(pa.string()),
}


def arrow_type(name: str) -> pa.DataType:
    try:
        return _ARROW_TYPES[name]
    except KeyError:
        raise ValueError(f"unknown schema type {name!r}") from None


def columns(decl: dict) -> list[dict]:
    return decl["columns"]


def flat_schema(decl: dict) -> pa.Schema:
    """Flat Arrow schema, one field per declared column, in declaration order."""
    return pa.schema([(c["name"], arrow_type(c["type"])) for c in columns(decl)])


def read_schema(decl: dict) -> pa.Schema:
    """Nested schema for pyarrow.json built from the columns' dotted paths."""
    tree: dict = {}
    for col in columns(decl):
        node = tree
        *parents, leaf = col["path"].split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = arrow_type(col["type"])

    def build(node: dict) -> list[tuple[str, pa.DataType]]:
        return [
            (key, pa.struct(build(value)) if isinstance(value, dict) else value)
            for key, value in node.items()
        ]

    return pa.schema(build(tree))


def flatten(nested: pa.Table, decl: dict) -> pa.Table:
    """Nested reader output -> flat table named by the declaration."""
    arrays = []
    for col in columns(decl):
        first, *rest = col["path"].split(".")
        array = nested.column(first)
        for part in rest:
            array = pc.struct_field(array, part)
        arrays.append(array)
    return pa.table(arrays, schema=flat_schema(decl))


@cache
def report_schema(table: str) -> pa.Schema:
    decl = schemas.load("reports")["tables"][table]
    fields = [
        pa.field(c["name"], arrow_type(c["type"]), nullable=not c.get("required", False))
        for c in decl["columns"]
    ]
    return pa.schema(fields)


@cache
def canonical_schema(kind: str) -> pa.Schema:
    """Arrow schema of one canonical kind every source classifies into (schemas/canonical.yaml)."""
    decl = schemas.load("canonical")["kinds"][kind]
    return pa.schema([pa.field(c["name"], arrow_type(c["type"]), nullable=not c.get("required", False))
                      for c in decl["columns"]])


def canonical_kinds() -> list[str]:
    return list(schemas.load("canonical")["kinds"])


def report_tables() -> list[str]:
    return list(schemas.load("reports")["tables"])


def conform(table: pa.Table, name: str) -> pa.Table:
    """Select and cast a computed table to its declared report schema."""
    schema = report_schema(name)
    arrays = [table.column(f.name).cast(f.type) for f in schema]
    return pa.Table.from_arrays(arrays, schema=schema)


# ---------------------------------------------------------------------------
# Row rules
# ---------------------------------------------------------------------------

def rules_for(decl: dict, table: str | None = None) -> list[tuple[str, str, object]]:
    """(column, rule, argument) triples that apply to rows of `table` (None: every rule)."""
    rules = []
    for col in columns(decl):
        scope = col.get("tables")
        if table is not None and scope is not None and table not in scope:
            continue
        name = col["name"]
        if col.get("required"):
            rules.append((name, "required", None))
        if "min_length" in col:
            rules.append((name, "min_length", col["min_length"]))
        if "min" in col or "max" in col:
            rules.append((name, "between", (col.get("min"), col.get("max"))))
        if "in_set" in col:
            rules.append((name, "in_set", tuple(col["in_set"])))
        if "matches" in col:
            rules.append((name, "matches", col["matches"]))
        if col.get("format") == "iso8601":
            rules.append((name, "iso8601", None))
    for group in decl.get("require_any", []):
        rules.append((",".join(group), "require_any", tuple(group)))
    return rules


def rule_reason(column: str, rule: str, arg) -> str:
    if rule == "required":
        return f"{column}: missing"
    if rule == "min_length":
        return f"{column}: shorter than {arg}"
    if rule == "between":
        low, high = arg
        return f"{column}: out of range [{low if low is not None else '-inf'}, {high if high is not None else 'inf'}]"
    if rule == "in_set":
        return f"{column}: not one of {list(arg)}"
    if rule == "matches":
        return f"{column}: does not match {arg}"
    if rule == "iso8601":
        return f"{column}: not an ISO 8601 timestamp"
    if rule == "require_any":
        return f"one of {list(arg)} required"
    raise ValueError(rule)


def _violates(table: pa.Table, column: str, rule: str, arg, parsed: dict | None = None) -> pa.ChunkedArray:
    """True where the row breaks the rule (nulls only ever break `required`)."""
    if rule == "require_any":
        present = None
        for name in arg:
            has = pc.is_valid(table.column(name))
            present = has if present is None else pc.or_(present, has)
        return pc.invert(present)
    values = table.column(column)
    if rule == "required":
        return pc.is_null(values)
    if rule == "min_length":
        bad = pc.less(pc.utf8_length(values), arg)
    elif rule == "between":
        low, high = arg
        bad = None
        if low is not None:
            bad = pc.less(values, low)
        if high is not None:
            above = pc.greater(values, high)
            bad = above if bad is None else pc.or_(bad, above)
    elif rule == "in_set":
        bad = pc.invert(pc.is_in(values, value_set=pa.array(arg, type=values.type)))
    elif rule == "matches":
        bad = pc.invert(pc.match_substring_regex(values, arg))
    elif rule == "iso8601":
        shaped = pc.match_substring_regex(values, ISO8601)
        # well-shaped but impossible (2026-02-30, hour 25): the parse says so
        instants = parse_timestamps(pc.if_else(shaped, values, pa.scalar(None, pa.string())))
        if parsed is not None:
            parsed[column] = instants  # callers reuse the parse instead of doing it again
        bad = pc.or_(pc.invert(shaped), pc.is_null(instants))
    else:
        raise ValueError(rule)
    return pc.and_(pc.is_valid(values), pc.fill_null(bad, False))


def row_violations(table: pa.Table, decl: dict, scope: str | None = None,
                   parsed: dict | None = None) -> pa.ChunkedArray:
    """Reason of the first broken rule per row, null where the row passes every rule.

    With `parsed`, the timestamps the iso8601 rules parse are left there (null where invalid)."""
    reasons = pa.nulls(table.num_rows, pa.string())
    for column, rule, arg in reversed(rules_for(decl, scope)):
        bad = _violates(table, column, rule, arg, parsed)
        if pc.any(bad).as_py():  # most rules break on no row: skip rebuilding the reasons
            reasons = pc.if_else(bad, pa.scalar(rule_reason(column, rule, arg)), reasons)
    return reasons


TIMESTAMP = pa.timestamp("us", tz="UTC")


def parse_timestamps(values: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray:
    """ISO 8601 strings -> timestamp[us, UTC]; no zone means UTC; impossible dates -> null."""
    try:  # the common case: every value carries its zone (exports write `Z`)
        nanos = pc.cast(values, pa.timestamp("ns", tz="UTC"))
    except pa.ArrowInvalid:
        has_zone = pc.fill_null(pc.match_substring_regex(values, _ZONE), True)
        zoned = pc.if_else(has_zone, values, pc.binary_join_element_wise(values, "Z", ""))
        try:
            nanos = pc.cast(zoned, pa.timestamp("ns", tz="UTC"))
        except pa.ArrowInvalid:  # rare: some value is not a real instant; parse one by one
            return pa.chunked_array([pa.array([_parse_one(v) for v in zoned.to_pylist()], TIMESTAMP)])
    return pc.cast(nanos, TIMESTAMP, safe=False)


def _parse_one(text: str | None):
    if text is None:
        return None
    text = re.sub(r"(\.\d{6})\d+", r"\1", text).replace("Z", "+00:00")
    try:
        return datetime.fromisoformat(text).astimezone(timezone.utc)
    except ValueError:
        return None


# ---------------------------------------------------------------------------
# Great Expectations
# ---------------------------------------------------------------------------

def gx_expectations(decl: dict, present: list[str], scope: str | None = None) -> list:
    """The declaration's rules as GX 1.x expectation objects (imported lazily: GX is slow to import)."""
    import great_expectations.expectations as gxe

    expectations = []
    for column, rule, arg in rules_for(decl, scope):
        if rule == "require_any" or column not in present:
            continue
        if rule == "required":
            expectations.append(gxe.ExpectColumnValuesToNotBeNull(column=column))
        elif rule == "min_length":
            expectations.append(gxe.ExpectColumnValueLengthsToBeBetween(column=column, min_value=arg))
        elif rule == "between":
            low, high = arg
            expectations.append(gxe.ExpectColumnValuesToBeBetween(column=column, min_value=low, max_value=high))
        elif rule == "in_set":
            expectations.append(gxe.ExpectColumnValuesToBeInSet(column=column, value_set=list(arg)))
        elif rule == "matches":
            expectations.append(gxe.ExpectColumnValuesToMatchRegex(column=column, regex=arg))
        elif rule == "iso8601":
            expectations.append(gxe.ExpectColumnValuesToMatchRegex(column=column, regex=ISO8601))
    return expectations
