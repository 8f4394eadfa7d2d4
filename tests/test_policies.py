"""Discovery policies on tiny given cubes: conditions, "new", groups, dedup, evidence, bad YAML."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pyarrow as pa
import pytest

from etl.errors import UserError
from etl.identity import Directory
from etl.policies import History, evaluate, load_policies, parse_policy, shipped_templates
from etl.reports import CUBE_KEYS
from etl.storage import POLICIES_PREFIX, Lake

DAY = date(2026, 11, 20)
T = datetime(2026, 11, 20, 9, tzinfo=timezone.utc)
MB = 1_000_000
DIRECTORY = Directory.from_table(pa.table({
    "upn": ["ann@corp.example", "bob@corp.example", "cy@corp.example"],
    "display_name": ["Ann", "Bob", "Cy"], "department": ["Finance", "Finance", "Legal"]}))
RISK = pa.table({"app_id": ["bigup", "risky", "genai"], "score": [8.0, 4.5, 5.0],
                 "tag": ["none", "unsanctioned", "none"]})


def cube(rows: list[tuple]) -> pa.Table:
    """(device, user, app_id, category, n, up, down) -> a traffic cube."""
    cols = {k: [] for k in [*CUBE_KEYS, "n", "blocked", "bytes_up", "bytes_down", "first_seen", "last_seen"]}
    for device, user, app, category, n, up, down in rows:
        values = {"device_id": device, "device_name": device.upper(), "user": user, "src_ip": "10.0.0.1",
                  "app_id": app, "app_name": app and app.title(), "category": category, "unknown_host": None,
                  "source": "ocsf", "n": n, "blocked": 0, "bytes_up": up, "bytes_down": down, "first_seen": T, "last_seen": T}
        for k, v in values.items():
            cols[k].append(v)
    types = {"n": pa.int64(), "blocked": pa.int64(), "bytes_up": pa.int64(), "bytes_down": pa.int64(),
             "first_seen": pa.timestamp("us", tz="UTC"), "last_seen": pa.timestamp("us", tz="UTC")}
    return pa.table({k: pa.array(v, types.get(k, pa.string())) for k, v in cols.items()})


CUBE = cube([
    ("d1", "ann@corp.example", "bigup", "Cloud storage", 10, 400 * MB, 5 * MB),
    ("d2", "bob@corp.example", "bigup", "Cloud storage", 5, 200 * MB, 1 * MB),
    ("d3", "cy@corp.example", "risky", "Paste site", 3, 1 * MB, 1 * MB),
    ("d1", "ann@corp.example", "genai", "Generative AI", 2, 1000, 2000),
    ("d3", "cy@corp.example", "genai", "Generative AI", 1, 1000, 2000),
    ("d3", "cy@corp.example", None, None, 50, 900 * MB, 0),   # unmatched traffic never alerts
])


def policy(**kw):
    return parse_policy({"id": "p", "name": "P", "severity": "high", **kw}, "test.yaml")


def test_an_app_over_the_threshold_alerts_with_its_evidence():
    alerts = evaluate([policy(conditions={"bytes_up": {"gt": 500 * MB}})], DAY, CUBE, RISK, DIRECTORY, History())
    assert alerts.num_rows == 1
    row = alerts.to_pylist()[0]
    assert (row["app_id"], row["bytes_up"], row["users"], row["machines"], row["transactions"]) == ("bigup", 600 * MB, 2, 2, 15)
    assert row["top_users"] == ["ann@corp.example", "bob@corp.example"]  # by bytes
    assert row["top_machines"] == ["D1", "D2"]
    assert row["reason"] == "bytes_up 600.0 MB > 500.0 MB"
    assert row["dedup_until"] == "2027-02-18" and row["first_seen"] == T


def test_every_condition_must_hold_and_an_unknown_figure_never_fires():
    both = policy(conditions={"score": {"lt": 6}, "users": {"ge": 1}, "tag": {"in": ["unsanctioned"]}})
    assert evaluate([both], DAY, CUBE, RISK, DIRECTORY, History()).column("app_id").to_pylist() == ["risky"]
    no_score = pa.table({"app_id": ["bigup"], "score": pa.array([None], pa.float64()), "tag": ["none"]})
    low = policy(conditions={"score": {"lt": 6}})
    assert evaluate([low], DAY, CUBE, no_score, DIRECTORY, History()).num_rows == 0


def test_a_new_app_policy_skips_apps_used_before_the_window():
    p = policy(new_within_days=7, conditions={"transactions": {"gt": 0}})
    history = History(first_use={(None, "bigup", None): T - timedelta(days=30), (None, "risky", None): T - timedelta(days=3)})
    alerts = evaluate([p], DAY, CUBE, RISK, DIRECTORY, history)
    assert alerts.column("app_id").to_pylist() == ["genai", "risky"]
    risky = alerts.to_pylist()[1]
    assert risky["first_seen"] == T - timedelta(days=3)
    assert risky["reason"].endswith("first used by the organisation on 2026-11-17")


def test_first_use_by_a_department_alerts_per_department_once():
    p = policy(group_by="department", new_within_days=0, conditions={"category": {"in": ["Generative AI"]}})
    history = History(first_use={("department", "genai", "Legal"): T - timedelta(days=10)})
    alerts = evaluate([p], DAY, CUBE, RISK, DIRECTORY, history)
    assert alerts.select(["app_id", "group_value", "users", "top_users"]).to_pylist() == [
        {"app_id": "genai", "group_value": "Finance", "users": 1, "top_users": ["ann@corp.example"]}]
    # the next day: the department used it yesterday, and the alert is inside its dedup window
    assert evaluate([p], DAY + timedelta(days=1), CUBE, RISK, DIRECTORY, history).num_rows == 0


def test_an_alert_is_not_raised_again_inside_its_dedup_window():
    p = policy(dedup_days=3, conditions={"bytes_up": {"gt": 500 * MB}})
    history = History()
    raised = [evaluate([p], DAY + timedelta(days=i), CUBE, RISK, DIRECTORY, history).num_rows for i in range(5)]
    assert raised == [1, 0, 0, 1, 0]


@pytest.mark.parametrize(("doc", "message"), [
    ({"id": "x", "name": "X", "severity": "urgent"}, "severity must be one of"),
    ({"id": "x", "name": "X", "severity": "low", "conditions": {"bytez": {"gt": 1}}}, "unknown field 'bytez'"),
    ({"id": "x", "name": "X", "severity": "low", "conditions": {"bytes": {"over": 1}}}, "unknown operator 'over'"),
    ({"id": "x", "name": "X", "severity": "low", "conditions": {"bytes": {"gt": "lots"}}}, "takes a number"),
    ({"id": "x", "name": "X", "severity": "low", "group_by": "team"}, "group_by must be one of"),
    ({"id": "x", "name": "X", "severity": "low", "dedup_days": -1}, "dedup_days must be"),
    ({"name": "X", "severity": "low"}, "`id` is required"),
    ({"id": "x", "name": "X", "severity": "low", "treshold": 3}, "unknown key(s) treshold"),
])
def test_a_bad_policy_says_what_is_wrong(doc, message):
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_policy(doc, "reference/policies/x.yaml")


def test_the_lake_folder_replaces_the_templates_and_an_empty_folder_means_none(tmp_path):
    lake = Lake(str(tmp_path))
    assert [p.id for p in load_policies(lake)] == [p.id for p in shipped_templates()]
    assert {p.id for p in shipped_templates()} == {"new_high_upload_app", "new_popular_app", "new_risky_app",
                                                   "unsanctioned_app_use", "first_genai_use_by_department"}
    lake.write_bytes(f"{POLICIES_PREFIX}/mine.yaml", b"id: big\nname: Big\nseverity: low\nconditions: {bytes: {gt: 1}}\n")
    lake.write_bytes(f"{POLICIES_PREFIX}/off.yaml", b"id: paused\nname: Paused\nseverity: low\nenabled: false\n")
    assert [p.id for p in load_policies(lake)] == ["big"]
    lake.write_bytes(f"{POLICIES_PREFIX}/bad.yaml", b"id: [unclosed\n")
    with pytest.raises(UserError, match="bad.yaml: not valid YAML"):
        load_policies(lake)
