"""A lake where the answer is known: the generated fleet (machines whose DHCP leases change
during the day) is built, then a Squid and a PAN-OS log of the same fleet are uploaded; every
attributed row is checked against the generator's ground truth. (The generator never hands one
address to two machines; IPs that move between machines and back are covered row by row in
tests/test_snapshot.py.)"""
from __future__ import annotations

from datetime import date

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from etl.generate import appliance_log, appliance_truth, generate_lake
from etl.pipeline import run_day
from etl.snapshot import build_snapshot, find_uploads, snapshot_table
from etl.storage import Lake, upload_path

START, MACHINES, EVENTS, SEED, LINES = date(2026, 11, 16), 12, 3_000, 11, 400


@pytest.fixture(scope="module")
def built_lake(tmp_path_factory):
    root = tmp_path_factory.mktemp("known") / "lake"
    lake = Lake(str(root))
    generate_lake(lake, START, 1, MACHINES, EVENTS, seed=SEED)
    run_day(lake.url, START)
    return lake


@pytest.mark.parametrize("fmt", ["squid", "panos"])
def test_every_appliance_row_gets_the_machine_and_user_the_generator_says(built_lake, fmt):
    lake = built_lake
    data = b"".join(appliance_log(fmt, START, 1, MACHINES, LINES, SEED, events_per_day=EVENTS))
    truth = appliance_truth(fmt, START, 1, MACHINES, LINES, SEED, events_per_day=EVENTS)
    lake.write_bytes(upload_path(f"known-{fmt}", "log.txt"), data)
    upload = [u for u in find_uploads(lake) if u.data_source == f"known-{fmt}"][0]
    manifest = build_snapshot(lake.url, upload)
    assert manifest["formats"] == {fmt: 1}
    traffic = snapshot_table(lake, manifest["snapshot_id"], "traffic").sort_by("input_line")
    lines = pc.subtract(traffic.column("input_line"), 1).to_numpy()
    expected = truth.take(pa.array(lines))
    assert traffic.num_rows == manifest["counts"]["accepted"] > 0
    assert traffic.column("src_ip").to_pylist() == expected.column("src_ip").to_pylist()
    got_device = traffic.column("device_id").to_pylist()
    want_device = expected.column("device_id").to_pylist()
    wrong = [(i, g, w) for i, (g, w) in enumerate(zip(got_device, want_device)) if g != w]
    assert not wrong, f"{len(wrong)} of {len(got_device)} rows on the wrong machine, e.g. {wrong[:3]}"
    got_user = traffic.column("user").to_pylist()
    want_user = [u.lower() if u else None for u in expected.column("user").to_pylist()]
    wrong = [(i, g, w) for i, (g, w) in enumerate(zip(got_user, want_user)) if g != w]
    assert not wrong, f"{len(wrong)} of {len(got_user)} rows with the wrong user, e.g. {wrong[:3]}"
    assert manifest["attribution"]["device_share"] == 1.0

