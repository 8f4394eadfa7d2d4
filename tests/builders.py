"""Tiny hand-made raw inputs for tests: MDE export lines and OCSF events in the real layouts."""
from __future__ import annotations

import gzip
import json
from datetime import datetime
from pathlib import Path

from etl.storage import mde_hour_dir

TENANT = "00000000-0000-4000-8000-000000000001"
TABLE_FOLDERS = {"DeviceNetworkEvents": "devicenetworkevents", "DeviceInfo": "deviceinfo",
                 "DeviceLogonEvents": "devicelogonevents", "DeviceNetworkInfo": "devicenetworkinfo",
                 "DeviceProcessEvents": "deviceprocessevents"}


def mde_record(table: str, timestamp: str, arrival: str | None = None, **properties) -> dict:
    props = {"Timestamp": timestamp, **properties}
    return {"time": arrival or timestamp, "tenantId": TENANT, "operationName": "Publish",
            "category": f"AdvancedHunting-{table}", "properties": props}


def connection(timestamp: str, device: str = "dev-1", url: str | None = "www.dropbox.com",
               action: str = "ConnectionSuccess", upn: str | None = "jane.doe@contoso.com", **extra) -> dict:
    props = {"DeviceId": device, "DeviceName": f"{device}.corp.contoso.com", "ActionType": action,
             "RemoteIP": "203.0.113.10", "RemotePort": 443, "RemoteUrl": url, "LocalIP": "10.0.0.5",
             "LocalPort": 50000, "Protocol": "Tcp", "InitiatingProcessFileName": "chrome.exe",
             "InitiatingProcessAccountUpn": upn, "InitiatingProcessAccountName": "jdoe",
             "InitiatingProcessAccountDomain": "contoso", "AdditionalFields": None}
    props.update(extra)
    return mde_record("DeviceNetworkEvents", timestamp, **props)


def lines(records) -> bytes:
    return "".join(json.dumps(r) + "\n" if not isinstance(r, str) else r + "\n" for r in records).encode()


def write_mde(lake_root: Path, table_folder: str, hour: datetime, payload: bytes, gz: bool = False,
              name: str = "PT1H.json") -> Path:
    path = Path(lake_root) / mde_hour_dir(table_folder, TENANT, hour) / (name + (".gz" if gz else ""))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(payload, mtime=0) if gz else payload)
    return path


def ocsf_event(epoch_ms: int, host: str = "chatgpt.com", device: str = "mac-1", bytes_in: int = 1000,
               bytes_out: int = 200, class_uid: int = 4001, activity_id: int = 1, direction_id: int = 2,
               user: dict | None = None) -> dict:
    return {"time": epoch_ms, "class_uid": class_uid, "category_uid": 4, "activity_id": activity_id,
            "type_uid": class_uid * 100 + activity_id, "severity_id": 1, "status_id": 1,
            "device": {"uid": device, "hostname": device, "ip": "10.0.0.9", "os": {"name": "macOS"}},
            "actor": {"user": user or {"name": "jdoe", "email_addr": "jane.doe@contoso.com"},
                      "process": {"name": "Safari"}},
            "src_endpoint": {"ip": "10.0.0.9", "port": 51000},
            "dst_endpoint": {"ip": "198.51.100.7", "port": 443, "hostname": host},
            "connection_info": {"direction_id": direction_id, "protocol_name": "tcp"},
            "traffic": {"bytes_in": bytes_in, "bytes_out": bytes_out}}


def write_ocsf(lake_root: Path, day: str, name: str, payload: bytes, gz: bool = False) -> Path:
    path = Path(lake_root) / "raw" / "ocsf" / f"dt={day}" / (name + (".gz" if gz else ""))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(payload, mtime=0) if gz else payload)
    return path


def write_users(lake_root: Path, rows: list[tuple[str, str, str, str]]) -> None:
    path = Path(lake_root) / "reference" / "users.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "upn,display_name,department,sam_account_name\n" + "".join(",".join(r) + "\n" for r in rows)
    path.write_text(text)


def output_digests(manifest: dict) -> dict[str, list[str]]:
    """Each report table's file checksums, as the manifest lists them."""
    return {table: [f["sha256"] for f in entry["files"]] for table, entry in manifest["outputs"].items()}


def output_file_names(manifest: dict, table: str) -> list[str]:
    return sorted(f["path"].rsplit("/", 1)[-1] for f in manifest["outputs"][table]["files"])


def sample_bytes(samples_dir: Path, *parts: str) -> bytes:
    """A file of ../shared/samples (read-only, never copied); skips the test when it is absent."""
    import pytest

    path = Path(samples_dir).joinpath(*parts)
    if not path.is_file():
        pytest.skip(f"{path} not present")
    return path.read_bytes()


def read_with(source, data: bytes):
    """(parsed, classified) of a whole input read by a source in one piece."""
    parsed = source.reader().parse(data)
    return parsed, source.classify(parsed.rows)


def non_blank_line_numbers(data: bytes) -> list[int]:
    return [n for n, line in enumerate(data.split(b"\n"), 1) if line.strip()]
