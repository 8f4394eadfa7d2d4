"""Running days of a DAG: through Airflow (embedded, one child process) or directly in-process.
Shared by the CLI and the demo."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

from etl.errors import UserError
from etl.query import late_days_to_rerun
from etl.storage import Lake, manifest_path

DAG_ID = "endpoint_continuous_report"


def airflow_home(lake: Lake) -> str:
    """$AIRFLOW_HOME, else `.airflow` next to a local lake, else ./.airflow."""
    if os.environ.get("AIRFLOW_HOME"):
        return os.environ["AIRFLOW_HOME"]
    base = Path(lake.root).parent if lake.is_local else Path.cwd()
    return str(base / ".airflow")


def run_days_airflow(lake: Lake, days: list[date], on_result, dag_id: str = DAG_ID) -> None:
    """Run a DAG once per day through Airflow (dag.test in one child process)."""
    home = airflow_home(lake)
    Path(home).mkdir(parents=True, exist_ok=True)
    results = Path(home) / "cli-results.jsonl"
    log_path = Path(home) / "cli-run.log"
    results.write_text("")
    env = {**os.environ, "CLOUD_DISCOVERY_LAKE": lake.url}
    cmd = [sys.executable, "-m", "orchestration.embedded", "--dag", dag_id, "--airflow-home", home,
           "--results", str(results), *[d.isoformat() for d in days]]
    seen = 0
    with open(log_path, "w") as log:
        child = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        while True:
            finished = child.poll() is not None
            lines = results.read_text().splitlines()
            for line in lines[seen:]:
                outcome = json.loads(line)
                if outcome["state"] != "success":
                    failed = [t for t, s in outcome["tasks"].items() if s == "failed"]
                    from orchestration.embedded import last_error
                    error = last_error(log_path.read_text()) or "see the log"
                    outcome["error"] = f"task {', '.join(failed) or '?'} failed: {error} (log: {log_path})"
                on_result(outcome)
            seen = len(lines)
            if finished:
                break
            time.sleep(0.2)
    if child.returncode != 0 and seen < len(days):
        from orchestration.embedded import last_error
        raise UserError(f"Airflow could not run the DAG: {last_error(log_path.read_text()) or 'see ' + str(log_path)}")


def run_days_direct(lake: Lake, days: list[date], on_result, settings) -> None:
    from etl.pipeline import RejectRatioExceeded, run_day

    for day in days:
        try:
            run_day(lake.url, day, settings=settings)
            on_result({"date": day.isoformat(), "state": "success"})
        except RejectRatioExceeded as exc:
            on_result({"date": day.isoformat(), "state": "failed", "error": str(exc)})


def day_summary(lake: Lake, day: date) -> str:
    manifest = lake.read_json(manifest_path(day))
    counts = manifest["counts"]
    read = sum(c["read"] for c in counts.values())
    accepted = sum(c["accepted"] for c in counts.values())
    skipped = sum(sum(c["skipped"].values()) for c in counts.values())
    quarantined = sum(sum(c["quarantined"].values()) for c in counts.values())
    tables = manifest["outputs"]
    text = (f"{read:,} read, {accepted:,} transactions, {skipped:,} skipped, {quarantined:,} quarantined; "
            f"{tables['machines']['rows']} machines, {tables['apps']['rows']} apps")
    waiting = late_days_to_rerun(lake, day)
    if waiting:
        text += (f"; {sum(waiting.values())} late events for {', '.join(map(str, sorted(waiting)))} "
                 f"(re-run those days to include them)")
    return text


def run_days(lake: Lake, days: list[date], direct: bool, settings, progress: bool) -> int:
    failures = 0
    done = 0
    started = time.monotonic()

    def on_result(outcome: dict) -> None:
        nonlocal failures, done
        done += 1
        day = date.fromisoformat(outcome["date"])
        if outcome["state"] == "success":
            line = f"{day}  ok  {day_summary(lake, day)}"
        else:
            failures += 1
            line = f"{day}  FAILED  {outcome.get('error', '')}"
        if progress:
            width = 20
            filled = int(width * done / len(days))
            line = f"[{'#' * filled}{'.' * (width - filled)}] {done}/{len(days)} {time.monotonic() - started:5.1f}s  " + line
        print(line, flush=True)

    if direct:
        run_days_direct(lake, days, on_result, settings)
    else:
        if settings is not None:
            for name, value in vars(settings).items():
                os.environ[f"CLOUD_DISCOVERY_{name.upper()}"] = str(value)
        run_days_airflow(lake, days, on_result)
    return 1 if failures else 0
