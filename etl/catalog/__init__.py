"""The app catalog shipped with the package, and host -> app matching.

Matching is by longest domain suffix on label boundaries: `files.slack.com` matches the
suffix `slack.com`, `myslack.com` does not. Work is done once per distinct host and spread
back over the rows with Arrow (hosts repeat millions of times a day).
"""
from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from etl.normalize import map_unique

CATALOG_CSV = Path(__file__).resolve().parent / "apps.csv"
CATALOG_SERIES = "2026.11"


@dataclass(frozen=True)
class Catalog:
    apps: pa.Table                 # app_id, name, vendor, category, domains
    suffix_to_app: dict[str, int]  # domain suffix -> row index in `apps`
    version: str

    def match(self, hosts) -> pa.Table:
        """app_id, app_name, category for each host (nulls where nothing matches)."""
        index = map_unique(hosts, self.app_index, pa.int32())
        return pa.table({
            "app_id": pc.take(self.apps.column("app_id"), index),
            "app_name": pc.take(self.apps.column("name"), index),
            "category": pc.take(self.apps.column("category"), index),
        })

    def app_index(self, host: str) -> int | None:
        labels = host.split(".")
        for i in range(len(labels) - 1):
            hit = self.suffix_to_app.get(".".join(labels[i:]))
            if hit is not None:
                return hit
        return None


def load_catalog(path: Path = CATALOG_CSV) -> Catalog:
    data = path.read_bytes()
    apps = pcsv.read_csv(pa.BufferReader(data))
    suffix_to_app: dict[str, int] = {}
    for row, domains in enumerate(apps.column("domains").to_pylist()):
        for domain in domains.split():
            suffix_to_app[domain.lower()] = row
    version = f"{CATALOG_SERIES}+{hashlib.sha256(data).hexdigest()[:12]}"
    return Catalog(apps, suffix_to_app, version)


@cache
def shipped_catalog() -> Catalog:
    return load_catalog()


@cache
def _psl():
    from publicsuffixlist import PublicSuffixList  # bundled list, no download
    return PublicSuffixList(only_icann=True)


def registered_domain(host: str) -> str:
    """`a.b.example.co.uk` -> `example.co.uk`; IP literals and bare suffixes stay as they are."""
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    return _psl().privatesuffix(host) or host


def registered_domains(hosts) -> pa.ChunkedArray:
    return map_unique(hosts, registered_domain, pa.string())
