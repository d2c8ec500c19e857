"""The blob service through azure-storage-blob: containers, page and block blobs, listings,
with the account key (SharedKey), a SAS and a bearer token; errors as Azure answers them."""

from __future__ import annotations

import os
import uuid

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.identity import ClientSecretCredential
from azure.storage.blob import BlobClient, BlobServiceClient, ContainerClient, LinearRetry

from diskferry.emulator.admin_client import AdminClient
from tests.emulator.storage.conftest import MIB, Account


def _client(account: Account, container: str, auth: str, credential: ClientSecretCredential) -> ContainerClient:
    if auth == "key":
        return account.service().get_container_client(container)
    if auth == "sas":
        return ContainerClient.from_container_url(f"{account.url}/{container}?{account.container_sas(container)}")
    return account.service(credential).get_container_client(container)


def _code(err: pytest.ExceptionInfo[HttpResponseError]) -> str:
    return str(err.value.response.headers.get("x-ms-error-code"))


@pytest.mark.parametrize("auth", ["key", "sas", "bearer"])
def test_page_blob_operations(account: Account, auth: str, credential: ClientSecretCredential) -> None:
    container = account.container().container_name
    cc = _client(account, container, auth, credential)
    blob = cc.get_blob_client("Disk A.vhd")
    size = 2 * MIB
    blob.create_page_blob(size, metadata={"role": "temporary"})
    first, second = os.urandom(MIB // 2), os.urandom(4096)
    blob.upload_page(first, offset=512, length=len(first))
    blob.upload_page(second, offset=MIB + 8192, length=len(second))
    blob.clear_page(offset=1024, length=1024)
    expected = bytearray(size)
    expected[512 : 512 + len(first)] = first
    expected[MIB + 8192 : MIB + 8192 + len(second)] = second
    expected[1024:2048] = bytes(1024)

    assert [(r.start, r.end, r.cleared) for r in blob.list_page_ranges()] == [
        (512, 1023, False),
        (2048, 512 + len(first) - 1, False),
        (MIB + 8192, MIB + 8192 + len(second) - 1, False),
    ]
    # paged, as list_page_ranges pages with maxresults/marker
    assert [[r.start for r in page] for page in blob.list_page_ranges(results_per_page=2).by_page()] == [
        [512, 2048],
        [MIB + 8192],
    ]
    assert blob.download_blob().readall() == bytes(expected)
    assert blob.download_blob(offset=MIB + 8000, length=500).readall() == bytes(expected[MIB + 8000 : MIB + 8500])

    props = blob.get_blob_properties()
    assert props.size == size and props.blob_type == "PageBlob"
    assert props.metadata == {"role": "temporary"}
    assert props.copy.status is None
    etag = props.etag
    blob.set_blob_metadata({"k": "v"})
    after = blob.get_blob_properties()
    assert after.metadata == {"k": "v"} and after.etag != etag

    listed = list(cc.list_blobs(include=["metadata"]))
    assert [(b.name, b.size, b.metadata) for b in listed] == [("Disk A.vhd", size, {"k": "v"})]

    blob.delete_blob()
    with pytest.raises(ResourceNotFoundError) as err:
        blob.get_blob_properties()
    assert _code(err) == "BlobNotFound"
    with pytest.raises(ResourceNotFoundError) as err2:
        blob.download_blob()
    assert _code(err2) == "BlobNotFound"


@pytest.mark.parametrize("auth", ["key", "bearer"])
def test_container_lifecycle(account: Account, auth: str, credential: ClientSecretCredential) -> None:
    service = account.service(credential if auth == "bearer" else None)
    name = f"life{uuid.uuid4().hex[:8]}"
    cc = service.create_container(name, metadata={"owner": "ops"})
    with pytest.raises(ResourceExistsError) as err:
        service.create_container(name)
    assert _code(err) == "ContainerAlreadyExists"
    assert name in [c.name for c in service.list_containers(name_starts_with="life")]
    props = cc.get_container_properties()
    assert props.name == name and props.metadata == {"owner": "ops"}
    cc.set_container_metadata({"a": "1"})
    assert cc.get_container_properties().metadata == {"a": "1"}
    cc.get_blob_client("x").create_page_blob(512)
    cc.delete_container()
    with pytest.raises(ResourceNotFoundError) as err2:
        cc.get_container_properties()
    assert _code(err2) == "ContainerNotFound"
    with pytest.raises(ResourceNotFoundError) as err3:
        cc.get_blob_client("x").get_blob_properties()
    # a blob call in a missing container
    assert err3.value.status_code == 404
    with pytest.raises(ResourceNotFoundError) as err4:
        cc.get_blob_client("y").create_page_blob(512)
    assert _code(err4) == "ContainerNotFound"


def test_block_blob_put_and_get(account: Account) -> None:
    cc = account.container()
    blob = cc.get_blob_client("notes.txt")
    blob.upload_blob(b"hello, blob", blob_type="BlockBlob")
    assert blob.download_blob().readall() == b"hello, blob"
    props = blob.get_blob_properties()
    assert props.blob_type == "BlockBlob" and props.size == 11
    assert props.content_settings.content_md5 is not None
    with pytest.raises(ResourceExistsError) as err:
        blob.upload_blob(b"again")
    assert _code(err) == "BlobAlreadyExists"
    blob.upload_blob(b"again", overwrite=True)
    assert blob.download_blob().readall() == b"again"


def test_list_blobs_paging_prefix_and_case(account: Account) -> None:
    cc = account.container()
    names = ["b", "B", "a/2", "a/1", "c"]
    for n in names:
        cc.get_blob_client(n).create_page_blob(512)
    pages = cc.list_blobs(results_per_page=2).by_page()
    seen = [[b.name for b in page] for page in pages]
    assert seen == [["B", "a/1"], ["a/2", "b"], ["c"]]
    assert [b.name for b in cc.list_blobs(name_starts_with="a/")] == ["a/1", "a/2"]
    assert sorted(b.name for b in cc.walk_blobs(delimiter="/")) == ["B", "a/", "b", "c"]
    # names are case-sensitive: "b" and "B" are two blobs
    cc.get_blob_client("B").delete_blob()
    assert cc.get_blob_client("b").exists() and not cc.get_blob_client("B").exists()


def test_page_range_errors(account: Account) -> None:
    cc = account.container()
    blob = cc.get_blob_client("small.vhd")
    blob.create_page_blob(4096)
    with pytest.raises(HttpResponseError) as err:
        blob.upload_page(bytes(1024), offset=4096, length=1024)
    assert err.value.status_code == 416 and _code(err) == "InvalidPageRange"
    with pytest.raises(HttpResponseError) as err2:
        blob.download_blob(offset=8192, length=10)
    assert err2.value.status_code == 416
    block = cc.get_blob_client("block")
    block.upload_blob(b"x")
    with pytest.raises(HttpResponseError) as err3:
        block.upload_page(bytes(512), offset=0, length=512)
    assert _code(err3) == "InvalidBlobType"


def test_sas_validation(account: Account) -> None:
    cc = account.container()
    name = cc.container_name
    cc.get_blob_client("d.vhd").create_page_blob(1024)

    def blob_with(sas: str) -> BlobClient:
        return BlobClient.from_blob_url(f"{account.url}/{name}/d.vhd?{sas}")

    assert blob_with(account.blob_sas(name, "d.vhd", "r")).get_blob_properties().size == 1024
    cases = [
        (account.blob_sas(name, "d.vhd", "r", seconds=-60), "AuthenticationFailed"),
        (account.blob_sas(name, "other.vhd", "r"), "AuthenticationFailed"),
        (account.blob_sas(name, "d.vhd", "r").replace("sig=", "sig=AAAA"), "AuthenticationFailed"),
        (account.blob_sas(name, "d.vhd", "w"), "AuthorizationPermissionMismatch"),
    ]
    for sas, code in cases:
        with pytest.raises(HttpResponseError) as err:
            blob_with(sas).get_blob_properties()
        assert (err.value.status_code, _code(err)) == (403, code), sas[:20]
    with pytest.raises(HttpResponseError) as err2:
        blob_with(account.blob_sas(name, "d.vhd", "r")).upload_page(bytes(512), offset=0, length=512)
    assert _code(err2) == "AuthorizationPermissionMismatch"
    read_only = ContainerClient.from_container_url(f"{account.url}/{name}?{account.container_sas(name, 'r')}")
    with pytest.raises(HttpResponseError) as err3:
        read_only.list_blobs().next()
    assert _code(err3) == "AuthorizationPermissionMismatch"


def test_wrong_key_and_anonymous(account: Account, remote: Account) -> None:
    cc = account.container()
    cc.get_blob_client("d").create_page_blob(512)
    wrong = BlobServiceClient(account.url, credential=remote.key).get_blob_client(cc.container_name, "d")
    with pytest.raises(HttpResponseError) as err:
        wrong.get_blob_properties()
    assert (err.value.status_code, _code(err)) == (403, "AuthenticationFailed")
    anonymous = BlobClient.from_blob_url(f"{account.url}/{cc.container_name}/d")
    with pytest.raises(HttpResponseError) as err2:
        anonymous.get_blob_properties()
    assert err2.value.status_code == 404


def test_a_token_without_a_blob_data_role_is_refused(account: Account, credential: ClientSecretCredential,
                                                     admin: AdminClient) -> None:
    """ARM roles give no blob access: a principal's token reaches blobs only with a data role
    (Storage Blob Data Contributor), which the emulator's knob says it holds or not."""
    cc = account.container()
    cc.get_blob_client("d").create_page_blob(512)
    with_token = BlobServiceClient(account.url, credential=credential).get_blob_client(cc.container_name, "d")
    assert with_token.get_blob_properties().size == 512
    admin.set(blob_data_role=False)
    with pytest.raises(HttpResponseError) as err:
        with_token.get_blob_properties()
    assert (err.value.status_code, _code(err)) == (403, "AuthorizationPermissionMismatch")
    assert cc.get_blob_client("d").get_blob_properties().size == 512  # the account key still reads it


def test_faults_on_blob_calls(account: Account, admin: AdminClient) -> None:
    cc = account.container()
    cc.get_blob_client("d").create_page_blob(512)
    service = BlobServiceClient(account.url, credential=account.key, retry_total=0)
    no_retry = service.get_blob_client(cc.container_name, "d")
    admin.add_fault("blob.GetBlobProperties", status=503, code="ServerBusy", retry_after=2, count=1)
    with pytest.raises(HttpResponseError) as err:
        no_retry.get_blob_properties()
    assert err.value.status_code == 503 and _code(err) == "ServerBusy"
    assert err.value.response.headers["Retry-After"] == "2"
    assert no_retry.get_blob_properties().size == 512

    quick = LinearRetry(backoff=0, random_jitter_range=0, retry_total=3)
    retrying = BlobServiceClient(account.url, credential=account.key, retry_policy=quick)
    before = admin.counters().get("blob.GetBlob", 0)
    admin.add_fault("blob.GetBlob", status=500, code="InternalError", count=2)
    assert retrying.get_blob_client(cc.container_name, "d").download_blob().readall() == bytes(512)
    assert admin.counters()["blob.GetBlob"] - before >= 3


def test_account_sas(account: Account) -> None:
    from datetime import UTC, datetime, timedelta

    from azure.storage.blob import AccountSasPermissions, ResourceTypes, generate_account_sas

    cc = account.container()
    cc.get_blob_client("d").create_page_blob(512)

    def sas(resource_types: ResourceTypes, permission: str) -> str:
        return generate_account_sas(
            account.name,
            account.key,
            resource_types,
            AccountSasPermissions.from_string(permission),
            datetime.now(UTC) + timedelta(hours=1),
        )

    every_level = ResourceTypes(service=True, container=True, object=True)
    full = BlobServiceClient(account.url, credential=sas(every_level, "rl"))
    assert cc.container_name in [c.name for c in full.list_containers()]
    assert [b.name for b in full.get_container_client(cc.container_name).list_blobs()] == ["d"]
    assert full.get_blob_client(cc.container_name, "d").get_blob_properties().size == 512

    objects_only = BlobServiceClient(account.url, credential=sas(ResourceTypes(object=True), "r"))
    with pytest.raises(HttpResponseError) as err:
        objects_only.get_container_client(cc.container_name).get_container_properties()
    assert (err.value.status_code, _code(err)) == (403, "AuthorizationResourceTypeMismatch")
    with pytest.raises(HttpResponseError) as err2:
        objects_only.get_blob_client(cc.container_name, "d").delete_blob()
    assert (err2.value.status_code, _code(err2)) == (403, "AuthorizationPermissionMismatch")


def test_whole_blob_get_without_range_is_streamed(account: Account, azure_env: dict[str, str]) -> None:
    import requests

    cc = account.container()
    blob = cc.get_blob_client("big.vhd")
    size = 40 * MIB
    blob.create_page_blob(size)
    tail = os.urandom(4096)
    blob.upload_page(tail, offset=size - 4096, length=4096)
    url = f"{blob.url}?{account.blob_sas(cc.container_name, 'big.vhd')}"
    r = requests.get(url, verify=azure_env["REQUESTS_CA_BUNDLE"], timeout=60)
    assert r.status_code == 200
    assert r.headers["Content-Length"] == str(size) and r.headers["x-ms-blob-type"] == "PageBlob"
    assert r.headers["x-ms-request-id"]
    assert len(r.content) == size and r.content[-4096:] == tail and not any(r.content[: size - 4096])
