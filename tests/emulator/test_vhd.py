from __future__ import annotations

import struct

import pytest

from diskferry.emulator.vhd import FOOTER_SIZE, MIB, import_problem, make_footer, parse_footer


def test_footer_fields_follow_the_vhd_specification() -> None:
    footer = make_footer(64 * 1024**3)
    assert len(footer) == FOOTER_SIZE
    assert footer[:8] == b"conectix"
    assert struct.unpack_from(">I", footer, 60)[0] == 2  # fixed disk
    assert struct.unpack_from(">Q", footer, 16)[0] == 0xFFFFFFFFFFFFFFFF
    parsed = parse_footer(footer)
    assert parsed.checksum_ok
    assert parsed.current_size == 64 * 1024**3
    # geometry of a 64 GiB disk per the spec: 16 heads, 255 sectors per track
    cyl, heads, spt = struct.unpack_from(">HBB", footer, 56)
    assert (heads, spt) == (16, 255)
    assert cyl == min(65535, 64 * 1024**3 // 512 // (16 * 255))


def test_small_disk_geometry() -> None:
    cyl, heads, spt = struct.unpack_from(">HBB", make_footer(20 * MIB), 56)
    assert spt == 17
    assert cyl * heads * spt <= 20 * MIB // 512


@pytest.mark.parametrize(
    ("length", "footer", "fragment"),
    [
        (8 * MIB + 512, make_footer(8 * MIB), None),
        (8 * MIB + 1024, make_footer(8 * MIB + 512), "whole number"),
        (8 * MIB + 512, b"notavhd!" + make_footer(8 * MIB)[8:], "conectix"),
        (8 * MIB + 512, make_footer(4 * MIB), "does not match"),
        (1024, make_footer(512), "too small"),
    ],
)
def test_import_rules(length: int, footer: bytes, fragment: str | None) -> None:
    problem = import_problem(length, footer)
    if fragment is None:
        assert problem is None
    else:
        assert problem is not None and fragment in problem


def test_corrupt_checksum_is_refused() -> None:
    footer = bytearray(make_footer(8 * MIB))
    footer[100] ^= 0xFF
    assert "checksum" in (import_problem(8 * MIB + 512, bytes(footer)) or "")
