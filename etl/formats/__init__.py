"""Log formats: one module per format behind one interface, registered here.

A format module provides:
    NAME: str                                   # source name used in paths and reports
    sniff(head: bytes) -> bool                  # does the file start like this format?
    parse(data: bytes) -> ParsedLines           # rows + rejected lines (etl.formats.ndjson)
    classify(rows) -> Classified                # checks + normalisation (see Classified)
"""
from __future__ import annotations

from etl.formats import mde, ocsf
from etl.formats.base import Classified  # noqa: F401  (re-exported)

FORMATS = {module.NAME: module for module in (mde, ocsf)}


def detect(head: bytes) -> str | None:
    """Name of the format whose sniffer accepts the first bytes of a file, else None."""
    for name, module in FORMATS.items():
        if module.sniff(head):
            return name
    return None


def get(name: str):
    try:
        return FORMATS[name]
    except KeyError:
        raise KeyError(f"unknown format {name!r}; known: {sorted(FORMATS)}") from None
