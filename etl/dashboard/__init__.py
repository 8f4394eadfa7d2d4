"""A static, self-contained dashboard of a period's reports: plain HTML files in a local folder.

    from etl.dashboard import write_dashboard
    write_dashboard(Lake(url), "site", date(2026, 11, 16), date(2026, 11, 17))   # committed days
    write_dashboard(Lake(url), "site", snapshot="squid-0123456789abcdef")         # one snapshot

The site opens from disk (file://) with no network: one stylesheet and one small vanilla script
in <out>/assets/, charts as inline SVG drawn in Python, a Content-Security-Policy that allows
nothing but the site's own files. Pages:

    index.html                 overview: headline figures, apps and traffic over time, top
                               categories with sanctioned share, risk distribution, top apps,
                               new apps, top unknown domains, alerts
    machines.html              every machine, sortable and filterable (rows as one compact JSON)
    machines/<slug>.html       one machine: overview, traffic per day, discovered apps, user
                               history, IP-address history
    apps.html, apps/<slug>.html     each app: users, machines, traffic per day, score, tag
    users.html, users/<slug>.html   each user: machines, apps, IP addresses

The site is built in a sibling temporary folder and then put in place of `out_dir`, so a reader
never sees half a site and pages of machines gone from the period do not linger. `out_dir` must
be missing, empty, or a folder this function wrote before (it holds MARKER).
"""
from __future__ import annotations

import os
import shutil
import tempfile
from datetime import date, timedelta
from pathlib import Path

from etl.dashboard.assets import CSS, JS
from etl.dashboard.data import DashboardData, load_range, load_snapshot
from etl.dashboard.pages import Site
from etl.dashboard.render import slugify
from etl.errors import UserError

MARKER = ".cloud-discovery-dashboard"

__all__ = ["write_dashboard", "publish_dashboard", "write_site", "load_range", "load_snapshot", "slugify", "MARKER"]


class _Writer:
    def __init__(self, root: Path):
        self.root = root.resolve()
        self.pages = 0
        self.bytes = 0

    def __call__(self, rel: str, text: str) -> None:
        path = (self.root / rel).resolve()
        if self.root not in path.parents:  # slugs never do this; refuse rather than trust
            raise ValueError(f"refusing to write outside the site: {rel!r}")
        data = text.encode("utf-8")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        self.bytes += len(data)
        if rel.endswith(".html"):
            self.pages += 1


def _check_target(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise UserError(f"{out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).exists():
        raise UserError(f"{out} is not empty and holds no dashboard ({MARKER}): refusing to replace it")


def _put_in_place(staging: Path, out: Path) -> None:
    old = None
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
        os.replace(out, old / "site")
    os.replace(staging, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def write_site(data: DashboardData, out_dir: str | Path) -> dict:
    """Write the pages of loaded data into out_dir; the summary of write_dashboard."""
    out = Path(out_dir).expanduser().absolute()
    _check_target(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.new-", dir=out.parent))
    try:
        write = _Writer(staging)
        write("assets/dashboard.css", CSS)
        write("assets/dashboard.js", JS)
        site = Site(data, write)
        site.index()
        site.machines_list()
        site.apps_list()
        site.users_list()
        machines = site.machine_pages()
        apps = site.app_pages()
        users = site.user_pages()
        write(MARKER, f"{data.period.label}\n")
        os.chmod(staging, 0o755)
        _put_in_place(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return {"pages": write.pages, "bytes": write.bytes, "index": str(out / "index.html"),
            "machines": machines, "apps": apps, "users": users}


def write_dashboard(lake, out_dir: str | Path, first: date | None = None, last: date | None = None,
                    snapshot: str | None = None) -> dict:
    """Write the static site of committed days first..last (default: the 30 days ending on the
    latest committed day) or of one snapshot into out_dir. Returns {"pages", "bytes", "index",
    "machines", "apps", "users"}: pages written, bytes of every file, the index.html path, and
    how many machine, app and user pages there are."""
    if snapshot is not None and (first is not None or last is not None):
        raise UserError("a dashboard is of a date range or of a snapshot, not both")
    data = load_snapshot(lake, snapshot) if snapshot is not None else load_range(lake, first, last)
    return write_site(data, out_dir)


def publish_dashboard(lake_url: str | None, day: date, days: int) -> dict:
    """The site of the `days` days ending on `day`, written next to the reports at the lake's
    dashboard/ (what the daily DAG does when CLOUD_DISCOVERY_DASHBOARD_DAYS is set): built
    locally, uploaded file by file, then pages no longer in the site are removed."""
    from etl.storage import DASHBOARD_PREFIX, Lake

    lake = Lake(lake_url)
    with tempfile.TemporaryDirectory() as tmp:
        site = Path(tmp) / "site"
        summary = write_dashboard(lake, site, day - timedelta(days=days - 1), day)
        written = set()
        for path in sorted(p for p in site.rglob("*") if p.is_file()):
            rel = f"{DASHBOARD_PREFIX}/{path.relative_to(site).as_posix()}"
            lake.upload_file(str(path), rel)
            written.add(rel)
    for stale in [o.path for o in lake.list_files(DASHBOARD_PREFIX) if o.path not in written]:
        lake.remove(stale)
    return {**summary, "index": f"{lake.url}/{DASHBOARD_PREFIX}/index.html"}
