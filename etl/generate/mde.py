"""The Defender for Endpoint writer: Streaming API records of the five MDE tables.

One ``MdeWriter`` serves one ``LakeGen`` run: for every hour it turns the hour's network events
of the MDE machines into DeviceNetworkEvents and adds the device tables (DeviceInfo snapshots,
DeviceNetworkInfo on heartbeats and DHCP changes, DeviceLogonEvents, DeviceProcessEvents).
Records are ``{"time","tenantId","operationName","category","properties"}`` lines with 7-digit
fractional timestamps; ``ReportId`` counts per table.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta

import numpy as np

from etl.generate.fleet import (
    HOUR, INBOUND_PORTS, MINUTE, OS_NAMES, SITES, SYS_PROC_CDF, TICKS, cdf_pick, q, qq,
)

MDE_TABLES = {
    "devicenetworkevents": "AdvancedHunting-DeviceNetworkEvents",
    "deviceinfo": "AdvancedHunting-DeviceInfo",
    "devicelogonevents": "AdvancedHunting-DeviceLogonEvents",
    "devicenetworkinfo": "AdvancedHunting-DeviceNetworkInfo",
    "deviceprocessevents": "AdvancedHunting-DeviceProcessEvents",
}

LISTEN_PORTS = (135, 445, 5040, 7680, 3389, 5357, 49664, 49665)

# MDE DeviceNetworkEvents ActionType mix
ACTIONS = ("ConnectionSuccess", "ConnectionRequest", "ConnectionFailed",
           "HttpConnectionInspected", "SslConnectionInspected", "DnsConnectionInspected",
           "InboundConnectionAccepted", "ListeningConnectionCreated",
           "NetworkSignatureInspected", "ConnectionFound")
ACTION_P = (0.70, 0.05, 0.03, 0.03, 0.03, 0.05, 0.04, 0.02, 0.02, 0.03)
(A_SUCCESS, A_REQUEST, A_FAILED, A_HTTP, A_SSL, A_DNS, A_INBOUND, A_LISTEN, A_SIG,
 A_FOUND) = range(10)


def iso7(ticks: np.ndarray) -> np.ndarray:
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



class MdeWriter:
    def __init__(self, gen):
        self.g, self.tl = gen, gen.tl
        self.w, self.h, self.p = gen.tl.w, gen.tl.h, gen.tl.p
        self.t0 = gen.tl.t0
        M = self.w.M
        self.report_id = {t: 0 for t in MDE_TABLES}
        # logon state
        self.last_day = np.full(M, -10**6, dtype=np.int64)
        self.last_user = np.full(M, -1, dtype=np.int64)
        self.prev_count = np.zeros(M, dtype=np.int64)
        self.mde_idx = np.flatnonzero(~self.w.ocsf)

    def next_ids(self, table: str, n: int) -> np.ndarray:
        first = self.report_id[table]
        self.report_id[table] = first + n
        return np.arange(first + 1, first + n + 1)


    # -- DeviceNetworkEvents -------------------------------------------------------
    def network_events(self, rng, mi, ts, user, forced, local_ip, ip_tok) -> None:
        n = len(mi)
        if n == 0:
            return
        w, hs, pr = self.w, self.h, self.p
        fam = w.fam[mi]
        act = cdf_pick(np.cumsum(ACTION_P)[:-1], rng.random(n))
        act[forced] = A_SUCCESS
        sys_forced = (act == A_DNS) | (act == A_INBOUND) | (act == A_LISTEN)
        kind = cdf_pick((0.843, 0.955), rng.random(n))
        kind[sys_forced] = 2
        kind[forced] = 0
        system = (kind == 2) & ~sys_forced
        host = self.tl.pick_hosts(rng, n, mi, user, fam, system)

        # process
        proc = self.tl.user_process(rng, n, host, fam)
        sp = pr.sys[fam, cdf_pick(SYS_PROC_CDF, rng.random(n))]
        proc = np.where(system, sp, proc)
        proc = np.where(act == A_DNS, pr.dns[fam], proc)
        svc = pr.svc[fam, rng.integers(0, 3, n)]
        proc = np.where((act == A_INBOUND) | (act == A_LISTEN), svc, proc)

        # account
        upper = rng.random(n) < 0.4
        acct = user * 3 + np.where(kind == 1, 1 + upper, 0)
        sys_acct = w.sys_acct + cdf_pick((0.6, 0.85), rng.random(n))
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
        tok = hs.ip_tok + [q(x) for x in w.dns_server] + \
            [q(x) for s in w.peers for x in s] + ['"-"', "null"]
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

        arr = self.g.arrival(rng, ts, True)
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
                iso7(arr).tolist(), iso7(ts).tolist(), w.dev_tok[mi].tolist(),
                act_tok[act].tolist(), tok[rip].tolist(), rport_o.tolist(),
                hs.url_tok[url].tolist(), ip_tok[lip].tolist(), lport.tolist(),
                proto.tolist(), ipt_tok[ipt].tolist(), pr.tok[proc].tolist(),
                w.acct_tok[acct].tolist(), hs.addl_tok[addl].tolist(), rid.tolist())
        ]
        self.g.add("mde", "devicenetworkevents", arr, lines)

    # -- device tables ---------------------------------------------------------------
    def mde_lines(self, table: str, ts: np.ndarray, rng, props: list[str]) -> None:
        if not len(ts):
            return
        arr = self.g.arrival(rng, ts, False)
        head = (f'","tenantId":"{self.w.tenant}","operationName":"Publish",'
                f'"category":"{MDE_TABLES[table]}","properties":{{"Timestamp":"')
        rid = self.next_ids(table, len(ts))
        lines = [f'{{"time":"{a}{head}{t}",{p},"ReportId":{r}}}}}' for a, t, p, r in zip(
            iso7(arr).tolist(), iso7(ts).tolist(), props, rid.tolist())]
        self.g.add("mde", table, arr, lines)

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
            props.append(f'{w.dev_tok[m]},"IPAddresses":{qq(addrs)},'
                         f'"NetworkAdapterStatus":"Up","NetworkAdapterType":"{adapter}",'
                         f'"MacAddress":"{w.mac[m]}"')
        self.mde_lines("devicenetworkinfo", ts, rng, props)

    def logons(self, rng, H, counts, au, first_ts) -> None:
        w = self.w
        lh, ld = self.tl.local(H)
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
        tok = [[f'"ActionType":"ProcessCreated","FileName":{q(a)},"FolderPath":{q(b)},'
                f'"ProcessCommandLine":{q(c)}', q(d)] for a, b, c, d in win + nix]
        props = []
        for m, k in zip(m_.tolist(), kinds.tolist()):
            body, parent = tok[k + (0 if w.fam[m] == 0 else 4)]
            u = int(au[m])
            props.append(f'{w.dev_tok[m]},{body},"AccountDomain":"contoso",'
                         f'"AccountName":"{w.sam[u]}","InitiatingProcessFileName":{parent}')
        self.mde_lines("deviceprocessevents", t_, rng, props)
