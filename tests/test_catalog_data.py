"""Data-integrity tests for the shipped app catalog (etl/catalog/apps.csv).

These tests read only the shipped CSV, using pyarrow's CSV reader with default
options, so they also check that the file stays machine-parseable.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pyarrow.csv as pacsv
import pytest

CATALOG_PATH = Path(__file__).resolve().parents[1] / "etl" / "catalog" / "apps.csv"

EXPECTED_COLUMNS = ["app_id", "name", "vendor", "category", "domains"]

CATEGORIES = frozenset(
    {
        "Cloud storage",
        "Collaboration",
        "Communication",
        "Online meeting",
        "Webmail",
        "Productivity",
        "Generative AI",
        "CRM",
        "Code hosting",
        "Developer tools",
        "IT services",
        "Cloud computing platform",
        "Content delivery",
        "Social network",
        "Media and streaming",
        "Marketing",
        "Human resources",
        "Finance and accounting",
        "Security",
        "Identity and access",
        "File transfer",
        "Project management",
        "Design",
        "E-commerce",
        "Search engine",
        "Operating system and updates",
        "Remote access",
        "Anonymizer and VPN",
        "Gaming",
        "News and information",
        "Advertising and analytics",
        "Education",
        "Travel",
    }
)

MIN_APPS = 120
APP_ID_RE = re.compile(r"^[a-z0-9_]+$")
# One or more DNS labels of [a-z0-9-], separated by single dots, at least one dot,
# no leading/trailing dot or hyphen inside a label edge.
DOMAIN_RE = re.compile(r"^(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")


@pytest.fixture(scope="module")
def table():
    return pacsv.read_csv(CATALOG_PATH)


@pytest.fixture(scope="module")
def rows(table):
    return table.to_pylist()


@pytest.fixture(scope="module")
def suffix_to_app(rows):
    mapping = {}
    for row in rows:
        for domain in row["domains"].split(" "):
            mapping[domain] = row["app_id"]
    return mapping


def match_host(host: str, suffix_to_app: dict[str, str]) -> str | None:
    """Longest-suffix match: host equals a suffix or ends with '.' + suffix."""
    host = host.lower().rstrip(".")
    best_len, best_app = -1, None
    for suffix, app_id in suffix_to_app.items():
        if (host == suffix or host.endswith("." + suffix)) and len(suffix) > best_len:
            best_len, best_app = len(suffix), app_id
    return best_app


def test_file_is_utf8_without_comment_lines():
    text = CATALOG_PATH.read_bytes().decode("utf-8")
    for lineno, line in enumerate(text.splitlines(), start=1):
        assert line.strip(), f"blank line {lineno}"
        assert not line.lstrip().startswith("#"), f"comment line {lineno}: {line!r}"


def test_header_is_exactly_the_five_columns(table):
    assert table.column_names == EXPECTED_COLUMNS


def test_all_columns_are_non_empty_strings(rows):
    for row in rows:
        for col in EXPECTED_COLUMNS:
            value = row[col]
            assert isinstance(value, str), (row, col)
            assert value.strip() == value and value, (row["app_id"], col, value)


def test_at_least_min_apps(rows):
    assert len(rows) >= MIN_APPS


def test_app_ids_are_slugs(rows):
    bad = [r["app_id"] for r in rows if not APP_ID_RE.match(r["app_id"] or "")]
    assert not bad, bad


def test_app_ids_are_unique(rows):
    dupes = [k for k, n in Counter(r["app_id"] for r in rows).items() if n > 1]
    assert not dupes, dupes


def test_categories_are_in_vocabulary(rows):
    bad = {(r["app_id"], r["category"]) for r in rows if r["category"] not in CATEGORIES}
    assert not bad, sorted(bad)


def test_domains_are_well_formed(rows):
    problems = []
    for row in rows:
        raw = row["domains"]
        if raw != raw.strip() or "  " in raw or not raw:
            problems.append((row["app_id"], "spacing", raw))
        for domain in raw.split(" "):
            if not domain:
                continue
            reasons = []
            if domain != domain.lower():
                reasons.append("not lower case")
            if "." not in domain:
                reasons.append("no dot")
            if "://" in domain or "/" in domain:
                reasons.append("scheme or path")
            if "*" in domain:
                reasons.append("wildcard")
            if domain.startswith(".") or domain.endswith("."):
                reasons.append("leading/trailing dot")
            if any(ch.isspace() for ch in domain):
                reasons.append("whitespace")
            if not DOMAIN_RE.match(domain):
                reasons.append("not a hostname suffix")
            if reasons:
                problems.append((row["app_id"], domain, reasons))
    assert not problems, problems


def test_no_domain_listed_twice(rows):
    counts = Counter(d for r in rows for d in r["domains"].split(" ") if d)
    dupes = sorted(d for d, n in counts.items() if n > 1)
    assert not dupes, dupes


def test_most_of_the_vocabulary_is_used(rows):
    # Guard against a category typo being "fixed" by silently never using it:
    # most of the vocabulary should actually be in use.
    used = {r["category"] for r in rows}
    assert len(used) >= len(CATEGORIES) - 3, sorted(CATEGORIES - used)


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("www.dropbox.com", "dropbox"),
        ("dropbox.com", "dropbox"),
        ("mydropbox.com", None),
        ("teams.microsoft.com", "microsoft_teams"),
        ("drive.google.com", "google_drive"),
        ("docs.google.com", "google_docs"),
        ("mail.google.com", "gmail"),
        ("www.google.com", "google_search"),
        ("chatgpt.com", "openai_chatgpt"),
        ("chat.openai.com", "openai_chatgpt"),
        ("api.openai.com", "openai_api"),
        ("onedrive.live.com", "microsoft_onedrive"),
        ("outlook.office365.com", "microsoft_outlook"),
        ("contoso.sharepoint.com", "microsoft_sharepoint"),
        ("mybucket.s3.amazonaws.com", "amazon_web_services"),
        ("myapp.azurewebsites.net", "microsoft_azure"),
        ("claude.ai", "anthropic_claude"),
        ("api.github.com", "github"),
        ("raw.githubusercontent.com", "github"),
        ("example.invalid", None),
    ],
)
def test_spot_check_longest_suffix_match(host, expected, suffix_to_app):
    assert match_host(host, suffix_to_app) == expected


def test_match_helper_prefers_longest_suffix():
    table = {"example.com": "generic", "app.example.com": "specific"}
    assert match_host("x.app.example.com", table) == "specific"
    assert match_host("other.example.com", table) == "generic"
    assert match_host("notexample.com", table) is None
