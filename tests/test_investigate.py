"""The analyst's views on a generated lake with an uploaded Squid log: each view's rows equal what
the traffic and the daily tables say, computed here independently; users as people type them;
--last; new machines; one JSON document per command; spreadsheet-safe CSV and exports."""
from __future__ import annotations

import csv
import io
import json
import shutil
from collections import defaultdict
from contextlib import redirect_stdout
from datetime import timedelta

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from etl.cli import main, write_appliance_upload
from etl.output import spreadsheet_safe
from etl.pipeline import run_day
from etl.snapshot import build_snapshot, find_uploads, refresh_days
from etl.storage import Lake, manifest_path
from tests.conftest import DEMO_DAY

D0, D1 = DEMO_DAY, DEMO_DAY + timedelta(days=1)
PERIOD = ["--from", D0.isoformat(), "--to", D1.isoformat()]


def cli(*argv) -> str:
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(list(argv)) == 0
    return out.getvalue()


@pytest.fixture(scope="module")
def lake_root(generated_lake_template, tmp_path_factory):
    root = tmp_path_factory.mktemp("investigate") / "lake"
    shutil.copytree(generated_lake_template, root)
    users = (root / "reference" / "users.csv").read_text().splitlines()
    # a directory entry that would run as a formula in a spreadsheet
    first = users[1].split(",")
    users[1] = ",".join([first[0], "=HYPERLINK(\"http://x.example\")", "@SUM(A1)", *first[3:]])
    (root / "reference" / "users.csv").write_text("\n".join(users) + "\n")
    lake = Lake(str(root))
    for day in (D0, D1):
        run_day(str(root), day)
    # then a Squid log of the same fleet: attributed by IP against the endpoint history, and the
    # days it covers rebuilt with it
    write_appliance_upload(lake, "squid", D0, 2, 12, 400, 11, None, 3_000)
    for upload in find_uploads(lake):
        build_snapshot(lake.url, upload)
    assert [d["date"] for d in refresh_days(lake.url)] == [D0.isoformat(), D1.isoformat()]
    return root


def table(root, name) -> pa.Table:
    lake = Lake(str(root))
    parts = []
    for day in (D0, D1):
        files = lake.read_json(manifest_path(day))["outputs"][name]["files"]
        parts += [pq.read_table(root / f["path"]) for f in files]
    return pa.concat_tables(parts)


def views(root, *argv) -> dict:
    document = json.loads(cli("--lake", str(root), "report", *argv, *PERIOD, "--format", "json"))
    return document


def busiest_user(root) -> str:
    traffic = table(root, "traffic")
    squid_users = traffic.filter(pc.and_(pc.equal(traffic.column("source"), "squid"), pc.is_valid(traffic.column("user"))))
    counts = squid_users.group_by("user").aggregate([("user", "count")]).sort_by([("user_count", "descending")])
    return counts.column("user")[0].as_py()


def test_a_user_view_lists_their_machines_apps_ips_and_days(lake_root):
    user = busiest_user(lake_root)
    local = user.split("@")[0]
    for typed in (user.upper(), f"CONTOSO\\{local}", local):
        assert views(lake_root, "user", typed)["user"] == user
    got = views(lake_root, "user", f"CONTOSO\\{local}")["views"]
    traffic = table(lake_root, "traffic")
    mine = traffic.filter(pc.equal(traffic.column("user"), user))
    # machines: every (device, how) the daily machine_users says, and the appliance log is one way
    pairs = table(lake_root, "machine_users")
    pairs = pairs.filter(pc.equal(pairs.column("user"), user))
    assert {(r["device_id"], r["source"]) for r in got["machines"]} == set(
        zip(pairs.column("device_id").to_pylist(), pairs.column("source").to_pylist()))
    assert "appliance" in {r["source"] for r in got["machines"]}
    # apps: transactions per app equal the traffic's
    expected = defaultdict(int)
    for app in mine.column("app_id").to_pylist():
        if app:
            expected[app] += 1
    assert {r["app_id"]: r["transactions"] for r in got["apps"]} == dict(expected)
    assert all(r["tag"] == "none" and r["score"] is not None for r in got["apps"])
    totals = [r.get("total_bytes") or 0 for r in got["apps"]]
    assert totals == sorted(totals, reverse=True)  # ordered by traffic
    # IPs they came from and the day-by-day line
    ips = defaultdict(int)
    for ip in mine.column("src_ip").to_pylist():
        ips[ip] += 1
    assert {r["ip"]: r["transactions"] for r in got["IP addresses"]} == dict(ips)
    assert [r["transactions"] for r in got["day by day"]] == [
        pc.sum(pc.equal(pc.cast(mine.column("ts"), pa.date32()), pa.scalar(d, pa.date32()))).as_py() for d in (D0, D1)]


def test_an_app_view_has_its_users_machines_ips_days_and_first_seen(lake_root):
    traffic = table(lake_root, "traffic")
    app = traffic.filter(pc.is_valid(traffic.column("app_id"))).group_by("app_id").aggregate(
        [("app_id", "count")]).sort_by([("app_id_count", "descending")]).column("app_id")[0].as_py()
    got = views(lake_root, "app", app)["views"]
    mine = traffic.filter(pc.equal(traffic.column("app_id"), app))
    assert got["overview"][0]["transactions"] == mine.num_rows
    assert got["overview"][0]["first_seen_in_organisation"] == pc.min(mine.column("ts")).as_py().isoformat()
    assert {r["user"] for r in got["users"]} == set(mine.column("user").drop_null().to_pylist())
    assert {r["device_id"] for r in got["machines"]} == set(mine.column("device_id").drop_null().to_pylist())
    assert sum(r["transactions"] for r in got["source IPs"]) == mine.num_rows
    assert sum(r["transactions"] for r in got["day by day"]) == mine.num_rows


def test_an_ip_view_says_which_machines_held_it_and_who_was_behind_it(lake_root):
    held = table(lake_root, "machine_ips")
    ip = held.filter(pc.equal(held.column("source"), "network_info")).column("ip")[0].as_py()
    got = views(lake_root, "ip", ip)["views"]
    assert {r["device_id"] for r in got["machines holding it"]} == set(
        held.filter(pc.equal(held.column("ip"), ip)).column("device_id").to_pylist())
    traffic = table(lake_root, "traffic")
    behind = traffic.filter(pc.equal(traffic.column("src_ip"), ip))
    assert {(r["user"], r["device_id"]) for r in got["users behind it"]} == set(
        zip(behind.column("user").to_pylist(), behind.column("device_id").to_pylist()))


def test_machines_says_how_many_are_new_in_the_period(lake_root):
    first_day = json.loads(cli("--lake", str(lake_root), "report", "machines", "--from", D0.isoformat(), "--to",
                               D0.isoformat(), "--format", "json"))
    second_day = json.loads(cli("--lake", str(lake_root), "report", "machines", "--from", D1.isoformat(), "--to",
                                D1.isoformat(), "--format", "json"))
    seen_first = {r["device_id"] for r in first_day["rows"]}
    assert first_day["new"] == first_day["machines"]  # nothing before the first day
    assert second_day["new"] == len({r["device_id"] for r in second_day["rows"]} - seen_first)
    assert all(r["new"] == (r["device_id"] not in seen_first) for r in second_day["rows"])
    last = json.loads(cli("--lake", str(lake_root), "report", "machines", "--last", "1d", "--format", "json"))
    assert (last["from"], last["to"]) == (D1.isoformat(), D1.isoformat())


def test_machine_view_orders_apps_by_traffic(lake_root):
    machines = table(lake_root, "machines")
    name = machines.column("device_name")[0].as_py()
    got = views(lake_root, "machine", name)["views"]
    assert list(got) == ["overview", "discovered apps", "user history", "IP-address history"]
    totals = [r["total_bytes"] or 0 for r in got["discovered apps"]]
    assert totals == sorted(totals, reverse=True)


def test_csv_cells_that_would_run_as_formulas_are_neutralised(lake_root):
    out = cli("--lake", str(lake_root), "report", "users", *PERIOD, "--format", "csv")
    cells = [c for row in csv.reader(io.StringIO(out)) for c in row]
    assert "'=HYPERLINK(\"http://x.example\")" in cells and "'@SUM(A1)" in cells
    assert not [c for c in cells if c[:1] in ("=", "+", "@", "\t", "\r")]
    unit = spreadsheet_safe(pa.table({"s": ["-2+3", "+1", "ok", None, "\tx"], "n": [-1, 2, 3, 4, 5]}))
    assert unit.column("s").to_pylist() == ["'-2+3", "'+1", "ok", None, "'\tx"]
    assert unit.column("n").to_pylist() == [-1, 2, 3, 4, 5]  # numbers stay numbers


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "parquet"])
def test_exports_open_in_pandas_with_the_table_rows(lake_root, tmp_path, fmt):
    out = tmp_path / f"users.{fmt}"
    cli("--lake", str(lake_root), "export", "users", *PERIOD, "--format", fmt, "--out", str(out))
    frame = {"csv": pd.read_csv, "xlsx": pd.read_excel, "parquet": pd.read_parquet}[fmt](out)
    expected = table(lake_root, "users")
    assert len(frame) == expected.num_rows
    assert frame["transactions"].sum() == pc.sum(expected.column("transactions")).as_py()
    names = set(frame["display_name"].dropna())
    if fmt == "parquet":
        assert "=HYPERLINK(\"http://x.example\")" in names  # data stays data
    else:
        assert "'=HYPERLINK(\"http://x.example\")" in names and not [n for n in names if n.startswith("=")]


def test_sentinel_export_has_mcas_shadow_it_columns_and_the_traffic_totals(lake_root, tmp_path):
    from etl.export import SENTINEL_COLUMNS

    out = tmp_path / "mcas.json"
    cli("--lake", str(lake_root), "export", "traffic", *PERIOD, "--format", "sentinel", "--out", str(out),
        "--tenant-id", "t-1")
    rows = json.loads(out.read_text())
    assert rows and all(list(r) == SENTINEL_COLUMNS for r in rows)
    traffic = table(lake_root, "traffic")
    matched = traffic.filter(pc.is_valid(traffic.column("app_id")))
    assert sum(r["TotalEvents"] for r in rows) == matched.num_rows
    assert sum(r["BlockedEvents"] for r in rows) == pc.sum(pc.equal(matched.column("action"), "blocked")).as_py()
    assert sum(r["UploadedBytes"] or 0 for r in rows) == pc.sum(matched.column("bytes_up")).as_py()
    assert {r["Type"] for r in rows} == {"McasShadowItReporting"} and {r["TenantId"] for r in rows} == {"t-1"}
    assert {r["StreamName"] for r in rows} >= {"squid"}
