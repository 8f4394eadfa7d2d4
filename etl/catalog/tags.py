"""An organisation's decisions about apps: sanctioned, unsanctioned, monitored, or none.

Every change is one object under reference/catalog/tags/ (who, when, old, new, note), so the
history is append-only on any object store; the latest change of an app is its tag.
"""
from __future__ import annotations

import getpass
import os
from datetime import datetime, timezone

import pyarrow as pa

from etl.errors import UserError

TAGS = ("sanctioned", "unsanctioned", "monitored", "none")
WHO_ENV = "CLOUD_DISCOVERY_USER"


def history(lake, app_id: str | None = None) -> list[dict]:
    """Tag changes, oldest first (of one app, or of all)."""
    from etl.storage import tag_history_dir

    entries = []
    for obj in lake.list_files(tag_history_dir()):
        if not obj.path.endswith(".json"):
            continue
        entry = lake.read_json(obj.path)
        if app_id is None or entry.get("app_id") == app_id:
            entries.append(entry)
    return sorted(entries, key=lambda e: (e["when"], e["app_id"]))


def current(lake) -> dict[str, str]:
    """app_id -> its latest tag (apps never tagged are absent: their tag is `none`)."""
    tags: dict[str, str] = {}
    for entry in history(lake):
        tags[entry["app_id"]] = entry["tag"]
    return {app: tag for app, tag in tags.items() if tag != "none"}


def set_tag(lake, app_id: str, tag: str, note: str | None = None, who: str | None = None,
            when: datetime | None = None) -> dict:
    from etl.storage import tag_entry_path

    if tag not in TAGS:
        raise UserError(f"tag must be one of {', '.join(TAGS)}, not {tag!r}")
    when = when or datetime.now(timezone.utc)
    old = current(lake).get(app_id, "none")
    entry = {"app_id": app_id, "tag": tag, "old": old, "who": who or os.environ.get(WHO_ENV) or getpass.getuser(),
             "when": when.isoformat(timespec="microseconds"), "note": note}
    lake.write_json(tag_entry_path(when, app_id), entry)
    return entry


def tags_table(tags: dict[str, str]) -> pa.Table:
    return pa.table({"app_id": pa.array(list(tags), pa.string()), "tag": pa.array(list(tags.values()), pa.string())})
