"""The audit of leftovers through the admin API (``GET /_admin/audit``): grants, snapshots,
blobs, accounts, and the disks and images a job made, by tag and by scope, never a SAS."""

from __future__ import annotations

import json
import uuid

import pytest
from azure.storage.blob import BlobServiceClient

from diskferry.emulator.admin_client import AdminClient, AdminError
from tests.conftest import Clients
from tests.emulator.contents import GIB, MIB, read_grant, snapshot_of, upload_disk


@pytest.fixture
def ca(azure_env: dict[str, str]) -> str:
    return azure_env["REQUESTS_CA_BUNDLE"]


def test_audit_lists_leftovers_and_filters_by_tag(clients: Clients, admin: AdminClient, rg: str, ca: str) -> None:
    job = uuid.uuid4().hex[:8]
    tag = {"diskferry-job": job, "diskferry-role": "temporary"}
    scope = f"/subscriptions/{clients.subscription_id}/resourceGroups/{rg}".lower()

    source = upload_disk(clients, ca, rg, "src", GIB, [(0, b"x" * 512)])  # a VM's disk: untagged
    result = upload_disk(
        clients, ca, rg, "result", GIB, [(0, b"y" * 512)], tags={"diskferry-job": job, "diskferry-role": "result"}
    )
    snap = snapshot_of(clients, rg, "snap", source, tags=tag)
    other_snap = snapshot_of(clients, rg, "other", source)
    read_grant(clients, rg, "src")
    read_grant(clients, rg, "snap", kind="snapshots")

    staging = f"stg{uuid.uuid4().hex[:10]}"
    acct = clients.storage.storage_accounts.begin_create(
        rg, staging, {"location": "brazilsouth", "sku": {"name": "Standard_LRS"}, "kind": "StorageV2", "tags": tag}
    ).result()
    plain = f"pln{uuid.uuid4().hex[:10]}"
    plain_acct = clients.storage.storage_accounts.begin_create(
        rg, plain, {"location": "brazilsouth", "sku": {"name": "Standard_LRS"}, "kind": "StorageV2"}
    ).result()
    staged = _page_blob(clients, rg, staging, acct.primary_endpoints.blob, ca, "vhds", "src.vhd", {})
    marked = _page_blob(
        clients, rg, plain, plain_acct.primary_endpoints.blob, ca, "marked", "m.vhd", {"diskferry_job": job}
    )
    _page_blob(clients, rg, plain, plain_acct.primary_endpoints.blob, ca, "marked", "unrelated.vhd", {})

    everything = admin.audit(scope=scope)
    raw = json.dumps(everything)
    assert "sig=" not in raw and "?" not in raw  # never a SAS
    kinds = {(i["kind"], i.get("resource", i["id"]).lower()) for i in everything["items"]}
    assert ("grant", source.lower()) in kinds and ("grant", snap.id.lower()) in kinds
    assert {("snapshot", snap.id.lower()), ("snapshot", other_snap.id.lower())} <= kinds
    assert {("storageaccount", acct.id.lower()), ("storageaccount", plain_acct.id.lower())} <= kinds
    assert ("disk", result.lower()) in kinds  # tagged by a job
    assert ("disk", source.lower()) not in kinds  # not a job's
    assert everything["counts"]["blob"] == 3

    for key in ("diskferry-job", "DISKFERRY-JOB"):
        by_job = admin.audit(tag=f"{key}={job}")
        got = sorted((i["kind"], i["id"].lower()) for i in by_job["items"])
        assert got == sorted(
            [
                ("grant", _grant_of(by_job, snap.id)),
                ("snapshot", snap.id.lower()),
                ("storageaccount", acct.id.lower()),
                ("blob", staged.lower()),
                ("blob", marked.lower()),
                ("disk", result.lower()),
            ]
        )
    grant = next(i for i in by_job["items"] if i["kind"] == "grant")
    assert grant["resource"].lower() == snap.id.lower() and grant["access"] == "Read"
    assert grant["tags"] == tag
    assert {i["kind"] for i in admin.leftovers(job)} == {"grant", "snapshot", "storageaccount", "blob"}

    # cleaning up empties the job's audit
    clients.compute.snapshots.begin_revoke_access(rg, "snap").result()
    clients.compute.disks.begin_revoke_access(rg, "src").result()
    clients.compute.snapshots.begin_delete(rg, "snap").result()
    clients.storage.storage_accounts.delete(rg, staging)
    clients.storage.storage_accounts.delete(rg, plain)
    assert admin.leftovers(job) == []
    assert [i["kind"] for i in admin.audit(tag=f"diskferry-job={job}")["items"]] == ["disk"]
    assert admin.audit(tag=f"diskferry-job={job}x")["items"] == []


def _grant_of(audit: dict[str, object], resource_id: str) -> str:
    items = audit["items"]
    assert isinstance(items, list)
    return str(next(i["id"] for i in items if i["kind"] == "grant" and i["resource"].lower() == resource_id.lower()))


def _page_blob(
    clients: Clients, rg: str, account: str, endpoint: str, ca: str, container: str, name: str, metadata: dict[str, str]
) -> str:
    key = clients.storage.storage_accounts.list_keys(rg, account).keys_property[0].value
    with BlobServiceClient(endpoint, credential=key, connection_verify=ca) as service:
        cc = service.get_container_client(container)
        if not cc.exists():
            cc.create_container()
        blob = cc.get_blob_client(name)
        blob.create_page_blob(MIB, metadata=metadata)
        return str(blob.url)


def test_audit_rejects_a_bad_tag(admin: AdminClient) -> None:
    with pytest.raises(AdminError) as err:
        admin.audit(tag="no-equals-sign")
    assert err.value.status == 400
