"""The web console as a gateway component: ``build_components(config)`` is called by edge.app."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from aiohttp import web

from edge.web.actions import ConsoleActions
from edge.web.auth import LoginThrottle, SessionStore, UserDirectory
from edge.web.config import WebConfig
from edge.web.live import LiveFeed
from edge.web.pictures import AlarmPictures
from edge.web.server import Console, WebMetrics, build_app

if TYPE_CHECKING:
    from edge.config import GatewayConfig
    from edge.core.runtime import Component, Context

log = logging.getLogger(__name__)

SHUTDOWN_TIMEOUT_S = 2.0


class WebConsole:
    """Serves the console, /metrics and /health on ``web.host:web.port`` for as long as it runs."""

    name = "web"

    def __init__(self, config: WebConfig) -> None:
        self.config = config
        self.port: int | None = None  # the bound port, known once serving (web.port 0 picks one)
        self.serving = asyncio.Event()
        self.feed: LiveFeed | None = None  # the live feed, once running

    async def run(self, ctx: Context) -> None:
        users = await asyncio.to_thread(UserDirectory.from_config, self.config.users)
        token = self.config.metrics_token.reveal() if self.config.metrics_token else None
        if token is not None and len(token) < 16:
            raise ValueError("web.metrics_token must be at least 16 characters")
        feed = self.feed = LiveFeed(ctx, self.config, await asyncio.to_thread(open_pictures, ctx, self.config))
        console = Console(
            ctx=ctx,
            config=self.config,
            users=users,
            sessions=SessionStore(self.config.session),
            throttle=LoginThrottle(self.config.login_attempts, self.config.login_lockout_s),
            feed=feed,
            metrics=WebMetrics.of(ctx.metrics.registry),
            metrics_token=token,
            started=time.time(),
            actions=await asyncio.to_thread(ConsoleActions, ctx, self.config),
        )
        runner = web.AppRunner(build_app(console), access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_S)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.config.host, self.config.port)
            try:
                await site.start()
            except OSError as exc:
                raise OSError(
                    exc.errno,
                    f"web console cannot listen on {self.config.host}:{self.config.port}: {exc.strerror}",
                ) from exc
            self.port = _bound_port(runner, self.config.port)
            log.info("web console on http://%s:%s/", self.config.host, self.port)
            self.serving.set()
            await feed.run()
        finally:
            self.serving.clear()
            feed.topics.close()
            await runner.cleanup()


def open_pictures(ctx: Context, config: WebConfig) -> AlarmPictures:
    """The alarm pictures kept from before: those of alarms the history still has (all, without a history)."""
    settings = config.alarm_pictures
    history = ctx.history
    return AlarmPictures(
        settings.folder or ctx.data_dir / "alarm-pictures",
        max_count=settings.max_count,
        max_bytes=settings.max_bytes,
        keep=None if history is None else lambda alarm_id: history.get(alarm_id) is not None,
    )


def _bound_port(runner: web.AppRunner, configured: int) -> int:
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            return int(address[1])
    return configured


def build_components(config: GatewayConfig) -> list[Component]:
    return [WebConsole(config.web)] if config.web.enabled else []
