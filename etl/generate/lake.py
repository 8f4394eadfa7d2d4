"""The endpoint lake run: the hour loop that drives the MDE and OCSF writers over the world and
files every record into the object of its arrival hour.

Arrival: each record lands in the folder of its arrival time = event time + 1-25 minutes;
``late_share`` of network events (MDE and OCSF alike) arrive 26-50 hours late instead, so
they sit in a later day's folders.  Arrival folders after the last generated day are written
too (the tail of the last day and late records).  Existing files at the same paths are
overwritten; nothing else in the lake is touched.

Hour H draws, in this order, from ``rng(2, H)``: DHCP renewals, the hour's event times, the
MDE network events, the OCSF events, DeviceInfo, DeviceNetworkInfo, logons, process events.
Changing that order changes every byte after it.
"""
from __future__ import annotations

import gzip
from datetime import date, datetime, timedelta

import numpy as np

from etl.generate.fleet import HOUR, MINUTE, Timeline
from etl.generate.mde import MDE_TABLES, MdeWriter
from etl.generate.ocsf import OcsfWriter
from etl.storage import Lake, mde_hour_dir, ocsf_day_dir


class LakeGen:
    def __init__(self, lake: Lake, start: date, days: int, events_per_day: int,
                 timeline: Timeline, compress: bool, late_share: float):
        self.lake, self.start, self.days = lake, start, days
        self.epd, self.tl, self.w = events_per_day, timeline, timeline.w
        self.compress, self.late_share = compress, late_share
        self.t0 = timeline.t0
        self.start_dt = datetime(start.year, start.month, start.day)
        self.buf: dict[tuple, list[tuple[np.ndarray, list[str]]]] = {}
        self.counts = {t: 0 for t in MDE_TABLES}
        self.counts["ocsf"] = 0
        self.late = 0
        self.flushed = -(1 << 62)  # arrival hours <= this are written and closed
        self.files = 0
        self.bytes = 0
        self.forced: dict[int, list[int]] = {}
        self.day_counts: np.ndarray | None = None
        self.mde = MdeWriter(self)
        self.ocsf = OcsfWriter(self)

    def run(self) -> None:
        for H in range(self.days * 24):
            self.hour(H)
        self.flush(None)

    # -- per-day plan ------------------------------------------------------------
    def plan_day(self, d: int) -> None:
        """Network events per (machine, UTC hour) of day d: ``events_per_day`` in all."""
        w = self.w
        rng = self.tl.rng(1, d)
        wt = self.tl.day_weights(d, rng)
        reserved = np.zeros((w.M, 24), dtype=np.int64)
        self.forced = {}
        if d == 0:
            reserved, self.forced = self.tl.reserve_coverage(rng, self.epd)
        budget = max(self.epd - int(reserved.sum()), 0)
        p = (wt / wt.sum()).ravel()
        counts = rng.multinomial(budget, p).reshape(w.M, 24) if budget else \
            np.zeros((w.M, 24), dtype=np.int64)
        self.day_counts = counts + reserved

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

    # -- one hour ----------------------------------------------------------------
    def hour(self, H: int) -> None:
        w = self.w
        d, h = divmod(H, 24)
        if h == 0:
            self.plan_day(d)
        rng = self.tl.rng(2, H)
        hour_start = self.t0 + H * HOUR
        old_tok, new_tok, change, changed = self.tl.dhcp(H, rng, hour_start)
        counts = self.day_counts[:, h]
        n = int(counts.sum())
        mi = np.repeat(np.arange(w.M), counts)
        ts = hour_start + rng.integers(0, HOUR, n)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        forced = np.zeros(n, dtype=bool)
        for m in self.forced.get(h, ()) if d == 0 else ():
            forced[starts[m]] = True
        au = self.tl.active_user(H)
        ip_tok = np.array(old_tok + new_tok + ['"0.0.0.0"', '"-"'], dtype=object)
        local_ip = np.where(ts >= change[mi], w.M + mi, mi)

        is_ocsf = w.ocsf[mi]
        sel = np.flatnonzero(~is_ocsf)
        self.mde.network_events(rng, mi[sel], ts[sel], au[mi[sel]], forced[sel], local_ip[sel],
                                ip_tok)
        sel = np.flatnonzero(is_ocsf)
        self.ocsf.events(rng, mi[sel], ts[sel], au[mi[sel]], forced[sel], local_ip[sel], ip_tok)

        first_ts = np.full(w.M, -1, dtype=np.int64)
        nz = np.flatnonzero(counts)
        if n:
            first_ts[nz] = np.minimum.reduceat(ts, starts[nz])
        self.mde.device_info(rng, H, hour_start, counts, au)
        self.mde.network_info(rng, H, hour_start, change, changed, old_tok, new_tok)
        self.mde.logons(rng, H, counts, au, first_ts)
        self.mde.processes(rng, mi, ts, au, is_ocsf)
        # records made in hour H arrive no earlier than hour H-1 (logons and process events
        # may precede the network event that reveals them), so hour H-1 is now complete
        self.flush(H - 1)

