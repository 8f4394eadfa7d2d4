"""Discovery policies as code: YAML files in the lake's reference/policies/ (the shipped templates
in etl/policies/templates/ when that folder does not exist), evaluated on a day's traffic cube
after its reports are built, writing the `alerts` table.

A policy names conditions on an app's figures for the day (or per group of users, such as a
department), optionally that the app (or the group's use of it) is new, and a dedup window: one
alert per (policy, app, group) per window. Everything an alert says comes from the cube and the
lake's committed history, so `policy test` can replay it over past days without writing.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import yaml

from etl import schema
from etl.errors import UserError
from etl.reports import decoded, sum_pair, with_risk

TEMPLATES = Path(__file__).resolve().parent / "templates"
SEVERITIES = ("low", "medium", "high")
GROUPS = ("department",)
NUMERIC = ("transactions", "bytes_up", "bytes_down", "bytes", "users", "machines", "score")
TEXT = ("app_id", "app_name", "category", "tag", "group_value")
OPERATORS = {"gt": (pc.greater, ">"), "ge": (pc.greater_equal, ">="), "lt": (pc.less, "<"),
             "le": (pc.less_equal, "<="), "eq": (pc.equal, "=")}
SET_OPERATORS = ("in", "not_in")
TOP = 5


@dataclass(frozen=True)
class Policy:
    id: str
    name: str
    severity: str
    conditions: dict            # field -> {operator: value}
    group_by: str | None = None
    new_within_days: int | None = None
    lookback_days: int = 90
    dedup_days: int = 90
    enabled: bool = True
    where: str = ""


def parse_policy(data, where: str) -> Policy:
    """A policy from its YAML document, or a UserError saying what is wrong and where."""
    if not isinstance(data, dict):
        raise UserError(f"{where}: a policy is a YAML mapping (id, name, severity, conditions, ...)")
    known = {"id", "name", "description", "severity", "conditions", "group_by", "new_within_days",
             "lookback_days", "dedup_days", "enabled"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise UserError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    for key in ("id", "name", "severity"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise UserError(f"{where}: `{key}` is required, as text (quote it if YAML reads it as yes/no or a number)")
    if data["severity"] not in SEVERITIES:
        raise UserError(f"{where}: severity must be one of {', '.join(SEVERITIES)}")
    group_by = data.get("group_by")
    if group_by is not None and group_by not in GROUPS:
        raise UserError(f"{where}: group_by must be one of {', '.join(GROUPS)}")
    conditions = data.get("conditions") or {}
    if not isinstance(conditions, dict):
        raise UserError(f"{where}: conditions is a mapping field -> {{operator: value}}")
    for name, test in conditions.items():
        if name not in NUMERIC + TEXT:
            raise UserError(f"{where}: condition on unknown field {name!r}; fields: {', '.join(NUMERIC + TEXT)}")
        if not isinstance(test, dict) or not test:
            raise UserError(f"{where}: condition {name}: write it as {{gt: 500}} or {{in: [a, b]}}")
        for op, value in test.items():
            if op in SET_OPERATORS:
                if not isinstance(value, list):
                    raise UserError(f"{where}: condition {name}.{op} takes a list")
            elif op in OPERATORS:
                if name in NUMERIC and not isinstance(value, (int, float)):
                    raise UserError(f"{where}: condition {name}.{op} takes a number, not {value!r}")
            else:
                raise UserError(f"{where}: condition {name}: unknown operator {op!r}; "
                                f"use {', '.join([*OPERATORS, *SET_OPERATORS])}")
    numbers = {}
    for key, default in (("new_within_days", None), ("lookback_days", 90), ("dedup_days", 90)):
        value = data.get(key, default)
        if value is not None and (not isinstance(value, int) or value < 0):
            raise UserError(f"{where}: {key} must be a whole number of days >= 0")
        numbers[key] = value
    return Policy(data["id"], data["name"], data["severity"], conditions, group_by, where=where,
                  enabled=bool(data.get("enabled", True)), **numbers)


def _parse_file(text: bytes | str, where: str) -> Policy:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise UserError(f"{where}: not valid YAML: {exc}") from None
    return parse_policy(data, where)


def shipped_templates() -> list[Policy]:
    return [_parse_file(p.read_text(), f"templates/{p.name}") for p in sorted(TEMPLATES.glob("*.yaml"))]


def load_policies(lake) -> list[Policy]:
    """The lake's enabled policies; the shipped templates when reference/policies/ does not exist
    (an existing but empty folder means: no policies)."""
    from etl.storage import POLICIES_PREFIX

    if not lake.exists(POLICIES_PREFIX):
        policies = shipped_templates()
    else:
        policies = [_parse_file(lake.read_bytes(obj.path), obj.path)
                    for obj in sorted(lake.list_files(POLICIES_PREFIX), key=lambda o: o.path)
                    if obj.path.endswith((".yaml", ".yml"))]
    ids = [p.id for p in policies]
    twice = sorted({i for i in ids if ids.count(i) > 1})
    if twice:
        raise UserError(f"{POLICIES_PREFIX}: policy id(s) used twice: {', '.join(twice)}")
    return [p for p in policies if p.enabled]


# -- figures -----------------------------------------------------------------------------------

def with_groups(cube: pa.Table, directory, group_by: str | None) -> pa.Table:
    """The cube's rows with a matched app, with `group_value` (the user's department) when grouped."""
    rows = decoded(cube.filter(pc.is_valid(cube.column("app_id"))))
    if group_by is None:
        return rows.append_column("group_value", pa.nulls(rows.num_rows, pa.string()))
    attrs = directory.attributes()
    at = pc.index_in(rows.column("user"), value_set=attrs.column("user"))
    rows = rows.append_column("group_value", pc.take(attrs.column(group_by), at))
    return rows.filter(pc.is_valid(rows.column("group_value")))


def figures(rows: pa.Table, risk: pa.Table | None) -> pa.Table:
    """Per (app, group): transactions, bytes, users, machines, first seen, score and tag."""
    keys = ["app_id", "app_name", "category", "group_value"]
    out = rows.group_by(keys, use_threads=False).aggregate([
        ("n", "sum"), ("bytes_up", "sum"), ("bytes_down", "sum"), ("user", "count_distinct"),
        ("device_id", "count_distinct"), ("first_seen", "min")])
    out = out.rename_columns([{"n_sum": "transactions", "bytes_up_sum": "bytes_up", "bytes_down_sum": "bytes_down",
                               "user_count_distinct": "users", "device_id_count_distinct": "machines",
                               "first_seen_min": "first_seen"}.get(c, c) for c in out.column_names])
    out = out.append_column("bytes", sum_pair(out, "bytes_up", "bytes_down"))
    return with_risk(out, risk)


def _holds(table: pa.Table, name: str, test: dict) -> pa.ChunkedArray:
    values = table.column(name)
    keep = None
    for op, value in test.items():
        if op in SET_OPERATORS:
            hit = pc.is_in(values, value_set=pa.array([str(v) for v in value], pa.string()))
            hit = pc.invert(hit) if op == "not_in" else hit
        else:
            scalar = pa.scalar(value) if name in NUMERIC else pa.scalar(str(value))
            hit = OPERATORS[op][0](values, scalar)
        keep = hit if keep is None else pc.and_(keep, hit)
    return pc.fill_null(keep, False)  # an unknown figure (no score, no bytes) never fires


def _fmt(name: str, value) -> str:
    if value is None:
        return "unknown"
    if name.startswith("bytes") and isinstance(value, (int, float)):
        for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
            if abs(value) >= size:
                return f"{value / size:.1f} {unit}"
        return f"{value} B"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def _reason(policy: Policy, row: dict, first_use: date | None) -> str:
    parts = []
    for name, test in policy.conditions.items():
        for op, value in test.items():
            if op in SET_OPERATORS:
                parts.append(f"{name} {row.get(name)} {'in' if op == 'in' else 'not in'} [{', '.join(map(str, value))}]")
            else:
                parts.append(f"{name} {_fmt(name, row.get(name))} {OPERATORS[op][1]} {_fmt(name, value)}")
    if policy.new_within_days is not None and first_use is not None:
        who = f"{policy.group_by} {row['group_value']}" if policy.group_by else "the organisation"
        parts.append(f"first used by {who} on {first_use.isoformat()}")
    return "; ".join(parts)


# -- history -----------------------------------------------------------------------------------

@dataclass
class History:
    """What the lake says before the evaluated day: first use per (app, group) over each policy's
    lookback, and the alert keys still inside their dedup window."""
    first_use: dict = field(default_factory=dict)    # (group_by, app_id, group_value) -> first seen (datetime)
    alerted: dict = field(default_factory=dict)      # (policy_id, app_id, group_value) -> last alert day

    def seen_before(self, group_by: str | None, app_id: str, group_value: str | None):
        return self.first_use.get((group_by, app_id, group_value))

    def add_alerts(self, alerts: pa.Table, day: date) -> None:
        for row in alerts.select(["policy_id", "app_id", "group_value"]).to_pylist():
            self.alerted[(row["policy_id"], row["app_id"], row["group_value"])] = day


def lake_history(lake, day: date, policies: list[Policy], directory, until: date | None = None) -> History:
    """History from committed days before `day` (alerts only before `until` when given: a replay
    over a range supplies its own alerts for the days it covers)."""
    from etl.query import read_table

    history = History()
    if not policies:
        return history
    lookback = max(p.lookback_days for p in policies)
    before = day - timedelta(days=1)
    start = day - timedelta(days=lookback)
    apps = read_table(lake, "apps", start, before, ["app_id", "first_seen"])
    if apps.num_rows:
        first = apps.group_by("app_id", use_threads=False).aggregate([("first_seen", "min")])
        for app_id, seen in zip(first.column("app_id").to_pylist(), first.column("first_seen_min").to_pylist()):
            history.first_use[(None, app_id, None)] = seen
    for group_by in {p.group_by for p in policies if p.group_by}:
        used = read_table(lake, "user_apps", start, before, ["user", "app_id", "first_seen"])
        attrs = directory.attributes()
        used = used.append_column("group_value", pc.take(attrs.column(group_by),
                                                         pc.index_in(used.column("user"), value_set=attrs.column("user"))))
        used = used.filter(pc.is_valid(used.column("group_value")))
        if used.num_rows:
            first = used.group_by(["app_id", "group_value"], use_threads=False).aggregate([("first_seen", "min")])
            for row in first.to_pylist():
                history.first_use[(group_by, row["app_id"], row["group_value"])] = row["first_seen_min"]
    dedup = max(p.dedup_days for p in policies)
    alerts_to = min(before, (until or day) - timedelta(days=1))
    alerts = read_table(lake, "alerts", day - timedelta(days=dedup), alerts_to, ["policy_id", "app_id", "group_value"])
    for row in alerts.to_pylist():
        key = (row["policy_id"], row["app_id"], row["group_value"])
        history.alerted[key] = max(history.alerted.get(key, row["date"]), row["date"])
    return history


# -- evaluation --------------------------------------------------------------------------------

def _top(rows: pa.Table, column: str) -> list[str]:
    rows = rows.filter(pc.is_valid(rows.column(column)))
    if rows.num_rows == 0:
        return []
    rows = rows.append_column("row_bytes", pc.fill_null(sum_pair(rows, "bytes_up", "bytes_down"), 0))
    out = rows.group_by(column, use_threads=False).aggregate([("row_bytes", "sum"), ("n", "sum")])
    out = out.sort_by([("row_bytes_sum", "descending"), ("n_sum", "descending"), (column, "ascending")])
    return out.column(column).slice(0, TOP).to_pylist()


def evaluate(policies: list[Policy], day: date, cube: pa.Table, risk: pa.Table | None, directory,
             history: History) -> pa.Table:
    """The alerts `day`'s cube raises (a snapshot passes its last day). `history` is updated with
    them, so evaluating days in order dedups as the daily runs would."""
    out = []
    for policy in policies:
        rows = with_groups(cube, directory, policy.group_by)
        table = figures(rows, risk)
        keep = pa.chunked_array([pa.array([True] * table.num_rows, pa.bool_())])
        for name, test in policy.conditions.items():
            keep = pc.and_(keep, _holds(table, name, test))
        for row in table.filter(keep).to_pylist():
            key = (policy.id, row["app_id"], row["group_value"])
            last = history.alerted.get(key)
            if last is not None and (day - last).days < policy.dedup_days:
                continue
            earlier = history.seen_before(policy.group_by, row["app_id"], row["group_value"])
            if earlier is not None and (day - earlier.date()).days > policy.lookback_days:
                earlier = None
            first = min(earlier, row["first_seen"]) if earlier is not None else row["first_seen"]
            if policy.new_within_days is not None and (day - first.date()).days > policy.new_within_days:
                continue
            mine = pc.equal(rows.column("app_id"), row["app_id"])
            if policy.group_by:
                mine = pc.and_(mine, pc.equal(rows.column("group_value"), row["group_value"]))
            evidence = rows.filter(mine)
            out.append({
                **{k: row[k] for k in ("app_id", "app_name", "category", "score", "tag", "group_value",
                                       "transactions", "bytes_up", "bytes_down", "users", "machines")},
                "alert_id": hashlib.sha256(f"{policy.id}|{row['app_id']}|{row['group_value'] or ''}|{day}".encode()).hexdigest()[:16],
                "policy_id": policy.id, "policy_name": policy.name, "severity": policy.severity,
                "group_by": policy.group_by, "reason": _reason(policy, row, first.date()),
                "first_seen": first, "top_users": _top(evidence, "user"), "top_machines": _top(evidence, "device_name"),
                "dedup_until": (day + timedelta(days=policy.dedup_days)).isoformat(),
            })
            history.alerted[key] = day
    if not out:
        return schema.report_schema("alerts").empty_table()
    table = pa.Table.from_pylist(out)
    return schema.conform(table, "alerts").sort_by([("policy_id", "ascending"), ("app_id", "ascending"),
                                                    ("group_value", "ascending")])


def evaluate_day(lake, day: date, cube: pa.Table, risk: pa.Table | None, directory) -> pa.Table:
    """The alerts of one continuous day (what the daily DAG writes after the reports)."""
    policies = load_policies(lake)
    return evaluate(policies, day, cube, risk, directory, lake_history(lake, day, policies, directory))


def replay(lake, first: date, last: date) -> list[dict]:
    """What the policies would raise over committed days first..last, in order, without writing:
    the alerts committed before `first` dedup, and so do the ones the replay raises itself."""
    from etl.catalog.score import app_risk
    from etl.identity import load_directory
    from etl.query import committed_days, traffic_cube

    policies = load_policies(lake)
    directory, _ = load_directory(lake)
    risk, _ = app_risk(lake)
    found = []
    raised = History()
    for day in committed_days(lake, first, last):
        history = lake_history(lake, day, policies, directory, until=first)
        history.alerted.update(raised.alerted)
        alerts = evaluate(policies, day, traffic_cube(lake, day, day), risk, directory, history)
        raised.add_alerts(alerts, day)
        found += [{"date": day.isoformat(), **row} for row in alerts.to_pylist()]
    return found
