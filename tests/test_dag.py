"""The real Airflow DAG `endpoint_continuous_report`: integrity, parse-time hygiene, and
`dag.test()` end to end (success on a generated lake, failure on a garbage-only lake)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import date, datetime, timedelta, timezone

import pyarrow.parquet as pq
import pytest

from tests.builders import connection, lines, output_file_names, write_mde
from tests.conftest import DEMO_DAY, REPO

DAG_ID = "endpoint_continuous_report"
DAGS = REPO / "dags"
DAG_FILE = DAGS / "endpoint_continuous_report.py"
REPORT_TABLES = ["traffic", "machines", "machine_apps", "machine_users", "machine_ips", "apps", "users",
                 "ip_addresses", "unknown_domains"]


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))


@pytest.fixture(scope="module")
def embedded_dag(airflow_db):
    """The DAG as the embedded runner loads it (retries 0, so a failure does not wait out a retry delay)."""
    from orchestration.embedded import load_dag

    return load_dag(DAG_ID)


def _manifest(root, day: date):
    return root / "_manifests" / "reports" / f"date={day.isoformat()}.json"


def _sorted(table, keys):
    return table.sort_by([(k, "ascending") for k in keys])


# ---------------------------------------------------------------------------
# 1. integrity
# ---------------------------------------------------------------------------

def test_dagbag_has_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert DAG_ID in dagbag.dag_ids


def test_dag_shape(dagbag):
    dag = dagbag.dags[DAG_ID]
    assert dag.tags, "the DAG needs tags"
    assert dag.catchup is True
    assert dag.doc_md and dag.doc_md.strip()
    assert {t.task_id for t in dag.tasks} >= {"ingest", "build_reports", "evaluate_policies", "commit"}
    for task in dag.tasks:
        assert task.retries >= 1, f"{task.task_id} has no retries"
    # daily: a run's data interval is exactly one UTC day, midnight to midnight
    interval = dag.timetable.infer_manual_data_interval(run_after=datetime(2026, 11, 17, tzinfo=timezone.utc))
    assert interval.start == datetime(2026, 11, 16, tzinfo=timezone.utc)
    assert interval.end - interval.start == timedelta(days=1)
    assert dag.timetable.summary in ("@daily", "0 0 * * *")
    # ingest -> build_reports -> evaluate_policies -> commit
    assert "build_reports" in dag.get_task("ingest").downstream_task_ids
    assert "evaluate_policies" in dag.get_task("build_reports").downstream_task_ids
    assert "commit" in dag.get_task("evaluate_policies").downstream_task_ids
    assert "write_dashboard" in dag.get_task("commit").downstream_task_ids


def test_dag_file_does_no_work_at_parse_time(tmp_path):
    """Parsing the file must neither touch the lake nor import the ETL or Great Expectations."""
    lake = tmp_path / "no-such-lake"
    env = {**os.environ, "CLOUD_DISCOVERY_LAKE": str(lake), "PYTHONPATH": str(REPO)}
    code = ("import runpy, sys, json; runpy.run_path(%r); "
            "print(json.dumps(sorted(m for m in sys.modules if m == 'etl' or m.startswith('etl.') "
            "or m.split('.')[0] == 'great_expectations')))" % str(DAG_FILE))
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    imported = json.loads(done.stdout.strip().splitlines()[-1])
    assert imported == [], f"the DAG file imports at parse time: {imported}"
    assert not lake.exists(), "parsing the DAG file created the lake"
    assert not (tmp_path / "lake").exists(), "parsing the DAG file created the default ./lake"


# ---------------------------------------------------------------------------
# 2. dag.test() end to end
# ---------------------------------------------------------------------------

def _task_states(run) -> dict[str, str]:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        tis = session.query(TaskInstance).filter(TaskInstance.dag_id == run.dag_id,
                                                 TaskInstance.run_id == run.run_id).all()
        return {ti.task_id: str(ti.state) for ti in tis}


def test_dag_test_builds_the_day(embedded_dag, generated_lake, tmp_path, monkeypatch):
    from etl.pipeline import run_day

    direct_lake = tmp_path / "direct-lake"
    shutil.copytree(generated_lake, direct_lake)
    monkeypatch.setenv("CLOUD_DISCOVERY_LAKE", str(generated_lake))

    # a manual run's data interval ENDS at its logical date: logical 11-17 builds 11-16
    run = embedded_dag.test(logical_date=datetime(2026, 11, 17, tzinfo=timezone.utc))
    states = _task_states(run)
    assert str(run.state) == "success", states
    assert set(states) == {t.task_id for t in embedded_dag.tasks}
    assert all(s == "success" for s in states.values()), states

    assert _manifest(generated_lake, DEMO_DAY).is_file()
    manifest = json.loads(_manifest(generated_lake, DEMO_DAY).read_text())
    assert manifest["date"] == DEMO_DAY.isoformat()
    assert manifest["run_id"] == run.run_id
    for table in REPORT_TABLES:
        part_dir = generated_lake / "reports" / table / f"date={DEMO_DAY.isoformat()}"
        assert sorted(p.name for p in part_dir.iterdir()) == output_file_names(manifest, table), table
        assert manifest["outputs"][table]["path"] == f"reports/{table}/date={DEMO_DAY.isoformat()}"
    assert all(c["reconciled"] for c in manifest["counts"].values())
    # only the data interval's day was built
    assert not _manifest(generated_lake, DEMO_DAY + timedelta(days=1)).exists()

    run_day(str(direct_lake), DEMO_DAY)
    for table, keys in (("traffic", ["input_path", "input_line"]), ("machines", ["device_id"])):
        via_dag = pq.read_table(generated_lake / "reports" / table / f"date={DEMO_DAY}" / "part-0.parquet")
        direct = pq.read_table(direct_lake / "reports" / table / f"date={DEMO_DAY}" / "part-0.parquet")
        assert via_dag.num_rows > 0
        assert _sorted(via_dag, keys).equals(_sorted(direct, keys)), f"{table} differs between DAG and direct run"


# ---------------------------------------------------------------------------
# 3. failing runs
# ---------------------------------------------------------------------------

def _garbage_lines(lake):
    """An MDE export recognisable as MDE (its head has a real record) whose lines are ~all garbage."""
    payload = lines(["{not json at all", connection("2026-11-16T10:01:00Z")]
                    + [f"garbage line {i} <html>oops</html>" for i in range(40)])
    write_mde(lake, "devicenetworkevents", datetime(2026, 11, 16, 10), payload)


def _garbage_only(lake):
    """The day's only input holds nothing but garbage: it is quarantined as a whole file."""
    payload = lines(["this is not json", "{broken", "<html>oops</html>", "garbage"] * 10)
    write_mde(lake, "devicenetworkevents", datetime(2026, 11, 16, 10), payload)


@pytest.mark.parametrize("make_lake", [_garbage_lines, _garbage_only], ids=["garbage-lines", "garbage-only-file"])
def test_dag_test_fails_on_garbage_input(embedded_dag, tmp_path, monkeypatch, make_lake):
    lake = tmp_path / "garbage-lake"
    make_lake(lake)
    monkeypatch.setenv("CLOUD_DISCOVERY_LAKE", str(lake))

    run = embedded_dag.test(logical_date=datetime(2026, 11, 17, tzinfo=timezone.utc))
    states = _task_states(run)
    assert str(run.state) == "failed", states
    assert states["ingest"] == "failed", states
    assert states["commit"] != "success", states
    assert not _manifest(lake, DEMO_DAY).exists(), "a failed run must not commit"
    assert not any((lake / "reports").rglob("*.parquet")), "a failed run must not publish report files"
