"""Microsoft.Compute in diskferry's words: VMs, disks, snapshots, grants, images."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from typing import Any

from azure.core.credentials import TokenCredential
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    map_error,
)
from azure.core.rest import HttpRequest
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.compute.models import Disk, Image, Snapshot, VirtualMachine
from azure.mgmt.compute.operations._operations import (  # the SDK's request builders: its paths, api-versions
    build_disks_list_by_resource_group_request,
    build_images_list_by_resource_group_request,
    build_snapshots_list_by_resource_group_request,
    build_virtual_machines_list_request,
)
from azure.mgmt.core.exceptions import ARMErrorFormat

from diskferry.cloud import operations
from diskferry.cloud.errors import azure_call, found_or_none
from diskferry.cloud.operations import Checked, Operation
from diskferry.cloud.types import (
    DiskInfo,
    EncryptionSetInfo,
    ImageDiskInfo,
    ImageInfo,
    ResourceId,
    VmDisk,
    VmInfo,
    VmSecurity,
    VmSize,
)
from diskferry.errors import DiskFailed, NotFound

GIB = 1024**3
Json = dict[str, Any]


#: the listing requests of :meth:`Compute.list_group`, by resource type
_LISTS: dict[str, Callable[..., HttpRequest]] = {
    "virtualmachines": build_virtual_machines_list_request,
    "disks": build_disks_list_by_resource_group_request,
    "snapshots": build_snapshots_list_by_resource_group_request,
    "images": build_images_list_by_resource_group_request,
}
#: as the generated operations map an ARM error answer to azure-core's exceptions
_ERRORS: dict[int, type[HttpResponseError]] = {401: ClientAuthenticationError, 404: ResourceNotFoundError}


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
        provisioning_state=props.get("provisioningState"),
        access_state=props.get("snapshotAccessState"),
        completion_percent=None if props.get("completionPercent") is None else float(props["completionPercent"]),
        encryption_type=(props.get("encryption") or {}).get("type"),
        encryption_set=(props.get("encryption") or {}).get("diskEncryptionSetId"),
        guest_encrypted=bool((props.get("encryptionSettingsCollection") or {}).get("enabled")),
        security_type=(props.get("securityProfile") or {}).get("securityType"),
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


def _capability(sku: Json, name: str) -> float | None:
    for cap in sku.get("capabilities") or []:
        if cap.get("name") == name:
            try:
                return float(cap.get("value"))
            except (TypeError, ValueError):
                return None
    return None


def _vm_size(sku: Json, location: str) -> VmSize | None:
    """A ``resourceSkus`` entry as a size of ``location``: None when it is not a VM size offered
    there (a ``Location`` restriction); zones named by a ``Zone`` restriction are left out."""
    if sku.get("resourceType") != "virtualMachines":
        return None
    where = location.replace(" ", "").lower()
    info = [i for i in sku.get("locationInfo") or [] if str(i.get("location", "")).lower() == where]
    if not info:
        return None
    hidden: set[str] = set()
    for restriction in sku.get("restrictions") or []:
        if restriction.get("type") == "Location" and where in [str(v).lower() for v in restriction.get("values") or []]:
            return None
        if restriction.get("type") == "Zone":
            hidden.update((restriction.get("restrictionInfo") or {}).get("zones") or [])
    zones = tuple(sorted(z for z in info[0].get("zones") or [] if z not in hidden))

    def whole(name: str) -> int | None:
        value = _capability(sku, name)
        return int(value) if value is not None else None

    return VmSize(sku["name"], where, zones, whole("vCPUs"), _capability(sku, "MemoryGB"),
                  whole("MaxDataDiskCount"), whole("MaxNetworkInterfaces"))


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

    def _start(self, rid: ResourceId, what: str, begin: Any) -> Operation:
        return operations.start(what, rid.subscription_id, self._client(rid.subscription_id)._client, begin)

    # -- long-running operations: started by the methods below, then checked ----------------------
    def check(self, op: Operation, *, result: bool = True) -> Checked:
        """One look at an operation this facade (or the storage one: ARM polls alike) started
        (see :mod:`diskferry.cloud.operations`); ``result``: read what it made once it ended."""
        return operations.check(self._client(op.subscription_id)._client, op, result=result)

    def wait(self, op: Operation, timeout: float = 600, interval: float = 0.5) -> Checked:
        """Check until the operation ends: for scripts and tests, never for a task."""
        deadline = time.monotonic() + timeout
        while True:
            checked = self.check(op)
            if checked.done or time.monotonic() > deadline:
                return checked
            time.sleep(interval)

    # -- reads ---------------------------------------------------------------------------------
    def get_vm(self, subscription_id: str, resource_group: str, name: str) -> VmInfo:
        with azure_call(f"get VM {resource_group}/{name}"):
            vm = self._client(subscription_id).virtual_machines.get(resource_group, name, expand="instanceView")
        return self._vm_info(vm.as_dict())

    def find_vm(self, vm_id: str) -> VmInfo | None:
        rid = ResourceId.parse(vm_id)
        try:
            return self.get_vm(rid.subscription_id, rid.resource_group, rid.name)
        except NotFound:
            return None

    @staticmethod
    def _vm_info(doc: Json) -> VmInfo:
        name = doc["name"]
        props = doc.get("properties", {})
        profile = props.get("storageProfile", {})
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
        nics = (props.get("networkProfile") or {}).get("networkInterfaces") or []
        security = props.get("securityProfile") or {}
        uefi = security.get("uefiSettings") or {}
        return VmInfo(
            doc["id"],
            name,
            doc["location"],
            _power_state(doc),
            tuple(disks),
            size=(props.get("hardwareProfile") or {}).get("vmSize"),
            zones=tuple(doc.get("zones") or ()),
            nic_ids=tuple(str(n["id"]) for n in nics if n.get("id")),
            availability_set_id=(props.get("availabilitySet") or {}).get("id"),
            os_type=os_disk.get("osType"),
            tags=dict(doc.get("tags") or {}),
            provisioning_state=props.get("provisioningState"),
            security_type=security.get("securityType"),
            secure_boot=uefi.get("secureBootEnabled"),
            vtpm=uefi.get("vTpmEnabled"),
            guest_encrypted=bool((os_disk.get("encryptionSettings") or {}).get("enabled")),
        )

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
        images = self._client(rid.subscription_id).images
        image = found_or_none(f"get image {rid.name}", partial(images.get, rid.resource_group, rid.name))
        return self._image_info(image.as_dict()) if image is not None else None

    def find_encryption_set(self, set_id: str) -> EncryptionSetInfo | None:
        """A disk encryption set, by id; None when it does not exist."""
        rid = ResourceId.parse(set_id)
        sets = self._client(rid.subscription_id).disk_encryption_sets
        found = found_or_none(f"get disk encryption set {rid.name}", partial(sets.get, rid.resource_group, rid.name))
        if found is None:
            return None
        doc = found.as_dict()
        return EncryptionSetInfo(id=doc["id"], name=doc["name"], location=doc["location"],
                                 encryption_type=(doc.get("properties") or {}).get("encryptionType")
                                 or "EncryptionAtRestWithCustomerKey")

    # -- listings of one resource group (one paged call each: diskferry.cloud.index) ---------------
    def list_group(self, subscription_id: str, resource_group: str, kind: str) -> list[Json]:
        """Every resource of one type (``virtualMachines``, ``disks``, ``snapshots``, ``images``) in
        a resource group, as ARM documents; the SDK follows each page's ``nextLink``. NotFound when
        the group does not exist. The documents read as :meth:`vm_of`, :meth:`disk_of`,
        :meth:`image_of` (a listed VM carries no power state: Azure's list has no instance view)."""
        client = self._client(subscription_id)
        # the SDK's own request (path, api-version) through the client's pipeline (auth, ARM
        # budget), its JSON read as is: the SDK's model deserializer spent ~2 ms per resource
        # listed and as_dict() gave back that JSON (planning 1,000 VMs: most of submit's CPU)
        request: HttpRequest = _LISTS[kind.lower()](resource_group_name=resource_group,
                                                    subscription_id=subscription_id)
        docs: list[Json] = []
        with azure_call(f"list {kind} of {resource_group}"):
            while True:
                response = client.send_request(request)
                if response.status_code != 200:
                    map_error(status_code=response.status_code, response=response, error_map=_ERRORS)
                    raise HttpResponseError(response=response, error_format=ARMErrorFormat)
                page = response.json()
                docs += page.get("value") or []
                if not page.get("nextLink"):
                    return docs
                request = HttpRequest("GET", page["nextLink"])

    @classmethod
    def vm_of(cls, doc: Json) -> VmInfo:
        return cls._vm_info(doc)

    @classmethod
    def image_of(cls, doc: Json) -> ImageInfo:
        return cls._image_info(doc)

    @staticmethod
    def disk_of(doc: Json) -> DiskInfo:
        return _disk_info(doc)

    # -- snapshots and grants ------------------------------------------------------------------------
    def create_snapshot(self, snapshot_id: str, *, source_id: str, location: str, tags: dict[str, str],
                        incremental: bool = False) -> Operation:
        """Start a snapshot of a disk (or a copy of a snapshot): full, or ``incremental`` (the only
        kind Azure takes of a Premium SSD v2 or Ultra disk, copied in the background after it is
        made: see ``DiskInfo.usable``)."""
        rid = ResourceId.parse(snapshot_id)
        body = {
            "location": location,
            "tags": tags,
            "properties": {
                "creationData": {"createOption": "Copy", "sourceResourceId": source_id},
                "incremental": incremental,
            },
        }
        client = self._client(rid.subscription_id)
        return self._start(rid, f"snapshot {ResourceId.parse(source_id).name}", partial(
            client.snapshots.begin_create_or_update, rid.resource_group, rid.name, Snapshot(body)))

    def grant_read(self, resource_id: str, seconds: int) -> Operation:
        """Start a read grant on a disk or snapshot; its SAS comes in the ended operation's body
        (:func:`access_sas`), which the caller keeps out of logs, records and task args."""
        rid = ResourceId.parse(resource_id)
        return self._start(rid, f"grant read access to {rid.name}", partial(
            self._ops(rid).begin_grant_access, rid.resource_group, rid.name,
            {"access": "Read", "durationInSeconds": seconds}))

    def revoke(self, resource_id: str) -> Operation | None:
        """Start ending every SAS on a disk or snapshot; None when it is gone (it needs none)."""
        rid = ResourceId.parse(resource_id)
        try:
            return self._start(rid, f"revoke access to {rid.name}", partial(
                self._ops(rid).begin_revoke_access, rid.resource_group, rid.name))
        except NotFound:
            return None

    # -- what diskferry marked, for gc (diskferry.gc) ------------------------------------------------
    def set_tags(self, resource_id: str, tags: dict[str, str]) -> Operation:
        """Start replacing the tags of a disk or snapshot (a PATCH replaces the whole set)."""
        rid = ResourceId.parse(resource_id)
        return self._start(rid, f"tag {rid.name}", partial(
            self._ops(rid).begin_update, rid.resource_group, rid.name, {"tags": tags}))

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
    def deallocate_vm(self, vm_id: str) -> Operation:
        rid = ResourceId.parse(vm_id)
        vms = self._client(rid.subscription_id).virtual_machines
        return self._start(rid, f"deallocate VM {rid.name}",
                           partial(vms.begin_deallocate, rid.resource_group, rid.name))

    def create_vm(
        self,
        vm_id: str,
        *,
        location: str,
        size: str,
        os_type: str,
        os_disk: VmDisk,
        data_disks: list[VmDisk],
        nic_ids: list[str],
        tags: dict[str, str],
        zone: str | None = None,
        availability_set_id: str | None = None,
        security: VmSecurity | None = None,
    ) -> Operation:
        """Start making a VM on existing managed disks (``Attach``) and NICs, the first NIC
        primary; ``security``: a Trusted Launch VM (its OS disk must be one). Azure's refusal (a
        size not offered in the zone, a quota) comes as the operation's error, or at once as the
        call's."""
        rid = ResourceId.parse(vm_id)
        body = self._vm_body(location, size, os_type, os_disk, data_disks, nic_ids, tags, zone, availability_set_id)
        if security is not None:
            body["properties"]["securityProfile"] = security.profile
        vms = self._client(rid.subscription_id).virtual_machines
        return self._start(rid, f"create VM {rid.name}", partial(
            vms.begin_create_or_update, rid.resource_group, rid.name, VirtualMachine(body)))

    def create_vm_from_disks(self, vm_id: str, **kw: Any) -> VmInfo:
        """:meth:`create_vm`, waited for (scripts and tests); a VM already there is returned as it is."""
        found = self.find_vm(vm_id)
        if found is not None:
            return found
        self.wait(self.create_vm(vm_id, **kw))
        rid = ResourceId.parse(vm_id)
        return self.get_vm(rid.subscription_id, rid.resource_group, rid.name)

    @staticmethod
    def _vm_body(location: str, size: str, os_type: str, os_disk: VmDisk, data_disks: list[VmDisk],
                 nic_ids: list[str], tags: dict[str, str], zone: str | None,
                 availability_set_id: str | None) -> Json:
        def attach(disk: VmDisk) -> Json:
            entry: Json = {"createOption": "Attach", "managedDisk": {"id": disk.disk_id}}
            if disk.caching:
                entry["caching"] = disk.caching
            if disk.lun is not None:
                entry["lun"] = disk.lun
            return entry

        props: Json = {
            "hardwareProfile": {"vmSize": size},
            "storageProfile": {
                "osDisk": {**attach(os_disk), "osType": os_type},
                "dataDisks": [attach(d) for d in data_disks],
            },
            "networkProfile": {
                "networkInterfaces": [{"id": n, "properties": {"primary": i == 0}} for i, n in enumerate(nic_ids)]
            },
        }
        if availability_set_id:
            props["availabilitySet"] = {"id": availability_set_id}
        body: Json = {"location": location, "tags": tags, "properties": props}
        if zone:
            body["zones"] = [zone]
        return body

    def list_sizes(self, subscription_id: str, location: str) -> tuple[VmSize, ...]:
        """The VM sizes ``location`` offers this subscription, each with the zones it is offered in."""
        where = location.replace(" ", "").lower()
        with azure_call(f"list VM sizes of {where}"):
            skus = [s.as_dict() for s in self._client(subscription_id).resource_skus.list(
                filter=f"location eq '{where}'")]
        return tuple(size for sku in skus if (size := _vm_size(sku, location)) is not None)

    def power_off_vm(self, vm_id: str) -> Operation:
        """Start stopping a VM (``powerOff``: stopped, still allocated)."""
        rid = ResourceId.parse(vm_id)
        vms = self._client(rid.subscription_id).virtual_machines
        return self._start(rid, f"power off VM {rid.name}", partial(vms.begin_power_off, rid.resource_group, rid.name))

    def find_availability_set(self, set_id: str) -> tuple[str, str] | None:
        """``(id, region)`` of an availability set, or None when it does not exist."""
        rid = ResourceId.parse(set_id)
        sets = self._client(rid.subscription_id).availability_sets
        found = found_or_none(f"get availability set {rid.name}", partial(sets.get, rid.resource_group, rid.name))
        return (str(found.id), str(found.location)) if found is not None else None

    def start_vm(self, vm_id: str) -> Operation:
        rid = ResourceId.parse(vm_id)
        vms = self._client(rid.subscription_id).virtual_machines
        return self._start(rid, f"start VM {rid.name}", partial(vms.begin_start, rid.resource_group, rid.name))

    # -- disks at the target ---------------------------------------------------------------------
    def _create_disk(self, disk_id: str, body: Json, what: str) -> Operation:
        rid = ResourceId.parse(disk_id)
        disks = self._client(rid.subscription_id).disks
        return self._start(rid, what, partial(disks.begin_create_or_update, rid.resource_group, rid.name, Disk(body)))

    @staticmethod
    def _disk_body(location: str, creation: Json, *, sku: str | None, zone: str | None, os_type: str | None,
                   hyper_v_generation: str | None, tags: dict[str, str], encryption: tuple[str, str] | None) -> Json:
        props: Json = {"creationData": creation}
        if encryption is not None:
            set_id, kind = encryption
            props["encryption"] = {"type": kind, "diskEncryptionSetId": set_id}
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
                    tags: dict[str, str], encryption: tuple[str, str] | None = None,
                    security_type: str | None = None) -> Operation:
        """Start making a managed disk from a staged VHD (``createOption: Import``). A VHD carries
        no key and no security type: the disk gets platform-managed keys unless ``encryption``
        names a disk encryption set and its type (``(set id, EncryptionAtRestWithCustomerKey)``),
        and is a Standard disk unless ``security_type`` says ``TrustedLaunch`` (an OS disk)."""
        creation = {"createOption": "Import", "sourceUri": source_uri, "storageAccountId": storage_account_id}
        body = self._disk_body(location, creation, sku=sku, zone=zone, os_type=os_type,
                               hyper_v_generation=hyper_v_generation, tags=tags, encryption=encryption)
        if security_type:
            body["properties"]["securityProfile"] = {"securityType": security_type}
        return self._create_disk(disk_id, body, f"import disk {ResourceId.parse(disk_id).name}")

    def copy_disk(self, disk_id: str, *, location: str, source_id: str, sku: str | None, zone: str | None,
                  os_type: str | None, hyper_v_generation: str | None, tags: dict[str, str],
                  encryption: tuple[str, str] | None = None) -> Operation:
        """Start copying a disk or snapshot into a managed disk in the same region (``Copy``)."""
        creation = {"createOption": "Copy", "sourceResourceId": source_id}
        body = self._disk_body(location, creation, sku=sku, zone=zone, os_type=os_type,
                               hyper_v_generation=hyper_v_generation, tags=tags, encryption=encryption)
        return self._create_disk(disk_id, body, f"copy disk to {ResourceId.parse(disk_id).name}")

    # -- images ------------------------------------------------------------------------------------
    def create_image(self, image_id: str, *, location: str, os_type: str, os_state: str,
                     hyper_v_generation: str | None, os_disk: ImageDiskInfo, data_disks: list[ImageDiskInfo],
                     tags: dict[str, str]) -> Operation:
        """Start building a managed image from managed disks (``source_id`` of each entry),
        keeping the LUNs."""
        rid = ResourceId.parse(image_id)

        def entry(d: ImageDiskInfo) -> Json:
            e: Json = {"managedDisk": {"id": d.source_id}}
            if d.caching:
                e["caching"] = d.caching
            if d.storage_account_type:
                e["storageAccountType"] = d.storage_account_type
            if d.lun is not None:
                e["lun"] = d.lun
            if d.encryption_set:
                e["diskEncryptionSet"] = {"id": d.encryption_set}
            return e

        os_entry = entry(os_disk) | {"osType": os_type, "osState": os_state}
        props: Json = {"storageProfile": {"osDisk": os_entry, "dataDisks": [entry(d) for d in data_disks]}}
        if hyper_v_generation:
            props["hyperVGeneration"] = hyper_v_generation
        body = {"location": location, "tags": tags, "properties": props}
        images = self._client(rid.subscription_id).images
        return self._start(rid, f"create image {rid.name}", partial(
            images.begin_create_or_update, rid.resource_group, rid.name, Image(body)))

    # -- deletes: "not found" is done ---------------------------------------------------------------
    def delete(self, resource_id: str) -> Operation | None:
        """Start deleting a disk, snapshot, image or VM (a VM's disks and NICs stay); Azure answers
        204 for one that is gone: the operation is done at once. None when its resource group is
        gone too."""
        rid = ResourceId.parse(resource_id)
        client = self._client(rid.subscription_id)
        ops: Any = {
            "disks": client.disks,
            "snapshots": client.snapshots,
            "images": client.images,
            "virtualmachines": client.virtual_machines,
        }[rid.type.lower()]
        try:
            return self._start(rid, f"delete {rid.type} {rid.name}", partial(ops.begin_delete, rid.resource_group,
                                                                             rid.name))
        except NotFound:
            return None


def access_sas(body: Json | None, what: str) -> str:
    """The SAS of an ended grant (its final body ``{"accessSAS": ...}``)."""
    sas = (body or {}).get("accessSAS")
    if not sas:
        raise DiskFailed("NoAccessSas", f"{what} returned no SAS")
    return str(sas)
