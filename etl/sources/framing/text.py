"""Plain text lines for line-oriented log formats (proxy and firewall logs), vectorised.

`TextReader` turns a piece of whole lines into an Arrow string array (one element per non-blank
line, CR stripped) with its line numbers, rejects lines that are not UTF-8, and hands the rest
to `parse_lines`, which each format (or a shared framing such as delimited/key=value/W3C)
implements. One reader serves one object, so header lines (`#Fields:`) can set state that later
pieces of the same object use.

`split_syslog` takes a syslog header (RFC 3164 or RFC 5424, with or without `<PRI>`) off each
line, so vendor formats that are sent over syslog see only their own message.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from etl.sources.base import ParsedLines
from etl.sources.framing.lines import line_spans

LINE_COLUMN = "input_line"


def text_lines(data, first_line: int = 1) -> tuple[pa.StringArray, np.ndarray, list[tuple[int, str, str]]]:
    """(lines, their numbers, rejects) of a piece: blank and whitespace-only lines dropped, a
    trailing CR and a UTF-8 byte-order mark removed, lines that are not UTF-8 rejected."""
    starts, ends, numbers = line_spans(data)
    buffer = pa.py_buffer(data)
    n = len(starts)
    if n == 0:
        return pa.array([], pa.string()), numbers + (first_line - 1), []
    # line, gap, line, gap, ...: one array over the whole buffer, then every other element
    bounds = np.empty(2 * n, dtype=np.int32)
    bounds[0::2], bounds[1::2] = starts, ends
    spans = pa.StringArray.from_buffers(2 * n - 1, pa.py_buffer(bounds), buffer)
    lines = pc.take(spans, pa.array(np.arange(0, 2 * n - 1, 2)))
    rejects: list[tuple[int, str, str]] = []
    numbers = numbers + (first_line - 1)
    try:
        lines.validate(full=True)
    except pa.ArrowInvalid:
        lines, numbers, rejects = _reject_bad_utf8(data, starts, ends, numbers)
    lines = pc.utf8_ltrim(lines, "\ufeff")
    blank = pc.equal(pc.utf8_trim_whitespace(lines), "")
    if pc.any(blank).as_py():
        keep = pc.invert(blank)
        lines, numbers = lines.filter(keep), numbers[keep.to_numpy(zero_copy_only=False)]
    return lines, numbers, rejects


def _reject_bad_utf8(data, starts, ends, numbers):
    good, kept, rejects = [], [], []
    for start, end, number in zip(starts.tolist(), ends.tolist(), numbers.tolist()):
        raw = bytes(data[start:end])
        try:
            good.append(raw.decode("utf-8"))
            kept.append(number)
        except UnicodeDecodeError as exc:
            rejects.append((number, f"invalid UTF-8 at byte {exc.start}", raw.decode("utf-8", "replace")))
    return pa.array(good, pa.string()), np.array(kept, dtype=np.int64), rejects


class TextReader:
    """Base LineReader of text formats: subclasses implement `parse_lines`.

    `stateless`: parsing a piece depends on that piece alone (no header read from an earlier
    piece), so pieces of one object may be parsed at the same time, on several threads."""

    stateless = False

    def parse(self, data, first_line: int = 1, newlines: int | None = None) -> ParsedLines:
        lines, numbers, rejects = text_lines(data, first_line)
        read = len(lines) + len(rejects)
        rows, more = self.parse_lines(lines, numbers)
        rejects = sorted(rejects + more)
        return ParsedLines(rows, rejects, read)

    def parse_lines(self, lines: pa.StringArray, numbers: np.ndarray) -> tuple[pa.Table, list[tuple[int, str, str]]]:
        """Rows (with `input_line`) of the lines this format can frame, and (number, reason, raw)
        for those it cannot. Every line given is one or the other."""
        raise NotImplementedError


def with_lines(table: pa.Table, numbers: np.ndarray) -> pa.Table:
    return table.append_column(LINE_COLUMN, pa.array(numbers, pa.int64()))


def rejected_lines(lines: pa.Array, numbers: np.ndarray, mask, reason: str) -> list[tuple[int, str, str]]:
    """(number, reason, raw) for the lines where `mask` is true."""
    mask = pc.fill_null(mask, False)
    if not pc.any(mask).as_py():
        return []
    picked = np.asarray(mask.to_numpy(zero_copy_only=False), dtype=bool)
    return [(int(n), reason, text) for n, text in zip(numbers[picked], lines.filter(mask).to_pylist())]


# RFC 5424: <PRI>1 TIMESTAMP HOST APP PROCID MSGID [SD...] MSG
_RFC5424 = (r"^<(?P<pri>\d{1,3})>\d{1,2} (?P<ts>\S+) (?P<host>\S+) (?P<app>\S+) \S+ (?P<msgid>\S+) (?P<msg>.*)$")
# RFC 3164 (and its many variants): [<PRI>][Mmm dd [yyyy] hh:mm:ss | ISO] HOST [TAG:] MSG
_RFC3164 = (r"^(?:<(?P<pri>\d{1,3})>)?\s*(?P<ts>[A-Z][a-z]{2} +\d{1,2} (?:\d{4} )?\d{2}:\d{2}:\d{2}"
            r"|\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?) (?P<host>\S+) (?P<msg>.*)$")
_PRI_ONLY = r"^<(?P<pri>\d{1,3})>(?P<msg>.*)$"


def split_syslog(lines: pa.Array) -> pa.Table:
    """syslog_ts (text as written), syslog_host, syslog_app, syslog_msgid (RFC 5424), message: the
    header taken off each line that has one; lines without a header keep their text as `message`."""
    n = len(lines)
    ts = host = app = msgid = pa.nulls(n, pa.string())
    message = lines
    if n == 0:
        return pa.table({"syslog_ts": ts, "syslog_host": host, "syslog_app": app, "syslog_msgid": msgid,
                         "message": message})
    for pattern, has_app in ((_RFC5424, True), (_RFC3164, False)):
        found = pc.extract_regex(message, pattern)
        matched = pc.is_valid(found)
        if not pc.any(matched).as_py():
            continue
        ts = pc.if_else(matched, pc.struct_field(found, "ts"), ts)
        host = pc.if_else(matched, pc.struct_field(found, "host"), host)
        if has_app:
            app = pc.if_else(matched, pc.struct_field(found, "app"), app)
            msgid = pc.if_else(matched, pc.struct_field(found, "msgid"), msgid)
        message = pc.if_else(matched, pc.struct_field(found, "msg"), message)
    found = pc.extract_regex(message, _PRI_ONLY)
    matched = pc.is_valid(found)
    if pc.any(matched).as_py():
        message = pc.if_else(matched, pc.struct_field(found, "msg"), message)
    return pa.table({"syslog_ts": ts, "syslog_host": host, "syslog_app": app, "syslog_msgid": msgid,
                     "message": message})
