"""The blob calls diskferry relies on, as scenarios run unchanged against Azurite and the emulator.

Each scenario drives a :class:`~tests.conformance.probe.Probe` with the plain
``azure-storage-blob`` API. ``expect=`` holds Azure's documented answer where it is known
(checked on both backends); everything recorded is also compared between the backends.
Copy timing is the one thing not compared: copies are polled until no longer pending.
"""

from __future__ import annotations

import itertools
import random
import warnings
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode

from azure.storage.blob import (
    BlobClient,
    BlobProperties,
    BlobSasPermissions,
    ContainerClient,
    ContainerSasPermissions,
    generate_blob_sas,
    generate_container_sas,
)

from tests.conformance.probe import ClientError, Err, Probe, digest

KIB = 1024
MIB = 1024 * KIB
#: the sparse page blob used throughout: 4 MiB nominal with a few written ranges
BLOB_SIZE = 4 * MIB


def pattern(seed: str, size: int) -> bytes:
    """The same pseudo-random bytes on both backends."""
    return random.Random(seed).randbytes(size)


def pages(blob: BlobClient, **kwargs: Any) -> list[tuple[int, int]]:
    """Allocated page ranges, inclusive ``(start, end)``, adjacent ranges merged.

    How a service splits contiguous data into ranges is its own business (Azurite keeps
    one range per write); what a reader relies on is which bytes are allocated.
    """
    return _merged((int(r.start or 0), int(r.end or 0)) for r in blob.list_page_ranges(**kwargs))


def legacy_pages(blob: BlobClient) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """``get_page_ranges`` (deprecated in favour of ``list_page_ranges``, still in use): allocated
    and cleared ranges, adjacent ranges merged."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        filled, cleared = blob.get_page_ranges()
    return _merged((r["start"], r["end"]) for r in filled), _merged((r["start"], r["end"]) for r in cleared)


def _merged(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for start, end in ranges:
        if out and start == out[-1][1] + 1:
            out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


def view(p: Probe, props: BlobProperties) -> dict[str, Any]:
    """The properties diskferry reads from Get Blob Properties / List Blobs."""
    copy = props.copy
    return {
        "blob_type": str(props.blob_type.value if hasattr(props.blob_type, "value") else props.blob_type),
        "size": props.size,
        "metadata": dict(props.metadata or {}),
        "etag": bool(props.etag),
        "last_modified": props.last_modified is not None,
        "content_type": props.content_settings.content_type,
        "copy.status": copy.status,
        "copy.progress": copy.progress,
        "copy.id": bool(copy.id),
        "copy.source": p.url_view(copy.source),
        "copy.completion_time": copy.completion_time is not None,
        "copy.status_description": copy.status_description,
    }


def write_sparse(blob: BlobClient, seed: str) -> None:
    """A 4 MiB page blob with data at 0, around 1 MiB (with a hole cleared) and at the end."""
    blob.create_page_blob(BLOB_SIZE)
    blob.upload_page(pattern(seed + "a", 2 * KIB), offset=0, length=2 * KIB)
    blob.upload_page(pattern(seed + "b", 64 * KIB), offset=MIB, length=64 * KIB)
    blob.clear_page(offset=MIB + 4 * KIB, length=4 * KIB)
    blob.upload_page(pattern(seed + "c", 512), offset=BLOB_SIZE - 512, length=512)


def content(blob: BlobClient, **kwargs: Any) -> tuple[int, str]:
    return digest(blob.download_blob(**kwargs).readall())


def sas_query(p: Probe, container: str, blob: str, index: int = 0, **kwargs: Any) -> str:
    """A Service SAS query string for one blob, signed with the account's key (read, 1 h by default)."""
    account = p.backend.accounts[index]
    now = datetime.now(UTC)
    kwargs.setdefault("permission", BlobSasPermissions(read=True))
    kwargs.setdefault("expiry", now + timedelta(hours=1))
    kwargs.setdefault("start", now - timedelta(minutes=5))
    return generate_blob_sas(account.name, container, blob, account_key=account.key, **kwargs)


def with_query(url: str, query: str) -> str:
    return f"{url}?{query}"


def tamper(query: str) -> str:
    """The same SAS with one character of its signature changed."""
    items = parse_qsl(query)
    out = []
    for k, v in items:
        if k == "sig":
            v = ("A" if v[0] != "A" else "B") + v[1:]
        out.append((k, v))
    return urlencode(out)


# ---------------------------------------------------------------------------------------
# containers


def containers(p: Probe) -> None:
    svc = p.backend.service()
    name, other, missing = p.name("c1"), p.name("c2"), p.name("missing")
    c = svc.get_container_client(name)
    p.call("create", lambda: c.create_container(metadata={"purpose": "conformance"}), expect="ok")
    p.call("create again", c.create_container, expect=Err(409, "ContainerAlreadyExists"))
    p.call("create second", lambda: svc.create_container(other), show=lambda _: "ok", expect="ok")
    p.call("exists", c.exists, show=bool, expect=True)
    p.call("exists missing", svc.get_container_client(missing).exists, show=bool, expect=False)
    p.call(
        "properties",
        c.get_container_properties,
        show=lambda pr: {"metadata": dict(pr.metadata), "etag": bool(pr.etag), "lease": pr.lease.state},
    )
    p.call(
        "properties missing",
        svc.get_container_client(missing).get_container_properties,
        expect=Err(404, "ContainerNotFound"),
    )
    p.call(
        "list by prefix",
        lambda: [c.name for c in svc.list_containers(name_starts_with=f"cf{p.tag}-")],
        show=sorted,
        expect=["<c1>", "<c2>"],
    )
    p.call(
        "list with metadata",
        lambda: {
            c.name: dict(c.metadata or {}) for c in svc.list_containers(name_starts_with=name, include_metadata=True)
        },
        show=lambda d: d,
    )
    p.call("list blobs empty", lambda: list(c.list_blobs()), show=len, expect=0)
    p.call(
        "list blobs missing container",
        lambda: list(svc.get_container_client(missing).list_blobs()),
        expect=Err(404, "ContainerNotFound"),
    )
    p.call(
        "create blob in missing container",
        lambda: svc.get_blob_client(missing, "b").create_page_blob(512),
        expect=Err(404, "ContainerNotFound"),
    )
    p.call("delete", c.delete_container, expect="ok")
    p.call("exists after delete", c.exists, show=bool, expect=False)
    p.call("delete again", c.delete_container, expect=Err(404, "ContainerNotFound"))
    p.call("delete second", lambda: svc.delete_container(other), expect="ok")


# ---------------------------------------------------------------------------------------
# page blobs


def page_blob_lifecycle(p: Probe) -> None:
    c = p.backend.container(p.name("pages"))
    c.create_container()
    blob = c.get_blob_client("disk0.vhd")
    p.call(
        "create page blob",
        lambda: blob.create_page_blob(BLOB_SIZE, metadata={"role": "temporary"}),
        show=lambda r: {"etag": bool(r.get("etag")), "last_modified": r.get("last_modified") is not None},
    )
    p.call("properties new", blob.get_blob_properties, show=lambda pr: view(p, pr))
    p.call("page ranges new", lambda: pages(blob), expect=[])
    p.call("download new", lambda: content(blob), expect=digest(bytes(BLOB_SIZE)))

    first = pattern("first", 2 * KIB)
    p.call(
        "upload page at 0",
        lambda: blob.upload_page(first, offset=0, length=2 * KIB),
        show=lambda r: {"etag": bool(r.get("etag")), "sequence": r.get("blob_sequence_number")},
    )
    p.call(
        "upload page 64 KiB at 1 MiB", lambda: blob.upload_page(pattern("mid", 64 * KIB), offset=MIB, length=64 * KIB)
    )
    p.call("upload adjacent page", lambda: blob.upload_page(pattern("adj", 512), offset=MIB + 64 * KIB, length=512))
    p.call("upload last page", lambda: blob.upload_page(pattern("last", 512), offset=BLOB_SIZE - 512, length=512))
    p.call("clear 4 KiB inside", lambda: blob.clear_page(offset=MIB + 4 * KIB, length=4 * KIB))
    p.call(
        "page ranges",
        lambda: pages(blob),
        expect=[
            (0, 2047),
            (MIB, MIB + 4 * KIB - 1),
            (MIB + 8 * KIB, MIB + 64 * KIB + 511),
            (BLOB_SIZE - 512, BLOB_SIZE - 1),
        ],
    )
    p.call("page ranges in window", lambda: pages(blob, offset=MIB, length=16 * KIB))
    p.call("page ranges, older API", lambda: legacy_pages(blob))
    p.call("download range", lambda: content(blob, offset=0, length=2 * KIB), expect=digest(first))
    p.call("download range straddling a hole", lambda: content(blob, offset=MIB + 2 * KIB, length=8 * KIB))
    p.call(
        "download unwritten range", lambda: content(blob, offset=2 * MIB, length=4 * KIB), expect=digest(bytes(4 * KIB))
    )
    p.call("download all", lambda: content(blob))
    p.call(
        "download past end", lambda: content(blob, offset=BLOB_SIZE + 512, length=512), expect=Err(416, "InvalidRange")
    )
    p.call("properties after writes", blob.get_blob_properties, show=lambda pr: view(p, pr))

    # alignment: the SDK refuses unaligned pages itself; the service refuses them on the wire
    p.call(
        "upload unaligned offset (sdk)",
        lambda: blob.upload_page(b"x" * 512, offset=100, length=512),
        expect=ClientError("ValueError"),
    )
    p.call(
        "clear unaligned length (sdk)", lambda: blob.clear_page(offset=0, length=100), expect=ClientError("ValueError")
    )
    raw = blob._client.page_blob
    # Azure answers 400 InvalidHeaderValue (naming the Range or x-ms-blob-content-length
    # header) and 416 InvalidPageRange past the end; Azurite 3.37 answers these with other
    # codes (416 "Requested Range Not Satisfiable", 400 InvalidOperation), so they are not compared.
    invalid_header = Err(400, "InvalidHeaderValue")
    p.call(
        "put page unaligned range (wire)",
        lambda: raw.upload_pages(512, b"x" * 512, range="bytes=1-512"),
        expect=invalid_header,
        azurite_differs=True,
    )
    p.call(
        "put page odd length (wire)",
        lambda: raw.upload_pages(100, b"x" * 100, range="bytes=0-99"),
        expect=invalid_header,
        azurite_differs=True,
    )
    p.call(
        "clear page unaligned range (wire)",
        lambda: raw.clear_pages(0, range="bytes=0-99"),
        expect=invalid_header,
        azurite_differs=True,
    )
    p.call(
        "upload page past end",
        lambda: blob.upload_page(b"x" * 512, offset=BLOB_SIZE, length=512),
        expect=Err(416, "InvalidPageRange"),
        azurite_differs=True,
    )
    p.call(
        "create unaligned size (wire)",
        lambda: blob._client.page_blob.create(0, 1000),
        expect=invalid_header,
        azurite_differs=True,
    )

    p.call(
        "set metadata",
        lambda: blob.set_blob_metadata({"diskferryjob": "j1", "role": "result"}),
        show=lambda r: bool(r.get("etag")),
    )
    p.call(
        "properties after metadata",
        blob.get_blob_properties,
        show=lambda pr: dict(pr.metadata),
        expect={"diskferryjob": "j1", "role": "result"},
    )
    p.call(
        "set invalid metadata name",
        lambda: blob.set_blob_metadata({"bad-name": "x"}),
        expect=Err(400, "InvalidMetadata"),
    )
    p.call("clear metadata", lambda: blob.set_blob_metadata({}), show=lambda _: "ok")
    p.call("metadata cleared", blob.get_blob_properties, show=lambda pr: dict(pr.metadata), expect={})
    p.call("overwrite with create", lambda: blob.create_page_blob(BLOB_SIZE), show=lambda _: "ok")
    p.call("page ranges after re-create", lambda: pages(blob), expect=[])


def blob_not_found(p: Probe) -> None:
    c = p.backend.container(p.name("nf"))
    c.create_container()
    blob = c.get_blob_client("gone.vhd")
    blob.create_page_blob(MIB)
    p.call("exists", blob.exists, show=bool, expect=True)
    p.call("delete", blob.delete_blob, expect="ok")
    p.call("exists after delete", blob.exists, show=bool, expect=False)
    p.call("properties", blob.get_blob_properties, expect=Err(404, "BlobNotFound"))
    p.call("download", lambda: content(blob), expect=Err(404, "BlobNotFound"))
    p.call("page ranges", lambda: pages(blob), expect=Err(404, "BlobNotFound"))
    p.call("upload page", lambda: blob.upload_page(b"x" * 512, offset=0, length=512), expect=Err(404, "BlobNotFound"))
    p.call("set metadata", lambda: blob.set_blob_metadata({"a": "b"}), expect=Err(404, "BlobNotFound"))
    p.call("delete again", blob.delete_blob, expect=Err(404, "BlobNotFound"))
    p.call(
        "abort copy", lambda: blob.abort_copy("00000000-0000-0000-0000-000000000000"), expect=Err(404, "BlobNotFound")
    )
    orphan = p.backend.blob(p.name("nocontainer"), "disk.vhd")
    p.call("properties in missing container", orphan.get_blob_properties)
    p.call("exists in missing container", orphan.exists, show=bool, expect=False)
    p.call("download in missing container", lambda: content(orphan), expect=Err(404, "ContainerNotFound"))
    p.call("delete in missing container", orphan.delete_blob, expect=Err(404, "ContainerNotFound"))


def blob_names(p: Probe) -> None:
    """Names that need escaping in URLs and in the Shared Key string-to-sign."""
    src_name, dst_name = p.name("names"), p.name("names-dst")
    src_c, dst_c = p.backend.container(src_name, 0), p.backend.container(dst_name, 1)
    src_c.create_container()
    dst_c.create_container()
    names = ["vms/vm 1/os disk+1.vhd", "Disk%20Upper=é.vhd", "a;b,c'd(e).vhd"]
    for i, name in enumerate(names):
        blob = src_c.get_blob_client(name)
        p.call(f"create {i}", lambda blob=blob, i=i: blob.create_page_blob(MIB, metadata={"n": str(i)}))  # type: ignore[misc]
        p.call(f"write {i}", lambda blob=blob, i=i: blob.upload_page(pattern(f"n{i}", 512), offset=0, length=512))  # type: ignore[misc]
        p.call(f"properties {i}", lambda blob=blob: blob.get_blob_properties(), show=lambda pr: (pr.name, pr.size))  # type: ignore[misc]
    p.call("list", lambda: [b.name for b in src_c.list_blobs()], show=sorted, expect=sorted(names))
    p.call("list by prefix", lambda: [b.name for b in src_c.list_blobs(name_starts_with="vms/vm 1/")])
    for i, name in enumerate(names):
        dst = dst_c.get_blob_client(name)
        sas_url = with_query(src_c.get_blob_client(name).url, sas_query(p, src_name, name))
        _copy_and_settle(p, f"copy {i}", dst, sas_url)
        p.call(f"copied content {i}", lambda dst=dst, i=i: content(dst, offset=0, length=512))  # type: ignore[misc]
        p.call(f"delete {i}", lambda dst=dst: dst.delete_blob())  # type: ignore[misc]


def list_blobs(p: Probe) -> None:
    c = p.backend.container(p.name("list"))
    c.create_container()
    for i in range(3):
        blob = c.get_blob_client(f"disk{i}.vhd")
        blob.create_page_blob((i + 1) * MIB, metadata={"index": str(i)})
        blob.upload_page(pattern(f"l{i}", 512), offset=0, length=512)
    c.get_blob_client("other/x.vhd").create_page_blob(MIB)
    src = c.get_blob_client("disk0.vhd")
    dst = c.get_blob_client("copy-of-disk0.vhd")
    dst.start_copy_from_url(src.url)
    p.backend.settle_copy(dst)

    def listing(**kwargs: Any) -> list[dict[str, Any]]:
        return [view(p, b) | {"name": b.name} for b in c.list_blobs(**kwargs)]

    p.call("list all with copy and metadata", lambda: listing(include=["copy", "metadata"]))
    p.call("list without include", lambda: listing(), show=lambda rows: [r["metadata"] for r in rows])
    # copy properties are listed only with include=copy in Azure; Azurite lists them always
    p.call(
        "list without include: copy status",
        lambda: listing(),
        show=lambda rows: [r["copy.status"] for r in rows],
        expect=[None] * 5,
        azurite_differs=True,
    )
    p.call(
        "list by prefix",
        lambda: [b.name for b in c.list_blobs(name_starts_with="disk")],
        expect=["disk0.vhd", "disk1.vhd", "disk2.vhd"],
    )
    p.call(
        "walk with delimiter",
        lambda: [b.name for b in c.walk_blobs(delimiter="/")],
        expect=["other/", "copy-of-disk0.vhd", "disk0.vhd", "disk1.vhd", "disk2.vhd"],
    )
    p.call("list paged by 2", lambda: [[b.name for b in page] for page in c.list_blobs(results_per_page=2).by_page()])


# ---------------------------------------------------------------------------------------
# shared access signatures


def sas(p: Probe) -> None:
    name = p.name("sas")
    c = p.backend.container(name)
    c.create_container()
    blob = c.get_blob_client("disk.vhd")
    write_sparse(blob, "sas")
    url = blob.url
    now = datetime.now(UTC)

    def via(query: str) -> BlobClient:
        return p.backend.blob_from_url(with_query(url, query))

    good = sas_query(p, name, "disk.vhd")
    p.call("read properties", lambda: via(good).get_blob_properties(), show=lambda pr: view(p, pr))
    p.call("read content", lambda: content(via(good)))
    p.call("read page ranges", lambda: pages(via(good)))
    p.call("read range", lambda: content(via(good), offset=MIB, length=8 * KIB))
    p.call(
        "write with read SAS",
        lambda: via(good).upload_page(b"x" * 512, offset=0, length=512),
        expect=Err(403, "AuthorizationPermissionMismatch"),
    )
    p.call("delete with read SAS", lambda: via(good).delete_blob(), expect=Err(403, "AuthorizationPermissionMismatch"))

    # Invalid signatures and time windows: Azure answers 403 AuthenticationFailed ("Signature
    # not valid in the specified time frame", "Signature did not match"), as the emulator
    # does; Azurite answers 403 AuthorizationFailure.
    bad_sas = Err(403, "AuthenticationFailed")
    expired = sas_query(p, name, "disk.vhd", start=now - timedelta(hours=2), expiry=now - timedelta(hours=1))
    p.call("expired", lambda: via(expired).get_blob_properties(), expect=bad_sas, azurite_differs=True)
    p.call("expired download", lambda: content(via(expired)), expect=bad_sas, azurite_differs=True)
    not_yet = sas_query(p, name, "disk.vhd", start=now + timedelta(hours=1), expiry=now + timedelta(hours=2))
    p.call("not yet valid", lambda: content(via(not_yet)), expect=bad_sas, azurite_differs=True)
    p.call("tampered signature", lambda: content(via(tamper(good))), expect=bad_sas, azurite_differs=True)
    other_key = sas_query(p, name, "disk.vhd", index=1)
    p.call("signed with another account's key", lambda: content(via(other_key)), expect=bad_sas, azurite_differs=True)
    p.call(
        "SAS of another blob",
        lambda: content(p.backend.blob_from_url(with_query(url + "x", good))),
        expect=bad_sas,
        azurite_differs=True,
    )
    write_only = sas_query(p, name, "disk.vhd", permission=BlobSasPermissions(write=True))
    p.call("wrong permission", lambda: content(via(write_only)), expect=Err(403, "AuthorizationPermissionMismatch"))
    missing = sas_query(p, name, "missing.vhd")
    p.call(
        "valid SAS, missing blob",
        lambda: content(p.backend.blob_from_url(with_query(c.url + "/missing.vhd", missing))),
        expect=Err(404, "BlobNotFound"),
    )

    csas = generate_container_sas(
        p.backend.accounts[0].name,
        name,
        account_key=p.backend.accounts[0].key,
        permission=ContainerSasPermissions(read=True, list=True),
        expiry=now + timedelta(hours=1),
    )
    p.call("container SAS read", lambda: content(via(csas)))
    p.call(
        "container SAS list",
        lambda: [
            b.name
            for b in ContainerClient.from_container_url(f"{c.url}?{csas}", **p.backend.client_kwargs()).list_blobs()
        ],
        expect=["disk.vhd"],
    )
    # Shared Key with the wrong key: Azure answers AuthenticationFailed, Azurite AuthorizationFailure
    p.call(
        "wrong account key",
        lambda: p.backend.blob_from_url(url, credential=p.backend.accounts[1].key).get_blob_properties(),
        expect=Err(403, "AuthenticationFailed"),
        azurite_differs=True,
    )
    # Azure answers an anonymous read of a private blob as if it did not exist; Azurite with 403
    p.call(
        "anonymous on private container",
        lambda: content(p.backend.blob_from_url(url)),
        expect=Err(404, "ResourceNotFound"),
        azurite_differs=True,
    )


# ---------------------------------------------------------------------------------------
# copies


def _copy_and_settle(p: Probe, label: str, dst: BlobClient, source_url: str, **kwargs: Any) -> BlobProperties | None:
    started = p.call(
        f"{label}: start",
        lambda: dst.start_copy_from_url(source_url, **kwargs),
        show=lambda r: {
            "status": "started" if r.get("copy_status") in ("pending", "success") else r.get("copy_status"),
            "id": bool(r.get("copy_id")),
            "etag": bool(r.get("etag")),
        },
    )
    if started is None:
        return None
    props, progress = p.backend.settle_copy(dst)
    p.check(f"{label}: progress grows while pending", _monotonic(progress), f"progress seen: {progress}")
    p.see(f"{label}: id matches", props.copy.id == started.get("copy_id"), expect=True)
    p.see(f"{label}: properties", view(p, props))
    return props


def _monotonic(progress: list[str]) -> bool:
    """``copied/total`` values with a constant total and a copied count that never shrinks."""
    pairs = [tuple(int(n) for n in value.split("/")) for value in progress]
    return all(b[0] >= a[0] and b[1] == a[1] for a, b in itertools.pairwise(pairs)) and all(
        0 <= c <= t for c, t in pairs
    )


def copy_within_account(p: Probe) -> None:
    svc = p.backend.service()
    src_c = svc.get_container_client(p.name("src"))
    dst_c = svc.get_container_client(p.name("dst"))
    src_c.create_container()
    dst_c.create_container()
    src = src_c.get_blob_client("disk.vhd")
    write_sparse(src, "within")
    src.set_blob_metadata({"origin": "source"})
    dst = dst_c.get_blob_client("disk.vhd")

    props = _copy_and_settle(p, "copy", dst, src.url)
    p.call("page ranges equal source", lambda: pages(dst) == pages(src), show=bool, expect=True)
    p.call("destination page ranges", lambda: pages(dst))
    p.call("content equals source", lambda: content(dst) == content(src), show=bool, expect=True)
    p.call("listing shows copy", lambda: [view(p, b) for b in dst_c.list_blobs(include=["copy", "metadata"])])
    if props is not None:
        p.call("abort finished copy", lambda: dst.abort_copy(props), expect=Err(409, "NoPendingCopyOperation"))
    p.call("abort with unknown id", lambda: dst.abort_copy("00000000-0000-0000-0000-000000000000"))

    _copy_and_settle(p, "copy with metadata", dst_c.get_blob_client("meta.vhd"), src.url, metadata={"job": "j2"})
    existing = dst_c.get_blob_client("existing.vhd")
    existing.create_page_blob(MIB, metadata={"stale": "yes"})
    existing.upload_page(pattern("stale", 512), offset=0, length=512)
    _copy_and_settle(p, "copy onto existing blob", existing, src.url)
    p.call("overwritten content", lambda: content(existing) == content(src), show=bool, expect=True)
    p.call(
        "copy into missing container",
        lambda: svc.get_blob_client(p.name("nodst"), "x.vhd").start_copy_from_url(src.url),
        expect=Err(404, "ContainerNotFound"),
    )


def copy_across_accounts(p: Probe) -> None:
    src_name, dst_name = p.name("xsrc"), p.name("xdst")
    src_c = p.backend.container(src_name, 0)
    dst_c = p.backend.container(dst_name, 1)
    src_c.create_container()
    dst_c.create_container()
    src = src_c.get_blob_client("disk.vhd")
    write_sparse(src, "across")
    dst = dst_c.get_blob_client("disk.vhd")
    sas_url = with_query(src.url, sas_query(p, src_name, "disk.vhd"))

    _copy_and_settle(p, "copy with source SAS", dst, sas_url)
    p.call("page ranges equal source", lambda: pages(dst) == pages(src), show=bool, expect=True)
    p.call("content equals source", lambda: content(dst) == content(src), show=bool, expect=True)
    p.call("destination metadata", lambda: dict(dst.get_blob_properties().metadata))


def copy_bad_source(p: Probe) -> None:
    src_name = p.name("bsrc")
    src_c = p.backend.container(src_name, 0)
    dst_c = p.backend.container(p.name("bdst"), 1)
    src_c.create_container()
    dst_c.create_container()
    src = src_c.get_blob_client("disk.vhd")
    write_sparse(src, "bad")
    now = datetime.now(UTC)
    good = sas_query(p, src_name, "disk.vhd")
    expired = sas_query(p, src_name, "disk.vhd", start=now - timedelta(hours=2), expiry=now - timedelta(hours=1))
    write_only = sas_query(p, src_name, "disk.vhd", permission=BlobSasPermissions(write=True))
    missing_blob = with_query(src_c.url + "/missing.vhd", sas_query(p, src_name, "missing.vhd"))
    gone = p.name("nocontainer")
    missing_container = with_query(f"{p.backend.account_urls[0]}/{gone}/disk.vhd", sas_query(p, gone, "disk.vhd"))
    refused, not_found = Err(403, "CannotVerifyCopySource"), Err(404, "CannotVerifyCopySource")
    # (label, source URL, Azure's answer, Azurite answers otherwise): without a SAS a private
    # source is "not found" to Azure (it does not reveal that it exists); Azurite answers 403
    cases = [
        ("no SAS on a private source", src.url, not_found, True),
        ("tampered SAS", with_query(src.url, tamper(good)), refused, False),
        ("expired SAS", with_query(src.url, expired), refused, False),
        ("SAS without read", with_query(src.url, write_only), refused, False),
        ("missing source blob", missing_blob, not_found, False),
        ("missing source container", missing_container, not_found, False),
    ]
    for i, (label, url, answer, differs) in enumerate(cases):
        dst = dst_c.get_blob_client(f"dst{i}.vhd")
        p.call(
            label,
            lambda dst=dst, url=url: dst.start_copy_from_url(url),  # type: ignore[misc]
            expect=answer,
            azurite_differs=differs,
        )
        p.call(f"{label}: destination", lambda dst=dst: dst.exists(), show=bool, expect=False)  # type: ignore[misc]
