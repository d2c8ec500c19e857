"""Sparse page data: the bytes of disks, snapshots and page blobs.

Each content is a sparse file (``<id>.data``) plus its exact map of written ranges
(``<id>.ranges``, JSON). The map, not the file system, says what is allocated — Azure
reports pages at 512-byte granularity while file systems allocate 4 KiB blocks — and
reads return zeros outside it. A 1 TiB disk holding 10 MiB costs about 10 MiB of disk,
and copying, snapshotting or hashing it touches only those 10 MiB.
"""

from __future__ import annotations

import bisect
import ctypes
import ctypes.util
import functools
import hashlib
import json
import os
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Protocol

from diskferry.emulator.vhd import FOOTER_SIZE

PAGE = 512
#: bytes per segment file of a PageFile
SEGMENT = 1024**4
#: chunk size of the sparse content digest (see ``content_sha256``)
DIGEST_CHUNK = 4 * 1024 * 1024


class RangeSet:
    """Sorted, disjoint, merged half-open intervals ``[start, end)``."""

    def __init__(self, ranges: Iterable[tuple[int, int]] = ()) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []
        for s, e in ranges:
            self.add(s, e)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return iter(zip(self._starts, self._ends, strict=True))

    def __len__(self) -> int:
        return len(self._starts)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RangeSet) and list(self) == list(other)

    def __repr__(self) -> str:
        return f"RangeSet({list(self)!r})"

    def total(self) -> int:
        return sum(e - s for s, e in self)

    def add(self, start: int, end: int) -> None:
        if end <= start:
            return
        # first interval whose end >= start (touching intervals merge)
        i = bisect.bisect_left(self._ends, start)
        j = bisect.bisect_right(self._starts, end)
        if i < j:
            start = min(start, self._starts[i])
            end = max(end, self._ends[j - 1])
        self._starts[i:j] = [start]
        self._ends[i:j] = [end]

    def remove(self, start: int, end: int) -> None:
        if end <= start:
            return
        i = bisect.bisect_right(self._ends, start)
        j = bisect.bisect_left(self._starts, end)
        keep_s: list[int] = []
        keep_e: list[int] = []
        for s, e in zip(self._starts[i:j], self._ends[i:j], strict=True):
            if s < start:
                keep_s.append(s)
                keep_e.append(start)
            if e > end:
                keep_s.append(end)
                keep_e.append(e)
        self._starts[i:j] = keep_s
        self._ends[i:j] = keep_e

    def intersect(self, start: int, end: int) -> list[tuple[int, int]]:
        out = []
        i = bisect.bisect_right(self._ends, start)
        while i < len(self._starts) and self._starts[i] < end:
            out.append((max(start, self._starts[i]), min(end, self._ends[i])))
            i += 1
        return out

    def to_list(self) -> list[list[int]]:
        return [[s, e] for s, e in self]


class Content(Protocol):
    """Read-only view of sparse content: what a copy or a hash reads from."""

    @property
    def size(self) -> int: ...

    def ranges(self, start: int = 0, end: int | None = None) -> list[tuple[int, int]]: ...

    def read(self, offset: int, length: int) -> bytes: ...


class PageFile:
    """One sparse content on disk. Not thread-safe for map updates: call from one thread.

    The bytes live in segment files of ``SEGMENT`` bytes (``<id>.data``, ``<id>.data.1``,
    ...), created when first written: Azure disks reach 32 TiB (64 TiB for Ultra), beyond
    what one file may be on common file systems (ext4: 16 TiB).
    """

    def __init__(self, data_dir: Path, file_id: str) -> None:
        self.id = file_id
        self._dir = data_dir
        self.map_path = data_dir / f"{file_id}.ranges"
        saved = json.loads(self.map_path.read_text())
        self._size: int = saved["size"]
        self._ranges = RangeSet((s, e) for s, e in saved["ranges"])

    @classmethod
    def create(cls, data_dir: Path, size: int) -> PageFile:
        file_id = uuid.uuid4().hex
        data_dir.mkdir(parents=True, exist_ok=True)
        _write_map(data_dir / f"{file_id}.ranges", size, RangeSet())
        return cls(data_dir, file_id)

    @classmethod
    def copy_of(cls, data_dir: Path, source: Content, size: int | None = None) -> PageFile:
        """A new file holding ``source``'s content (its first ``size`` bytes)."""
        size = source.size if size is None else size
        dest = cls.create(data_dir, size)
        for s, e in source.ranges(0, size):
            dest.copy_range(source, s, e)
        dest.save()
        return dest

    def _segment(self, index: int) -> Path:
        return _segment_path(self._dir, self.id, index)

    def _pieces(self, start: int, end: int) -> Iterator[tuple[Path, int, int, int]]:
        """``(segment file, offset in it, offset in the content, length)`` covering [start, end)."""
        pos = start
        while pos < end:
            index, inner = divmod(pos, SEGMENT)
            n = min(end, (index + 1) * SEGMENT) - pos
            yield self._segment(index), inner, pos, n
            pos += n

    def segments(self) -> list[Path]:
        """The segment files written so far (a shrinking resize asks before it sets the size)."""
        return [p for p in segment_paths(self._dir, self.id, self._size) if p.exists()]

    # -- reading --------------------------------------------------------------------------
    @property
    def size(self) -> int:
        return self._size

    def ranges(self, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
        return self._ranges.intersect(start, self._size if end is None else min(end, self._size))

    def allocated(self) -> int:
        return self._ranges.total()

    def read(self, offset: int, length: int) -> bytes:
        end = min(offset + length, self._size)
        if end <= offset:
            return b""
        buf = bytearray(end - offset)
        for s, e in self._ranges.intersect(offset, end):
            for path, inner, pos, n in self._pieces(s, e):
                fd = os.open(path, os.O_RDONLY)
                try:
                    buf[pos - offset : pos - offset + n] = os.pread(fd, n, inner)
                finally:
                    os.close(fd)
        return bytes(buf)

    # -- writing --------------------------------------------------------------------------
    def write(self, offset: int, data: bytes, *, save: bool = True) -> None:
        end = offset + len(data)
        if end > self._size:
            raise ValueError("write beyond the end of the content")
        view = memoryview(data)
        for path, inner, pos, n in self._pieces(offset, end):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
            try:
                os.pwrite(fd, view[pos - offset : pos - offset + n], inner)
            finally:
                os.close(fd)
        self._ranges.add(offset, end)
        if save:
            self.save()

    def copy_range(self, source: Content, start: int, end: int, step: int = 8 * 1024 * 1024) -> None:
        """Copy ``source[start:end]`` here at the same offsets (map saved by the caller)."""
        pos = start
        while pos < end:
            n = min(step, end - pos)
            self.write(pos, source.read(pos, n), save=False)
            pos += n

    def mark_written(self, ranges: Iterable[tuple[int, int]]) -> None:
        """Record ranges whose bytes are already in the data files (map saved by the caller).

        For a pending copy resumed after a restart: its bytes were written before the
        emulator stopped, its map is rebuilt from the copy's progress.
        """
        for s, e in ranges:
            self._ranges.add(s, min(e, self._size))

    def clear(self, offset: int, length: int, *, save: bool = True) -> None:
        self._ranges.remove(offset, offset + length)
        for path, inner, _, n in self._pieces(offset, min(offset + length, self._size)):
            if path.exists():
                _punch_hole(path, inner, n)
        if save:
            self.save()

    def resize(self, size: int) -> None:
        if size < self._size:
            self._ranges.remove(size, self._size)
            last = (size - 1) // SEGMENT if size else -1
            for path in self.segments():
                index = 0 if path.suffix == ".data" else int(path.suffix[1:])
                if index > last:
                    path.unlink()
                elif index == last and size % SEGMENT:
                    with open(path, "r+b") as f:
                        f.truncate(min(os.fstat(f.fileno()).st_size, size % SEGMENT))
        self._size = size
        self.save()

    def save(self) -> None:
        _write_map(self.map_path, self._size, self._ranges)

    def delete(self) -> None:
        for p in [*self.segments(), self.map_path]:
            p.unlink(missing_ok=True)

    def disk_usage(self) -> int:
        """Bytes the segment files really occupy."""
        return sum(os.stat(p).st_blocks * 512 for p in self.segments())


class VhdView:
    """A disk's content exported as a fixed VHD: the content, then the 512-byte footer."""

    def __init__(self, content: Content, footer: bytes) -> None:
        assert len(footer) == FOOTER_SIZE
        self._content = content
        self._footer = footer

    @property
    def size(self) -> int:
        return self._content.size + FOOTER_SIZE

    def ranges(self, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
        end = self.size if end is None else min(end, self.size)
        out = self._content.ranges(start, min(end, self._content.size))
        fs = self._content.size
        if end > fs and start < self.size:
            s = max(start, fs)
            if out and out[-1][1] == s:
                out[-1] = (out[-1][0], end)
            else:
                out.append((s, end))
        return out

    def read(self, offset: int, length: int) -> bytes:
        end = min(offset + length, self.size)
        fs = self._content.size
        head = self._content.read(offset, max(0, min(end, fs) - offset)) if offset < fs else b""
        tail = self._footer[max(0, offset - fs) : max(0, end - fs)] if end > fs else b""
        return head + tail


def content_sha256(content: Content) -> str:
    """A SHA-256 digest of the logical content that costs only the allocated bytes.

    A plain SHA-256 of a 1 TiB disk reads 1 TiB of zeros (about ten minutes); this digest
    instead hashes the size and, for every 4 MiB chunk that is not all zeros, its index and
    its SHA-256. It depends only on the logical bytes — not on how ranges were written —
    so two contents have the same digest exactly when they hold the same bytes (up to
    SHA-256 collisions).
    """
    h = hashlib.sha256(b"diskferry-sparse-sha256-v1\0" + content.size.to_bytes(8, "big"))
    chunks: list[int] = []
    for s, e in content.ranges():
        first, last = s // DIGEST_CHUNK, (e - 1) // DIGEST_CHUNK
        for index in range(first, last + 1):
            if not chunks or chunks[-1] < index:
                chunks.append(index)
    zero = bytes(DIGEST_CHUNK)
    for index in chunks:
        data = content.read(index * DIGEST_CHUNK, DIGEST_CHUNK)
        if data == zero[: len(data)]:
            continue
        h.update(index.to_bytes(8, "big") + hashlib.sha256(data).digest())
    return h.hexdigest()


def _segment_path(data_dir: Path, file_id: str, index: int) -> Path:
    return data_dir / (f"{file_id}.data" if index == 0 else f"{file_id}.data.{index}")


def segment_paths(data_dir: Path, file_id: str, size: int) -> list[Path]:
    """Every segment file a content of ``size`` bytes may have, written or not: named from the
    size, not found by a glob of the data directory — at 2,000 disks it holds some 12,000
    files, and every delete listed them all."""
    return [_segment_path(data_dir, file_id, i) for i in range(max(1, -(-size // SEGMENT)))]


def saved_size(data_dir: Path, file_id: str) -> int:
    """The size a content's saved map records (0 when it has none)."""
    try:
        return int(json.loads((data_dir / f"{file_id}.ranges").read_text())["size"])
    except (OSError, ValueError, KeyError):
        return 0


def _write_map(path: Path, size: int, ranges: RangeSet) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"size": size, "ranges": ranges.to_list()}))
    os.replace(tmp, path)


@functools.cache
def _libc() -> ctypes.CDLL | None:
    """libc, looked up once: ``find_library`` runs ``ldconfig``, far too slow per call."""
    name = ctypes.util.find_library("c")
    return ctypes.CDLL(name, use_errno=True) if name else None


#: FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
_PUNCH_HOLE_KEEP_SIZE = 0x02 | 0x01


def _punch_hole(path: Path, offset: int, length: int) -> None:
    """Give cleared pages back to the file system (reads are zero either way)."""
    libc = _libc()
    if libc is None:
        return  # not fatal: the range map already reads these pages as zeros
    try:
        fd = os.open(path, os.O_WRONLY)
    except OSError:
        return
    try:
        libc.fallocate(fd, _PUNCH_HOLE_KEEP_SIZE, ctypes.c_longlong(offset), ctypes.c_longlong(length))
    finally:
        os.close(fd)
