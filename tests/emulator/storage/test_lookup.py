"""``find_blob``: the contract the compute provider relies on (in-process)."""

from __future__ import annotations

from pathlib import Path

from diskferry.emulator.context import Emulator
from diskferry.emulator.storage import model
from diskferry.emulator.storage.lookup import find_blob

ACCOUNT_ID = "/subscriptions/s/resourceGroups/RG-One/providers/Microsoft.Storage/storageAccounts/stage1"


def _emulator(tmp_path: Path) -> Emulator:
    emu = Emulator.open(tmp_path)
    emu.blob_url = "https://127.0.0.1:4443"
    emu.store.put(
        model.ACCOUNT_KIND,
        ACCOUNT_ID,
        {"id": ACCOUNT_ID, "name": "stage1", "location": "brazilsouth", "x": {"keys": []}},
    )
    return emu


def _blob(emu: Emulator, name: str, payload: bytes) -> None:
    pf = emu.new_pages(1024)
    pf.write(0, payload)
    model.put_blob(
        emu,
        {
            "account": "stage1",
            "container": "vhds",
            "name": name,
            "blob_type": "PageBlob",
            "properties": {},
            "metadata": {},
            "copy": {"status": "success"},
            "x": {"data": pf.id},
        },
    )


def test_finds_blob_with_case_sensitive_name(tmp_path: Path) -> None:
    emu = _emulator(tmp_path)
    _blob(emu, "Disk^A.vhd", b"upper")
    _blob(emu, "disk^a.vhd", b"lower")
    ref = find_blob(emu, "https://127.0.0.1:4443/stage1/vhds/Disk%5EA.vhd?sv=x&sig=y")
    assert ref is not None
    assert (ref.account, ref.account_id, ref.location) == ("stage1", ACCOUNT_ID, "brazilsouth")
    assert (ref.container, ref.name, ref.blob_type, ref.copy_status) == ("vhds", "Disk^A.vhd", "PageBlob", "success")
    assert ref.content.read(0, 5) == b"upper"
    other = find_blob(emu, "https://127.0.0.1:4443/stage1/vhds/disk%5Ea.vhd")
    assert other is not None and other.content.read(0, 5) == b"lower"
    emu.store.close()


def test_none_when_missing_or_elsewhere(tmp_path: Path) -> None:
    emu = _emulator(tmp_path)
    _blob(emu, "a.vhd", b"x")
    assert find_blob(emu, "https://127.0.0.1:9/stage1/vhds/a.vhd") is None
    assert find_blob(emu, "https://127.0.0.1:4443/stage1/vhds/b.vhd") is None
    assert find_blob(emu, "https://127.0.0.1:4443/nosuch/vhds/a.vhd") is None
    assert find_blob(emu, "https://127.0.0.1:4443/stage1/vhds") is None
    emu.store.close()
