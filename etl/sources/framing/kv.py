"""key=value framing shared by appliance formats (FortiGate, Sophos XG, CEF extensions), vectorised.

`kv_values(lines, keys)` pulls the given keys out of every line without a Python loop over
lines: one regex pass puts a separator before every key that is not inside a quoted value, the
lines are split on it into `key=value` tokens, and each wanted key's first token per line is
taken back into a column. A value is

- quoted: `key="a b \\" c"`: the quotes are removed and `\\"` unescaped (other backslashes are
  kept as written: `user="CORP\\jdoe"`);
- unquoted: `key=value`, running to the next whitespace (`unquoted="token"`, FortiGate) or to
  the next ` word=` (`unquoted="to_next_key"`, Sophos, whose unquoted values may hold spaces:
  `domain=www. google.ca`, `ether_type=Unknown (0x0000)`);
- empty: `exceptions= next=...` gives "" (blank_to_null later makes it null).

A key only counts outside quoted values: `msg="... ip=127.0.0.1 ..."` does not give `ip`. The
first occurrence of a key wins. A key absent from a line is null.

`split_cef(lines)` splits ArcSight CEF (`CEF:Version|Vendor|Product|DevVersion|SignatureID|Name|
Severity|Extension`, anything before `CEF:` being a syslog prefix), and `cef_values(extension,
keys)` reads extension values, each running to the next unescaped ` key=` (values hold spaces),
with `\\=`, `\\\\`, `\\n`, `\\r` unescaped and trailing whitespace dropped.

`utc_offsets` / `local_to_utc` turn an appliance's local date and time plus the zone it writes
(`-0500`, `+01:00`, `UTC-5:00`, `GMT`, `CET`, `Europe/Berlin`) into UTC instants.
"""
from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from etl import schema
from etl.normalize import UTC_US, blank_to_null
from etl.sources.framing.text import TextReader, rejected_lines, split_syslog, with_lines

_NULL = pa.scalar(None, pa.string())
_SEP = "\x1f"  # unit separator: put before every key, then split on it
_KEY_CHARS = r"[A-Za-z0-9_.\[\]-]"
# a whole quoted value (kept as is, a separator after it) or the whitespace before a key (-> separator)
_MARK_KV = r'("(?:[^"\\]|\\.)*")|\s+(' + _KEY_CHARS + r'+=)'
_MARK_CEF = r"\s+(" + _KEY_CHARS + r"+=)"
_PAIR = r"^\s*(?P<k>" + _KEY_CHARS + r"+)=(?P<v>.*)$"
UNQUOTED = ("token", "to_next_key")


def kv_values(lines, keys, unquoted: str = "token") -> dict[str, pa.Array]:
    """{key: value per line} (quotes removed, null where the key is absent).

    `unquoted`: "token" (a bare value ends at whitespace) or "to_next_key" (it runs to the next
    ` word=`, trailing whitespace dropped)."""
    if unquoted not in UNQUOTED:
        raise ValueError(f"unquoted must be one of {UNQUOTED}")
    lines = _plain(lines)
    marked = pc.replace_substring_regex(lines, _MARK_KV, "\\1" + _SEP + "\\2")
    out = {}
    for key, values in _pairs(marked, keys, len(lines)).items():
        quoted = pc.and_(pc.and_(pc.starts_with(values, '"'), pc.ends_with(values, '"')),
                         pc.greater_equal(pc.utf8_length(values), 2))
        inner = pc.replace_substring(pc.utf8_slice_codeunits(values, 1, -1), '\\"', '"')
        if unquoted == "token":
            bare = pc.replace_substring_regex(values, r"\s.*$", "")
        else:
            bare = pc.utf8_rtrim_whitespace(values)
        out[key] = pc.if_else(quoted, inner, bare)
    return out


def has_pairs(lines) -> pa.Array:
    """True where a line holds at least one `key=`."""
    return pc.match_substring_regex(_plain(lines), r"(?:^|\s)" + _KEY_CHARS + r"+=")


def _plain(values) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks() if values.num_chunks else pa.array([], pa.string())
    return values


def _pairs(marked: pa.Array, keys, n: int) -> dict[str, pa.Array]:
    """Split marked lines into `key=value` tokens; for each wanted key the value of its first
    token per line (null where none), in line order."""
    keys = list(dict.fromkeys(keys))
    for key in keys:
        if not re.fullmatch(_KEY_CHARS + "+", key):
            raise ValueError(f"not a key: {key!r}")
    tokens = pc.split_pattern(marked, _SEP)
    flat = pc.list_flatten(tokens)
    parents = pc.list_parent_indices(tokens).to_numpy(zero_copy_only=False)
    wanted = pc.match_substring_regex(flat, r"^\s*(?:" + "|".join(re.escape(k) for k in keys) + ")=")
    wanted = wanted.to_numpy(zero_copy_only=False)
    found = pc.extract_regex(flat.filter(pa.array(wanted)), _PAIR)
    names, values, parents = pc.struct_field(found, "k"), pc.struct_field(found, "v"), parents[wanted]
    out = {}
    for key in keys:
        picked = np.flatnonzero(pc.fill_null(pc.equal(names, key), False).to_numpy(zero_copy_only=False))
        lines, first = np.unique(parents[picked], return_index=True)  # first occurrence wins
        position = np.full(n, -1, dtype=np.int64)
        position[lines] = picked[first]
        out[key] = pc.take(values, pa.array(position, mask=position < 0))
    return out


# ---------------------------------------------------------------------------
# CEF
# ---------------------------------------------------------------------------

CEF_HEADER = ("cef_version", "device_vendor", "device_product", "device_version", "signature_id",
              "name", "severity")
_CEF = (r"^(?P<prefix>.*?)CEF:(?P<cef_version>\d+)\|" + r"\|".join(
    f"(?P<{name}>(?:[^|\\\\]|\\\\.)*)" for name in CEF_HEADER[1:]) + r"\|(?P<extension>.*)$")


def split_cef(lines: pa.Array) -> pa.Table:
    """prefix, the seven header fields (`\\|` and `\\\\` unescaped), extension: null where the
    line holds no complete CEF header."""
    found = pc.extract_regex(lines, _CEF)
    columns = {"prefix": pc.struct_field(found, "prefix")}
    for name in CEF_HEADER:
        value = pc.struct_field(found, name)
        if name != "cef_version":
            value = _unescape(value, {"|": "|"})
        columns[name] = value
    columns["extension"] = pc.struct_field(found, "extension")
    valid = pc.is_valid(found)
    return pa.table({k: pc.if_else(valid, v, _NULL) for k, v in columns.items()})


def cef_values(extension, keys) -> dict[str, pa.Array]:
    """{key: value per line} of CEF extensions (null where absent): a value runs to the next
    unescaped ` key=`; `\\=`, `\\\\`, `\\n`, `\\r` unescaped, trailing whitespace dropped."""
    extension = _plain(extension)
    marked = pc.replace_substring_regex(extension, _MARK_CEF, _SEP + "\\1")
    return {key: _unescape(pc.utf8_rtrim_whitespace(values), {"=": "=", "n": "\n", "r": "\r"})
            for key, values in _pairs(marked, keys, len(extension)).items()}


def _unescape(values, escapes: dict[str, str]):
    """`\\\\` -> `\\` and `\\<c>` -> escapes[c]."""
    if len(values) == 0 or not pc.any(pc.fill_null(pc.match_substring(values, "\\"), False)).as_py():
        return values
    values = pc.replace_substring(values, "\\\\", "\x00")
    for char, replacement in escapes.items():
        values = pc.replace_substring(values, "\\" + char, replacement)
    return pc.replace_substring(values, "\x00", "\\")


# ---------------------------------------------------------------------------
# Local times with the zone the appliance writes
# ---------------------------------------------------------------------------

# Abbreviations that name one offset only (CST, IST, BST, AST... name several: not mapped).
ZONE_ABBREVIATIONS = {
    "UTC": "+0000", "GMT": "+0000", "UCT": "+0000", "Z": "+0000", "WET": "+0000", "WEST": "+0100",
    "CET": "+0100", "CEST": "+0200", "MET": "+0100", "MEST": "+0200", "EET": "+0200", "EEST": "+0300",
    "MSK": "+0300", "EST": "-0500", "EDT": "-0400", "CDT": "-0500", "MST": "-0700", "MDT": "-0600",
    "PST": "-0800", "PDT": "-0700", "AKST": "-0900", "AKDT": "-0800", "HST": "-1000", "JST": "+0900",
    "KST": "+0900", "HKT": "+0800", "SGT": "+0800", "AEST": "+1000", "AEDT": "+1100", "ACST": "+0930",
    "ACDT": "+1030", "AWST": "+0800", "NZST": "+1200", "NZDT": "+1300",
}
_ABBREVIATIONS = pa.array(list(ZONE_ABBREVIATIONS))
_ABBREVIATION_OFFSETS = pa.array(list(ZONE_ABBREVIATIONS.values()))
_NUMERIC = r"^(?:UTC|GMT)?(?P<sign>[+-])(?P<h>\d{1,2})(?::?(?P<m>\d{2}))?$"
IANA = r"^[A-Za-z]+(?:/[A-Za-z0-9_+-]+)+$"


def utc_offsets(zones) -> pa.Array:
    """Zone text -> `+HHMM`: numeric offsets (`-0500`, `+01:00`, `+01`, `UTC-5:00`) and the
    unambiguous abbreviations above; null for anything else (IANA names included)."""
    zones = pc.utf8_upper(pc.utf8_trim_whitespace(zones))
    numeric = pc.extract_regex(zones, _NUMERIC)
    minutes = pc.struct_field(numeric, "m")
    minutes = pc.if_else(pc.equal(minutes, ""), "00", minutes)
    built = pc.binary_join_element_wise(pc.struct_field(numeric, "sign"),
                                        pc.utf8_lpad(pc.struct_field(numeric, "h"), 2, "0"), minutes, "")
    built = pc.if_else(pc.is_valid(numeric), built, _NULL)
    named = pc.take(_ABBREVIATION_OFFSETS, pc.index_in(zones, value_set=_ABBREVIATIONS))
    return pc.coalesce(built, named)


def local_to_utc(local, zones=None, fmt: str = "%Y-%m-%d %H:%M:%S", default_offset: str = "+0000",
                 unknown_offset: str | None = None):
    """Local times (text in `fmt`) in the zone of each row -> timestamp[us, UTC].

    Rows with no zone (null or empty) take `default_offset`; rows whose zone is neither an
    offset, a known abbreviation nor an IANA name (`Europe/Berlin`) take `unknown_offset`
    (None: their time is null)."""
    n = len(local)
    if zones is None:
        zones = pa.nulls(n, pa.string())
    zones = pc.utf8_trim_whitespace(zones)
    absent = pc.or_kleene(pc.is_null(zones), pc.equal(zones, ""))
    known = utc_offsets(zones)
    iana = pc.fill_null(pc.and_(pc.is_null(known), pc.match_substring_regex(zones, IANA)), False)
    names = [name for name in pc.unique(zones.filter(iana)).to_pylist() if _is_zone(name)]
    iana = pc.fill_null(pc.is_in(zones, value_set=pa.array(names, pa.string())), False)
    if unknown_offset is not None:
        known = pc.if_else(pc.or_(pc.is_valid(known), iana), known, pa.scalar(unknown_offset, pa.string()))
    offsets = pc.if_else(absent, pa.scalar(default_offset, pa.string()), known)
    zoned = pc.binary_join_element_wise(local, offsets, "")
    out = pc.strptime(zoned, format=fmt + "%z", unit="us", error_is_null=True)
    out = pc.cast(out, UTC_US)
    if names:
        naive = pc.strptime(local, format=fmt, unit="us", error_is_null=True)
        for name in names:  # a handful of zones, not rows
            here = pc.cast(pc.assume_timezone(naive, timezone=name, ambiguous="earliest",
                                              nonexistent="earliest"), UTC_US)
            out = pc.if_else(pc.fill_null(pc.equal(zones, name), False), here, out)
    return out


def _is_zone(name: str) -> bool:
    try:
        pc.assume_timezone(pa.array([0], pa.timestamp("s")), timezone=name)
        return True
    except (pa.ArrowInvalid, ValueError):
        return False


def epoch_to_utc(values) -> pa.Array:
    """Epoch text in seconds, milliseconds, microseconds or nanoseconds (told apart by the number
    of digits: <=11 s, 12-14 ms, 15-17 us, 18-19 ns) -> timestamp[us, UTC]; null otherwise."""
    values = pc.utf8_trim_whitespace(values)
    whole = pc.fill_null(pc.match_substring_regex(values, r"^\d{1,19}$"), False)
    numbers = pc.cast(pc.if_else(whole, values, _NULL), pa.int64())
    digits = pc.utf8_length(values)
    micros = pc.case_when(
        pc.make_struct(pc.less_equal(digits, 11), pc.less_equal(digits, 14), pc.less_equal(digits, 17)),
        pc.multiply(numbers, 1_000_000), pc.multiply(numbers, 1_000), numbers, pc.divide(numbers, 1_000))
    return pc.cast(micros, UTC_US)


# ---------------------------------------------------------------------------
# Readers
# ---------------------------------------------------------------------------

class KvReader(TextReader):
    """Lines of `key=value` pairs (a syslog header, if any, taken off first) -> one string column
    per declared column (`key:` in the declaration names the log's key when it differs). Lines
    without a single `key=`, and lines cut inside a quoted value (an odd number of quotes), are
    rejected."""

    stateless = True

    def __init__(self, decl: dict, unquoted: str = "token"):
        self.decl, self.unquoted = decl, unquoted
        self.schema = schema.flat_schema(decl)
        self.keys = {c["name"]: c.get("key", c["name"]) for c in schema.columns(decl)}

    def parse_lines(self, lines, numbers):
        message = split_syslog(lines).column("message")
        message = _plain(message)
        framed = pc.fill_null(has_pairs(message), False)
        rejects = rejected_lines(lines, numbers, pc.invert(framed), "no key=value pairs")
        # an odd number of (unescaped) quotes: the line was cut inside a quoted value
        quotes = pc.count_substring(pc.replace_substring_regex(message, r"\\.", ""), '"')
        cut = pc.and_(framed, pc.equal(pc.bit_wise_and(quotes, 1), 1))
        rejects += rejected_lines(lines, numbers, cut, "unterminated quoted value")
        framed = pc.and_(framed, pc.invert(cut))
        if rejects:
            message, numbers = message.filter(framed), numbers[framed.to_numpy(zero_copy_only=False)]
        values = kv_values(message, list(self.keys.values()), self.unquoted)
        table = pa.table([values[self.keys[f.name]] for f in self.schema], schema=self.schema)
        return with_lines(table, numbers), rejects


class CefReader(TextReader):
    """CEF lines (behind any syslog prefix) -> the declared columns: `syslog_ts` (the header's time
    as written), the seven CEF header fields, and one column per extension key (`key:` names the
    CEF key when the column name differs). Lines without a complete CEF header are rejected."""

    stateless = True

    def __init__(self, decl: dict):
        self.decl = decl
        self.schema = schema.flat_schema(decl)
        self.keys = {c["name"]: c.get("key", c["name"]) for c in schema.columns(decl)
                     if c["name"] not in CEF_HEADER and c["name"] != "syslog_ts"}

    def parse_lines(self, lines, numbers):
        syslog = split_syslog(lines)
        cef = split_cef(_plain(syslog.column("message")))
        framed = pc.is_valid(cef.column("cef_version"))
        rejects = rejected_lines(lines, numbers, pc.invert(framed), "no CEF header")
        if rejects:
            keep = framed.to_numpy(zero_copy_only=False)
            cef, syslog, numbers = cef.filter(framed), syslog.filter(framed), numbers[keep]
        values = cef_values(cef.column("extension"), list(self.keys.values()))
        columns = {"syslog_ts": syslog.column("syslog_ts"), **{n: cef.column(n) for n in CEF_HEADER}}
        columns.update({name: values[key] for name, key in self.keys.items()})
        table = pa.table([columns[f.name] for f in self.schema], schema=self.schema)
        return with_lines(table, numbers), rejects


def time_reason(rows: pa.Table, ts, written_in: tuple[str, ...]) -> pa.Array:
    """Why a row's time is null: "ts: missing" when none of the `written_in` fields holds a value,
    "ts: not a valid time" when one does but nothing parsed; null where `ts` is set."""
    written = None
    for name in written_in:
        has = pc.is_valid(blank_to_null(rows.column(name)))
        written = has if written is None else pc.or_(written, has)
    reason = pc.if_else(written, "ts: not a valid time", "ts: missing")
    return pc.if_else(pc.is_null(ts), reason, pa.scalar(None, pa.string()))
