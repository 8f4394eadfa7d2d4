"""Docs generated from the schemas stay in step with them."""
from __future__ import annotations

from etl.schema_docs import DOC, render


def test_the_schema_reference_is_generated_from_the_current_schemas():
    assert DOC.read_text(encoding="utf-8") == render(), "docs/schema.md is stale: run python -m etl.schema_docs"


def test_every_report_column_is_documented():
    import schemas

    undocumented = [(t, c["name"]) for t, table in schemas.load("reports")["tables"].items()
                    for c in table["columns"] if not c.get("doc")]
    assert not undocumented
