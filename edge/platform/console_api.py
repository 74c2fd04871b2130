"""A client of the gateway's guard-room console HTTP API, logged in as one console user (``web.users``).

``edge watch --user NAME`` uses it for what the broker does not carry: the alarm history (``/api/history``,
``/api/alarms/{id}/steps``) and people's actions with that user's role (``POST /api/actions``), which the gateway
checks, signs with the console's own key and audits exactly as it does a click in the console.
"""

from __future__ import annotations

import json
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import aiohttp

TIMEOUT_S = 10.0
# watch's loop commands -> the console's action names
CONSOLE_ACTIONS = {
    "ack_alarm": "acknowledge",
    "handle_alarm": "handle",
    "resolve_alarm": "resolve",
    "note_alarm": "note",
}


class ConsoleError(Exception):
    """The console refused or could not be reached; the message says which and why."""


class ConsoleApi:
    def __init__(self, url: str, user: str, password: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"console URL {url!r}: give http://HOST:PORT or https://HOST:PORT")
        self.url = url.rstrip("/")
        self.user = user
        self._password = password
        self._origin = f"{parts.scheme}://{parts.netloc}"
        self._http: aiohttp.ClientSession | None = None
        self.csrf = ""
        self.role: str | None = None
        self.actions: list[str] = []

    async def open(self) -> None:
        """Connect and log in; ConsoleError says why not (unreachable, wrong name or password)."""
        self._http = aiohttp.ClientSession(
            cookie_jar=aiohttp.CookieJar(unsafe=True),  # the console is usually reached by IP address
            timeout=aiohttp.ClientTimeout(total=TIMEOUT_S),
            headers={"Origin": self._origin},  # the console refuses a POST without its own origin
        )
        try:
            await self.login()
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def __aenter__(self) -> ConsoleApi:
        await self.open()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None:
            raise ConsoleError("not connected: use `async with ConsoleApi(...)`")
        return self._http

    async def login(self) -> None:
        form = {"username": self.user, "password": self._password}
        try:
            async with self._session().post(f"{self.url}/login", data=form, allow_redirects=False) as r:
                if r.status != 302:
                    raise ConsoleError(f"console login as {self.user!r} refused ({r.status}): wrong name or password?")
            state = await self._get("/api/state")
        except aiohttp.ClientError as exc:
            raise ConsoleError(f"console {self.url} unreachable: {exc}") from None
        self.csrf = state["csrf"]
        self.role = state["console"]["role"]
        self.actions = list(state["console"]["actions"])

    async def _get(self, path: str, params: dict[str, str] | None = None) -> Any:
        async with self._session().get(f"{self.url}{path}", params=params) as r:
            body = await _body(r)
            if r.status != 200:
                raise ConsoleError(_error(body, r.status))
            return body

    async def history(self, filters: dict[str, str], *, limit: int = 100) -> dict[str, Any]:
        """``{"count": N, "alarms": [...]}``: the history's alarms matching ``filters`` (the console's names)."""
        try:
            result: dict[str, Any] = await self._get("/api/history", {**filters, "limit": str(limit)})
        except aiohttp.ClientError as exc:
            raise ConsoleError(f"history: console unreachable: {exc}") from None
        return result

    async def steps(self, alarm_id: str) -> list[dict[str, Any]]:
        """Every step of one alarm, oldest first, with who and when."""
        try:
            body = await self._get(f"/api/alarms/{alarm_id}/steps")
        except aiohttp.ClientError as exc:
            raise ConsoleError(f"steps: console unreachable: {exc}") from None
        steps: list[dict[str, Any]] = body["steps"]
        return steps

    async def act(self, command: str, alarm_id: str, note: str | None = None) -> str:
        """Take a loop step (``ack_alarm``, ``handle_alarm``, ...) as this user; the gateway's answer as a line."""
        action = CONSOLE_ACTIONS.get(command)
        if action is None:
            raise ValueError(f"unknown loop command {command!r}; known: {', '.join(CONSOLE_ACTIONS)}")
        body: dict[str, Any] = {"action": action, "alarm_id": alarm_id}
        if note is not None:
            body["text"] = note
        try:
            async with self._session().post(
                f"{self.url}/api/actions", json=body, headers={"X-CSRF-Token": self.csrf}
            ) as r:
                answer = await _body(r)
        except aiohttp.ClientError as exc:
            raise ConsoleError(f"{action}: console unreachable: {exc}") from None
        if not isinstance(answer, dict):
            return f"{action}: {_error(answer, r.status)}"
        if "error" in answer:
            return f"{action} refused: {answer['error']}"
        reason = f": {answer['reason']}" if answer.get("reason") else ""
        return f"{action} {answer.get('status')}{reason}"


async def _body(response: aiohttp.ClientResponse) -> Any:
    """The JSON body, or its text when the console answered otherwise (a proxy's error page)."""
    text = await response.text()
    try:
        return json.loads(text)
    except ValueError:
        return text[:200]


def _error(body: Any, status: int) -> str:
    if isinstance(body, dict) and "error" in body:
        return f"console answered {status}: {body['error']}"
    return f"console answered {status}"
