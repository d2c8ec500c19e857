"""The emulator's shared state, handed to every handler as ``request.app["emu"]``."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emulator.faults import Faults
from emulator.store import Store


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
    #: late-bound services (the LRO table, the copy engine, ...) by name
    services: dict[str, Any] = field(default_factory=dict)

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

    def known_subscription(self, sub: str) -> bool:
        return sub.lower() in (s.lower() for s in self.identity.subscriptions)
