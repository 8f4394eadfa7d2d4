"""Deterministic synthetic lake generator: a small company's endpoint telemetry.

``generate_lake`` writes, into a lake, what a Defender for Endpoint streaming export and an
OCSF-speaking endpoint agent would land there for a made-up company (Contoso), plus the
directory export ``reference/users.csv``.  Same arguments and seed => byte-identical files:
all randomness comes from ``numpy.random.default_rng`` seeded from (seed, purpose, hour), no
wall clock is read, gzip headers carry mtime 0, and nothing depends on set or hash order.

World model
  * ``machines`` devices: Windows 11/10 laptops (``lt-0042.corp.contoso.com``) and desktops
    (``ws-``), macOS (``mbp-0007``, ``imac-``), Linux workstations and servers (``lnx-``,
    ``srv-``), each with a 40-hex DeviceId, a site (time zone, office egress IP, DHCP pool)
    and an activity level.  A private 10.x IP is leased from the site pool and changes every
    20-48 hours at a random moment (never shared by two devices at once); the public egress IP
    is the office NAT or, for remote workers, a home IP.
  * ``users`` people (default ``max(20, machines * 0.4)``), UPN ``first.last@contoso.com``.
    Every user is assigned to at least one machine; every machine has a primary user and some
    are shared by 2-3 users (more in tiny worlds), who take turns in shifts over the working
    day (the rota rotates daily).  One event per user on the first day is guaranteed to carry
    the UPN, so every directory user appears in the events (when events_per_day >= users).
  * ``events_per_day`` network events per UTC day in total (MDE DeviceNetworkEvents plus OCSF
    records), spread by machine activity, a business-hours curve in the machine's local time
    (08-18), quiet weekends and days a machine is switched off.
  * Destinations: 82 real SaaS hosts, 16 OS/infrastructure hosts (Windows Update, Apple,
    Ubuntu...) used by system processes, and 25 made-up unknown domains.  Each event picks a
    popular "core" app (Zipf-ish weights, used everywhere), one of its user's department's
    favourites, or one of the machine's own 12 long-tail favourites (which is where the
    unknown domains come from), so per-machine app lists differ.
  * ``ocsf_share`` of the machines (macOS and Linux first, then Windows) report through an
    OCSF agent (``raw/ocsf``) instead of MDE.

Arrival: each record lands in the folder of its arrival time = event time + 1-25 minutes;
``late_share`` of network events (MDE and OCSF alike) arrive 26-50 hours late instead, so
they sit in a later day's folders.  Arrival folders after the last generated day are written
too (the tail of the last day and late records).  Existing files at the same paths are
overwritten; nothing else in the lake is touched.
"""
from __future__ import annotations

import csv
import gzip
import io
import json
import math
import uuid
import zlib
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np

from etl.storage import Lake, mde_hour_dir, ocsf_day_dir

__all__ = ["GenerateSummary", "generate_lake", "MDE_TABLES"]

TICKS = 10_000_000  # 100 ns ticks per second: the 7 fractional digits of MDE timestamps
HOUR = 3600 * TICKS
MINUTE = 60 * TICKS
EPOCH = date(1970, 1, 1)

MDE_TABLES = {
    "devicenetworkevents": "AdvancedHunting-DeviceNetworkEvents",
    "deviceinfo": "AdvancedHunting-DeviceInfo",
    "devicelogonevents": "AdvancedHunting-DeviceLogonEvents",
    "devicenetworkinfo": "AdvancedHunting-DeviceNetworkInfo",
    "deviceprocessevents": "AdvancedHunting-DeviceProcessEvents",
}


@dataclass(frozen=True)
class GenerateSummary:
    """What ``generate_lake`` wrote.  Event counts are lines actually written."""

    files_written: int  # every object written, reference/users.csv included
    mde_network: int  # DeviceNetworkEvents lines
    mde_other: int  # DeviceInfo + DeviceLogonEvents + DeviceNetworkInfo + DeviceProcessEvents
    ocsf: int  # OCSF lines (4001 + 4002)
    machines: int
    users: int
    start: date
    days: int
    tenant_id: str = ""
    bytes_written: int = 0  # total object bytes (compressed size when compress=True)
    late_events: int = 0  # network events (MDE + OCSF) that arrive 26-50 hours late
    mde_tables: tuple[tuple[str, int], ...] = ()  # lines per MDE table

    @property
    def events(self) -> int:
        return self.mde_network + self.mde_other + self.ocsf


# ---------------------------------------------------------------------------
# Static reference data (no randomness here)
# ---------------------------------------------------------------------------

FIRST_NAMES = (
    "James Mary John Patricia Robert Jennifer Michael Linda David Elizabeth William Barbara "
    "Richard Susan Joseph Jessica Thomas Sarah Charles Karen Daniel Lisa Matthew Nancy Anthony "
    "Betty Mark Sandra Steven Ashley Paul Emily Andrew Donna Joshua Michelle Kevin Carol Brian "
    "Amanda George Melissa Timothy Deborah Ahmed Fatima Wei Mei Raj Priya Carlos Sofia Lukas "
    "Anna Hiroshi Yuki Olga Ivan Amara Kwame Chloe Noah Liam Emma Mateo Lucia Omar Leila"
).split()
LAST_NAMES = (
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez "
    "Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris "
    "Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill "
    "Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Muller Schmidt "
    "Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann Patel Shah Kumar Singh Chen Wang "
    "Li Zhang Liu Tanaka Suzuki Kim Park Ivanova Petrov Okafor Mensah Dubois Moreau Rossi Bianchi"
).split()
DEPARTMENTS = (
    "Engineering", "Sales", "Marketing", "Finance", "Human Resources", "Legal", "IT",
    "Operations", "Customer Support", "Research", "Executive",
)
DEPT_WEIGHTS = (0.24, 0.14, 0.09, 0.08, 0.05, 0.03, 0.08, 0.1, 0.1, 0.06, 0.03)

# (name, utc offset hours, weight)
SITES = (("Seattle", -8, 0.15), ("New York", -5, 0.35), ("London", 0, 0.15),
         ("Berlin", 1, 0.25), ("Singapore", 8, 0.10))

OS_NAMES = ("Windows11", "Windows10", "macOS", "Linux")
OS_WEIGHTS = (0.50, 0.28, 0.15, 0.07)
OS_VERSIONS = (("10.0.22631", "10.0.26100"), ("10.0.19045",), ("14.6.1", "15.1"),
               ("22.04", "24.04"))
OS_FAMILY = (0, 0, 1, 2)  # 0 windows, 1 mac, 2 linux
OCSF_OS = (('{"name":"Windows 11","type":"Windows","type_id":100}'),
           ('{"name":"Windows 10","type":"Windows","type_id":100}'),
           ('{"name":"macOS","type":"macOS","type_id":300}'),
           ('{"name":"Linux","type":"Linux","type_id":200}'))

# process name, per family: (windows, mac, linux)
APPS = {
    "teams": ("ms-teams.exe", "MSTeams", "teams-for-linux"),
    "outlook": ("outlook.exe", "Microsoft Outlook", None),
    "onedrive": ("onedrive.exe", "OneDrive", None),
    "slack": ("slack.exe", "Slack", "slack"),
    "zoom": ("Zoom.exe", "zoom.us", "zoom"),
    "python": ("python.exe", "python3", "python3"),
    "git": ("git.exe", "git", "git"),
    "code": ("Code.exe", "Code Helper", "code"),
    "node": ("node.exe", "node", "node"),
    "notion": ("Notion.exe", "Notion", None),
    "figma": ("Figma.exe", "Figma", None),
    "dropbox": ("Dropbox.exe", "Dropbox", "dropbox"),
    "box": ("Box.exe", "Box", None),
    "whatsapp": ("WhatsApp.exe", "WhatsApp", None),
    "telegram": ("Telegram.exe", "Telegram", "telegram-desktop"),
    "discord": ("Discord.exe", "Discord", "discord"),
    "spotify": ("Spotify.exe", "Spotify", "spotify"),
    "grammarly": ("Grammarly.Desktop.exe", "Grammarly Desktop", None),
    "aws": ("aws.exe", "aws", "aws"),
    "docker": ("com.docker.backend.exe", "com.docker.backend", "dockerd"),
}
BROWSERS = (("chrome.exe", "msedge.exe", "firefox.exe"),
            ("Google Chrome", "Safari", "firefox"),
            ("chrome", "firefox", "firefox"))
BROWSER_CDF = ((0.55, 0.90), (0.50, 0.90), (0.50, 0.75))
SYS_PROCS = (("svchost.exe", "MsMpEng.exe", "backgroundTaskHost.exe"),
             ("nsurlsessiond", "softwareupdated", "trustd"),
             ("http", "snapd", "systemd-timesyncd"))
SYS_PROC_CDF = (0.85, 0.95)
DNS_PROCS = ("svchost.exe", "mDNSResponder", "systemd-resolved")
SVC_PROCS = (("svchost.exe", "System", "lsass.exe"), ("launchd", "rapportd", "sshd"),
             ("sshd", "systemd", "cupsd"))
LISTEN_PORTS = (135, 445, 5040, 7680, 3389, 5357, 49664, 49665)
INBOUND_PORTS = ((445, 3389, 135, 5985), (22, 5900, 445, 3283), (22, 22, 9100, 443))

# (host, user weight, category, app key or None, probability the app (not a browser) connects)
KNOWN_HOSTS = (
    ("teams.microsoft.com", 100, "collab", "teams", 0.7),
    ("outlook.office365.com", 90, "mail", "outlook", 0.5),
    ("www.google.com", 80, "search", None, 0),
    ("login.microsoftonline.com", 60, "identity", None, 0),
    ("contoso.sharepoint.com", 50, "storage", "onedrive", 0.3),
    ("www.office.com", 30, "office", None, 0),
    ("outlook.office.com", 30, "mail", None, 0),
    ("www.gstatic.com", 30, "cdn", None, 0),
    ("contoso-my.sharepoint.com", 25, "storage", "onedrive", 0.5),
    ("chatgpt.com", 25, "ai", None, 0),
    ("github.com", 25, "dev", "git", 0.3),
    ("graph.microsoft.com", 20, "office", "teams", 0.3),
    ("drive.google.com", 20, "storage", None, 0),
    ("slack.com", 20, "collab", "slack", 0.6),
    ("substrate.office.com", 15, "office", "outlook", 0.4),
    ("docs.google.com", 15, "office", None, 0),
    ("www.linkedin.com", 15, "social", None, 0),
    ("www.youtube.com", 15, "media", None, 0),
    ("api.github.com", 12, "dev", "code", 0.5),
    ("zoom.us", 12, "collab", "zoom", 0.6),
    ("contoso.my.salesforce.com", 12, "crm", None, 0),
    ("contoso.atlassian.net", 12, "dev", None, 0),
    ("mail.google.com", 10, "mail", None, 0),
    ("accounts.google.com", 10, "identity", None, 0),
    ("us02web.zoom.us", 10, "collab", "zoom", 0.6),
    ("app.slack.com", 10, "collab", "slack", 0.6),
    ("stackoverflow.com", 10, "dev", None, 0),
    ("onedrive.live.com", 8, "storage", "onedrive", 0.3),
    ("claude.ai", 8, "ai", None, 0),
    ("www.dropbox.com", 8, "storage", "dropbox", 0.5),
    ("www.notion.so", 8, "office", "notion", 0.4),
    ("api.openai.com", 6, "ai", "python", 0.6),
    ("files.slack.com", 6, "collab", "slack", 0.6),
    ("gemini.google.com", 6, "ai", None, 0),
    ("copilot.microsoft.com", 6, "ai", None, 0),
    ("web.whatsapp.com", 6, "social", "whatsapp", 0.3),
    ("www.facebook.com", 6, "social", None, 0),
    ("www.amazon.com", 6, "shopping", None, 0),
    ("s3.amazonaws.com", 5, "storage", "aws", 0.4),
    ("raw.githubusercontent.com", 5, "dev", "git", 0.2),
    ("www.reddit.com", 5, "social", None, 0),
    ("en.wikipedia.org", 5, "news", None, 0),
    ("contoso.service-now.com", 5, "itsm", None, 0),
    ("www.salesforce.com", 4, "crm", None, 0),
    ("app.hubspot.com", 4, "crm", None, 0),
    ("app.box.com", 4, "storage", "box", 0.3),
    ("www.figma.com", 4, "design", "figma", 0.3),
    ("registry.npmjs.org", 4, "dev", "node", 0.8),
    ("open.spotify.com", 4, "media", "spotify", 0.7),
    ("www.instagram.com", 4, "social", None, 0),
    ("x.com", 4, "social", None, 0),
    ("www.bbc.co.uk", 4, "news", None, 0),
    ("translate.google.com", 4, "ai", None, 0),
    ("contoso.zendesk.com", 4, "itsm", None, 0),
    ("capi.grammarly.com", 3, "ai", "grammarly", 0.7),
    ("www.perplexity.ai", 3, "ai", None, 0),
    ("api.anthropic.com", 3, "ai", "python", 0.7),
    ("gitlab.com", 3, "dev", "git", 0.3),
    ("pypi.org", 3, "dev", "python", 0.8),
    ("files.pythonhosted.org", 3, "dev", "python", 0.8),
    ("dl.dropboxusercontent.com", 3, "storage", "dropbox", 0.5),
    ("www.webex.com", 3, "collab", None, 0),
    ("app.asana.com", 3, "office", None, 0),
    ("trello.com", 3, "office", None, 0),
    ("miro.com", 3, "design", None, 0),
    ("www.canva.com", 3, "design", None, 0),
    ("www.docusign.net", 3, "office", None, 0),
    ("wd5.myworkday.com", 3, "hr", None, 0),
    ("www.deepl.com", 3, "ai", None, 0),
    ("wetransfer.com", 2, "storage", None, 0),
    ("www.icloud.com", 2, "storage", None, 0),
    ("web.telegram.org", 2, "social", "telegram", 0.4),
    ("discord.com", 2, "social", "discord", 0.5),
    ("huggingface.co", 2, "ai", "python", 0.3),
    ("hub.docker.com", 2, "dev", "docker", 0.5),
    ("bitbucket.org", 2, "dev", "git", 0.3),
    ("www.netflix.com", 2, "media", None, 0),
    ("mega.nz", 1, "storage", None, 0),
    ("pastebin.com", 1, "storage", None, 0),
    ("telegram.org", 1, "social", "telegram", 0.2),
    ("www.twitch.tv", 1, "media", None, 0),
    ("www.mediafire.com", 1, "storage", None, 0),
)
# background traffic of system processes, per family (windows, mac, linux)
SYSTEM_HOSTS = (
    ("update.microsoft.com", "ctldl.windowsupdate.com", "settings-win.data.microsoft.com",
     "v10.events.data.microsoft.com", "time.windows.com", "ocsp.digicert.com"),
    ("swscan.apple.com", "mesu.apple.com", "ocsp.apple.com", "gateway.icloud.com",
     "time.apple.com", "ocsp.digicert.com"),
    ("archive.ubuntu.com", "security.ubuntu.com", "api.snapcraft.io", "ntp.ubuntu.com",
     "changelogs.ubuntu.com", "ocsp.digicert.com"),
)
UNKNOWN_HOSTS = (
    "cdn.fileshare-xyz.net", "portal.acme-partner.io", "tracker.adnet-example.com",
    "api.quickconvert-pdf.com", "upload.sendbig-files.net", "www.freevpn-proxy.org",
    "app.tasklytics.io", "dl.softupdate-mirror.net", "login.contoso-partners.net",
    "files.vendor-extranet.com", "metrics.telemetry-hub.io", "www.pdf2word-online.net",
    "share.clouddrop-app.com", "chat.ai-helper-bot.com", "api.summarize-it.ai",
    "img.cdn-static-assets.net", "beacon.adsrv-network.com", "vpn.securetunnel-free.net",
    "go.shorturl-example.co", "portal.supplier-hub.biz", "app.expense-tracker.io",
    "www.crypto-miner-pool.xyz", "paste.textbin-share.org", "sync.notes-anywhere.app",
    "mail.legacy-webmail.net",
)
DEPT_FAVOURITES = {
    "Engineering": ("github.com", "api.github.com", "stackoverflow.com", "pypi.org",
                    "registry.npmjs.org", "api.openai.com"),
    "Sales": ("contoso.my.salesforce.com", "www.linkedin.com", "app.hubspot.com", "zoom.us",
              "www.docusign.net", "www.salesforce.com"),
    "Marketing": ("www.canva.com", "www.figma.com", "www.linkedin.com", "www.facebook.com",
                  "x.com", "app.hubspot.com"),
    "Finance": ("wd5.myworkday.com", "www.docusign.net", "contoso.sharepoint.com",
                "app.box.com", "outlook.office365.com", "www.deepl.com"),
    "Human Resources": ("wd5.myworkday.com", "www.linkedin.com", "www.docusign.net",
                        "contoso.sharepoint.com", "zoom.us", "www.canva.com"),
    "Legal": ("www.docusign.net", "contoso.sharepoint.com", "www.deepl.com", "app.box.com",
              "claude.ai", "wetransfer.com"),
    "IT": ("contoso.service-now.com", "github.com", "hub.docker.com", "s3.amazonaws.com",
           "stackoverflow.com", "pastebin.com"),
    "Operations": ("contoso.service-now.com", "app.asana.com", "trello.com", "miro.com",
                   "www.dropbox.com", "contoso.atlassian.net"),
    "Customer Support": ("contoso.zendesk.com", "slack.com", "app.slack.com",
                         "translate.google.com", "web.whatsapp.com", "capi.grammarly.com"),
    "Research": ("huggingface.co", "chatgpt.com", "claude.ai", "api.openai.com",
                 "www.perplexity.ai", "api.anthropic.com"),
    "Executive": ("outlook.office365.com", "www.linkedin.com", "www.bbc.co.uk",
                  "teams.microsoft.com", "www.docusign.net", "www.icloud.com"),
}
CORE_WEIGHT = 10  # hosts at least this popular are used on every machine
FAVOURITES = 12  # long-tail hosts each machine uses, Zipf-weighted among themselves
FAVOURITE_CDF = np.cumsum(1 / np.arange(1, FAVOURITES + 1))
FAVOURITE_CDF = FAVOURITE_CDF[:-1] / FAVOURITE_CDF[-1]
PATHS = {
    "storage": ("/upload", "/s/k3j9x2/Q3-forecast.xlsx", "/download/contract.pdf"),
    "collab": ("/", "/api/v1/messages", "/files/upload"),
    "mail": ("/mail/", "/owa/", "/api/v2.0/me/messages"),
    "ai": ("/", "/v1/chat/completions", "/backend-api/conversation"),
    "dev": ("/", "/repos/contoso/app/pulls", "/login/oauth/authorize"),
    "media": ("/", "/watch", "/browse"),
}
DEFAULT_PATHS = ("/", "/login", "/api/v2/items")
MEDIA_HOSTS = {"teams.microsoft.com", "zoom.us", "us02web.zoom.us", "www.webex.com"}
SIGNATURES = ("HTTP_Client", "HTTP_Request_Header", "SSH", "TLS_ClientHello", "DNS_Request")

PUBLIC_FIRST_OCTETS = (13, 20, 23, 31, 34, 35, 40, 44, 52, 54, 63, 64, 66, 69, 72, 74, 104,
                       108, 142, 146, 151, 157, 162, 185, 199, 204, 208)

WORK_PROFILE = np.array([0.02, 0.01, 0.01, 0.01, 0.01, 0.02, 0.05, 0.2, 0.7, 1.0, 1.0, 1.0,
                         0.8, 0.9, 1.0, 1.0, 0.95, 0.8, 0.5, 0.3, 0.2, 0.15, 0.08, 0.04])
SERVER_PROFILE = np.array([0.5] * 24) + 0.2 * (WORK_PROFILE > 0.5)

# MDE DeviceNetworkEvents ActionType mix
ACTIONS = ("ConnectionSuccess", "ConnectionRequest", "ConnectionFailed",
           "HttpConnectionInspected", "SslConnectionInspected", "DnsConnectionInspected",
           "InboundConnectionAccepted", "ListeningConnectionCreated",
           "NetworkSignatureInspected", "ConnectionFound")
ACTION_P = (0.70, 0.05, 0.03, 0.03, 0.03, 0.05, 0.04, 0.02, 0.02, 0.03)
(A_SUCCESS, A_REQUEST, A_FAILED, A_HTTP, A_SSL, A_DNS, A_INBOUND, A_LISTEN, A_SIG,
 A_FOUND) = range(10)

HTTP_METHODS = (("GET", 3), ("POST", 6), ("PUT", 7), ("DELETE", 2), ("HEAD", 4),
                ("OPTIONS", 5))
HTTP_METHOD_CDF = np.cumsum((0.68, 0.22, 0.05, 0.02, 0.02))
OCSF_METADATA = '{"version":"1.1.0","product":{"name":"ExampleEDR","vendor_name":"Example"}}'


def _q(text: str) -> str:
    """A JSON string token."""
    return json.dumps(text)


def _qq(obj) -> str:
    """A JSON string token holding compact JSON (MDE's AdditionalFields and friends)."""
    return json.dumps(json.dumps(obj, separators=(",", ":")))


def _seed_key(seed: int) -> int:
    """SeedSequence wants a non-negative integer; any int seed is accepted."""
    return int(seed) % (1 << 64)


def _cdf_pick(cdf, u: np.ndarray) -> np.ndarray:
    return np.searchsorted(np.asarray(cdf), u, side="right")


def _host_ip(host: str, j: int) -> str:
    """A fixed fake public IP for a host (stable across seeds, like DNS)."""
    h = zlib.crc32(f"{host}#{j}".encode())
    first = PUBLIC_FIRST_OCTETS[h % len(PUBLIC_FIRST_OCTETS)]
    return f"{first}.{(h >> 8) % 256}.{(h >> 16) % 256}.{1 + (h >> 24) % 254}"


class _Hosts:
    """Every destination with its pre-rendered JSON fragments."""

    IPS = 4  # addresses per host
    URL_VARIANTS = 5  # null, host, https://host/path x3
    ADDL_VARIANTS = 6  # null, ssl, http GET, http POST, dns, signature

    def __init__(self):
        names, weights, cats, apps, app_p = [], [], [], [], []
        for host, w, cat, app, p in KNOWN_HOSTS:
            names.append(host), weights.append(w), cats.append(cat)
            apps.append(app), app_p.append(p)
        self.n_known = len(names)
        for i, host in enumerate(UNKNOWN_HOSTS):
            names.append(host), weights.append(1.5 / (1 + i) ** 0.7), cats.append("unknown")
            apps.append(None), app_p.append(0.0)
        self.n_user = len(names)
        sys_names = []
        for fam in SYSTEM_HOSTS:
            for host in fam:
                if host not in names:
                    names.append(host), weights.append(0.0), cats.append("system")
                    apps.append(None), app_p.append(0.0)
                    sys_names.append(host)
        self.names = names
        self.index = {h: i for i, h in enumerate(names)}
        self.category = cats
        w = np.array(weights[: self.n_user], dtype=float)
        # everybody uses the core apps; the long tail comes from per-machine favourites
        self.core = np.flatnonzero(w >= CORE_WEIGHT)
        self.core_cdf = np.cumsum(w[self.core] / w[self.core].sum())
        self.tail = np.flatnonzero(w < CORE_WEIGHT)
        self.tail_log_w = np.log(np.sqrt(w[self.tail]))
        self.sys_table = np.array([[self.index[h] for h in fam] for fam in SYSTEM_HOSTS])
        self.dept_table = np.array(
            [[self.index[h] for h in DEPT_FAVOURITES[d]] for d in DEPARTMENTS])
        self.storage = np.array([c == "storage" for c in cats])
        self.media = np.array([c == "media" for c in cats])
        self.rtc = np.array([h in MEDIA_HOSTS for h in names])
        self.ntp = np.array([h.startswith(("time.", "ntp.")) for h in names])
        # process per (host, family): index into PROCS or -1; and the app's probability
        self.app_proc = np.full((len(names), 3), -1, dtype=np.int64)
        self.app_p = np.array(app_p, dtype=float)
        self.ips = [[_host_ip(h, j) for j in range(self.IPS)] for h in names]
        self.ip_tok = [_q(ip) for row in self.ips for ip in row]
        url, addl, paths = [], [], []
        for h, cat in zip(names, cats):
            p3 = PATHS.get(cat, DEFAULT_PATHS)
            paths.append(p3)
            url += ["null", _q(h)] + [_q(f"https://{h}{p}") for p in p3]
            sig = SIGNATURES[zlib.crc32(h.encode()) % len(SIGNATURES)]
            addl += [
                "null",
                _qq({"direction": "Out", "server_name": h}),
                _qq({"direction": "Out", "host": h, "method": "GET"}),
                _qq({"direction": "Out", "host": h, "method": "POST"}),
                _qq({"direction": "Out", "query": h, "rcode": 0}),
                _qq({"SignatureName": sig, "SignatureMatchedContent": h,
                     "SamplePacketContent": ""}),
            ]
        self.paths = paths
        self.url_tok = np.array(url, dtype=object)
        self.addl_tok = np.array(addl, dtype=object)
        self.apps = apps


class _Procs:
    def __init__(self, hosts: _Hosts):
        names: list[str] = []
        index: dict[str, int] = {}

        def idx(name: str) -> int:
            if name not in index:
                index[name] = len(names)
                names.append(name)
            return index[name]

        self.browser = np.array([[idx(n) for n in fam] for fam in BROWSERS])
        self.browser_cdf = np.array(BROWSER_CDF)
        self.sys = np.array([[idx(n) for n in fam] for fam in SYS_PROCS])
        self.dns = np.array([idx(n) for n in DNS_PROCS])
        self.svc = np.array([[idx(n) for n in fam] for fam in SVC_PROCS])
        for h, app in enumerate(hosts.apps):
            if app:
                for fam, name in enumerate(APPS[app]):
                    if name:
                        hosts.app_proc[h, fam] = idx(name)
        self.names = names
        self.tok = np.array([_q(n) for n in names], dtype=object)


def _iso7(ticks: np.ndarray) -> np.ndarray:
    """Epoch ticks (100 ns) -> 'YYYY-MM-DDTHH:MM:SS.fffffffZ' as an object array of str."""
    n = len(ticks)
    if n == 0:
        return np.empty(0, dtype=object)
    hr = ticks // HOUR
    h0 = int(hr.min())
    h1 = int(hr.max())
    uniq = np.unique(hr)
    pref = np.zeros((h1 - h0 + 1, 14), dtype=np.uint8)
    base = datetime(1970, 1, 1)
    for h in uniq.tolist():
        pref[h - h0] = list((base + timedelta(hours=h)).strftime("%Y-%m-%dT%H:").encode())
    out = np.empty((n, 28), dtype=np.uint8)
    out[:, :14] = pref[hr - h0]
    r = ticks - hr * HOUR
    mm = r // MINUTE
    r = r - mm * MINUTE
    ss = r // TICKS
    f = r - ss * TICKS
    out[:, 14] = 48 + mm // 10
    out[:, 15] = 48 + mm % 10
    out[:, 16] = 58
    out[:, 17] = 48 + ss // 10
    out[:, 18] = 48 + ss % 10
    out[:, 19] = 46
    for i in range(7):
        out[:, 26 - i] = 48 + f % 10
        f = f // 10
    out[:, 27] = 90
    return out.view("S28").ravel().astype("U28").astype(object)


# ---------------------------------------------------------------------------
# The world
# ---------------------------------------------------------------------------

class _World:
    def __init__(self, seed: int, n_machines: int, n_users: int, ocsf_share: float,
                 hosts: _Hosts):
        rng = np.random.default_rng([_seed_key(seed), 0])
        trng = np.random.default_rng([_seed_key(seed), 99])
        self.tenant = str(uuid.UUID(bytes=trng.bytes(16), version=4))
        self.domain_sid = "S-1-5-21-" + "-".join(
            str(x) for x in trng.integers(10**9, 4 * 10**9, 3).tolist())
        M, U = n_machines, n_users
        self.M, self.U = M, U

        # -- users ------------------------------------------------------------
        upns, displays, sams, depts = [], [], [], []
        seen_upn: dict[str, int] = {}
        seen_sam: dict[str, int] = {}
        firsts = rng.integers(0, len(FIRST_NAMES), U)
        lasts = rng.integers(0, len(LAST_NAMES), U)
        dept_idx = _cdf_pick(np.cumsum(DEPT_WEIGHTS) / sum(DEPT_WEIGHTS), rng.random(U))
        dept_idx = np.minimum(dept_idx, len(DEPARTMENTS) - 1)
        for i in range(U):
            first, last = FIRST_NAMES[firsts[i]], LAST_NAMES[lasts[i]]
            local = f"{first}.{last}".lower()
            k = seen_upn.get(local, 0)
            seen_upn[local] = k + 1
            upns.append(f"{local}{k + 1 if k else ''}@contoso.com")
            displays.append(f"{first} {last}")
            sam0 = (first[0] + last).lower()[:18]
            k = seen_sam.get(sam0, 0)
            seen_sam[sam0] = k + 1
            sams.append(f"{sam0}{k + 1 if k else ''}")
            depts.append(DEPARTMENTS[dept_idx[i]])
        self.upn, self.display, self.sam, self.dept = upns, displays, sams, depts
        self.dept_idx = dept_idx
        self.sid = [f"{self.domain_sid}-{1104 + i}" for i in range(U)]
        self.admin = rng.random(U) < 0.1

        # -- machines ---------------------------------------------------------
        os_ = _cdf_pick(np.cumsum(OS_WEIGHTS), rng.random(M)).clip(0, 3)
        self.os = os_
        self.fam = np.array(OS_FAMILY)[os_]
        site = _cdf_pick(np.cumsum([s[2] for s in SITES]), rng.random(M)).clip(0, len(SITES) - 1)
        self.site = site
        self.tz = np.array([s[1] for s in SITES])[site]
        form = rng.random(M)
        self.server = (os_ == 3) & (form < 0.4)
        self.activity = rng.lognormal(0.0, 0.7, M) * np.where(self.server, 0.6, 1.0)
        counters: dict[str, int] = {}
        names, dev_ids, versions, groups, macs, ocsf_uids = [], [], [], [], [], []
        home_ip = rng.integers(0, 2**32, M)
        version_pick = rng.random(M)
        mac_bytes = rng.integers(0, 256, (M, 3))
        remote_mask = (rng.random(M) < 0.25) & ~self.server
        for m in range(M):
            o = int(os_[m])
            if o in (0, 1):
                prefix = "lt" if form[m] < 0.7 else "ws"
            elif o == 2:
                prefix = "mbp" if form[m] < 0.8 else "imac"
            else:
                prefix = "srv" if self.server[m] else "lnx"
            counters[prefix] = counters.get(prefix, 0) + 1
            short = f"{prefix}-{counters[prefix]:04d}"
            names.append(short if o == 2 else f"{short}.corp.contoso.com")
            dev_ids.append(rng.bytes(20).hex())
            vs = OS_VERSIONS[o]
            versions.append(vs[min(int(version_pick[m] * len(vs)), len(vs) - 1)])
            site_name = SITES[site[m]][0].replace(" ", "")
            groups.append({0: f"Workstations-{site_name}", 1: f"Workstations-{site_name}",
                           2: "Mac-Fleet", 3: "Linux-Servers" if self.server[m]
                           else "Linux-Workstations"}[o])
            b = mac_bytes[m]
            macs.append(f"00-1A-2B-{b[0]:02X}-{b[1]:02X}-{b[2]:02X}")
            ocsf_uids.append(str(uuid.UUID(bytes=rng.bytes(16), version=4)))
        self.name, self.dev_id, self.os_version = names, dev_ids, versions
        self.group, self.mac, self.ocsf_uid = groups, macs, ocsf_uids
        office_ip = [_host_ip(f"office-{s[0]}", 0) for s in SITES]
        egress = []
        for m in range(M):
            if remote_mask[m]:
                h = int(home_ip[m])
                egress.append(f"{PUBLIC_FIRST_OCTETS[h % len(PUBLIC_FIRST_OCTETS)]}."
                              f"{(h >> 8) % 256}.{(h >> 16) % 256}.{1 + (h >> 24) % 254}")
            else:
                egress.append(office_ip[site[m]])
        self.egress = egress

        # -- which machines speak OCSF: macOS/Linux first ----------------------
        n_ocsf = int(round(M * min(max(ocsf_share, 0.0), 1.0)))
        order = np.lexsort((rng.random(M), self.fam == 0))  # non-Windows first, random within
        self.ocsf = np.zeros(M, dtype=bool)
        self.ocsf[order[:n_ocsf]] = True
        n_agents = max(1, min(4, math.ceil(n_ocsf / 150)))
        self.agent = np.zeros(M, dtype=np.int64)
        self.agent[order[:n_ocsf]] = 1 + np.arange(n_ocsf) % n_agents

        # -- users per machine: primary + shared ------------------------------
        lists: list[list[int]] = [[] for _ in range(M)]
        perm = rng.permutation(M)
        for i in range(max(M, U)):
            m = int(perm[i % M])
            u = i % U
            if u not in lists[m]:
                lists[m].append(u)
        shared = rng.random(M) < 0.08
        extra = rng.integers(1, 3, M)
        for m in range(M):
            if shared[m] and U > 1:
                for u in rng.integers(0, U, int(extra[m])).tolist():
                    if u not in lists[m] and len(lists[m]) < 3:
                        lists[m].append(u)
        self.k = np.array([len(x) for x in lists])
        K = int(self.k.max())
        self.mu = np.full((M, K), -1, dtype=np.int64)
        for m, x in enumerate(lists):
            self.mu[m, : len(x)] = x

        # -- per-machine preferences and timing -------------------------------
        # FAVOURITES long-tail hosts per machine, drawn without replacement (Gumbel top-k)
        keys = hosts.tail_log_w[None, :] + rng.gumbel(size=(M, len(hosts.tail)))
        top = np.argsort(-keys, axis=1, kind="stable")[:, :FAVOURITES]
        self.fav = hosts.tail[top]
        # heartbeats every 6 h at hour phase (1..5) + a fixed offset; hour 0 always reports
        self.hb_phase = rng.integers(1, 6, M)
        self.hb_offset = rng.integers(0, HOUR, M)
        self.ipv6 = [f"fe80::{x[0]:x}:{x[1]:x}:{x[2]:x}:{x[3]:x}"
                     for x in rng.integers(1, 65536, (M, 4)).tolist()]
        # pre-rendered fragments
        self.dev_tok = np.array(
            [f'"DeviceId":"{d}","DeviceName":"{n}"' for d, n in zip(dev_ids, names)],
            dtype=object)
        acct = []
        for upn, sam in zip(upns, sams):
            acct.append(f'"InitiatingProcessAccountDomain":"contoso",'
                        f'"InitiatingProcessAccountName":"{sam}",'
                        f'"InitiatingProcessAccountUpn":"{upn}"')
            acct.append(f'"InitiatingProcessAccountDomain":"contoso",'
                        f'"InitiatingProcessAccountName":"{sam}",'
                        f'"InitiatingProcessAccountUpn":null')
            acct.append(f'"InitiatingProcessAccountDomain":"CONTOSO",'
                        f'"InitiatingProcessAccountName":"{sam.upper()}",'
                        f'"InitiatingProcessAccountUpn":null')
        for dom, name in (("nt authority", "system"), ("nt authority", "network service"),
                          ("nt authority", "local service")):
            acct.append(f'"InitiatingProcessAccountDomain":"{dom}",'
                        f'"InitiatingProcessAccountName":"{name}",'
                        f'"InitiatingProcessAccountUpn":null')
        acct.append('"InitiatingProcessAccountDomain":null,'
                    '"InitiatingProcessAccountName":"root","InitiatingProcessAccountUpn":null')
        self.acct_tok = np.array(acct, dtype=object)
        self.sys_acct = 3 * U  # + 0 system, 1 network service, 2 local service, 3 root
        ocsf_user = [f'"name":"{s}","uid":"{sid}","email_addr":"{u}"'
                     for s, sid, u in zip(sams, self.sid, upns)]
        ocsf_user += ['"name":"SYSTEM","uid":"S-1-5-18"', '"name":"root","uid":"0"',
                      '"name":"_system","uid":"-2"']
        self.ocsf_user_tok = np.array(ocsf_user, dtype=object)
        self.logged_on_tok = [
            _qq([{"UserName": s, "DomainName": "CONTOSO", "Sid": sid}])
            for s, sid in zip(sams, self.sid)]
        # DHCP: site pools 10.(16+16s+j).k.h, j<4, k<256, 10<=h<250
        self.pool_size = 4 * 256 * 240
        self.peers = [[f"10.{16 + 16 * s + int(j)}.{int(k)}.{int(h)}" for j, k, h in zip(
            rng.integers(0, 4, 32), rng.integers(0, 256, 32), rng.integers(10, 250, 32))]
            for s in range(len(SITES))]
        self.dns_server = [f"10.{16 + 16 * s}.0.53" for s in range(len(SITES))]

    def pool_ip(self, site: int, idx: int) -> str:
        j, rest = divmod(idx, 256 * 240)
        k, h = divmod(rest, 240)
        return f"10.{16 + 16 * site + j}.{k}.{10 + h}"


# ---------------------------------------------------------------------------
# The generator
# ---------------------------------------------------------------------------

class _Gen:
    def __init__(self, lake: Lake, start: date, days: int, events_per_day: int, seed: int,
                 world: _World, hosts: _Hosts, procs: _Procs, compress: bool,
                 late_share: float):
        self.lake, self.start, self.days = lake, start, days
        self.epd, self.seed, self.w, self.h, self.p = events_per_day, seed, world, hosts, procs
        self.compress, self.late_share = compress, late_share
        self.t0 = (start - EPOCH).days * 86400 * TICKS
        self.start_dt = datetime(start.year, start.month, start.day)
        self.weekday0 = start.weekday()
        self.buf: dict[tuple, list[tuple[np.ndarray, list[str]]]] = {}
        self.counts = {t: 0 for t in MDE_TABLES}
        self.counts["ocsf"] = 0
        self.late = 0
        self.flushed = -(1 << 62)  # arrival hours <= this are written and closed
        self.files = 0
        self.bytes = 0
        self.report_id = {t: 0 for t in MDE_TABLES}
        M = world.M
        # DHCP state
        self.in_use = np.zeros((len(SITES), world.pool_size), dtype=bool)
        self.released: list[tuple[int, int]] = []
        self.ip_idx = np.full(M, -1, dtype=np.int64)
        self.ip_tok = [""] * M
        self.next_change = np.zeros(M, dtype=np.int64)  # absolute hour index
        # logon state
        self.last_day = np.full(M, -10**6, dtype=np.int64)
        self.last_user = np.full(M, -1, dtype=np.int64)
        self.prev_count = np.zeros(M, dtype=np.int64)
        self.forced: dict[int, list[int]] = {}
        self.override: dict[int, list[tuple[int, int]]] = {}
        self.day_counts: np.ndarray | None = None
        mde = ~world.ocsf
        self.mde_idx = np.flatnonzero(mde)

    # -- helpers ---------------------------------------------------------------
    def rng(self, purpose: int, hour: int) -> np.random.Generator:
        return np.random.default_rng([_seed_key(self.seed), purpose, hour])

    def local(self, H: int) -> tuple[np.ndarray, np.ndarray]:
        """Local hour-of-day and local day number (relative to start) per machine."""
        x = H + self.w.tz
        return x % 24, x // 24

    def active_user(self, H: int) -> np.ndarray:
        w = self.w
        lh, ld = self.local(H)
        shift = np.clip(((lh - 8) * w.k) // 10, 0, w.k - 1)
        au = w.mu[np.arange(w.M), (shift + ld) % w.k]
        for m, u in self.override.get(H, ()):
            au[m] = u
        return au

    # -- per-day plan ------------------------------------------------------------
    def plan_day(self, d: int) -> None:
        w = self.w
        rng = self.rng(1, d)
        hours = 24 * d + np.arange(24)
        x = hours[None, :] + w.tz[:, None]
        lh, ld = x % 24, x // 24
        weekend = ((self.weekday0 + ld) % 7) >= 5
        present = rng.random(w.M) < np.where(w.server, 1.0, 0.93)
        prof = np.where(w.server[:, None], SERVER_PROFILE[lh], WORK_PROFILE[lh])
        prof = prof * np.where(weekend & ~w.server[:, None], 0.1, 1.0)
        wt = w.activity[:, None] * prof * present[:, None]
        if wt.sum() <= 0:
            wt = np.ones_like(wt)
        reserved = np.zeros((w.M, 24), dtype=np.int64)
        self.forced = {}
        if d == 0:
            reserved = self.reserve_coverage(rng)
        budget = max(self.epd - int(reserved.sum()), 0)
        p = (wt / wt.sum()).ravel()
        counts = rng.multinomial(budget, p).reshape(w.M, 24) if budget else \
            np.zeros((w.M, 24), dtype=np.int64)
        self.day_counts = counts + reserved

    def reserve_coverage(self, rng: np.random.Generator) -> np.ndarray:
        """One UPN-carrying event per user on day 0, in an hour that user is active."""
        w = self.w
        reserved = np.zeros((w.M, 24), dtype=np.int64)
        au = np.stack([self.active_user(h) for h in range(24)], axis=1)  # [M, 24]
        lh = (np.arange(24)[None, :] + w.tz[:, None]) % 24
        good = ((lh >= 9) & (lh <= 16)).ravel()
        flat = au.ravel()
        order = np.argsort(flat, kind="stable")
        bounds = np.searchsorted(flat[order], np.arange(w.U + 1))
        load = np.bincount(flat, minlength=w.U)  # cells per user, for the tiny-world fallback
        for u in rng.permutation(w.U)[: min(self.epd, w.U)].tolist():
            cells = order[bounds[u]:bounds[u + 1]]
            cells = cells[flat[cells] == u]  # a fallback below may have taken some over
            preferred = cells[good[cells]]
            cells = preferred if len(preferred) else cells
            if len(cells):
                cell = int(cells[rng.integers(0, len(cells))])
            else:
                # tiny world, user never on shift today: take over an unreserved hour of one
                # of the user's machines, preferring working hours and busy shift owners
                best = None
                for m in np.flatnonzero((w.mu == u).any(axis=1)).tolist():
                    for h in range(24):
                        c = m * 24 + h
                        if reserved[m, h]:
                            continue
                        score = (bool(good[c]), int(load[flat[c]]), -c)
                        if best is None or score > best[0]:
                            best = (score, c)
                if best is None:
                    continue  # every hour of the user's machines is someone's reserved hour
                cell = best[1]
                load[flat[cell]] -= 1
                load[u] += 1
                flat[cell] = u
                self.override.setdefault(cell % 24, []).append((cell // 24, u))
            m, h = divmod(cell, 24)
            reserved[m, h] += 1
            self.forced.setdefault(h, []).append(m)
        return reserved

    # -- DHCP --------------------------------------------------------------------
    def dhcp(self, H: int, rng: np.random.Generator, hour_start: int):
        """Returns (old tokens, new tokens, change tick per machine, changed machine ids)."""
        w = self.w
        for s, idx in self.released:
            self.in_use[s, idx] = False
        self.released = []
        old = list(self.ip_tok)
        change = np.full(w.M, np.iinfo(np.int64).min, dtype=np.int64)
        due = np.flatnonzero(self.next_change <= H)
        offsets = rng.integers(0, HOUR, len(due))
        leases = rng.integers(20, 49, len(due))
        for i, m in enumerate(due.tolist()):
            s = int(w.site[m])
            while True:
                cand = int(rng.integers(0, w.pool_size))
                if not self.in_use[s, cand]:
                    break
            self.in_use[s, cand] = True
            if self.ip_idx[m] >= 0:
                self.released.append((s, int(self.ip_idx[m])))
            self.ip_idx[m] = cand
            self.ip_tok[m] = _q(w.pool_ip(s, cand))
            self.next_change[m] = H + int(leases[i])
            if H == 0:
                old[m] = self.ip_tok[m]
            else:
                change[m] = hour_start + int(offsets[i])
        changed = due if H > 0 else np.zeros(0, dtype=np.int64)
        return old, list(self.ip_tok), change, changed

    # -- buffering / writing -----------------------------------------------------
    def add(self, kind: str, name: str | np.ndarray, arr: np.ndarray, lines: list[str]) -> None:
        """Queue lines for their arrival-hour objects.  ``name`` is the MDE table, or an
        array of OCSF agent numbers per line."""
        if not lines:
            return
        ah = (arr - self.t0) // HOUR
        if kind == "mde":
            order = np.lexsort((arr, ah))
            grp = ah[order]
        else:
            order = np.lexsort((arr, name, ah))
            grp = ah[order] * 1000 + name[order]
        arr_s = arr[order]
        lines_s = [lines[i] for i in order.tolist()]
        cuts = np.flatnonzero(np.diff(grp)) + 1
        bounds = [0] + cuts.tolist() + [len(order)]
        if int(ah.min()) <= self.flushed:
            raise RuntimeError("internal error: record for an arrival hour already written")
        for a, b in zip(bounds[:-1], bounds[1:]):
            if kind == "mde":
                key = (int(ah[order[a]]), "mde", name, 0)
            else:
                key = (int(ah[order[a]]), "ocsf", "", int(name[order[a]]))
            self.buf.setdefault(key, []).append((arr_s[a:b], lines_s[a:b]))
        self.counts["ocsf" if kind == "ocsf" else name] += len(lines)

    def flush(self, upto: int | None) -> None:
        keys = sorted(k for k in self.buf if upto is None or k[0] <= upto)
        self.flushed = max(self.flushed, upto if upto is not None else 1 << 62)
        for key in keys:
            chunks = self.buf.pop(key)
            if len(chunks) == 1:
                lines = chunks[0][1]
            else:
                arr = np.concatenate([c[0] for c in chunks])
                flat = [line for c in chunks for line in c[1]]
                lines = [flat[i] for i in np.argsort(arr, kind="stable").tolist()]
            ah, kind, table, agent = key
            hour = self.start_dt + timedelta(hours=ah)
            if kind == "mde":
                rel = mde_hour_dir(table, self.w.tenant, hour) + "/PT1H.json"
            else:
                rel = f"{ocsf_day_dir(hour.date())}/agent-{agent}-{hour:%H}.json"
            data = ("\n".join(lines) + "\n").encode()
            if self.compress:
                rel += ".gz"
                data = gzip.compress(data, compresslevel=6, mtime=0)
            self.lake.write_bytes(rel, data)
            self.files += 1
            self.bytes += len(data)

    def arrival(self, rng: np.random.Generator, ts: np.ndarray, late_ok: bool) -> np.ndarray:
        arr = ts + rng.integers(MINUTE, 25 * MINUTE + 1, len(ts))
        if late_ok and self.late_share > 0:
            late = rng.random(len(ts)) < self.late_share
            n = int(late.sum())
            if n:
                arr[late] = ts[late] + rng.integers(26 * HOUR, 50 * HOUR + 1, n)
                self.late += n
        return arr

    def next_ids(self, table: str, n: int) -> np.ndarray:
        first = self.report_id[table]
        self.report_id[table] = first + n
        return np.arange(first + 1, first + n + 1)

    # -- one hour ----------------------------------------------------------------
    def hour(self, H: int) -> None:
        w = self.w
        d, h = divmod(H, 24)
        if h == 0:
            self.plan_day(d)
        rng = self.rng(2, H)
        hour_start = self.t0 + H * HOUR
        old_tok, new_tok, change, changed = self.dhcp(H, rng, hour_start)
        counts = self.day_counts[:, h]
        n = int(counts.sum())
        mi = np.repeat(np.arange(w.M), counts)
        ts = hour_start + rng.integers(0, HOUR, n)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        forced = np.zeros(n, dtype=bool)
        for m in self.forced.get(h, ()) if d == 0 else ():
            forced[starts[m]] = True
        au = self.active_user(H)
        ip_tok = np.array(old_tok + new_tok + ['"0.0.0.0"', '"-"'], dtype=object)
        local_ip = np.where(ts >= change[mi], w.M + mi, mi)

        is_ocsf = w.ocsf[mi]
        sel = np.flatnonzero(~is_ocsf)
        self.mde_network(rng, mi[sel], ts[sel], au[mi[sel]], forced[sel], local_ip[sel], ip_tok)
        sel = np.flatnonzero(is_ocsf)
        self.ocsf_events(rng, mi[sel], ts[sel], au[mi[sel]], forced[sel], local_ip[sel], ip_tok)

        first_ts = np.full(w.M, -1, dtype=np.int64)
        nz = np.flatnonzero(counts)
        if n:
            first_ts[nz] = np.minimum.reduceat(ts, starts[nz])
        self.device_info(rng, H, hour_start, counts, au)
        self.network_info(rng, H, hour_start, change, changed, old_tok, new_tok)
        self.logons(rng, H, counts, au, first_ts)
        self.processes(rng, mi, ts, au, is_ocsf)
        # records made in hour H arrive no earlier than hour H-1 (logons and process events
        # may precede the network event that reveals them), so hour H-1 is now complete
        self.flush(H - 1)

    # -- MDE DeviceNetworkEvents ---------------------------------------------------
    def pick_hosts(self, rng, n, mi, user, fam, system):
        hs, w = self.h, self.w
        r = rng.random(n)
        g = hs.core[_cdf_pick(hs.core_cdf, rng.random(n)).clip(0, len(hs.core) - 1)]
        dep = hs.dept_table[w.dept_idx[user], rng.integers(0, 6, n)]
        fav = w.fav[mi, _cdf_pick(FAVOURITE_CDF, rng.random(n)).clip(0, FAVOURITES - 1)]
        host = np.where(r < 0.55, g, np.where(r < 0.75, dep, fav))
        sys_host = hs.sys_table[fam, rng.integers(0, 6, n)]
        return np.where(system, sys_host, host)

    def user_process(self, rng, n, host, fam):
        hs, pr = self.h, self.p
        app = hs.app_proc[host, fam]
        use_app = (rng.random(n) < hs.app_p[host]) & (app >= 0)
        b = (rng.random(n)[:, None] > pr.browser_cdf[fam]).sum(axis=1)
        return np.where(use_app, app, pr.browser[fam, b])

    def mde_network(self, rng, mi, ts, user, forced, local_ip, ip_tok) -> None:
        n = len(mi)
        if n == 0:
            return
        w, hs, pr = self.w, self.h, self.p
        fam = w.fam[mi]
        act = _cdf_pick(np.cumsum(ACTION_P)[:-1], rng.random(n))
        act[forced] = A_SUCCESS
        sys_forced = (act == A_DNS) | (act == A_INBOUND) | (act == A_LISTEN)
        kind = _cdf_pick((0.843, 0.955), rng.random(n))
        kind[sys_forced] = 2
        kind[forced] = 0
        system = (kind == 2) & ~sys_forced
        host = self.pick_hosts(rng, n, mi, user, fam, system)

        # process
        proc = self.user_process(rng, n, host, fam)
        sp = pr.sys[fam, _cdf_pick(SYS_PROC_CDF, rng.random(n))]
        proc = np.where(system, sp, proc)
        proc = np.where(act == A_DNS, pr.dns[fam], proc)
        svc = pr.svc[fam, rng.integers(0, 3, n)]
        proc = np.where((act == A_INBOUND) | (act == A_LISTEN), svc, proc)

        # account
        upper = rng.random(n) < 0.4
        acct = user * 3 + np.where(kind == 1, 1 + upper, 0)
        sys_acct = w.sys_acct + _cdf_pick((0.6, 0.85), rng.random(n))
        sys_acct = np.where(act == A_DNS, w.sys_acct + 1, sys_acct)
        sys_acct = np.where(fam == 0, sys_acct, w.sys_acct + 3)
        acct = np.where(kind == 2, sys_acct, acct)

        # ports and protocol
        eph = np.where(fam == 2, rng.integers(32768, 61000, n), rng.integers(49152, 65536, n))
        rport = np.full(n, 443, dtype=np.int64)
        rport[act == A_HTTP] = 80
        udp = (act == A_DNS) | (hs.ntp[host] & system) | (
            hs.rtc[host] & (act == A_SUCCESS) & (rng.random(n) < 0.25) & ~forced)
        rport = np.where(udp, rng.integers(3478, 3482, n), rport)
        rport[hs.ntp[host] & system] = 123
        rport[act == A_DNS] = 53
        lport = eph.copy()
        inbound = act == A_INBOUND
        listen = act == A_LISTEN
        n_in, n_listen = int(inbound.sum()), int(listen.sum())
        lport[inbound] = np.array(INBOUND_PORTS)[fam[inbound], rng.integers(0, 4, n_in)]
        rport[inbound] = eph[inbound]
        lport[listen] = np.array(LISTEN_PORTS)[rng.integers(0, len(LISTEN_PORTS), n_listen)]
        rport_o = rport.astype(object)
        rport_o[listen] = "null"
        proto = np.where(udp, "Udp", "Tcp").astype(object)

        # remote IP, URL, additional fields
        n_ip = len(hs.ip_tok)
        tok = hs.ip_tok + [_q(x) for x in w.dns_server] + \
            [_q(x) for s in w.peers for x in s] + ['"-"', "null"]
        tok = np.array(tok, dtype=object)
        rip = host * hs.IPS + rng.integers(0, hs.IPS, n)
        rip = np.where(act == A_DNS, n_ip + w.site[mi], rip)
        peer = n_ip + len(SITES) + w.site[mi] * 32 + rng.integers(0, 32, n)
        rip = np.where(inbound, peer, rip)
        rip = np.where(listen, len(tok) - 1, rip)
        inspected = (act == A_HTTP) | (act == A_SSL) | (act == A_DNS)
        dash = inspected & (fam != 2) & (rng.random(n) < 0.05)
        rip = np.where(dash, len(tok) - 2, rip)
        lip = np.where(listen, 2 * w.M, local_ip)
        lip = np.where(dash, 2 * w.M + 1, lip)
        ipt = np.full(n, 0)
        ipt[(act == A_DNS) | inbound] = 1
        ipt[listen] = 2
        ipt_tok = np.array(['"Public"', '"Private"', "null"], dtype=object)

        conn = (act == A_SUCCESS) | (act == A_REQUEST) | (act == A_FAILED)
        r = rng.random(n)
        uv = np.where(r < 0.15, 0, np.where(r < 0.25, 2 + rng.integers(0, 3, n), 1))
        uv[forced] = 1
        uv = np.where(conn, uv, 0)
        url = host * hs.URL_VARIANTS + uv
        av = np.zeros(n, dtype=np.int64)
        av[act == A_SSL] = 1
        av[act == A_HTTP] = np.where(rng.random(int((act == A_HTTP).sum())) < 0.75, 2, 3)
        av[act == A_DNS] = 4
        av[act == A_SIG] = 5
        addl = host * hs.ADDL_VARIANTS + av

        arr = self.arrival(rng, ts, True)
        rid = self.next_ids("devicenetworkevents", n)
        head = (f'","tenantId":"{w.tenant}","operationName":"Publish",'
                f'"category":"AdvancedHunting-DeviceNetworkEvents","properties":{{"Timestamp":"')
        act_tok = np.array(ACTIONS, dtype=object)
        lines = [
            f'{{"time":"{a}{head}{t}",{dv},"ActionType":"{ac}","RemoteIP":{ri},'
            f'"RemotePort":{rp},"RemoteUrl":{ru},"LocalIP":{li},"LocalPort":{lp},'
            f'"Protocol":"{pt}","RemoteIPType":{it},"InitiatingProcessFileName":{pn},{acc},'
            f'"AdditionalFields":{ad},"ReportId":{rd}}}}}'
            for a, t, dv, ac, ri, rp, ru, li, lp, pt, it, pn, acc, ad, rd in zip(
                _iso7(arr).tolist(), _iso7(ts).tolist(), w.dev_tok[mi].tolist(),
                act_tok[act].tolist(), tok[rip].tolist(), rport_o.tolist(),
                hs.url_tok[url].tolist(), ip_tok[lip].tolist(), lport.tolist(),
                proto.tolist(), ipt_tok[ipt].tolist(), pr.tok[proc].tolist(),
                w.acct_tok[acct].tolist(), hs.addl_tok[addl].tolist(), rid.tolist())
        ]
        self.add("mde", "devicenetworkevents", arr, lines)

    # -- OCSF ------------------------------------------------------------------------
    def ocsf_events(self, rng, mi, ts, user, forced, local_ip, ip_tok) -> None:
        n = len(mi)
        if n == 0:
            return
        w, hs, pr = self.w, self.h, self.p
        fam = w.fam[mi]
        http = rng.random(n) < 1 / 3
        inbound = ~http & (rng.random(n) < 0.05)
        denied = rng.random(n) < 0.01
        failed = rng.random(n) < 0.03
        system = rng.random(n) < 0.12
        for arr_ in (http, inbound, denied, failed, system):
            arr_[forced] = False
        system |= inbound
        host = self.pick_hosts(rng, n, mi, user, fam, system & ~inbound)
        proc = self.user_process(rng, n, host, fam)
        sp = pr.sys[fam, _cdf_pick(SYS_PROC_CDF, rng.random(n))]
        proc = np.where(system, sp, proc)
        proc = np.where(inbound, pr.svc[fam, rng.integers(0, 3, n)], proc)
        pid = (mi * 7919 + proc * 104729 + (ts // (6 * HOUR)) * 31) % 60000 + 300

        sys_user = np.where(fam == 0, w.U, np.where((fam == 2) | (rng.random(n) < 0.6),
                                                    w.U + 1, w.U + 2))
        actor = np.where(system, sys_user, user)

        method = _cdf_pick(HTTP_METHOD_CDF, rng.random(n))
        act_id = np.where(rng.random(n) < 0.35, 1, 6)
        act_id = np.where(http, np.array([m[1] for m in HTTP_METHODS])[method], act_id)
        cls = np.where(http, 4002, 4001)
        type_uid = cls * 100 + act_id
        status = np.where(failed, 2, 1)
        disp = np.where(denied, 2, 1)

        # bytes: heavy tailed; storage uploads and media downloads bigger
        down = rng.lognormal(9.0, 1.8, n)
        up = rng.lognormal(7.0, 1.5, n)
        big_up = hs.storage[host] & (rng.random(n) < 0.15)
        up = np.where(big_up, rng.lognormal(14.0, 1.5, n), up)
        down = np.where(hs.media[host], rng.lognormal(13.0, 1.5, n), down)
        bytes_in = np.minimum(down, 2e9).astype(np.int64)
        bytes_out = np.minimum(up, 2e9).astype(np.int64) + 40
        bytes_in[failed | denied] = 0
        bytes_out[denied] = 0

        eph = np.where(fam == 2, rng.integers(32768, 61000, n), rng.integers(49152, 65536, n))
        dst_ip = [x for x in hs.ip_tok]
        dip = np.array(dst_ip, dtype=object)[host * hs.IPS + rng.integers(0, hs.IPS, n)]
        host_tok = np.array([f',"hostname":"{x}"' for x in hs.names], dtype=object)[host]
        no_name = ~http & (rng.random(n) < 0.1) & ~forced
        host_tok[no_name] = ""
        dev_ip = ip_tok[local_ip]
        src = [f'"ip":{i},"port":{p}' for i, p in zip(dev_ip.tolist(), eph.tolist())]
        dst = [f'"ip":{i},"port":443{hn}' for i, hn in zip(dip.tolist(), host_tok.tolist())]
        inb = np.flatnonzero(inbound)
        if len(inb):
            peers = [x for s in w.peers for x in s]
            pk = (w.site[mi[inb]] * 32 + rng.integers(0, 32, len(inb))).tolist()
            ports = np.array(INBOUND_PORTS)[fam[inb], rng.integers(0, 4, len(inb))].tolist()
            for j, i in enumerate(inb.tolist()):
                src[i] = f'"ip":"{peers[pk[j]]}","port":{eph[i]}'
                dst[i] = f'"ip":{dev_ip[i]},"port":{ports[j]}'
        direction = np.where(inbound, 1, 2)

        tail = np.full(n, "", dtype=object)
        path_i = rng.integers(0, 3, n)
        code = np.where(failed, 503, np.where(denied, 403, 200))
        for i in np.flatnonzero(http).tolist():
            hn = hs.names[host[i]]
            tail[i] = (f',"http_request":{{"http_method":"{HTTP_METHODS[method[i]][0]}",'
                       f'"url":{{"hostname":"{hn}","path":"{hs.paths[host[i]][path_i[i]]}",'
                       f'"scheme":"https"}}}},"http_response":{{"code":{code[i]}}}')
        sni = ~http & ~inbound & ~no_name & (rng.random(n) < 0.6)
        for i in np.flatnonzero(sni).tolist():
            tail[i] = f',"tls":{{"sni":"{hs.names[host[i]]}"}}'

        os_tok = np.array([f'"os":{x}' for x in OCSF_OS], dtype=object)[w.os[mi]]
        dev_head = np.array([f'"uid":"{u}","hostname":"{nm}","ip":' for u, nm in
                             zip(w.ocsf_uid, w.name)], dtype=object)[mi]
        arr = self.arrival(rng, ts, True)
        meta = OCSF_METADATA
        lines = [
            f'{{"time":{t},"class_uid":{c},"category_uid":4,"activity_id":{a},"type_uid":{ty},'
            f'"severity_id":1,"status_id":{st},"disposition_id":{dp},"action_id":{dp},'
            f'"metadata":{meta},"device":{{{dh}{di},{ot}}},'
            f'"actor":{{"user":{{{us}}},"process":{{"name":{pn},"pid":{pi}}}}},'
            f'"src_endpoint":{{{sr}}},"dst_endpoint":{{{ds}}},'
            f'"connection_info":{{"direction_id":{dr},"protocol_name":"tcp"}},'
            f'"traffic":{{"bytes_in":{bi},"bytes_out":{bo}}}{tl}}}'
            for t, c, a, ty, st, dp, dh, di, ot, us, pn, pi, sr, ds, dr, bi, bo, tl in zip(
                (ts // 10_000).tolist(), cls.tolist(), act_id.tolist(), type_uid.tolist(),
                status.tolist(), disp.tolist(), dev_head.tolist(), dev_ip.tolist(),
                os_tok.tolist(), w.ocsf_user_tok[actor].tolist(), pr.tok[proc].tolist(),
                pid.tolist(), src, dst, direction.tolist(), bytes_in.tolist(),
                bytes_out.tolist(), tail.tolist())
        ]
        self.add("ocsf", w.agent[mi], arr, lines)

    # -- MDE device tables -----------------------------------------------------------
    def mde_lines(self, table: str, ts: np.ndarray, rng, props: list[str]) -> None:
        if not len(ts):
            return
        arr = self.arrival(rng, ts, False)
        head = (f'","tenantId":"{self.w.tenant}","operationName":"Publish",'
                f'"category":"{MDE_TABLES[table]}","properties":{{"Timestamp":"')
        rid = self.next_ids(table, len(ts))
        lines = [f'{{"time":"{a}{head}{t}",{p},"ReportId":{r}}}}}' for a, t, p, r in zip(
            _iso7(arr).tolist(), _iso7(ts).tolist(), props, rid.tolist())]
        self.add("mde", table, arr, lines)

    def heartbeat(self, H: int) -> np.ndarray:
        w = self.w
        hb = (H % 6) == w.hb_phase
        if H == 0:
            hb[:] = True
        return hb & ~w.ocsf

    def device_info(self, rng, H, hour_start, counts, au) -> None:
        w = self.w
        hb = self.heartbeat(H)
        machines = np.flatnonzero(((counts > 0) & ~w.ocsf) | hb)
        # the first hour's snapshot is stamped at the window start, before any event
        t_hb = hour_start + (w.hb_offset[machines] if H else np.zeros(len(machines), np.int64))
        t_act = hour_start + rng.integers(0, HOUR, len(machines))
        ts = np.where(hb[machines], t_hb, t_act)
        props = [
            f'{w.dev_tok[m]},"OSPlatform":"{OS_NAMES[w.os[m]]}","OSVersion":"{w.os_version[m]}",'
            f'"PublicIP":"{w.egress[m]}","LoggedOnUsers":{w.logged_on_tok[au[m]]},'
            f'"MachineGroup":"{w.group[m]}"'
            for m in machines.tolist()]
        self.mde_lines("deviceinfo", ts, rng, props)

    def network_info(self, rng, H, hour_start, change, changed, old_tok, new_tok) -> None:
        w = self.w
        hb = np.flatnonzero(self.heartbeat(H))
        t_hb = hour_start + (w.hb_offset[hb] if H else np.zeros(len(hb), np.int64))
        chg = changed[~w.ocsf[changed]]
        machines = np.concatenate([hb, chg])
        ts = np.concatenate([t_hb, change[chg]])
        props = []
        for m, t in zip(machines.tolist(), ts.tolist()):
            ip = json.loads(new_tok[m] if t >= change[m] else old_tok[m])
            addrs = [{"IPAddress": ip, "SubnetPrefix": 24, "AddressType": "Private"}]
            if w.fam[m] == 0:
                addrs.append({"IPAddress": w.ipv6[m], "SubnetPrefix": 64,
                              "AddressType": "Private"})
            adapter = "Ethernet" if w.name[m].startswith(("ws-", "srv-", "imac-")) \
                else "Wireless80211"
            props.append(f'{w.dev_tok[m]},"IPAddresses":{_qq(addrs)},'
                         f'"NetworkAdapterStatus":"Up","NetworkAdapterType":"{adapter}",'
                         f'"MacAddress":"{w.mac[m]}"')
        self.mde_lines("devicenetworkinfo", ts, rng, props)

    def logons(self, rng, H, counts, au, first_ts) -> None:
        w = self.w
        lh, ld = self.local(H)
        active = (counts > 0) & ~w.ocsf
        new_day = ld != self.last_day
        new_user = au != self.last_user
        idle = self.prev_count == 0
        trigger = np.flatnonzero(active & (new_day | new_user | idle))
        fresh = (new_day | new_user)[trigger]
        remote = rng.random(len(trigger)) < 0.1
        ltype = np.where(fresh, np.where(remote & (w.fam[trigger] == 0), 1, 0), 2)
        t_ok = first_ts[trigger] - rng.integers(5 * TICKS, 120 * TICKS, len(trigger))
        fail = rng.random(len(trigger)) < 0.05
        t_fail = t_ok - rng.integers(10 * TICKS, 60 * TICKS, len(trigger))
        t_fail = np.maximum(t_fail, self.t0)
        t_ok = np.maximum(t_ok, t_fail + TICKS // 10)
        types = ("Interactive", "RemoteInteractive", "Unlock", "Network", "Service")
        rows: list[tuple[int, int, str, int, int]] = []  # ts, machine, action, type, user
        for i, m in enumerate(trigger.tolist()):
            if fail[i]:
                rows.append((int(t_fail[i]), m, "LogonFailed", int(ltype[i]), int(au[m])))
            rows.append((int(t_ok[i]), m, "LogonSuccess", int(ltype[i]), int(au[m])))
        self.last_day = np.where(active, ld, self.last_day)
        self.last_user = np.where(active, au, self.last_user)
        self.prev_count = counts.copy()
        # service logons by system accounts (Windows) and network logons by other users
        hour_start = self.t0 + H * HOUR
        mde = self.mde_idx
        n_svc = rng.poisson(0.25, len(mde)) * (w.fam[mde] == 0)
        net = rng.random(len(mde)) < 0.02
        other = rng.integers(0, w.U, len(mde))
        for j, m in enumerate(mde.tolist()):
            for _ in range(int(n_svc[j])):
                rows.append((hour_start + int(rng.integers(0, HOUR)), m, "LogonSuccess", 4, -1))
            if net[j]:
                rows.append((hour_start + int(rng.integers(0, HOUR)), m, "LogonSuccess", 3,
                             int(other[j])))
        if not rows:
            return
        ts = np.array([r[0] for r in rows], dtype=np.int64)
        props = []
        for _, m, action, lt, u in rows:
            if u < 0:
                acct = '"AccountDomain":"nt authority","AccountName":"system",' \
                       '"AccountSid":"S-1-5-18","IsLocalAdmin":true'
            else:
                acct = (f'"AccountDomain":"contoso","AccountName":"{w.sam[u]}",'
                        f'"AccountSid":"{w.sid[u]}",'
                        f'"IsLocalAdmin":{"true" if w.admin[u] else "false"}')
            props.append(f'{w.dev_tok[m]},"ActionType":"{action}","LogonType":"{types[lt]}",'
                         f'{acct}')
        self.mde_lines("devicelogonevents", ts, rng, props)

    def processes(self, rng, mi, ts, au, is_ocsf) -> None:
        w = self.w
        pick = np.flatnonzero(~is_ocsf & (rng.random(len(mi)) < 0.02))
        if not len(pick):
            return
        m_ = mi[pick]
        t_ = np.maximum(ts[pick] - rng.integers(0, 30 * TICKS, len(pick)), self.t0)
        kinds = rng.integers(0, 4, len(pick))
        win = (
            ("powershell.exe", r"C:\Windows\System32\WindowsPowerShell\v1.0",
             "powershell.exe -NoProfile -Command Get-Process", "explorer.exe"),
            ("cmd.exe", r"C:\Windows\System32", 'cmd.exe /c "dir %TEMP%"', "explorer.exe"),
            ("conhost.exe", r"C:\Windows\System32", "conhost.exe 0xffffffff -ForceV1",
             "cmd.exe"),
            ("msedgewebview2.exe", r"C:\Program Files (x86)\Microsoft\EdgeWebView\Application",
             "msedgewebview2.exe --embedded-browser-webview=1", "ms-teams.exe"),
        )
        nix = (
            ("bash", "/bin", "bash -l", "Terminal"),
            ("curl", "/usr/bin", "curl -sS https://api.github.com/", "bash"),
            ("python3", "/usr/bin", "python3 script.py", "bash"),
            ("ssh", "/usr/bin", "ssh git@github.com", "git"),
        )
        tok = [[f'"ActionType":"ProcessCreated","FileName":{_q(a)},"FolderPath":{_q(b)},'
                f'"ProcessCommandLine":{_q(c)}', _q(d)] for a, b, c, d in win + nix]
        props = []
        for m, k in zip(m_.tolist(), kinds.tolist()):
            body, parent = tok[k + (0 if w.fam[m] == 0 else 4)]
            u = int(au[m])
            props.append(f'{w.dev_tok[m]},{body},"AccountDomain":"contoso",'
                         f'"AccountName":"{w.sam[u]}","InitiatingProcessFileName":{parent}')
        self.mde_lines("deviceprocessevents", t_, rng, props)


# ---------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------

def generate_lake(lake: Lake, start: date, days: int, machines: int, events_per_day: int,
                  seed: int = 7, users: int | None = None, ocsf_share: float = 0.3,
                  compress: bool = False, late_share: float = 0.001) -> GenerateSummary:
    """Write ``days`` days of synthetic endpoint telemetry from ``start`` into ``lake``.

    ``events_per_day`` is the number of network events per UTC day over both endpoint
    sources (MDE DeviceNetworkEvents + OCSF); the other MDE tables come on top.  The run
    streams hour by hour; memory is bounded by one hour of events plus late arrivals.
    """
    if isinstance(start, datetime):
        start = start.date()
    if days < 1:
        raise ValueError("days must be >= 1")
    if machines < 1:
        raise ValueError("machines must be >= 1")
    if events_per_day < 0:
        raise ValueError("events_per_day must be >= 0")
    if not 0.0 <= ocsf_share <= 1.0:
        raise ValueError("ocsf_share must be within [0, 1]")
    if not 0.0 <= late_share <= 1.0:
        raise ValueError("late_share must be within [0, 1]")
    n_users = users if users is not None else max(20, int(machines * 0.4))
    if n_users < 1:
        raise ValueError("users must be >= 1")

    hosts = _Hosts()
    procs = _Procs(hosts)
    world = _World(seed, machines, n_users, ocsf_share, hosts)
    gen = _Gen(lake, start, days, events_per_day, seed, world, hosts, procs, compress,
               late_share)
    for H in range(days * 24):
        gen.hour(H)
    gen.flush(None)

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["upn", "display_name", "department", "sam_account_name"])
    for row in zip(world.upn, world.display, world.dept, world.sam):
        writer.writerow(row)
    data = out.getvalue().encode()
    lake.write_bytes("reference/users.csv", data)

    mde_other = sum(gen.counts[t] for t in MDE_TABLES if t != "devicenetworkevents")
    return GenerateSummary(
        files_written=gen.files + 1,
        mde_network=gen.counts["devicenetworkevents"],
        mde_other=mde_other,
        ocsf=gen.counts["ocsf"],
        machines=machines,
        users=n_users,
        start=start,
        days=days,
        tenant_id=world.tenant,
        bytes_written=gen.bytes + len(data),
        late_events=gen.late,
        mde_tables=tuple((t, gen.counts[t]) for t in MDE_TABLES),
    )
