"""The OCSF writer: Network Activity (4001) and HTTP Activity (4002) NDJSON records.

The machines of the world that report through an OCSF agent (``World.ocsf``) write here instead
of MDE; unlike MDE the records carry ``traffic.bytes_in`` / ``bytes_out``.  Each agent's records
land in ``raw/ocsf/dt=<day>/agent-<n>-<HH>.json`` by arrival hour.
"""
from __future__ import annotations

import numpy as np

from etl.generate.fleet import HOUR, INBOUND_PORTS, SYS_PROC_CDF, cdf_pick

OCSF_OS = (('{"name":"Windows 11","type":"Windows","type_id":100}'),
           ('{"name":"Windows 10","type":"Windows","type_id":100}'),
           ('{"name":"macOS","type":"macOS","type_id":300}'),
           ('{"name":"Linux","type":"Linux","type_id":200}'))

HTTP_METHODS = (("GET", 3), ("POST", 6), ("PUT", 7), ("DELETE", 2), ("HEAD", 4),
                ("OPTIONS", 5))
HTTP_METHOD_CDF = np.cumsum((0.68, 0.22, 0.05, 0.02, 0.02))
OCSF_METADATA = '{"version":"1.1.0","product":{"name":"ExampleEDR","vendor_name":"Example"}}'


class OcsfWriter:
    def __init__(self, gen):
        self.g, self.tl = gen, gen.tl
        self.w, self.h, self.p = gen.tl.w, gen.tl.h, gen.tl.p

    def events(self, rng, mi, ts, user, forced, local_ip, ip_tok) -> None:
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
        host = self.tl.pick_hosts(rng, n, mi, user, fam, system & ~inbound)
        proc = self.tl.user_process(rng, n, host, fam)
        sp = pr.sys[fam, cdf_pick(SYS_PROC_CDF, rng.random(n))]
        proc = np.where(system, sp, proc)
        proc = np.where(inbound, pr.svc[fam, rng.integers(0, 3, n)], proc)
        pid = (mi * 7919 + proc * 104729 + (ts // (6 * HOUR)) * 31) % 60000 + 300

        sys_user = np.where(fam == 0, w.U, np.where((fam == 2) | (rng.random(n) < 0.6),
                                                    w.U + 1, w.U + 2))
        actor = np.where(system, sys_user, user)

        method = cdf_pick(HTTP_METHOD_CDF, rng.random(n))
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
        arr = self.g.arrival(rng, ts, True)
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
        self.g.add("ocsf", w.agent[mi], arr, lines)

