"""Snapshot parse throughput: generated Squid and PAN-OS logs of the demo fleet, parsed by their
sources (reader + classify, streamed in pieces as a snapshot reads them) against
`pyarrow.csv.read_csv` on the same bytes (a raw split, no semantics), with peak RSS per size.

    .venv/bin/python bench/snapshot.py [--sizes-mb 100,1000] [--formats squid,panos]

Each size runs in a fresh child process, so its peak RSS is its own. Prints one line per
(format, size). Logs are generated under bench/out/ unless present.
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
START, MACHINES, SEED = date(2026, 11, 16), 2_000, 1
LINES_PER_MB = {"squid": 6_300, "panos": 2_000}  # about what the generator writes per MB


def ensure_log(fmt: str, size_mb: int) -> Path:
    from etl.generate import appliance_log

    path = OUT / f"{fmt}-{size_mb}mb.log"
    if path.exists():
        return path
    OUT.mkdir(parents=True, exist_ok=True)
    days = max(1, size_mb // 500)
    with open(path, "wb") as out:
        for block in appliance_log(fmt, START, days, MACHINES, LINES_PER_MB[fmt] * size_mb // days, SEED):
            out.write(block)
    return path


def measure(fmt: str, path: str) -> dict:
    """In the child: parse time, read_csv time, peak RSS."""
    import resource

    import pyarrow as pa
    import pyarrow.csv as pcsv

    from etl import sources
    from etl.ingest import CHUNK_BYTES
    from etl.sources.framing.lines import PieceCutter

    size = Path(path).stat().st_size
    source = sources.get(fmt)
    reader, rows = source.reader(), 0
    began = time.perf_counter()
    with open(path, "rb") as handle:
        blocks = iter(lambda: handle.read(4 << 20), b"")
        for piece, first_line, newlines in PieceCutter(CHUNK_BYTES).pieces(blocks):
            rows += source.classify(reader.parse(piece, first_line, newlines).rows).transactions.num_rows
    parse_s = time.perf_counter() - began
    rss_parse = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    began = time.perf_counter()
    options = pcsv.ParseOptions(delimiter="\x01", quote_char=False)  # one column per line: the raw split
    with pcsv.open_csv(path, read_options=pcsv.ReadOptions(autogenerate_column_names=True, block_size=CHUNK_BYTES),
                       parse_options=options) as stream:
        raw_rows = sum(batch.num_rows for batch in stream)
    csv_s = time.perf_counter() - began
    return {"format": fmt, "mb": size / 1e6, "transactions": rows, "raw_rows": raw_rows,
            "parse_mb_s": size / 1e6 / parse_s, "csv_mb_s": size / 1e6 / csv_s, "peak_rss_mb": rss_parse,
            "arrow_pool_mb": pa.total_allocated_bytes() // (1 << 20)}


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
            print(f"{r['format']:6} {r['mb']:8.0f} MB  parse {r['parse_mb_s']:6.1f} MB/s  read_csv raw split "
                  f"{r['csv_mb_s']:6.1f} MB/s  ratio {r['parse_mb_s'] / r['csv_mb_s']:.0%}  "
                  f"{r['transactions']:,} transactions of {r['raw_rows']:,} lines  peak RSS {r['peak_rss_mb']} MB",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
