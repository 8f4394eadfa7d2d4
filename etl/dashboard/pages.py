"""The pages: overview, three lists (machines, apps, users) and one page per machine, app and user.

Per-entity pages are written from tables sorted once by their key and sliced (data.split_by): a
page carries its own rows only. Column values are turned into Python lists once per table, and
timestamps formatted once per column (pyarrow strftime), not per page.
"""
from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from etl.dashboard import svg
from etl.dashboard.data import TAGS, DashboardData, split_by
from etl.dashboard.render import (Slugs, card, cards, esc, facts, json_table, link, page, panel, table,
                                  tag_badge)

TAG_COLORS = {"sanctioned": "#2e7d32", "monitored": "#d38b00", "unsanctioned": "#c62828", "none": "#9aa3ad"}
UP, DOWN, LINE = "#1f5fbf", "#e07b00", "#5b3fbf"
RISK_BUCKETS = [("0–2", "#c62828"), ("2–4", "#e4572e"), ("4–6", "#d38b00"), ("6–8", "#8bb04a"), ("8–10", "#2e7d32")]
TOP_CATEGORIES, TOP_APPS, TOP_DOMAINS, MAX_ALERTS, MAX_NEW_APPS = 12, 15, 20, 200, 200
TS_FORMAT = "%Y-%m-%d %H:%M"


# ---------------------------------------------------------------------------
# Column access
# ---------------------------------------------------------------------------

def columns(table: pa.Table, names: list[str]) -> dict[str, list]:
    """Python lists of the columns (timestamps as 'YYYY-MM-DD HH:MM' UTC, dates ISO)."""
    out = {}
    for name in names:
        col = table.column(name)
        if pa.types.is_dictionary(col.type):
            col = pc.cast(col, col.type.value_type)
        if pa.types.is_timestamp(col.type):
            col = pc.strftime(col, format=TS_FORMAT)
        elif pa.types.is_date(col.type):
            col = pc.cast(col, pa.string())
        out[name] = col.to_pylist()
    return out


def _rows(cols: dict[str, list], names: list[str], span: tuple[int, int] | None = None) -> list[tuple]:
    if span is None:
        return list(zip(*[cols[n] for n in names]))
    start, length = span
    return list(zip(*[cols[n][start:start + length] for n in names]))


def _score(value) -> float | None:
    return None if value is None else round(float(value), 1)


def _sum(table: pa.Table, column: str) -> int | None:
    value = pc.sum(table.column(column)).as_py() if table.num_rows else None
    return None if value is None else int(value)


def _distinct(table: pa.Table, column: str) -> int:
    return int(pc.count_distinct(table.column(column)).as_py()) if table.num_rows else 0


class Site:
    """The pages of one period; `write(rel, text)` is given by the caller."""

    def __init__(self, data: DashboardData, write):
        self.d = data
        self.write = write
        self.label = data.period.label
        self.days = data.period.days
        self.machine_slugs, self.app_slugs, self.user_slugs = Slugs(), Slugs(), Slugs()
        m = data.machines.sort_by("device_id")
        for key, name in zip(m.column("device_id").to_pylist(), m.column("device_name").to_pylist()):
            self.machine_slugs.add(key, name or key)
        for key in sorted(set(data.apps.column("app_id").to_pylist())):
            self.app_slugs.add(key, key)
        for key in sorted(set(data.users.column("user").to_pylist())):
            self.user_slugs.add(key, key)
        self.app_info = {a: (n, c, t, s) for a, n, c, t, s in zip(*(data.apps.column(x).to_pylist() for x in
                                                                    ("app_id", "name", "category", "tag", "score")))}
        self.machine_names = dict(zip(data.machines.column("device_id").to_pylist(),
                                      data.machines.column("device_name").to_pylist()))

    # -- hrefs (relative to the page's folder depth) ------------------------------------------

    def machine_href(self, device_id, depth: int) -> str | None:
        slug = self.machine_slugs.get(device_id)
        return None if slug is None else f"{'../' * depth}machines/{slug}.html"

    def app_href(self, app_id, depth: int) -> str | None:
        slug = self.app_slugs.get(app_id)
        return None if slug is None else f"{'../' * depth}apps/{slug}.html"

    def user_href(self, user, depth: int) -> str | None:
        slug = self.user_slugs.get(user)
        return None if slug is None else f"{'../' * depth}users/{slug}.html"

    def _page(self, rel: str, title: str, body: str, active: str | None) -> None:
        self.write(rel, page(title, body, rel.count("/"), active, self.label))

    # -- per-day series -------------------------------------------------------------------------

    def _by_day(self, table: pa.Table) -> dict[str, list]:
        """{"transactions"|"bytes_up"|"bytes_down": values per period day} of daily rows."""
        out = table.group_by("date", use_threads=False).aggregate(
            [("transactions", "sum"), ("bytes_up", "sum"), ("bytes_down", "sum")])
        at = dict(zip(out.column("date").to_pylist(), range(out.num_rows)))
        series = {}
        for name in ("transactions", "bytes_up", "bytes_down"):
            values = out.column(f"{name}_sum").to_pylist()
            series[name] = [values[at[d]] if d in at else None for d in self.days]
        return series

    def _traffic_chart(self, series: dict[str, list], title: str, chart_id: str) -> str:
        if any(series["bytes_up"]) or any(series["bytes_down"]):
            return svg.area_chart(self.days, [("uploaded", series["bytes_up"], UP),
                                              ("downloaded", series["bytes_down"], DOWN)],
                                  title, unit="bytes", chart_id=chart_id)
        return (svg.area_chart(self.days, [("transactions", series["transactions"], LINE)],
                               title.replace("Traffic", "Transactions"), chart_id=chart_id)
                + '<p class="muted">No byte counts in these sources: transactions per day.</p>')

    # -----------------------------------------------------------------------------------------
    # Overview
    # -----------------------------------------------------------------------------------------

    def index(self) -> None:
        d = self.d
        figures = {
            "apps": _distinct(d.apps, "app_id"), "users": _distinct(d.users, "user"),
            "machines": _distinct(d.machines, "device_id"), "ips": _distinct(d.ip_addresses, "ip"),
            "alerts": d.alerts.num_rows,
        }
        new_apps = d.apps.filter(pc.is_in(d.apps.column("app_id"), value_set=pa.array(sorted(d.new_app_ids), pa.string())))
        period = d.period
        span = (f"{len(self.days)} committed day{'s' if len(self.days) != 1 else ''}" if period.mode == "range"
                else f"{len(self.days)} day{'s' if len(self.days) != 1 else ''} of uploaded logs")
        head = [
            card("Apps", figures["apps"], "fig-apps", hint="discovered"),
            card("Users", figures["users"], "fig-users"),
            card("Machines", figures["machines"], "fig-machines"),
            card("IP addresses", figures["ips"], "fig-ips"),
            card("Transactions", d.totals["transactions"], "fig-transactions"),
            card("Uploaded", d.totals["bytes_up"], "fig-bytes-up", kind="bytes"),
            card("Downloaded", d.totals["bytes_down"], "fig-bytes-down", kind="bytes"),
            card("New apps", new_apps.num_rows, "fig-new-apps"),
            card("Alerts", figures["alerts"], "fig-alerts"),
        ]
        body = [f"<h1>Overview</h1><p class=\"muted\">{esc(self.label)} · {esc(span)}</p>", cards(head)]

        per_day = self._by_day(d.daily)
        apps_daily = d.daily.filter(pc.is_valid(d.daily.column("app_id"))).group_by("date", use_threads=False).aggregate(
            [("app_id", "count_distinct")])
        apps_at = dict(zip(apps_daily.column("date").to_pylist(), apps_daily.column("app_id_count_distinct").to_pylist()))
        body.append('<div class="grid2">' + panel("Apps over time", svg.area_chart(
            self.days, [("distinct apps", [apps_at.get(x, 0) for x in self.days], LINE)], "Distinct apps per day",
            chart_id="chart-apps-per-day"), "apps-over-time")
            + panel("Traffic over time", self._traffic_chart(per_day, "Traffic per day", "chart-traffic-per-day"),
                    "traffic-over-time") + "</div>")

        body.append(self._categories() + self._risk())
        body.append(self._top_apps())
        body.append(self._new_apps(new_apps))
        body.append(self._unknown_domains())
        body.append(self._alerts())
        self._page("index.html", "Overview", "".join(body), "index.html")

    def _categories(self) -> str:
        apps = self.d.apps
        if apps.num_rows == 0:
            return panel("Top categories", '<p class="muted">No apps in this period.</p>', "top-categories")
        cat = pc.fill_null(apps.column("category"), "Uncategorized")
        t = pa.table({"category": cat, "tag": apps.column("tag"), "transactions": apps.column("transactions"),
                      "bytes": pc.fill_null(apps.column("bytes"), 0), "app_id": apps.column("app_id")})
        g = t.group_by(["category", "tag"], use_threads=False).aggregate(
            [("transactions", "sum"), ("bytes", "sum"), ("app_id", "count_distinct")])
        stats: dict[str, dict] = {}
        for c, tag, tx, b, n in zip(*(g.column(x).to_pylist() for x in
                                      ("category", "tag", "transactions_sum", "bytes_sum", "app_id_count_distinct"))):
            s = stats.setdefault(c, {"tx": {}, "apps": {}, "bytes": 0})
            s["tx"][tag] = tx
            s["apps"][tag] = n
            s["bytes"] += b or 0
        ranked = sorted(stats.items(), key=lambda kv: (-sum(kv[1]["tx"].values()), kv[0]))
        top = ranked[:TOP_CATEGORIES]
        chart = svg.hbar_chart(
            [(c, [(s["tx"].get(tag, 0), TAG_COLORS[tag], tag) for tag in TAGS], None) for c, s in top],
            "Top categories by transactions, by tag", legend=[(tag, TAG_COLORS[tag]) for tag in TAGS],
            chart_id="chart-categories")
        rows = []
        for c, s in top:
            tx = sum(s["tx"].values())
            share = s["tx"].get("sanctioned", 0) / tx if tx else 0
            rows.append((c, sum(s["apps"].values()), s["apps"].get("sanctioned", 0), tx, round(100 * share),
                         s["bytes"] or None))
        tbl = table("categories", [("Category", "text"), ("Apps", "num"), ("Sanctioned", "num"),
                                   ("Transactions", "num"), ("Sanctioned %", "num"), ("Bytes", "bytes")], rows,
                    note=f"Top {len(top)} of {len(ranked)} categories. Sanctioned: apps tagged sanctioned; sanctioned %: "
                         "the share of the category's transactions that went to them.")
        return panel("Top categories", f'<div class="split"><div>{chart}</div><div>{tbl}</div></div>', "top-categories")

    def _risk(self) -> str:
        apps = self.d.apps
        score = apps.column("score")
        bucket = pc.min_element_wise(pc.cast(pc.floor(pc.divide(pc.cast(score, pa.float64()), 2.0)), pa.int64()), 4)
        bucket = pc.fill_null(bucket, -1)
        t = pa.table({"bucket": bucket, "transactions": apps.column("transactions")})
        g = t.group_by("bucket", use_threads=False).aggregate([([], "count_all"), ("transactions", "sum")])
        counts = dict(zip(g.column("bucket").to_pylist(), g.column("count_all").to_pylist()))
        tx = dict(zip(g.column("bucket").to_pylist(), g.column("transactions_sum").to_pylist()))
        bars = [(label, counts.get(i, 0), color) for i, (label, color) in enumerate(RISK_BUCKETS)]
        bars.append(("unscored", counts.get(-1, 0), TAG_COLORS["none"]))
        chart = svg.vbar_chart(bars, "Apps by risk score (10 = safest)", chart_id="chart-risk")
        rows = [(label, counts.get(i, 0), tx.get(i, 0)) for i, (label, _) in enumerate(RISK_BUCKETS)]
        rows.append(("unscored", counts.get(-1, 0), tx.get(-1, 0)))
        tbl = table("risk", [("Score", "text"), ("Apps", "num"), ("Transactions", "num")], rows, sortable=False,
                    note="Scores from the catalog's risk factors, 0 (riskiest) to 10 (safest); an app with "
                         "no score is unscored.")
        return panel("Risk distribution", f'<div class="split"><div>{chart}</div><div>{tbl}</div></div>',
                     "risk-distribution")

    def _top_apps(self) -> str:
        apps = self.d.apps.sort_by([("transactions", "descending"), ("app_id", "ascending")]).slice(0, TOP_APPS)
        c = columns(apps, ["app_id", "name", "tag", "transactions"])
        chart = svg.hbar_chart(
            [(name or a, [(tx, TAG_COLORS.get(tag, TAG_COLORS["none"]), tag)], self.app_href(a, 0))
             for a, name, tag, tx in _rows(c, ["app_id", "name", "tag", "transactions"])],
            "Top apps by transactions (colour: tag)", legend=[(tag, TAG_COLORS[tag]) for tag in TAGS],
            chart_id="chart-top-apps")
        return panel("Top apps", chart, "top-apps")

    def _new_apps(self, new_apps: pa.Table) -> str:
        p = self.d.period
        if p.earlier_days:
            how = (f"Apps first seen in this period: not in any of the {p.earlier_days} committed "
                   f"day{'s' if p.earlier_days != 1 else ''} before it.")
        else:
            how = "No committed day before this period: every app in it is first seen in it."
        t = new_apps.sort_by([("first_seen", "ascending"), ("app_id", "ascending")])
        shown = t.slice(0, MAX_NEW_APPS)
        c = columns(shown, ["app_id", "name", "category", "tag", "score", "first_seen", "transactions", "users", "machines"])
        rows = [((n or a, self.app_href(a, 0)), cat, tag, _score(s), fs, tx, u, m)
                for a, n, cat, tag, s, fs, tx, u, m in _rows(c, list(c))]
        note = f"Showing {shown.num_rows} of {t.num_rows}." if t.num_rows > shown.num_rows else None
        return panel("New apps", f'<p class="muted">{esc(how)}</p>' + table(
            "new-apps", [("App", "link"), ("Category", "text"), ("Tag", "tag"), ("Score", "score"),
                         ("First seen", "text"), ("Transactions", "num"), ("Users", "num"), ("Machines", "num")],
            rows, note=note), "new-apps")

    def _unknown_domains(self) -> str:
        t = self.d.unknown_domains.sort_by([("transactions", "descending"), ("domain", "ascending")])
        top = t.slice(0, TOP_DOMAINS)
        c = columns(top, ["domain", "hosts", "example_hosts", "transactions", "bytes", "machines", "users"])
        rows = [(dom, h, ", ".join(ex or []), tx, b, m, u) for dom, h, ex, tx, b, m, u in _rows(c, list(c))]
        return panel("Top unknown domains", table(
            "unknown-domains", [("Domain", "text"), ("Hosts", "num"), ("Example hosts", "wrap"),
                                ("Transactions", "num"), ("Bytes", "bytes"), ("Machines", "num"), ("Users", "num")],
            rows, note=f"Destinations no catalog app matched; top {top.num_rows} of {t.num_rows}."), "unknown-domains")

    def _alerts(self) -> str:
        a = self.d.alerts
        if a.num_rows:
            rank = pc.index_in(a.column("severity"), value_set=pa.array(["high", "medium", "low"]))
            a = a.append_column("_rank", pc.fill_null(rank, 3)).sort_by(
                [("_rank", "ascending"), ("first_seen", "descending"), ("alert_id", "ascending")])
        shown = a.slice(0, MAX_ALERTS)
        c = columns(shown, ["severity", "policy_name", "app_id", "app_name", "group_value", "reason", "users",
                            "machines", "first_seen"])
        rows = [(sev, pol, (name or app, self.app_href(app, 0)), grp, reason, u, m, fs)
                for sev, pol, app, name, grp, reason, u, m, fs in _rows(c, list(c))]
        note = f"Showing {shown.num_rows} of {a.num_rows}." if a.num_rows > shown.num_rows else None
        return panel("Alerts", table(
            "alerts", [("Severity", "sev"), ("Policy", "text"), ("App", "link"), ("Group", "text"),
                       ("Reason", "wrap"), ("Users", "num"), ("Machines", "num"), ("First seen", "text")],
            rows, empty="No alerts in this period.", note=note), "alerts")

    # -----------------------------------------------------------------------------------------
    # Lists
    # -----------------------------------------------------------------------------------------

    def machines_list(self) -> None:
        d = self.d
        users = d.machine_users.group_by("device_id", use_threads=False).aggregate([("user", "distinct")])
        users_of = {k: ", ".join(sorted(v)) for k, v in zip(users.column("device_id").to_pylist(),
                                                            users.column("user_distinct").to_pylist())}
        names = ["device_id", "device_name", "os", "transactions", "bytes_up", "bytes_down", "total_bytes", "apps",
                 "users", "ip_addresses", "last_seen"]
        m = d.machines.sort_by([("transactions", "descending"), ("device_id", "ascending")])
        c = columns(m, names)
        rows = [[self.machine_slugs.get(dev), name or dev, users_of.get(dev, ""), *rest]
                for dev, name, *rest in _rows(c, names)]
        body = ("<h1>Machines</h1>" + panel(None, json_table(
            "machines", [("Machine", "link"), ("Users", "wrap"), ("OS", "text"), ("Transactions", "num"),
                         ("Uploads", "bytes"), ("Downloads", "bytes"), ("Total", "bytes"), ("Apps", "num"),
                         ("Users #", "num"), ("IPs", "num"), ("Last seen", "text")],
            rows, "machines/", [0, 1, 2], "Filter by machine, user or OS")))
        self._page("machines.html", "Machines", body, "machines.html")

    def apps_list(self) -> None:
        names = ["app_id", "name", "category", "tag", "score", "transactions", "bytes_up", "bytes_down", "users",
                 "machines", "first_seen", "last_seen"]
        a = self.d.apps.sort_by([("transactions", "descending"), ("app_id", "ascending")])
        c = columns(a, names)
        rows = [[self.app_slugs.get(app), name or app, cat, tag, _score(s), *rest]
                for app, name, cat, tag, s, *rest in _rows(c, names)]
        body = ("<h1>Discovered apps</h1>" + panel(None, json_table(
            "apps", [("App", "link"), ("Category", "text"), ("Tag", "tag"), ("Score", "num"), ("Transactions", "num"),
                     ("Uploads", "bytes"), ("Downloads", "bytes"), ("Users", "num"), ("Machines", "num"),
                     ("First seen", "text"), ("Last seen", "text")],
            rows, "apps/", [0, 1, 2], "Filter by app, category or tag")))
        self._page("apps.html", "Apps", body, "apps.html")

    def users_list(self) -> None:
        names = ["user", "display_name", "department", "transactions", "bytes_up", "bytes_down", "apps", "machines",
                 "ip_addresses", "first_seen", "last_seen"]
        u = self.d.users.sort_by([("transactions", "descending"), ("user", "ascending")])
        c = columns(u, names)
        rows = [[self.user_slugs.get(user), user, *rest] for user, *rest in _rows(c, names)]
        body = ("<h1>Users</h1>" + panel(None, json_table(
            "users", [("User", "link"), ("Name", "text"), ("Department", "text"), ("Transactions", "num"),
                      ("Uploads", "bytes"), ("Downloads", "bytes"), ("Apps", "num"), ("Machines", "num"),
                      ("IPs", "num"), ("First seen", "text"), ("Last seen", "text")],
            rows, "users/", [0, 1, 2], "Filter by user, name or department")))
        self._page("users.html", "Users", body, "users.html")

    # -----------------------------------------------------------------------------------------
    # One page per machine
    # -----------------------------------------------------------------------------------------

    def machine_pages(self) -> int:
        d = self.d
        apps, apps_at = split_by(d.machine_apps, "device_id", [("app_id", "ascending")])
        apps = apps.append_column("total", pc.add(pc.fill_null(apps.column("bytes_up"), 0),
                                                  pc.fill_null(apps.column("bytes_down"), 0)))
        users, users_at = split_by(d.machine_users, "device_id", [("last_seen", "descending"), ("user", "ascending")])
        ips, ips_at = split_by(d.machine_ips, "device_id", [("last_seen", "descending"), ("ip", "ascending")])
        daily = d.daily.group_by(["device_id", "date"], use_threads=False).aggregate(
            [("transactions", "sum"), ("bytes_up", "sum"), ("bytes_down", "sum")])
        daily, daily_at = split_by(daily, "device_id", [("date", "ascending")])
        ca = columns(apps, ["app_id", "app_name", "transactions", "bytes_up", "bytes_down", "total", "first_seen",
                            "last_seen"])
        cu = columns(users, ["user", "source", "first_seen", "last_seen"])
        ci = columns(ips, ["ip", "source", "first_seen", "last_seen"])
        cd = columns(daily, ["date", "transactions_sum", "bytes_up_sum", "bytes_down_sum"])
        names = ["device_id", "device_name", "os", "transactions", "bytes_up", "bytes_down", "total_bytes", "apps",
                 "users", "ip_addresses", "first_seen", "last_seen"]
        cm = columns(d.machines, names)
        written = 0
        for dev, name, os_, tx, up, down, total, n_apps, n_users, n_ips, fs, ls in _rows(cm, names):
            slug = self.machine_slugs.get(dev)
            app_rows = sorted(_rows(ca, list(ca), apps_at.get(dev, (0, 0))), key=lambda r: (-r[5], -r[2], r[0]))
            series = {"transactions": [None] * len(self.days), "bytes_up": [None] * len(self.days),
                      "bytes_down": [None] * len(self.days)}
            position = {x.isoformat(): i for i, x in enumerate(self.days)}
            for day, dtx, dup, ddown in _rows(cd, list(cd), daily_at.get(dev, (0, 0))):
                if day in position:
                    i = position[day]
                    series["transactions"][i], series["bytes_up"][i], series["bytes_down"][i] = dtx, dup, ddown
            user_rows = [((u, self.user_href(u, 1)), src, f, l) for u, src, f, l in _rows(cu, list(cu), users_at.get(dev, (0, 0)))]
            ip_rows = _rows(ci, list(ci), ips_at.get(dev, (0, 0)))
            user_links = ", ".join(sorted({link(u, h) for (u, h), *_ in user_rows})) or "–"
            body = [
                f"<h1>{esc(name or dev)}</h1>",
                panel(None, facts([("Device id", esc(dev)), ("OS", esc(os_)), ("Users", user_links),
                                   ("First seen", esc(fs)), ("Last seen", esc(ls))]), "machine-facts"),
                cards([card("Transactions", tx, "fig-transactions"), card("Total traffic", total, "fig-total-bytes", "bytes"),
                       card("Uploads", up, "fig-bytes-up", "bytes"), card("Downloads", down, "fig-bytes-down", "bytes"),
                       card("Apps", n_apps, "fig-apps"), card("Users", n_users, "fig-users"),
                       card("IP addresses", n_ips, "fig-ips")]),
                panel("Traffic over time", self._traffic_chart(series, "Traffic per day", "chart-machine-traffic"),
                      "machine-traffic"),
                panel("Discovered apps", table(
                    "machine-apps", [("App", "link"), ("Category", "text"), ("Tag", "tag"), ("Transactions", "num"),
                                     ("Uploads", "bytes"), ("Downloads", "bytes"), ("Total", "bytes"),
                                     ("First seen", "text"), ("Last seen", "text")],
                    [((an or a, self.app_href(a, 1)), self.app_info.get(a, (None, None))[1],
                      self.app_info.get(a, (None, None, "none"))[2], atx, aup, adown, atot or None, afs, als)
                     for a, an, atx, aup, adown, atot, afs, als in app_rows]), "discovered-apps"),
                panel("User history", table("user-history", [("User", "link"), ("Source", "text"),
                                                              ("First seen", "text"), ("Last seen", "text")], user_rows),
                      "user-history-panel"),
                panel("IP-address history", table("ip-history", [("IP address", "text"), ("Source", "text"),
                                                                 ("First seen", "text"), ("Last seen", "text")], ip_rows),
                      "ip-history-panel"),
            ]
            self._page(f"machines/{slug}.html", name or dev, "".join(body), "machines.html")
            written += 1
        return written

    # -----------------------------------------------------------------------------------------
    # One page per app
    # -----------------------------------------------------------------------------------------

    def app_pages(self) -> int:
        d = self.d
        ua, ua_at = split_by(d.user_apps, "app_id", [("transactions", "descending"), ("user", "ascending")])
        ma, ma_at = split_by(d.machine_apps, "app_id", [("transactions", "descending"), ("device_id", "ascending")])
        daily = d.daily.filter(pc.is_valid(d.daily.column("app_id"))).group_by(["app_id", "date"], use_threads=False).aggregate(
            [("transactions", "sum"), ("bytes_up", "sum"), ("bytes_down", "sum")])
        daily, daily_at = split_by(daily, "app_id", [("date", "ascending")])
        cu = columns(ua, ["user", "transactions", "bytes_up", "bytes_down", "machines", "first_seen", "last_seen"])
        cm = columns(ma, ["device_id", "device_name", "transactions", "bytes_up", "bytes_down", "first_seen", "last_seen"])
        cd = columns(daily, ["date", "transactions_sum", "bytes_up_sum", "bytes_down_sum"])
        names = ["app_id", "name", "category", "score", "tag", "transactions", "bytes_up", "bytes_down", "users",
                 "machines", "ip_addresses", "first_seen", "last_seen"]
        ca = columns(self.d.apps, names)
        position = {x.isoformat(): i for i, x in enumerate(self.days)}
        written, done = 0, set()
        for app, name, cat, score, tag, tx, up, down, n_users, n_machines, n_ips, fs, ls in _rows(ca, names):
            if app in done:
                continue
            done.add(app)
            day_rows = _rows(cd, list(cd), daily_at.get(app, (0, 0)))
            series = {"transactions": [None] * len(self.days), "bytes_up": [None] * len(self.days),
                      "bytes_down": [None] * len(self.days)}
            for day, dtx, dup, ddown in day_rows:
                if day in position:
                    i = position[day]
                    series["transactions"][i], series["bytes_up"][i], series["bytes_down"][i] = dtx, dup, ddown
            new = ' <span class="tag tag-monitored">new in this period</span>' if app in d.new_app_ids else ""
            body = [
                f"<h1>{esc(name or app)}{new}</h1>",
                panel(None, facts([("App id", esc(app)), ("Category", esc(cat)), ("Tag", tag_badge(tag)),
                                   ("Score", esc(None if score is None else f"{score:.1f} / 10 (10 = safest)")),
                                   ("First seen", esc(fs)), ("Last seen", esc(ls))]), "app-facts"),
                cards([card("Transactions", tx, "fig-transactions"), card("Uploads", up, "fig-bytes-up", "bytes"),
                       card("Downloads", down, "fig-bytes-down", "bytes"), card("Users", n_users, "fig-users"),
                       card("Machines", n_machines, "fig-machines"), card("IP addresses", n_ips, "fig-ips")]),
                panel("Traffic per day", self._traffic_chart(series, "Traffic per day", "chart-app-traffic")
                      + table("app-daily", [("Day", "text"), ("Transactions", "num"), ("Uploads", "bytes"),
                                            ("Downloads", "bytes")], day_rows), "app-traffic"),
                # an app's users and machines can be thousands: compact JSON rows, drawn by the script
                panel("Users", json_table(
                    "app-users", [("User", "link"), ("Transactions", "num"), ("Uploads", "bytes"),
                                  ("Downloads", "bytes"), ("Machines", "num"), ("First seen", "text"),
                                  ("Last seen", "text")],
                    [[self.user_slugs.get(u), u, *rest] for u, *rest in _rows(cu, list(cu), ua_at.get(app, (0, 0)))],
                    "../users/", [0], "Filter users"), "app-users-panel"),
                panel("Machines", json_table(
                    "app-machines", [("Machine", "link"), ("Transactions", "num"), ("Uploads", "bytes"),
                                     ("Downloads", "bytes"), ("First seen", "text"), ("Last seen", "text")],
                    [[self.machine_slugs.get(dev), self.machine_names.get(dev) or dn or dev, *rest]
                     for dev, dn, *rest in _rows(cm, list(cm), ma_at.get(app, (0, 0)))],
                    "../machines/", [0], "Filter machines"), "app-machines-panel"),
            ]
            self._page(f"apps/{self.app_slugs.get(app)}.html", name or app, "".join(body), "apps.html")
            written += 1
        return written

    # -----------------------------------------------------------------------------------------
    # One page per user
    # -----------------------------------------------------------------------------------------

    def user_pages(self) -> int:
        d = self.d
        um = d.machine_users.group_by(["user", "device_id"], use_threads=False).aggregate(
            [("source", "distinct"), ("first_seen", "min"), ("last_seen", "max"), ("device_name", "last")])
        um, um_at = split_by(um, "user", [("last_seen_max", "descending"), ("device_id", "ascending")])
        ua, ua_at = split_by(d.user_apps, "user", [("transactions", "descending"), ("app_id", "ascending")])
        ui, ui_at = split_by(d.user_ips, "user", [("last_seen", "descending"), ("ip", "ascending")])
        cm = columns(um, ["device_id", "device_name_last", "source_distinct", "first_seen_min", "last_seen_max"])
        ca = columns(ua, ["app_id", "app_name", "category", "transactions", "bytes_up", "bytes_down", "machines",
                          "first_seen", "last_seen"])
        ci = columns(ui, ["ip", "transactions", "first_seen", "last_seen"])
        names = ["user", "display_name", "department", "transactions", "bytes_up", "bytes_down", "apps", "machines",
                 "ip_addresses", "first_seen", "last_seen"]
        cu = columns(d.users, names)
        written = 0
        for user, display, dept, tx, up, down, n_apps, n_machines, n_ips, fs, ls in _rows(cu, names):
            body = [
                f"<h1>{esc(user)}</h1>",
                panel(None, facts([("Name", esc(display)), ("Department", esc(dept)), ("First seen", esc(fs)),
                                   ("Last seen", esc(ls))]), "user-facts"),
                cards([card("Transactions", tx, "fig-transactions"), card("Uploads", up, "fig-bytes-up", "bytes"),
                       card("Downloads", down, "fig-bytes-down", "bytes"), card("Apps", n_apps, "fig-apps"),
                       card("Machines", n_machines, "fig-machines"), card("IP addresses", n_ips, "fig-ips")]),
                panel("Machines", table("user-machines", [("Machine", "link"), ("Seen by", "text"),
                                                          ("First seen", "text"), ("Last seen", "text")],
                                        [((self.machine_names.get(dev) or dn or dev, self.machine_href(dev, 1)),
                                          ", ".join(sorted(src or [])), f, l)
                                         for dev, dn, src, f, l in _rows(cm, list(cm), um_at.get(user, (0, 0)))]),
                      "user-machines-panel"),
                panel("Apps", table("user-apps", [("App", "link"), ("Category", "text"), ("Transactions", "num"),
                                                  ("Uploads", "bytes"), ("Downloads", "bytes"), ("Machines", "num"),
                                                  ("First seen", "text"), ("Last seen", "text")],
                                    [((an or a, self.app_href(a, 1)), *rest)
                                     for a, an, *rest in _rows(ca, list(ca), ua_at.get(user, (0, 0)))]),
                      "user-apps-panel"),
                panel("IP addresses", table("user-ips", [("IP address", "text"), ("Transactions", "num"),
                                                         ("First seen", "text"), ("Last seen", "text")],
                                            _rows(ci, list(ci), ui_at.get(user, (0, 0)))), "user-ips-panel"),
            ]
            self._page(f"users/{self.user_slugs.get(user)}.html", user, "".join(body), "users.html")
            written += 1
        return written
