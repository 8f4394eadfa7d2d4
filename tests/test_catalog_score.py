"""Risk scores from tiny given catalogs: factor rules, weighted means, N/A policy, overrides,
weights from the lake, custom apps and IP ranges, tags."""
from __future__ import annotations

from datetime import datetime, timezone

import pyarrow as pa
import pytest

from etl.catalog import build_catalog, lake_catalog
from etl.catalog.score import Scoring, app_risk, explain, factor_score, lake_scoring, make_overrides, make_weights
from etl.catalog.tags import current, history, set_tag
from etl.errors import UserError
from etl.storage import Lake, catalog_reference_path

APPS = b"""app_id,name,vendor,category,domains,ip_ranges,source
safebox,SafeBox,"SafeBox, Inc.",Cloud storage,safebox.example files.safebox.example,,vendor
pastey,Pastey,,Paste site,pastey.example,198.51.100.0/24,vendor
bare,Bare,,Collaboration,bare.example,,vendor
"""
FACTS = b"""app_id,factor,value,source,as_of
safebox,founded,2007,https://example.org/safebox,2026-12-03
safebox,mfa,true,https://safebox.example/security,2026-12-03
safebox,saml_sso,false,https://safebox.example/security,2026-12-03
safebox,soc2,true,https://safebox.example/trust,2026-12-03
safebox,gdpr,true,https://safebox.example/dpa,2026-12-03
safebox,latest_breach,2024-06-01,https://news.example/safebox,2026-12-03
"""


def scoring(weights=None, overrides=None, apps=APPS):
    return Scoring(build_catalog(apps, FACTS), make_weights(weights), make_overrides(overrides))


def reproduce(result: dict) -> float:
    """The documented rule, applied to what `explain` shows."""
    groups = [(g["weight"], g["score"]) for g in result["groups"] if g["weight"] and g["score"] is not None]
    return sum(w * s for w, s in groups) / sum(w for w, _ in groups)


@pytest.mark.parametrize(("factor", "value", "expected"), [
    ("mfa", "true", 10), ("mfa", "false", 0), ("file_sharing", "true", 3),
    ("founded", "2007", 10), ("founded", "2020", 6), ("founded", "2025", 2),
    ("latest_breach", "2024-06-01", 3), ("latest_breach", "2018-01-01", 7),
    ("holding", "public", 10), ("ndpi_breed", "Potentially Dangerous", 0),
    ("terms_of_service", "https://x.example/tos", 10), ("hq_country", "US", None), ("mfa", "maybe", None),
])
def test_each_factor_type_scores_its_value(factor, value, expected):
    assert factor_score(factor, value, "2026-12-03") == expected


def test_a_score_is_the_weighted_mean_of_group_scores_of_weighted_factor_means():
    result = explain(scoring(), "safebox")
    by_group = {g["group"]: g for g in result["groups"]}
    security = {f["factor"]: f for f in by_group["security"]["factors"]}
    # security: mfa 10 (high 3), saml 0 (high 3), breach 2.4 years ago -> 3 (high 3); the rest N/A, left out
    assert by_group["security"]["score"] == pytest.approx((3 * 10 + 3 * 0 + 3 * 3) / 9)
    assert security["mfa"]["source"] == "https://safebox.example/security" and security["audit_trail"]["value"] is None
    # general: category Cloud storage 6 (medium 2), founded 2007 -> 10 (low 1)
    assert by_group["general"]["score"] == pytest.approx((2 * 6 + 1 * 10) / 3)
    assert result["score"] == pytest.approx(reproduce(result))


def test_na_as_zero_lowers_an_app_with_undocumented_factors():
    excluded = explain(scoring(), "safebox")["score"]
    zero = explain(scoring({"na": "zero"}), "safebox")["score"]
    assert zero < excluded
    assert explain(scoring({"na": "zero"}), "bare")["score"] < explain(scoring(), "bare")["score"]


def test_weights_from_the_lake_change_scores_and_the_weights_hash():
    base, tuned = scoring(), scoring({"groups": {"general": "ignored"}, "factors": {"saml_sso": "ignored"}})
    assert tuned.weights.hash != base.weights.hash
    result = explain(tuned, "safebox")
    assert result["score"] == pytest.approx(reproduce(result)) and result["score"] != explain(base, "safebox")["score"]
    with pytest.raises(UserError, match="unknown factor 'sso'"):
        make_weights({"factors": {"sso": "high"}})
    with pytest.raises(UserError, match="weight 'huge'"):
        make_weights({"groups": {"security": "huge"}})


def test_an_override_sets_a_score_or_facts_and_needs_a_note():
    fixed = explain(scoring(overrides={"pastey": {"score": 9, "note": "internal mirror, reviewed"}}), "pastey")
    assert fixed["score"] == 9 and fixed["computed_score"] < 9 and fixed["override"]["note"] == "internal mirror, reviewed"
    facts = explain(scoring(overrides={"bare": {"facts": {"soc2": True}, "note": "report received 2026-11"}}), "bare")
    soc2 = next(f for g in facts["groups"] for f in g["factors"] if f["factor"] == "soc2")
    assert soc2["value"] == "true" and soc2["source"] == "override: report received 2026-11"
    with pytest.raises(UserError, match="needs a `note`"):
        make_overrides({"bare": {"score": 5}})


def test_an_app_with_only_its_category_is_scored_by_it():
    result = explain(scoring(), "pastey")
    assert result["score"] == 2.0  # Paste site's category risk, the only documented factor


def test_custom_apps_take_precedence_and_apps_known_by_ip_range_match_by_dest_ip(tmp_path):
    lake = Lake(str(tmp_path))
    lake.write_bytes(catalog_reference_path("apps.csv"),
                     b"app_id,name,vendor,category,domains,ip_ranges,source\n"
                     b"contoso_wiki,Contoso Wiki,Contoso,Collaboration,wiki.contoso.example slack.com,10.9.0.0/16,org\n")
    catalog = lake_catalog(lake)
    matched = catalog.match(pa.array(["slack.com", "files.slack.com", None, "x.unknown.example"]),
                            pa.array(["1.1.1.1", "1.1.1.1", "10.9.3.4", "10.9.3.5"]))
    # the org's domain wins slack.com itself; the shipped app keeps its other domains
    assert matched.column("app_id").to_pylist() == ["contoso_wiki", "contoso_wiki", "contoso_wiki", "contoso_wiki"]
    assert "+org." in catalog.version
    lake.write_bytes(catalog_reference_path("apps.csv"), b"app_id,name,vendor,category,domains,ip_ranges,source\nx,X,,Not a category,x.example,,org\n")
    with pytest.raises(UserError, match="line 2: category 'Not a category'"):
        lake_catalog(lake)


def test_tags_keep_a_history_and_the_latest_wins_in_the_apps_risk(tmp_path):
    lake = Lake(str(tmp_path))
    t = datetime(2026, 12, 1, 9, tzinfo=timezone.utc)
    set_tag(lake, "dropbox", "unsanctioned", note="use OneDrive", who="alice", when=t)
    set_tag(lake, "dropbox", "monitored", who="bob", when=t.replace(hour=10))
    set_tag(lake, "slack", "sanctioned", who="bob", when=t.replace(hour=11))
    assert [(e["old"], e["tag"], e["who"]) for e in history(lake, "dropbox")] == [
        ("none", "unsanctioned", "alice"), ("unsanctioned", "monitored", "bob")]
    assert current(lake) == {"dropbox": "monitored", "slack": "sanctioned"}
    risk, identity = app_risk(lake)
    tags = dict(zip(risk.column("app_id").to_pylist(), risk.column("tag").to_pylist()))
    assert tags["dropbox"] == "monitored" and tags["slack"] == "sanctioned" and tags["box"] == "none"
    assert set(identity) == {"catalog_version", "weights_hash", "overrides_hash", "tags_hash"}
    with pytest.raises(UserError, match="tag must be one of"):
        set_tag(lake, "slack", "approved")
    assert lake_scoring(lake).weights.na == "exclude"
