"""Builds the emulator's two HTTPS listeners and writes ``azure.env`` once they are up.

* management port: the OAuth authority, ARM (every provider) and the admin API;
* blob port: the blob service of every storage account and of disk export SAS URLs,
  path-style (``/{account}/{container}/{blob}``).
"""

from __future__ import annotations

import asyncio
import os
import ssl
import uuid
from pathlib import Path

import trustme
from aiohttp import web

from diskferry.emulator import admin, auth, compute, locations, network, storage
from diskferry.emulator.arm import ArmRequest, ArmRouter, Operations, error_response, register_operations
from diskferry.emulator.compute.disklike.create import roll_back_interrupted
from diskferry.emulator.context import Emulator
from diskferry.emulator.errors import AzureError
from diskferry.emulator.throttle import kind_of


def tls_context(state_dir: Path, names: tuple[str, ...] = ()) -> tuple[ssl.SSLContext, Path]:
    """A server context for loopback (and ``names``), from a CA kept in the state dir."""
    ca_pem = state_dir / "ca.pem"
    cert_pem = state_dir / "server.pem"
    wanted = ("127.0.0.1", "localhost", "::1", *names)
    names_file = state_dir / "server.names"
    if not (ca_pem.exists() and cert_pem.exists()) or names_file.read_text().split() != list(wanted):
        ca = trustme.CA()
        cert = ca.issue_cert(*wanted)
        names_file.write_text(" ".join(wanted))
        ca.cert_pem.write_to_path(str(ca_pem))
        cert.private_key_and_cert_chain_pem.write_to_path(str(cert_pem))
        os.chmod(cert_pem, 0o600)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(cert_pem))
    return ctx, ca_pem


def build_arm_router() -> ArmRouter:
    router = ArmRouter()
    register_operations(router)
    compute.register(router)
    network.register(router)
    locations.register(router)
    storage.register(router)
    return router


def management_app(emu: Emulator) -> web.Application:
    router = build_arm_router()
    emu.faults.before_change.append(emu.throttle.settle)
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app["emu"] = emu
    auth.register(app)
    admin.register(app)

    async def dispatch(request: web.Request) -> web.StreamResponse:
        request_id = str(uuid.uuid4())
        headers = {
            "x-ms-request-id": request_id,
            "x-ms-correlation-request-id": request.headers.get("x-ms-correlation-request-id", request_id),
        }
        try:
            route, params = router.resolve(request.method, request.path)
            emu.faults.count(route.op)
            claims = auth.check_bearer(emu, request.headers.get("Authorization"), (*auth.ARM_AUDIENCES, emu.arm_url))
            sub = params.get("sub")
            if sub is not None and not emu.known_subscription(sub):
                raise AzureError(404, "SubscriptionNotFound", f"The subscription '{sub}' could not be found.")
            if sub is not None:
                headers.update(_spend(emu, sub, str(claims.get("oid", "")), request.method))
            delay = emu.faults.settings.request_latency_for(route.op)
            if delay > 0:
                await asyncio.sleep(delay)
            fault = emu.faults.take(route.op, "http", request.path)
            if fault is not None:
                extra = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
                raise AzureError(fault.status, fault.code, fault.message, headers=extra)
            ctx = ArmRequest(request=request, emu=emu, params=params, op=route.op)
            ctx.request["claims"] = claims
            response = await route.handler(ctx)
        except AzureError as err:
            response = error_response(err)
        for k, v in headers.items():
            response.headers.setdefault(k, v)
        return response

    app.router.add_route("*", "/subscriptions/{tail:.*}", dispatch)
    app.router.add_route("*", "/subscriptions", dispatch)
    return app


def _spend(emu: Emulator, sub: str, principal: str, method: str) -> dict[str, str]:
    """One token of the caller's ARM bucket: the remaining-count header, or the 429."""
    try:
        return emu.throttle.take(emu.faults.settings, subscription=sub, principal=principal, method=method).headers()
    except AzureError:
        emu.faults.count(f"arm.throttled.{kind_of(method)}")
        raise


def write_env(emu: Emulator, ca_pem: Path) -> Path:
    ident = emu.identity
    env = {
        "AZURE_TENANT_ID": ident.tenant_id,
        "AZURE_CLIENT_ID": ident.client_id,
        "AZURE_CLIENT_SECRET": ident.client_secret,
        "AZURE_SUBSCRIPTION_ID": ident.subscriptions[0],
        "AZURE_AUTHORITY_HOST": emu.arm_url,
        "DISKFERRY_ARM_ENDPOINT": emu.arm_url,
        "DISKFERRY_BLOB_ENDPOINT": emu.blob_url,
        "REQUESTS_CA_BUNDLE": str(ca_pem),
        "SSL_CERT_FILE": str(ca_pem),
        "DISKFERRY_EMULATOR_ADMIN_URL": f"{emu.arm_url}/_admin",
        "DISKFERRY_EMULATOR_ADMIN_TOKEN": ident.admin_token,
        "DISKFERRY_EMULATOR_PID": str(os.getpid()),
    }
    path = emu.state_dir / "azure.env"
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return path


async def serve(
    state_dir: Path,
    host: str,
    port: int,
    blob_port: int,
    advertise: str | None = None,
) -> None:
    """Serve until cancelled. ``advertise`` is the host name clients use when it is not
    the bound address (in a container network); it goes into URLs and the certificate."""
    emu = Emulator.open(state_dir.resolve())
    (emu.state_dir / "azure.env").unlink(missing_ok=True)
    roll_back_interrupted(emu)  # before any request: a half-made disk must not be found
    ssl_ctx, ca_pem = tls_context(emu.state_dir, (advertise,) if advertise else ())

    mgmt_runner = web.AppRunner(management_app(emu), access_log=None, handle_signals=False)
    blob_runner = web.AppRunner(storage.blob_app(emu), access_log=None, handle_signals=False)
    await mgmt_runner.setup()
    await blob_runner.setup()
    mgmt_site = web.TCPSite(mgmt_runner, host, port, ssl_context=ssl_ctx, backlog=1024)
    blob_site = web.TCPSite(blob_runner, host, blob_port, ssl_context=ssl_ctx, backlog=1024)
    await mgmt_site.start()
    await blob_site.start()
    emu.arm_url = _url(advertise or host, _bound_port(mgmt_site))
    emu.blob_url = _url(advertise or host, _bound_port(blob_site))

    ops = Operations(emu)
    emu.lro = ops
    ops.resume()
    await storage.start(emu)

    env_path = write_env(emu, ca_pem)
    print(f"diskferry-emulator: management {emu.arm_url}, blob {emu.blob_url}, env {env_path}", flush=True)
    try:
        while True:
            await asyncio.sleep(3600)
    finally:
        await storage.stop(emu)
        await blob_runner.cleanup()
        await mgmt_runner.cleanup()
        env_path.unlink(missing_ok=True)
        emu.store.close()


def _bound_port(site: web.TCPSite) -> int:
    server = site._server  # aiohttp keeps the asyncio server here
    sockets = getattr(server, "sockets", None)
    if not sockets:
        raise RuntimeError("listener is not bound")
    return int(sockets[0].getsockname()[1])


def _url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"https://{shown}:{port}"
