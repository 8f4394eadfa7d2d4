"""The one module that knows the lake's layout and talks to storage.

A lake is a root URL: a local folder (plain path or ``file://``) or ``s3://bucket/prefix``.
Every other module speaks in lake-relative paths (``raw/mde/...``) and never touches a
filesystem directly.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import posixpath
import zlib
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

DEFAULT_LAKE = "./lake"
LAKE_ENV = "CLOUD_DISCOVERY_LAKE"

MDE_PREFIX = "raw/mde"
OCSF_PREFIX = "raw/ocsf"
REPORTS_PREFIX = "reports"
QUARANTINE_PREFIX = "quarantine"
MANIFESTS_PREFIX = "_manifests"
STAGING_PREFIX = "_staging"
LEDGER_PREFIX = "_ledger"
UPLOADS_PREFIX = "uploads"
SNAPSHOTS_PREFIX = "snapshots"
PARSERS_PREFIX = "reference/parsers"
CATALOG_REFERENCE = "reference/catalog"
POLICIES_PREFIX = "reference/policies"
DASHBOARD_PREFIX = "dashboard"


class StorageError(Exception):
    """A lake cannot be reached or a path in it cannot be read or written."""


def default_lake_url() -> str:
    return os.environ.get(LAKE_ENV) or DEFAULT_LAKE


def _s3_options() -> dict:
    """s3fs options from the standard AWS variables (endpoint for MinIO/moto)."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    options: dict = {}
    if endpoint:
        options["endpoint_url"] = endpoint
    region = os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION")
    if region:
        options["client_kwargs"] = {"region_name": region}
    return options


@dataclass(frozen=True)
class InputObject:
    path: str  # lake-relative
    size: int


class Lake:
    """A lake root plus the few operations the pipeline needs."""

    def __init__(self, url: str | None = None, **storage_options):
        url = url or default_lake_url()
        if url.startswith("s3://") or url.startswith("s3a://"):
            options = {**_s3_options(), **storage_options}
            self.fs = fsspec.filesystem("s3", **options)
            self.root = url.split("://", 1)[1].rstrip("/")
            self.url = "s3://" + self.root
        else:
            local = url[len("file://"):] if url.startswith("file://") else url
            local = os.path.abspath(local)
            self.fs = fsspec.filesystem("file", auto_mkdir=True)
            self.root = local
            self.url = "file://" + local
        self.is_local = self.fs.protocol in ("file", ("file", "local"), ("file", "local", "local"))
        if not self.is_local and isinstance(self.fs.protocol, tuple):
            self.is_local = "file" in self.fs.protocol

    def __repr__(self) -> str:
        return f"Lake({self.url!r})"

    # -- paths -------------------------------------------------------------
    def full(self, rel: str) -> str:
        return posixpath.join(self.root, rel) if rel else self.root

    def rel(self, full: str) -> str:
        full = full.split("://", 1)[-1]
        root = self.root.split("://", 1)[-1]
        if full.startswith(root):
            return full[len(root):].lstrip("/")
        return full

    # -- basic I/O -----------------------------------------------------------
    def exists(self, rel: str) -> bool:
        return self.fs.exists(self.full(rel))

    def size(self, rel: str) -> int:
        return int(self.fs.size(self.full(rel)))

    def fingerprint(self, rel: str) -> str:
        """A cheap change marker for an object without reading it: the S3 ETag, else size and
        modification time."""
        try:
            info = self.fs.info(self.full(rel))
        except FileNotFoundError as exc:
            raise StorageError(f"not found: {self.url}/{rel}") from exc
        etag = info.get("ETag") or info.get("etag")
        if etag:
            return f"etag:{str(etag).strip(chr(34))}"
        return f"size:{info.get('size')}:mtime:{info.get('mtime') or info.get('LastModified')}"

    def upload_file(self, local_path: str, rel: str) -> None:
        try:
            self.fs.put_file(local_path, self.full(rel))
        except (OSError, PermissionError) as exc:
            raise StorageError(f"cannot write {self.url}/{rel}: {exc}") from exc

    def write_bytes(self, rel: str, data: bytes) -> None:
        try:
            with self.fs.open(self.full(rel), "wb") as handle:
                handle.write(data)
        except (OSError, PermissionError) as exc:
            raise StorageError(f"cannot write {self.url}/{rel}: {exc}") from exc

    def read_bytes(self, rel: str) -> bytes:
        try:
            with self.fs.open(self.full(rel), "rb") as handle:
                return handle.read()
        except FileNotFoundError as exc:
            raise StorageError(f"not found: {self.url}/{rel}") from exc
        except OSError as exc:
            raise StorageError(f"cannot read {self.url}/{rel}: {exc}") from exc

    def write_json(self, rel: str, obj) -> None:
        self.write_bytes(rel, json.dumps(obj, indent=2, sort_keys=True, default=str).encode())

    def read_json(self, rel: str):
        return json.loads(self.read_bytes(rel))

    def list_files(self, rel_prefix: str) -> list[InputObject]:
        """Every file under a prefix, sorted by path (empty if the prefix is absent)."""
        base = self.full(rel_prefix)
        try:
            if not self.fs.exists(base):
                return []
            found = self.fs.find(base, detail=True)
        except OSError as exc:
            raise StorageError(f"cannot list {self.url}/{rel_prefix}: {exc}") from exc
        objects = [
            InputObject(self.rel(path), int(info.get("size") or 0))
            for path, info in found.items()
            if info.get("type", "file") == "file"
        ]
        return sorted(objects, key=lambda o: o.path)

    def list_dirs(self, rel_prefix: str) -> list[str]:
        base = self.full(rel_prefix)
        if not self.fs.exists(base):
            return []
        return sorted(
            self.rel(p) for p in self.fs.ls(base, detail=False) if self.fs.isdir(p)
        )

    def remove(self, rel: str) -> None:
        path = self.full(rel)
        if self.fs.exists(path):
            self.fs.rm(path, recursive=True)

    def move(self, src_rel: str, dst_rel: str) -> None:
        src, dst = self.full(src_rel), self.full(dst_rel)
        if self.is_local:
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            os.replace(src, dst)
        else:
            self.fs.mv(src, dst, recursive=True)

    # -- Parquet -------------------------------------------------------------
    def write_parquet(self, rel: str, table: pa.Table) -> dict:
        """Write one Parquet file; returns its manifest entry (path, rows, bytes, sha256)."""
        sink = io.BytesIO()
        pq.write_table(table, sink, compression="zstd", row_group_size=256 * 1024)
        data = sink.getvalue()
        self.write_bytes(rel, data)
        return {
            "path": rel,
            "rows": table.num_rows,
            "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        }

    def raw_stream(self, rel: str, scratch: bytearray | None = None, limits: "ArchiveLimits | None" = None) -> RawStream:
        return RawStream(self, rel, scratch, limits)

    def sha256(self, rel: str) -> tuple[int, str]:
        """(size, sha256) of an object, streamed."""
        digest, size = hashlib.sha256(), 0
        try:
            with self.fs.open(self.full(rel), "rb") as handle:
                while block := handle.read(4 << 20):
                    digest.update(block)
                    size += len(block)
        except OSError as exc:
            raise StorageError(f"cannot read {self.url}/{rel}: {exc}") from exc
        return size, digest.hexdigest()

    def parquet_sink(self, rel: str, schema: pa.Schema) -> "ParquetSink":
        return ParquetSink(self, rel, schema)

    def iter_parquet(self, rel: str, columns: list[str], batch_rows: int = 256 * 1024):
        """A Parquet file's rows, a batch at a time (as one-batch tables)."""
        try:
            with self.fs.open(self.full(rel), "rb") as handle:
                for batch in pq.ParquetFile(handle).iter_batches(batch_size=batch_rows, columns=columns):
                    yield pa.Table.from_batches([batch])
        except (OSError, FileNotFoundError) as exc:
            raise StorageError(f"cannot read {self.url}/{rel}: {exc}") from exc

    def read_parquet_where(self, rels: list[str], columns: list[str], where) -> pa.Table:
        """The rows of several Parquet files that satisfy a pyarrow.compute expression, scanned
        with the filter pushed down (row groups whose statistics exclude it are skipped)."""
        import pyarrow.dataset as ds

        try:
            dataset = ds.dataset([self.full(r) for r in rels], format="parquet", filesystem=self.fs)
            return dataset.to_table(columns=columns, filter=where)
        except (OSError, FileNotFoundError) as exc:
            raise StorageError(f"cannot read {self.url}: {exc}") from exc

    def read_parquet(self, rel: str) -> pa.Table:
        try:
            with self.fs.open(self.full(rel), "rb") as handle:
                return pq.read_table(handle)
        except (OSError, FileNotFoundError) as exc:
            raise StorageError(f"cannot read {self.url}/{rel}: {exc}") from exc


class _HashingWriter:
    """A binary file that hashes and counts what goes through it (for the manifest)."""

    def __init__(self, handle):
        self._handle, self._digest, self.size, self.closed = handle, hashlib.sha256(), 0, False

    def write(self, data) -> int:
        data = memoryview(data)
        self._digest.update(data)
        self._handle.write(data)
        self.size += len(data)
        return len(data)

    def tell(self) -> int:
        return self.size

    def flush(self) -> None:
        self._handle.flush()

    def writable(self) -> bool:
        return True

    def close(self) -> None:
        if not self.closed:
            self._handle.close()
            self.closed = True

    def hexdigest(self) -> str:
        return self._digest.hexdigest()


class ParquetSink:
    """A Parquet file written batch by batch, streamed to storage (s3fs uploads in parts).

    Batches are gathered into row groups of ROW_GROUP_ROWS; the sink returns the manifest
    entry (path, rows, bytes, sha256) when closed."""
    ROW_GROUP_ROWS = 256 * 1024

    def __init__(self, lake: Lake, rel: str, schema: pa.Schema):
        self.rel = rel
        self._file = _HashingWriter(lake.fs.open(lake.full(rel), "wb"))
        self._writer = pq.ParquetWriter(self._file, schema, compression="zstd")
        self._thread = ThreadPoolExecutor(max_workers=1)
        self._written = None
        self._pending: list[pa.Table] = []
        self._pending_rows = 0
        self.rows = 0

    def write(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        self._pending.append(table)
        self._pending_rows += table.num_rows
        self.rows += table.num_rows
        if self._pending_rows >= self.ROW_GROUP_ROWS:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            # compression and upload run on the writer thread while the pipeline goes on
            if self._written is not None:
                self._written.result()
            batch = pa.concat_tables(self._pending)
            self._written = self._thread.submit(self._writer.write_table, batch, row_group_size=self.ROW_GROUP_ROWS)
            self._pending, self._pending_rows = [], 0

    def close(self) -> dict:
        self._flush()
        if self._written is not None:
            self._written.result()
        self._thread.shutdown()
        self._writer.close()
        self._file.close()
        return {"path": self.rel, "rows": self.rows, "bytes": self._file.size, "sha256": self._file.hexdigest()}


# ---------------------------------------------------------------------------
# Raw input: decompression and the folder layout of each source
# ---------------------------------------------------------------------------

UTF8_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class ArchiveLimits:
    """Past these a compressed input is a decompression bomb: quarantined, never expanded."""
    max_ratio: float = 200.0      # decoded bytes per compressed byte (text logs compress ~5-20x)
    max_bytes: int = 64 << 30     # decoded bytes of one file or archive member
    grace_bytes: int = 1 << 20    # the ratio is judged only past this much output


class RawStream:
    """One raw object read block by block as decoded text: gzip (every member) or bzip2 undone,
    a UTF-8 byte-order mark dropped, the raw bytes hashed and counted on the way. After
    `blocks()` is exhausted: `size`, `sha256`, `decoded` (text bytes produced) and `problem`
    (why decoding stopped early, or None).

    Blocks are read into `scratch` (a caller's reusable buffer) when given: a block is then
    valid until the next is asked for, and reading a day allocates no fresh pages per block."""
    BLOCK_BYTES = 4 << 20

    def __init__(self, lake: "Lake", rel: str, scratch: bytearray | None = None,
                 limits: ArchiveLimits | None = None):
        self.lake, self.rel, self.label = lake, rel, rel
        self.size, self.decoded, self.problem = 0, 0, None
        self.limits = limits or ArchiveLimits()
        self._digest = hashlib.sha256()
        self._blocks = None
        self._scratch = scratch
        self._hasher: ThreadPoolExecutor | None = None
        self._hashing: deque = deque()

    @property
    def sha256(self) -> str:
        self._hashed()
        return self._digest.hexdigest()

    def _hash(self, raw) -> None:
        """Hash a block on a thread of its own (in order: one worker), so hashing a big upload
        overlaps its parsing; a block in a reused scratch buffer is hashed at once."""
        if self._scratch is not None:
            self._digest.update(raw)
            return
        if self._hasher is None:
            self._hasher = ThreadPoolExecutor(1, thread_name_prefix="sha256")
        self._hashing.append(self._hasher.submit(self._digest.update, raw))
        while len(self._hashing) > 2:  # at most two blocks held for hashing
            self._hashing.popleft().result()

    def _hashed(self) -> None:
        while self._hashing:
            self._hashing.popleft().result()
        if self._hasher is not None:
            self._hasher.shutdown()
            self._hasher = None

    def _read(self, handle):
        if self._scratch is None or not hasattr(handle, "readinto"):
            raw = handle.read(self.BLOCK_BYTES)
        else:
            if len(self._scratch) < self.BLOCK_BYTES:
                self._scratch.extend(bytes(self.BLOCK_BYTES - len(self._scratch)))
            with memoryview(self._scratch) as whole:
                raw = whole[:handle.readinto(whole[:self.BLOCK_BYTES]) or 0]
        self._hash(raw)
        self.size += len(raw)
        return raw

    def blocks(self):
        """The decoded text blocks (one pass: a second call continues where the first stopped)."""
        if self._blocks is None:
            self._blocks = self._generate()
        return self._blocks

    def _decoder(self, raw):
        if self.rel.endswith(".gz") or raw[:2] == b"\x1f\x8b":
            return _Gunzip(), "gzip"
        if self.rel.endswith(".bz2") or raw[:3] == b"BZh":
            return _Bunzip(), "bzip2"
        return None, None

    def _generate(self):
        try:
            handle = self.lake.fs.open(self.lake.full(self.rel), "rb")
        except OSError as exc:
            raise StorageError(f"cannot read {self.lake.url}/{self.rel}: {exc}") from exc
        try:
            with handle:
                yield from self._decoded(handle)
        finally:
            self._hashed()

    def _decoded(self, handle):
        raw = self._read(handle)
        decoder, kind = self._decoder(raw)
        first = True
        while raw:
            if decoder is None:
                text = raw
            else:
                try:
                    text = decoder.decompress(raw)
                except (zlib.error, OSError, EOFError) as exc:
                    self.problem = f"corrupt {kind}: {exc}"
                else:
                    self.problem = bomb_problem(self.decoded + len(text), self.size, self.limits)
                if self.problem:
                    while self._read(handle):  # the checksum covers the whole object
                        pass
                    break
            if first and text:
                text, first = (text[len(UTF8_BOM):] if text[:len(UTF8_BOM)] == UTF8_BOM else text), False
            if text:
                self.decoded += len(text)
                yield text
            raw = self._read(handle)
        if decoder is not None and not decoder.eof and self.problem is None:
            self.problem = f"corrupt {kind}: compressed file ended before the end-of-stream marker was reached"

    def drain(self) -> None:
        """Read (and hash) whatever `blocks()` has not consumed yet."""
        for _ in self.blocks():
            pass


def bomb_problem(decoded: int, compressed: int, limits: ArchiveLimits) -> str | None:
    if decoded > limits.max_bytes:
        return f"decompression bomb: expands past {limits.max_bytes:,} bytes (the configured limit)"
    if decoded > limits.grace_bytes and decoded > limits.max_ratio * max(compressed, 1):
        return (f"decompression bomb: {decoded:,} bytes from {compressed:,} compressed "
                f"(ratio over the configured {limits.max_ratio:g})")
    return None


class _Gunzip:
    """gzip, every concatenated member."""

    def __init__(self):
        self._d = zlib.decompressobj(wbits=31)

    @property
    def eof(self) -> bool:
        return self._d.eof

    def decompress(self, raw) -> bytes:
        text = self._d.decompress(raw)
        while self._d.eof and self._d.unused_data:
            rest, self._d = self._d.unused_data, zlib.decompressobj(wbits=31)
            text += self._d.decompress(rest)
        return text


class _Bunzip:
    def __init__(self):
        import bz2
        self._new = bz2.BZ2Decompressor
        self._d = self._new()

    @property
    def eof(self) -> bool:
        return self._d.eof

    def decompress(self, raw) -> bytes:
        text = self._d.decompress(raw)
        while self._d.eof and self._d.unused_data:
            rest, self._d = self._d.unused_data, self._new()
            text += self._d.decompress(rest)
        return text


class ZipMember:
    """One member of a zip upload, read like a RawStream (name only a label, never a path)."""

    def __init__(self, zf, info, upload: str, limits: ArchiveLimits):
        self._zf, self._info, self.limits = zf, info, limits
        self.label = f"{upload}!{info.filename}"
        self.size, self.decoded, self.problem = info.compress_size, 0, None
        self._blocks = None

    def blocks(self):
        if self._blocks is None:
            self._blocks = self._generate()
        return self._blocks

    def _generate(self):
        import zipfile

        declared = bomb_problem(self._info.file_size, self._info.compress_size, self.limits)
        if declared:
            self.problem = declared
            return
        first = True
        try:
            with self._zf.open(self._info) as member:
                while True:
                    text = member.read(RawStream.BLOCK_BYTES)
                    if not text:
                        break
                    self.problem = bomb_problem(self.decoded + len(text), self._info.compress_size, self.limits)
                    if self.problem:
                        return
                    if first:
                        text, first = (text[len(UTF8_BOM):] if text[:len(UTF8_BOM)] == UTF8_BOM else text), False
                    self.decoded += len(text)
                    yield text
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError, RuntimeError, NotImplementedError) as exc:
            self.problem = f"corrupt archive member: {exc}"

    def drain(self) -> None:
        for _ in self.blocks():
            pass


def is_zip(lake: "Lake", rel: str) -> bool:
    if rel.lower().endswith(".zip"):
        return True
    with lake.fs.open(lake.full(rel), "rb") as handle:
        return handle.read(4) == b"PK\x03\x04"


class ZipArchive:
    """An open zip upload: `members` are its files as ZipMember streams. Raises StorageError for
    an archive that cannot be opened at all. Use as a context manager."""

    def __init__(self, lake: "Lake", rel: str, limits: ArchiveLimits):
        import zipfile

        self._handle = lake.fs.open(lake.full(rel), "rb")
        try:
            self._zf = zipfile.ZipFile(self._handle)
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            self._handle.close()
            raise StorageError(f"corrupt zip archive: {exc}") from exc
        self.members = [ZipMember(self._zf, info, rel, limits) for info in self._zf.infolist() if not info.is_dir()]

    def __enter__(self) -> "ZipArchive":
        return self

    def __exit__(self, *exc) -> None:
        self._zf.close()
        self._handle.close()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def mde_hour_dir(table: str, tenant: str, hour: datetime) -> str:
    return (
        f"{MDE_PREFIX}/{MDE_FOLDER_PREFIX}{table}/tenantId={tenant}/"
        f"y={hour:%Y}/m={hour:%m}/d={hour:%d}/h={hour:%H}/m=00"
    )


def ocsf_day_dir(day: date) -> str:
    return f"{OCSF_PREFIX}/dt={day:%Y-%m-%d}"


def parse_mde_hour(rel: str) -> datetime | None:
    """The arrival hour encoded in an MDE export path, or None if the path is not one."""
    parts = dict(
        p.split("=", 1) for p in rel.split("/") if "=" in p and p.split("=", 1)[0] in ("y", "d", "h")
    )
    months = [p.split("=", 1)[1] for p in rel.split("/") if p.startswith("m=")]
    try:
        return datetime(int(parts["y"]), int(months[0]), int(parts["d"]), int(parts["h"]))
    except (KeyError, IndexError, ValueError):
        return None


def parse_ocsf_day(rel: str) -> date | None:
    for part in rel.split("/"):
        if part.startswith("dt="):
            try:
                return date.fromisoformat(part[3:])
            except ValueError:
                return None
    return None


def days_between(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


# -- report / quarantine / manifest locations -------------------------------

def report_dir(table: str, day: date) -> str:
    return f"{REPORTS_PREFIX}/{table}/date={day.isoformat()}"


def report_file(table: str, day: date, part: int = 0) -> str:
    return f"{report_dir(table, day)}/part-{part}.parquet"


def quarantine_dir(source: str, day: date) -> str:
    return f"{QUARANTINE_PREFIX}/{source}/date={day.isoformat()}"


def quarantine_file(source: str, day: date) -> str:
    return f"{quarantine_dir(source, day)}/part-0.parquet"


def manifest_path(day: date) -> str:
    return f"{MANIFESTS_PREFIX}/reports/date={day.isoformat()}.json"


def manifests_dir() -> str:
    return f"{MANIFESTS_PREFIX}/reports"


def manifest_day(rel: str) -> date | None:
    """The day of a report manifest path, None for anything else."""
    name = posixpath.basename(rel)
    if not (name.startswith("date=") and name.endswith(".json")):
        return None
    try:
        return date.fromisoformat(name[len("date="):-len(".json")])
    except ValueError:
        return None


def upload_path(source: str, file_name: str) -> str:
    """Where an uploaded file lands: uploads/<source>/<name>; a name is never a path."""
    return f"{UPLOADS_PREFIX}/{safe_name(source)}/{safe_name(file_name)}"


def upload_source(rel: str) -> str | None:
    """`uploads/squid/a.log` -> `squid` (None for a path that is not an upload)."""
    parts = rel.split("/")
    return parts[1] if len(parts) >= 3 and parts[0] == UPLOADS_PREFIX else None


def safe_name(name: str) -> str:
    """A file or source name made safe as one path segment (archive member names, uploads)."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(c if c.isalnum() or c in "-_.:" else "_" for c in base).replace(":", "_").lstrip(".")
    return cleaned or "unnamed"


def snapshot_dir(snapshot_id: str) -> str:
    return f"{SNAPSHOTS_PREFIX}/{snapshot_id}"


def snapshot_file(snapshot_id: str, table: str, part: int = 0) -> str:
    return f"{snapshot_dir(snapshot_id)}/{table}/part-{part}.parquet"


def snapshot_manifest_path(snapshot_id: str) -> str:
    return f"{MANIFESTS_PREFIX}/snapshots/{snapshot_id}.json"


def snapshot_manifests_dir() -> str:
    return f"{MANIFESTS_PREFIX}/snapshots"


def upload_ledger_path(rel: str) -> str:
    """The note of which snapshot an upload path was last turned into."""
    return f"{LEDGER_PREFIX}/uploads/{hashlib.sha1(rel.encode()).hexdigest()}.json"


def catalog_reference_path(name: str) -> str:
    """An organisation's catalog file: apps.csv, weights.yaml, overrides.yaml."""
    return f"{CATALOG_REFERENCE}/{name}"


def tag_history_dir() -> str:
    return f"{CATALOG_REFERENCE}/tags"


def tag_entry_path(when: datetime, app_id: str) -> str:
    """One object per tag change (object stores cannot append): time-ordered names."""
    return f"{tag_history_dir()}/{when.strftime('%Y%m%dT%H%M%S%fZ')}-{safe_name(app_id)}.json"


def custom_parser_path(name: str) -> str:
    return f"{PARSERS_PREFIX}/{safe_name(name)}.yaml"


def stage_day_dir(day: date) -> str:
    return f"{STAGING_PREFIX}/date={day.isoformat()}"


def staging_dir(day: date, run_id: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in run_id)
    return f"{stage_day_dir(day)}/{safe}"


@dataclass(frozen=True)
class Stage:
    """Where one run of one day keeps its work until the commit publishes it."""
    root: str

    @classmethod
    def of(cls, day: date, run_id: str) -> "Stage":
        return cls(staging_dir(day, run_id))

    def traffic(self, part: int) -> str:
        return f"{self.root}/traffic/part-{part}.parquet"

    @property
    def cube(self) -> str:
        return f"{self.root}/traffic-cube.parquet"

    @property
    def draft(self) -> str:
        return f"{self.root}/draft.json"

    @property
    def risk(self) -> str:
        return f"{self.root}/app-risk.parquet"

    @property
    def reports_index(self) -> str:
        return f"{self.root}/reports.json"

    @property
    def quarantine_dir(self) -> str:
        return f"{self.root}/quarantine"

    def quarantine(self, source: str) -> str:
        return f"{self.quarantine_dir}/{source}.parquet"

    def context(self, name: str) -> str:
        return f"{self.root}/context/{name}.parquet"

    def report(self, name: str) -> str:
        return f"{self.root}/reports/{name}.parquet"


MDE_FOLDER_PREFIX = "insights-logs-advancedhunting-"


def mde_table_key(rel: str) -> str | None:
    """`raw/mde/insights-logs-advancedhunting-deviceinfo/...` -> `deviceinfo`."""
    parts = rel.split("/")
    if len(parts) < 3 or not parts[2].startswith(MDE_FOLDER_PREFIX):
        return None
    return parts[2][len(MDE_FOLDER_PREFIX):]


def stray_ledger_dir(day: date) -> str:
    """Where runs of other days note raw objects holding events of ``day`` outside its window."""
    return f"{LEDGER_PREFIX}/strays/date={day.isoformat()}"


def reference_users_candidates() -> list[str]:
    return ["reference/users.parquet", "reference/users.csv"]
