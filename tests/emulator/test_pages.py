from __future__ import annotations

import random
from pathlib import Path

from diskferry.emulator.context import Emulator
from diskferry.emulator.pages import DIGEST_CHUNK, PageFile, RangeSet, VhdView, content_sha256
from diskferry.emulator.vhd import FOOTER_SIZE, make_footer, parse_footer

TIB = 1024**4
MIB = 1024**2


def _model_ranges(bits: list[bool]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for i, b in enumerate(bits):
        if b:
            if out and out[-1][1] == i:
                out[-1] = (out[-1][0], i + 1)
            else:
                out.append((i, i + 1))
    return out


def test_rangeset_matches_a_bitmap_model() -> None:
    rng = random.Random(7)
    for _ in range(200):
        bits = [False] * 64
        rs = RangeSet()
        for _ in range(12):
            s = rng.randrange(64)
            e = rng.randrange(s, 65)
            if rng.random() < 0.6:
                rs.add(s, e)
                bits[s:e] = [True] * (e - s)
            else:
                rs.remove(s, e)
                bits[s:e] = [False] * (e - s)
            assert list(rs) == _model_ranges(bits)
        s = rng.randrange(64)
        e = rng.randrange(s, 65)
        expect = [(max(a, s), min(b, e)) for a, b in _model_ranges(bits) if a < e and b > s]
        assert rs.intersect(s, e) == expect


def test_sparse_terabyte_costs_only_what_is_written(tmp_path: Path) -> None:
    f = PageFile.create(tmp_path, TIB)
    payload = random.Random(1).randbytes(10 * MIB)
    f.write(512 * 1024**3, payload)
    assert f.size == TIB
    assert f.allocated() == 10 * MIB
    assert f.disk_usage() < 11 * MIB
    assert f.read(512 * 1024**3 - 512, 1024) == bytes(512) + payload[:512]
    reopened = PageFile(tmp_path, f.id)
    assert reopened.ranges() == [(512 * 1024**3, 512 * 1024**3 + 10 * MIB)]


def test_clear_reads_back_zeros_and_drops_the_range(tmp_path: Path) -> None:
    f = PageFile.create(tmp_path, 4 * MIB)
    f.write(0, b"\x01" * (2 * MIB))
    f.clear(512, 1024)
    assert f.read(0, 2048) == b"\x01" * 512 + bytes(1024) + b"\x01" * 512
    assert f.ranges() == [(0, 512), (1536, 2 * MIB)]


def test_digest_depends_on_bytes_not_on_layout(tmp_path: Path) -> None:
    data = random.Random(3).randbytes(3 * MIB)
    a = PageFile.create(tmp_path, 64 * MIB)
    a.write(DIGEST_CHUNK - MIB, data)
    b = PageFile.create(tmp_path, 64 * MIB)
    # same bytes, written in other pieces, plus explicit zero pages elsewhere
    b.write(DIGEST_CHUNK - MIB + 2 * MIB, data[2 * MIB :])
    b.write(DIGEST_CHUNK - MIB, data[: 2 * MIB])
    b.write(40 * MIB, bytes(MIB))
    assert content_sha256(a) == content_sha256(b)
    b.write(DIGEST_CHUNK, b"\xff" * 512)
    assert content_sha256(a) != content_sha256(b)
    c = PageFile.create(tmp_path, 128 * MIB)
    c.write(DIGEST_CHUNK - MIB, data)
    assert content_sha256(a) != content_sha256(c), "the size is part of the content"


def test_vhd_view_appends_the_footer(tmp_path: Path) -> None:
    f = PageFile.create(tmp_path, 8 * MIB)
    f.write(MIB, b"\x07" * 4096)
    footer = make_footer(8 * MIB)
    view = VhdView(f, footer)
    assert view.size == 8 * MIB + FOOTER_SIZE
    assert view.ranges() == [(MIB, MIB + 4096), (8 * MIB, 8 * MIB + FOOTER_SIZE)]
    assert view.read(8 * MIB - 4, 8) == bytes(4) + footer[:4]
    assert parse_footer(view.read(8 * MIB, FOOTER_SIZE)).current_size == 8 * MIB
    copy = PageFile.copy_of(tmp_path, view)
    assert content_sha256(copy) == content_sha256(view)


def test_contents_larger_than_one_file_may_be(tmp_path: Path) -> None:
    # ext4 caps a file at 16 TiB; Azure disks reach 32 TiB (64 TiB for Ultra)
    size = 40 * TIB
    f = PageFile.create(tmp_path, size)
    tail = random.Random(5).randbytes(MIB)
    across = size // 2 - 4096  # straddles two segments
    f.write(across, b"\x05" * 8192)
    f.write(size - MIB, tail)
    assert f.read(size - MIB, MIB) == tail
    assert f.read(across - 512, 9216) == bytes(512) + b"\x05" * 8192 + bytes(512)
    assert f.disk_usage() < 3 * MIB
    again = PageFile.copy_of(tmp_path, f)
    assert content_sha256(again) == content_sha256(f)
    f.resize(10 * TIB)
    assert f.allocated() == 0
    assert len(f.segments()) <= 1
    f.delete()
    assert f.segments() == []


def test_a_dropped_content_leaves_no_file_whether_it_was_loaded_or_not(tmp_path: Path) -> None:
    # its segment files are named from its saved size, not found by listing the data directory
    emu = Emulator.open(tmp_path / "state")
    try:
        for loaded in (True, False):
            f = PageFile.create(emu.data_dir, 40 * TIB)
            f.write(0, b"\x01" * 4096)
            f.write(40 * TIB - 4096, b"\x02" * 4096)
            assert len(f.segments()) == 2
            other = PageFile.create(emu.data_dir, MIB)
            other.write(0, b"\x03" * 4096)
            if loaded:
                emu.pagefiles[f.id] = f
            emu.drop_pages(f.id)
            assert sorted(p.name for p in emu.data_dir.iterdir()) == sorted(
                [f"{other.id}.data", f"{other.id}.ranges"])
            emu.drop_pages(other.id)
            emu.drop_pages(other.id)  # gone already: nothing to do
    finally:
        emu.store.close()
