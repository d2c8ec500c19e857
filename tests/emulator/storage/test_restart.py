"""Pending copies survive an emulator restart (graceful or killed) and finish with equal bytes."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient

from diskferry.emulator.testing import EmulatorProcess
from tests.conftest import clients_for
from tests.emulator.storage.conftest import MIB, Account
from tests.emulator.storage.test_copyengine import sas_url, watch
from tests.waiting import wait_until


def _accounts(proc: EmulatorProcess) -> tuple[Account, Account]:
    env = proc.env
    clients = clients_for(proc)
    clients.resource.resource_groups.create_or_update("rg", {"location": "westeurope"})
    out = []
    for name, location in (("srcacct", "westeurope"), ("dstacct", "brazilsouth")):
        body = {"location": location, "sku": {"name": "Standard_LRS"}, "kind": "StorageV2"}
        made = clients.storage.storage_accounts.begin_create("rg", name, body).result()
        key = clients.storage.storage_accounts.list_keys("rg", name).keys_property[0].value
        out.append(Account(name, key, made.id, location, f"{env['DISKFERRY_BLOB_ENDPOINT']}/{name}"))
    return out[0], out[1]


def _moved(account: Account, proc: EmulatorProcess) -> Account:
    """The same account behind the restarted emulator's new port."""
    return Account(
        account.name, account.key, account.id, account.location, f"{proc.env['DISKFERRY_BLOB_ENDPOINT']}/{account.name}"
    )


def _saved_progress(state: Path, path: str) -> int:
    """Bytes copied as the emulator last saved them to its SQLite store (read-only: WAL
    mode lets a reader in beside the running emulator)."""
    db = sqlite3.connect(f"file:{state / 'state.sqlite3'}?mode=ro", uri=True)
    try:
        row = db.execute("SELECT body FROM docs WHERE kind = 'blob' AND key LIKE ?", (f"%{path}",)).fetchone()
    finally:
        db.close()
    copy = json.loads(row[0]).get("copy") if row else None
    return int(str(copy["progress"]).split("/")[0]) if copy else 0


@pytest.mark.parametrize("how", ["terminate", "kill"])
def test_pending_copy_resumes_after_restart(
    tmp_path: Path, how: str, spawn_emulator: Callable[[Path], EmulatorProcess]
) -> None:
    state = tmp_path / "state"
    size = 8 * MIB
    data = os.urandom(size)
    with spawn_emulator(state) as first:
        src_acct, dst_acct = _accounts(first)
        first.admin().set(copy_bandwidth=2 * MIB)
        src = src_acct.container("src").get_blob_client("disk.vhd")
        src.create_page_blob(size)
        for off in range(0, size, 4 * MIB):
            src.upload_page(data[off : off + 4 * MIB], offset=off, length=4 * MIB)
        dest = dst_acct.container("dst").get_blob_client("disk.vhd")
        copy_id = dest.start_copy_from_url(sas_url(src_acct, src))["copy_id"]
        # until a batched save of progress reached the disk (the map is rebuilt from it)
        wait_until(lambda: _saved_progress(state, "dstacct/dst/disk.vhd") > 0, 10, "no progress saved after 10s")
        before = int(dest.get_blob_properties().copy.progress.split("/")[0])
        assert 0 < before < size
        if how == "kill":
            assert first.proc is not None
            first.proc.kill()
            first.proc.wait()

    with spawn_emulator(state) as second:
        dst = _moved(dst_acct, second)
        dest2 = BlobServiceClient(dst.url, credential=dst.key).get_blob_client("dst", "disk.vhd")
        resumed = dest2.get_blob_properties()
        assert resumed.copy.id == copy_id and resumed.copy.status == "pending"
        w = watch(dest2)
        assert w.final.copy.status == "success", w.final.copy.status_description
        assert w.progress == sorted(w.progress)
        if how == "terminate":
            assert w.progress[0] >= before  # a graceful stop saves where every copy was
        assert dest2.download_blob().readall() == data
