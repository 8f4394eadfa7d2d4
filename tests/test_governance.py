"""Governance end to end on a generated lake: tags, policies and alerts, weights, overrides and
custom apps in the lake, re-scoring committed days from Parquet, block scripts, and the catalog
commands' JSON (one document each)."""
from __future__ import annotations

import io
import json
import shutil
from contextlib import redirect_stdout
from datetime import timedelta

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from etl.catalog import lake_catalog
from etl.catalog.blocklists import FORMATS
from etl.catalog.tags import set_tag
from etl.cli import main
from etl.pipeline import run_day
from etl.query import read_table
from etl.storage import POLICIES_PREFIX, Lake, catalog_reference_path, manifest_path
from tests.conftest import DEMO_DAY

D0, D1 = DEMO_DAY, DEMO_DAY + timedelta(days=1)


def cli(*argv) -> str:
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(list(argv)) == 0
    return out.getvalue()


def cli_json(*argv) -> dict:
    return json.loads(cli(*argv, "--format", "json"))  # one document, or this raises


@pytest.fixture(scope="module")
def governed(generated_lake_template, tmp_path_factory):
    """The generated lake with dropbox tagged unsanctioned and one policy file, both days built."""
    root = tmp_path_factory.mktemp("governed") / "lake"
    shutil.copytree(generated_lake_template, root)
    lake = Lake(str(root))
    set_tag(lake, "dropbox", "unsanctioned", note="use the corporate Box", who="secops@contoso.com")
    lake.write_bytes(f"{POLICIES_PREFIX}/unsanctioned.yaml",
                     (__import__("etl.policies", fromlist=["TEMPLATES"]).TEMPLATES / "unsanctioned_app_use.yaml").read_bytes())
    for day in (D0, D1):
        run_day(str(root), day)
    return root


def _table(root, name, day):
    lake = Lake(str(root))
    files = lake.read_json(manifest_path(day))["outputs"][name]["files"]
    return pa.concat_tables([pq.read_table(root / f["path"]) for f in files])


def test_an_unsanctioned_app_alerts_once_with_evidence_and_not_the_next_day(governed):
    first, second = _table(governed, "alerts", D0), _table(governed, "alerts", D1)
    assert first.column("app_id").to_pylist() == ["dropbox"]
    alert = first.to_pylist()[0]
    traffic = _table(governed, "traffic", D0)
    mine = traffic.filter(pc.equal(traffic.column("app_id"), "dropbox"))
    assert alert["transactions"] == mine.num_rows > 0
    assert alert["bytes_up"] == pc.sum(mine.column("bytes_up")).as_py()
    assert alert["users"] == len(set(mine.column("user").drop_null().to_pylist()))
    assert set(alert["top_users"]) <= set(mine.column("user").to_pylist()) and alert["top_users"]
    assert set(alert["top_machines"]) <= set(mine.column("device_name").to_pylist()) and alert["top_machines"]
    assert alert["first_seen"] == pc.min(mine.column("ts")).as_py()
    assert alert["tag"] == "unsanctioned" and alert["dedup_until"] == (D0 + timedelta(days=90)).isoformat()
    # dropbox is used on the second day too, but its alert is inside the dedup window
    assert pc.sum(pc.equal(_table(governed, "traffic", D1).column("app_id"), "dropbox")).as_py() > 0
    assert second.num_rows == 0
    # `policy test` replays the same: once, on the first day
    replay = cli_json("--lake", str(governed), "policy", "test", "--from", D0.isoformat(), "--to", D1.isoformat())
    assert [(a["date"], a["policy_id"], a["app_id"]) for a in replay["would_fire"]] == [
        (D0.isoformat(), "unsanctioned_app_use", "dropbox")]


def test_the_apps_report_carries_the_tag_and_the_scoring_identity(governed):
    apps = _table(governed, "apps", D0)
    tags = dict(zip(apps.column("app_id").to_pylist(), apps.column("tag").to_pylist()))
    assert tags["dropbox"] == "unsanctioned" and set(tags.values()) == {"unsanctioned", "none"}
    assert pc.all(pc.is_valid(apps.column("score"))).as_py()
    manifest = Lake(str(governed)).read_json(manifest_path(D0))
    assert set(manifest["scoring"]) >= {"catalog_version", "weights_hash", "overrides_hash", "tags_hash"}
    looked_up = cli_json("--lake", str(governed), "catalog", "lookup", "www.dropbox.com")
    assert {k: looked_up[k] for k in ("app_id", "tag", "matched_pattern")} == {
        "app_id": "dropbox", "tag": "unsanctioned", "matched_pattern": "dropbox.com"}
    history = cli_json("--lake", str(governed), "tag", "--history", "dropbox")["history"]
    assert [(h["old"], h["tag"], h["who"], h["note"]) for h in history] == [
        ("none", "unsanctioned", "secops@contoso.com", "use the corporate Box")]


@pytest.fixture
def rescorable(governed, tmp_path):
    root = tmp_path / "lake"
    shutil.copytree(governed, root)
    return root


def test_rescore_applies_weights_overrides_and_tags_from_parquet_alone(rescorable):
    root, lake = rescorable, Lake(str(rescorable))
    shutil.rmtree(root / "raw")  # raw logs are never read again
    before = _table(root, "apps", D0)
    old_files = {f["path"] for out in lake.read_json(manifest_path(D0))["outputs"].values() for f in out["files"]}
    lake.write_bytes(catalog_reference_path("weights.yaml"), b"factors: {category: ignored, founded: very_high}\n")
    lake.write_bytes(catalog_reference_path("overrides.yaml"),
                     b"github: {score: 9.5, note: reviewed by security 2026-11}\n")
    set_tag(lake, "github", "sanctioned", who="secops@contoso.com")
    result = cli_json("--lake", str(root), "rescore", "--from", D0.isoformat(), "--to", D1.isoformat())
    assert [d["version"] for d in result["days"]] == [2, 2]
    assert not any(d["traffic_rematched"] for d in result["days"])  # the catalog did not change
    after = _table(root, "apps", D0)
    scores = dict(zip(after.column("app_id").to_pylist(), after.column("score").to_pylist()))
    tags = dict(zip(after.column("app_id").to_pylist(), after.column("tag").to_pylist()))
    assert scores["github"] == 9.5 and tags["github"] == "sanctioned"
    explained = cli_json("--lake", str(root), "catalog", "explain", "dropbox")
    assert scores["dropbox"] == pytest.approx(explained["score"])
    assert after.column("transactions").to_pylist() == before.column("transactions").to_pylist()
    manifest = lake.read_json(manifest_path(D0))
    assert manifest["version"] == 2 and manifest["rescored"]["previous"]["version"] is None
    assert manifest["scoring"]["weights_hash"] != manifest["rescored"]["previous"]["scoring"]["weights_hash"]
    new_files = {f["path"] for out in manifest["outputs"].values() for f in out["files"]}
    for gone in old_files - new_files:
        assert not (root / gone).exists()
    for path in new_files:
        assert (root / path).exists()
    assert _table(root, "alerts", D0).column("app_id").to_pylist() == ["dropbox"]  # the policy still holds


def test_a_custom_app_claims_unknown_traffic_on_rescore(rescorable):
    root, lake = rescorable, Lake(str(rescorable))
    unknown = _table(root, "unknown_domains", D0)
    domain = unknown.column("domain")[0].as_py()
    suggested = cli_json("--lake", str(root), "catalog", "suggest", "--from", D0.isoformat(), "--to", D0.isoformat(),
                         "--limit", "1")["suggestions"][0]
    assert suggested["domain"] == domain and suggested["transactions"] == unknown.column("transactions")[0].as_py()
    row = {**suggested["row"], "category": "Collaboration", "name": "Contoso Partner Portal"}
    lake.write_bytes(catalog_reference_path("apps.csv"),
                     ("app_id,name,vendor,category,domains,ip_ranges,source\n" +
                      ",".join(row[c] for c in ("app_id", "name", "vendor", "category", "domains", "ip_ranges", "source")) +
                      "\n").encode())
    result = cli_json("--lake", str(root), "rescore", "--from", D0.isoformat(), "--to", D0.isoformat())
    assert result["days"][0]["traffic_rematched"]
    apps = _table(root, "apps", D0)
    mine = apps.filter(pc.equal(apps.column("app_id"), row["app_id"])).to_pylist()
    assert mine and mine[0]["transactions"] == suggested["transactions"] and mine[0]["category"] == "Collaboration"
    assert domain not in _table(root, "unknown_domains", D0).column("domain").to_pylist()
    traffic = _table(root, "traffic", D0)
    assert pc.sum(pc.equal(traffic.column("app_id"), row["app_id"])).as_py() == suggested["transactions"]
    machines = _table(root, "machines", D0)
    per_device = traffic.filter(pc.is_valid(traffic.column("app_id"))).group_by("device_id").aggregate(
        [("app_id", "count_distinct")])
    expected = dict(zip(per_device.column("device_id").to_pylist(), per_device.column("app_id_count_distinct").to_pylist()))
    assert dict(zip(machines.column("device_id").to_pylist(), machines.column("apps").to_pylist())) == {
        d: expected.get(d, 0) for d in machines.column("device_id").to_pylist()}
    assert read_table(lake, "apps", D0, D1).num_rows > 0  # both versions readable through manifests


@pytest.mark.parametrize("fmt", FORMATS)
def test_block_scripts_list_every_domain_of_the_tagged_apps(governed, fmt):
    out = cli("--lake", str(governed), "block-script", "--format", fmt)
    domains = lake_catalog(Lake(str(governed))).app("dropbox")["domains"].split()
    for domain in domains:
        assert (domain.replace(".", "[.]") if fmt == "cisco_asa" else domain) in out, (fmt, domain)
    if fmt == "zscaler":
        assert sorted(json.loads(out)["urls"]) == sorted(f".{d}" for d in domains)
    if fmt == "domains":
        assert [line for line in out.splitlines() if not line.startswith("#")] == sorted(domains)
    assert "github.com" not in out  # untagged apps stay off the list


def test_catalog_stats_and_explain_are_honest_and_reproducible(governed):
    stats = cli_json("--lake", str(governed), "catalog", "stats")
    assert stats["apps"] >= 500 and stats["categories"] >= 30
    assert set(stats["coverage"]) == {"general", "security", "compliance", "legal"}
    assert all(0 < share < 1 for share in stats["coverage"].values())
    explained = cli_json("--lake", str(governed), "catalog", "explain", "Dropbox")
    groups = [(g["weight"], g["score"]) for g in explained["groups"] if g["weight"] and g["score"] is not None]
    assert explained["score"] == pytest.approx(sum(w * s for w, s in groups) / sum(w for w, _ in groups))
    table = cli("--lake", str(governed), "catalog", "explain", "dropbox")
    assert "points" in table and "categories.yaml" in table
