"""The real Airflow DAG `snapshot_reports`: parse-time hygiene and `dag.test()` end to end
(one mapped task per upload; a second run finds nothing new)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timezone

import pytest

from etl.snapshot import list_snapshots
from etl.storage import Lake, upload_path
from tests.builders import lines, ocsf_event
from tests.conftest import REPO
from tests.test_dag import _task_states

DAG_ID = "snapshot_reports"
DAG_FILE = REPO / "dags" / "snapshot_reports.py"


@pytest.fixture(scope="module")
def snapshot_dag(airflow_db):
    from orchestration.embedded import load_dag

    return load_dag(DAG_ID)


def test_dag_file_does_no_work_at_parse_time(tmp_path):
    env = {**os.environ, "CLOUD_DISCOVERY_LAKE": str(tmp_path / "no-lake"), "PYTHONPATH": str(REPO)}
    code = ("import runpy, sys, json; runpy.run_path(%r); "
            "print(json.dumps(sorted(m for m in sys.modules if m == 'etl' or m.startswith('etl.'))))" % str(DAG_FILE))
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
    assert not (tmp_path / "no-lake").exists()


def test_dag_test_maps_one_task_per_upload_and_dedupes_on_the_next_run(snapshot_dag, tmp_path, monkeypatch):
    lake = Lake(str(tmp_path))
    for name, hour in (("a.log", 9), ("b.log", 10)):
        lake.write_bytes(upload_path("agents", name), lines(
            [ocsf_event(int(datetime(2026, 11, 20, hour, i, tzinfo=timezone.utc).timestamp() * 1000)) for i in range(3)]))
    monkeypatch.setenv("CLOUD_DISCOVERY_LAKE", str(tmp_path))
    run = snapshot_dag.test(logical_date=datetime(2026, 11, 21, tzinfo=timezone.utc))
    assert str(run.state) == "success", _task_states(run)
    snapshots = list_snapshots(lake)
    assert sorted(m["inputs"][0]["path"] for m in snapshots) == ["uploads/agents/a.log", "uploads/agents/b.log"]
    assert all(m["counts"]["accepted"] == 3 and m["counts"]["reconciled"] for m in snapshots)

    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    with create_session() as session:
        mapped = session.query(TaskInstance).filter(TaskInstance.run_id == run.run_id,
                                                    TaskInstance.task_id == "build_snapshot").all()
        assert sorted(ti.map_index for ti in mapped) == [0, 1]

    again = snapshot_dag.test(logical_date=datetime(2026, 11, 21, 0, 15, tzinfo=timezone.utc))
    assert str(again.state) == "success", _task_states(again)
    assert [m["snapshot_id"] for m in list_snapshots(lake)] == [m["snapshot_id"] for m in snapshots]
