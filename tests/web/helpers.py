"""Test helpers: a real gateway (alarm book, registry, hub, outbox, uplink) serving the web console."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from edge.app import Gateway
from edge.web.component import WebConsole
from edge.web.passwords import hash_password
from tests.support import async_wait_for, make_config

USER, PASSWORD = "guard", "correct horse battery staple"
METRICS_TOKEN = "scrape-token-0123456789abcdef"
# cheap scrypt parameters keep the tests fast; production hashes use the defaults
PASSWORD_HASH = hash_password(PASSWORD, n=2**10)


@dataclass
class Running:
    gateway: Gateway
    console: WebConsole
    url: str

    @property
    def base_topic(self) -> str:
        c = self.gateway.config
        return f"{c.mqtt.topic_prefix}/{c.site_id}/{c.gateway_id}"


def web_section(**overrides: Any) -> dict[str, Any]:
    section: dict[str, Any] = {
        "enabled": True,
        "port": 0,
        "users": [{"name": USER, "password_hash": PASSWORD_HASH}],
        "metrics_token": {"value": METRICS_TOKEN},
        "refresh_s": 0.2,
    }
    section.update(overrides)
    return section


@contextlib.asynccontextmanager
async def running_gateway(
    tmp_path: Path, broker_port: int, *, web: dict[str, Any] | None = None, **sections: Any
) -> AsyncIterator[Running]:
    """Run a gateway with the console until the block ends; ``broker_port`` may be a closed port (uplink down)."""
    config = make_config(tmp_path, broker_port, web=web or web_section(), **sections)
    console = WebConsole(config.web)
    gateway = Gateway(config, [console])
    task = asyncio.create_task(gateway.run(), name="gateway")
    try:
        await async_wait_for(lambda: console.serving.is_set() or task.done(), 20, "the console to listen")
        if task.done():
            task.result()
        yield Running(gateway, console, f"http://127.0.0.1:{console.port}")
    finally:
        gateway.stop()
        await asyncio.wait_for(task, 30)


async def same_origin(request: aiohttp.ClientRequest, handler) -> aiohttp.ClientResponse:
    """A client middleware that sends Origin on POSTs, as a browser does (the console refuses a POST without)."""
    if request.method == "POST" and "Origin" not in request.headers:
        request.headers["Origin"] = f"{request.url.scheme}://{request.url.host}:{request.url.port}"
    return await handler(request)


def client() -> aiohttp.ClientSession:
    """An HTTP client for the console: keeps its cookies (aiohttp's default jar drops those of IP hosts) and sends
    Origin on POSTs, as a browser does."""
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True), middlewares=(same_origin,))


async def login(session: aiohttp.ClientSession, url: str, user: str = USER, password: str = PASSWORD) -> str:
    """Log in and return the CSRF token of the new session."""
    async with session.post(
        f"{url}/login", data={"username": user, "password": password}, allow_redirects=False
    ) as response:
        assert response.status == 302, await response.text()
    async with session.get(f"{url}/api/state") as response:
        assert response.status == 200
        return (await response.json())["csrf"]
