"""Log formats: one module per format behind one interface, registered here.

A format module provides:
    NAME: str                                   # source name used in paths and reports
    sniff(line: bytes) -> bool                  # is this one line of this format?
    parse(data: bytes, first_line=1) -> ParsedLines  # rows + rejected lines (etl.formats.ndjson)
    classify(rows) -> Classified                # checks + normalisation (see Classified)
"""
from __future__ import annotations

from etl.formats import mde, ocsf
from etl.formats.base import Classified  # noqa: F401  (re-exported)

FORMATS = {module.NAME: module for module in (mde, ocsf)}


SNIFF_LINES = 10
SNIFF_BYTES = 1 << 20


def detect(data: bytes) -> str | None:
    """Name of the format whose sniffer accepts one of the first non-blank lines, else None.

    Several lines are tried so that one broken line at the top does not hide a good file."""
    tried = 0
    for line in data[:SNIFF_BYTES].splitlines():
        if not line.strip():
            continue
        for name, module in FORMATS.items():
            if module.sniff(line):
                return name
        tried += 1
        if tried == SNIFF_LINES:
            break
    return None


def get(name: str):
    try:
        return FORMATS[name]
    except KeyError:
        raise KeyError(f"unknown format {name!r}; known: {sorted(FORMATS)}") from None
