"""Named values out of bracketed structured-data bodies, vectorised (one regex per key).

Two layouts:
- `RFC5424`: RFC 5424 STRUCTURED-DATA, `[id@pen key="value" key2="value 2"][id2 ...]`
  (Juniper `junos@2636...`, Check Point `Fields@1.3.6.1.4.1.2620`);
- `CHECKPOINT`: the Check Point Log Exporter body `[key:"value"; key2:"value"]` (a few keys are
  written with a double colon, `sys_message::"..."`).

Inside a value `\\"`, `\\\\` and `\\]` are escapes (RFC 5424 section 6.3.3); they are undone.
Because a quote inside a value is always escaped, `key="` can only occur where a pair starts, so
an unanchored search for the key after a pair boundary (space or `[` in RFC 5424; `[` or `;` in
the Check Point layout) finds exactly that pair: no need to walk the pairs from the start.

Some Junos releases write typographic quotes around a few values (`name=”st0.0”`): those
values are read too (up to the next typographic quote), and they never hide the keys after them.
A key that occurs twice gives its first value. Absent keys are null; `key=""` is "".
"""
from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

RFC5424 = "rfc5424"
CHECKPOINT = "checkpoint"

_STRAIGHT = r'(?P<q>")(?P<v>(?:[^"\\]|\\.)*)"'
_CURLY = r"[“”](?P<w>[^“”\"]*)[“”]"
_BOUNDARY = {RFC5424: r"(?:^|[\s\[])", CHECKPOINT: r"(?:^|[\[;])\s*"}
_ASSIGN = {RFC5424: "=", CHECKPOINT: "::?"}
_UNESCAPE = r'\\(["\\\]])'
_STRING_NULL = pa.scalar(None, pa.string())


def key_pattern(key: str, layout: str = RFC5424) -> str:
    """The RE2 pattern that finds `key`'s value (groups q/v: straight quotes, w: typographic)."""
    if layout not in _BOUNDARY:
        raise ValueError(f"unknown structured-data layout {layout!r}; known: {sorted(_BOUNDARY)}")
    return _BOUNDARY[layout] + re.escape(key) + _ASSIGN[layout] + f"(?:{_STRAIGHT}|{_CURLY})"


def sd_value(bodies: pa.Array, key: str, layout: str = RFC5424) -> pa.Array:
    """The (unescaped) value of one key in every body; null where the key is absent."""
    if isinstance(bodies, pa.ChunkedArray):
        bodies = bodies.combine_chunks() if bodies.num_chunks else pa.array([], pa.string())
    if len(bodies) == 0:
        return pa.array([], pa.string())
    # a literal pre-check is several times cheaper than the extraction, and most keys a reader
    # asks for are absent from most lines: extract only where the key is written
    present = pc.fill_null(pc.match_substring_regex(bodies, re.escape(key) + _ASSIGN[layout] + '["“”]'), False)
    count = pc.sum(present).as_py() or 0
    if count == 0:
        return pa.nulls(len(bodies), pa.string())
    some = count < len(bodies)
    found = pc.extract_regex(bodies.filter(present) if some else bodies, key_pattern(key, layout))
    # a group that did not take part reads as "": the quote group says which one did
    straight = pc.equal(pc.struct_field(found, "q"), '"')
    value = pc.if_else(straight, pc.struct_field(found, "v"), pc.struct_field(found, "w"))
    value = pc.if_else(pc.is_valid(found), value, _STRING_NULL)
    if some:  # back to one value per body
        mask = np.asarray(present.to_numpy(zero_copy_only=False), dtype=bool)
        index = np.where(mask, np.cumsum(mask) - 1, -1)
        value = pc.take(value, pa.array(index, mask=~mask))
    if pc.any(pc.fill_null(pc.match_substring(value, "\\"), False)).as_py():
        value = pc.replace_substring_regex(value, _UNESCAPE, r"\1")
    return value


def sd_values(bodies: pa.Array, keys, layout: str = RFC5424) -> dict[str, pa.Array]:
    """{key: values} for every key asked for (see `sd_value`)."""
    return {key: sd_value(bodies, key, layout) for key in keys}


def first_of(values: dict[str, pa.Array], *keys: str) -> pa.Array:
    """The first non-null of several keys (vendors renamed fields between releases)."""
    return pc.coalesce(*(values[k] for k in keys)) if len(keys) > 1 else values[keys[0]]
