"""
### Continuous endpoint report

Builds one UTC day of Cloud Discovery's continuous reports from the endpoint exports in the
lake (`CLOUD_DISCOVERY_LAKE`): Defender for Endpoint streaming-API exports under `raw/mde/`
and OCSF network/HTTP activity under `raw/ocsf/`.

1. **wait_for_late_arrivals** holds the run until `lateness_hours` after the day ends, because
   exports land in hour folders by arrival time;
2. **ingest** parses, validates (declared rules on every row, Great Expectations on a sample),
   quarantines rejects, attributes users and matches the app catalog;
3. **build_reports** computes machines, machine_apps/users/ips, apps (with score and tag), users, ip_addresses,
   unknown_domains and user_apps (who used which app);
4. **evaluate_policies** runs the discovery policies (`reference/policies/*.yaml`, else the
   shipped templates) on the day and its history: one alert per app per policy per dedup window;
5. **commit** publishes `reports/<table>/date=YYYY-MM-DD/` and writes the manifest last;
6. **write_dashboard** (when `CLOUD_DISCOVERY_DASHBOARD_DAYS` is set, e.g. 30) writes the static
   dashboard of the last N days to the lake's `dashboard/`, next to the reports.

Re-running a day replaces exactly that day. Catchup is on: clearing a range of runs is a backfill.
All logic lives in `etl.pipeline`; these tasks only pass the data interval.
"""
from __future__ import annotations

import os
from datetime import timedelta

import pendulum
from airflow.providers.standard.sensors.time_delta import TimeDeltaSensor
from airflow.sdk import dag, task
from airflow.timetables.interval import CronDataIntervalTimetable

START_DATE = pendulum.parse(os.environ.get("CLOUD_DISCOVERY_START_DATE", "2026-11-01"), tz="UTC")
LATENESS_HOURS = int(os.environ.get("CLOUD_DISCOVERY_LATENESS_HOURS", "6"))


@dag(
    dag_id="endpoint_continuous_report",
    schedule=CronDataIntervalTimetable("@daily", timezone="UTC"),
    start_date=START_DATE,
    catchup=True,
    max_active_runs=2,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=5), "owner": "cloud-discovery"},
    tags=["cloud-discovery", "endpoint", "reports"],
    doc_md=__doc__,
)
def endpoint_continuous_report():
    wait = TimeDeltaSensor(task_id="wait_for_late_arrivals", delta=timedelta(hours=LATENESS_HOURS),
                           mode="reschedule", poke_interval=600)

    @task
    def ingest(data_interval_start=None, run_id=None) -> dict:
        from etl.ingest import Settings
        from etl.pipeline import ingest_day

        return ingest_day(None, data_interval_start.date(), run_id, Settings.from_env())

    @task
    def build_reports(ingested: dict, data_interval_start=None, run_id=None) -> dict:
        from etl.pipeline import build_day

        return build_day(None, data_interval_start.date(), run_id)

    @task
    def evaluate_policies(built: dict, data_interval_start=None, run_id=None) -> dict:
        from etl.pipeline import evaluate_policies_day

        return evaluate_policies_day(None, data_interval_start.date(), run_id)

    @task
    def commit(evaluated: dict, data_interval_start=None, run_id=None) -> dict:
        from etl.pipeline import commit_day

        return commit_day(None, data_interval_start.date(), run_id)

    @task
    def write_dashboard(committed: dict, data_interval_start=None) -> dict:
        days = int(os.environ.get("CLOUD_DISCOVERY_DASHBOARD_DAYS", "0") or 0)
        if days <= 0:
            return {"skipped": "CLOUD_DISCOVERY_DASHBOARD_DAYS is not set"}
        from etl.dashboard import publish_dashboard

        return publish_dashboard(None, data_interval_start.date(), days)

    ingested = ingest()
    wait >> ingested
    write_dashboard(commit(evaluate_policies(build_reports(ingested))))


endpoint_continuous_report()
