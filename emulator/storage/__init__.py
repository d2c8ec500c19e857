"""Microsoft.Storage: storage accounts in ARM, the blob service, the copy engine."""

from __future__ import annotations

from aiohttp import web

from diskferry.emulator.arm import ArmRouter
from diskferry.emulator.context import Emulator


def register(router: ArmRouter) -> None:
    """ARM routes of Microsoft.Storage (storage accounts)."""
    from diskferry.emulator.storage import accounts

    accounts.register(router)


def blob_app(emu: Emulator) -> web.Application:
    """The blob-port application: every account's blob service and disk export URLs."""
    from diskferry.emulator.storage import service

    return service.app(emu)


async def start(emu: Emulator) -> None:
    """Start background services: the copy engine (resuming copies left pending)."""
    from diskferry.emulator.storage.copyengine import CopyEngine

    engine = CopyEngine(emu)
    emu.copies = engine
    engine.start_background()


async def stop(emu: Emulator) -> None:
    """Stop background services (pending copies are saved and resume on the next start)."""
    engine, emu.copies = emu.copies, None
    if engine is not None:
        await engine.stop()
