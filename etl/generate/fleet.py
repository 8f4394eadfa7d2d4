"""The synthetic company every generator writes about: one world, shared by all writers.

``World`` is the static fleet and staff, ``Timeline`` the same world hour by hour (which
machines are busy, who is logged on, which private IP each machine holds).  The endpoint
writers (``mde``, ``ocsf``) and the appliance writers (``squid``, ``panos``) all read these, so
a proxy line's client IP and user agree with what Defender for Endpoint reported.

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
    day (the rota rotates daily).
  * Activity: spread by machine activity, a business-hours curve in the machine's local time
    (08-18), quiet weekends and days a machine is switched off.
  * Destinations: 82 real SaaS hosts, 16 OS/infrastructure hosts (Windows Update, Apple,
    Ubuntu...) used by system processes, and 25 made-up unknown domains.  Each connection picks
    a popular "core" app (Zipf-ish weights, used everywhere), one of its user's department's
    favourites, or one of the machine's own 12 long-tail favourites (which is where the
    unknown domains come from), so per-machine app lists differ.
  * ``ocsf_share`` of the machines (macOS and Linux first, then Windows) report through an
    OCSF agent instead of MDE.

Randomness (all from ``numpy.random.default_rng``, nothing from the clock or hash order):
``[seed, 0]`` and ``[seed, 99]`` build the world; ``[seed, 1, d]`` plans day d (its first
draws: who is switched off, then day 0's coverage reservation); ``[seed, 2, H]`` drives hour H,
whose first draws are the DHCP renewals.  Replaying those first draws is how the appliance
writers rebuild the IP and logon history without writing the endpoint lake.
"""
from __future__ import annotations

import json
import math
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

import numpy as np

TICKS = 10_000_000  # 100 ns ticks per second: the 7 fractional digits of MDE timestamps
HOUR = 3600 * TICKS
MINUTE = 60 * TICKS
EPOCH = date(1970, 1, 1)

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


def q(text: str) -> str:
    """A JSON string token."""
    return json.dumps(text)


def qq(obj) -> str:
    """A JSON string token holding compact JSON (MDE's AdditionalFields and friends)."""
    return json.dumps(json.dumps(obj, separators=(",", ":")))


def seed_key(seed: int) -> int:
    """SeedSequence wants a non-negative integer; any int seed is accepted."""
    return int(seed) % (1 << 64)


def cdf_pick(cdf, u: np.ndarray) -> np.ndarray:
    return np.searchsorted(np.asarray(cdf), u, side="right")


def host_ip(host: str, j: int) -> str:
    """A fixed fake public IP for a host (stable across seeds, like DNS)."""
    h = zlib.crc32(f"{host}#{j}".encode())
    first = PUBLIC_FIRST_OCTETS[h % len(PUBLIC_FIRST_OCTETS)]
    return f"{first}.{(h >> 8) % 256}.{(h >> 16) % 256}.{1 + (h >> 24) % 254}"


class Hosts:
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
        self.ips = [[host_ip(h, j) for j in range(self.IPS)] for h in names]
        self.ip_tok = [q(ip) for row in self.ips for ip in row]
        url, addl, paths = [], [], []
        for h, cat in zip(names, cats):
            p3 = PATHS.get(cat, DEFAULT_PATHS)
            paths.append(p3)
            url += ["null", q(h)] + [q(f"https://{h}{p}") for p in p3]
            sig = SIGNATURES[zlib.crc32(h.encode()) % len(SIGNATURES)]
            addl += [
                "null",
                qq({"direction": "Out", "server_name": h}),
                qq({"direction": "Out", "host": h, "method": "GET"}),
                qq({"direction": "Out", "host": h, "method": "POST"}),
                qq({"direction": "Out", "query": h, "rcode": 0}),
                qq({"SignatureName": sig, "SignatureMatchedContent": h,
                     "SamplePacketContent": ""}),
            ]
        self.paths = paths
        self.url_tok = np.array(url, dtype=object)
        self.addl_tok = np.array(addl, dtype=object)
        self.apps = apps


class Procs:
    def __init__(self, hosts: Hosts):
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
        self.tok = np.array([q(n) for n in names], dtype=object)


# ---------------------------------------------------------------------------
# The world
# ---------------------------------------------------------------------------

class World:
    def __init__(self, seed: int, n_machines: int, n_users: int, ocsf_share: float,
                 hosts: Hosts):
        rng = np.random.default_rng([seed_key(seed), 0])
        trng = np.random.default_rng([seed_key(seed), 99])
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
        dept_idx = cdf_pick(np.cumsum(DEPT_WEIGHTS) / sum(DEPT_WEIGHTS), rng.random(U))
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
        os_ = cdf_pick(np.cumsum(OS_WEIGHTS), rng.random(M)).clip(0, 3)
        self.os = os_
        self.fam = np.array(OS_FAMILY)[os_]
        site = cdf_pick(np.cumsum([s[2] for s in SITES]), rng.random(M)).clip(0, len(SITES) - 1)
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
        office_ip = [host_ip(f"office-{s[0]}", 0) for s in SITES]
        egress = []
        for m in range(M):
            if remote_mask[m]:
                h = int(home_ip[m])
                egress.append(f"{PUBLIC_FIRST_OCTETS[h % len(PUBLIC_FIRST_OCTETS)]}."
                              f"{(h >> 8) % 256}.{(h >> 16) % 256}.{1 + (h >> 24) % 254}")
            else:
                egress.append(office_ip[site[m]])
        self.egress = egress
        self.office_ip = office_ip  # per site: the office NAT address

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
            qq([{"UserName": s, "DomainName": "CONTOSO", "Sid": sid}])
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
# The world over time
# ---------------------------------------------------------------------------

class Timeline:
    """The world hour by hour from ``start`` 00:00 UTC (hour index H = 0, 1, ...).

    Holds the DHCP leases and the logon rota.  ``dhcp(H, ...)`` must be called for every hour
    in order, with a fresh ``rng(2, H)``, before anything else draws from that generator.
    """

    def __init__(self, world: World, hosts: Hosts, procs: Procs, start: date, seed: int):
        self.w, self.h, self.p = world, hosts, procs
        self.seed = seed
        self.t0 = (start - EPOCH).days * 86400 * TICKS
        self.weekday0 = start.weekday()
        M = world.M
        # DHCP state
        self.in_use = np.zeros((len(SITES), world.pool_size), dtype=bool)
        self.released: list[tuple[int, int]] = []
        self.ip_idx = np.full(M, -1, dtype=np.int64)
        self.ip_tok = [""] * M  # JSON string token of the current lease
        self.ip = [""] * M  # the same address, plain
        self.next_change = np.zeros(M, dtype=np.int64)  # absolute hour index
        # day-0 coverage take-overs: hour -> [(machine, user)]
        self.override: dict[int, list[tuple[int, int]]] = {}

    def rng(self, purpose: int, hour: int) -> np.random.Generator:
        return np.random.default_rng([seed_key(self.seed), purpose, hour])

    def local(self, H: int) -> tuple[np.ndarray, np.ndarray]:
        """Local hour-of-day and local day number (relative to start) per machine."""
        x = H + self.w.tz
        return x % 24, x // 24

    def active_user(self, H: int) -> np.ndarray:
        """The user logged on to each machine during hour H."""
        w = self.w
        lh, ld = self.local(H)
        shift = np.clip(((lh - 8) * w.k) // 10, 0, w.k - 1)
        au = w.mu[np.arange(w.M), (shift + ld) % w.k]
        for m, u in self.override.get(H, ()):
            au[m] = u
        return au

    # -- per-day plan ------------------------------------------------------------
    def day_weights(self, d: int, rng: np.random.Generator) -> np.ndarray:
        """[M, 24] activity weights of day d (UTC hours); draws who is switched off first."""
        w = self.w
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
        return wt

    def reserve_coverage(self, rng: np.random.Generator, events_per_day: int
                         ) -> tuple[np.ndarray, dict[int, list[int]]]:
        """One UPN-carrying event per user on day 0, in an hour that user is active.

        Returns the reserved events per (machine, hour) and, per hour, the machines whose
        first event of the hour is the reserved one.  In tiny worlds a user who is never on
        shift takes over an hour of one of their machines (recorded in ``override``)."""
        w = self.w
        forced: dict[int, list[int]] = {}
        reserved = np.zeros((w.M, 24), dtype=np.int64)
        au = np.stack([self.active_user(h) for h in range(24)], axis=1)  # [M, 24]
        lh = (np.arange(24)[None, :] + w.tz[:, None]) % 24
        good = ((lh >= 9) & (lh <= 16)).ravel()
        flat = au.ravel()
        order = np.argsort(flat, kind="stable")
        bounds = np.searchsorted(flat[order], np.arange(w.U + 1))
        load = np.bincount(flat, minlength=w.U)  # cells per user, for the tiny-world fallback
        for u in rng.permutation(w.U)[: min(events_per_day, w.U)].tolist():
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
            forced.setdefault(h, []).append(m)
        return reserved, forced

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
            self.ip[m] = w.pool_ip(s, cand)
            self.ip_tok[m] = q(self.ip[m])
            self.next_change[m] = H + int(leases[i])
            if H == 0:
                old[m] = self.ip_tok[m]
            else:
                change[m] = hour_start + int(offsets[i])
        changed = due if H > 0 else np.zeros(0, dtype=np.int64)
        return old, list(self.ip_tok), change, changed

    # -- what a connection goes to, and which process makes it --------------------
    def pick_hosts(self, rng, n, mi, user, fam, system):
        hs, w = self.h, self.w
        r = rng.random(n)
        g = hs.core[cdf_pick(hs.core_cdf, rng.random(n)).clip(0, len(hs.core) - 1)]
        dep = hs.dept_table[w.dept_idx[user], rng.integers(0, 6, n)]
        fav = w.fav[mi, cdf_pick(FAVOURITE_CDF, rng.random(n)).clip(0, FAVOURITES - 1)]
        host = np.where(r < 0.55, g, np.where(r < 0.75, dep, fav))
        sys_host = hs.sys_table[fam, rng.integers(0, 6, n)]
        return np.where(system, sys_host, host)

    def user_process(self, rng, n, host, fam):
        hs, pr = self.h, self.p
        app = hs.app_proc[host, fam]
        use_app = (rng.random(n) < hs.app_p[host]) & (app >= 0)
        b = (rng.random(n)[:, None] > pr.browser_cdf[fam]).sum(axis=1)
        return np.where(use_app, app, pr.browser[fam, b])


# ---------------------------------------------------------------------------
# Traffic through the appliances (web proxy, firewall)
# ---------------------------------------------------------------------------

SLOTS = 12  # an hour of appliance traffic is drawn in 5-minute slots, one output block each
R_DAY, R_SLOTS, R_SESSIONS = 10, 11, 12  # rng purposes; the writers use 13 (squid), 14 (panos)
# destinations the appliances' policy blocks most of the time (the rest: 0.5% of anything)
BLOCKED_HOSTS = frozenset({
    "www.freevpn-proxy.org", "vpn.securetunnel-free.net", "www.crypto-miner-pool.xyz",
    "paste.textbin-share.org", "pastebin.com", "mega.nz", "www.mediafire.com",
    "tracker.adnet-example.com", "beacon.adsrv-network.com",
})


@dataclass
class Sessions:
    """One slot of the traffic an appliance sees, sorted by time: what really happened, before
    a format writer dresses it up.  Arrays hold one element per output line."""

    index: int  # slot number since start (H * SLOTS + s): seeds the writer's own details
    ts: np.ndarray  # int64 ticks, already cut to the format's resolution (the logged time)
    since: np.ndarray  # int64 ticks: when the machine got the IP it holds at ts
    machine: np.ndarray
    ip: np.ndarray  # object array of str: the machine's private IP at ts
    user: np.ndarray  # who was logged on to the machine
    host: np.ndarray  # index into Hosts.names
    host_ip: np.ndarray  # index into the flattened Hosts.ips (host * IPS + j)
    system: np.ndarray  # bool: an OS / update process, not the user, made the request

    def __len__(self) -> int:
        return len(self.ts)


def appliance_sessions(tl: Timeline, days: int, lines_per_day: int, resolution: int,
                       events_per_day: int) -> Iterator[Sessions]:
    """The traffic a central proxy or firewall sees from every machine, slot by slot.

    Replays the world exactly as the endpoint lake run does (day plans, day 0's coverage
    take-overs for ``events_per_day``, DHCP renewals hour by hour), so IPs and logged-on users
    agree with what MDE and OCSF report; the traffic itself comes from its own generators.
    ``lines_per_day`` lines a day are spread by the same activity weights as endpoint events.
    """
    w, hs = tl.w, tl.h
    M = w.M
    since = np.full(M, tl.t0, dtype=np.int64)
    slot_len = HOUR // SLOTS
    for d in range(days):
        rng = tl.rng(1, d)
        wt = tl.day_weights(d, rng)
        if d == 0:
            tl.reserve_coverage(rng, events_per_day)
        p = (wt / wt.sum()).ravel()
        counts = tl.rng(R_DAY, d).multinomial(lines_per_day, p).reshape(M, 24)
        for h in range(24):
            H = 24 * d + h
            hour_start = tl.t0 + H * HOUR
            old_ip = list(tl.ip)
            _, _, change, changed = tl.dhcp(H, tl.rng(2, H), hour_start)
            if H == 0:
                old_ip = list(tl.ip)
            ips = np.array(old_ip + tl.ip, dtype=object)
            au = tl.active_user(H)
            before = since.copy()
            since[changed] = change[changed]
            per_slot = tl.rng(R_SLOTS, H).multinomial(counts[:, h], np.full(SLOTS, 1 / SLOTS))
            for s in range(SLOTS):
                c = per_slot[:, s]
                n = int(c.sum())
                if n == 0:
                    continue
                index = H * SLOTS + s
                r = tl.rng(R_SESSIONS, index)
                mi = np.repeat(np.arange(M), c)
                ts = hour_start + s * slot_len + r.integers(0, slot_len, n)
                ts -= ts % resolution
                order = np.lexsort((mi, ts))
                mi, ts = mi[order], ts[order]
                user = au[mi]
                system = r.random(n) < 0.1
                host = tl.pick_hosts(r, n, mi, user, w.fam[mi], system)
                host_ip = host * hs.IPS + r.integers(0, hs.IPS, n)
                new = ts >= change[mi]
                yield Sessions(
                    index=index, ts=ts,
                    since=np.where(new, np.maximum(change[mi], before[mi]), before[mi]),
                    machine=mi, ip=ips[np.where(new, M + mi, mi)], user=user, host=host,
                    host_ip=host_ip, system=system)
