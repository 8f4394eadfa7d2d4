"""What `cloud-discovery catalog ...` shows: a host's app, the catalog's coverage, a score's
contributions, and custom-app rows proposed from the unknown domains."""
from __future__ import annotations

import ipaddress
import re
from collections import Counter
from datetime import date

import pyarrow as pa

from etl.catalog import Catalog, registered_domain
from etl.catalog.score import Scoring, explain, factors, groups


def lookup(catalog: Catalog, scoring: Scoring, tags: dict[str, str], host: str) -> dict:
    """{host, app_id, name, category, score, tag, matched_pattern, registered_domain} for a host or IP."""
    host = host.strip().lower().rstrip(".")
    pattern = catalog.matched_suffix(host)
    row = catalog.suffix_to_app.get(pattern) if pattern else None
    if row is None and _is_ip(host):
        hit = catalog.matched_network(host)
        if hit:
            row, pattern = hit
    out = {"host": host, "app_id": None, "name": None, "category": None, "score": None, "tag": None,
           "matched_pattern": None, "registered_domain": registered_domain(host)}
    if row is None:
        return out
    app = catalog.apps.slice(row, 1).to_pylist()[0]
    score = explain(scoring, app["app_id"])["score"]
    return {**out, "app_id": app["app_id"], "name": app["name"], "category": app["category"],
            "score": None if score is None else round(score, 2), "tag": tags.get(app["app_id"], "none"),
            "matched_pattern": pattern, "origin": app["origin"]}


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False


def stats(catalog: Catalog) -> dict:
    """How many apps and categories, and the share of apps with at least one documented fact per
    group (the `category` factor, which every app has, does not count)."""
    apps = catalog.apps.column("app_id").to_pylist()
    per_group: dict[str, set] = {g: set() for g in groups()}
    per_factor: Counter = Counter()
    for app_id, factor in zip(catalog.facts.column("app_id").to_pylist(), catalog.facts.column("factor").to_pylist()):
        decl = factors().get(factor)
        if decl and decl["type"] != "category":
            per_group[decl["group"]].add(app_id)
            per_factor[factor] += 1
    known = set(apps)
    n = len(apps) or 1
    categories = Counter(catalog.apps.column("category").to_pylist())
    origins = Counter(catalog.apps.column("origin").to_pylist())
    return {
        "apps": len(apps),
        "categories": len(categories),
        "custom_apps": origins.get("custom", 0),
        "facts": catalog.facts.num_rows,
        "catalog_version": catalog.version,
        "coverage": {g: round(len(per_group[g] & known) / n, 4) for g in groups()},
        "factor_coverage": {f: round(per_factor[f] / n, 4) for f in factors() if factors()[f]["type"] != "category"},
        "per_category": dict(sorted(categories.items())),
    }


def contributions(result: dict) -> list[dict]:
    """`explain`'s factors with the points each adds to the total: group share x factor share x score."""
    group_weights = sum(g["weight"] for g in result["groups"] if g["weight"] and g["score"] is not None)
    rows = []
    for group in result["groups"]:
        counted = [f for f in group["factors"] if f["weight"] and f["counted"] is not None]
        factor_weights = sum(f["weight"] for f in counted)
        share = group["weight"] / group_weights if group_weights and group["score"] is not None else 0
        for f in group["factors"]:
            points = None
            if f in counted and factor_weights:
                points = share * f["weight"] * f["counted"] / factor_weights
            rows.append({"group": group["group"], "group_weight": group["weight"],
                         "group_score": group["score"], **{k: f[k] for k in ("factor", "value", "score", "weight")},
                         "points": points, "source": f["source"]})
    return rows


def custom_app_id(domain: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", domain.lower()).strip("_") or "app"


def suggestions(unknown: pa.Table, limit: int, first: date, last: date) -> list[dict]:
    """The busiest unknown registered domains as reference/catalog/apps.csv rows (category `Other`:
    the person pasting them picks the real one)."""
    out = []
    for row in unknown.slice(0, limit).to_pylist():
        domain = row["domain"]
        out.append({
            "domain": domain, "transactions": row["transactions"], "bytes": row["bytes"], "users": row["users"],
            "machines": row["machines"], "hosts": row["hosts"], "example_hosts": row["example_hosts"],
            "row": {"app_id": custom_app_id(domain), "name": domain, "vendor": "", "category": "Other",
                    "domains": domain, "ip_ranges": "", "source": f"org (unknown_domains {first}..{last})"},
        })
    return out
