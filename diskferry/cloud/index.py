"""``ResourceIndex``: one planning pass's reads of VMs, disks, snapshots and images, a resource
group at a time.

A job naming 1,000 VMs of one group used to cost a GET per VM, per disk and per destination
(about 4,000 reads), which Azure's read bucket (250, refilled 25/s) paces to minutes. Told
up front which resources it will be asked about (:meth:`expect`), the index lists a group
(one paged call per type) when two or more of them live there and answers from that listing;
for a single resource a GET is cheaper, and it does that.

What a listing cannot answer goes to the single GET as before, so that a missing or refused
resource fails with Azure's own words: a name absent from the listing, or a group whose list
was refused for any reason other than the group being absent. An absent group lists as empty
(everything ``find_*`` asks about there is absent; ``get_*`` still asks Azure, for its error).

The index lives for one planning pass (build one per job): it never answers from another
job's reads.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from diskferry.cloud.types import DiskInfo, ImageInfo, ResourceId, VmInfo
from diskferry.errors import DiskferryError, NotFound

if TYPE_CHECKING:
    from diskferry.cloud.compute import Compute

T = TypeVar("T")
Json = dict[str, Any]
#: (subscription, resource group, type), lower case: ARM names are case-insensitive
GroupKey = tuple[str, str, str]

VMS, DISKS, SNAPSHOTS, IMAGES = "virtualmachines", "disks", "snapshots", "images"


def _key(rid: ResourceId) -> GroupKey:
    return rid.subscription_id.lower(), rid.resource_group.lower(), rid.type.lower()


class ResourceIndex:
    def __init__(self, compute: Compute, *, list_from: int = 2) -> None:
        """``list_from``: how many expected resources of one type in one group make a listing
        worth it (below that, one GET each)."""
        self._compute = compute
        self._list_from = list_from
        self._expected: Counter[GroupKey] = Counter()
        #: a group's documents by lower-case name; None: not listable, ask per resource
        self._listed: dict[GroupKey, dict[str, Json] | None] = {}

    def expect(self, resource_ids: Iterable[str]) -> None:
        """Resources (ids of VMs, disks, snapshots, images) this pass will ask about; each id once."""
        for rid in dict.fromkeys(r.lower() for r in resource_ids):
            self._expected[_key(ResourceId.parse(rid))] += 1

    # -- answers ----------------------------------------------------------------------------------
    def get_vm(self, subscription_id: str, resource_group: str, name: str) -> VmInfo:
        """As :meth:`Compute.get_vm`, but without the power state when it came from a listing."""
        rid = ResourceId(subscription_id, resource_group, "Microsoft.Compute", "virtualMachines", name)
        return self._get(rid, self._compute.vm_of,
                         lambda: self._compute.get_vm(subscription_id, resource_group, name))

    def get_image(self, subscription_id: str, resource_group: str, name: str) -> ImageInfo:
        rid = ResourceId(subscription_id, resource_group, "Microsoft.Compute", "images", name)
        return self._get(rid, self._compute.image_of,
                         lambda: self._compute.get_image(subscription_id, resource_group, name))

    def get_disk(self, resource_id: str) -> DiskInfo:
        """A managed disk or a snapshot, by id."""
        return self._get(ResourceId.parse(resource_id), self._compute.disk_of,
                         lambda: self._compute.get_disk(resource_id))

    def find_disk(self, resource_id: str) -> DiskInfo | None:
        return self._find(ResourceId.parse(resource_id), self._compute.disk_of,
                          lambda: self._compute.find_disk(resource_id))

    def find_image(self, image_id: str) -> ImageInfo | None:
        return self._find(ResourceId.parse(image_id), self._compute.image_of,
                          lambda: self._compute.find_image(image_id))

    # -- the listings -----------------------------------------------------------------------------
    def _get(self, rid: ResourceId, parse: Callable[[Json], T], fetch: Callable[[], T]) -> T:
        listing = self._listing(rid)
        doc = listing.get(rid.name.lower()) if listing is not None else None
        return parse(doc) if doc is not None else fetch()

    def _find(self, rid: ResourceId, parse: Callable[[Json], T], fetch: Callable[[], T | None]) -> T | None:
        """A listed group answers absence too; otherwise one GET."""
        listing = self._listing(rid)
        if listing is None:
            return fetch()
        doc = listing.get(rid.name.lower())
        return parse(doc) if doc is not None else None

    def _listing(self, rid: ResourceId) -> dict[str, Json] | None:
        key = _key(rid)
        if self._expected[key] < self._list_from:
            return None
        if key not in self._listed:
            self._listed[key] = self._list(rid)
        return self._listed[key]

    def _list(self, rid: ResourceId) -> dict[str, Json] | None:
        try:
            docs = self._compute.list_group(rid.subscription_id, rid.resource_group, rid.type)
        except NotFound:
            return {}  # the group is absent, and so is everything in it
        except DiskferryError:
            return None  # refused: each GET says what Azure says about its own resource
        return {str(d["name"]).lower(): d for d in docs}
