"""
### Snapshot reports from uploaded logs

Turns every new or changed file under `uploads/<data-source>/` in the lake
(`CLOUD_DISCOVERY_LAKE`) into a snapshot report `snapshots/<snapshot_id>/<table>/`:

1. **find_uploads** lists uploads whose object fingerprint (S3 ETag, or size and mtime) differs
   from the one their last snapshot was built from;
2. **build_snapshot** runs once per upload (dynamic task mapping): detects or uses the declared
   format, parses every archive member, quarantines what cannot be read, attributes each line
   to a machine (source IP and time against the endpoint IP history) and a user, matches the
   catalog, and writes the report tables, the manifest last. Identical bytes give the same
   snapshot id: a re-upload of the same content does nothing;
3. **refresh_continuous_days** rebuilds the committed continuous days whose set of covering
   snapshots changed, so uploaded appliance traffic appears in the daily reports.

Scheduled every 15 minutes rather than triggered by an Asset: files are dropped into the bucket
by any S3 client, which emits no Airflow asset events. All logic lives in `etl.snapshot`.
"""
from __future__ import annotations

import os
from datetime import timedelta

import pendulum
from airflow.sdk import dag, task

START_DATE = pendulum.parse(os.environ.get("CLOUD_DISCOVERY_START_DATE", "2026-11-01"), tz="UTC")


@dag(
    dag_id="snapshot_reports",
    schedule=timedelta(minutes=15),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 1, "retry_delay": timedelta(minutes=2), "owner": "cloud-discovery"},
    tags=["cloud-discovery", "uploads", "snapshots"],
    doc_md=__doc__,
)
def snapshot_reports():
    @task
    def find_uploads() -> list[dict]:
        from etl.snapshot import find_uploads
        from etl.storage import Lake

        return [upload.as_dict() for upload in find_uploads(Lake(None))]

    @task(max_active_tis_per_dagrun=2)
    def build_snapshot(upload: dict) -> dict:
        from etl.ingest import Settings
        from etl.snapshot import build_snapshot

        manifest = build_snapshot(None, upload, Settings.from_env())
        return {"snapshot_id": manifest["snapshot_id"], "path": upload["path"],
                "transactions": manifest["counts"]["accepted"], "unchanged": manifest.get("unchanged", False)}

    @task(trigger_rule="none_failed")
    def refresh_continuous_days(built: list[dict]) -> list[dict]:
        from etl.ingest import Settings
        from etl.snapshot import refresh_days

        return refresh_days(None, Settings.from_env())

    refresh_continuous_days(build_snapshot.expand(upload=find_uploads()))


snapshot_reports()
