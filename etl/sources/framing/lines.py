"""Whole lines out of a stream of text blocks, and where each line starts and ends (shared by
every framing reader)."""
from __future__ import annotations

import numpy as np
import pyarrow as pa


def line_spans(data: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(start, end, line number) of every non-blank line, vectorised."""
    buf = np.frombuffer(data, dtype=np.uint8)
    if len(buf) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    newlines = np.flatnonzero(buf == 10)
    starts = np.concatenate(([0], newlines + 1))
    ends = np.concatenate((newlines, [len(buf)]))
    numbers = np.arange(1, len(starts) + 1)
    # strip a trailing \r, then drop empty lines
    has_cr = (ends > starts) & (buf[np.maximum(ends - 1, 0)] == 13)
    ends = ends - has_cr
    keep = ends > starts
    return starts[keep], ends[keep], numbers[keep]


class PieceCutter:
    """Cuts a stream of text blocks into pieces of whole lines of about `chunk_bytes`, so a large
    object is parsed a bounded piece at a time.

    A piece is a memoryview into one buffer reused from piece to piece and object to object,
    valid until the next piece is asked for: fresh multi-megabyte buffers per piece cost more
    in page faults than the parsing saves. One cutter serves one stream at a time."""

    def __init__(self, chunk_bytes: int):
        self.chunk_bytes = chunk_bytes
        self.buffer = bytearray()

    def pieces(self, blocks):
        """(piece, number of its first line, newlines in it) for each piece, in order."""
        chunk_bytes, buffer = self.chunk_bytes, self.buffer
        filled, first_line = 0, 1
        for block in blocks:
            if filled + len(block) > len(buffer):  # only while it grows to a piece and a block
                buffer.extend(bytes(filled + len(block) - len(buffer)))
            buffer[filled:filled + len(block)] = block
            filled += len(block)
            start = 0
            while filled - start >= chunk_bytes:
                end = buffer.find(b"\n", start + chunk_bytes - 1, filled)
                if end < 0:
                    break  # a line longer than a chunk: wait for its end
                newlines = buffer.count(b"\n", start, end + 1)
                yield from self._lend(buffer, start, end + 1, first_line, newlines)
                buffer = self.buffer
                first_line += newlines
                start = end + 1
            if start:
                with memoryview(buffer) as view:
                    view[:filled - start] = view[start:filled]  # the unfinished rest to the front, in place
                filled -= start
        if filled:
            yield from self._lend(buffer, 0, filled, first_line, buffer.count(b"\n", 0, filled))

    def _lend(self, buffer: bytearray, start: int, end: int, first_line: int, newlines: int):
        whole = memoryview(buffer)
        piece = whole[start:end]
        try:
            yield piece, first_line, newlines
        finally:
            if not _released(piece, whole):
                self.buffer = bytearray(buffer)  # the piece was kept: leave it its own buffer


def _released(*views: memoryview) -> bool:
    try:
        for view in views:
            view.release()
    except BufferError:
        return False
    return True


def is_utf8(data) -> bool:
    """Is the whole piece valid UTF-8 (checked by Arrow, without a copy)?"""
    offsets = pa.py_buffer(np.array([0, len(data)], dtype=np.int64))
    try:
        pa.LargeStringArray.from_buffers(1, offsets, pa.py_buffer(data)).validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


def is_blank(data) -> bool:
    """Only whitespace (or nothing)? Cheap for the usual case of text starting with `{`."""
    head = bytes(data[:64])
    if head.strip():
        return False
    return not bytes(data).strip()


def raw_lines(data: bytes, wanted: list[int], first_line: int = 1) -> dict[int, str]:
    """Text of the given line numbers (for quarantining rows that failed checks)."""
    if not wanted:
        return {}
    starts, ends, numbers = line_spans(data)
    numbers = numbers + (first_line - 1)
    index = {n: i for i, n in enumerate(numbers.tolist())}
    out = {}
    for number in wanted:
        i = index.get(number)
        if i is not None:
            out[number] = bytes(data[starts[i]:ends[i]]).decode("utf-8", errors="replace")
    return out
