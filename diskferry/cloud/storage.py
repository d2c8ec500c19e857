"""Resource groups, staging storage accounts and their blobs (Copy Blob) in diskferry's words.

Blob calls are signed with the account's key (Shared Key), fetched with ``listKeys`` and kept
in this process only; it never leaves the facade. An account that refuses Shared Key
(``allowSharedKeyAccess: false``, which many organisations enforce by policy — and a policy's
remediation may turn it off mid-job) is reached with Microsoft Entra ID instead: the fleet's
own credential, which needs a blob data role on it (Storage Blob Data Contributor).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from email.utils import parsedate_to_datetime
from functools import partial
from typing import Any
from xml.etree import ElementTree

from azure.core.credentials import TokenCredential
from azure.core.exceptions import HttpResponseError
from azure.core.rest import HttpRequest
from azure.mgmt.resource.resources import ResourceManagementClient
from azure.mgmt.storage import StorageManagementClient
from azure.mgmt.storage.models import StorageAccountCreateParameters
from azure.storage.blob import BlobServiceClient, ExponentialRetry

from diskferry.cloud import operations
from diskferry.cloud.errors import azure_call
from diskferry.cloud.operations import Operation
from diskferry.cloud.types import AccountInfo, CopyState, CopyStatus, ResourceId
from diskferry.errors import DiskFailed, NotFound, RetryLater

#: blobs per List Blobs page (Azure's most)
LIST_PAGE = 5000
#: Azure's answer to a Shared Key call on an account that allows none
KEYS_REFUSED = "KeyBasedAuthenticationNotPermitted"
#: and to a bearer token of a principal without a blob data role on the account
NO_DATA_ROLE = "AuthorizationPermissionMismatch"


def _account_info(account: Any) -> AccountInfo:
    doc = account.as_dict()
    rid = ResourceId.parse(doc["id"])
    blob = (doc.get("properties", {}).get("primaryEndpoints") or {}).get("blob")
    return AccountInfo(
        id=doc["id"],
        name=doc["name"],
        resource_group=rid.resource_group,
        location=doc["location"],
        blob_endpoint=str(blob or f"https://{doc['name']}.blob.core.windows.net/"),
        tags=dict(doc.get("tags") or {}),
        created=doc.get("properties", {}).get("creationTime"),
        shared_key=doc.get("properties", {}).get("allowSharedKeyAccess") is not False,
    )


def _progress(raw: str | None) -> tuple[int, int]:
    if not raw or "/" not in raw:
        return 0, 0
    done, _, total = raw.partition("/")
    return int(done), int(total)


def _copy_status(props: Any) -> CopyStatus:
    """A blob's copy state from its properties (Get Blob Properties, or a listing's entry)."""
    copy = props.copy
    copied, total = _progress(copy.progress)
    state = CopyState(copy.status) if copy.status else CopyState.success
    if state is CopyState.success and total == 0:
        copied = total = int(props.size or 0)
    completed = copy.completion_time.timestamp() if copy.completion_time else None
    return CopyStatus(copy.id, state, copied, total, copy.status_description, completed=completed)


def _listed_copy(blob: ElementTree.Element) -> tuple[str, CopyStatus]:
    """A List Blobs entry's name and copy state, as :func:`_copy_status` reads the SDK's."""
    props = blob.find("Properties")

    def text(tag: str) -> str | None:
        return props.findtext(tag) if props is not None else None

    copied, total = _progress(text("CopyProgress"))
    raw_state = text("CopyStatus")
    state = CopyState(raw_state) if raw_state else CopyState.success
    if state is CopyState.success and total == 0:
        copied = total = int(text("Content-Length") or 0)
    ended = text("CopyCompletionTime")
    completed = parsedate_to_datetime(ended).timestamp() if ended else None
    return blob.findtext("Name") or "", CopyStatus(text("CopyId"), state, copied, total,
                                                   text("CopyStatusDescription"), completed=completed)


def _error_message(body: str) -> str:
    """The first line of a storage error body's ``<Message>``, or of the body."""
    try:
        text = ElementTree.fromstring(body).findtext("Message")  # noqa: S314 - Azure's answer over TLS
    except ElementTree.ParseError:
        text = None
    return (text or body).strip().split("\n")[0][:500]


def worker_blob_retry() -> ExponentialRetry:
    """The blob clients' retry policy in a worker: no sleeping on Azure's answers.

    The storage SDK's default (``ExponentialRetry``: 15 s, then 15 + 3^n s, 3 retries) sleeps
    inside the calling process on every 5xx, 429 or dropped connection — up to a minute and a
    half of a worker slot for four 503s (the fault matrix measured 87-95 s). As for ARM
    (``diskferry.cloud.pacing``), ``retry_status=0`` makes the first 5xx/429 final: it becomes
    ``RetryLater`` with Azure's ``Retry-After`` and the task comes back by countdown. A failed
    connection gets one quick retry (0-1 s), not the default three (0-1 s, 1-3 s, 3-5 s: 7 s of
    the slot, measured): an account's endpoint that does not answer may be an account deleted
    under the job — its host name stops resolving, for good — and every copy into it met those
    7 s. A blip that outlasts the retry comes back by countdown, as a 503 does."""
    return ExponentialRetry(initial_backoff=0, increment_base=2, retry_total=3, random_jitter_range=1,
                            retry_status=0, retry_connect=1, retry_read=1)


class Storage:
    def __init__(self, credential: TokenCredential, options: dict[str, Any], blob_options: dict[str, Any]) -> None:
        self._credential = credential
        self._options = options
        self._blob_options = blob_options
        self._storage: dict[str, StorageManagementClient] = {}
        self._resource: dict[str, ResourceManagementClient] = {}
        self._blob_services: dict[str, BlobServiceClient] = {}
        #: accounts found refusing Shared Key since they were read (by ``_service``'s key)
        self._keyless: set[str] = set()
        self._lock = threading.Lock()

    def _storage_client(self, subscription_id: str) -> StorageManagementClient:
        with self._lock:
            if subscription_id not in self._storage:
                self._storage[subscription_id] = StorageManagementClient(
                    self._credential, subscription_id, **self._options
                )
            return self._storage[subscription_id]

    def _resource_client(self, subscription_id: str) -> ResourceManagementClient:
        with self._lock:
            if subscription_id not in self._resource:
                self._resource[subscription_id] = ResourceManagementClient(
                    self._credential, subscription_id, **self._options
                )
            return self._resource[subscription_id]

    # -- resource groups -----------------------------------------------------------------------
    def resource_group_location(self, subscription_id: str, name: str) -> str | None:
        try:
            with azure_call(f"get resource group {name}"):
                group = self._resource_client(subscription_id).resource_groups.get(name)
        except NotFound:
            return None
        return str(group.location)

    def ensure_resource_group(self, subscription_id: str, name: str, location: str, tags: dict[str, str]) -> bool:
        """Create the group when absent (an existing group is left as it is); True if created."""
        if self.resource_group_location(subscription_id, name) is not None:
            return False
        with azure_call(f"create resource group {name}"):
            self._resource_client(subscription_id).resource_groups.create_or_update(
                name, {"location": location, "tags": tags}
            )
        return True

    # -- storage accounts ----------------------------------------------------------------------
    def get_account(self, subscription_id: str, resource_group: str, name: str) -> AccountInfo | None:
        try:
            with azure_call(f"get storage account {name}"):
                account = self._storage_client(subscription_id).storage_accounts.get_properties(resource_group, name)
        except NotFound:
            return None
        return _account_info(account)

    def find_account(self, subscription_id: str, name: str) -> AccountInfo | None:
        """A storage account of the subscription by name (names are global in Azure)."""
        with azure_call("list storage accounts"):
            for account in self._storage_client(subscription_id).storage_accounts.list():
                if str(account.name).lower() == name.lower():
                    return _account_info(account)
        return None

    def list_accounts(self, subscription_id: str) -> list[AccountInfo]:
        with azure_call("list storage accounts"):
            return [_account_info(a) for a in self._storage_client(subscription_id).storage_accounts.list()]

    def create_account(self, subscription_id: str, resource_group: str, name: str, location: str,
                       tags: dict[str, str]) -> Operation:
        """Start creating a staging account (StorageV2, Standard_LRS, TLS 1.2, no public blobs)."""
        body = {
            "location": location,
            "kind": "StorageV2",
            "sku": {"name": "Standard_LRS"},
            "tags": tags,
            "properties": {"minimumTlsVersion": "TLS1_2", "allowBlobPublicAccess": False},
        }
        client = self._storage_client(subscription_id)
        return operations.start(f"create storage account {name}", subscription_id, client._client, partial(
            client.storage_accounts.begin_create, resource_group, name, StorageAccountCreateParameters(body)))

    def delete_account(self, subscription_id: str, resource_group: str, name: str) -> bool:
        """False when it was already gone."""
        with self._lock:
            for key in [k for k in self._blob_services if k.startswith(name.lower() + "@")]:
                del self._blob_services[key]
            self._keyless -= {k for k in self._keyless if k.startswith(name.lower() + "@")}
        try:
            with azure_call(f"delete storage account {name}"):
                self._storage_client(subscription_id).storage_accounts.delete(resource_group, name)
        except NotFound:
            return False
        return True

    # -- blobs -----------------------------------------------------------------------------------
    @staticmethod
    def _key(account: AccountInfo) -> str:
        return f"{account.name.lower()}@{account.created}"

    def _entra(self, account: AccountInfo) -> bool:
        """Whether ``account``'s blobs are reached with Entra ID (it refuses Shared Key)."""
        return not account.shared_key or self._key(account) in self._keyless

    def _service(self, account: AccountInfo) -> BlobServiceClient:
        entra = self._entra(account)
        key = self._key(account) + ("#entra" if entra else "")
        with self._lock:
            service = self._blob_services.get(key)
        if service is not None:
            return service
        if entra:
            service = BlobServiceClient(account.blob_endpoint, credential=self._credential, **self._blob_options)
            with self._lock:
                self._blob_services[key] = service
            return service
        rid = ResourceId.parse(account.id)
        with azure_call(f"list keys of {account.name}"):
            accounts = self._storage_client(rid.subscription_id).storage_accounts
            keys = accounts.list_keys(rid.resource_group, account.name)
        secret = keys.as_dict()["keys"][0]["value"]  # the model's field is shadowed by Mapping.keys
        service = BlobServiceClient(
            account.blob_endpoint, credential={"account_name": account.name, "account_key": secret},
            **self._blob_options,
        )
        with self._lock:
            self._blob_services[key] = service
        return service

    @contextmanager
    def _blob_call(self, account: AccountInfo, what: str) -> Iterator[None]:
        """A blob call to ``account``, its SDK errors as diskferry's. Shared Key refused (the
        account was read allowing it, and a policy has turned it off since): this process
        reaches the account with Entra ID from now on, and the call is tried again by the
        step's countdown, not failed. Entra ID refused: the disk fails, saying which role the
        fleet's principal lacks."""
        try:
            with azure_call(what, blob=True):
                yield
        except DiskFailed as exc:
            if exc.code == KEYS_REFUSED and not self._entra(account):
                with self._lock:
                    self._keyless.add(self._key(account))
                raise RetryLater(exc.code, f"{exc.message} (calls to {account.name} go with Microsoft Entra ID "
                                 "from now on)", retry_after=1.0) from None
            if exc.code == NO_DATA_ROLE and self._entra(account):
                raise DiskFailed(exc.code, f"{exc.message} Storage account {account.name} allows no Shared Key, "
                                 "and the fleet's principal holds no blob data role on it: grant it Storage "
                                 "Blob Data Contributor on the account (or allow Shared Key).") from None
            raise

    def blob_url(self, account: AccountInfo, container: str, blob: str) -> str:
        """The blob's URL without any SAS (what Import's ``sourceUri`` takes)."""
        return str(self._service(account).get_blob_client(container, blob).url)

    def ensure_container(self, account: AccountInfo, container: str) -> None:
        client = self._service(account).get_container_client(container)
        with self._blob_call(account, f"check container {container}"):
            if client.exists():
                return
        try:
            with self._blob_call(account, f"create container {container}"):
                client.create_container()
        except Exception as exc:  # another worker created it meanwhile
            if getattr(exc, "code", "") != "ContainerAlreadyExists":
                raise

    def start_copy(self, account: AccountInfo, container: str, blob: str, source_url: str,
                   metadata: dict[str, str]) -> str:
        """Start Copy Blob from ``source_url`` (a SAS URL, never logged); return the copy id."""
        client = self._service(account).get_blob_client(container, blob)
        with self._blob_call(account, f"start copy into {container}/{blob}"):
            started = client.start_copy_from_url(source_url, metadata=metadata)
        return str(started.get("copy_id") or "")

    def copy_status(self, account: AccountInfo, container: str, blob: str) -> CopyStatus | None:
        """The copy state of a blob; None when the blob does not exist."""
        client = self._service(account).get_blob_client(container, blob)
        try:
            with self._blob_call(account, f"get properties of {container}/{blob}"):
                props = client.get_blob_properties()
        except NotFound:
            return None
        return _copy_status(props)

    def copy_statuses(self, account: AccountInfo, container: str, prefix: str) -> dict[str, CopyStatus]:
        """The copy state of every blob under ``prefix`` (one List Blobs ``include=copy`` per
        5,000 blobs), by name; empty when the container is absent. The copy source (a SAS URL)
        is in the answer but never read out of it.

        Sent through the blob client's own pipeline (auth, retry, version), but its XML is read
        with ElementTree, not the SDK's model deserializer: a fleet lists every staging
        container about once a second, and the SDK spent ~0.3 ms per blob listed — most of a
        listing poll's CPU (py-spy, 200 copies: 12 % of the workers' time)."""
        client = self._service(account).get_container_client(container)
        out: dict[str, CopyStatus] = {}
        marker: str | None = None
        with self._blob_call(account, f"list copies in {container}"):
            while True:
                params = {"restype": "container", "comp": "list", "include": "copy", "prefix": prefix,
                          "maxresults": str(LIST_PAGE)} | ({"marker": marker} if marker else {})
                request = HttpRequest("GET", client.url, params=params,
                                      headers={"x-ms-version": client.api_version, "Accept": "application/xml"})
                response = client._client._send_request(request)  # the generated client's raw call
                if response.status_code == 404:
                    return {}
                if response.status_code != 200:
                    # Azure's <Error><Message>, as the SDK's own error reads (not the XML)
                    error = HttpResponseError(message=_error_message(response.text()), response=response)
                    error.error_code = response.headers.get("x-ms-error-code")  # type: ignore[attr-defined] # as the SDK sets it
                    raise error
                # Azure's answer over TLS, as the SDK's own deserializer parses it (ElementTree)
                root = ElementTree.fromstring(response.read())  # noqa: S314
                out.update(_listed_copy(blob) for blob in root.iter("Blob"))
                marker = root.findtext("NextMarker") or None
                if marker is None:
                    return out

    def abort_copy(self, account: AccountInfo, container: str, blob: str, copy_id: str) -> None:
        client = self._service(account).get_blob_client(container, blob)
        try:
            with self._blob_call(account, f"abort copy into {container}/{blob}"):
                client.abort_copy(copy_id)
        except NotFound:
            return

    def delete_blob(self, account: AccountInfo, container: str, blob: str) -> bool:
        """False when it was already gone."""
        client = self._service(account).get_blob_client(container, blob)
        try:
            with self._blob_call(account, f"delete {container}/{blob}"):
                client.delete_blob()
        except NotFound:
            return False
        return True

    def list_blob_times(self, account: AccountInfo, container: str) -> list[tuple[str, datetime | None]]:
        """The container's blobs with their creation times (none when the container is absent)."""
        client = self._service(account).get_container_client(container)
        try:
            with self._blob_call(account, f"list {container}"):
                return [(b.name, b.creation_time) for b in client.list_blobs()]
        except NotFound:
            return []

    def list_blobs(self, account: AccountInfo, container: str, prefix: str | None = None) -> list[str]:
        client = self._service(account).get_container_client(container)
        try:
            with self._blob_call(account, f"list {container}"):
                return [b.name for b in client.list_blobs(name_starts_with=prefix)]
        except NotFound:
            return []
