"""Run a DAG for a list of days in one process with `dag.test()` (no scheduler, no services).

    python -m orchestration.embedded --dag endpoint_continuous_report --results FILE 2026-11-20 ...

Airflow's own logging goes to stdout/stderr (the CLI sends it to a log file); one JSON object
per day is appended to FILE: {"date", "state", "tasks": {task_id: state}, "error"}.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path

REPO_DAGS = Path(__file__).resolve().parents[1] / "dags"
_ERROR_LINE = re.compile(r"^([\w.]+(Error|Exception|Exceeded|Invalid|Failure)\w*): (.+)$")


def prepare_environment(airflow_home: str, first_day: date) -> None:
    """Airflow reads its configuration at import: everything must be set before that."""
    os.environ["AIRFLOW_HOME"] = airflow_home
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    if REPO_DAGS.is_dir():  # a source checkout; an installed package uses Airflow's configured folder
        os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(REPO_DAGS))
    os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "False")
    configured = os.environ.get("CLOUD_DISCOVERY_START_DATE")
    if configured is None or date.fromisoformat(configured[:10]) > first_day:
        os.environ["CLOUD_DISCOVERY_START_DATE"] = first_day.isoformat()


def ensure_metadata_db(airflow_home: str) -> None:
    from airflow.utils.db import initdb

    marker = Path(airflow_home) / ".cloud-discovery-initdb"
    if not marker.exists():
        initdb()
        marker.write_text("ok\n")


def load_dag(dag_id: str):
    from airflow.configuration import conf
    from airflow.dag_processing.dagbag import DagBag

    folder = conf.get("core", "dags_folder")
    bag = DagBag(dag_folder=folder)
    if bag.import_errors:
        raise SystemExit(f"DAG import errors: {bag.import_errors}")
    dag = bag.get_dag(dag_id)
    if dag is None:
        raise SystemExit(f"no DAG {dag_id!r} in {folder} (set AIRFLOW__CORE__DAGS_FOLDER)")
    for task in dag.tasks:  # a retry in dag.test() would wait out the retry delay in the foreground
        task.retries = 0
    return dag


def run_day(dag, day: date) -> dict:
    """One run whose data interval is [day, day + 1)."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    # a manual run's data interval ends at its logical date for an interval timetable
    logical = datetime.combine(day + timedelta(days=1), time(0), tzinfo=timezone.utc)
    run = dag.test(logical_date=logical)
    with create_session() as session:
        tis = session.query(TaskInstance).filter(TaskInstance.dag_id == dag.dag_id,
                                                 TaskInstance.run_id == run.run_id).all()
        tasks = {ti.task_id: str(ti.state) for ti in tis}
    return {"date": day.isoformat(), "state": str(run.state), "run_id": run.run_id, "tasks": tasks}


def last_error(log_text: str) -> str | None:
    """The last 'SomeError: message' line a failed task logged."""
    found = None
    for line in log_text.splitlines():
        match = _ERROR_LINE.match(line.strip())
        if match:
            found = f"{match.group(1).rsplit('.', 1)[-1]}: {match.group(3)}"
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m orchestration.embedded")
    parser.add_argument("--dag", required=True)
    parser.add_argument("--airflow-home", required=True)
    parser.add_argument("--results", required=True)
    parser.add_argument("days", nargs="+", type=date.fromisoformat)
    args = parser.parse_args(argv)
    prepare_environment(args.airflow_home, min(args.days))
    ensure_metadata_db(args.airflow_home)
    dag = load_dag(args.dag)
    with open(args.results, "a") as results:
        for day in args.days:
            outcome = run_day(dag, day)
            sys.stdout.flush()
            results.write(json.dumps(outcome) + "\n")
            results.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
