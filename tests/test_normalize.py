import pyarrow as pa
import pytest

from etl.catalog import registered_domain, shipped_catalog
from etl.normalize import blank_to_null, clean_host, json_field, map_unique


@pytest.mark.parametrize("given, expect", [
    ("https://Drive.Google.com/file/d/1?x=2", "drive.google.com"),
    ("www.dropbox.com:443", "www.dropbox.com"),
    ("http://user:pw@files.example.org/a", "files.example.org"),
    ("teams.microsoft.com.", "teams.microsoft.com"),
    ("[2001:db8::1]:8080", "2001:db8::1"),
    ("2001:db8::1", "2001:db8::1"),
    ("-", None),
    ("", None),
    (None, None),
])
def test_clean_host(given, expect):
    assert clean_host(pa.array([given], pa.string())).to_pylist() == [expect]


def test_blank_to_null_handles_export_placeholders():
    assert blank_to_null(pa.array(["-", " 10.0.0.1 ", "", None, "N/A"])).to_pylist() == [
        None, "10.0.0.1", None, None, None]


def test_json_field_reads_json_and_python_dict_text():
    given = pa.array(['{"direction":"Out","host":"www.gstatic.com"}',
                      "{'direction': 'In', 'server_name': 'x.example.com'}",
                      None, "not json"])
    assert json_field(given, "host").to_pylist() == ["www.gstatic.com", None, None, None]
    assert json_field(given, "server_name").to_pylist() == [None, "x.example.com", None, None]
    assert json_field(given, "direction").to_pylist() == ["Out", "In", None, None]


def test_map_unique_calls_once_per_distinct_value():
    calls = []

    def upper(v):
        calls.append(v)
        return v.upper()

    out = map_unique(pa.chunked_array([["a", "b"], ["a", None, "b"]]), upper, pa.string())
    assert out.to_pylist() == ["A", "B", "A", None, "B"]
    assert sorted(calls) == ["a", "b"]


@pytest.mark.parametrize("host, app", [
    ("www.dropbox.com", "dropbox"),
    ("dropbox.com", "dropbox"),
    ("mydropbox.com", None),
    ("teams.microsoft.com", "microsoft_teams"),
    ("contoso.sharepoint.com", "microsoft_sharepoint"),
    ("api.openai.com", "openai_api"),
    ("chatgpt.com", "openai_chatgpt"),
    ("unknown.example.net", None),
])
def test_catalog_longest_suffix_match(host, app):
    assert shipped_catalog().match(pa.array([host])).column("app_id").to_pylist() == [app]


def test_catalog_match_returns_name_and_category_with_nulls_for_no_host():
    matched = shipped_catalog().match(pa.array(["files.slack.com", None]))
    assert matched.to_pylist()[0]["app_id"] == "slack"
    assert matched.to_pylist()[0]["category"]
    assert matched.to_pylist()[1] == {"app_id": None, "app_name": None, "category": None}


@pytest.mark.parametrize("host, domain", [
    ("a.b.example.co.uk", "example.co.uk"),
    ("cdn.fileshare-xyz.net", "fileshare-xyz.net"),
    ("10.1.2.3", "10.1.2.3"),
    ("localhost", "localhost"),
])
def test_registered_domain_offline(host, domain):
    assert registered_domain(host) == domain


def test_distinct_value_path_matches_the_direct_path():
    """Long arrays are transformed once per distinct value; the result must not change."""
    hosts = ["https://Drive.Google.com/x", "www.dropbox.com:443", None, "-", "a.b.example.co.uk."] * 500
    expected = [None if h in (None, "-") else clean_host(pa.array([h])).to_pylist()[0] for h in hosts]
    assert clean_host(pa.array(hosts)).to_pylist() == expected
    extra = ['{"host":"h.example.com"}', "{'host': 'x.example.org'}", None] * 700
    assert json_field(pa.array(extra), "host").to_pylist() == ["h.example.com", "x.example.org", None] * 700


def test_keep_filters_and_skips_the_copy_when_every_row_stays():
    from etl.normalize import keep

    table = pa.table({"x": [1, 2, 3]})
    assert keep(table, pa.array([True, True, True])) is table
    assert keep(table, pa.array([True, False, True])).column("x").to_pylist() == [1, 3]
    assert keep(table, pa.array([True, None, True])).column("x").to_pylist() == [1, 3]  # null drops, as filter does
    assert keep(table, pa.array([False, False, False])).num_rows == 0
