"""The fixed-VHD footer: the 512 bytes that turn a disk's raw content into a VHD.

Azure exports a managed disk as a fixed VHD (content + footer) and imports only fixed
VHDs whose virtual size is a whole number of MiB. Layout per the Microsoft VHD
specification: big-endian fields, checksum = ones' complement of the byte sum.
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass

FOOTER_SIZE = 512
COOKIE = b"conectix"
DISK_TYPE_FIXED = 2
MIB = 1024 * 1024
_VHD_EPOCH = 946684800  # 2000-01-01T00:00:00Z
_FMT = ">8sIIQI4sI4sQQHBBII16sB"


def _geometry(size: int) -> tuple[int, int, int]:
    total = min(size // 512, 65535 * 16 * 255)
    if total >= 65535 * 16 * 63:
        spt, heads = 255, 16
        cth = total // spt
    else:
        spt = 17
        cth = total // spt
        heads = max(4, (cth + 1023) // 1024)
        if cth >= heads * 1024 or heads > 16:
            spt, heads = 31, 16
            cth = total // spt
        if cth >= heads * 1024:
            spt, heads = 63, 16
            cth = total // spt
    return cth // heads, heads, spt


def _checksum(footer: bytes) -> int:
    return (~(sum(footer[:64]) + sum(footer[68:]))) & 0xFFFFFFFF


def make_footer(size: int, unique_id: uuid.UUID | None = None, timestamp: float = _VHD_EPOCH) -> bytes:
    """The footer of a fixed VHD whose content is ``size`` bytes."""
    cyl, heads, spt = _geometry(size)
    uid = (unique_id or uuid.uuid4()).bytes
    fields = struct.pack(
        _FMT,
        COOKIE,
        2,  # features: reserved bit always set
        0x00010000,
        0xFFFFFFFFFFFFFFFF,  # data offset: none for fixed disks
        max(0, int(timestamp) - _VHD_EPOCH) & 0xFFFFFFFF,
        b"dfry",
        0x000A0000,
        b"Wi2k",
        size,
        size,
        cyl,
        heads,
        spt,
        DISK_TYPE_FIXED,
        0,
        uid,
        0,
    )
    footer = bytearray(fields.ljust(FOOTER_SIZE, b"\0"))
    struct.pack_into(">I", footer, 64, _checksum(bytes(footer)))
    return bytes(footer)


@dataclass(frozen=True)
class Footer:
    cookie: bytes
    disk_type: int
    current_size: int
    checksum: int
    checksum_ok: bool


def parse_footer(raw: bytes) -> Footer:
    if len(raw) != FOOTER_SIZE:
        raise ValueError(f"a VHD footer is {FOOTER_SIZE} bytes, got {len(raw)}")
    f = struct.unpack_from(_FMT, raw)
    checksum = f[14]
    return Footer(
        cookie=f[0],
        disk_type=f[13],
        current_size=f[9],
        checksum=checksum,
        checksum_ok=checksum == _checksum(raw),
    )


def import_problem(blob_length: int, footer_bytes: bytes) -> str | None:
    """Why Azure would refuse to import this page blob as a disk, or None if it would not."""
    if blob_length < FOOTER_SIZE + MIB:
        return f"The VHD is {blob_length} bytes long; too small to hold a 1 MiB disk and its footer."
    footer = parse_footer(footer_bytes)
    if footer.cookie != COOKIE:
        return (
            "The specified cookie value in VHD footer is not supported. "
            "Disk is expected to have cookie value 'conectix'."
        )
    if not footer.checksum_ok:
        return "The VHD footer checksum is invalid."
    if footer.disk_type != DISK_TYPE_FIXED:
        return f"The VHD disk type {footer.disk_type} is not supported; only fixed VHDs can be imported."
    virtual = blob_length - FOOTER_SIZE
    if virtual % MIB:
        return f"The VHD has an unsupported virtual size of {virtual} bytes. The size must be a whole number (in MBs)."
    if footer.current_size != virtual:
        return f"The VHD footer's current size {footer.current_size} does not match its length {virtual}."
    return None
