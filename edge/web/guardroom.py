"""The console's closed-loop routes: history, its CSV, the per-day summary, an alarm's steps, people's actions,
the audit log, the translations, alarm snapshots and the site plan. Every route needs a session (server.py).

- ``GET /api/i18n``: the user's language and its compiled messages;
- ``GET /api/history`` (``since``, ``until`` as epoch seconds; ``area``, ``kind``, ``severity``, ``state``,
  ``device``, ``limit``, ``offset``) and ``GET /api/history.csv`` (same filters);
- ``GET /api/history/summary?days=7``: per day, in the site's time zone;
- ``GET /api/alarms/{id}/steps``: every step of one alarm with who and when;
- ``POST /api/actions`` {action, alarm_id?, target?, text?, seconds?} (``X-CSRF-Token``): acknowledge, handle,
  note, resolve, reset, open_gate, hold_door, release_door, as the user's role allows (403 otherwise);
- ``GET /api/audit``: the last actions (supervisor and installer roles);
- ``GET /api/alarms/{id}/snapshot.jpg``, ``GET /api/plan``: the alarm's picture, the site plan image.
"""

from __future__ import annotations

import asyncio
import mimetypes
from typing import Any

from aiohttp import web

from edge.pipeline.alarm_history import AlarmHistory, HistoryQuery
from edge.web.actions import ActionRefused, ActionRequest
from edge.web.i18n import messages
from edge.web.server import Console, _console, _session, language_of

MAX_BODY_FIELDS = ("action", "alarm_id", "target", "text", "seconds")
AUDIT_ROLES = ("supervisor", "installer")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/i18n", i18n)
    app.router.add_get("/api/history", history)
    app.router.add_get("/api/history.csv", history_csv)
    app.router.add_get("/api/history/summary", summary)
    app.router.add_get("/api/alarms/{alarm_id}/steps", steps)
    app.router.add_get("/api/alarms/{alarm_id}/snapshot.jpg", alarm_snapshot)
    app.router.add_post("/api/actions", action)
    app.router.add_get("/api/audit", audit)
    app.router.add_get("/api/plan", plan)


def _bad(message: str, status: int = 400) -> web.HTTPException:
    cls = {400: web.HTTPBadRequest, 403: web.HTTPForbidden, 404: web.HTTPNotFound, 409: web.HTTPConflict}[status]
    return cls(text=web.json_response({"error": message}).text, content_type="application/json")


def _history(console: Console) -> AlarmHistory:
    history = console.ctx.history
    if history is None:
        raise _bad("the alarm history is not open", 409)
    return history


def _query(request: web.Request) -> HistoryQuery:
    q = request.query
    try:
        return HistoryQuery(
            since=float(q["since"]) if q.get("since") else None,
            until=float(q["until"]) if q.get("until") else None,
            area=q.get("area") or None,
            kind=q.get("kind") or None,
            severity=q.get("severity") or None,
            state=q.get("state") or None,
            device=q.get("device") or None,
            limit=int(q.get("limit", 200)),
            offset=int(q.get("offset", 0)),
        )
    except ValueError as exc:
        raise _bad(f"bad history filter: {exc}") from None


async def i18n(request: web.Request) -> web.Response:
    language = language_of(request)
    console = _console(request)
    return web.json_response(
        {"language": language, "messages": messages(language), "kinds": console.feed.present.kinds(language)}
    )


async def history(request: web.Request) -> web.Response:
    console = _console(request)
    store = _history(console)
    query = _query(request)
    present = console.feed.present
    pictures = console.feed.pictures

    def run() -> dict[str, Any]:
        records = store.search(query)
        rows = []
        for record in records:
            row = record.to_dict()
            row["device_name"] = present.device_name(record.device)
            row["area_name"] = present.area_name(record.area)
            row["text"] = present.details(record.device, record.details)
            row["snapshot"] = record.alarm_id in pictures
            rows.append(row)
        return {"count": store.count(query), "alarms": rows}

    return web.json_response(await asyncio.to_thread(run))


async def history_csv(request: web.Request) -> web.Response:
    console = _console(request)
    store = _history(console)
    query = _query(request)
    text = await asyncio.to_thread(store.export_csv, query, timezone=console.config.timezone)
    return web.Response(
        body=("\ufeff" + text).encode(),  # the BOM lets spreadsheet programs read the Chinese names
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": 'attachment; filename="alarm-history.csv"'},
    )


async def summary(request: web.Request) -> web.Response:
    console = _console(request)
    store = _history(console)
    try:
        days = int(request.query.get("days", 7))
    except ValueError:
        raise _bad("days must be a whole number") from None
    if not 1 <= days <= 366:
        raise _bad("days must be between 1 and 366")
    rows = await asyncio.to_thread(store.daily_summary, days=days, timezone=console.config.timezone)
    return web.json_response([r.to_dict() for r in rows])


async def steps(request: web.Request) -> web.Response:
    store = _history(_console(request))
    alarm_id = request.match_info["alarm_id"]
    record = store.get(alarm_id)
    if record is None:
        raise _bad(f"no alarm {alarm_id} in the history", 404)
    return web.json_response({"alarm": record.to_dict(), "steps": [s.to_dict() for s in store.steps(alarm_id)]})


async def alarm_snapshot(request: web.Request) -> web.Response:
    data = await asyncio.to_thread(_console(request).feed.pictures.get, request.match_info["alarm_id"])
    if data is None:
        raise web.HTTPNotFound(text="no snapshot for this alarm")
    # faces and people stay off the browser's disk cache, as access snapshots do
    return web.Response(body=data, content_type="image/jpeg", headers={"Cache-Control": "no-store"})


async def action(request: web.Request) -> web.Response:
    console = _console(request)
    session = _session(request)
    try:
        body = await request.json()
    except ValueError:
        raise _bad("the body must be a JSON object") from None
    if not isinstance(body, dict) or set(body) - set(MAX_BODY_FIELDS):
        raise _bad(f"the body must be a JSON object with only {', '.join(MAX_BODY_FIELDS)}")
    seconds = body.get("seconds")
    if seconds is not None and (isinstance(seconds, bool) or not isinstance(seconds, int | float)):
        raise _bad("seconds must be a number")
    texts = {k: body.get(k) for k in ("action", "alarm_id", "target", "text")}
    if any(v is not None and not isinstance(v, str) for v in texts.values()):
        raise _bad("action, alarm_id, target and text must be strings")
    try:
        outcome = await console.actions.perform(
            session.user,
            ActionRequest(
                action=texts["action"] or "",
                alarm_id=texts["alarm_id"],
                target=texts["target"],
                text=texts["text"],
                seconds=float(seconds) if seconds is not None else None,
            ),
        )
    except ActionRefused as exc:
        raise _bad(str(exc), exc.status) from None
    if texts["action"] == "acknowledge" and outcome.status == "done":
        console.metrics.acks.inc()
    console.feed.refresh()
    status = 200 if outcome.status == "done" else 409
    return web.json_response({"status": outcome.status, "reason": outcome.reason, "data": outcome.data}, status=status)


async def audit(request: web.Request) -> web.Response:
    console = _console(request)
    if console.actions.role_of(_session(request).user) not in AUDIT_ROLES:
        raise _bad("the audit log is for supervisors and installers", 403)
    rows = await asyncio.to_thread(_history(console).audit, limit=200)
    return web.json_response([r.to_dict() for r in rows])


async def plan(request: web.Request) -> web.Response:
    config = _console(request).config.plan
    if config is None or not config.image.is_file():
        raise web.HTTPNotFound(text="no site plan configured")
    content_type = mimetypes.guess_type(config.image.name)[0] or "application/octet-stream"
    if not content_type.startswith("image/"):
        raise web.HTTPNotFound(text="the site plan is not an image")
    data = await asyncio.to_thread(config.image.read_bytes)
    return web.Response(body=data, content_type=content_type, headers={"Cache-Control": "private, max-age=600"})
