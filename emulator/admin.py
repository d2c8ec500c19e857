"""The admin API: knobs, counters and inspection, outside Azure's paths.

Every route lives under ``/_admin/`` on the management port and needs the header
``x-emulator-admin-token`` (the token is in ``azure.env``). ``diskferry.emulator.admin_client``
wraps it; ``diskferry-emulator`` (the CLI) wraps the client.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any

from aiohttp import web

from diskferry.emulator.context import Emulator
from diskferry.emulator.faults import FaultRule

AdminHandler = Callable[[web.Request, Emulator], Awaitable[Any]]
#: extra admin routes contributed by other modules: (method, path below /_admin, handler)
EXTRA_ROUTES: list[tuple[str, str, AdminHandler]] = []


def admin_route(method: str, path: str) -> Callable[[AdminHandler], AdminHandler]:
    """Register ``handler(request, emu) -> JSON-able`` at ``/_admin{path}``."""

    def deco(fn: AdminHandler) -> AdminHandler:
        EXTRA_ROUTES.append((method, path, fn))
        return fn

    return deco


def _wrap(fn: AdminHandler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handler(request: web.Request) -> web.StreamResponse:
        emu: Emulator = request.app["emu"]
        token = request.headers.get("x-emulator-admin-token", "")
        if not hmac.compare_digest(token.encode(), emu.identity.admin_token.encode()):
            return web.json_response({"error": "admin token missing or wrong"}, status=401)
        try:
            result = await fn(request, emu)
        except (ValueError, KeyError, TypeError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        if isinstance(result, web.StreamResponse):
            return result
        return web.json_response(result)

    return handler


@admin_route("GET", "/counters")
async def _counters(request: web.Request, emu: Emulator) -> Any:
    return dict(sorted(emu.faults.counters.items()))


@admin_route("POST", "/counters/reset")
async def _reset(request: web.Request, emu: Emulator) -> Any:
    emu.faults.counters.clear()
    return {}


@admin_route("GET", "/faults")
async def _faults(request: web.Request, emu: Emulator) -> Any:
    return [asdict(r) for r in emu.faults.rules]


@admin_route("POST", "/faults")
async def _add_fault(request: web.Request, emu: Emulator) -> Any:
    body = await request.json()
    return asdict(emu.faults.add(FaultRule(**body)))


@admin_route("DELETE", "/faults")
async def _clear_faults(request: web.Request, emu: Emulator) -> Any:
    emu.faults.clear()
    return {}


@admin_route("GET", "/settings")
async def _settings(request: web.Request, emu: Emulator) -> Any:
    return asdict(emu.faults.settings)


@admin_route("PATCH", "/settings")
async def _patch_settings(request: web.Request, emu: Emulator) -> Any:
    return asdict(emu.faults.update_settings(await request.json()))


def register(app: web.Application) -> None:
    # modules that add admin routes are imported first so their decorators have run
    from diskferry.emulator import inspect  # noqa: F401

    for method, path, fn in EXTRA_ROUTES:
        app.router.add_route(method, "/_admin" + path, _wrap(fn))
