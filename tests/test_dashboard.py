"""The static dashboard (etl.dashboard), opened from disk in a real headless Chromium.

The lake is the generated 2-day, 12-machine fleet, built once for the module (dropbox tagged
sanctioned first). Every expected figure is computed here from the Parquet files the day
manifests list, with pyarrow, not through etl.query or the dashboard's own code. The browser
part checks the headline figures, the machines list's filter and sort, a machine's user and IP
history, no console errors, and that nothing is loaded from anywhere but the site's folder; the
rest (slugs, escaping of hostile names, snapshot mode, replacing a site) is plain Python.
"""
from __future__ import annotations

import json
import re
import shutil
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from etl.catalog.tags import set_tag
from etl.dashboard import load_range, slugify, write_dashboard, write_site
from etl.dashboard.render import Slugs
from etl.errors import UserError
from etl.pipeline import run_day
from etl.storage import Lake
from tests.conftest import DEMO_DAY, REPO

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
DAYS = [DEMO_DAY, DEMO_DAY + timedelta(days=1)]
ARTIFACTS = REPO / "test-artifacts"
# a reference that would make the browser fetch something from elsewhere
EXTERNAL = re.compile(r"""(?:\bsrc|\bhref|\baction|\bposter|\bdata)\s*=\s*["']?\s*(?:[a-z][a-z0-9+.-]*:)?//""", re.I)
CSS_URL = re.compile(r"""url\(\s*["']?\s*(?:[a-z][a-z0-9+.-]*:)?//|@import""", re.I)


# ---------------------------------------------------------------------------
# The lake, the site, and the truth from the Parquet files
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def lake_root(generated_lake_template, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("dashboard") / "lake"
    shutil.copytree(generated_lake_template, root)
    set_tag(Lake(str(root)), "dropbox", "sanctioned", who="t")
    for day in DAYS:
        run_day(str(root), day)
    return root


@pytest.fixture(scope="module")
def site(lake_root, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("site") / "site"
    summary = write_dashboard(Lake(str(lake_root)), out, DAYS[0], DAYS[-1])
    return out, summary


def parquet(root: Path, table: str) -> pa.Table:
    """A report table over both days, from the files each day's manifest lists."""
    parts = []
    for day in DAYS:
        manifest = json.loads((root / "_manifests" / "reports" / f"date={day.isoformat()}.json").read_text())
        parts += [pq.read_table(root / f["path"]) for f in manifest["outputs"][table]["files"]]
    return pa.concat_tables(parts)


def distinct(table: pa.Table, column: str) -> set:
    return set(pc.unique(table.column(column)).to_pylist()) - {None}


def total(table: pa.Table, column: str) -> int:
    return int(pc.sum(table.column(column)).as_py() or 0)


# ---------------------------------------------------------------------------
# In Chromium
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def browser():
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip("no Chromium at /usr/bin/chromium: apt-get install chromium chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    o = webdriver.ChromeOptions()
    o.binary_location = str(CHROMIUM)
    for a in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
              "--disable-background-networking", "--disable-component-update", "--disable-sync",
              "--disable-dev-shm-usage", "--window-size=1400,1000"]:
        o.add_argument(a)
    o.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=o)
    yield driver
    driver.quit()


def open_page(driver, url: str) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url)
    wait_ready(driver)
    WebDriverWait(driver, 10).until(
        lambda d: d.execute_script("return document.documentElement.getAttribute('data-ready')") == "1")


def wait_ready(driver) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 10).until(lambda d: d.execute_script("return document.readyState") == "complete")


def check_clean(driver, where: str) -> None:
    """No console error, nothing loaded from outside the site's folder, no external reference."""
    severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert not severe, f"{where}: console errors {severe}"
    urls = driver.execute_script(  # every reference, as the browser resolved it
        "return Array.from(document.querySelectorAll('[src],[href]')).map(e => new URL("
            "e.getAttribute('src') || e.getAttribute('href'), document.baseURI).href)")
    assert urls and all(u.startswith(("file:///", "data:")) for u in urls), f"{where}: {urls}"
    styled = driver.execute_script("return getComputedStyle(document.querySelector('header.top')).backgroundColor")
    assert styled == "rgb(23, 35, 58)", f"{where}: the site's stylesheet did not load"
    source = driver.page_source
    assert not EXTERNAL.search(source) and not CSS_URL.search(source), f"{where}: external reference"
    assert "http://" not in source and "https://" not in source, f"{where}: a web address in the page"


def visible_rows(driver, table_id: str) -> list:
    from selenium.webdriver.common.by import By

    return [r for r in driver.find_elements(By.CSS_SELECTOR, f"#{table_id} tbody tr") if r.is_displayed()]


def column_text(driver, table_id: str, index: int) -> list[str]:
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('#' + arguments[0] + ' tbody tr'))"
        ".filter(r => !r.hidden).map(r => r.cells[arguments[1]].textContent)", table_id, index)


def test_the_site_in_chromium(site, lake_root, browser):
    from selenium.webdriver.common.by import By

    out, summary = site
    driver = browser
    apps, machines, users = parquet(lake_root, "apps"), parquet(lake_root, "machines"), parquet(lake_root, "users")
    traffic, alerts = parquet(lake_root, "traffic"), parquet(lake_root, "alerts")
    machine_users, machine_ips = parquet(lake_root, "machine_users"), parquet(lake_root, "machine_ips")

    # -- the overview shows what the Parquet says ----------------------------------------------
    open_page(driver, (out / "index.html").as_uri())
    figure = {name: int(driver.find_element(By.ID, f"fig-{name}").text) for name in
              ("apps", "users", "machines", "ips", "bytes-up", "bytes-down", "alerts", "transactions")}
    assert figure == {
        "apps": len(distinct(apps, "app_id")), "users": len(distinct(users, "user")),
        "machines": len(distinct(machines, "device_id")), "ips": len(distinct(parquet(lake_root, "ip_addresses"), "ip")),
        "bytes-up": total(traffic, "bytes_up"), "bytes-down": total(traffic, "bytes_down"),
        "alerts": alerts.num_rows, "transactions": traffic.num_rows}
    assert figure["apps"] > 0 and figure["alerts"] > 0 and figure["bytes-up"] > 0
    assert summary["machines"] == figure["machines"] and summary["apps"] == figure["apps"]
    # dropbox is sanctioned: its category shows a sanctioned app
    category = apps.filter(pc.equal(apps.column("app_id"), "dropbox")).column("category")[0].as_py()
    sanctioned = apps.filter(pc.and_(pc.equal(apps.column("category"), category), pc.equal(apps.column("tag"), "sanctioned")))
    row = [r for r in driver.find_elements(By.CSS_SELECTOR, "#categories tbody tr")
           if r.find_elements(By.TAG_NAME, "td")[0].text == category]
    assert row and int(row[0].find_elements(By.TAG_NAME, "td")[2].text) == len(distinct(sanctioned, "app_id")) >= 1
    for chart in ("chart-apps-per-day", "chart-traffic-per-day", "chart-categories", "chart-risk"):
        assert driver.find_element(By.ID, chart).tag_name == "svg"
    ARTIFACTS.mkdir(exist_ok=True)
    # a 1400 x 1000 viewport (the window's 1000 includes its frame)
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": 1400, "height": 1000, "deviceScaleFactor": 1, "mobile": False})
    driver.save_screenshot(str(ARTIFACTS / "dashboard.png"))
    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    check_clean(driver, "index.html")

    # -- the machines list: filter, sort, drill down ------------------------------------------
    open_page(driver, (out / "machines.html").as_uri())
    assert len(visible_rows(driver, "machines")) == len(distinct(machines, "device_id"))
    box = driver.find_element(By.ID, "machines-filter")
    box.send_keys("mbp-")
    macs = {d for d, n in zip(machines.column("device_id").to_pylist(), machines.column("device_name").to_pylist())
            if "mbp-" in (n or "").lower()}
    assert 0 < len(visible_rows(driver, "machines")) == len(macs) < len(distinct(machines, "device_id"))
    assert all("mbp-" in t for t in column_text(driver, "machines", 0))
    box.clear()
    box.send_keys(" ")  # clear() sends no input event; a blank filter shows every row
    assert len(visible_rows(driver, "machines")) == len(distinct(machines, "device_id"))
    # by user: the machines that user was seen on
    user = sorted(distinct(machine_users, "user"))[0]
    box.clear()
    box.send_keys(user)
    on = distinct(machine_users.filter(pc.match_substring(machine_users.column("user"), user)), "device_id")
    assert len(visible_rows(driver, "machines")) == len(on & distinct(machines, "device_id")) >= 1

    box.clear()
    box.send_keys(" ")
    header = driver.find_element(By.XPATH, "//table[@id='machines']//th[normalize-space()='Transactions']")
    index = header.find_elements(By.XPATH, "preceding-sibling::th").__len__()
    header.click()
    counts = [int(t.replace(",", "")) for t in column_text(driver, "machines", index)]
    assert counts == sorted(counts) and header.get_attribute("aria-sort") == "ascending"
    header.click()
    counts = [int(t.replace(",", "")) for t in column_text(driver, "machines", index)]
    assert counts == sorted(counts, reverse=True) and header.get_attribute("aria-sort") == "descending"
    check_clean(driver, "machines.html")

    # the machine seen with the most users
    per_device = machine_users.group_by("device_id").aggregate([("user", "count_distinct")]).sort_by(
        [("user_count_distinct", "descending"), ("device_id", "ascending")])
    device = per_device.column("device_id")[0].as_py()
    name = machines.filter(pc.equal(machines.column("device_id"), device)).column("device_name")[-1].as_py()
    box.clear()
    box.send_keys(name)
    links = [r.find_element(By.TAG_NAME, "a") for r in visible_rows(driver, "machines")]
    target = [a for a in links if a.text == name]
    assert len(target) == 1
    target[0].click()
    wait_ready(driver)
    assert "/machines/" in driver.current_url and driver.current_url.endswith(".html")
    assert driver.find_element(By.TAG_NAME, "h1").text == name
    want_users = distinct(machine_users.filter(pc.equal(machine_users.column("device_id"), device)), "user")
    want_ips = distinct(machine_ips.filter(pc.equal(machine_ips.column("device_id"), device)), "ip")
    assert set(column_text(driver, "user-history", 0)) == want_users and len(want_users) >= 2
    assert set(column_text(driver, "ip-history", 0)) == want_ips and want_ips
    machine_apps = parquet(lake_root, "machine_apps")
    assert len(column_text(driver, "machine-apps", 0)) == len(
        distinct(machine_apps.filter(pc.equal(machine_apps.column("device_id"), device)), "app_id"))
    assert driver.find_element(By.ID, "chart-machine-traffic").tag_name == "svg"
    check_clean(driver, "machine page")

    # drill down: machine -> app -> its machines; machine -> user
    driver.find_element(By.CSS_SELECTOR, "#machine-apps tbody tr a").click()
    wait_ready(driver)
    assert "/apps/" in driver.current_url
    assert len(visible_rows(driver, "app-machines")) >= 1 and len(visible_rows(driver, "app-users")) >= 1
    check_clean(driver, "app page")
    driver.back()
    wait_ready(driver)
    driver.find_element(By.CSS_SELECTOR, "#user-history tbody tr a").click()
    wait_ready(driver)
    assert "/users/" in driver.current_url
    assert name in column_text(driver, "user-machines", 0)
    check_clean(driver, "user page")
    for page in ("apps.html", "users.html"):
        open_page(driver, (out / page).as_uri())
        assert visible_rows(driver, page[:-5])
        check_clean(driver, page)


def test_no_file_of_the_site_refers_to_a_network(site):
    out, summary = site
    files = [p for p in out.rglob("*") if p.is_file()]
    assert summary["pages"] == len([p for p in files if p.suffix == ".html"])
    assert summary["bytes"] == sum(p.stat().st_size for p in files)
    for path in files:
        text = path.read_text("utf-8")
        assert "http://" not in text and "https://" not in text, path
        assert not EXTERNAL.search(text) and not CSS_URL.search(text), path
    assert {p.name for p in out.iterdir()} >= {"index.html", "machines.html", "apps.html", "users.html", "assets",
                                                "machines", "apps", "users"}


# ---------------------------------------------------------------------------
# Plain Python
# ---------------------------------------------------------------------------

SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


def test_slugs_cannot_leave_their_folder_and_never_collide():
    hostile = ["../../etc/passwd", "..", ".", "", "/", "a/../../b", "C:\\Windows\\system32", "CON", "nul",
               "<script>alert(1)</script>", "Ünïcödé-Gerät", "x" * 500, "\x00\n\t", "index", "assets"]
    for name in hostile:
        slug = slugify(name)
        assert SLUG.match(slug) and len(slug) <= 62 and slug not in {"con", "nul", "index", "assets"}, (name, slug)
    slugs = Slugs()
    got = [slugs.add(key, name) for key, name in [("1", "A.B"), ("2", "a-b"), ("3", "a b"), ("4", "../a/b"), ("5", "")]]
    assert len(set(got)) == 5 and all(SLUG.match(s) for s in got)
    assert got[0] == "a-b" and slugs.add("1", "whatever") == "a-b"  # a key keeps its slug
    again = Slugs()
    assert [again.add(k, n) for k, n in [("1", "A.B"), ("2", "a-b"), ("3", "a b"), ("4", "../a/b"), ("5", "")]] == got


def test_names_from_logs_are_escaped_and_cannot_place_files(lake_root, tmp_path):
    data = load_range(Lake(str(lake_root)), DAYS[0], DAYS[-1])
    evil = ["<script>alert(1)</script>", "../../../escape", '"><img src=x onerror=alert(2)>']
    names = data.machines.column("device_name").to_pylist()
    names[:3] = evil
    data.machines = data.machines.set_column(data.machines.schema.get_field_index("device_name"), "device_name",
                                             pa.array(names, pa.string()))
    users = data.users.column("user").to_pylist()
    users[0] = "</script><script>alert(3)</script>"
    data.users = data.users.set_column(data.users.schema.get_field_index("user"), "user", pa.array(users, pa.string()))
    out = tmp_path / "nested" / "site"
    write_site(data, out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nested"]
    assert sorted(p.name for p in (tmp_path / "nested").iterdir()) == ["site"]
    for path in out.rglob("*"):
        assert out.resolve() in path.resolve().parents
    assert (out / "machines" / "escape.html").exists() and (out / "machines" / "script-alert-1-script.html").exists()
    for path in out.rglob("*.html"):
        text = path.read_text("utf-8")
        assert "alert(1)</script>" not in text and "<img" not in text and "alert(3)</script>" not in text, path
        for tag in re.findall(r"<script[^>]*>", text):  # the site's script, or inert JSON: nothing else
            assert (re.fullmatch(r'<script src="(\.\./)?assets/dashboard\.js">', tag)
                    or re.fullmatch(r'<script type="application/json" id="[a-z0-9-]+">', tag)), (path, tag)
    page = (out / "machines" / "script-alert-1-script.html").read_text("utf-8")
    assert "<h1>&lt;script&gt;alert(1)&lt;/script&gt;</h1>" in page
    listing = (out / "machines.html").read_text("utf-8")
    assert "\\u003cscript\\u003ealert(1)\\u003c/script\\u003e" in listing and "../../../escape" in listing


def test_a_snapshot_gets_a_site_of_its_own(lake_root, tmp_path):
    from etl.generate import appliance_log
    from etl.snapshot import build_snapshot, find_uploads
    from etl.storage import upload_path

    lake = Lake(str(lake_root))
    log = b"".join(appliance_log("squid", DEMO_DAY, 1, 12, 300, 11, events_per_day=3_000))
    lake.write_bytes(upload_path("dash-squid", "access.log"), log)
    upload = [u for u in find_uploads(lake) if u.data_source == "dash-squid"][0]
    manifest = build_snapshot(lake.url, upload)
    sid = manifest["snapshot_id"]
    summary = write_dashboard(lake, tmp_path / "snap", snapshot=sid)

    def snap(table: str) -> pa.Table:
        return pa.concat_tables([pq.read_table(lake_root / f["path"]) for f in manifest["outputs"][table]["files"]])

    assert summary["machines"] == len(distinct(snap("machines"), "device_id")) > 0
    assert summary["apps"] == len(distinct(snap("apps"), "app_id")) > 0
    index = (tmp_path / "snap" / "index.html").read_text("utf-8")
    assert f'id="fig-apps" data-v="{summary["apps"]}"' in index and sid in index
    assert f'<span id="fig-bytes-down">{total(snap("traffic"), "bytes_down")}</span>' in index
    assert len(list((tmp_path / "snap" / "machines").glob("*.html"))) == summary["machines"]
    with pytest.raises(UserError):
        write_dashboard(lake, tmp_path / "both", DAYS[0], DAYS[-1], snapshot=sid)


def test_a_site_replaces_its_previous_version_but_never_a_foreign_folder(lake_root, tmp_path):
    lake = Lake(str(lake_root))
    out = tmp_path / "site"
    write_dashboard(lake, out, DAYS[0], DAYS[0])
    (out / "machines" / "gone.html").write_text("stale")
    write_dashboard(lake, out, DAYS[0], DAYS[-1])
    assert not (out / "machines" / "gone.html").exists() and (out / "index.html").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site"]  # no staging folder left behind
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep")
    with pytest.raises(UserError):
        write_dashboard(lake, foreign, DAYS[0], DAYS[-1])
    assert (foreign / "notes.txt").read_text() == "keep"
    with pytest.raises(UserError):
        write_dashboard(lake, tmp_path / "x", DAYS[-1], DAYS[0])
    with pytest.raises(UserError):
        write_dashboard(lake, tmp_path / "x", DAYS[0] - timedelta(days=30), DAYS[0] - timedelta(days=20))


def test_the_daily_dag_can_publish_the_site_next_to_the_reports(lake_root, tmp_path):
    from etl.dashboard import publish_dashboard
    from etl.storage import DASHBOARD_PREFIX, Lake

    root = tmp_path / "lake"
    shutil.copytree(lake_root, root)
    lake = Lake(str(root))
    lake.write_bytes(f"{DASHBOARD_PREFIX}/machines/gone.html", b"a machine no longer in the period")
    summary = publish_dashboard(str(root), DEMO_DAY + timedelta(days=1), 30)
    published = [p for p in (root / DASHBOARD_PREFIX).rglob("*") if p.is_file()]
    assert (root / DASHBOARD_PREFIX / "index.html").is_file() and summary["index"].endswith("dashboard/index.html")
    assert not (root / DASHBOARD_PREFIX / "machines" / "gone.html").exists()
    assert len([p for p in published if p.suffix == ".html"]) == summary["pages"]

