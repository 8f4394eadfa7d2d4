"""Snapshot parse throughput: generated Squid and PAN-OS logs of the demo fleet, read by the code a
snapshot runs (`etl.snapshot.UploadReader`: decode, cut into pieces, parse, classify, account),
against `pyarrow.csv.read_csv` on the same bytes, with peak RSS per size.

    .venv/bin/python bench/snapshot.py [--sizes-mb 100,1000] [--formats squid,panos]

Two read_csv baselines, both with every column a string (no type inference: no semantics):
- field split: read_csv with the format's own delimiter (PAN-OS: comma, with quotes). This is
  the target's "raw split". Squid has none: it pads its elapsed-time field with runs of
  spaces, so read_csv with a space delimiter sees ragged rows (94% of them on the generated
  log) and hands each to its Python invalid-row handler, at under 10 MB/s: no baseline at all.
- line split: one column per line (delimiter 0x01, no quotes): framing alone, a ceiling no
  parser that looks inside the lines reaches.
Each size runs in a fresh child process, so its peak RSS is its own; the file is read once
before timing so both sides see a warm page cache, and each timing is the better of two runs.
Logs are generated under bench/out/ unless present.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"
LAKE = OUT / "lake"
START, MACHINES, SEED = date(2026, 11, 16), 2_000, 1
LINES_PER_MB = {"squid": 8_000, "panos": 2_000}  # about what the generator writes per MB
FIELD_SPLIT = {"panos": (",", '"')}


def ensure_log(fmt: str, size_mb: int) -> Path:
    from etl.generate import appliance_log

    path = LAKE / "uploads" / f"bench-{fmt}" / f"{fmt}-{size_mb}mb.log"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    days = max(1, size_mb // 500)
    with open(path, "wb") as out:
        for block in appliance_log(fmt, START, days, MACHINES, LINES_PER_MB[fmt] * size_mb // days, SEED):
            out.write(block)
    return path


def best_of_two(run) -> tuple[float, object]:
    timings = []
    for _ in range(2):
        began = time.perf_counter()
        result = run()
        timings.append(time.perf_counter() - began)
    return min(timings), result


def read_csv(path: str, delimiter: str, quote) -> tuple[int, int]:
    """(rows split, ragged rows handed to the invalid-row handler)."""
    import pyarrow.csv as pcsv

    ragged = [0]

    def on_ragged(row) -> str:
        ragged[0] += 1
        return "skip"

    table = pcsv.read_csv(path, read_options=pcsv.ReadOptions(autogenerate_column_names=True),
                          parse_options=pcsv.ParseOptions(delimiter=delimiter, quote_char=quote,
                                                          invalid_row_handler=on_ragged),
                          convert_options=pcsv.ConvertOptions(column_types={f"f{i}": "string" for i in range(256)},
                                                              check_utf8=False))
    return table.num_rows, ragged[0]


def measure(fmt: str, path: str) -> dict:
    """In the child: snapshot read time, read_csv times, peak RSS."""
    import resource

    from etl.ingest import Settings
    from etl.snapshot import Upload, UploadReader
    from etl.storage import Lake

    size = Path(path).stat().st_size
    with open(path, "rb") as handle:  # warm the page cache for both sides
        while handle.read(16 << 20):
            pass
    lake = Lake(str(LAKE))
    rel = str(Path(path).relative_to(LAKE))
    upload = Upload(rel, f"bench-{fmt}", fmt, "bench", size)

    def snapshot_read():
        reader = UploadReader(lake, upload, Settings())
        transactions = sum(t.num_rows for t in reader.transactions())
        assert reader.counts.reconciles(), reader.counts.as_dict()
        return transactions, reader.counts.read

    parse_s, (transactions, lines) = best_of_two(snapshot_read)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    field_s, (field_rows, ragged) = (best_of_two(lambda: read_csv(path, *FIELD_SPLIT[fmt])) if fmt in FIELD_SPLIT
                                     else (None, (None, None)))
    line_s, _ = best_of_two(lambda: read_csv(path, "\x01", False))
    mb = size / 1e6
    return {"format": fmt, "mb": mb, "transactions": transactions, "lines": lines, "peak_rss_mb": rss,
            "parse_mb_s": mb / parse_s, "field_split_mb_s": mb / field_s if field_s else None, "line_split_mb_s": mb / line_s,
            "field_split_rows": field_rows, "field_split_ragged": ragged}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes-mb", default="100,1000")
    parser.add_argument("--formats", default="squid,panos")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(*args.child)))
        return 0
    for fmt in args.formats.split(","):
        for size_mb in (int(s) for s in args.sizes_mb.split(",")):
            path = ensure_log(fmt, size_mb)
            done = subprocess.run([sys.executable, __file__, "--child", fmt, str(path)], capture_output=True,
                                  text=True, check=True)
            r = json.loads(done.stdout.strip().splitlines()[-1])
            field = (f"read_csv field split {r['field_split_mb_s']:6.1f} MB/s "
                     f"({r['parse_mb_s'] / r['field_split_mb_s']:.0%})  " if r["field_split_mb_s"] else "")
            print(f"{r['format']:6} {r['mb']:6.0f} MB  snapshot read {r['parse_mb_s']:6.1f} MB/s  {field}"
                  f"read_csv line split {r['line_split_mb_s']:6.1f} MB/s ({r['parse_mb_s'] / r['line_split_mb_s']:.0%})  "
                  f"{r['transactions']:,} transactions of {r['lines']:,} lines  peak RSS {r['peak_rss_mb']} MB",
                  flush=True)
            if r["field_split_ragged"]:
                print(f"       read_csv field split: {r['field_split_ragged']:,} of "
                      f"{r['field_split_rows'] + r['field_split_ragged']:,} rows ragged (handed to its handler)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
