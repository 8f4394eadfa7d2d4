"""Every input source, registered here and nowhere else (see etl/sources/base.py for the interface).

Adding a format: a folder `etl/sources/<name>/` exposing `SOURCE`, its golden files in
`etl/sources/<name>/golden/`, and one line below.
"""
from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module

from etl.sources.base import Classified, PlannedInput, Source  # noqa: F401  (the interface, re-exported)

REGISTERED = (
    "mde",
    "ocsf",
    "bluecoat",
    "cef",
    "checkpoint",
    "cisco_asa",
    "forcepoint",
    "fortigate",
    "juniper_srx",
    "panos",
    "sophos",
    "squid",
    "w3c",
    "zeek",
    "zscaler",
)

SOURCES: dict[str, Source] = {name: import_module(f"etl.sources.{name}").SOURCE for name in REGISTERED}
SNIFF_BYTES = 1 << 20
ENDPOINT_SOURCES = ("mde", "ocsf")  # sources that name their device (their IPs feed attribution)


@dataclass(frozen=True)
class Detection:
    scores: dict[str, float]  # every source with a non-zero confidence

    @property
    def best(self) -> str | None:
        top = self.top()
        return top[0] if len(top) == 1 else None

    def top(self) -> list[str]:
        if not self.scores:
            return []
        high = max(self.scores.values())
        return sorted(name for name, score in self.scores.items() if score == high)

    def explain(self) -> str:
        if not self.scores:
            return f"no known format (known: {', '.join(sorted(SOURCES))}); name one with --log-format"
        top = self.top()
        if len(top) > 1:
            return f"ambiguous format: {' and '.join(top)} claim it equally; name one with --log-format"
        return f"detected {top[0]}"


def detect(head: bytes, among=None) -> Detection:
    """Confidence of every source (or those named in `among`) that `head` is its format."""
    scores = {}
    for name in among or SOURCES:
        score = SOURCES[name].detect(bytes(head[:SNIFF_BYTES]))
        if score > 0:
            scores[name] = score
    return Detection(scores)


def get(name: str) -> Source:
    try:
        return SOURCES[name]
    except KeyError:
        raise KeyError(f"unknown source {name!r}; known: {sorted(SOURCES)}") from None


def describe(lake, path: str) -> PlannedInput | None:
    """The PlannedInput of any raw object, from whichever source owns its location."""
    for source in SOURCES.values():
        item = source.describe(lake, path)
        if item is not None:
            return item
    return None
