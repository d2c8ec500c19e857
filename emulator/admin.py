"""The admin API: knobs and counters here, content hashes and the audit beside, all
outside Azure's paths.

Every route lives under ``/_admin/`` on the management port and needs the header
``x-emulator-admin-token`` (the token is in ``azure.env``). Each module's routes are a
table (``ROUTES``) that :func:`register` mounts. ``diskferry.emulator.admin_client`` wraps
the API; ``diskferry-emulator`` (the CLI) wraps the client.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any

from aiohttp import web

from diskferry.emulator import audit, hashes
from diskferry.emulator.adminroute import AdminHandler, AdminRoute
from diskferry.emulator.context import Emulator
from diskferry.emulator.faults import FaultRule


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


async def _counters(request: web.Request, emu: Emulator) -> Any:
    return dict(sorted(emu.faults.counters.items()))


async def _reset(request: web.Request, emu: Emulator) -> Any:
    emu.faults.counters.clear()
    return {}


async def _faults(request: web.Request, emu: Emulator) -> Any:
    return [asdict(r) for r in emu.faults.rules]


async def _add_fault(request: web.Request, emu: Emulator) -> Any:
    body = await request.json()
    return asdict(emu.faults.add(FaultRule(**body)))


async def _remove_fault(request: web.Request, emu: Emulator) -> Any:
    return {"removed": emu.faults.remove(request.match_info["id"])}


async def _clear_faults(request: web.Request, emu: Emulator) -> Any:
    emu.faults.clear()
    return {}


async def _settings(request: web.Request, emu: Emulator) -> Any:
    return asdict(emu.faults.settings)


async def _patch_settings(request: web.Request, emu: Emulator) -> Any:
    return asdict(emu.faults.update_settings(await request.json()))


ROUTES = (
    AdminRoute("GET", "/counters", _counters),
    AdminRoute("POST", "/counters/reset", _reset),
    AdminRoute("GET", "/faults", _faults),
    AdminRoute("POST", "/faults", _add_fault),
    AdminRoute("DELETE", "/faults", _clear_faults),
    AdminRoute("DELETE", "/faults/{id}", _remove_fault),
    AdminRoute("GET", "/settings", _settings),
    AdminRoute("PATCH", "/settings", _patch_settings),
)


def register(app: web.Application) -> None:
    for route in (*ROUTES, *hashes.ROUTES, *audit.ROUTES):
        app.router.add_route(route.method, "/_admin" + route.path, _wrap(route.handler))
