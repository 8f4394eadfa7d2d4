"""A day end to end against a real S3-compatible HTTP server (moto's ThreadedMotoServer on
127.0.0.1, see the `s3_endpoint` fixture): upload a generated lake, run it on s3://, read the
results back with pyarrow over s3fs, compare with the same day run on a local copy."""
from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.builders import output_digests, output_file_names
from tests.conftest import DEMO_DAY

BUCKET = "lake-test"
REPORT_TABLES = ["traffic", "machines", "machine_apps", "machine_users", "machine_ips", "apps", "users",
                 "ip_addresses", "unknown_domains"]
MANIFEST = f"_manifests/reports/date={DEMO_DAY.isoformat()}.json"


def _s3(endpoint):
    """A fresh s3fs client (not fsspec's cached instance, so nothing is served from a listing cache)."""
    import s3fs

    return s3fs.S3FileSystem(endpoint_url=endpoint, key="testing", secret="testing",
                             client_kwargs={"region_name": "us-east-1"}, skip_instance_cache=True)


def _upload(endpoint, local_root: Path, prefix: str) -> int:
    import boto3

    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    count = 0
    for path in sorted(local_root.rglob("*")):
        if path.is_file():
            client.put_object(Bucket=BUCKET, Key=f"{prefix}/{path.relative_to(local_root).as_posix()}",
                              Body=path.read_bytes())
            count += 1
    return count


def _sorted(table, keys):
    return table.sort_by([(k, "ascending") for k in keys])


@pytest.fixture(scope="module")
def s3_day(s3_endpoint, generated_lake_template, tmp_path_factory):
    """The DEMO_DAY run twice on s3:// and once on a local copy of the same lake."""
    import shutil

    from etl.pipeline import run_day

    prefix = f"lakes/{uuid.uuid4().hex[:10]}"
    url = f"s3://{BUCKET}/{prefix}"
    uploaded = _upload(s3_endpoint, generated_lake_template, prefix)
    local = tmp_path_factory.mktemp("s3-local") / "lake"
    shutil.copytree(generated_lake_template, local)

    fs = _s3(s3_endpoint)
    first = run_day(url, DEMO_DAY)
    first_manifest = json.loads(fs.cat_file(f"{BUCKET}/{prefix}/{MANIFEST}"))
    second = run_day(url, DEMO_DAY)
    second_manifest = json.loads(fs.cat_file(f"{BUCKET}/{prefix}/{MANIFEST}"))
    run_day(str(local), DEMO_DAY)
    local_manifest = json.loads((local / MANIFEST).read_text())
    return {"url": url, "prefix": prefix, "uploaded": uploaded, "local": local, "fs": fs,
            "results": (first, second), "manifests": (first_manifest, second_manifest), "local_manifest": local_manifest}


def test_manifest_on_s3_reconciles(s3_day):
    assert s3_day["uploaded"] > 100
    manifest = s3_day["manifests"][1]
    assert manifest["date"] == DEMO_DAY.isoformat()
    assert set(manifest["counts"]) == {"mde", "ocsf"}
    for source, c in manifest["counts"].items():
        assert c["reconciled"] is True, source
        assert c["read"] == (c["accepted"] + c["context"] + sum(c["skipped"].values())
                             + sum(c["quarantined"].values()) + c["other_day"]), source
        assert c["read"] > 0
    # inputs are lake-relative and their checksums are those of the uploaded objects
    fs, prefix = s3_day["fs"], s3_day["prefix"]
    for entry in manifest["inputs"][:20]:
        assert not entry["path"].startswith(("s3:", BUCKET, "/")), entry["path"]
        data = fs.cat_file(f"{BUCKET}/{prefix}/{entry['path']}")
        assert entry["size"] == len(data)
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
    assert manifest["outputs"]["traffic"]["rows"] == s3_day["results"][1]["transactions"] > 0


def test_report_partitions_readable_with_pyarrow_over_s3fs(s3_day):
    fs, prefix = s3_day["fs"], s3_day["prefix"]
    manifest = s3_day["manifests"][1]
    for table in REPORT_TABLES:
        entry = manifest["outputs"][table]
        assert pq.read_table(f"{BUCKET}/{prefix}/{entry['path']}", filesystem=fs).num_rows == entry["rows"], table
        for file in entry["files"]:
            key = f"{BUCKET}/{prefix}/{file['path']}"
            assert fs.exists(key), key
            assert pq.read_table(key, filesystem=fs).num_rows == file["rows"], table
            assert fs.size(key) == file["bytes"], table
            assert hashlib.sha256(fs.cat_file(key)).hexdigest() == file["sha256"], table
    machines = pq.read_table(f"{BUCKET}/{prefix}/reports/machines/date={DEMO_DAY.isoformat()}/part-0.parquet",
                             filesystem=fs)
    assert machines.num_rows == 12


def test_nothing_left_in_staging_on_s3(s3_day):
    fs, prefix = s3_day["fs"], s3_day["prefix"]
    leftovers = fs.find(f"{BUCKET}/{prefix}/_staging") if fs.exists(f"{BUCKET}/{prefix}/_staging") else []
    assert leftovers == []


def test_s3_results_equal_local_results(s3_day):
    fs, prefix, local = s3_day["fs"], s3_day["prefix"], s3_day["local"]
    part = f"date={DEMO_DAY.isoformat()}"
    for table, keys in (("machines", ["device_id"]), ("traffic", ["input_path", "input_line"])):
        on_s3 = pq.read_table(f"{BUCKET}/{prefix}/reports/{table}/{part}", filesystem=fs)
        on_disk = pq.read_table(local / "reports" / table / part)
        assert on_s3.num_rows > 0
        assert _sorted(on_s3, keys).equals(_sorted(on_disk, keys)), f"{table}: s3 and local runs differ"
    s3_manifest, local_manifest = s3_day["manifests"][1], s3_day["local_manifest"]
    assert s3_manifest["counts"] == local_manifest["counts"]
    assert [(i["path"], i["sha256"]) for i in s3_manifest["inputs"]] == \
        [(i["path"], i["sha256"]) for i in local_manifest["inputs"]]
    # bit-exact: the same input gives the same files wherever the lake lives
    assert output_digests(s3_manifest) == output_digests(local_manifest)


def test_rerun_on_s3_is_idempotent(s3_day):
    fs, prefix = s3_day["fs"], s3_day["prefix"]
    first, second = s3_day["manifests"]
    assert first["run_id"] != second["run_id"]
    for table in REPORT_TABLES:
        files = fs.find(f"{BUCKET}/{prefix}/reports/{table}/date={DEMO_DAY.isoformat()}")
        assert sorted(f.rsplit("/", 1)[-1] for f in files) == output_file_names(second, table), (table, files)
        assert output_digests(first)[table] == output_digests(second)[table], table
        assert first["outputs"][table]["rows"] == second["outputs"][table]["rows"], table
    # exactly one manifest for the day
    manifests = fs.find(f"{BUCKET}/{prefix}/_manifests")
    assert [m.rsplit("/", 1)[-1] for m in manifests] == [f"date={DEMO_DAY.isoformat()}.json"]


def test_cli_report_against_s3(s3_day, capsys):
    from etl.cli import main

    day = DEMO_DAY.isoformat()
    code = main(["--lake", s3_day["url"], "report", "apps", "--from", day, "--to", day, "--format", "json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    rows = json.loads(out)  # one document
    assert len(rows) == s3_day["manifests"][1]["outputs"]["apps"]["rows"]
    assert all("app_id" in row and "transactions" in row for row in rows)
    assert sum(r["transactions"] for r in rows) > 0

    code = main(["--lake", s3_day["url"], "report", "machines", "--from", day, "--to", day, "--format", "csv"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert len(out.strip().splitlines()) == 1 + 12

    # a user's view reads only their traffic rows, with the filter pushed down, over S3 too
    main(["--lake", s3_day["url"], "report", "users", "--from", day, "--to", day, "--format", "json"])
    busiest = json.loads(capsys.readouterr().out)[0]
    code = main(["--lake", s3_day["url"], "report", "user", busiest["user"].upper(), "--from", day, "--to", day,
                 "--format", "json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    views = json.loads(out)["views"]
    assert sum(r["transactions"] for r in views["IP addresses"]) == busiest["transactions"]


def test_uploads_on_s3_become_snapshots_deduplicated_by_etag(s3_endpoint, tmp_path, capsys):
    """An upload dropped by any S3 client (boto3 here) is found, built, and not rebuilt while
    its ETag stands; the CLI reads its report over S3."""
    import boto3

    from etl.cli import main
    from etl.snapshot import build_snapshot, find_uploads
    from etl.storage import Lake
    from tests.builders import lines, ocsf_event

    prefix = f"uploads-{uuid.uuid4().hex[:8]}"
    url = f"s3://{BUCKET}/{prefix}"
    body = lines([ocsf_event(1_763_630_000_000 + i * 1000, host="www.dropbox.com") for i in range(5)])
    boto3.client("s3", endpoint_url=s3_endpoint).put_object(
        Bucket=BUCKET, Key=f"{prefix}/uploads/agents/feed.json", Body=body)
    lake = Lake(url)
    waiting = find_uploads(lake)
    assert [u.path for u in waiting] == ["uploads/agents/feed.json"]
    assert waiting[0].fingerprint.startswith("etag:")
    manifest = build_snapshot(url, waiting[0])
    assert manifest["counts"]["accepted"] == 5 and manifest["inputs"][0]["sha256"] == hashlib.sha256(body).hexdigest()
    assert find_uploads(lake) == []
    code = main(["--lake", url, "report", "apps", "--snapshot", manifest["snapshot_id"], "--format", "json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert [row["app_id"] for row in json.loads(out)] == ["dropbox"]
