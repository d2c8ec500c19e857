"""The blob service's route table: which REST operation a request is, and its handler.

A call is named by its method, its level (service, container or blob), ``restype``,
``comp`` and, for Copy Blob, the ``x-ms-copy-source`` header. The table is built once,
here, from the handler modules; none of them imports it back.
"""

from __future__ import annotations

from aiohttp import web

from diskferry.emulator.errors import AzureError
from diskferry.emulator.storage import blobs, containers, copyblob
from diskferry.emulator.storage.calls import Route

#: (level, method, selector) → route; selector is ``comp`` (or a header-derived name)
ROUTES: dict[tuple[str, str, str], Route] = {
    ("service", "GET", "list"): Route("blob.ListContainers", containers.list_containers, "l"),
    ("service", "GET", "account/properties"): Route("blob.GetAccountInfo", containers.account_info, "r"),
    ("service", "HEAD", "account/properties"): Route("blob.GetAccountInfo", containers.account_info, "r"),
    ("container", "PUT", ""): Route("blob.CreateContainer", containers.create, "c"),
    ("container", "DELETE", ""): Route("blob.DeleteContainer", containers.delete, "d"),
    ("container", "GET", ""): Route("blob.GetContainerProperties", containers.properties, "r"),
    ("container", "HEAD", ""): Route("blob.GetContainerProperties", containers.properties, "r"),
    ("container", "PUT", "metadata"): Route("blob.SetContainerMetadata", containers.set_metadata, "w"),
    ("container", "GET", "list"): Route("blob.ListBlobs", containers.list_blobs, "l"),
    ("blob", "PUT", ""): Route("blob.PutBlob", blobs.put_blob, "w"),
    ("blob", "PUT", "copy-source"): Route("blob.CopyBlob", copyblob.copy_blob, "w"),
    ("blob", "PUT", "copy"): Route("blob.AbortCopyBlob", copyblob.abort_copy, "w"),
    ("blob", "PUT", "page"): Route("blob.PutPage", blobs.put_page, "w"),
    ("blob", "PUT", "metadata"): Route("blob.SetBlobMetadata", blobs.set_metadata, "w"),
    ("blob", "PUT", "properties"): Route("blob.SetBlobProperties", blobs.set_properties, "w"),
    ("blob", "GET", ""): Route("blob.GetBlob", blobs.get_blob, "r"),
    ("blob", "HEAD", ""): Route("blob.GetBlobProperties", blobs.get_properties, "r"),
    ("blob", "GET", "pagelist"): Route("blob.GetPageRanges", blobs.get_page_ranges, "r"),
    ("blob", "DELETE", ""): Route("blob.DeleteBlob", blobs.delete, "d"),
}


def resolve(request: web.Request, container: str | None, blob: str | None) -> Route:
    """The route of a request whose path names ``container`` and ``blob`` (None: absent)."""
    q = request.query
    comp = q.get("comp", "")
    if blob is not None:
        level = "blob"
        if request.method == "PUT" and not comp and "x-ms-copy-source" in request.headers:
            comp = "copy-source"
    elif container is not None:
        level = "container"
        if q.get("restype") != "container":
            raise AzureError(
                400,
                "InvalidQueryParameterValue",
                "Value for one of the query parameters specified in the request URI is invalid.",
            )
    else:
        level = "service"
        if q.get("restype"):
            comp = f"{q['restype']}/{comp}"
    route = ROUTES.get((level, request.method, comp))
    if route is None:
        raise AzureError(
            501,
            "NotImplemented",
            f"The local Azure does not implement this blob operation ({request.method} {level} comp={comp!r}).",
        )
    return route
