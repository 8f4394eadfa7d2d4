"""Refresh the `ndpi_breed` facts of etl/catalog/facts.csv from nDPI's host table.

    python tools/ndpi_breeds.py [--ndpi ../shared/catalog-sources/ndpi_hosts.csv] [--check]

An app gets nDPI's breed when nDPI's host patterns that fall on the app's domains (by the
catalog's own longest-suffix match) all belong to one nDPI protocol with one breed; apps nDPI
does not know, or files under several protocols, stay N/A. Derived from ntop/nDPI (LGPL-3.0), commit 3b1286ab (2024-10-21):
the facts are short factual strings (pattern, breed); no nDPI code is used.
--check exits 1 when facts.csv differs from what the table gives (nothing is written).
"""
from __future__ import annotations

import argparse
import csv
import io
import sys
from collections import defaultdict
from pathlib import Path

import pyarrow as pa

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from etl.catalog import FACTS_CSV, shipped_catalog  # noqa: E402

NDPI_COMMIT = "3b1286ab"
NDPI_DATE = "2024-10-21"
FIELDS = ["app_id", "factor", "value", "source", "as_of"]


def breeds(ndpi_rows: list[dict]) -> dict[str, tuple[str, str]]:
    """app_id -> (breed, nDPI protocol) where every nDPI pattern on the app is one protocol's."""
    suffixes = [r for r in ndpi_rows if r["match_kind"] == "suffix" and not r["pattern"].endswith((".", "-"))]
    matched = shipped_catalog().match(pa.array([r["pattern"] for r in suffixes])).column("app_id").to_pylist()
    seen: dict[str, set] = defaultdict(set)
    for row, app_id in zip(suffixes, matched):
        if app_id:
            seen[app_id].add((row["breed"], row["ndpi_protocol"]))
    # one protocol only: a pattern nDPI files under another protocol (an ad host under a
    # streaming service) says nothing about this app
    return {app_id: next(iter(pairs)) for app_id, pairs in seen.items() if len(pairs) == 1}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ndpi", default=str(REPO.parent / "shared" / "catalog-sources" / "ndpi_hosts.csv"))
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    ndpi = list(csv.DictReader(open(args.ndpi, encoding="utf-8")))
    facts = [f for f in csv.DictReader(FACTS_CSV.open(encoding="utf-8")) if f["factor"] != "ndpi_breed"]
    for app_id, (breed, protocol) in sorted(breeds(ndpi).items()):
        facts.append({"app_id": app_id, "factor": "ndpi_breed", "value": breed,
                      "source": f"ndpi:{protocol}@{NDPI_COMMIT}", "as_of": NDPI_DATE})
    facts.sort(key=lambda f: (f["app_id"], f["factor"]))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(facts)
    if args.check:
        same = buf.getvalue() == FACTS_CSV.read_text(encoding="utf-8")
        print("facts.csv is up to date" if same else "facts.csv differs from the nDPI table: run without --check")
        return 0 if same else 1
    FACTS_CSV.write_text(buf.getvalue(), encoding="utf-8")
    print(f"{sum(1 for f in facts if f['factor'] == 'ndpi_breed')} ndpi_breed facts written to {FACTS_CSV}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
