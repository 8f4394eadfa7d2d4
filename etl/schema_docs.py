"""docs/schema.md, generated from schemas/reports.yaml (a test fails when the file is stale).

    python -m etl.schema_docs            # rewrite docs/schema.md
    python -m etl.schema_docs --check    # exit 1 when it is stale
"""
from __future__ import annotations

import sys
from pathlib import Path

import schemas
from etl import schema

DOC = Path(__file__).resolve().parents[1] / "docs" / "schema.md"


def _rules(column: dict) -> str:
    rules = []
    if column.get("required"):
        rules.append("never null")
    if "min" in column or "max" in column:
        rules.append(f"{column.get('min', '-inf')} to {column.get('max', 'inf')}")
    if "in_set" in column:
        rules.append("one of " + ", ".join(f"`{v}`" for v in column["in_set"]))
    if "matches" in column:
        rules.append(f"matches `{column['matches']}`")
    return "; ".join(rules)


def render() -> str:
    decl = schemas.load("reports")
    lines = ["# Report tables", "",
             "Generated from [`schemas/reports.yaml`](../schemas/reports.yaml) by `python -m etl.schema_docs`; "
             "do not edit by hand.", "",
             "Continuous reports: `reports/<table>/date=YYYY-MM-DD/part-*.parquet` (Hive-partitioned by `date`); "
             "a snapshot's: `snapshots/<snapshot_id>/<table>/part-*.parquet`. Timestamps are UTC "
             "(microseconds); a day counts once `_manifests/reports/date=YYYY-MM-DD.json` exists.", ""]
    lines += ["| table | what |", "|---|---|"]
    lines += [f"| [`{name}`](#{name}) | {t['description']} |" for name, t in decl["tables"].items()]
    for name, table in decl["tables"].items():
        arrow = schema.report_schema(name)
        lines += ["", f"## {name}", "", table["description"], ""]
        if table.get("key"):
            lines += [f"One row per {', '.join(f'`{k}`' for k in table['key'])}.", ""]
        lines += ["| column | Arrow type | rules | meaning |", "|---|---|---|---|"]
        for column in table["columns"]:
            meaning = column.get("doc", "").replace("<", "&lt;").replace("|", "\\|")
            lines.append(f"| `{column['name']}` | `{arrow.field(column['name']).type}` | {_rules(column)} | {meaning} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        fresh = DOC.exists() and DOC.read_text(encoding="utf-8") == text
        print("docs/schema.md is up to date" if fresh else "docs/schema.md is stale: run python -m etl.schema_docs")
        return 0 if fresh else 1
    DOC.write_text(text, encoding="utf-8")
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
