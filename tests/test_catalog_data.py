"""The shipped catalog (etl/catalog/apps.csv, facts.csv) keeps its contract: schemas/catalog.yaml,
the categories and factors it declares, every fact sourced and typed, every domain one app's."""
from __future__ import annotations

import csv
import re
from collections import Counter

import pyarrow as pa
import pytest

from etl.catalog import APPS_CSV, FACTS_CSV, categories, shipped_catalog
from etl.catalog.score import factor_score, factors

DOMAIN_RE = re.compile(r"^(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")
# Suffixes under which other parties' content is served: the registered domain (from the public
# suffix list) names the party, so no app may claim the whole platform.
SHARED_PLATFORMS = {"amazonaws.com", "cloudfront.net", "googleusercontent.com", "azureedge.net", "appspot.com",
                    "herokuapp.com", "azurewebsites.net", "github.io", "blob.core.windows.net", "windows.net",
                    "cloudapp.net", "azurefd.net", "run.app", "cloudfunctions.net", "workers.dev", "pages.dev",
                    "akamaized.net", "akamaihd.net", "edgesuite.net", "edgekey.net", "fastly.net", "netlify.app",
                    "vercel.app", "web.app", "firebaseapp.com"}


# Public-suffix-list (private section) entries an app may still hold, because what is served
# under them is that app's own service: uploads to ChatGPT, GitHub raw content, tunnels.
VENDOR_SERVICE_SUFFIXES = {"githubusercontent.com", "oaiusercontent.com", "ngrok.io", "ngrok.app", "ngrok-free.app",
                           "trycloudflare.com", "ts.net"}


class _PrivateSuffixes:
    def __init__(self):
        from publicsuffixlist import PublicSuffixList
        self.all, self.icann = PublicSuffixList(only_icann=False), PublicSuffixList(only_icann=True)

    def is_private(self, domain: str) -> bool:
        """A suffix under which others register names (x.notion.site is someone's page)."""
        probe = "x." + domain
        return self.all.publicsuffix(probe) == probe or (self.all.is_public(domain) and not self.icann.is_public(domain))


_psl = _PrivateSuffixes()


@pytest.fixture(scope="module")
def apps() -> list[dict]:
    return list(csv.DictReader(APPS_CSV.open(encoding="utf-8")))


@pytest.fixture(scope="module")
def facts() -> list[dict]:
    return list(csv.DictReader(FACTS_CSV.open(encoding="utf-8")))


def test_the_catalog_loads_through_its_own_checks():
    catalog = shipped_catalog()  # build_catalog raises on a schema, category, duplicate or CIDR problem
    assert catalog.apps.num_rows >= 500


def test_500_apps_in_30_categories_with_every_category_used(apps):
    per_category = Counter(a["category"] for a in apps)
    assert len(apps) >= 500
    assert len(per_category) >= 30
    assert set(per_category) <= set(categories())
    thin = sorted(c for c, n in per_category.items() if n < 5)
    assert not thin, thin


def test_domains_are_hostname_suffixes_held_by_one_app_each_and_no_shared_platform(apps):
    held = Counter(d for a in apps for d in (a["domains"] or "").split())
    assert not [d for d, n in held.items() if n > 1]
    assert not [d for d in held if not DOMAIN_RE.match(d)]
    assert not SHARED_PLATFORMS & set(held)
    assert not [d for d in held if _psl.is_private(d) and d not in VENDOR_SERVICE_SUFFIXES]
    assert all(a["domains"] or a["ip_ranges"] for a in apps), "an app with nothing to match it by"


def test_every_fact_is_a_declared_factor_with_a_scorable_value_a_source_and_a_date(apps, facts):
    ids = {a["app_id"] for a in apps}
    assert len(facts) >= 500
    pairs = [(f["app_id"], f["factor"]) for f in facts]
    assert len(pairs) == len(set(pairs)), "an app with two values for one factor"
    for fact in facts:
        assert fact["app_id"] in ids, fact
        assert fact["factor"] in factors() and fact["factor"] != "category", fact
        assert fact["source"].startswith(("https://", "http://", "ndpi")), fact
        assert re.match(r"^\d{4}-\d{2}-\d{2}$", fact["as_of"]), fact
        if factors()[fact["factor"]]["type"] != "text":
            assert factor_score(fact["factor"], fact["value"], fact["as_of"]) is not None, fact


def test_the_four_groups_all_have_documented_facts(facts):
    by_group = Counter(factors()[f["factor"]]["group"] for f in facts)
    assert all(by_group[g] >= 50 for g in ("general", "security", "compliance", "legal")), by_group


@pytest.mark.parametrize(("host", "expected"), [
    ("www.dropbox.com", "dropbox"),
    ("mydropbox.com", None),
    ("teams.microsoft.com", "microsoft_teams"),
    ("drive.google.com", "google_drive"),
    ("mail.google.com", "gmail"),
    ("www.google.com", "google_search"),
    ("chat.openai.com", "openai_chatgpt"),
    ("api.openai.com", "openai_api"),
    ("contoso.sharepoint.com", "microsoft_sharepoint"),
    ("claude.ai", "anthropic_claude"),
    ("raw.githubusercontent.com", "github"),
    ("pastebin.com", "pastebin"),
    ("example.invalid", None),
])
def test_hosts_match_their_app_by_longest_suffix(host, expected):
    assert shipped_catalog().match(pa.array([host])).column("app_id").to_pylist() == [expected]


@pytest.mark.parametrize(("ip", "expected"), [("149.154.167.51", "telegram"), ("2001:b28:f23d:f001::a", "telegram"),
                                              ("149.154.176.1", None), ("10.1.2.3", None)])
def test_an_app_known_by_address_matches_a_host_less_row_by_ip(ip, expected):
    assert shipped_catalog().match(pa.array([None], pa.string()), pa.array([ip])).column("app_id").to_pylist() == [expected]

