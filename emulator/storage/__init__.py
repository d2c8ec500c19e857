"""Microsoft.Storage: storage accounts in ARM, the blob service, the copy engine."""

from __future__ import annotations

from aiohttp import web

from emulator.arm import ArmRouter
from emulator.context import Emulator


def register(router: ArmRouter) -> None:
    """ARM routes of Microsoft.Storage (storage accounts)."""
    from emulator.storage import accounts

    accounts.register(router)


def blob_app(emu: Emulator) -> web.Application:
    """The blob-port application — built in part 2 (disk export SAS URLs land here)."""
    app = web.Application(client_max_size=16 * 1024 * 1024)
    app["emu"] = emu
    return app


async def start(emu: Emulator) -> None:
    """Start background services (the copy engine)."""


async def stop(emu: Emulator) -> None:
    """Stop background services."""
