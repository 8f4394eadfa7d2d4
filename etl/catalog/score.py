"""Risk scores (0-10, 10 safest) from the catalog's facts, explained factor by factor.

Each factor scores its documented value 0-10 (factors.yaml says how); a group's sub-score is
the weighted mean of its factors' scores; the app's score is the weighted mean of its groups'
sub-scores. Weights are levels (ignored 0, low 1, medium 2, high 3, very_high 4) per factor and
per group. A factor without a documented value (N/A) is left out (`na: exclude`) or counts as 0
(`na: zero`); a group with nothing to score is left out of the total. The shipped weights.yaml is
the default; the lake's reference/catalog/weights.yaml overrides any part of it, and
reference/catalog/overrides.yaml sets an app's score, or some of its facts, with a note.

Ages (founded, latest_breach) are counted at the fact's own `as_of` date, never at "now", so
a score is the same whenever it is recomputed from the same catalog and weights.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date
from functools import cache

import pyarrow as pa
import yaml

from etl.catalog import HERE, Catalog, categories
from etl.errors import UserError

LEVELS = {"ignored": 0, "low": 1, "medium": 2, "high": 3, "very_high": 4}
NA_POLICIES = ("exclude", "zero")


@cache
def factors() -> dict[str, dict]:
    """factor id -> its declaration, with its `group` (factors.yaml, in order)."""
    out = {}
    for group, items in yaml.safe_load((HERE / "factors.yaml").read_text())["groups"].items():
        for item in items:
            out[item["factor"]] = {**item, "group": group}
    return out


def groups() -> list[str]:
    return list(dict.fromkeys(f["group"] for f in factors().values()))


@dataclass(frozen=True)
class Weights:
    groups: dict[str, int]
    factors: dict[str, int]
    na: str
    hash: str

    def as_dict(self) -> dict:
        return {"na": self.na, "groups": self.groups, "factors": self.factors}


def _level(value, where: str) -> int:
    if isinstance(value, str) and value in LEVELS:
        return LEVELS[value]
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 4:
        return value
    raise UserError(f"{where}: weight {value!r} is not one of {', '.join(LEVELS)} (or 0-4)")


def make_weights(overlay: dict | None = None, where: str = "reference/catalog/weights.yaml") -> Weights:
    base = yaml.safe_load((HERE / "weights.yaml").read_text())
    overlay = overlay or {}
    if not isinstance(overlay, dict):
        raise UserError(f"{where}: expected a mapping with na, groups, factors")
    unknown = set(overlay) - {"na", "groups", "factors"}
    if unknown:
        raise UserError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; expected na, groups, factors")
    na = overlay.get("na", base["na"])
    if na not in NA_POLICIES:
        raise UserError(f"{where}: na must be one of {', '.join(NA_POLICIES)}, not {na!r}")
    group_weights = {g: _level(base["groups"][g], "weights.yaml") for g in groups()}
    for g, v in (overlay.get("groups") or {}).items():
        if g not in group_weights:
            raise UserError(f"{where}: unknown group {g!r}; groups are {', '.join(group_weights)}")
        group_weights[g] = _level(v, f"{where}: groups.{g}")
    factor_weights = {f: _level(base["factors"].get(f, "ignored"), "weights.yaml") for f in factors()}
    for f, v in (overlay.get("factors") or {}).items():
        if f not in factor_weights:
            raise UserError(f"{where}: unknown factor {f!r}; see `cloud-discovery catalog explain APP`")
        factor_weights[f] = _level(v, f"{where}: factors.{f}")
    for f, decl in factors().items():
        if decl["type"] == "text":
            factor_weights[f] = 0  # text is for people to read, never scored
    body = json.dumps({"na": na, "groups": group_weights, "factors": factor_weights}, sort_keys=True)
    return Weights(group_weights, factor_weights, na, hashlib.sha256(body.encode()).hexdigest()[:12])


@dataclass(frozen=True)
class Override:
    score: float | None
    facts: dict[str, str]
    note: str


def make_overrides(data: dict | None, where: str = "reference/catalog/overrides.yaml") -> dict[str, Override]:
    """{app_id: {score: 0-10, facts: {factor: value}, note: why}} -> Overrides (a note is required)."""
    out = {}
    for app_id, spec in (data or {}).items():
        if not isinstance(spec, dict) or not spec.get("note"):
            raise UserError(f"{where}: {app_id}: an override needs a `note` saying why")
        score = spec.get("score")
        if score is not None and not (isinstance(score, (int, float)) and 0 <= score <= 10):
            raise UserError(f"{where}: {app_id}: score must be a number from 0 to 10, not {score!r}")
        facts = {str(k): str(v).lower() if isinstance(v, bool) else str(v) for k, v in (spec.get("facts") or {}).items()}
        for factor in facts:
            if factor not in factors():
                raise UserError(f"{where}: {app_id}: unknown factor {factor!r}")
        unknown = set(spec) - {"score", "facts", "note"}
        if unknown:
            raise UserError(f"{where}: {app_id}: unknown key(s) {', '.join(sorted(unknown))}")
        out[app_id] = Override(None if score is None else float(score), facts, str(spec["note"]))
    return out


@dataclass(frozen=True)
class Scoring:
    """Everything a score depends on, and the identity of that (for manifests)."""
    catalog: Catalog
    weights: Weights
    overrides: dict[str, Override]

    @property
    def identity(self) -> dict:
        return {"catalog_version": self.catalog.version, "weights_hash": self.weights.hash,
                "overrides_hash": _hash_overrides(self.overrides)}


def _hash_overrides(overrides: dict[str, Override]) -> str:
    body = json.dumps({k: [v.score, v.facts, v.note] for k, v in sorted(overrides.items())}, sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()[:12]


def lake_scoring(lake, catalog: Catalog | None = None) -> Scoring:
    from etl.catalog import lake_catalog
    from etl.storage import catalog_reference_path

    def load(name: str):
        rel = catalog_reference_path(name)
        if not lake.exists(rel):
            return None
        try:
            return yaml.safe_load(lake.read_bytes(rel)) or {}
        except yaml.YAMLError as exc:
            raise UserError(f"{rel}: not valid YAML: {exc}") from None

    return Scoring(catalog or lake_catalog(lake), make_weights(load("weights.yaml")), make_overrides(load("overrides.yaml")))


# -- one factor --------------------------------------------------------------------------------

def _years_between(start: date, end: date) -> float:
    return (end - start).days / 365.25


def _by_age(ages: list, years: float) -> float:
    for minimum, score in ages:  # ordered from the oldest bracket down
        if years >= minimum:
            return float(score)
    return float(ages[-1][1])


def factor_score(factor: str, value: str, as_of: str | None, category: str | None = None) -> float | None:
    """0-10 for a documented value, None when the value cannot be scored (said by `explain`)."""
    decl = factors()[factor]
    kind = decl["type"]
    if kind == "category":
        return categories().get(category)
    if kind == "text":
        return None
    if kind == "present":
        return 10.0 if value else None
    if kind == "bool":
        if value not in ("true", "false"):
            return None
        return float(decl.get("if_true", 10) if value == "true" else decl.get("if_false", 0))
    if kind == "enum":
        score = decl["scores"].get(value)
        return None if score is None else float(score)
    at = date.fromisoformat(as_of) if as_of else None
    try:
        if kind == "year":
            start = date(int(value), 7, 1)
        elif kind == "date":
            start = date.fromisoformat(value)
        else:
            raise ValueError(kind)
    except ValueError:
        return None
    if at is None:
        return None
    return _by_age(decl["ages"], _years_between(start, at))


# -- one app -----------------------------------------------------------------------------------

def explain(scoring: Scoring, app_id: str) -> dict:
    """The score of one app and every number it comes from."""
    catalog, weights = scoring.catalog, scoring.weights
    app = catalog.app(app_id)
    if app is None:
        raise UserError(f"no app {app_id!r} in the catalog")
    facts = catalog.facts_of(app_id)
    override = scoring.overrides.get(app_id)
    if override:
        for factor, value in override.facts.items():
            facts[factor] = {"value": value, "source": f"override: {override.note}",
                             "as_of": facts.get(factor, {}).get("as_of")}
    out_groups, total_w, total = [], 0, 0.0
    for group in groups():
        rows, gw, gs = [], 0, 0.0
        for factor, decl in factors().items():
            if decl["group"] != group:
                continue
            fact = facts.get(factor)
            weight = weights.factors[factor]
            if decl["type"] == "category":
                value, source, score = app["category"], "categories.yaml", factor_score(factor, "", None, app["category"])
            elif fact is None:
                value, source, score = None, None, None
            else:
                value, source = fact["value"], fact["source"]
                score = factor_score(factor, fact["value"], fact.get("as_of"))
            counted = score
            if counted is None and weights.na == "zero" and decl["type"] != "text":
                counted = 0.0
            rows.append({"factor": factor, "label": decl["label"], "value": value, "score": score,
                         "weight": weight, "counted": counted if weight else None, "source": source})
            if weight and counted is not None:
                gw += weight
                gs += weight * counted
        group_score = gs / gw if gw else None
        group_weight = weights.groups[group]
        out_groups.append({"group": group, "weight": group_weight, "score": group_score, "factors": rows})
        if group_weight and group_score is not None:
            total_w += group_weight
            total += group_weight * group_score
    computed = total / total_w if total_w else None
    result = {"app_id": app_id, "name": app["name"], "category": app["category"],
              "score": computed, "computed_score": computed, "na": weights.na,
              "catalog_version": catalog.version, "weights_hash": weights.hash, "groups": out_groups}
    if override and override.score is not None:
        result["score"] = override.score
        result["override"] = {"score": override.score, "note": override.note}
    elif override:
        result["override"] = {"facts": override.facts, "note": override.note}
    return result


def app_scores(scoring: Scoring) -> pa.Table:
    """app_id, score for every app of the catalog."""
    ids = scoring.catalog.apps.column("app_id").to_pylist()
    return pa.table({"app_id": pa.array(ids, pa.string()),
                     "score": pa.array([explain(scoring, i)["score"] for i in ids], pa.float64())})


def app_risk(lake, catalog: Catalog | None = None) -> tuple[pa.Table, dict]:
    """(app_id, score, tag for every catalog app; what they were computed from) for reports."""
    from etl.catalog.tags import current

    scoring = lake_scoring(lake, catalog)
    tags = current(lake)
    scores = app_scores(scoring)
    tag = pa.array([tags.get(app_id, "none") for app_id in scores.column("app_id").to_pylist()], pa.string())
    body = json.dumps(sorted(tags.items()))
    identity = {**scoring.identity, "tags_hash": hashlib.sha256(body.encode()).hexdigest()[:12]}
    return scores.append_column("tag", tag), identity
