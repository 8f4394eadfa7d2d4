"""Bad input never stops good input (the issue's "Bad input" section).

Each test builds a tiny lake in ``tmp_path`` with the real raw layout (tests/builders.py):
a handful of good ConnectionSuccess records plus one kind of bad thing, runs the day, and
checks that the day still commits, that every record is accepted, skipped or quarantined
with a reason, that the manifest's counts reconcile, and that a run only fails past the
configured reject ratio, with a message that says why.
"""
from __future__ import annotations

import gzip
import json
import zlib
from datetime import date, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from etl.ingest import Settings
from etl.pipeline import RejectRatioExceeded, run_day
from tests.builders import (
    connection, lines, mde_record, ocsf_event, write_mde, write_ocsf,
)

DAY = date(2026, 3, 10)
HOUR = datetime(2026, 3, 10, 10)
DAY_START_MS = 1773136800000 - 10 * 3600 * 1000  # 2026-03-10T00:00:00Z in epoch ms
LENIENT = Settings(max_reject_ratio=1.0)


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------

def good_connections(n: int = 4) -> list[dict]:
    """n valid outbound connections on DAY (distinct minutes, so they sort predictably)."""
    return [connection(f"2026-03-10T10:{i:02d}:00Z", url=f"www.dropbox.com/s/{i}") for i in range(n)]


def manifest_file(lake: Path, day: date = DAY) -> Path:
    return lake / "_manifests" / "reports" / f"date={day.isoformat()}.json"


def run(lake: Path, settings: Settings = LENIENT, day: date = DAY) -> dict:
    """Run the day; return the committed manifest (asserting it exists)."""
    run_day(str(lake), day, settings=settings)
    path = manifest_file(lake, day)
    assert path.is_file(), "the day did not commit: no manifest"
    return json.loads(path.read_text())


def quarantine_rows(lake: Path, source: str = "mde", day: date = DAY) -> list[dict]:
    path = lake / "quarantine" / source / f"date={day.isoformat()}" / "part-0.parquet"
    return pq.read_table(path).to_pylist() if path.exists() else []


def traffic_rows(lake: Path, day: date = DAY) -> list[dict]:
    path = lake / "reports" / "traffic" / f"date={day.isoformat()}" / "part-0.parquet"
    assert path.is_file(), "traffic partition missing"
    return pq.read_table(path).to_pylist()


def assert_counts(counts: dict, *, read: int, accepted: int, context: int = 0, skipped=None,
                  quarantined=None, other_day: int = 0, files: int = 1, files_unreadable: int = 0) -> None:
    expected = {"read": read, "accepted": accepted, "context": context, "skipped": skipped or {},
                "quarantined": quarantined or {}, "other_day": other_day, "files": files,
                "files_unreadable": files_unreadable, "reconciled": True}
    actual = {k: counts[k] for k in expected}
    assert actual == expected
    # the invariant, recomputed here rather than trusted from the manifest
    assert counts["read"] == (counts["accepted"] + counts["context"] + sum(counts["skipped"].values())
                              + sum(counts["quarantined"].values()) + counts["other_day"])


def rel(lake: Path, path: Path) -> str:
    return path.relative_to(lake).as_posix()


def assert_good_traffic(lake: Path, n: int = 4, path: str | None = None) -> None:
    rows = [r for r in traffic_rows(lake) if r["source"] == "mde"]
    assert len(rows) == n
    assert {r["dest_host"] for r in rows} == {"www.dropbox.com"}
    assert {r["user"] for r in rows} == {"jane.doe@contoso.com"}
    if path is not None:
        assert {r["input_path"] for r in rows} == {path}


def gzip_cut_inside_last_line(payload: bytes) -> tuple[bytes, bytes]:
    """(complete gz, the same gz with its tail cut off half-way through the last line).

    The stream is sync-flushed at the cut point, so what a decoder can still recover from the
    cut file is exactly ``payload[:cut]``: every line but the last, and half of the last.
    """
    last_line_start = payload.rstrip(b"\n").rfind(b"\n") + 1
    cut = last_line_start + (len(payload) - last_line_start) // 2
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    head = comp.compress(payload[:cut]) + comp.flush(zlib.Z_SYNC_FLUSH)
    full = head + comp.compress(payload[cut:]) + comp.flush()
    assert gzip.decompress(full) == payload
    return full, head


# ---------------------------------------------------------------------------
# truncated / corrupt gzip
# ---------------------------------------------------------------------------

def test_truncated_gzip_recovers_complete_lines_and_quarantines_the_broken_tail(tmp_path):
    lake = tmp_path / "lake"
    records = good_connections(6)
    payload = lines(records)
    full, cut = gzip_cut_inside_last_line(payload)
    assert len(cut) < len(full)
    path = write_mde(lake, "devicenetworkevents", HOUR, cut, name="PT1H.json.gz")

    counts = run(lake)["counts"]["mde"]
    assert_counts(counts, read=6, accepted=5, quarantined={"invalid JSON": 1})
    assert any(rel(lake, path) in w and "truncated" in w for w in counts["warnings"]), counts["warnings"]

    q = quarantine_rows(lake)
    assert len(q) == 1
    broken_last = payload.split(b"\n")[5]
    assert q[0]["input_line"] == 6
    assert q[0]["reason"].startswith("invalid JSON")
    assert q[0]["input_path"] == rel(lake, path)
    assert q[0]["raw"] and broken_last.decode().startswith(q[0]["raw"])  # the recovered half line
    assert len(q[0]["raw"]) < len(broken_last)

    rows = traffic_rows(lake)
    assert sorted(r["input_line"] for r in rows) == [1, 2, 3, 4, 5]


def test_gzip_garbage_after_header_is_quarantined_whole(tmp_path):
    lake = tmp_path / "lake"
    good = write_mde(lake, "devicenetworkevents", HOUR, lines(good_connections(4)))
    valid_gz = gzip.compress(lines(good_connections(3)), mtime=0)
    corrupt = valid_gz[:10] + b"\xff" * 64  # a gzip header, then nothing deflate can decode
    bad = write_mde(lake, "devicenetworkevents", datetime(2026, 3, 10, 11), corrupt, name="PT1H.json.gz")

    counts = run(lake)["counts"]["mde"]
    assert_counts(counts, read=4, accepted=4, files=2, files_unreadable=1)

    q = quarantine_rows(lake)
    assert len(q) == 1
    assert q[0]["input_path"] == rel(lake, bad)
    assert q[0]["reason"].startswith("unreadable file")
    assert "gzip" in q[0]["reason"]
    assert q[0]["input_line"] is None
    assert_good_traffic(lake, 4, rel(lake, good))


# ---------------------------------------------------------------------------
# broken lines and broken records
# ---------------------------------------------------------------------------

def test_non_json_lines_are_quarantined_with_their_text(tmp_path):
    lake = tmp_path / "lake"
    good = good_connections(4)
    bad_1 = '{"time": "2026-03-10T10:30:00Z", "category": "AdvancedHunting-DeviceNetworkEvents", "properties": {'
    bad_2 = "this is not json at all"
    path = write_mde(lake, "devicenetworkevents", HOUR, lines([good[0], bad_1, good[1], good[2], bad_2, good[3]]))

    counts = run(lake)["counts"]["mde"]
    assert_counts(counts, read=6, accepted=4, quarantined={"invalid JSON": 2})

    q = sorted(quarantine_rows(lake), key=lambda r: r["input_line"])
    assert [(r["input_line"], r["raw"]) for r in q] == [(2, bad_1), (5, bad_2)]
    assert all(r["reason"].startswith("invalid JSON") and r["source"] == "mde" for r in q)
    assert all(r["input_path"] == rel(lake, path) for r in q)
    assert_good_traffic(lake, 4)
    assert sorted(r["input_line"] for r in traffic_rows(lake)) == [1, 3, 4, 6]


def test_records_missing_a_required_field_are_quarantined(tmp_path):
    lake = tmp_path / "lake"
    no_device = connection("2026-03-10T10:40:00Z")
    del no_device["properties"]["DeviceId"]
    empty_device = connection("2026-03-10T10:41:00Z", device="")
    no_timestamp = connection("2026-03-10T10:42:00Z")
    del no_timestamp["properties"]["Timestamp"]  # cannot be dated: belongs to its file's arrival day
    bad = [no_device, empty_device, no_timestamp]
    write_mde(lake, "devicenetworkevents", HOUR, lines(good_connections(4) + bad))

    counts = run(lake)["counts"]["mde"]
    assert_counts(counts, read=7, accepted=4, quarantined={
        "DeviceId: missing": 1, "DeviceId: shorter than 1": 1, "Timestamp: missing": 1})

    q = {r["input_line"]: r for r in quarantine_rows(lake)}
    assert sorted(q) == [5, 6, 7]
    assert q[5]["reason"] == "DeviceId: missing"
    assert q[6]["reason"] == "DeviceId: shorter than 1"
    assert q[7]["reason"] == "Timestamp: missing"
    for line, record in zip((5, 6, 7), bad):
        assert json.loads(q[line]["raw"]) == record
    assert_good_traffic(lake, 4)


def test_wrong_type_is_quarantined_with_the_column_named(tmp_path):
    lake = tmp_path / "lake"
    bad = connection("2026-03-10T10:40:00Z", RemotePort="443")
    write_mde(lake, "devicenetworkevents", HOUR, lines(good_connections(4) + [bad]))

    counts = run(lake)["counts"]["mde"]
    assert counts["read"] == 5 and counts["accepted"] == 4 and counts["reconciled"]
    assert counts["skipped"] == {} and counts["other_day"] == 0
    assert sum(counts["quarantined"].values()) == 1
    (key,) = counts["quarantined"]
    assert key.startswith("wrong type: RemotePort")

    (q,) = quarantine_rows(lake)
    assert q["input_line"] == 5
    assert q["reason"].startswith("wrong type: RemotePort")
    assert "int64" in q["reason"] and "'443'" in q["reason"]
    assert json.loads(q["raw"]) == bad
    assert_good_traffic(lake, 4)


def test_wrong_type_count_key_has_no_dangling_comma(tmp_path):
    """The manifest groups `wrong type` reasons by cutting at " got "; the key keeps the comma
    that preceded it ("wrong type: RemotePort: expected int64,").  [product bug: etl/ingest.py
    _reason_key]"""
    lake = tmp_path / "lake"
    write_mde(lake, "devicenetworkevents", HOUR,
              lines(good_connections(4) + [connection("2026-03-10T10:40:00Z", RemotePort="443")]))
    counts = run(lake)["counts"]["mde"]
    assert counts["quarantined"] == {"wrong type: RemotePort: expected int64": 1}


def test_out_of_range_value_is_quarantined(tmp_path):
    lake = tmp_path / "lake"
    bad = connection("2026-03-10T10:40:00Z", RemotePort=70000)
    write_mde(lake, "devicenetworkevents", HOUR, lines(good_connections(4) + [bad]))
    counts = run(lake)["counts"]["mde"]
    assert_counts(counts, read=5, accepted=4, quarantined={"RemotePort: out of range [0, 65535]": 1})
    (q,) = quarantine_rows(lake)
    assert json.loads(q["raw"]) == bad


def test_unknown_category_is_skipped_with_its_table_name(tmp_path):
    lake = tmp_path / "lake"
    file_event = mde_record("DeviceFileEvents", "2026-03-10T10:40:00Z", DeviceId="dev-1",
                            DeviceName="dev-1.corp.contoso.com", ActionType="FileCreated", FileName="report.docx")
    write_mde(lake, "devicenetworkevents", HOUR, lines([file_event] + good_connections(4)))

    counts = run(lake)["counts"]["mde"]
    assert_counts(counts, read=5, accepted=4, skipped={"category:DeviceFileEvents": 1})
    assert quarantine_rows(lake) == []
    assert_good_traffic(lake, 4)


# ---------------------------------------------------------------------------
# empty files, wrong-table files
# ---------------------------------------------------------------------------

def test_empty_file_alone_commits_an_empty_day(tmp_path):
    lake = tmp_path / "lake"
    write_mde(lake, "devicenetworkevents", HOUR, b"")

    counts = run(lake)["counts"]["mde"]
    assert_counts(counts, read=0, accepted=0)
    assert counts["warnings"] == []
    assert traffic_rows(lake) == []


@pytest.mark.parametrize("payload, gz", [(b"", False), (b"", True), (b"\n\r\n\n", False)],
                         ids=["empty", "empty-gz", "blank-lines"])
def test_empty_file_next_to_good_files(tmp_path, payload, gz):
    lake = tmp_path / "lake"
    write_mde(lake, "devicenetworkevents", HOUR, lines(good_connections(4)))
    write_mde(lake, "devicenetworkevents", datetime(2026, 3, 10, 11), payload, gz=gz)

    counts = run(lake)["counts"]["mde"]
    assert_counts(counts, read=4, accepted=4, files=2)
    assert quarantine_rows(lake) == []
    assert_good_traffic(lake, 4)


def test_wrong_table_file_in_a_folder_is_used_as_context_with_a_warning(tmp_path):
    lake = tmp_path / "lake"
    infos = [
        mde_record("DeviceInfo", f"2026-03-10T09:{m:02d}:00Z", DeviceId="dev-1", DeviceName="DEV-1.corp.contoso.com",
                   OSPlatform="Windows11", PublicIP="198.51.100.20",
                   LoggedOnUsers='[{"UserName":"jdoe","DomainName":"CONTOSO"}]')
        for m in (0, 30)
    ]
    path = write_mde(lake, "devicenetworkevents", HOUR, lines(infos + good_connections(4)))

    counts = run(lake)["counts"]["mde"]
    assert_counts(counts, read=6, accepted=4, context=2)
    mismatch = [w for w in counts["warnings"] if rel(lake, path) in w]
    assert len(mismatch) == 1, counts["warnings"]
    assert "2 records" in mismatch[0] and "DeviceNetworkEvents" in mismatch[0]
    assert quarantine_rows(lake) == []
    assert_good_traffic(lake, 4)
    machines = pq.read_table(lake / "reports" / "machines" / f"date={DAY}" / "part-0.parquet").to_pylist()
    assert [m["os"] for m in machines if m["device_id"] == "dev-1"] == ["Windows11"]


def test_file_of_only_another_table_in_a_folder(tmp_path):
    lake = tmp_path / "lake"
    logons = [mde_record("DeviceLogonEvents", "2026-03-10T09:00:00Z", DeviceId="dev-1", DeviceName="dev-1",
                         ActionType="LogonSuccess", LogonType="Interactive", AccountName="jdoe",
                         AccountDomain="contoso")]
    write_mde(lake, "devicenetworkevents", HOUR, lines(good_connections(4)))
    path = write_mde(lake, "devicenetworkevents", datetime(2026, 3, 10, 11), lines(logons))
    counts = run(lake)["counts"]["mde"]
    assert_counts(counts, read=5, accepted=4, context=1, files=2)
    assert any(rel(lake, path) in w and "DeviceNetworkEvents" in w for w in counts["warnings"])


# ---------------------------------------------------------------------------
# the reject ratio
# ---------------------------------------------------------------------------

def _bad_fixture(lake: Path) -> None:
    """4 good records, 2 broken lines: 2 of 6 (33.3%) quarantined."""
    good = good_connections(4)
    write_mde(lake, "devicenetworkevents", HOUR, lines([good[0], "{oops", good[1], good[2], "not json", good[3]]))


def test_reject_ratio_above_the_limit_fails_with_a_clear_message(tmp_path):
    lake = tmp_path / "lake"
    _bad_fixture(lake)
    with pytest.raises(RejectRatioExceeded) as info:
        run_day(str(lake), DAY, settings=Settings(max_reject_ratio=0.01))
    message = str(info.value)
    assert "2 of 6" in message
    assert "33.3%" in message          # the ratio seen
    assert "1.0%" in message           # the limit
    assert "invalid JSON (2)" in message  # the top reason
    assert str(DAY) in message
    assert not manifest_file(lake).exists()
    assert not (lake / "reports" / "traffic" / f"date={DAY}").exists()


def test_reject_ratio_default_limit_is_five_percent(tmp_path):
    lake = tmp_path / "lake"
    _bad_fixture(lake)
    with pytest.raises(RejectRatioExceeded, match="5.0%"):
        run_day(str(lake), DAY)
    assert not manifest_file(lake).exists()


def test_reject_ratio_at_the_limit_still_commits(tmp_path):
    """1 bad line in 20 is exactly 5%: not *above* the default limit."""
    lake = tmp_path / "lake"
    good = [connection(f"2026-03-10T10:{i:02d}:00Z") for i in range(19)]
    write_mde(lake, "devicenetworkevents", HOUR, lines(good + ["{broken"]))
    counts = run(lake, Settings())["counts"]["mde"]
    assert_counts(counts, read=20, accepted=19, quarantined={"invalid JSON": 1})


def test_reject_ratio_is_configurable_from_the_environment(tmp_path, monkeypatch):
    lake = tmp_path / "lake"
    _bad_fixture(lake)
    monkeypatch.setenv("CLOUD_DISCOVERY_MAX_REJECT_RATIO", "0.5")
    settings = Settings.from_env()
    assert settings.max_reject_ratio == 0.5
    counts = run(lake, settings)["counts"]["mde"]
    assert_counts(counts, read=6, accepted=4, quarantined={"invalid JSON": 2})


def test_failed_rerun_keeps_the_previous_commit(tmp_path):
    lake = tmp_path / "lake"
    write_mde(lake, "devicenetworkevents", HOUR, lines(good_connections(4)))
    before = run(lake, Settings())
    extra = lines([connection("2026-03-10T11:00:00Z"), "{a", "{b", "{c"])  # 3 of 8 bad: above 5%
    write_mde(lake, "devicenetworkevents", datetime(2026, 3, 10, 11), extra)
    with pytest.raises(RejectRatioExceeded):
        run_day(str(lake), DAY, settings=Settings())
    assert json.loads(manifest_file(lake).read_text()) == before
    assert len(traffic_rows(lake)) == 4


# ---------------------------------------------------------------------------
# OCSF: the declared rules quarantine OCSF rows too
# ---------------------------------------------------------------------------

def test_ocsf_rule_violations_are_quarantined(tmp_path):
    lake = tmp_path / "lake"
    t = DAY_START_MS + 10 * 3600 * 1000
    good = [ocsf_event(t + i * 60_000) for i in range(4)]
    wrong_class = ocsf_event(t + 5 * 60_000, class_uid=4003)
    negative = ocsf_event(t + 6 * 60_000, bytes_in=-5)
    path = write_ocsf(lake, DAY.isoformat(), "agent-1.json", lines(good + [wrong_class, negative]))

    counts = run(lake)["counts"]["ocsf"]
    assert_counts(counts, read=6, accepted=4, quarantined={
        "class_uid: not one of [4001, 4002]": 1, "bytes_in: out of range [0, inf]": 1})

    q = {r["input_line"]: r for r in quarantine_rows(lake, "ocsf")}
    assert sorted(q) == [5, 6]
    assert q[5]["reason"] == "class_uid: not one of [4001, 4002]"
    assert q[6]["reason"] == "bytes_in: out of range [0, inf]"
    assert json.loads(q[5]["raw"]) == wrong_class and json.loads(q[6]["raw"]) == negative
    assert all(r["input_path"] == rel(lake, path) and r["source"] == "ocsf" for r in q.values())

    rows = [r for r in traffic_rows(lake) if r["source"] == "ocsf"]
    assert len(rows) == 4
    assert {(r["dest_host"], r["bytes_up"], r["bytes_down"]) for r in rows} == {("chatgpt.com", 200, 1000)}


# ---------------------------------------------------------------------------
# inputs that once stopped the day or lost good records
# ---------------------------------------------------------------------------

def test_non_json_first_line_does_not_lose_the_rest_of_the_file(tmp_path):
    """A broken *first* line must not make the whole file look like an unknown format."""
    lake = tmp_path / "lake"
    write_mde(lake, "devicenetworkevents", HOUR, lines(["garbage before the first record"] + good_connections(4)))
    counts = run(lake)["counts"]["mde"]
    assert_counts(counts, read=5, accepted=4, quarantined={"invalid JSON": 1})
    assert_good_traffic(lake, 4)


def test_utf8_bom_does_not_hide_the_file(tmp_path):
    """A UTF-8 byte order mark (Windows tools write one) must not hide the format."""
    lake = tmp_path / "lake"
    write_mde(lake, "devicenetworkevents", HOUR, b"\xef\xbb\xbf" + lines(good_connections(4)))
    counts = run(lake)["counts"]["mde"]
    assert_counts(counts, read=4, accepted=4)


def test_impossible_calendar_date_is_quarantined_not_fatal(tmp_path):
    """'2026-02-30T10:00:00Z' has the shape of ISO 8601 but is no real instant."""
    lake = tmp_path / "lake"
    impossible = connection("2026-02-30T10:00:00Z")
    impossible["time"] = "2026-11-20T10:05:00.0000000Z"
    write_mde(lake, "devicenetworkevents", HOUR, lines(good_connections(4) + [impossible]))
    counts = run(lake)["counts"]["mde"]
    assert counts["read"] == 5 and counts["accepted"] == 4 and counts["reconciled"]
    assert sum(counts["quarantined"].values()) == 1
    assert next(iter(counts["quarantined"])).startswith("Timestamp")
    assert_good_traffic(lake, 4)


def test_integer_beyond_int64_is_quarantined_not_fatal(tmp_path):
    """An integer beyond int64 is one bad line, not an overflow that stops the file."""
    lake = tmp_path / "lake"
    write_mde(lake, "devicenetworkevents", HOUR,
              lines(good_connections(4) + [connection("2026-03-10T10:40:00Z", RemotePort=10 ** 20)]))
    counts = run(lake)["counts"]["mde"]
    assert counts["read"] == 5 and counts["accepted"] == 4 and counts["reconciled"]
    assert sum(counts["quarantined"].values()) == 1
    assert "RemotePort" in next(iter(counts["quarantined"]))
    assert_good_traffic(lake, 4)


def test_invalid_utf8_line_is_not_fatal(tmp_path):
    """pyarrow's JSON reader does not validate UTF-8: a latin-1 line must be quarantined, not
    reach the string columns."""
    lake = tmp_path / "lake"
    good = good_connections(4)
    latin1 = lines([connection("2026-03-10T10:40:00Z", device="dev-2")]).replace(b"dev-2.corp", b"caf\xe9.corp")
    write_mde(lake, "devicenetworkevents", HOUR, lines(good[:2]) + latin1 + lines(good[2:]))
    counts = run(lake)["counts"]["mde"]
    assert counts["read"] == 5 and counts["reconciled"]
    assert counts["accepted"] + sum(counts["quarantined"].values()) == 5
    rows = traffic_rows(lake)  # whatever was kept is valid text (reading it back would fail otherwise)
    assert sum(1 for r in rows if r["device_id"] == "dev-1") == 4
