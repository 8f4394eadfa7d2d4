"""The Squid writer: a web proxy's native access.log for the world's traffic.

    1763283600.049   5006 10.32.7.19 TCP_TUNNEL/200 19763 CONNECT x.com:443 jsmith HIER_DIRECT/52.1.2.3 -

Fields (``logformat squid``: ``%ts.%03tu %6tr %>a %Ss/%03>Hs %<st %rm %ru %[un %Sh/%<a %mt``):
time with milliseconds, elapsed ms right-aligned in 6, client IP, result code / HTTP status,
bytes to the client, method, URL (``host:443`` for CONNECT), user (``-`` when the request was
not authenticated: system processes and about half of the rest), hierarchy / peer, content
type.  About 85% of requests are HTTPS tunnels; blocked destinations get ``TCP_DENIED/403``.
Logged time = the line's time; the client IP is the one the machine held then.
"""
from __future__ import annotations

import numpy as np

from etl.generate.fleet import BLOCKED_HOSTS, TICKS, Sessions, Timeline, cdf_pick

RESOLUTION = TICKS // 1000  # milliseconds
PURPOSE = 13

# plain-HTTP results: (code/status, served from cache, content-type choice)
HTTP_RESULTS = ("TCP_MISS/200", "TCP_MEM_HIT/200", "TCP_HIT/200", "TCP_MISS/304",
                "TCP_REFRESH_UNMODIFIED/304", "TCP_MISS/302", "TCP_MISS/404")
HTTP_RESULT_CDF = np.cumsum((0.58, 0.10, 0.06, 0.10, 0.06, 0.05))
HTTP_CACHED = np.array([False, True, True, False, True, False, False])
HTTP_METHODS = ("GET", "POST", "HEAD", "PUT")
HTTP_METHOD_CDF = np.cumsum((0.8, 0.14, 0.04))
CONTENT_TYPES = ("text/html", "application/json", "image/png", "application/javascript",
                 "text/css", "application/octet-stream")
CONTENT_CDF = np.cumsum((0.35, 0.25, 0.15, 0.12, 0.08))


class SquidWriter:
    RESOLUTION = RESOLUTION

    def __init__(self, tl: Timeline):
        self.tl = tl
        w, hs = tl.w, tl.h
        self.blocked = np.array([h in BLOCKED_HOSTS for h in hs.names])
        self.connect_tok = np.array([f"CONNECT {h}:443" for h in hs.names], dtype=object)
        # plain-HTTP request tokens per (host, path, method)
        self.http_tok = np.array(
            [f"{m} http://{h}{p}" for h, paths in zip(hs.names, hs.paths) for p in paths
             for m in HTTP_METHODS], dtype=object)
        self.peer_tok = np.array([f"HIER_DIRECT/{ip}" for row in hs.ips for ip in row],
                                 dtype=object)
        # proxy account as seen: sAMAccountName (NTLM) or UPN (Kerberos); "-" unauthenticated
        self.user_tok = np.array(list(w.sam) + list(w.upn) + ["-"], dtype=object)
        self.result_tok = np.array(("TCP_TUNNEL/200", "TCP_MISS/200", "TCP_DENIED/403")
                                   + HTTP_RESULTS, dtype=object)
        self.ctype_tok = np.array(("-",) + CONTENT_TYPES, dtype=object)

    def render(self, s: Sessions) -> bytes:
        tl, hs, w = self.tl, self.tl.h, self.tl.w
        n = len(s)
        rng = tl.rng(PURPOSE, s.index)
        host = s.host
        tunnel = rng.random(n) < 0.85
        denied = np.where(self.blocked[host], rng.random(n) < 0.8, rng.random(n) < 0.005)

        # result code: tunnels are TCP_TUNNEL (older Squids log CONNECT as TCP_MISS)
        http_res = cdf_pick(HTTP_RESULT_CDF, rng.random(n))
        res = np.where(tunnel, np.where(rng.random(n) < 0.1, 1, 0), 3 + http_res)
        res = np.where(denied, 2, res)
        cached = ~tunnel & HTTP_CACHED[http_res] & ~denied

        # bytes to the client: heavy tailed, storage and media bigger; small for 304/denied
        size = rng.lognormal(8.5, 1.8, n)
        size = np.where(hs.media[host] | hs.storage[host],
                        np.where(rng.random(n) < 0.3, rng.lognormal(13.0, 1.5, n), size), size)
        size = np.where(~tunnel & ((http_res == 3) | (http_res == 4)), rng.integers(200, 420, n),
                        size)
        size = np.where(denied, rng.integers(3600, 4200, n), size)
        size = np.minimum(size, 4e9).astype(np.int64)

        # elapsed ms: tunnels last seconds to minutes, hits are instant; never before the lease
        elapsed = np.where(tunnel, rng.lognormal(8.5, 1.6, n), rng.lognormal(4.5, 1.2, n))
        elapsed = np.where(cached, rng.integers(0, 6, n), elapsed)
        elapsed = np.where(denied, rng.integers(0, 3, n), elapsed)
        elapsed = np.minimum(elapsed, 1_800_000).astype(np.int64)
        elapsed = np.minimum(elapsed, (s.ts - s.since) // RESOLUTION)

        method = cdf_pick(HTTP_METHOD_CDF, rng.random(n))
        path = rng.integers(0, 3, n)
        req = np.where(tunnel, self.connect_tok[host],
                       self.http_tok[(host * 3 + path) * len(HTTP_METHODS) + method])

        shown = ~s.system & (rng.random(n) < 0.56)
        upn = rng.random(n) < 0.25
        user = np.where(shown, s.user + np.where(upn, w.U, 0), 2 * w.U)

        peer = self.peer_tok[s.host_ip].copy()
        peer[cached | denied] = "HIER_NONE/-"
        ctype = np.where(tunnel, 0, 1 + cdf_pick(CONTENT_CDF, rng.random(n)))
        ctype = np.where(denied, 1, ctype)

        ms = s.ts // RESOLUTION
        lines = [
            f"{t // 1000}.{t % 1000:03d} {e:6d} {ip} {rc} {b} {rq} {u} {pr} {ct}\n"
            for t, e, ip, rc, b, rq, u, pr, ct in zip(
                ms.tolist(), elapsed.tolist(), s.ip.tolist(), self.result_tok[res].tolist(),
                size.tolist(), req.tolist(), self.user_tok[user].tolist(), peer.tolist(),
                self.ctype_tok[ctype].tolist())
        ]
        return "".join(lines).encode()
