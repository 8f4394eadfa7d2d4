"""The app catalog (shipped with the package, plus an organisation's own apps from the lake) and
host -> app matching.

Matching is by longest domain suffix on label boundaries (`files.slack.com` matches the suffix
`slack.com`, `myslack.com` does not), then, for a row whose host matches nothing, by the IP
ranges apps are known by. Work is done once per distinct host or IP and spread back over the
rows with Arrow (hosts repeat millions of times a day). An organisation's apps in
`reference/catalog/apps.csv` (the shipped columns) take precedence: same app_id replaces the
shipped app, and their domains win over the shipped apps' domains.
"""
from __future__ import annotations

import hashlib
import io
import ipaddress
from bisect import bisect_right
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import yaml

import schemas
from etl import schema
from etl.errors import UserError
from etl.normalize import map_unique

HERE = Path(__file__).resolve().parent
APPS_CSV = HERE / "apps.csv"
FACTS_CSV = HERE / "facts.csv"
CATALOG_SERIES = "2026.12"
DECL = schemas.load("catalog")


def table_schema(name: str) -> pa.Schema:
    return pa.schema([(c["name"], pa.string()) for c in DECL["tables"][name]["columns"]])


@cache
def categories() -> dict[str, float]:
    """Category name -> the category's own risk score (categories.yaml)."""
    return {c["name"]: float(c["risk"]) for c in yaml.safe_load((HERE / "categories.yaml").read_text())["categories"]}


@dataclass(frozen=True)
class Catalog:
    apps: pa.Table                  # schemas/catalog.yaml `apps`, plus `origin` (shipped | custom)
    facts: pa.Table                 # schemas/catalog.yaml `facts`
    version: str
    suffix_to_app: dict[str, int]   # domain suffix -> row index in `apps`
    networks: list = field(default_factory=list)  # (first address as int, last, version, row, cidr), sorted

    def match(self, hosts, ips=None) -> pa.Table:
        """app_id, app_name, category for each host (then its IP, when given); null where nothing matches."""
        index = map_unique(hosts, self.app_index, pa.int32())
        if ips is not None and self.networks:
            by_ip = map_unique(ips, self.ip_index, pa.int32())
            index = pc.coalesce(index, by_ip)
        return pa.table({
            "app_id": pc.take(self.apps.column("app_id"), index),
            "app_name": pc.take(self.apps.column("name"), index),
            "category": pc.take(self.apps.column("category"), index),
        })

    def app_index(self, host: str) -> int | None:
        hit = self.matched_suffix(host)
        return None if hit is None else self.suffix_to_app[hit]

    def matched_suffix(self, host: str) -> str | None:
        labels = host.lower().rstrip(".").split(".")
        for i in range(len(labels)):
            suffix = ".".join(labels[i:])
            if suffix in self.suffix_to_app:
                return suffix
        return None

    def ip_index(self, ip: str) -> int | None:
        hit = self.matched_network(ip)
        return None if hit is None else hit[0]

    def matched_network(self, ip: str) -> tuple[int, str] | None:
        """(row, cidr) of the narrowest range holding the address."""
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return None
        value, best = int(address), None
        at = bisect_right(self.networks, (value, float("inf")))
        for first, last, version, row, cidr in reversed(self.networks[:at]):
            if version == address.version and first <= value <= last:
                if best is None or last - first < best[1] - best[0]:
                    best = (first, last, row, cidr)
        return None if best is None else (best[2], best[3])

    def app(self, app_id: str) -> dict | None:
        at = pc.index(self.apps.column("app_id"), app_id).as_py()
        return None if at < 0 else self.apps.slice(at, 1).to_pylist()[0]

    def facts_of(self, app_id: str) -> dict[str, dict]:
        rows = self.facts.filter(pc.equal(self.facts.column("app_id"), app_id)).to_pylist()
        return {r["factor"]: r for r in rows}

    def find(self, text: str) -> dict | None:
        """An app by id, else by name (any case)."""
        found = self.app(text)
        if found is None:
            names = pc.utf8_lower(self.apps.column("name"))
            at = pc.index(names, text.lower()).as_py()
            found = None if at < 0 else self.apps.slice(at, 1).to_pylist()[0]
        return found


def _read_csv(data: bytes, name: str, where: str) -> pa.Table:
    wanted = table_schema(name)
    try:
        table = pcsv.read_csv(io.BytesIO(data), convert_options=pcsv.ConvertOptions(
            column_types=wanted, strings_can_be_null=True))
    except pa.ArrowInvalid as exc:
        raise UserError(f"{where}: not a readable CSV: {str(exc).splitlines()[0]}") from None
    missing = [n for n in wanted.names if n not in table.column_names]
    required = [c["name"] for c in DECL["tables"][name]["columns"] if c.get("required")]
    if any(n in required for n in missing):
        raise UserError(f"{where}: missing column(s) {', '.join(missing)}; expected {','.join(wanted.names)}")
    for n in missing:
        table = table.append_column(n, pa.nulls(table.num_rows, pa.string()))
    table = table.select(wanted.names)
    problems = schema.row_violations(table, DECL["tables"][name])
    bad = pc.is_valid(problems)
    if pc.any(bad).as_py():
        at = pc.index(bad, True).as_py()
        raise UserError(f"{where}: line {at + 2}: {problems[at].as_py()}")
    return table


def check_apps(apps: pa.Table, where: str) -> None:
    known = categories()
    for row, category in enumerate(apps.column("category").to_pylist()):
        if category not in known:
            raise UserError(f"{where}: line {row + 2}: category {category!r} is not one of categories.yaml "
                            f"({', '.join(sorted(known))})")
    ids = apps.column("app_id").to_pylist()
    seen = set()
    for row, app_id in enumerate(ids):
        if app_id in seen:
            raise UserError(f"{where}: line {row + 2}: app_id {app_id!r} appears twice")
        seen.add(app_id)
    for row, ranges in enumerate(apps.column("ip_ranges").to_pylist()):
        for cidr in (ranges or "").split():
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise UserError(f"{where}: line {row + 2}: {cidr!r} is not an IP range (CIDR)") from None


def build_catalog(shipped_apps: bytes, shipped_facts: bytes, custom_apps: bytes | None = None) -> Catalog:
    apps = _read_csv(shipped_apps, "apps", "shipped catalog apps.csv")
    check_apps(apps, "shipped catalog apps.csv")
    facts = _read_csv(shipped_facts, "facts", "shipped catalog facts.csv")
    origin = ["shipped"] * apps.num_rows
    digest = hashlib.sha256(shipped_apps + b"\0" + shipped_facts).hexdigest()[:12]
    version = f"{CATALOG_SERIES}+{digest}"
    custom_ids: set[str] = set()
    if custom_apps is not None:
        where = "reference/catalog/apps.csv"
        custom = _read_csv(custom_apps, "apps", where)
        check_apps(custom, where)
        custom_ids = set(custom.column("app_id").to_pylist())
        keep = pc.invert(pc.is_in(apps.column("app_id"), value_set=custom.column("app_id")))
        apps = pa.concat_tables([apps.filter(keep), custom])
        origin = ["shipped"] * (apps.num_rows - custom.num_rows) + ["custom"] * custom.num_rows
        version += f"+org.{hashlib.sha256(custom_apps).hexdigest()[:8]}"
    apps = apps.append_column("origin", pa.array(origin, pa.string()))
    suffix_to_app: dict[str, int] = {}
    networks = []
    for row, (app_id, domains, ranges) in enumerate(zip(apps.column("app_id").to_pylist(),
                                                          apps.column("domains").to_pylist(),
                                                          apps.column("ip_ranges").to_pylist())):
        mine = app_id in custom_ids
        for domain in (domains or "").lower().split():
            held = suffix_to_app.get(domain)
            if held is None or mine:  # an organisation's own app wins a domain
                suffix_to_app[domain] = row
        for cidr in (ranges or "").split():
            net = ipaddress.ip_network(cidr, strict=False)
            networks.append((int(net.network_address), int(net.broadcast_address), net.version, row, str(net)))
    networks.sort()
    return Catalog(apps, facts, version, suffix_to_app, networks)


@cache
def shipped_catalog() -> Catalog:
    return build_catalog(APPS_CSV.read_bytes(), FACTS_CSV.read_bytes())


def lake_catalog(lake) -> Catalog:
    """The shipped catalog with the lake's own apps (reference/catalog/apps.csv) on top."""
    from etl.storage import catalog_reference_path

    rel = catalog_reference_path("apps.csv")
    if not lake.exists(rel):
        return shipped_catalog()
    return build_catalog(APPS_CSV.read_bytes(), FACTS_CSV.read_bytes(), lake.read_bytes(rel))


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
