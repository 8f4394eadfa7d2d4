"""Squid access.log, uploaded as files: native, common (CLF) or combined lines, decided per line by
shape, optionally behind a syslog header (`access_log syslog:...`).

    1157689312.049   5006 10.105.21.199 TCP_MISS/200 19763 CONNECT login.yahoo.com:443 badeyek DIRECT/209.73.177.115 -
    10.1.2.3 - alice [10/Oct/2000:13:55:36 -0700] "GET http://example.com/ HTTP/1.0" 200 2326 TCP_MISS:HIER_DIRECT

Every request line is a transaction. `bytes` is what squid sent to the client (bytes_down); these
layouts carry no request size, so bytes_up is null. Blocked: a result code containing DENIED
(TCP_DENIED, TCP_DENIED_REPLY, ...), status 407 (the proxy asked for credentials), or a
NONE code with status 403. Failed: status 000 (no reply at all), or a 5xx squid made itself
without reaching any server (hierarchy NONE / HIER_NONE). Lines with no request (`error:...` URLs,
`"-"` requests: connections closed before a request) are skipped ("no request").
Native times are epoch seconds (UTC); common/combined times carry their offset.

Speed: a piece whose first line is a 10-value native line is read by pyarrow's CSV parser (space
delimited, after the right-aligned `elapsed` padding is filled with zeros in a copy of the bytes);
rows that do not check out as native lines (and blank lines, or bare CRs) go through the regex
reader (`parse_lines`) that handles every layout, so both give the same rows.
"""
from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

import schemas
from etl import schema
from etl.normalize import clean_host, constant, on_distinct
from etl.sources.base import Classified, ParsedLines, Source, head_lines
from etl.sources.framing import w3c
from etl.sources.framing.lines import is_utf8
from etl.sources.framing.text import LINE_COLUMN, TextReader, split_syslog, text_lines

NAME = "squid"
DECL = schemas.load(NAME)
SCHEMA = schema.flat_schema(DECL)
COLUMNS = [f.name for f in SCHEMA]
DIRECT = DECL["direct_hierarchy"]
NOT_SQUID = "not a squid access.log line (native, common or combined)"
_NULL = pa.scalar(None, pa.string())

_F = r"[^ ]+"  # one value of a native line
NATIVE = (rf"^ *(?P<time>\d[^ ]*) +(?P<elapsed>-?\d+) +(?P<client>{_F}) +(?P<code>[A-Za-z_]+)/(?P<status>\d{{1,3}})"
          rf" +(?P<bytes>-?\d+) +(?P<method>{_F}) +(?P<url>{_F}) +(?P<user>{_F}) +(?P<hierarchy>[A-Za-z_]+)/(?P<peer>[^ ]*)"
          rf"(?: +(?P<content_type>{_F}))?(?: .*)?$")
_QUOTED = r'(?:[^"\\]|\\.)*'
CLF = (r'^ *(?P<client>[^ ]+) (?P<ident>[^ ]+) (?P<user>[^ ]+) \[(?P<time>[^\]]+)\] '
       rf'"(?P<method>[^ "]+)(?: (?P<url>[^ "]+))?(?: {_QUOTED})?" (?P<status>\d{{3}}) (?P<bytes>\d+|-)'
       rf'(?P<combined> "{_QUOTED}" "{_QUOTED}")?(?: (?P<code>[A-Z_]+):(?P<hierarchy>[A-Z_]+))? *$')
_SD = r'^(?:-|(?:\[(?:[^\]"]|"(?:[^"\\]|\\.)*")*\])+) ?'
_TAG = r"^[^ :\[\]]+(?:\[\d+\])?: ?(?P<msg>.*)$"  # the `squid[1234]:` a syslog header leaves
# detection: a native line anywhere in the line (after any syslog header), or a CLF line
_NATIVE_SIGN = re.compile(r"(?:^| )\d{9,10}\.\d{3} +-?\d+ [^ ]+ [A-Z_]+/\d{3} \d+ [^ ]+ [^ ]+ [^ ]+ [A-Z_]+/[^ ]+")
_CLF_SIGN = re.compile(r'(?:^| )[^ ]+ [^ ]+ [^ ]+ \[\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}\] '
                       r'"[A-Z]+ (?P<url>[^ "]+)(?: HTTP/[\d.]+)?" \d{3} (?:\d+|-)(?P<rest>.*)$')
_SQUID_CLF = re.compile(r'^(?:[a-z][a-z0-9+.-]*://|[^/ "]+:\d+$)')  # an absolute URL or host:port

# the fast path: exactly the 10 native values
NATIVE_VALUES = ["time", "elapsed", "client", "code_status", "bytes", "method", "url", "user", "hier_peer",
                 "content_type"]
_FIRST_NATIVE = re.compile(rb"^\d+(?:\.\d+)? +\d+ [^ ]+ [A-Za-z_]+/\d{1,3} -?\d+ [^ ]+ [^ ]+ [^ ]+ [A-Za-z_]+/[^ ]* [^ ]+$")
_MAX_TIME_WIDTH = 24  # where the first space may be (the end of `time`)
_MAX_PADDING = 12     # right-aligned `elapsed`: %6tr pads to 6
_USUAL_TIME_WIDTH = 14
# the CSV parser's own threads: off, like the JSON reader's (a day's parts already run in parallel
# processes); the invalid-row callback then also knows each row's line number
CSV_THREADS = False


def _looks_like_squid(line: bytes) -> float:
    text = line.decode("utf-8", "replace").lstrip("\ufeff")
    if _NATIVE_SIGN.search(text):
        return 1.0
    found = _CLF_SIGN.search(text)
    if found:
        squidish = _SQUID_CLF.match(found.group("url")) or re.search(r" [A-Z_]+:[A-Z_]+ *$", found.group("rest"))
        return 0.9 if squidish else 0.3  # a relative path: a web server's own log, claimed weakly
    return 0.0


def detect(head: bytes) -> float:
    scores = [_looks_like_squid(line) for line in head_lines(head)]
    return max(scores, default=0.0)


def _dash_null(values) -> pa.Array:
    """'-' (and the empty text of a value that is not there) -> null."""
    return pc.if_else(pc.is_in(values, value_set=pa.array(["-", ""])), _NULL, values)


def _native_rows(found, n: int) -> dict:
    column = lambda name: pc.struct_field(found, name)  # noqa: E731
    return {"layout": constant("native", n), "time": column("time"), "elapsed": column("elapsed"),
            "client": _dash_null(column("client")), "ident": pa.nulls(n, pa.string()),
            "user": _dash_null(column("user")), "code": column("code"), "status": column("status"),
            "bytes": column("bytes"), "method": _dash_null(column("method")), "url": _dash_null(column("url")),
            "hierarchy": column("hierarchy"), "peer": _dash_null(column("peer")),
            "content_type": _dash_null(column("content_type"))}


def _clf_rows(found, n: int) -> dict:
    column = lambda name: pc.struct_field(found, name)  # noqa: E731
    combined = pc.not_equal(column("combined"), "")
    empty = lambda name: pc.if_else(pc.equal(column(name), ""), _NULL, column(name))  # noqa: E731
    return {"layout": pc.if_else(combined, "combined", "common"), "time": column("time"),
            "elapsed": pa.nulls(n, pa.string()), "client": _dash_null(column("client")),
            "ident": _dash_null(column("ident")), "user": _dash_null(column("user")), "code": empty("code"),
            "status": column("status"), "bytes": _dash_null(column("bytes")), "method": _dash_null(column("method")),
            "url": _dash_null(empty("url")), "hierarchy": empty("hierarchy"), "peer": pa.nulls(n, pa.string()),
            "content_type": pa.nulls(n, pa.string())}


def _table(columns: dict, numbers: np.ndarray) -> pa.Table:
    arrays = [_flat(columns[f.name]).cast(f.type) for f in SCHEMA]
    return pa.Table.from_arrays([*arrays, pa.array(numbers, pa.int64())], names=[*COLUMNS, LINE_COLUMN])


def _flat(values) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        return values.combine_chunks() if values.num_chunks else pa.array([], values.type)
    return values


def _empty() -> pa.Table:
    return _table({name: pa.array([], pa.string()) for name in COLUMNS}, np.zeros(0, np.int64))


def _mask(array) -> np.ndarray:
    return np.asarray(pc.fill_null(array, False).to_numpy(zero_copy_only=False), dtype=bool)


class SquidReader(TextReader):
    """Squid access.log lines -> the columns of schemas/squid.yaml (one reader per object)."""

    stateless = True

    def parse(self, data, first_line: int = 1, newlines: int | None = None) -> ParsedLines:
        fast = self._fast(data, first_line)
        return fast if fast is not None else super().parse(data, first_line, newlines)

    # -- every layout, by regex ------------------------------------------------------------
    def parse_lines(self, lines: pa.StringArray, numbers: np.ndarray):
        tables, rest, rest_numbers = self._layouts(lines, numbers)
        rejects: list = []
        if len(rest):
            syslog = split_syslog(rest)
            message = syslog.column("message").combine_chunks()
            # RFC 5424 leaves its structured data (`-` or `[id k="v"]...`) in front of the message
            rfc5424 = pc.is_valid(syslog.column("syslog_msgid").combine_chunks())
            message = pc.if_else(rfc5424, pc.replace_substring_regex(message, _SD, ""), message)
            tagged = pc.extract_regex(message, _TAG)
            message = pc.if_else(pc.is_valid(tagged), pc.struct_field(tagged, "msg"), message)
            more, left, left_numbers = self._layouts(message, rest_numbers, originals=rest)
            tables += more
            rejects = [(int(n), NOT_SQUID, text) for n, text in zip(left_numbers, left.to_pylist())]
        rows = pa.concat_tables(tables) if tables else _empty()
        if len(tables) > 1:
            rows = rows.take(pc.sort_indices(rows.column(LINE_COLUMN)))
        return rows, rejects

    def _layouts(self, lines, numbers, originals=None):
        """(row tables, lines of no layout, their numbers); `originals`: the raw text of `lines`."""
        originals = lines if originals is None else originals
        tables = []
        for pattern, build in ((NATIVE, _native_rows), (CLF, _clf_rows)):
            if not len(lines):
                break
            found = pc.extract_regex(lines, pattern)
            matched = pc.is_valid(found)
            if pc.any(matched).as_py():
                picked = _mask(matched)
                hits = found.filter(matched)
                tables.append(_table(build(hits, len(hits)), numbers[picked]))
                lines, originals, numbers = lines.filter(pc.invert(matched)), originals.filter(pc.invert(matched)), \
                    numbers[~picked]
        return tables, originals, numbers

    # -- native lines, by the CSV parser ----------------------------------------------------
    def _fast(self, data, first_line: int) -> ParsedLines | None:
        raw = memoryview(data).cast("B") if not isinstance(data, (bytes, bytearray)) else data
        if not len(raw):
            return None
        head = bytes(raw[:4096])
        first = head.split(b"\n", 1)[0].rstrip(b"\r").removeprefix(b"\xef\xbb\xbf")
        if not _FIRST_NATIVE.match(first):
            return None
        work = bytearray(raw)  # a copy: the padding is filled in it
        if b"\r" in work and work.count(b"\r") != work.count(b"\r\n"):
            return None  # a bare CR is a line end to the CSV parser, not to the line numbering
        if not is_utf8(work):
            return None  # the regex reader rejects the lines that are not UTF-8, one by one
        buf = np.frombuffer(work, dtype=np.uint8)
        _fill_padding(buf)
        invalid: list[int] = []

        def on_invalid(row):
            invalid.append(row.number)
            return "skip"

        try:
            table = pcsv.read_csv(
                pa.py_buffer(buf),
                read_options=pcsv.ReadOptions(column_names=NATIVE_VALUES, use_threads=CSV_THREADS,
                                              block_size=min(len(work) + 1, 1 << 30)),
                parse_options=pcsv.ParseOptions(delimiter=" ", quote_char=False, double_quote=False, escape_char=False,
                                                ignore_empty_lines=False, invalid_row_handler=on_invalid),
                convert_options=pcsv.ConvertOptions(column_types={n: pa.string() for n in NATIVE_VALUES},
                                                    strings_can_be_null=False))
        except (pa.ArrowInvalid, UnicodeDecodeError):
            return None
        if None in invalid:
            return None
        total = table.num_rows + len(invalid)
        physical = np.ones(total, dtype=bool)
        physical[np.asarray(invalid, dtype=np.int64) - 1] = False
        numbers = np.arange(1, total + 1)[physical] + (first_line - 1)

        rows, valid = _native_table(table, numbers)
        blank = _mask(pc.and_(pc.equal(table.column("time"), ""), pc.equal(table.column("url"), "")))
        again = np.concatenate([np.asarray(invalid, dtype=np.int64) + (first_line - 1), numbers[~valid & ~blank]])
        if not len(again):
            return ParsedLines(rows, [], rows.num_rows)
        lines, all_numbers, bad_utf8 = text_lines(data, first_line)
        wanted = np.isin(all_numbers, again)
        more, rejects = self.parse_lines(lines.filter(pa.array(wanted)), all_numbers[wanted])
        rejects += [r for r in bad_utf8 if r[0] in set(again.tolist())]
        rows = pa.concat_tables([rows, more])
        rows = rows.take(pc.sort_indices(rows.column(LINE_COLUMN)))
        return ParsedLines(rows, sorted(rejects), rows.num_rows + len(rejects))


def _fill_padding(buf: np.ndarray) -> None:
    """Right-aligned `elapsed` (`1157689312.049   5006`): the spaces after the first one that
    ends `time` become zeros (`1157689312.049 0005006`), in place, so one space separates values.
    Only the first run of spaces of each line is touched; a line this spoils is not a native line
    and is read again from the original bytes."""
    n = len(buf)
    starts = np.flatnonzero(buf == 10) + 1
    starts = np.concatenate(([0], starts[starts < n]))
    # where `time` ends: nearly always 14 characters on (1157689312.049), else looked for
    usual = starts + _USUAL_TIME_WIDTH
    found = buf[np.minimum(usual, n - 1)] == 32
    found &= (usual < n) & (buf[np.minimum(usual - 1, n - 1)] != 32)
    space = usual[found]
    others = starts[~found]
    if len(others):
        space = np.concatenate((space, _first_spaces(buf, others)))
    for k in range(1, _MAX_PADDING):
        at = space + k
        at = at[at < n]
        at = at[buf[at] == 32]
        if not len(at):
            break
        buf[at] = 48
        space = at - k


def _first_spaces(buf: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Position of the first space of each line starting at `starts` (within _MAX_TIME_WIDTH)."""
    n = len(buf)
    space = np.full(len(starts), -1, dtype=np.int64)
    done = np.zeros(len(starts), dtype=bool)
    for k in range(_MAX_TIME_WIDTH):
        at = starts + k
        inside = at < n
        char = buf[np.minimum(at, n - 1)]
        hit = ~done & inside & (char == 32)
        space[hit] = at[hit]
        done |= hit | ~inside | (char == 10)
        if done.all():
            break
    return space[space >= 0]


def _native_table(table: pa.Table, numbers: np.ndarray) -> tuple[pa.Table, np.ndarray]:
    """Decl rows of the CSV rows that are native lines, and which rows those are."""
    code = _split_code(table.column("code_status"), r"^(?P<a>[A-Za-z_]+)/(?P<b>\d{1,3})$")
    hier = _split_code(table.column("hier_peer"), r"^(?P<a>[A-Za-z_]+)/(?P<b>[^ ]*)$")
    ok = pc.and_(pc.is_valid(code), pc.is_valid(hier))
    time = table.column("time")  # digits[.digits], checked without a regex (the hot path)
    ok = pc.and_(ok, pc.ascii_is_decimal(pc.replace_substring(time, ".", "", max_replacements=1)))
    ok = pc.and_(ok, pc.invert(pc.or_(pc.starts_with(time, "."), pc.ends_with(time, "."))))
    ok = pc.and_(ok, pc.ascii_is_decimal(table.column("elapsed")))
    ok = pc.and_(ok, pc.ascii_is_decimal(table.column("bytes")))  # a negative count: read by the regex
    for name in ("client", "method", "url", "user", "content_type"):
        ok = pc.and_(ok, pc.not_equal(table.column(name), ""))
    valid = _mask(ok)
    if not valid.all():
        keep = pa.array(valid)
        table, code, hier = table.filter(keep), code.filter(keep), hier.filter(keep)
        numbers = numbers[valid]
    elapsed = pc.utf8_ltrim(table.column("elapsed"), "0")
    peer = pc.struct_field(hier, "b")
    dash = lambda values: pc.if_else(pc.equal(values, "-"), _NULL, values)  # noqa: E731  (never empty here)
    columns = {"layout": constant("native", table.num_rows), "time": table.column("time"),
               "elapsed": pc.if_else(pc.equal(elapsed, ""), "0", elapsed), "client": dash(table.column("client")),
               "ident": pa.nulls(table.num_rows, pa.string()), "user": dash(table.column("user")),
               "code": pc.struct_field(code, "a"), "status": pc.struct_field(code, "b"),
               "bytes": table.column("bytes"), "method": dash(table.column("method")),
               "url": dash(table.column("url")), "hierarchy": pc.struct_field(hier, "a"),
               "peer": _dash_null(peer), "content_type": dash(table.column("content_type"))}
    return _table(columns, numbers), valid


def _split_code(values, pattern: str) -> pa.Array:
    """`A/B` values (few distinct) -> struct {a, b}, null where the value is not of that shape."""
    values = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    encoded = pc.dictionary_encode(values)
    return pc.take(pc.extract_regex(encoded.dictionary, pattern), encoded.indices)


# -- classify ------------------------------------------------------------------------------

def _times(rows: pa.Table) -> pa.ChunkedArray:
    """native: epoch seconds; common/combined: `10/Oct/2000:13:55:36 -0700`."""
    layout, text = rows.column("layout"), rows.column("time")
    native = pc.equal(layout, "native")
    # digits[.digits], checked without a regex (the hot path), before 5138 (1e11 s)
    shaped = pc.and_(pc.ascii_is_decimal(pc.replace_substring(text, ".", "", max_replacements=1)),
                     pc.invert(pc.or_(pc.starts_with(text, "."), pc.ends_with(text, "."))))
    shaped = pc.and_(shaped, pc.less_equal(pc.binary_length(text), 24))
    seconds = pc.cast(pc.if_else(pc.and_(native, shaped), text, _NULL), pa.float64())
    seconds = pc.if_else(pc.less(seconds, 1e11), seconds, pa.scalar(None, pa.float64()))
    micros = pc.round(pc.multiply(seconds, 1_000_000))
    ts = pc.cast(pc.cast(micros, pa.int64()), pa.timestamp("us", tz="UTC"))
    if not pc.all(native).as_py():
        clf = pc.strptime(pc.if_else(native, _NULL, text), format="%d/%b/%Y:%H:%M:%S %z", unit="us",
                          error_is_null=True)
        ts = pc.coalesce(ts, pc.cast(clf, pa.timestamp("us", tz="UTC")))
    return ts


@on_distinct
def _account(values) -> pa.Array:
    """Squid writes user names URL-escaped: DOMAIN%5Cuser, user%40example.com."""
    for code, char in (("%5C", "\\"), ("%5c", "\\"), ("%40", "@"), ("%20", " ")):
        values = pc.replace_substring(values, code, char)
    return values


@on_distinct
def _scheme(values) -> pa.Array:
    scheme = pc.utf8_lower(pc.utf8_rtrim(values, ":"))
    return pc.if_else(pc.equal(scheme, ""), _NULL, scheme)


@on_distinct
def _direct(hierarchy) -> pa.Array:
    return pc.match_substring_regex(pc.utf8_upper(hierarchy), DIRECT)


@on_distinct
def _ip(values) -> pa.Array:
    return w3c.ip_addresses(values)


def _destinations(urls) -> tuple[pa.Array, pa.Array]:
    """(dest_host, dest_port) of URLs (`http://host[:port]/...`) and CONNECT `host:port` targets."""
    urls = urls.combine_chunks() if isinstance(urls, pa.ChunkedArray) else urls
    urls = pc.fill_null(urls, "")
    parts = pc.split_pattern(urls, "/", max_splits=3)
    offsets = parts.offsets.to_numpy()[:-1]
    length = pc.list_value_length(parts).to_numpy(zero_copy_only=False)
    values = parts.values
    first = pc.take(values, pa.array(offsets))
    second = pc.take(values, pa.array(offsets + np.minimum(length - 1, 1)))
    has_scheme = pc.and_(pa.array(length >= 3), pc.equal(second, ""))  # scheme://authority/... or //authority/...
    authority = pc.take(values, pa.array(offsets + np.where(_mask(has_scheme), 2, 0)))
    authority = pc.if_else(pc.equal(authority, ""), _NULL, authority)
    scheme = _scheme(pc.if_else(has_scheme, first, _NULL))
    # hosts and ports repeat: worked out once per distinct authority
    encoded = pc.dictionary_encode(authority)
    host = pc.take(clean_host(encoded.dictionary), encoded.indices)
    port = pc.take(w3c.authority_port(encoded.dictionary), encoded.indices)
    return host, pc.coalesce(port, w3c.default_port(scheme))


@on_distinct
def _code_flags(code) -> pa.Array:
    """1: the result code contains DENIED, 2: it starts with NONE, 0: other."""
    code = pc.utf8_upper(code)
    return pc.if_else(pc.match_substring(code, "DENIED"), 1, pc.if_else(pc.starts_with(code, "NONE"), 2, 0))


@on_distinct
def _status(status) -> pa.Array:
    """HTTP status text -> int64 (null where not a number)."""
    return pc.cast(pc.if_else(pc.ascii_is_decimal(status), status, _NULL), pa.int64())


def _actions(rows: pa.Table) -> pa.Array:
    flags = pc.fill_null(_code_flags(rows.column("code")), 0)
    status = _status(pc.fill_null(rows.column("status"), ""))
    blocked = pc.or_(pc.equal(flags, 1), pc.fill_null(pc.equal(status, 407), False))
    blocked = pc.or_(blocked, pc.fill_null(pc.and_(pc.equal(flags, 2), pc.equal(status, 403)), False))
    no_server = pc.fill_null(pc.is_in(rows.column("hierarchy"), value_set=pa.array(["NONE", "HIER_NONE"])), False)
    server_error = pc.and_(no_server, pc.fill_null(pc.is_in(status, value_set=pa.array([500, 502, 503, 504])), False))
    failed = pc.or_(pc.fill_null(pc.equal(status, 0), False), server_error)
    return pc.if_else(blocked, "blocked", pc.if_else(failed, "failed", "allowed"))


def classify(rows: pa.Table) -> Classified:
    reasons = schema.row_violations(rows, DECL)
    ts = _times(rows)
    reasons = pc.if_else(pc.and_(pc.is_null(reasons), pc.is_null(ts)), "time: not a valid time", reasons)
    bad = pc.is_valid(reasons)
    rejected = skipped = None
    if pc.any(bad).as_py():
        rejected = pa.table({"input_line": rows.column(LINE_COLUMN).filter(bad), "reason": reasons.filter(bad),
                             "ts": ts.filter(bad)})
        rows, ts = rows.filter(pc.invert(bad)), ts.filter(pc.invert(bad))

    url = rows.column("url")
    no_request = pc.or_(pc.fill_null(pc.starts_with(url, "error:"), False), pc.is_null(url))
    if pc.any(no_request).as_py():
        skipped = pa.table({"ts": ts.filter(no_request), "reason": constant("no request", pc.sum(no_request).as_py()),
                            "input_line": rows.column(LINE_COLUMN).filter(no_request)})
        rows, ts = rows.filter(pc.invert(no_request)), ts.filter(pc.invert(no_request))

    n = rows.num_rows
    host, port = _destinations(rows.column("url"))
    direct = pc.fill_null(_direct(rows.column("hierarchy")), False)
    count = rows.column("bytes")
    bytes_ok = pc.fill_null(pc.and_(pc.ascii_is_decimal(count), pc.less_equal(pc.binary_length(count), 18)), False)
    transactions = pa.table({
        "ts": ts,
        "source": constant(NAME, n),
        "device_id": pa.nulls(n, pa.string()),
        "device_name": pa.nulls(n, pa.string()),
        "account": _account(pc.coalesce(rows.column("user"), rows.column("ident"))),
        "src_ip": rows.column("client"),
        "dest_host": host,
        "dest_ip": pc.if_else(direct, _ip(pc.fill_null(rows.column("peer"), "")), _NULL),
        "dest_port": port,
        "bytes_up": pa.nulls(n, pa.int64()),  # none of these layouts logs the request size
        "bytes_down": pc.cast(pc.if_else(bytes_ok, rows.column("bytes"), _NULL), pa.int64()),
        "action": _actions(rows),
        "process": pa.nulls(n, pa.string()),
        "input_line": rows.column(LINE_COLUMN),
    })
    return Classified.of(rejected=rejected, transactions=transactions, skipped=skipped)


class SquidSource(Source):
    name = NAME
    decl = DECL
    description = "Squid access.log (native, common or combined; optionally over syslog)"

    def detect(self, head: bytes) -> float:
        return detect(head)

    def reader(self) -> SquidReader:
        return SquidReader()

    def classify(self, rows: pa.Table) -> Classified:
        return classify(rows)


SOURCE = SquidSource()
