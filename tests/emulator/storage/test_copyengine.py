"""The asynchronous copy engine through ``start_copy_from_url``: pending → success at the set
bandwidth, abort, injected failure, SAS expiry, source deletion, overwrite and key
regeneration mid-copy, sources that cannot be verified, and a 1 TiB sparse blob copied across regions."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import BlobClient, BlobProperties

from diskferry.emulator.admin_client import AdminClient
from tests.conftest import Clients
from tests.emulator.storage.conftest import MIB, Account
from tests.waiting import wait_until

PAIR = "westeurope>brazilsouth"


@dataclass
class Watched:
    final: BlobProperties
    progress: list[int]
    seconds: float


def copied(props: BlobProperties) -> int:
    return int(props.copy.progress.split("/")[0])


def watch(blob: BlobClient, timeout: float = 30, interval: float = 0.1) -> Watched:
    """Poll a copy until it ends; the progress values seen on the way."""
    start = time.monotonic()
    seen: list[int] = []

    def ended() -> BlobProperties | None:
        props = blob.get_blob_properties()
        seen.append(copied(props))
        return props if props.copy.status != "pending" else None

    final = wait_until(ended, timeout, lambda: f"copy still pending after {timeout}s at {seen[-1]} bytes", interval)
    return Watched(final, seen, time.monotonic() - start)


def moving(blob: BlobClient) -> None:
    """Until the copy has moved bytes and not ended: what the test does next is mid-copy."""
    def mid_copy() -> bool:
        props = blob.get_blob_properties()
        assert props.copy.status == "pending", props.copy.status
        return copied(props) > 0

    wait_until(mid_copy, 10, "the copy moved nothing in 10s")


def outlived(twin: BlobClient, admin: AdminClient) -> None:
    """Until ``twin``, a copy started beside the one a test stopped, has finished at full
    speed: had the stopped copy gone on, it would have finished by then too."""
    admin.set(copy_bandwidth_pairs={PAIR: 256 * MIB})
    assert watch(twin).final.copy.status == "success"


def source_blob(account: Account, size: int, name: str = "src.vhd") -> tuple[BlobClient, bytes]:
    """A page blob written in full with random bytes."""
    blob = account.container().get_blob_client(name)
    blob.create_page_blob(size, metadata={"origin": "test"})
    data = os.urandom(size)
    for off in range(0, size, 4 * MIB):
        chunk = data[off : off + 4 * MIB]
        blob.upload_page(chunk, offset=off, length=len(chunk))
    return blob, data


def sas_url(account: Account, blob: BlobClient, seconds: float = 3600, permission: str = "r") -> str:
    return f"{blob.url}?{account.blob_sas(blob.container_name, blob.blob_name, permission, seconds)}"


def _code(err: pytest.ExceptionInfo[HttpResponseError]) -> str:
    return str(err.value.response.headers.get("x-ms-error-code"))


def test_pending_then_success_at_the_bandwidth(account: Account, remote: Account, admin: AdminClient) -> None:
    size = 6 * MIB
    src, data = source_blob(account, size)
    admin.set(copy_bandwidth_pairs={PAIR: 2 * MIB})
    dest = remote.container().get_blob_client("copy.vhd")
    source_url = sas_url(account, src)
    started = dest.start_copy_from_url(source_url)
    assert started["copy_status"] == "pending" and started["copy_id"]
    first = dest.get_blob_properties()
    assert first.copy.status == "pending" and first.copy.id == started["copy_id"]
    assert first.size == size and first.blob_type == "PageBlob"
    assert first.copy.source == source_url  # as given, SAS included, as Azure reports it

    w = watch(dest)
    assert w.final.copy.status == "success", w.final.copy.status_description
    assert w.final.copy.progress == f"{size}/{size}"
    assert w.final.copy.completion_time is not None
    assert w.progress == sorted(w.progress), "progress must never go back"
    # seen pending at many steps on the way (6 MiB at 2 MiB/s; the seconds it takes are a
    # figure of tests/benchmarks/timings.py, not a pass mark)
    assert len(set(w.progress)) >= 5, w.progress
    assert w.final.metadata == {"origin": "test"}
    assert dest.download_blob().readall() == data
    assert admin.hash(dest.url)["sha256"] == admin.hash(src.url)["sha256"]

    listed = next(iter(remote.service().get_container_client(dest.container_name).list_blobs(include=["copy"])))
    assert listed.copy.status == "success" and listed.copy.id == started["copy_id"]
    assert listed.copy.progress == f"{size}/{size}"


def test_abort_leaves_an_empty_blob_with_metadata(account: Account, remote: Account, admin: AdminClient) -> None:
    src, _ = source_blob(account, 8 * MIB)
    admin.set(copy_bandwidth_pairs={PAIR: 1 * MIB})
    dest, twin = (remote.container().get_blob_client(n) for n in ("aborted.vhd", "aborted-twin.vhd"))
    copy_id = dest.start_copy_from_url(sas_url(account, src), metadata={"job": "j1"})["copy_id"]
    twin.start_copy_from_url(sas_url(account, src))
    with pytest.raises(ResourceExistsError) as pending:
        dest.start_copy_from_url(sas_url(account, src))
    assert _code(pending) == "PendingCopyOperation"
    with pytest.raises(HttpResponseError) as busy:
        dest.upload_page(bytes(512), offset=0, length=512)
    assert _code(busy) == "PendingCopyOperation"
    with pytest.raises(HttpResponseError) as mismatch:
        dest.abort_copy("00000000-0000-0000-0000-000000000000")
    assert _code(mismatch) == "CopyIdMismatch"

    dest.abort_copy(copy_id)
    props = dest.get_blob_properties()
    assert props.copy.status == "aborted" and props.size == 0
    assert props.metadata == {"job": "j1"}
    assert dest.download_blob().readall() == b""
    outlived(twin, admin)
    after = dest.get_blob_properties()
    assert (after.copy.status, after.size) == ("aborted", 0)
    with pytest.raises(HttpResponseError) as err:
        dest.abort_copy(copy_id)
    assert _code(err) == "NoPendingCopyOperation"


def test_copy_fault_fails_at_n_percent(account: Account, remote: Account, admin: AdminClient) -> None:
    size = 8 * MIB
    src, _ = source_blob(account, size)
    admin.set(copy_bandwidth_pairs={PAIR: 8 * MIB})
    admin.add_fault("blob.CopyBlob", kind="copy", at_percent=50, status=500, code="InternalError", message="Failed.")
    dest = remote.container().get_blob_client("faulty.vhd")
    dest.start_copy_from_url(sas_url(account, src))
    w = watch(dest)
    assert w.final.copy.status == "failed"
    assert w.final.copy.status_description.startswith("500 InternalError")
    assert w.final.copy.progress == f"{size // 2}/{size}"
    assert w.final.size == 0


def test_sas_expiring_mid_copy_fails_it(account: Account, remote: Account, admin: AdminClient) -> None:
    size = 8 * MIB
    src, _ = source_blob(account, size)
    admin.set(copy_bandwidth_pairs={PAIR: 2 * MIB})
    dest = remote.container().get_blob_client("expired.vhd")
    dest.start_copy_from_url(sas_url(account, src, seconds=1.5))
    w = watch(dest)
    assert w.final.copy.status == "failed"
    assert w.final.copy.status_description.startswith("403 AuthenticationFailed"), w.final.copy.status_description
    copied, total = map(int, w.final.copy.progress.split("/"))
    assert 0 < copied < total


def test_source_deleted_mid_copy_fails_it(account: Account, remote: Account, admin: AdminClient) -> None:
    src, _ = source_blob(account, 8 * MIB)
    admin.set(copy_bandwidth_pairs={PAIR: 2 * MIB})
    dest = remote.container().get_blob_client("orphan.vhd")
    dest.start_copy_from_url(sas_url(account, src))
    moving(dest)
    src.delete_blob()
    w = watch(dest)
    assert w.final.copy.status == "failed"
    assert w.final.copy.status_description.startswith("404 BlobNotFound"), w.final.copy.status_description


def test_unverifiable_sources_create_nothing(account: Account, remote: Account) -> None:
    src, _ = source_blob(account, MIB)
    target = remote.container()
    cases = [
        (sas_url(account, src, seconds=-60), 403),
        (f"{src.url}x?{account.blob_sas(src.container_name, src.blob_name + 'x')}", 404),
        (src.url, 404),  # another account's private blob, no SAS
        (sas_url(account, src, permission="w"), 403),
    ]
    for i, (url, status) in enumerate(cases):
        dest = target.get_blob_client(f"never-{i}")
        with pytest.raises(HttpResponseError) as err:
            dest.start_copy_from_url(url)
        assert (err.value.status_code, _code(err)) == (status, "CannotVerifyCopySource"), i
        assert err.value.response.headers["x-ms-copy-source-status-code"] == str(status)
        assert not dest.exists()


def test_same_account_copy_needs_no_sas(account: Account) -> None:
    src, data = source_blob(account, MIB)
    dest = account.service().get_blob_client(src.container_name, "same.vhd")
    dest.start_copy_from_url(src.url)
    assert watch(dest).final.copy.status == "success"
    assert dest.download_blob().readall() == data


def test_deleting_the_destination_stops_the_copy(account: Account, remote: Account, admin: AdminClient) -> None:
    src, _ = source_blob(account, 4 * MIB)
    admin.set(copy_bandwidth_pairs={PAIR: 1 * MIB})
    dest, twin = (remote.container().get_blob_client(n) for n in ("gone.vhd", "gone-twin.vhd"))
    dest.start_copy_from_url(sas_url(account, src))
    twin.start_copy_from_url(sas_url(account, src))
    moving(dest)
    dest.delete_blob()
    outlived(twin, admin)
    with pytest.raises(ResourceNotFoundError):
        dest.get_blob_properties()


def test_one_tib_sparse_blob_crosses_regions_in_seconds(account: Account, remote: Account, admin: AdminClient) -> None:
    tib = 1024**4
    src = account.container().get_blob_client("big.vhd")
    src.create_page_blob(tib)
    pieces = {0: os.urandom(MIB), 512 * 1024**3: os.urandom(4096), tib - 8192: os.urandom(8192)}
    for off, chunk in pieces.items():
        src.upload_page(chunk, offset=off, length=len(chunk))
    admin.set(copy_bandwidth_pairs={PAIR: 60 * MIB})
    dest = remote.container().get_blob_client("big-copy.vhd")
    dest.start_copy_from_url(sas_url(account, src))
    # only the allocated 1 MiB + 12 KiB move: at 60 MiB/s all of 1 TiB would take 5 hours (the
    # seconds it takes are a figure of tests/benchmarks/timings.py)
    w = watch(dest, timeout=30)
    assert w.final.copy.status == "success" and w.final.size == tib
    assert [(r.start, r.end) for r in dest.list_page_ranges()] == [(r.start, r.end) for r in src.list_page_ranges()]
    assert admin.hash(dest.url)["sha256"] == admin.hash(src.url)["sha256"]
    assert dest.download_blob(offset=512 * 1024**3, length=4096).readall() == pieces[512 * 1024**3]


def test_regenerating_the_source_key_mid_copy_fails_it(
    make_account: Callable[[str], Account], storage_rg: str, clients: Clients, remote: Account, admin: AdminClient
) -> None:
    """The running copy's SAS was signed with the old key: Azure stops honouring it."""
    owner = make_account("westeurope")  # its own account: the shared one keeps its key
    src, _ = source_blob(owner, 8 * MIB)
    admin.set(copy_bandwidth_pairs={PAIR: 2 * MIB})
    dest = remote.container().get_blob_client("rekeyed.vhd")
    dest.start_copy_from_url(sas_url(owner, src))
    moving(dest)
    clients.storage.storage_accounts.regenerate_key(storage_rg, owner.name, {"keyName": "key1"})
    w = watch(dest)
    assert w.final.copy.status == "failed"
    assert w.final.copy.status_description.startswith("403 AuthenticationFailed"), w.final.copy.status_description
    # it stopped where the key changed, not at the end: the old SAS opens nothing more
    assert copied(w.final) < 8 * MIB and w.final.size == 0


def test_overwriting_the_source_mid_copy_fails_it(account: Account, remote: Account, admin: AdminClient) -> None:
    src, _ = source_blob(account, 8 * MIB, name="rewritten.vhd")
    admin.set(copy_bandwidth_pairs={PAIR: 2 * MIB})
    dest = remote.container().get_blob_client("rewritten-copy.vhd")
    dest.start_copy_from_url(sas_url(account, src))
    moving(dest)
    src.create_page_blob(8 * MIB)  # a new blob of the same name
    w = watch(dest)
    assert w.final.copy.status == "failed"
    assert w.final.copy.status_description.startswith("412 ConditionNotMet"), w.final.copy.status_description
