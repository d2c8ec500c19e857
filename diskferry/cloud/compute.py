"""Microsoft.Compute in diskferry's words: VMs, disks, snapshots, grants, images."""

from __future__ import annotations

from typing import Any

from azure.core.credentials import TokenCredential
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.compute.models import Disk, Image, Snapshot

from diskferry.cloud.errors import azure_call
from diskferry.cloud.types import DiskInfo, ImageDiskInfo, ImageInfo, ResourceId, VmDisk, VmInfo
from diskferry.errors import DiskFailed, NotFound

GIB = 1024**3
Json = dict[str, Any]


def _disk_info(doc: Json) -> DiskInfo:
    props = doc.get("properties", {})
    size = props.get("diskSizeBytes") or int(props.get("diskSizeGB") or 0) * GIB
    return DiskInfo(
        id=doc["id"],
        name=doc["name"],
        location=doc["location"],
        size_bytes=int(size),
        sku=(doc.get("sku") or {}).get("name"),
        os_type=props.get("osType"),
        hyper_v_generation=props.get("hyperVGeneration"),
        zones=tuple(doc.get("zones") or ()),
        tags=dict(doc.get("tags") or {}),
        state=props.get("diskState"),
        managed_by=doc.get("managedBy"),
    )


def _source_of(entry: Json) -> str | None:
    for key in ("managedDisk", "snapshot"):
        ref = entry.get(key) or {}
        if ref.get("id"):
            return str(ref["id"])
    return None


def _power_state(doc: Json) -> str | None:
    statuses = (doc.get("properties", {}).get("instanceView") or {}).get("statuses") or []
    for status in statuses:
        code = str(status.get("code", ""))
        if code.startswith("PowerState/"):
            return code.split("/", 1)[1]
    return None


class Compute:
    def __init__(self, credential: TokenCredential, options: dict[str, Any]) -> None:
        self._credential = credential
        self._options = options
        self._clients: dict[str, ComputeManagementClient] = {}

    def _client(self, subscription_id: str) -> ComputeManagementClient:
        client = self._clients.get(subscription_id)
        if client is None:
            client = ComputeManagementClient(self._credential, subscription_id, **self._options)
            self._clients[subscription_id] = client
        return client

    def _ops(self, rid: ResourceId) -> Any:
        client = self._client(rid.subscription_id)
        return client.snapshots if rid.is_snapshot else client.disks

    # -- reads ---------------------------------------------------------------------------------
    def get_vm(self, subscription_id: str, resource_group: str, name: str) -> VmInfo:
        with azure_call(f"get VM {resource_group}/{name}"):
            vm = self._client(subscription_id).virtual_machines.get(resource_group, name, expand="instanceView")
        doc = vm.as_dict()
        profile = doc.get("properties", {}).get("storageProfile", {})
        os_disk = profile.get("osDisk") or {}
        disks = []
        os_id = (os_disk.get("managedDisk") or {}).get("id")
        if not os_id:
            raise DiskFailed("UnmanagedDisk", f"VM {name}: its OS disk is not a managed disk")
        disks.append(VmDisk(None, os_id, os_disk.get("caching")))
        for data in profile.get("dataDisks") or []:
            disk_id = (data.get("managedDisk") or {}).get("id")
            if not disk_id:
                raise DiskFailed("UnmanagedDisk", f"VM {name}: data disk at LUN {data.get('lun')} is not managed")
            disks.append(VmDisk(int(data["lun"]), disk_id, data.get("caching")))
        return VmInfo(doc["id"], doc["name"], doc["location"], _power_state(doc), tuple(disks))

    def vm_power_state(self, vm_id: str) -> str | None:
        rid = ResourceId.parse(vm_id)
        with azure_call(f"get VM {rid.name}"):
            vms = self._client(rid.subscription_id).virtual_machines
            vm = vms.get(rid.resource_group, rid.name, expand="instanceView")
        return _power_state(vm.as_dict())

    def get_image(self, subscription_id: str, resource_group: str, name: str) -> ImageInfo:
        with azure_call(f"get image {resource_group}/{name}"):
            image = self._client(subscription_id).images.get(resource_group, name)
        return self._image_info(image.as_dict())

    @staticmethod
    def _image_info(doc: Json) -> ImageInfo:
        props = doc.get("properties", {})
        profile = props.get("storageProfile", {})
        os_disk = profile.get("osDisk") or {}
        disks = [
            ImageDiskInfo(None, _source_of(os_disk), os_disk.get("diskSizeGB"), os_disk.get("caching"),
                          os_disk.get("storageAccountType"))
        ]
        for data in profile.get("dataDisks") or []:
            disks.append(
                ImageDiskInfo(int(data["lun"]), _source_of(data), data.get("diskSizeGB"), data.get("caching"),
                              data.get("storageAccountType"))
            )
        return ImageInfo(
            id=doc["id"],
            name=doc["name"],
            location=doc["location"],
            os_type=os_disk.get("osType", ""),
            os_state=os_disk.get("osState", ""),
            hyper_v_generation=props.get("hyperVGeneration"),
            disks=tuple(disks),
            tags=dict(doc.get("tags") or {}),
        )

    def get_disk(self, resource_id: str) -> DiskInfo:
        """A managed disk or a snapshot, by id."""
        rid = ResourceId.parse(resource_id)
        with azure_call(f"get {rid.type} {rid.name}"):
            found = self._ops(rid).get(rid.resource_group, rid.name)
        return _disk_info(found.as_dict())

    def find_disk(self, resource_id: str) -> DiskInfo | None:
        try:
            return self.get_disk(resource_id)
        except NotFound:
            return None

    def find_image(self, image_id: str) -> ImageInfo | None:
        rid = ResourceId.parse(image_id)
        try:
            with azure_call(f"get image {rid.name}"):
                image = self._client(rid.subscription_id).images.get(rid.resource_group, rid.name)
        except NotFound:
            return None
        return self._image_info(image.as_dict())

    # -- snapshots and grants ------------------------------------------------------------------------
    def create_snapshot(self, snapshot_id: str, *, source_id: str, location: str, tags: dict[str, str]) -> DiskInfo:
        """A full snapshot of a disk (or a copy of a snapshot)."""
        rid = ResourceId.parse(snapshot_id)
        body = {
            "location": location,
            "tags": tags,
            "properties": {
                "creationData": {"createOption": "Copy", "sourceResourceId": source_id},
                "incremental": False,
            },
        }
        with azure_call(f"snapshot {ResourceId.parse(source_id).name}"):
            made = self._client(rid.subscription_id).snapshots.begin_create_or_update(
                rid.resource_group, rid.name, Snapshot(body)
            ).result()
        return _disk_info(made.as_dict())

    def grant_read(self, resource_id: str, seconds: int) -> str:
        """A read SAS on a disk or snapshot; the caller keeps it out of logs and task args."""
        rid = ResourceId.parse(resource_id)
        with azure_call(f"grant read access to {rid.name}"):
            access = self._ops(rid).begin_grant_access(
                rid.resource_group, rid.name, {"access": "Read", "durationInSeconds": seconds}
            ).result()
        sas = getattr(access, "access_sas", None)
        if not sas:
            raise DiskFailed("NoAccessSas", f"grant on {rid.name} returned no SAS")
        return str(sas)

    def revoke(self, resource_id: str) -> None:
        """End every SAS on a disk or snapshot; a missing resource needs none."""
        rid = ResourceId.parse(resource_id)
        try:
            with azure_call(f"revoke access to {rid.name}"):
                self._ops(rid).begin_revoke_access(rid.resource_group, rid.name).result()
        except NotFound:
            return

    # -- what diskferry marked, for gc (diskferry.gc) ------------------------------------------------
    def set_tags(self, resource_id: str, tags: dict[str, str]) -> None:
        """Replace the tags of a disk or snapshot (a PATCH replaces the whole set)."""
        rid = ResourceId.parse(resource_id)
        with azure_call(f"tag {rid.name}"):
            self._ops(rid).begin_update(rid.resource_group, rid.name, {"tags": tags}).result()

    def list_disklike(self, subscription_id: str) -> list[tuple[DiskInfo, str | None]]:
        """Every disk and snapshot of the subscription, with its creation time (ISO 8601)."""
        client = self._client(subscription_id)
        found = []
        with azure_call("list disks and snapshots"):
            for item in [*client.disks.list(), *client.snapshots.list()]:
                doc = item.as_dict()
                found.append((_disk_info(doc), (doc.get("properties") or {}).get("timeCreated")))
        return found

    # -- VMs -------------------------------------------------------------------------------------
    def deallocate_vm(self, vm_id: str) -> None:
        rid = ResourceId.parse(vm_id)
        with azure_call(f"deallocate VM {rid.name}"):
            self._client(rid.subscription_id).virtual_machines.begin_deallocate(rid.resource_group, rid.name).result()

    def start_vm(self, vm_id: str) -> None:
        rid = ResourceId.parse(vm_id)
        with azure_call(f"start VM {rid.name}"):
            self._client(rid.subscription_id).virtual_machines.begin_start(rid.resource_group, rid.name).result()

    # -- disks at the target ---------------------------------------------------------------------
    def _create_disk(self, disk_id: str, body: Json, what: str) -> DiskInfo:
        rid = ResourceId.parse(disk_id)
        with azure_call(what):
            made = self._client(rid.subscription_id).disks.begin_create_or_update(
                rid.resource_group, rid.name, Disk(body)
            ).result()
        return _disk_info(made.as_dict())

    @staticmethod
    def _disk_body(location: str, creation: Json, *, sku: str | None, zone: str | None, os_type: str | None,
                   hyper_v_generation: str | None, tags: dict[str, str]) -> Json:
        props: Json = {"creationData": creation}
        if os_type:
            props["osType"] = os_type
        if hyper_v_generation:
            props["hyperVGeneration"] = hyper_v_generation
        body: Json = {"location": location, "tags": tags, "properties": props}
        if sku:
            body["sku"] = {"name": sku}
        if zone:
            body["zones"] = [zone]
        return body

    def import_disk(self, disk_id: str, *, location: str, source_uri: str, storage_account_id: str,
                    sku: str | None, zone: str | None, os_type: str | None, hyper_v_generation: str | None,
                    tags: dict[str, str]) -> DiskInfo:
        """A managed disk from a staged VHD (``createOption: Import``)."""
        creation = {"createOption": "Import", "sourceUri": source_uri, "storageAccountId": storage_account_id}
        body = self._disk_body(location, creation, sku=sku, zone=zone, os_type=os_type,
                               hyper_v_generation=hyper_v_generation, tags=tags)
        return self._create_disk(disk_id, body, f"import disk {ResourceId.parse(disk_id).name}")

    def copy_disk(self, disk_id: str, *, location: str, source_id: str, sku: str | None, zone: str | None,
                  os_type: str | None, hyper_v_generation: str | None, tags: dict[str, str]) -> DiskInfo:
        """A managed disk copied from a disk or snapshot in the same region (``Copy``)."""
        creation = {"createOption": "Copy", "sourceResourceId": source_id}
        body = self._disk_body(location, creation, sku=sku, zone=zone, os_type=os_type,
                               hyper_v_generation=hyper_v_generation, tags=tags)
        return self._create_disk(disk_id, body, f"copy disk to {ResourceId.parse(disk_id).name}")

    # -- images ------------------------------------------------------------------------------------
    def create_image(self, image_id: str, *, location: str, os_type: str, os_state: str,
                     hyper_v_generation: str | None, os_disk: ImageDiskInfo, data_disks: list[ImageDiskInfo],
                     tags: dict[str, str]) -> ImageInfo:
        """A managed image from managed disks (``source_id`` of each entry), keeping the LUNs."""
        rid = ResourceId.parse(image_id)

        def entry(d: ImageDiskInfo) -> Json:
            e: Json = {"managedDisk": {"id": d.source_id}}
            if d.caching:
                e["caching"] = d.caching
            if d.storage_account_type:
                e["storageAccountType"] = d.storage_account_type
            if d.lun is not None:
                e["lun"] = d.lun
            return e

        os_entry = entry(os_disk) | {"osType": os_type, "osState": os_state}
        props: Json = {"storageProfile": {"osDisk": os_entry, "dataDisks": [entry(d) for d in data_disks]}}
        if hyper_v_generation:
            props["hyperVGeneration"] = hyper_v_generation
        body = {"location": location, "tags": tags, "properties": props}
        with azure_call(f"create image {rid.name}"):
            made = self._client(rid.subscription_id).images.begin_create_or_update(
                rid.resource_group, rid.name, Image(body)
            ).result()
        return self._image_info(made.as_dict())

    # -- deletes: "not found" is done ---------------------------------------------------------------
    def delete(self, resource_id: str) -> bool:
        """Delete a disk, snapshot or image; False when it was already gone."""
        rid = ResourceId.parse(resource_id)
        client = self._client(rid.subscription_id)
        ops: Any = {"disks": client.disks, "snapshots": client.snapshots, "images": client.images}[rid.type.lower()]
        try:
            with azure_call(f"delete {rid.type} {rid.name}"):
                ops.begin_delete(rid.resource_group, rid.name).result()
        except NotFound:
            return False
        return True
