"""The emulator's shared state, handed to every handler as ``request.app["emu"]``.

Everything a handler may reach is a named, typed field: the store, the identity, the
fault knobs, the content files, the indexes kept beside the store, and the two services
bound once the server runs (the LRO table, the copy engine).
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from diskferry.emulator.faults import Faults
from diskferry.emulator.pages import Content, PageFile, saved_size, segment_paths
from diskferry.emulator.store import Store
from diskferry.emulator.throttle import ArmThrottle

if TYPE_CHECKING:
    # named for the type checker only: both services are built on an Emulator, so a
    # runtime import either way would tie this module to theirs
    from diskferry.emulator.arm import Operations
    from diskferry.emulator.storage.copyengine import CopyEngine


@dataclass
class Identity:
    """The one tenant, service principal and subscriptions the emulator knows."""

    tenant_id: str
    client_id: str
    client_secret: str
    subscriptions: list[str]
    #: HMAC key for the bearer tokens the authority issues
    signing_key: str
    admin_token: str

    @classmethod
    def load_or_create(cls, store: Store) -> Identity:
        saved = store.get("config", "identity")
        if saved is None:
            saved = {
                "tenant_id": str(uuid.uuid4()),
                "client_id": str(uuid.uuid4()),
                "client_secret": secrets.token_urlsafe(32),
                "subscriptions": [str(uuid.uuid4())],
                "signing_key": secrets.token_hex(32),
                "admin_token": secrets.token_urlsafe(24),
            }
            store.put("config", "identity", saved)
        return cls(**saved)


@dataclass
class Emulator:
    state_dir: Path
    store: Store
    identity: Identity
    faults: Faults
    #: https://127.0.0.1:P — set once the listeners are bound
    arm_url: str = ""
    #: https://127.0.0.1:B
    blob_url: str = ""
    #: ARM's request throttling (token buckets per subscription and principal)
    throttle: ArmThrottle = field(default_factory=ArmThrottle)
    #: ARM's long-running operations, bound by the server once its listeners are up
    lro: Operations | None = None
    #: the blob copy engine, bound by ``storage.start`` and unbound by ``storage.stop``
    copies: CopyEngine | None = None
    #: one PageFile per content file for the whole emulator (see :meth:`pages`)
    pagefiles: dict[str, PageFile] = field(default_factory=dict)
    #: grant pseudo-accounts by resource (``exports``), built from the store on first use
    export_index: dict[str, set[str]] | None = None
    #: storage account name → store key (``storage.model.find_account``)
    account_index: dict[str, str] = field(default_factory=dict)

    @property
    def operations(self) -> Operations:
        """The LRO table; a call that starts an operation only arrives once it is bound."""
        if self.lro is None:
            raise RuntimeError("the LRO table is bound when the server starts")
        return self.lro

    @property
    def data_dir(self) -> Path:
        return self.state_dir / "data"

    @classmethod
    def open(cls, state_dir: Path) -> Emulator:
        state_dir.mkdir(parents=True, exist_ok=True)
        (state_dir / "data").mkdir(exist_ok=True)
        store = Store(state_dir / "state.sqlite3")
        return cls(
            state_dir=state_dir,
            store=store,
            identity=Identity.load_or_create(store),
            faults=Faults(store),
        )

    # -- content files ---------------------------------------------------------------------
    # One PageFile instance per file for the whole emulator: its range map is read from
    # disk once and every request and copy sees (and saves) the same map. Two instances of
    # one file would each save their own map and lose the other's writes.
    def pages(self, file_id: str) -> PageFile:
        """The shared PageFile of ``file_id``."""
        pf = self.pagefiles.get(file_id)
        if pf is None:
            pf = self.pagefiles[file_id] = PageFile(self.data_dir, file_id)
        return pf

    def new_pages(self, size: int, source: Content | None = None) -> PageFile:
        """A new content file of ``size`` bytes, empty or holding ``source``'s first bytes."""
        pf = PageFile.copy_of(self.data_dir, source, size) if source else PageFile.create(self.data_dir, size)
        self.pagefiles[pf.id] = pf
        return pf

    def drop_pages(self, file_id: str) -> None:
        """Delete a content file (missing is fine)."""
        loaded = self.pagefiles.pop(file_id, None)
        size = loaded.size if loaded is not None else saved_size(self.data_dir, file_id)
        for path in [*segment_paths(self.data_dir, file_id, size), self.data_dir / f"{file_id}.ranges"]:
            path.unlink(missing_ok=True)

    def known_subscription(self, sub: str) -> bool:
        return sub.lower() in (s.lower() for s in self.identity.subscriptions)
