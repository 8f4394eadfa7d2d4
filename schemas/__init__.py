"""Contracts declared once, as data (YAML next to this file).

`etl.schema` turns each declaration into an Arrow read schema, exact Arrow-compute checks
and a Great Expectations suite, so the three can never disagree.
"""
from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent


@cache
def load(name: str) -> dict:
    """The declaration `schemas/<name>.yaml` as a dict."""
    path = HERE / f"{name}.yaml"
    if not path.exists():
        raise KeyError(f"no schema named {name!r} in {HERE}")
    return yaml.safe_load(path.read_text())


def names() -> list[str]:
    return sorted(p.stem for p in HERE.glob("*.yaml"))
