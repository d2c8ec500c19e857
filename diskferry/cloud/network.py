"""Microsoft.Network in diskferry's words: the subnet a rebuilt VM goes in, its NIC, a public IP.

Every create is find-or-create on a name derived by the caller, so a task that runs again
after a crash finds what its first run made; every delete treats "not found" as done.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from azure.core.credentials import TokenCredential
from azure.mgmt.network import NetworkManagementClient
from azure.mgmt.network.models import NetworkInterface, PublicIPAddress

from diskferry.cloud import operations
from diskferry.cloud.errors import azure_call, delete_done, found_or_none
from diskferry.cloud.operations import Operation
from diskferry.cloud.types import NicInfo, ResourceId, SubnetInfo
from diskferry.errors import DiskFailed, NotFound

Json = dict[str, Any]


def _nic_info(doc: Json) -> NicInfo:
    props = doc.get("properties") or {}
    configs = props.get("ipConfigurations") or []
    primary = next((c for c in configs if (c.get("properties") or {}).get("primary")), configs[0] if configs else {})
    config = primary.get("properties") or {}
    return NicInfo(
        id=doc["id"],
        name=doc["name"],
        location=doc["location"],
        subnet_id=str((config.get("subnet") or {}).get("id") or ""),
        private_ip=config.get("privateIPAddress"),
        public_ip_id=(config.get("publicIPAddress") or {}).get("id"),
        vm_id=(props.get("virtualMachine") or {}).get("id"),
        tags=dict(doc.get("tags") or {}),
    )


def _subnet_id_parts(subnet_id: str) -> tuple[ResourceId, str]:
    """``(the VNet's id, the subnet's name)`` of a subnet id."""
    vnet_id, sep, name = subnet_id.rpartition("/subnets/")
    if not sep or not name or "/" in name:
        raise ValueError(f"not a subnet id: {subnet_id!r}")
    return ResourceId.parse(vnet_id), name


class Network:
    def __init__(self, credential: TokenCredential, options: dict[str, Any]) -> None:
        self._credential = credential
        self._options = options
        self._clients: dict[str, NetworkManagementClient] = {}

    def _client(self, subscription_id: str) -> NetworkManagementClient:
        client = self._clients.get(subscription_id)
        if client is None:
            client = NetworkManagementClient(self._credential, subscription_id, **self._options)
            self._clients[subscription_id] = client
        return client

    # -- subnets ---------------------------------------------------------------------------------
    def find_subnet(self, subnet_id: str) -> SubnetInfo | None:
        """The subnet (with its VNet's region), or None when the VNet or the subnet is missing."""
        vnet, name = _subnet_id_parts(subnet_id)
        try:
            with azure_call(f"get virtual network {vnet.name}"):
                found = self._client(vnet.subscription_id).virtual_networks.get(vnet.resource_group, vnet.name)
        except NotFound:
            return None
        doc = found.as_dict()
        for subnet in (doc.get("properties") or {}).get("subnets") or []:
            if str(subnet.get("name", "")).lower() == name.lower():
                prefix = (subnet.get("properties") or {}).get("addressPrefix") or ""
                return SubnetInfo(subnet["id"], subnet["name"], doc["location"], str(prefix))
        return None

    # -- NICs -----------------------------------------------------------------------------------
    def find_nic(self, nic_id: str) -> NicInfo | None:
        rid = ResourceId.parse(nic_id)
        nics = self._client(rid.subscription_id).network_interfaces
        found = found_or_none(f"get network interface {rid.name}", partial(nics.get, rid.resource_group, rid.name))
        return _nic_info(found.as_dict()) if found is not None else None

    def ensure_nic(
        self, nic_id: str, *, location: str, subnet_id: str, tags: dict[str, str], public_ip_id: str | None = None
    ) -> NicInfo:
        """The NIC ``nic_id`` in ``subnet_id`` (dynamic private address), created unless it exists.

        An existing NIC in another subnet is not moved: that is a name clash, not a re-run.
        """
        found = self.find_nic(nic_id)
        if found is not None:
            if found.subnet_id.lower() != subnet_id.lower():
                raise DiskFailed(
                    "NicExists", f"network interface {found.name} exists in subnet {found.subnet_id}, not {subnet_id}"
                )
            return found
        rid = ResourceId.parse(nic_id)
        body = self._nic_body(location, subnet_id, tags, public_ip_id)
        with azure_call(f"create network interface {rid.name}"):
            made = self._client(rid.subscription_id).network_interfaces.begin_create_or_update(
                rid.resource_group, rid.name, NetworkInterface(body)
            ).result()
        return _nic_info(made.as_dict())

    def _start(self, rid: ResourceId, what: str, begin: Any) -> Operation:
        return operations.start(what, rid.subscription_id, self._client(rid.subscription_id)._client, begin)

    def create_nic(self, nic_id: str, *, location: str, subnet_id: str, tags: dict[str, str],
                   public_ip_id: str | None = None) -> Operation:
        """Start making NIC ``nic_id`` in ``subnet_id`` (dynamic private address); the caller
        looked for it first (:meth:`find_nic`)."""
        rid = ResourceId.parse(nic_id)
        body = self._nic_body(location, subnet_id, tags, public_ip_id)
        nics = self._client(rid.subscription_id).network_interfaces
        return self._start(rid, f"create network interface {rid.name}", partial(
            nics.begin_create_or_update, rid.resource_group, rid.name, NetworkInterface(body)))

    @staticmethod
    def _nic_body(location: str, subnet_id: str, tags: dict[str, str], public_ip_id: str | None) -> Json:
        config: Json = {"subnet": {"id": subnet_id}, "privateIPAllocationMethod": "Dynamic"}
        if public_ip_id:
            config["publicIPAddress"] = {"id": public_ip_id}
        return {
            "location": location,
            "tags": tags,
            "properties": {"ipConfigurations": [{"name": "ipconfig1", "properties": config}]},
        }

    def find_public_ip(self, ip_id: str) -> dict[str, str] | None:
        """The tags of public IP ``ip_id``, or None when it does not exist."""
        rid = ResourceId.parse(ip_id)
        ips = self._client(rid.subscription_id).public_ip_addresses
        found = found_or_none(f"get public IP {rid.name}", partial(ips.get, rid.resource_group, rid.name))
        return dict(found.tags or {}) if found is not None else None

    def create_public_ip(self, ip_id: str, *, location: str, tags: dict[str, str], zone: str | None = None
                         ) -> Operation:
        """Start making a static Standard public IP."""
        rid = ResourceId.parse(ip_id)
        ips = self._client(rid.subscription_id).public_ip_addresses
        return self._start(rid, f"create public IP {rid.name}", partial(
            ips.begin_create_or_update, rid.resource_group, rid.name,
            PublicIPAddress(self._public_ip_body(location, tags, zone))))

    @staticmethod
    def _public_ip_body(location: str, tags: dict[str, str], zone: str | None) -> Json:
        body: Json = {
            "location": location,
            "tags": tags,
            "sku": {"name": "Standard"},
            "properties": {"publicIPAllocationMethod": "Static"},
        }
        if zone:
            body["zones"] = [zone]
        return body

    def start_delete(self, resource_id: str) -> Operation | None:
        """Start deleting a NIC or public IP; None when it (or its group) is gone."""
        rid = ResourceId.parse(resource_id)
        try:
            return self._start(rid, f"delete {rid.type} {rid.name}", partial(
                self._ops(rid).begin_delete, rid.resource_group, rid.name))
        except NotFound:
            return None

    def _ops(self, rid: ResourceId) -> Any:
        client = self._client(rid.subscription_id)
        return {
            "networkinterfaces": client.network_interfaces,
            "publicipaddresses": client.public_ip_addresses,
        }[rid.type.lower()]

    def list_nics(self, subscription_id: str) -> list[NicInfo]:
        """Every NIC of the subscription (gc looks for the ones a job made and no VM holds)."""
        with azure_call("list network interfaces"):
            return [_nic_info(n.as_dict()) for n in self._client(subscription_id).network_interfaces.list_all()]

    def ensure_public_ip(self, ip_id: str, *, location: str, tags: dict[str, str], zone: str | None = None) -> str:
        """A static Standard public IP, created unless it exists; its id."""
        rid = ResourceId.parse(ip_id)
        ips = self._client(rid.subscription_id).public_ip_addresses
        try:
            with azure_call(f"get public IP {rid.name}"):
                return str(ips.get(rid.resource_group, rid.name).id)
        except NotFound:
            pass
        body = self._public_ip_body(location, tags, zone)
        with azure_call(f"create public IP {rid.name}"):
            made = ips.begin_create_or_update(rid.resource_group, rid.name, PublicIPAddress(body)).result()
        return str(made.id)

    def delete(self, resource_id: str) -> bool:
        """Delete a NIC or public IP; False when it was already gone."""
        rid = ResourceId.parse(resource_id)
        return delete_done(self._ops(rid), rid.resource_group, rid.name, rid.type)
