"""Shared copy bandwidth, measured from ``x-ms-copy-progress``: copies in flight into one
destination account share its aggregate, copies between one region pair share the pair's,
and a settings change applies to copies already running."""

from __future__ import annotations

import time
from collections.abc import Callable

from azure.storage.blob import BlobClient

from diskferry.emulator.admin_client import AdminClient
from tests.emulator.storage.conftest import MIB, Account
from tests.emulator.storage.test_copyengine import PAIR, sas_url, source_blob, watch


def _progress(blob: BlobClient) -> int:
    return int(blob.get_blob_properties().copy.progress.split("/")[0])


def _rate(blobs: list[BlobClient], seconds: float) -> tuple[list[int], float]:
    """Bytes each copy moved during ``seconds``, and their total rate in bytes/s."""
    before = [_progress(b) for b in blobs]
    start = time.monotonic()
    time.sleep(seconds)
    moved = [_progress(b) - p for b, p in zip(blobs, before, strict=True)]
    return moved, sum(moved) / (time.monotonic() - start)


def _start(source: Account, dest: Account, src: BlobClient, count: int) -> list[BlobClient]:
    container = dest.container()
    blobs = [container.get_blob_client(f"copy{i}.vhd") for i in range(count)]
    for blob in blobs:
        blob.start_copy_from_url(sas_url(source, src))
    return blobs


def test_copies_into_one_account_share_its_bandwidth(account: Account, remote: Account, admin: AdminClient) -> None:
    src, data = source_blob(account, 16 * MIB)
    admin.set(account_bandwidths={remote.name: 2 * MIB})
    blobs = _start(account, remote, src, 2)

    moved, rate = _rate(blobs, 2.0)
    # 2 MiB/s in all, not 2 MiB/s each (each copy alone may do 60 MiB/s)
    assert 1.2 * MIB <= rate <= 2.6 * MIB, rate / MIB
    assert min(moved) >= 0.6 * max(moved), moved  # shared in equal parts

    admin.set(account_bandwidths={})
    for blob in blobs:
        w = watch(blob)
        assert w.final.copy.status == "success"
    assert blobs[0].download_blob().readall() == data


def test_a_region_pair_is_shared_across_accounts(
    account: Account, make_account: Callable[[str], Account], admin: AdminClient
) -> None:
    src, _ = source_blob(account, 16 * MIB)
    first, second = make_account("brazilsouth"), make_account("brazilsouth")
    admin.set(pair_bandwidths={PAIR: 3 * MIB})
    blobs = _start(account, first, src, 1) + _start(account, second, src, 2)

    moved, rate = _rate(blobs, 2.0)
    assert 1.8 * MIB <= rate <= 3.9 * MIB, rate / MIB
    assert min(moved) >= 0.6 * max(moved), moved

    admin.set(pair_bandwidths={})
    assert all(watch(b).final.copy.status == "success" for b in blobs)


def test_a_bandwidth_change_applies_to_running_copies(account: Account, remote: Account, admin: AdminClient) -> None:
    src, _ = source_blob(account, 24 * MIB)
    admin.set(copy_bandwidth_pairs={PAIR: 1 * MIB})
    [blob] = _start(account, remote, src, 1)

    _, slow = _rate([blob], 1.5)
    admin.set(copy_bandwidth_pairs={PAIR: 8 * MIB})
    _, fast = _rate([blob], 1.0)
    assert slow <= 1.5 * MIB, slow / MIB
    assert fast >= 4 * slow, (slow / MIB, fast / MIB)

    # lowered again below a shared aggregate: the lower of the two wins
    admin.set(copy_bandwidth_pairs={PAIR: 8 * MIB}, account_bandwidths={remote.name: 1 * MIB})
    _, capped = _rate([blob], 1.5)
    assert capped <= 1.5 * MIB, capped / MIB
    admin.set(account_bandwidths={})
    assert watch(blob).final.copy.status == "success"
