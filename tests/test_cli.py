"""`cloud-discovery` from the outside: etl.cli.main([...]) in-process (capsys), the module as a
child process, and one `run` through embedded Airflow."""
from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from datetime import timedelta
from pathlib import Path

import pytest

from etl.cli import main
from tests.conftest import DEMO_DAY, REPO

D = DEMO_DAY.isoformat()
D1 = (DEMO_DAY + timedelta(days=1)).isoformat()
GENERATE = ["generate", "--start", D, "--days", "2", "--machines", "6", "--events-per-day", "800", "--seed", "5"]
MACHINE_VIEWS = ["overview", "discovered apps", "user history", "IP-address history"]
SUMMARY = re.compile(r"^(\d{4}-\d\d-\d\d)  ok  [\d,]+ read, [\d,]+ transactions, [\d,]+ skipped, [\d,]+ quarantined; "
                     r"\d+ machines, \d+ apps")


def _manifest(root: Path, day: str) -> Path:
    return root / "_manifests" / "reports" / f"date={day}.json"


def _child_env() -> dict:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A small generated lake, DEMO_DAY built with `run --direct`; the output of both commands."""
    root = tmp_path_factory.mktemp("cli") / "lake"
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        generated = main(["--lake", str(root), *GENERATE])
        ran = main(["--lake", str(root), "run", "--date", D, "--direct"])
    assert (generated, ran) == (0, 0), err.getvalue()
    return root, out.getvalue().splitlines()


def _one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err, err
    assert len(lines) == 1, err
    assert lines[0].startswith("cloud-discovery: error:"), lines[0]
    return lines[0]


# ---------------------------------------------------------------------------
# generate, run --direct, report
# ---------------------------------------------------------------------------

def test_generate_then_run_direct(built):
    root, lines = built
    assert lines[0].startswith("generated ") and str(root) in lines[0]
    assert (root / "reference" / "users.csv").is_file()
    summaries = [line for line in lines if SUMMARY.match(line)]
    assert len(summaries) == 1 and summaries[0].startswith(f"{D}  ok  "), lines
    manifest = json.loads(_manifest(root, D).read_text())
    assert f"{manifest['outputs']['machines']['rows']} machines" in summaries[0]
    assert not _manifest(root, D1).exists()


def _columns(table: str) -> list[str]:
    """The report's columns as `report` prints them (machines say which are new in the period)."""
    from etl import schema

    return schema.report_schema(table).names + (["new"] if table == "machines" else [])


@pytest.mark.parametrize("what", ["machines", "apps", "users"])
def test_report_csv(built, capsys, what):
    root, _ = built
    assert main(["--lake", str(root), "report", what, "--from", D, "--to", D, "--format", "csv"]) == 0
    out = capsys.readouterr().out
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == _columns(what)
    assert len(rows) > 1
    assert all(len(r) == len(rows[0]) for r in rows[1:])


@pytest.mark.parametrize("what", ["machines", "apps", "users"])
def test_report_json(built, capsys, what):
    root, _ = built
    assert main(["--lake", str(root), "report", what, "--from", D, "--to", D, "--format", "json"]) == 0
    out = capsys.readouterr().out
    document = json.loads(out)  # one document
    records = document["rows"] if what == "machines" else document
    assert records, out
    assert all(list(r) == _columns(what) for r in records)
    if what == "machines":
        manifest = json.loads(_manifest(root, D).read_text())
        assert len(records) == document["machines"] == manifest["outputs"]["machines"]["rows"]
        assert document["new"] == len(records)  # nothing was committed before the only day
        assert sum(r["transactions"] for r in records) == manifest["outputs"]["traffic"]["rows"]


@pytest.mark.parametrize("what", ["machines", "apps", "users"])
def test_report_table(built, capsys, what):
    root, _ = built
    assert main(["--lake", str(root), "report", what, "--from", D, "--to", D]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    if what == "machines":
        assert re.match(r"^\d+ machines discovered in .*, \d+ new \(first seen inside it\)$", lines.pop(0))
    assert lines[0].split() == _columns(what)
    assert set(lines[1].replace(" ", "")) == {"-"}
    assert len(lines) > 2


def test_report_limit(built, capsys):
    root, _ = built
    assert main(["--lake", str(root), "report", "apps", "--from", D, "--to", D, "--format", "json", "--limit", "3"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 3


def test_report_machine_views(built, capsys):
    root, _ = built
    assert main(["--lake", str(root), "report", "machines", "--from", D, "--to", D, "--format", "json"]) == 0
    first = json.loads(capsys.readouterr().out)["rows"][0]
    short_name = first["device_name"].split(".")[0].upper()  # case-insensitive, without the DNS suffix

    assert main(["--lake", str(root), "report", "machine", short_name, "--from", D, "--to", D]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    for title in MACHINE_VIEWS:
        assert title in lines, f"missing view {title!r}"
    positions = [lines.index(t) for t in MACHINE_VIEWS]
    assert positions == sorted(positions)
    overview = lines[positions[0] + 1:positions[1]]
    assert first["device_id"] in "\n".join(overview)
    assert "(no rows)" not in "\n".join(lines[positions[0]:positions[1]])


def test_backfill_direct_prints_progress(built, capsys):
    root, _ = built
    assert main(["--lake", str(root), "backfill", "--from", D, "--to", D1, "--direct", "--workers", "3"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert len(lines) == 2, lines
    bar = re.compile(r"^\[([#.]{20})\] (\d)/2 +[\d.]+s  (.*)$")
    for n, (line, day) in enumerate(zip(lines, [D, D1]), start=1):
        match = bar.match(line)
        assert match, line
        assert int(match.group(2)) == n
        assert SUMMARY.match(match.group(3)) and match.group(3).startswith(f"{day}  ok  "), line
    assert bar.match(lines[-1]).group(1) == "#" * 20
    for day in (D, D1):
        manifest = json.loads(_manifest(root, day).read_text())
        assert manifest["settings"]["workers"] == 3
        assert len(manifest["outputs"]["traffic"]["files"]) == 3


# ---------------------------------------------------------------------------
# errors: one line on stderr, non-zero exit, no traceback
# ---------------------------------------------------------------------------

def test_bad_date_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--lake", str(tmp_path / "lake"), "run", "--date", "2026-13-01", "--direct"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "not a date" in err.splitlines()[-1]


def test_report_on_empty_lake(tmp_path, capsys):
    lake = tmp_path / "empty"
    code = main(["--lake", str(lake), "report", "apps", "--from", D, "--to", D])
    assert code != 0
    line = _one_error_line(capsys.readouterr().err)
    assert "no lake at" in line
    assert not lake.exists(), "a report must not create the lake"


def test_report_to_before_from(built, capsys):
    root, _ = built
    assert main(["--lake", str(root), "report", "apps", "--from", D1, "--to", D]) != 0
    assert "before" in _one_error_line(capsys.readouterr().err)


def test_backfill_to_before_from(built, capsys):
    root, _ = built
    assert main(["--lake", str(root), "backfill", "--from", D1, "--to", D, "--direct"]) != 0
    assert "before" in _one_error_line(capsys.readouterr().err)


def test_report_unknown_machine(built, capsys):
    root, _ = built
    assert main(["--lake", str(root), "report", "machine", "no-such-box", "--from", D, "--to", D]) != 0
    assert "no-such-box" in _one_error_line(capsys.readouterr().err)


def test_report_machine_without_name(built, capsys):
    root, _ = built
    assert main(["--lake", str(root), "report", "machine", "--from", D, "--to", D]) != 0
    _one_error_line(capsys.readouterr().err)


@pytest.mark.parametrize("argv", [["report", "apps", "--from", D, "--to", D],
                                  ["run", "--date", D, "--direct"]], ids=["report", "run"])
def test_missing_bucket(s3_endpoint, capsys, argv):
    code = main(["--lake", "s3://no-such-bucket-cd/lake", *argv])
    assert code != 0
    line = _one_error_line(capsys.readouterr().err)
    assert "no-such-bucket-cd" in line


def test_module_entry_point_errors_without_traceback(tmp_path):
    done = subprocess.run([sys.executable, "-m", "etl.cli", "--lake", str(tmp_path / "lake"), "report", "users",
                           "--from", D, "--to", D], cwd=tmp_path, env=_child_env(), capture_output=True, text=True,
                          timeout=120)
    assert done.returncode != 0
    assert done.stdout == ""
    _one_error_line(done.stderr)

    done = subprocess.run([sys.executable, "-m", "etl.cli", "run", "--date", "2026-13-01"], cwd=tmp_path,
                          env=_child_env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and "not a date" in done.stderr


def test_report_into_closed_pipe_has_no_traceback(built):
    """`cloud-discovery report ... | head -1`: the reader going away is not an error worth a traceback."""
    root, _ = built
    child = subprocess.Popen([sys.executable, "-m", "etl.cli", "--lake", str(root), "report", "apps", "--from", D,
                              "--to", D, "--format", "json"], cwd=REPO, env=_child_env(),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    child.stdout.close()  # like `head` exiting before the report is printed
    err = child.stderr.read().decode()
    child.wait(timeout=120)
    assert "Traceback" not in err, err
    assert len([line for line in err.splitlines() if line.strip()]) <= 1, err


# ---------------------------------------------------------------------------
# run through embedded Airflow (a child process running dag.test)
# ---------------------------------------------------------------------------

def test_run_through_embedded_airflow(tmp_path, capsys, monkeypatch):
    lake = tmp_path / "lake"
    assert main(["--lake", str(lake), *GENERATE]) == 0
    capsys.readouterr()
    monkeypatch.setenv("PYTHONPATH", _child_env()["PYTHONPATH"])

    code = main(["--lake", str(lake), "run", "--date", D])
    out, err = capsys.readouterr()
    assert code == 0, (out, err, (Path(os.environ["AIRFLOW_HOME"]) / "cli-run.log").read_text()[-3000:])
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 1 and SUMMARY.match(lines[0]) and lines[0].startswith(f"{D}  ok  "), out
    manifest = json.loads(_manifest(lake, D).read_text())
    # built by Airflow: its run id (manual__<ISO timestamp>), not the direct runner's manual__<12 hex>
    assert re.match(r"^manual__\d{4}-\d\d-\d\dT", manifest["run_id"]), manifest["run_id"]
    assert (Path(os.environ["AIRFLOW_HOME"]) / "cli-run.log").is_file()
    assert all(c["reconciled"] for c in manifest["counts"].values())
    assert not _manifest(lake, D1).exists()


def test_lake_option_works_after_the_command_too(built, capsys):
    root, _ = built
    assert main(["report", "apps", "--from", D, "--to", D, "--format", "json", "--lake", str(root)]) == 0
    assert json.loads(capsys.readouterr().out)
