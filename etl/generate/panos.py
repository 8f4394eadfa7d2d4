"""The PAN-OS writer: a Palo Alto Networks firewall's TRAFFIC logs over syslog (BSD, RFC 3164).

Field order is PAN-OS 10.x TRAFFIC (Syslog Field Descriptions), written up to SCTP Chunks
Received: FUTURE_USE, Receive Time, Serial Number, Type, Threat/Content Type (subtype),
FUTURE_USE, Generated Time, Source Address, Destination Address, NAT Source IP, NAT
Destination IP, Rule Name, Source User, Destination User, Application, Virtual System, Source
Zone, Destination Zone, Inbound Interface, Outbound Interface, Log Action, FUTURE_USE, Session
ID, Repeat Count, Source Port, Destination Port, NAT Source Port, NAT Destination Port, Flags,
Protocol, Action, Bytes, Bytes Sent, Bytes Received, Packets, Start Time, Elapsed Time,
Category, FUTURE_USE, Sequence Number, Action Flags, Source Country, Destination Country,
FUTURE_USE, Packets Sent, Packets Received, Session End Reason, Device Group Hierarchy Level
1-4, Virtual System Name, Device Name, Action Source, Source VM UUID, Destination VM UUID,
Tunnel ID/IMSI, Monitor Tag/IMEI, Parent Session ID, Parent Start Time, Tunnel Type, SCTP
Association ID, SCTP Chunks, SCTP Chunks Sent, SCTP Chunks Received.

Times are UTC, to the second; receive time = generated time = the line's time, when the source
held the logged IP.  Bytes = Bytes Sent + Bytes Received and Packets = sent + received.  Most
lines are ``end`` / ``allow``; a few are ``start`` (elapsed 0, end reason ``n/a``) and blocked
destinations give ``deny`` / ``drop`` lines (no NAT, policy-deny).  Source User
(``contoso\\sam``) is filled for about half of the user traffic, as User-ID would.
"""
from __future__ import annotations

import zlib
from datetime import datetime, timedelta

import numpy as np

from etl.generate.fleet import BLOCKED_HOSTS, TICKS, Sessions, Timeline

RESOLUTION = TICKS  # seconds
PURPOSE = 14
SERIAL = "007051000012345"
DEVICE = "PA-VM"
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
MMSS = np.array([f"{m:02d}:{s:02d}" for m in range(60) for s in range(60)], dtype=object)

# App-ID by destination (first match of a host suffix); otherwise ssl / web-browsing
APP_IDS = (
    ("teams.microsoft.com", "ms-teams"), ("outlook.office365.com", "outlook-web-online"),
    ("outlook.office.com", "outlook-web-online"), ("sharepoint.com", "sharepoint-online"),
    ("onedrive.live.com", "ms-onedrive-base"), ("login.microsoftonline.com", "ms-office365-base"),
    ("www.office.com", "ms-office365-base"), ("graph.microsoft.com", "ms-office365-base"),
    ("substrate.office.com", "ms-office365-base"), ("google.com", "google-base"),
    ("drive.google.com", "google-drive-web"), ("docs.google.com", "google-docs-base"),
    ("mail.google.com", "gmail-base"), ("youtube.com", "youtube-base"),
    ("github.com", "github-base"), ("githubusercontent.com", "github-base"),
    ("slack.com", "slack-base"), ("zoom.us", "zoom-base"), ("dropbox.com", "dropbox-base"),
    ("dropboxusercontent.com", "dropbox-base"), ("box.com", "boxnet-base"),
    ("salesforce.com", "salesforce-base"), ("linkedin.com", "linkedin-base"),
    ("facebook.com", "facebook-base"), ("instagram.com", "instagram-base"),
    ("x.com", "twitter-base"), ("whatsapp.com", "whatsapp-web"),
    ("chatgpt.com", "openai-chatgpt"), ("api.openai.com", "openai-api"),
    ("atlassian.net", "jira-base"), ("notion.so", "notion-base"), ("spotify.com", "spotify-base"),
    ("netflix.com", "netflix-base"), ("twitch.tv", "twitch"), ("webex.com", "webex-base"),
    ("telegram.org", "telegram-base"), ("discord.com", "discord"), ("reddit.com", "reddit-base"),
    ("wikipedia.org", "wikipedia-base"), ("amazon.com", "amazon-base"),
    ("s3.amazonaws.com", "amazon-aws-s3"), ("docker.com", "docker-hub"),
    ("windowsupdate.com", "ms-update"), ("update.microsoft.com", "ms-update"),
    ("apple.com", "apple-update"), ("ubuntu.com", "apt-get"), ("icloud.com", "icloud-base"),
    ("mega.nz", "mega"), ("pastebin.com", "pastebin"), ("wetransfer.com", "wetransfer"),
)
CATEGORIES = {
    "collab": "internet-communications-and-telephony", "mail": "web-based-email",
    "search": "search-engines", "identity": "computer-and-internet-info",
    "storage": "online-storage-and-backup", "office": "business-and-economy",
    "cdn": "content-delivery-networks", "ai": "artificial-intelligence",
    "dev": "computer-and-internet-info", "social": "social-networking",
    "media": "streaming-media", "crm": "business-and-economy", "shopping": "shopping",
    "news": "news", "itsm": "business-and-economy", "design": "computer-and-internet-info",
    "hr": "business-and-economy", "system": "computer-and-internet-info", "unknown": "unknown",
}
COUNTRIES = ("United States",) * 7 + ("Ireland", "Netherlands", "Germany", "Singapore")
END_REASONS = ("tcp-fin", "aged-out", "tcp-rst-from-client", "tcp-rst-from-server")
END_REASON_CDF = np.cumsum((0.55, 0.2, 0.15))


def _clock(sec: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Epoch seconds -> ('YYYY/MM/DD HH:MM:SS', syslog 'Mmm dd HH:MM:SS') object arrays."""
    hr = sec // 3600
    uniq, inv = np.unique(hr, return_inverse=True)
    pan, syslog = [], []
    for h in uniq.tolist():
        t = datetime(1970, 1, 1) + timedelta(hours=h)
        pan.append(f"{t.year}/{t.month:02d}/{t.day:02d} {t.hour:02d}:")
        syslog.append(f"{MONTHS[t.month - 1]} {t.day:2d} {t.hour:02d}:")
    mmss = MMSS[sec - hr * 3600]
    return (np.array(pan, dtype=object)[inv] + mmss,
            np.array(syslog, dtype=object)[inv] + mmss)


class PanosWriter:
    RESOLUTION = RESOLUTION

    def __init__(self, tl: Timeline):
        self.tl = tl
        w, hs = tl.w, tl.h
        self.blocked = np.array([h in BLOCKED_HOSTS for h in hs.names])
        app = []
        for h in hs.names:
            found = [a for suffix, a in APP_IDS if h == suffix or h.endswith("." + suffix)]
            app.append(found[0] if found else "")
        self.app = np.array(app, dtype=object)
        self.category = np.array([CATEGORIES.get(c, "unknown") for c in hs.category],
                                 dtype=object)
        self.dst_tok = np.array([ip for row in hs.ips for ip in row], dtype=object)
        self.country = np.array([COUNTRIES[zlib.crc32(ip.encode()) % len(COUNTRIES)]
                                 for ip in self.dst_tok.tolist()], dtype=object)
        self.user_tok = np.array([f"contoso\\{s}" for s in w.sam] + [""], dtype=object)
        self.nat_tok = np.array(list(w.office_ip) + ["0.0.0.0"], dtype=object)
        self.session = 41_000  # running Session ID and Sequence Number over the whole feed
        self.seq = 7_253_419_119_627_000

    def render(self, s: Sessions) -> bytes:
        tl, hs, w = self.tl, self.tl.h, self.tl.w
        n = len(s)
        rng = tl.rng(PURPOSE, s.index)
        host, mi = s.host, s.machine
        fam = w.fam[mi]

        # what kind of session: blocked (deny / drop), start log, or a finished session
        blocked = np.where(self.blocked[host], rng.random(n) < 0.8, rng.random(n) < 0.004)
        drop = blocked & (rng.random(n) < 0.3)
        start = ~blocked & (rng.random(n) < 0.015)
        subtype = np.where(blocked, np.where(drop, 2, 1), np.where(start, 3, 0))
        subtype_tok = np.array(("end", "deny", "drop", "start"), dtype=object)[subtype]
        action_tok = np.array(("allow", "deny", "drop", "allow"), dtype=object)[subtype]
        rule_tok = np.array(("allow-internet", "block-high-risk", "interzone-default",
                             "allow-internet"), dtype=object)[subtype]
        flags_tok = np.array(("0x400000", "0x0", "0x0", "0x0"), dtype=object)[subtype]

        # protocol and ports
        ntp = hs.ntp[host] & s.system
        rtc = hs.rtc[host] & (rng.random(n) < 0.25) & ~blocked
        quic = ~ntp & ~rtc & (rng.random(n) < 0.06) & ~blocked
        http = ~ntp & ~rtc & ~quic & (rng.random(n) < 0.12)
        udp = ntp | rtc | quic
        dport = np.where(http, 80, 443)
        dport = np.where(rtc, rng.integers(3478, 3482, n), dport)
        dport = np.where(ntp, 123, dport)
        sport = np.where(fam == 2, rng.integers(32768, 61000, n), rng.integers(49152, 65536, n))
        natsport = np.where(blocked, 0, rng.integers(1024, 65536, n))
        proto_tok = np.where(udp, "udp", "tcp").astype(object)
        app = self.app[host].copy()
        app[(app == "") & http] = "web-browsing"
        app[app == ""] = "ssl"
        app[quic] = "quic"
        app[rtc] = "stun"
        app[ntp] = "ntp"
        app[drop] = "not-applicable"

        # byte and packet counts; bytes = sent + received, packets = sent + received
        sent = rng.lognormal(7.5, 1.5, n)
        sent = np.where(hs.storage[host] & (rng.random(n) < 0.15), rng.lognormal(14.0, 1.5, n),
                        sent)
        recv = rng.lognormal(9.0, 1.8, n)
        recv = np.where(hs.media[host], rng.lognormal(13.0, 1.5, n), recv)
        sent = np.minimum(sent, 2e9).astype(np.int64) + 74
        recv = np.minimum(recv, 2e9).astype(np.int64) + 60
        pk_s = 1 + sent // 1200 + rng.integers(0, 4, n)
        pk_r = 1 + recv // 1400 + rng.integers(0, 4, n)
        few = start | blocked
        pk_s = np.where(few, rng.integers(1, 3, n), pk_s)
        pk_r = np.where(start, rng.integers(1, 3, n), np.where(blocked, 0, pk_r))
        sent = np.where(few, pk_s * 74, sent)
        recv = np.where(start, pk_r * 66, np.where(blocked, 0, recv))

        # elapsed seconds, never reaching back before the source got its IP
        elapsed = rng.lognormal(2.5, 1.6, n).astype(np.int64)
        elapsed = np.where(udp & ~rtc, np.minimum(elapsed, 30) + 30, elapsed)
        elapsed = np.where(few, 0, np.minimum(elapsed, 7200))
        elapsed = np.minimum(elapsed, (s.ts - s.since) // TICKS)
        sec = s.ts // TICKS
        gen, header = _clock(sec)
        began, _ = _clock(sec - elapsed)

        reason = np.array(END_REASONS, dtype=object)[
            np.searchsorted(END_REASON_CDF, rng.random(n), side="right")]
        reason[udp] = "aged-out"
        reason[start] = "n/a"
        reason[blocked] = "policy-deny"

        shown = ~s.system & (rng.random(n) < 0.56)
        user_tok = self.user_tok[np.where(shown, s.user, w.U)]
        nat_tok = self.nat_tok[np.where(blocked, len(w.office_ip), w.site[mi])]
        dst = self.dst_tok[s.host_ip]
        natdst = np.where(blocked, "0.0.0.0", dst).astype(object)
        natdport = np.where(blocked, 0, dport)
        session = self.session + np.cumsum(rng.integers(1, 4, n))
        self.session = int(session[-1])
        seq = self.seq + np.arange(1, n + 1)
        self.seq += n

        lines = [
            f"<14>{hd} {DEVICE} 1,{g},{SERIAL},TRAFFIC,{st},2561,{g},{src},{ds},{ns},{nd},{ru},"
            f"{us},,{ap},vsys1,trust,untrust,ethernet1/2,ethernet1/1,default,{g},{si},1,{sp},"
            f"{dp},{nsp},{ndp},{fl},{pt},{ac},{bs + br},{bs},{br},{ps + pr},{b},{el},{ca},0,"
            f"{sq},0x0,10.0.0.0-10.255.255.255,{co},0,{ps},{pr},{er},0,0,0,0,,{DEVICE},"
            f"from-policy,,,0,,0,,N/A,0,0,0,0\n"
            for hd, g, st, src, ds, ns, nd, ru, us, ap, si, sp, dp, nsp, ndp, fl, pt, ac, bs,
            br, ps, pr, b, el, ca, sq, co, er in zip(
                header.tolist(), gen.tolist(), subtype_tok.tolist(), s.ip.tolist(),
                dst.tolist(), nat_tok.tolist(), natdst.tolist(), rule_tok.tolist(),
                user_tok.tolist(), app.tolist(), session.tolist(), sport.tolist(),
                dport.tolist(), natsport.tolist(), natdport.tolist(), flags_tok.tolist(),
                proto_tok.tolist(), action_tok.tolist(), sent.tolist(), recv.tolist(),
                pk_s.tolist(), pk_r.tolist(), began.tolist(), elapsed.tolist(),
                self.category[host].tolist(), seq.tolist(), self.country[s.host_ip].tolist(),
                reason.tolist())
        ]
        return "".join(lines).encode()
