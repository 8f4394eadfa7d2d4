"""Cisco ASA / FTD syslog (`%ASA-6-302014: Teardown TCP connection ...`), see docs/formats/cisco_asa.md.

The reader takes the header off each line (time with or without year, zone abbreviation,
host name or IP), then reads each message family it knows with one regex (vectorised over the
lines of that family). classify() makes transactions of teardowns (302014/302016: allowed, the
total byte count in bytes_down), denies (106001/106006/106007/106015/106023/106100 denied/
710003, Dynamic Filter drops: blocked) and URL records (304001 allowed, 304002 blocked); built
messages are skipped as "connection built", every other message as "asa:<msgid>".
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

import schemas
from etl import schema
from etl.normalize import UTC_US, blank_to_null, clean_host, constant, keep, parse_time, to_int64
from etl.sources.base import Classified, Source, share_of_lines
from etl.sources.framing.text import TextReader, rejected_lines, with_lines

NAME = "cisco_asa"
DECL = schemas.load(NAME)
COLUMNS = [c["name"] for c in DECL["columns"]]
OUTSIDE = DECL["outside_interfaces"]
ZONES = DECL["zones"]
_ZONE_NAMES = pa.array(list(ZONES))
_ZONE_MINUTES = pa.array(list(ZONES.values()), pa.int64())
_STRING_NULL = pa.scalar(None, pa.string())

_MONTH_TIME = r"[A-Z][a-z]{2} +\d{1,2}(?: +\d{4})? +\d{1,2}:\d{2}:\d{2}(?:\.\d+)?"
_ISO_TIME = r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?"
# a relay may put its own RFC 3164 header before the ASA's (taken off only when the rest needs it)
_RELAY = r"(?:[A-Z][a-z]{2} +\d{1,2} \d{2}:\d{2}:\d{2} [^\s%]+ )??"
HEADER = (r"^(?:<\d{1,3}>)?\s*" + _RELAY + r"(?:(?P<ts_text>" + _MONTH_TIME + "|" + _ISO_TIME + r")"
          r"(?: +(?P<tz>[A-Z]{2,5}))?(?: +(?P<host><[^>\s]*>|[^\s:%]+))?\s*:?\s+)?"
          r"%(?:ASA|FTD)-(?:[A-Za-z_]+-)?\d-(?P<msgid>\d{6})(?::|\s|$)\s*")

_SIDE = r"(?P<{p}_if>[^:\s]+):(?P<{p}_addr>[^/\s(]+)/(?P<{p}_port>\d+)"
_USER = r"(?:\((?P<{p}_user>[^)]*)\))?"
# one regex per family; named groups are the reader's columns (`proto_a`/`proto_b`/... are
# alternative spellings of proto, `*_word` a user written without parentheses)
FAMILIES = {
    "teardown": (("302014", "302016"),
                 r"^Teardown (?P<proto>\w+) connection \d+ for " + _SIDE.format(p="from")
                 + r"(?:\s*\((?P<from_user>[^)]*)\)| (?P<from_word>[^\s()]+))? to " + _SIDE.format(p="to")
                 + r"(?:\s*\((?P<to_user>[^)]*)\)| (?P<to_word>[^\s()]+))? duration \d+:\d{2}:\d{2} "
                 r"bytes (?P<bytes>\d+)(?:.*?)(?:\s*\((?P<conn_user>[^()]*)\))?\s*$"),
    "acl": (("106100",),
            r"^access-list \S+ (?P<verdict>denied|permitted|est-allowed) (?P<proto>\w+) "
            r"(?P<from_if>[^/\s]+)/(?P<from_addr>[^(\s]+)\((?P<from_port>\d+)\)" + _USER.format(p="from")
            + r" -> (?P<to_if>[^/\s]+)/(?P<to_addr>[^(\s]+)\((?P<to_port>\d+)\)" + _USER.format(p="to")),
    "src_dst": (("106023",),
                r"^(?P<verdict>Deny) (?P<proto>\w+) src (?P<from_if>[^:\s]+):(?P<from_addr>[^/\s(]+)"
                r"(?:/(?P<from_port>\d+))?" + _USER.format(p="from")
                + r" dst (?P<to_if>[^:\s]+):(?P<to_addr>[^/\s(]+)(?:/(?P<to_port>\d+))?" + _USER.format(p="to")),
    "from_to": (("106001", "106006", "106007", "106015", "710003"),
                r"^(?:Inbound (?P<proto_a>\w+) connection denied|Deny (?:inbound )?(?P<proto_b>\w+)"
                r"(?: \(no connection\))?|(?P<proto_c>\w+) access denied by ACL) from "
                r"(?P<from_addr>[^/\s(]+)/(?P<from_port>\d+)" + _USER.format(p="from")
                + r" to (?:(?P<to_if>[\w.-]*[g-zG-Z_-][\w.-]*):)?(?P<to_addr>[^/\s(]+)/(?P<to_port>\d+)"),
    "url_accessed": (("304001",),
                     r"^(?:(?P<conn_user>[^@\s]+)@)?(?P<from_addr>[^\s(@]+)(?:\s*\((?P<from_user>[^)]*)\))? "
                     r"Accessed (?:JAVA )?URL (?P<to_addr>[0-9A-Fa-f.:]*[0-9A-Fa-f]):(?P<url>\S.*)$"),
    "url_denied": (("304002",),
                   r"^Access denied URL (?P<url>\S+) SRC (?:(?P<conn_user>[^@\s]+)@)?(?P<from_addr>[^\s(@]+)"
                   r"(?:\s*\((?P<from_user>[^)]*)\))? DEST (?P<to_addr>[^\s(]+)"),
    "dynamic_filter": (tuple(f"33800{i}" for i in range(1, 9)),
                       r"^Dynamic Filter (?P<verdict>\w+) (?:\w+ ?listed )?(?P<proto>\w+) traffic from "
                       + _SIDE.format(p="from") + _USER.format(p="from") + r" \([^)]*\) to "
                       + _SIDE.format(p="to") + r",? ?(?:\([^)]*\))?, (?P<listed>source|destination) \S+ "
                       r"resolved from \w+ list: (?P<dest_name>[^,\s]+)"),
}
TEARDOWN = FAMILIES["teardown"][0]
BUILT = ("302013", "302015")
BLOCKING = ("106001", "106006", "106007", "106015", "106023", "710003", "304002")

_SIGNATURE = re.compile(rb"%(?:ASA|FTD)-(?:[A-Za-z_]+-)?\d-\d{6}\b")


def _looks_like_record(line: bytes) -> bool:
    return bool(_SIGNATURE.search(line))


def _family_columns(found: pa.Array) -> dict[str, pa.Array]:
    """Named groups of a family regex -> reader columns (a group that did not take part is null)."""
    fields = {found.type.field(i).name for i in range(found.type.num_fields)}
    got = {name: blank_to_null(pc.struct_field(found, name)) for name in fields}
    proto = [got.pop(k) for k in ("proto_a", "proto_b", "proto_c") if k in got]
    if proto:
        got["proto"] = pc.coalesce(*proto)
    for side in ("from", "to"):
        word = got.pop(f"{side}_word", None)
        if word is not None:
            got[f"{side}_user"] = pc.coalesce(got[f"{side}_user"], word)
    if "listed" in got:  # the listed name is the destination's only on "destination ... resolved"
        listed = got.pop("listed")
        got["dest_name"] = pc.if_else(pc.fill_null(pc.equal(listed, "destination"), False), got["dest_name"],
                                      _STRING_NULL)
    return got


class CiscoAsaReader(TextReader):
    def parse_lines(self, lines, numbers):
        found = pc.extract_regex(lines, HEADER)
        framed = pc.is_valid(found)
        tagged = pc.fill_null(pc.match_substring_regex(lines, _SIGNATURE.pattern.decode()), False)
        rejects = (rejected_lines(lines, numbers, pc.and_(pc.invert(framed), tagged), "asa: header not understood")
                   + rejected_lines(lines, numbers, pc.and_(pc.invert(framed), pc.invert(tagged)),
                                    "not a Cisco ASA message"))
        keep_rows = np.asarray(framed.to_numpy(zero_copy_only=False), dtype=bool)
        found, numbers = found.filter(framed), numbers[keep_rows]
        lines = lines.filter(framed)
        header = {name: blank_to_null(pc.struct_field(found, name)) for name in ("ts_text", "tz", "host", "msgid")}
        # the text after the header: stripped off (cheaper than capturing it in HEADER)
        msgid, message = header["msgid"], pc.replace_substring_regex(lines, HEADER, "", max_replacements=1)
        n = len(msgid)
        parts, positions, used = [], [], np.zeros(n, dtype=bool)
        for ids, pattern in FAMILIES.values():
            mine = np.asarray(pc.fill_null(pc.is_in(msgid, value_set=pa.array(ids)), False)
                              .to_numpy(zero_copy_only=False), dtype=bool)
            if not mine.any():
                continue
            used |= mine
            where = np.flatnonzero(mine)
            got = pc.extract_regex(message.filter(pa.array(mine)), pattern)
            ok = np.asarray(pc.is_valid(got).to_numpy(zero_copy_only=False), dtype=bool)
            for i in where[~ok]:
                rejects.append((int(numbers[i]), f"asa:{msgid[i].as_py()}: message not understood", lines[i].as_py()))
            columns = _family_columns(got.filter(pa.array(ok)))
            taken = pa.array(where[ok])
            parts.append(self._rows({k: pc.take(v, taken) for k, v in header.items()}, columns))
            positions.append(where[ok])
        rest = ~used
        parts.append(self._rows({k: v.filter(pa.array(rest)) for k, v in header.items()}, {}))
        positions.append(np.flatnonzero(rest))
        order = np.concatenate(positions)
        table = pa.concat_tables(parts)
        back = np.argsort(order, kind="stable")
        return with_lines(table.take(pa.array(back)), numbers[order][back]), rejects

    @staticmethod
    def _rows(header: dict, columns: dict) -> pa.Table:
        n = len(header["msgid"])
        values = {**header, **columns}
        arrays = [values[c] if c in values else pa.nulls(n, pa.string()) for c in COLUMNS]
        return pa.table(arrays, schema=schema.flat_schema(DECL))


# ---------------------------------------------------------------------------
# time
# ---------------------------------------------------------------------------

def _now() -> datetime:
    """The clock year-less times are read against (a function, so tests can set it)."""
    return datetime.now(timezone.utc)


def header_time(ts_text, tz) -> tuple[pa.ChunkedArray, pa.ChunkedArray]:
    """(UTC time, reason where the header time cannot be read).

    `Mmm dd yyyy hh:mm:ss`, `Mmm dd hh:mm:ss` (the current year; the year before when that would
    put it more than a day ahead of now) and ISO 8601. A zone abbreviation from `zones` shifts
    the time; without one the time is UTC. Impossible dates (Feb 30) are rejected."""
    text = pc.utf8_trim_whitespace(pc.replace_substring_regex(ts_text, r"\s+", " "))
    iso = pc.fill_null(pc.match_substring_regex(text, r"^\d{4}-"), False)
    month = pc.extract_regex(pc.if_else(iso, _STRING_NULL, text), r"^(?P<mon>[A-Z][a-z]{2}) (?P<day>\d{1,2})"
                             r"(?: (?P<year>\d{4}))? (?P<clock>\d{1,2}:\d{2}:\d{2})")
    day = pc.struct_field(month, "day")
    year = blank_to_null(pc.struct_field(month, "year"))
    rest = pc.binary_join_element_wise(pc.struct_field(month, "mon"), day, " ")
    clock = pc.struct_field(month, "clock")
    now = _now()

    def at(years):
        joined = pc.binary_join_element_wise(rest, years, clock, " ")
        parsed = pc.strptime(joined, format="%b %d %Y %H:%M:%S", unit="us", error_is_null=True)
        real = pc.equal(pc.day(parsed), pc.cast(day, pa.int64()))  # strptime rolls Feb 30 over to Mar 2
        return pc.if_else(pc.fill_null(real, False), parsed, pa.scalar(None, parsed.type))

    this_year = at(pc.fill_null(year, str(now.year)))
    last_year = at(pc.fill_null(year, str(now.year - 1)))
    ahead = pc.fill_null(pc.greater(this_year, pa.scalar((now + timedelta(days=1)).replace(tzinfo=None),
                                                          pa.timestamp("us"))), False)
    local = pc.if_else(pc.and_(pc.is_null(year), ahead), last_year, this_year)

    minutes = pc.take(_ZONE_MINUTES, pc.index_in(tz, value_set=_ZONE_NAMES))
    shift = pc.cast(pc.multiply(pc.fill_null(minutes, 0), 60_000_000), pa.duration("us"))
    utc = pc.cast(pc.subtract(local, shift), pa.timestamp("us"))
    utc = pc.cast(pc.assume_timezone(utc, "UTC"), UTC_US)
    ts = pc.if_else(iso, parse_time(pc.if_else(iso, text, _STRING_NULL), "iso8601"), utc)
    unknown_zone = pc.and_(pc.is_valid(tz), pc.is_null(minutes))
    reason = pc.if_else(unknown_zone, pa.scalar("ts: unknown time zone"),
                        pc.if_else(pc.and_(pc.is_valid(ts_text), pc.is_null(ts)), pa.scalar("ts: not a valid time"),
                                   _STRING_NULL))
    return pa.chunked_array([pc.if_else(unknown_zone, pa.scalar(None, UTC_US), ts)]), reason


def _header_time_distinct(ts_text, tz):
    """header_time once per distinct (time, zone) pair: a log repeats each second many times."""
    key = pc.binary_join_element_wise(pc.fill_null(ts_text, "\x01"), pc.fill_null(tz, "\x01"), "\x00")
    if isinstance(key, pa.ChunkedArray):
        key = key.combine_chunks()
    if len(key) < 1024:
        return header_time(ts_text, tz)
    encoded = pc.dictionary_encode(key)
    parts = pc.extract_regex(encoded.dictionary, r"^(?P<t>[^\x00]*)\x00(?P<z>.*)$")
    unset = lambda v: pc.if_else(pc.equal(v, "\x01"), _STRING_NULL, v)  # noqa: E731
    ts, reason = header_time(unset(pc.struct_field(parts, "t")), unset(pc.struct_field(parts, "z")))
    return (pa.chunked_array([pc.take(ts, encoded.indices)]), pc.take(reason, encoded.indices))


def _zone_or_host(rows: pa.Table) -> tuple[pa.Array, pa.Array]:
    """A single word after the time is a zone when it names one, else the host."""
    tz, host = rows.column("tz"), rows.column("host")
    known = pc.fill_null(pc.is_in(tz, value_set=_ZONE_NAMES), False)
    lone = pc.and_(pc.is_valid(tz), pc.is_null(host))
    as_host = pc.and_(lone, pc.invert(known))
    return pc.if_else(as_host, _STRING_NULL, tz), pc.if_else(as_host, tz, host)


# ---------------------------------------------------------------------------
# classify
# ---------------------------------------------------------------------------

def _port(values):
    number = to_int64(values)
    ok = pc.fill_null(pc.and_(pc.greater_equal(number, 0), pc.less_equal(number, 65535)), False)
    bad = pc.and_(pc.is_valid(number), pc.invert(ok))
    return pc.cast(pc.if_else(ok, number, pa.scalar(None, pa.int64())), pa.int32()), bad


def _in(values, ids) -> pa.ChunkedArray:
    return pc.fill_null(pc.is_in(values, value_set=pa.array(ids)), False)


def _client_is_from(rows: pa.Table, teardown) -> pa.ChunkedArray:
    """Which side of a teardown started the connection (the message does not say).

    The side carrying a user, when only one does (a VPN / identity-firewall user's own
    connection); else, when only one side is on an outside interface, the other side (an
    outbound connection: the inside address is the client); else the second ("to") side, as the
    ASA names the lower-security side first. Every other message names its source first."""
    has_from = pc.is_valid(rows.column("from_user"))
    has_to = pc.is_valid(rows.column("to_user"))
    out_from = pc.fill_null(pc.match_substring_regex(rows.column("from_if"), OUTSIDE), False)
    out_to = pc.fill_null(pc.match_substring_regex(rows.column("to_if"), OUTSIDE), False)
    by_user = pc.not_equal(has_from, has_to)
    by_interface = pc.not_equal(out_from, out_to)
    guess = pc.if_else(by_user, has_from, pc.if_else(by_interface, out_to, False))
    return pc.if_else(teardown, guess, True)


def classify(rows: pa.Table) -> Classified:
    n = rows.num_rows
    tz, host = _zone_or_host(rows)
    ts, ts_reason = _header_time_distinct(rows.column("ts_text"), tz)
    msgid = rows.column("msgid")
    verdict = rows.column("verdict")

    teardown = _in(msgid, TEARDOWN)
    accessed = _in(msgid, ("304001",))
    acl_denied = pc.and_(_in(msgid, ("106100",)), pc.fill_null(pc.equal(verdict, "denied"), False))
    filter_dropped = pc.and_(_in(msgid, FAMILIES["dynamic_filter"][0]),
                             pc.fill_null(pc.equal(verdict, "dropped"), False))
    blocked = pc.or_(pc.or_(_in(msgid, BLOCKING), acl_denied), filter_dropped)
    traffic = pc.or_(pc.or_(teardown, accessed), blocked)

    client_from = _client_is_from(rows, teardown)
    src_ip = pc.if_else(client_from, rows.column("from_addr"), rows.column("to_addr"))
    dest_ip = pc.if_else(client_from, rows.column("to_addr"), rows.column("from_addr"))
    dest_port, bad_port = _port(pc.if_else(client_from, rows.column("to_port"), rows.column("from_port")))
    client_user = pc.if_else(client_from, rows.column("from_user"), rows.column("to_user"))

    reasons = pc.coalesce(schema.row_violations(rows, DECL), ts_reason)
    traffic_reason = pc.if_else(pc.is_null(src_ip), pa.scalar("src: missing"),
                                pc.if_else(bad_port, pa.scalar("dest_port: not a port"), _STRING_NULL))
    reasons = pc.coalesce(reasons, pc.if_else(traffic, traffic_reason, _STRING_NULL))
    bad = pc.is_valid(reasons)
    good = pc.invert(bad)
    rejected = pa.table({"input_line": rows.column("input_line"), "reason": reasons, "ts": ts}).filter(bad)

    skip_reason = pc.if_else(_in(msgid, BUILT), pa.scalar("connection built"),
                             pc.binary_join_element_wise("asa:", pc.fill_null(msgid, ""), ""))
    skip = pc.and_(good, pc.invert(traffic))
    skipped = pa.table({"ts": ts, "reason": skip_reason, "input_line": rows.column("input_line")}).filter(skip)

    listed = rows.column("dest_name")
    listed = pc.if_else(pc.fill_null(pc.match_substring_regex(listed, r"[A-Za-z]"), False), listed, _STRING_NULL)
    transactions = pa.table({
        "ts": ts,
        "source": constant(NAME, n),
        "device_id": pa.nulls(n, pa.string()),
        "device_name": pa.nulls(n, pa.string()),
        "account": pc.coalesce(rows.column("conn_user"), client_user),
        "src_ip": src_ip,
        "dest_host": pc.coalesce(clean_host(rows.column("url")), clean_host(listed)),
        "dest_ip": dest_ip,
        "dest_port": dest_port,
        "bytes_up": pa.nulls(n, pa.int64()),   # the ASA logs one total for both directions
        "bytes_down": pc.if_else(teardown, to_int64(rows.column("bytes")), pa.scalar(None, pa.int64())),
        "action": pc.if_else(blocked, "blocked", "allowed"),
        "process": pa.nulls(n, pa.string()),
        "input_line": rows.column("input_line"),
    })
    return Classified.of(rejected=rejected, transactions=keep(transactions, pc.and_(good, traffic)), skipped=skipped)


class CiscoAsaSource(Source):
    name = NAME
    decl = DECL
    description = "Cisco ASA / FTD syslog (%ASA-6-302014 teardowns, denies, URL records)"

    def detect(self, head: bytes) -> float:
        share = share_of_lines(head, _looks_like_record)
        return 0.5 + 0.5 * share if share > 0 else 0.0

    def reader(self) -> CiscoAsaReader:
        return CiscoAsaReader()

    def classify(self, rows: pa.Table) -> Classified:
        return classify(rows)


SOURCE = CiscoAsaSource()
