"""The guard-room console, served by the gateway itself (aiohttp, in the gateway's event loop).

Routes (everything but ``/health`` and the login form needs a session):

- ``GET /health``: liveness for systemd or a supervisor, no login, no detail beyond status and uptime;
- ``GET /login``, ``POST /login``, ``POST /logout``: the local login (cookie HttpOnly, SameSite=Strict);
- ``GET /``, ``GET /static/{file}``: the console page and its script and style;
- ``GET /api/state``: every topic once, plus the user and the CSRF token for POSTs;
- ``GET /api/stream``: server-sent events, one event per changed topic (``alarms``, ``devices``, ``access``);
- ``POST /api/alarms/{alarm_id}/ack``: acknowledge an alarm in the alarm book (header ``X-CSRF-Token``);
- ``GET /api/access/{id}/snapshot.jpg``: the snapshot of an access decision;
- ``GET /api/falls/clips/{name}`` (MP4) and ``.../play`` (MJPEG): a fall's clip (edge/web/clips.py);
- ``GET /metrics``: Prometheus text; a session, or ``Authorization: Bearer <web.metrics_token>``;
- history, actions, translations, pictures and the site plan: edge/web/guardroom.py.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, generate_latest

from edge.web import clips
from edge.web.actions import ActionRefused, ActionRequest, ConsoleActions
from edge.web.auth import LoginBusy, LoginThrottle, Session, SessionStore, UserDirectory, same_secret
from edge.web.i18n import negotiate
from edge.web.live import LiveFeed, Topics

if TYPE_CHECKING:
    from edge.core.runtime import Context
    from edge.web.config import WebConfig

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

STATIC_FILES = {"app.js": "text/javascript", "app.css": "text/css"}
OPEN_PATHS = {"/health", "/login"}
KEEPALIVE_S = 15.0
MAX_FORM_BYTES = 4096

CSP_CONSOLE = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
CSP_LOGIN = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

SESSION_KEY = web.RequestKey("session", Session)


class WebMetrics:
    """The console's own metrics, registered once per gateway registry (a restarted console reuses them)."""

    _by_registry: weakref.WeakKeyDictionary[CollectorRegistry, WebMetrics] = weakref.WeakKeyDictionary()

    @classmethod
    def of(cls, registry: CollectorRegistry) -> WebMetrics:
        metrics = cls._by_registry.get(registry)
        if metrics is None:
            metrics = cls._by_registry[registry] = cls(registry)
        return metrics

    def __init__(self, registry: CollectorRegistry) -> None:
        self.sse_clients = Gauge("edge_web_sse_clients", "Browsers following the live feed", registry=registry)
        self.sessions = Gauge("edge_web_sessions", "Console sessions open", registry=registry)
        self.logins = Counter("edge_web_logins", "Console login attempts by result", ["result"], registry=registry)
        self.acks = Counter("edge_web_acknowledgements", "Alarms acknowledged from the console", registry=registry)


def _static(name: str) -> bytes:
    return resources.files("edge.web").joinpath("static", name).read_bytes()


@dataclass(slots=True)
class Console:
    """Everything the request handlers share."""

    ctx: Context
    config: WebConfig
    users: UserDirectory
    sessions: SessionStore
    throttle: LoginThrottle
    feed: LiveFeed
    metrics: WebMetrics
    metrics_token: str | None
    started: float
    actions: ConsoleActions

    def session_of(self, request: web.Request, *, touch: bool = True) -> Session | None:
        return self.sessions.get(request.cookies.get(self.config.session.cookie_name), touch=touch)


CONSOLE_KEY = web.AppKey("console", Console)


def build_app(console: Console) -> web.Application:
    app = web.Application(middlewares=[_headers_middleware, _auth_middleware], client_max_size=MAX_FORM_BYTES)
    app[CONSOLE_KEY] = console
    app.router.add_get("/health", health)
    app.router.add_get("/login", login_page)
    app.router.add_post("/login", login)
    app.router.add_post("/logout", logout)
    app.router.add_get("/", index)
    app.router.add_get("/static/{name}", static)
    app.router.add_get("/api/state", state)
    app.router.add_get("/api/stream", stream)
    app.router.add_post("/api/alarms/{alarm_id}/ack", acknowledge)
    app.router.add_get("/api/access/{entry_id}/snapshot.jpg", snapshot)
    app.router.add_get("/api/falls/clips/{name}", fall_clip)
    app.router.add_get("/api/falls/clips/{name}/play", fall_clip_play)
    app.router.add_get("/metrics", metrics)
    from edge.web.guardroom import add_routes

    add_routes(app)
    app.on_shutdown.append(_on_shutdown)
    return app


def _console(request: web.Request) -> Console:
    return request.app[CONSOLE_KEY]


def _session(request: web.Request) -> Session:
    session: Session = request[SESSION_KEY]
    return session


def language_of(request: web.Request) -> str:
    """``web.language``, or for ``auto`` the browser's choice (``?lang=`` first, then Accept-Language)."""
    config = _console(request).config
    if config.language != "auto":
        return config.language
    wanted = request.query.get("lang") or request.headers.get("Accept-Language")
    return negotiate(wanted, default=config.default_language)


@web.middleware
async def _headers_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:  # redirects and refusals get the same headers
        _secure_headers(exc)
        raise
    _secure_headers(response)
    return response


def _secure_headers(response: web.StreamResponse) -> None:
    response.headers.setdefault("Content-Security-Policy", CSP_CONSOLE)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("Cache-Control", "no-store")


@web.middleware
async def _auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    console = _console(request)
    if request.method == "POST" and not _same_origin(request):
        raise web.HTTPForbidden(text="cross-origin request refused")
    if request.path in OPEN_PATHS:
        return await handler(request)
    if request.path == "/metrics" and _bearer_ok(request, console.metrics_token):
        return await handler(request)
    session = console.session_of(request)
    if session is None:
        if request.path == "/" or request.path.startswith("/static/"):
            raise web.HTTPFound("/login")
        raise web.HTTPUnauthorized(
            text='{"error": "login required"}',
            content_type="application/json",
            headers={"WWW-Authenticate": 'Bearer realm="edge"'} if request.path == "/metrics" else None,
        )
    if request.method == "POST" and request.path != "/logout":
        token = request.headers.get("X-CSRF-Token", "")
        if not same_secret(token, session.csrf):
            raise web.HTTPForbidden(text='{"error": "missing or wrong X-CSRF-Token"}', content_type="application/json")
    request[SESSION_KEY] = session
    return await handler(request)


def _same_origin(request: web.Request) -> bool:
    """A POST must come from this console's own pages: its Origin (or, without one, its Referer) names this host.
    A POST with neither is refused (browsers send Origin on every POST)."""
    origin = request.headers.get("Origin") or request.headers.get("Referer")
    if not origin:
        return False
    return urlsplit(origin).netloc == request.host


def _bearer_ok(request: web.Request, token: str | None) -> bool:
    if token is None:
        return False
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and bool(given) and same_secret(given.strip(), token)


async def health(request: web.Request) -> web.Response:
    console = _console(request)
    return web.json_response({"status": "ok", "uptime_s": round(time.time() - console.started, 1)})


async def login_page(request: web.Request) -> web.Response:
    console = _console(request)
    if console.session_of(request, touch=False) is not None:
        raise web.HTTPFound("/")
    return _login_response()


def _login_response(
    *, error: bool = False, message: str = "Wrong name or password.", status: int = 200
) -> web.Response:
    html = _static("login.html").decode()
    note = f'<p class="error" role="alert">{message}</p>' if error else ""
    return web.Response(
        text=html.replace("<!--error-->", note),
        content_type="text/html",
        status=status,
        headers={"Content-Security-Policy": CSP_LOGIN},
    )


async def login(request: web.Request) -> web.Response:
    console = _console(request)
    client = request.remote or "?"
    wait = console.throttle.begin(client)  # counted before any await: concurrent guesses cannot all pass
    if wait > 0:
        console.metrics.logins.labels("throttled").inc()
        return _login_response(
            error=True,
            message=f"Too many failed logins. Try again in {int(wait) + 1} s.",
            status=429,
        )
    form = await request.post()
    name, password = str(form.get("username", "")), str(form.get("password", ""))
    try:
        ok = bool(name and password) and await console.users.check(name, password)
    except LoginBusy:
        console.throttle.not_checked(client)
        console.metrics.logins.labels("busy").inc()
        return _login_response(error=True, message="The console is busy. Try again in a few seconds.", status=503)
    if not ok:
        console.metrics.logins.labels("failed").inc()
        log.warning("console login failed for %r from %s", name[:64], client)
        return _login_response(error=True, status=401)
    console.throttle.succeeded(client)
    console.metrics.logins.labels("ok").inc()
    old = console.session_of(request, touch=False)
    if old is not None:
        console.sessions.end(old)
    session = console.sessions.create(name)
    console.metrics.sessions.set(len(console.sessions))
    log.info("console login: %s from %s", name, client)
    response = _redirect("/")
    cfg = console.config.session
    response.set_cookie(
        cfg.cookie_name,
        session.token,
        httponly=True,
        samesite="Strict",
        secure=cfg.secure,
        path="/",
        max_age=int(cfg.max_age_s),
    )
    return response


async def logout(request: web.Request) -> web.Response:
    console = _console(request)
    console.sessions.end(_session(request))
    console.metrics.sessions.set(len(console.sessions))
    response = _redirect("/login")
    response.del_cookie(console.config.session.cookie_name, path="/")
    return response


def _redirect(location: str) -> web.Response:
    return web.Response(status=302, headers={"Location": location})


async def index(request: web.Request) -> web.Response:
    return web.Response(body=_static("index.html"), content_type="text/html")


async def static(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in STATIC_FILES:
        raise web.HTTPNotFound()
    return web.Response(body=_static(name), content_type=STATIC_FILES[name], headers={"Cache-Control": "no-cache"})


async def state(request: web.Request) -> web.Response:
    console = _console(request)
    session = _session(request)
    console.feed.refresh()
    body = ",".join(f'"{t}":{console.feed.topics.latest(t) or "null"}' for t in ("alarms", "devices", "access"))
    meta = (
        f'"user":{_json_str(session.user)},"csrf":{_json_str(session.csrf)},'
        f'"site":{_json_str(console.ctx.config.site_id)},"gateway":{_json_str(console.ctx.config.gateway_id)},'
        f'"server_time":{time.time():.3f},"console":{json.dumps(_console_meta(console, session, request))}'
    )
    return web.Response(text="{" + meta + "," + body + "}", content_type="application/json")


def _console_meta(console: Console, session: Session, request: web.Request) -> dict[str, Any]:
    """What the page needs besides the topics: role and its actions, language, time zone, alerts, plan."""
    config = console.config
    plan = config.plan
    return {
        "role": console.actions.role_of(session.user),
        "actions": console.actions.allowed(session.user),
        "language": language_of(request),
        "timezone": config.timezone,
        "alerts": {severity.value: alert.model_dump() for severity, alert in config.alerts.items()},
        "plan": {"positions": {k: list(v) for k, v in plan.positions.items()}} if plan else None,
        "gates": [g.id for g in console.ctx.config.gates],
        "lifts": [lift.id for lift in console.ctx.config.lifts],
    }


def _json_str(value: str) -> str:
    return json.dumps(value)


async def stream(request: web.Request) -> web.StreamResponse:
    """Server-sent events: every topic at once, then each topic again whenever it changes."""
    console = _console(request)
    session = _session(request)
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",
        }
    )
    await response.prepare(request)
    topics = console.feed.topics
    console.metrics.sse_clients.inc()
    console.feed.followers += 1
    console.feed.refresh()
    try:
        await response.write(f'event: hello\ndata: {{"server_time":{time.time():.3f}}}\n\nretry: 2000\n\n'.encode())
        seq = 0
        while not topics.closed:
            # an open console counts as activity: a wall screen stays logged in until the session's max age
            if console.sessions.get(session.token) is None:
                await response.write(b"event: logout\ndata: {}\n\n")
                break
            chunks = [f"id: {s}\nevent: {topic}\ndata: {text}\n\n" for topic, s, text in topics.since(seq)]
            if chunks:
                seq = topics.seq
                await response.write("".join(chunks).encode())
            else:
                await response.write(b": keep-alive\n\n")
            await _wait_for_change(topics, seq, session)
    except ConnectionResetError:
        pass  # the browser went away
    finally:
        console.feed.followers -= 1
        console.metrics.sse_clients.dec()
    return response


async def _wait_for_change(topics: Topics, seq: int, session: Session) -> None:
    """Until a topic changes, the session ends (logout), or it is time for a keep-alive."""
    waiters = [
        asyncio.ensure_future(session.closed.wait()),
        asyncio.ensure_future(topics.wait(seq, KEEPALIVE_S)),
    ]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


async def acknowledge(request: web.Request) -> web.Response:
    """Acknowledge, as ``POST /api/actions`` {action: acknowledge} does (kept for scripts and old pages)."""
    console = _console(request)
    session = _session(request)
    alarm_id = request.match_info["alarm_id"]
    try:
        outcome = await console.actions.perform(session.user, ActionRequest("acknowledge", alarm_id=alarm_id))
    except ActionRefused as exc:
        return web.json_response({"error": str(exc)}, status=exc.status)
    if outcome.status != "done":
        return web.json_response({"error": outcome.reason or f"no open alarm {alarm_id}"}, status=404)
    console.metrics.acks.inc()
    console.feed.refresh()
    alarm = console.ctx.alarms.get(alarm_id)
    return web.json_response({"alarm_id": alarm_id, "state": alarm.state.value if alarm else "cleared"})


async def snapshot(request: web.Request) -> web.Response:
    data = _console(request).feed.snapshot_of(request.match_info["entry_id"])
    if data is None:
        raise web.HTTPNotFound(text="no snapshot for this access decision")
    return web.Response(
        body=data,
        content_type="image/jpeg",
        headers={"Cache-Control": "no-store"},  # faces stay off disk caches
    )


async def fall_clip(request: web.Request) -> web.FileResponse:
    ctx = _console(request).ctx
    path = clips.clip_path(request, ctx.config, ctx.config.data_dir)
    return web.FileResponse(path, headers={"Content-Type": "video/mp4", "Cache-Control": "private, max-age=3600"})


async def fall_clip_play(request: web.Request) -> web.StreamResponse:
    ctx = _console(request).ctx
    return await clips.play(request, clips.clip_path(request, ctx.config, ctx.config.data_dir))


async def metrics(request: web.Request) -> web.Response:
    registry = _console(request).ctx.metrics.registry
    body = await asyncio.to_thread(generate_latest, registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def _on_shutdown(app: web.Application) -> None:
    console = app[CONSOLE_KEY]
    console.feed.topics.close()
    console.sessions.end_all()
