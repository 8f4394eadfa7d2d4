"""Snapshot reports from uploads: dedupe by content, archives (members, traversal names, bombs,
corruption), attribution history, and uploads flowing into the continuous reports."""
from __future__ import annotations

import bz2
import gzip
import io
import json
import zipfile
from datetime import date, datetime, timezone

import pyarrow as pa
import pyarrow.compute as pc

from etl.attribute import DeviceHistory, attribute_devices, changes
from etl.pipeline import run_day
from etl.snapshot import build_snapshot, endpoint_history, find_uploads, list_snapshots, stale_days
from etl.storage import Lake, manifest_path, upload_path
from tests.builders import connection, lines, ocsf_event, write_mde, write_users

UTC = timezone.utc
TS = pa.timestamp("us", "UTC")
DAY = date(2026, 11, 20)


def t(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, 20, hour, minute, tzinfo=UTC)


def ms(hour: int, minute: int = 0) -> int:
    return int(t(hour, minute).timestamp() * 1000)


def ocsf_upload(n: int = 4, hour: int = 9) -> bytes:
    return lines([ocsf_event(ms(hour, i), host="www.dropbox.com", bytes_in=100 * (i + 1), bytes_out=10) for i in range(n)])


def put(lake: Lake, source: str, name: str, data: bytes) -> str:
    rel = upload_path(source, name)
    lake.write_bytes(rel, data)
    return rel


def process(lake: Lake) -> list[dict]:
    return [build_snapshot(lake.url, upload) for upload in find_uploads(lake)]


# -- history and as-of attribution by IP --------------------------------------

def test_changes_keeps_the_first_and_last_sighting_of_each_run():
    given = pa.table({"ts": pa.array([t(8), t(9), t(10), t(11), t(12), t(13)], TS),
                      "ip": ["10.0.0.5"] * 6, "device_id": ["a", "a", "a", "b", "b", "a"]})
    assert changes(given, "ip", "device_id").column("ts").to_pylist() == [t(8), t(10), t(11), t(12), t(13)]


def test_an_ip_that_moves_between_machines_and_back_is_attributed_to_its_holder_at_each_instant():
    sightings = pa.table({
        "ts": pa.array([t(8), t(10), t(10, 30), t(12), t(12, 30), t(15), t(9)], TS),
        "ip": ["10.0.0.5"] * 6 + ["10.0.0.9"],
        "device_id": ["a", "a", "b", "b", "a", "a", "c"],
        "device_name": ["pc-a", "pc-a", "pc-b", "pc-b", "pc-a", "pc-a", "pc-c"]})
    history = DeviceHistory.from_sightings(sightings)
    lines_ = pa.table({"ts": pa.array([t(7), t(9), t(10, 15), t(11), t(12, 10), t(13), t(16), t(9, 5), t(9)], TS),
                       "src_ip": ["10.0.0.5"] * 7 + ["10.0.0.9", "192.0.2.1"],
                       "device_id": pa.array([None] * 8 + ["own"], pa.string()),
                       "device_name": pa.array([None] * 8 + ["own-pc"], pa.string())})
    out, stats = attribute_devices(lines_, history)
    assert out.column("device_id").to_pylist() == [None, "a", "a", "b", "b", "a", "a", "c", "own"]
    assert out.column("device_name").to_pylist() == [None, "pc-a", "pc-a", "pc-b", "pc-b", "pc-a", "pc-a", "pc-c", "own-pc"]
    assert stats["device_by_ip"] == 7


def test_endpoint_history_comes_from_the_committed_endpoint_days(tmp_path):
    """dev-1 holds 10.0.0.5 in the morning, dev-2 from noon: the history built from the committed
    day answers by time; the user comes from the events' own accounts."""
    write_users(tmp_path, [("jane.doe@contoso.com", "Jane", "Sales", "jdoe"), ("bob@contoso.com", "Bob", "IT", "bob")])
    morning = [connection(f"2026-11-20T0{h}:00:00Z", device="dev-1", LocalIP="10.0.0.5") for h in (8, 9)]
    noon = [connection(f"2026-11-20T1{h}:00:00Z", device="dev-2", LocalIP="10.0.0.5", upn="bob@contoso.com")
            for h in (2, 3)]
    for record in morning + noon:
        hour = datetime.fromisoformat(record["time"].replace("Z", "+00:00")).replace(tzinfo=None)
        write_mde(tmp_path, "devicenetworkevents", hour, lines([record]))
    run_day(str(tmp_path), DAY)
    devices, users, days = endpoint_history(Lake(str(tmp_path)), DAY, DAY)
    assert days == 1
    asked = pa.table({"ts": pa.array([t(8, 30), t(11), t(13, 30)], TS), "ip": ["10.0.0.5"] * 3})
    assert devices.ids.lookup(asked).to_pylist() == ["dev-1", "dev-1", "dev-2"]
    on = pa.table({"ts": pa.array([t(9, 30), t(13, 30)], TS), "device_id": ["dev-1", "dev-2"]})
    assert users.logons.lookup(on).to_pylist() == ["jane.doe@contoso.com", "bob@contoso.com"]


# -- uploads: dedupe, change, archives ----------------------------------------

def test_a_reupload_of_identical_content_does_nothing_and_a_changed_file_replaces_its_snapshot(tmp_path):
    lake = Lake(str(tmp_path))
    put(lake, "agents", "a.log", ocsf_upload(4))
    first = process(lake)
    assert len(first) == 1 and first[0]["counts"]["accepted"] == 4
    assert find_uploads(lake) == []  # nothing new
    put(lake, "agents", "a.log", ocsf_upload(4))  # same bytes again (new mtime)
    again = process(lake)
    assert again[0].get("unchanged") is True and again[0]["snapshot_id"] == first[0]["snapshot_id"]
    assert find_uploads(lake) == []
    put(lake, "agents", "a.log", ocsf_upload(6))  # changed content
    changed = process(lake)
    assert changed[0]["snapshot_id"] != first[0]["snapshot_id"]
    assert [m["snapshot_id"] for m in list_snapshots(lake)] == [changed[0]["snapshot_id"]]
    assert not (tmp_path / "snapshots" / first[0]["snapshot_id"]).exists()


def test_a_snapshot_is_reproducible_bit_for_bit(tmp_path):
    for root in (tmp_path / "one", tmp_path / "two"):
        put(Lake(str(root)), "agents", "a.log.gz", gzip.compress(ocsf_upload(5), mtime=0))
    one, two = process(Lake(str(tmp_path / "one"))), process(Lake(str(tmp_path / "two")))
    digests = [{name: [f["sha256"] for f in out["files"]] for name, out in m[0]["outputs"].items()} for m in (one, two)]
    assert digests[0] == digests[1]


def _zip(members: dict[str, bytes]) -> bytes:
    sink = io.BytesIO()
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return sink.getvalue()


def test_archive_members_are_read_with_hostile_ones_refused_and_the_good_ones_kept(tmp_path):
    lake = Lake(str(tmp_path))
    archive = _zip({"../../../etc/cron.d/evil.log": ocsf_upload(3), "logs/b.log": ocsf_upload(2, hour=10),
                    "bomb.log": b"A" * 30_000_000, "notes.txt": b"hello\nworld\n"})
    put(lake, "agents", "upload.zip", archive)
    manifest = process(lake)[0]
    members = {m["path"].split("!", 1)[1]: m for m in manifest["inputs"][0]["members"]}
    assert members["../../../etc/cron.d/evil.log"]["format"] == "ocsf"
    assert "decompression bomb" in members["bomb.log"]["refused"]
    assert "no known format" in members["notes.txt"]["refused"]
    assert manifest["counts"]["accepted"] == 5 and manifest["counts"]["files_refused"] == 2
    assert manifest["counts"]["reconciled"]
    written = {str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file()}
    assert not any("cron.d" in p or "evil" in p for p in written)  # member names are never paths
    assert not (tmp_path.parent / "etc").exists()
    rows = lake.read_parquet(manifest["quarantine"]["path"]).to_pylist()
    assert sorted(r["input_path"].split("!", 1)[1] for r in rows) == ["bomb.log", "notes.txt"]


def test_bzip2_and_gzip_uploads_and_a_corrupt_archive(tmp_path):
    lake = Lake(str(tmp_path))
    put(lake, "agents", "a.log.bz2", bz2.compress(ocsf_upload(3)))
    put(lake, "agents", "b.log.gz", gzip.compress(ocsf_upload(2), mtime=0))
    put(lake, "agents", "c.zip", b"PK\x03\x04 this is not really a zip")
    put(lake, "agents", "d.log.gz", gzip.compress(ocsf_upload(3), mtime=0)[:-20])  # truncated
    by_name = {m["inputs"][0]["path"].rsplit("/", 1)[-1]: m for m in process(lake)}
    assert by_name["a.log.bz2"]["counts"]["accepted"] == 3
    assert by_name["b.log.gz"]["counts"]["accepted"] == 2
    assert by_name["c.zip"]["counts"]["files_refused"] == 1
    assert "corrupt zip archive" in by_name["c.zip"]["inputs"][0]["members"][0]["refused"]
    truncated = by_name["d.log.gz"]
    assert truncated["counts"]["reconciled"]
    assert "corrupt gzip" in json.dumps(truncated["inputs"][0]["members"])


def test_an_unknown_format_is_quarantined_whole_with_the_candidates_named(tmp_path):
    lake = Lake(str(tmp_path))
    put(lake, "misc", "x.log", b"just some text\nand more\n")
    manifest = process(lake)[0]
    assert manifest["counts"]["read"] == 0 and manifest["counts"]["files_refused"] == 1
    refused = manifest["inputs"][0]["members"][0]["refused"]
    assert refused.startswith("no known format (known: ") and "--log-format" in refused


# -- uploads in the continuous report ------------------------------------------

def test_snapshot_rows_join_the_continuous_day_and_a_later_upload_makes_the_day_stale(tmp_path):
    write_mde(tmp_path, "devicenetworkevents", datetime(2026, 11, 20, 9),
              lines([connection("2026-11-20T09:00:00Z", device="dev-1")]))
    run_day(str(tmp_path), DAY)
    lake = Lake(str(tmp_path))
    assert stale_days(lake) == []
    put(lake, "agents", "late.log", ocsf_upload(3))
    snapshot = process(lake)[0]
    assert stale_days(lake) == [DAY]  # committed before the upload: it must be rebuilt
    run_day(str(tmp_path), DAY)
    assert stale_days(lake) == []
    manifest = json.loads((tmp_path / manifest_path(DAY)).read_text())
    assert manifest["snapshots"] == [{"snapshot_id": snapshot["snapshot_id"], "rows": 3}]
    traffic = pa.concat_tables([lake.read_parquet(f["path"]) for f in manifest["outputs"]["traffic"]["files"]])
    from_upload = traffic.filter(pc.starts_with(traffic.column("input_path"), "uploads/"))
    assert from_upload.num_rows == 3
    assert manifest["outputs"]["machines"]["rows"] == 2  # dev-1 from MDE, mac-1 from the upload


# -- pieces in parallel ---------------------------------------------------------

def _read_upload(lake: Lake, rel: str, log_format: str) -> tuple[list, list, dict]:
    from etl.ingest import Settings
    from etl.snapshot import Upload, UploadReader

    reader = UploadReader(lake, Upload(rel, "proxy", log_format, "-", 0), Settings())
    rows = pa.concat_tables(list(reader.transactions()))
    quarantine = reader.quarantine_table()
    return (rows.select(["input_line", "ts", "dest_host", "account", "bytes_up", "bytes_down"]).to_pylist(),
            sorted(zip(quarantine.column("input_line").to_pylist(), quarantine.column("reason").to_pylist())),
            reader.counts.as_dict())


def test_an_upload_read_in_many_pieces_at_once_gives_the_rows_of_one_piece_in_line_order(tmp_path, monkeypatch):
    """Squid pieces are parsed two at a time; the W3C reader keeps its #Fields: header from piece
    to piece. Cut into pieces of a few lines, both must give exactly what one piece gives."""
    import etl.snapshot as snapshot
    from pathlib import Path

    golden = Path(snapshot.__file__).parent / "sources"
    cases = {"squid": (golden / "squid/golden/native.log").read_bytes() * 20 + b"not a squid line\n" +
             (golden / "squid/golden/native.log").read_bytes() * 5,
             "w3c": (golden / "w3c/golden/proxy.log").read_bytes() * 15}
    for fmt, data in cases.items():
        lake = Lake(str(tmp_path / fmt))
        rel = put(lake, "proxy", f"{fmt}.log", data)
        whole = _read_upload(lake, rel, fmt)
        monkeypatch.setattr(snapshot, "CHUNK_BYTES", 300)
        pieces = _read_upload(lake, rel, fmt)
        monkeypatch.undo()
        assert pieces == whole and len(whole[0]) > 50
        assert [r["input_line"] for r in pieces[0]] == sorted(r["input_line"] for r in pieces[0])
        assert whole[2]["read"] == len([line for line in data.splitlines() if line.strip()])
