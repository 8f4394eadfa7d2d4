"""One day end to end (direct, no Airflow): reconciliation, idempotency, atomic commit, lateness."""
import json
from datetime import date, datetime, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from etl import schema
from etl.pipeline import run_day
from etl.query import is_committed
from etl.storage import Lake, manifest_path
from tests.builders import connection, lines, output_digests, output_file_names, write_mde, write_users
from tests.conftest import DEMO_DAY

UTC = timezone.utc


def manifest(root: Path, day: date) -> dict:
    return json.loads((root / manifest_path(day)).read_text())


def twin(lake: Path, tmp_path: Path) -> Path:
    """A copy of a lake, to build the same day twice under different settings."""
    import shutil

    other = tmp_path / "other"
    shutil.copytree(lake, other)
    return other


def test_generated_day_reconciles_and_writes_every_table(generated_lake):
    result = run_day(str(generated_lake), DEMO_DAY)
    m = manifest(generated_lake, DEMO_DAY)
    assert set(m["counts"]) == {"mde", "ocsf"}
    for source, counts in m["counts"].items():
        assert counts["reconciled"], source
        assert counts["read"] == (counts["accepted"] + counts["context"] + sum(counts["skipped"].values())
                                  + sum(counts["quarantined"].values()) + counts["other_day"])
    traffic = pq.read_table(generated_lake / m["outputs"]["traffic"]["path"])
    assert traffic.num_rows == sum(c["accepted"] for c in m["counts"].values()) == result["transactions"]
    assert traffic.schema.equals(schema.report_schema("traffic"))
    for table in schema.report_tables():
        files = sorted(f.name for f in (generated_lake / "reports" / table / f"date={DEMO_DAY}").iterdir())
        assert files == output_file_names(m, table), table
        assert m["outputs"][table]["path"] == f"reports/{table}/date={DEMO_DAY}"
        assert m["outputs"][table]["rows"] == sum(f["rows"] for f in m["outputs"][table]["files"])
    assert output_file_names(m, "machines") == ["part-0.parquet"]
    # MDE has no byte counts: null, never 0
    mde = traffic.filter(pc.equal(traffic.column("source"), "mde"))
    assert mde.num_rows and mde.column("bytes_up").null_count == mde.num_rows
    assert m["inputs"] and all({"path", "size", "sha256"} <= set(i) for i in m["inputs"])
    assert m["catalog_version"] and m["code_version"]
    assert all(v["success"] for v in m["validation"])
    # every accepted transaction is attributed by exactly one method, or counted as unattributed
    assert sum(m["attribution"].values()) == traffic.num_rows


def test_rerun_replaces_the_day_exactly(generated_lake, tmp_path):
    run_day(str(generated_lake), DEMO_DAY)
    first = manifest(generated_lake, DEMO_DAY)
    run_day(str(generated_lake), DEMO_DAY)
    second = manifest(generated_lake, DEMO_DAY)
    assert output_digests(first) == output_digests(second)
    for table in schema.report_tables():
        files = sorted(f.name for f in (generated_lake / "reports" / table / f"date={DEMO_DAY}").iterdir())
        assert files == output_file_names(second, table)
    assert not (generated_lake / "_staging" / f"date={DEMO_DAY}").exists() or not any(
        (generated_lake / "_staging" / f"date={DEMO_DAY}").iterdir())


def test_a_crash_during_commit_leaves_the_day_uncommitted_and_a_rerun_repairs_it(generated_lake, monkeypatch):
    run_day(str(generated_lake), DEMO_DAY)
    assert is_committed(Lake(str(generated_lake)), DEMO_DAY)
    moves = []
    real_move = Lake.move

    def crashing_move(self, src, dst):
        moves.append(dst)
        if len(moves) == 3:
            raise OSError("disk went away")
        return real_move(self, src, dst)

    monkeypatch.setattr(Lake, "move", crashing_move)
    with pytest.raises(OSError):
        run_day(str(generated_lake), DEMO_DAY)
    assert not is_committed(Lake(str(generated_lake)), DEMO_DAY)
    monkeypatch.setattr(Lake, "move", real_move)
    run_day(str(generated_lake), DEMO_DAY)
    assert is_committed(Lake(str(generated_lake)), DEMO_DAY)


def day_lake(root: Path):
    write_users(root, [("jane.doe@contoso.com", "Jane Doe", "Sales", "jdoe")])
    return root


def test_late_event_is_counted_by_the_day_that_finds_it_and_included_when_its_day_reruns(tmp_path):
    root = day_lake(tmp_path / "lake")
    d = date(2026, 11, 20)
    on_time = connection("2026-11-20T10:00:00.0000000Z", url="www.dropbox.com")
    in_grace = connection("2026-11-20T23:50:00.0000000Z", url="slack.com")          # arrives D+1 03:00
    late = connection("2026-11-20T12:00:00.0000000Z", url="chatgpt.com")            # arrives D+2 10:00
    next_day = connection("2026-11-22T10:05:00.0000000Z", url="github.com")
    write_mde(root, "devicenetworkevents", datetime(2026, 11, 20, 10), lines([on_time]))
    write_mde(root, "devicenetworkevents", datetime(2026, 11, 21, 3), lines([in_grace]))
    write_mde(root, "devicenetworkevents", datetime(2026, 11, 22, 10), lines([late, next_day]))

    run_day(str(root), d)
    first = manifest(root, d)
    assert first["counts"]["mde"]["accepted"] == 2          # on time + within the lateness window
    assert first["counts"]["mde"]["late"] == {}

    run_day(str(root), date(2026, 11, 22))
    finder = manifest(root, date(2026, 11, 22))
    assert finder["counts"]["mde"]["late"] == {"2026-11-20": 1}
    assert finder["counts"]["mde"]["accepted"] == 1 and finder["counts"]["mde"]["other_day"] == 1

    run_day(str(root), d)
    again = manifest(root, d)
    assert again["counts"]["mde"]["accepted"] == 3
    assert any(i["role"] == "stray" for i in again["inputs"])
    hosts = pq.read_table(root / again["outputs"]["traffic"]["path"]).column("dest_host").to_pylist()
    assert sorted(hosts) == ["chatgpt.com", "slack.com", "www.dropbox.com"]

    run_day(str(root), date(2026, 11, 21))   # the D+1 run reads the grace file but does not re-count it
    d1 = manifest(root, date(2026, 11, 21))
    assert d1["counts"]["mde"]["accepted"] == 0 and d1["counts"]["mde"]["other_day"] == 1
    assert d1["counts"]["mde"]["late"] == {}


def test_users_in_traffic_are_directory_upns(tmp_path):
    root = day_lake(tmp_path / "lake")
    records = [connection("2026-11-20T10:00:00Z", upn=None, InitiatingProcessAccountName="JDOE",
                          InitiatingProcessAccountDomain="CONTOSO"),
               connection("2026-11-20T10:01:00Z", upn="Jane.Doe@Contoso.com"),
               connection("2026-11-20T10:02:00Z", upn=None, InitiatingProcessAccountName="system",
                          InitiatingProcessAccountDomain="nt authority")]
    write_mde(root, "devicenetworkevents", datetime(2026, 11, 20, 10), lines(records))
    run_day(str(root), date(2026, 11, 20))
    m = manifest(root, date(2026, 11, 20))
    traffic = pq.read_table(root / m["outputs"]["traffic"]["path"])
    assert traffic.column("user").to_pylist() == ["jane.doe@contoso.com", "jane.doe@contoso.com", None]
    users = pq.read_table(root / m["outputs"]["users"]["path"]).to_pylist()
    assert users[0]["display_name"] == "Jane Doe" and users[0]["transactions"] == 2


def test_reports_are_the_same_when_traffic_spans_many_row_groups(generated_lake, tmp_path, monkeypatch):
    """Row groups carry their own dictionaries; the reports must not care how traffic was chunked."""
    from etl.storage import ParquetSink

    other = twin(generated_lake, tmp_path)
    run_day(str(generated_lake), DEMO_DAY)
    monkeypatch.setattr(ParquetSink, "ROW_GROUP_ROWS", 50)
    run_day(str(other), DEMO_DAY)
    traffic_files = manifest(other, DEMO_DAY)["outputs"]["traffic"]["files"]
    assert sum(pq.ParquetFile(other / f["path"]).num_row_groups for f in traffic_files) > 10
    for table in ("machines", "apps", "machine_users", "unknown_domains"):
        a = pq.read_table(generated_lake / manifest(generated_lake, DEMO_DAY)["outputs"][table]["path"])
        b = pq.read_table(other / manifest(other, DEMO_DAY)["outputs"][table]["path"])
        assert a.equals(b), table


def test_objects_parsed_in_small_chunks_give_the_same_day(tmp_path, monkeypatch):
    """Big exports are parsed in pieces; line numbers, quarantine and results must not change."""
    import shutil

    from etl import ingest

    root = day_lake(tmp_path / "a")
    records = [connection(f"2026-11-20T10:{i:02d}:00Z", url=f"host{i % 7}.example.com") for i in range(40)]
    payload = lines(records[:10]) + b"not json at all\n\n" + lines(records[10:25]) + b'{"broken": \n' + lines(records[25:])
    write_mde(root, "devicenetworkevents", datetime(2026, 11, 20, 10), payload)
    chunked = tmp_path / "b"
    shutil.copytree(root, chunked)
    run_day(str(root), date(2026, 11, 20))
    monkeypatch.setattr(ingest, "CHUNK_BYTES", 700)
    run_day(str(chunked), date(2026, 11, 20))
    one, many = manifest(root, date(2026, 11, 20)), manifest(chunked, date(2026, 11, 20))
    assert one["counts"] == many["counts"]
    assert one["counts"]["mde"]["quarantined"] == {"invalid JSON": 2}
    for table in ("traffic", "machines"):
        assert pq.read_table(root / one["outputs"][table]["path"]).equals(
            pq.read_table(chunked / many["outputs"][table]["path"]))
    q1 = pq.read_table(root / one["quarantine"]["mde"]["path"]).to_pylist()
    q2 = pq.read_table(chunked / many["quarantine"]["mde"]["path"]).to_pylist()
    assert q1 == q2 and [r["input_line"] for r in q1] == [11, 28]
    assert q1[0]["raw"] == "not json at all"


def test_pieces_cut_after_newlines_and_number_lines():
    from etl.sources.framing.lines import PieceCutter

    data = b"a\nbb\n\nccc\ndddd"

    def cut(blocks, size):  # a piece is only valid until the next one: copy each
        return [(bytes(piece), first, newlines) for piece, first, newlines in PieceCutter(size).pieces(blocks)]

    pieces = cut([data[:4], data[4:9], data[9:]], 3)
    assert pieces == [(b"a\nbb\n", 1, 2), (b"\nccc\n", 3, 2), (b"dddd", 5, 0)]
    assert cut([data], 100) == [(data, 1, 4)]
    assert cut([b"x" * 10, b"y\nz"], 4) == [(b"x" * 10 + b"y\n", 1, 1), (b"z", 2, 0)]


def test_pieces_still_held_elsewhere_keep_their_bytes():
    """A piece whose buffer is still exported (say, to Arrow) is not overwritten by the next ones."""
    import pyarrow as pa

    from etl.sources.framing.lines import PieceCutter

    data = b"".join(b"line %d\n" % i for i in range(50))
    held = [pa.py_buffer(piece) for piece, _, _ in PieceCutter(20).pieces([data[i:i + 7] for i in range(0, len(data), 7)])]
    assert b"".join(buffer.to_pybytes() for buffer in held) == data
    assert len(held) > 5


def test_users_directory_may_be_parquet(tmp_path):
    import pyarrow as pa

    root = tmp_path / "lake"
    (root / "reference").mkdir(parents=True)
    pq.write_table(pa.table({"upn": ["Jane.Doe@contoso.com"], "display_name": ["Jane Doe"], "department": ["Sales"],
                             "sam_account_name": ["jdoe"]}), root / "reference" / "users.parquet")
    write_mde(root, "devicenetworkevents", datetime(2026, 11, 20, 10),
              lines([connection("2026-11-20T10:00:00Z", upn=None, InitiatingProcessAccountName="JDOE")]))
    run_day(str(root), date(2026, 11, 20))
    m = manifest(root, date(2026, 11, 20))
    assert pq.read_table(root / m["outputs"]["users"]["path"]).to_pylist()[0]["department"] == "Sales"
    assert any(i["path"] == "reference/users.parquet" and i["sha256"] for i in m["inputs"])


def test_concatenated_gzip_members_are_all_read(tmp_path):
    """`cat a.gz b.gz > c.gz` is a valid gzip file: every member's lines count."""
    import gzip

    root = day_lake(tmp_path / "lake")
    first = [connection(f"2026-11-20T10:0{i}:00Z") for i in range(3)]
    second = [connection(f"2026-11-20T11:0{i}:00Z") for i in range(4)]
    path = write_mde(root, "devicenetworkevents", datetime(2026, 11, 20, 11), b"", gz=True)
    path.write_bytes(gzip.compress(lines(first), mtime=0) + gzip.compress(lines(second), mtime=0))
    run_day(str(root), date(2026, 11, 20))
    counts = manifest(root, date(2026, 11, 20))["counts"]["mde"]
    assert counts["read"] == 7 and counts["accepted"] == 7 and not counts["warnings"]


def test_raw_stream_hashes_the_whole_object_even_when_decoding_stops(tmp_path, monkeypatch):
    import gzip
    import hashlib

    from etl.storage import RawStream

    root = tmp_path / "lake"
    root.mkdir()
    good = gzip.compress(b'{"a": 1}\n' * 1000, mtime=0)
    broken = good[:200] + b"\x00garbage" * 50 + good[200:]
    (root / "x.json.gz").write_bytes(broken)
    monkeypatch.setattr(RawStream, "BLOCK_BYTES", 64)
    stream = Lake(str(root)).raw_stream("x.json.gz")
    text = b"".join(stream.blocks())
    assert stream.problem and stream.problem.startswith("corrupt gzip")
    assert stream.size == len(broken) and stream.sha256 == hashlib.sha256(broken).hexdigest()
    assert (b'{"a": 1}\n' * 1000).startswith(text)  # what was decoded before the damage is kept


def test_failed_attempt_keeps_its_stage_for_inspection_until_a_run_commits(tmp_path):
    from etl.ingest import Settings
    from etl.pipeline import RejectRatioExceeded

    root = day_lake(tmp_path / "lake")
    write_mde(root, "devicenetworkevents", datetime(2026, 11, 20, 10),
              lines([connection("2026-11-20T10:00:00Z"), "not json"]))
    with pytest.raises(RejectRatioExceeded, match="1 of 2 records quarantined"):
        run_day(str(root), date(2026, 11, 20))
    staged = list((root / "_staging" / "date=2026-11-20").glob("*/quarantine/mde.parquet"))
    assert len(staged) == 1 and pq.read_table(staged[0]).column("raw").to_pylist() == ["not json"]
    run_day(str(root), date(2026, 11, 20), settings=Settings(max_reject_ratio=0.6))
    assert not (root / "_staging" / "date=2026-11-20").exists()
    assert is_committed(Lake(str(root)), date(2026, 11, 20))


def test_range_reports_count_distinct_over_the_whole_range(generated_lake):
    from datetime import timedelta

    from etl import query

    lake = Lake(str(generated_lake))
    days = [DEMO_DAY, DEMO_DAY + timedelta(days=1)]
    for day in days:
        run_day(str(generated_lake), day)
    apps = {r["app_id"]: r for r in query.apps_report(lake, days[0], days[1]).to_pylist()}
    traffic = pa.concat_tables([pq.read_table(generated_lake / manifest(generated_lake, d)["outputs"]["traffic"]["path"])
                                for d in days])
    expected = traffic.filter(pc.is_valid(traffic.column("app_id"))).group_by("app_id").aggregate(
        [("app_id", "count"), ("user", "count_distinct"), ("device_id", "count_distinct")])
    for row in expected.to_pylist():
        got = apps[row["app_id"]]
        assert (got["transactions"], got["users"], got["machines"]) == (
            row["app_id_count"], row["user_count_distinct"], row["device_id_count_distinct"])


def test_parts_read_in_child_processes_give_the_same_files_as_threads(generated_lake, tmp_path, monkeypatch):
    """Big days read their parts in worker processes, small ones on threads: the files must not differ."""
    from etl import pipeline

    other = twin(generated_lake, tmp_path)
    run_day(str(generated_lake), DEMO_DAY)
    monkeypatch.setattr(pipeline, "PROCESS_PARTS_MIN_BYTES", 0)
    run_day(str(other), DEMO_DAY)
    threads, processes = manifest(generated_lake, DEMO_DAY), manifest(other, DEMO_DAY)
    assert len(processes["outputs"]["traffic"]["files"]) == 2
    assert output_digests(threads) == output_digests(processes)
    assert threads["counts"] == processes["counts"] and threads["attribution"] == processes["attribution"]


def test_one_worker_or_three_give_the_same_reports(generated_lake, tmp_path):
    from etl.ingest import Settings

    other = twin(generated_lake, tmp_path)
    run_day(str(generated_lake), DEMO_DAY, settings=Settings(workers=1))
    run_day(str(other), DEMO_DAY, settings=Settings(workers=3))
    one, three = manifest(generated_lake, DEMO_DAY), manifest(other, DEMO_DAY)
    assert [len(m["outputs"]["traffic"]["files"]) for m in (one, three)] == [1, 3]
    assert one["counts"] == three["counts"]
    for table in schema.report_tables():
        if table != "traffic":
            assert output_digests(one)[table] == output_digests(three)[table], table
    keys = [("input_path", "ascending"), ("input_line", "ascending")]
    assert pq.read_table(generated_lake / one["outputs"]["traffic"]["path"]).sort_by(keys).equals(
        pq.read_table(other / three["outputs"]["traffic"]["path"]).sort_by(keys))


def test_split_into_parts_balances_bytes_and_keeps_path_order():
    from etl.ingest import PlannedInput, split_into_parts

    def item(path, size):
        return PlannedInput(path, size, "mde", None, None, "window")

    items = [item("a", 50), item("b", 40), item("c", 30), item("d", 20), item("e", 10)]
    parts = split_into_parts(items, 2)
    assert [[i.path for i in part] for part in parts] == [["a", "d", "e"], ["b", "c"]]
    assert [len(p) for p in split_into_parts(items[:1], 4)] == [1]
    assert split_into_parts([], 2) == [[]]
