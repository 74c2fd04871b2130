"""The console over HTTP against a real gateway whose uplink is down: login, live feed, acknowledge, metrics."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from edge.core.types import AlarmState, Event, Severity
from tests.support import async_wait_for
from tests.web.helpers import METRICS_TOKEN, PASSWORD, USER, client, login, running_gateway, web_section

PROTECTED_GETS = [
    "/",
    "/static/app.js",
    "/static/app.css",
    "/api/state",
    "/api/stream",
    "/api/access/x/snapshot.jpg",
    "/metrics",
    "/nowhere",
]


async def sse_events(response: aiohttp.ClientResponse) -> AsyncIterator[tuple[str, object]]:
    """(event name, parsed data) from a server-sent-event stream."""
    name, data = "message", []
    async for raw in response.content:
        line = raw.decode().rstrip("\n")
        if not line:
            if data:
                yield name, json.loads("\n".join(data))
            name, data = "message", []
        elif line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            data.append(line[6:])


async def next_matching(events: AsyncIterator[tuple[str, object]], name: str, predicate) -> object:
    async def find() -> object:
        async for event, data in events:
            if event == name and predicate(data):
                return data
        raise AssertionError(f"stream ended before a matching {name!r} event")

    return await asyncio.wait_for(find(), 10)


async def test_nothing_but_health_and_login_answers_without_a_session(tmp_path: Path, closed_port: int) -> None:
    async with running_gateway(tmp_path, closed_port) as gw, client() as http:
        async with http.get(f"{gw.url}/health") as r:
            assert r.status == 200
            assert (await r.json())["status"] == "ok"
        async with http.get(f"{gw.url}/login") as r:
            assert r.status == 200
            assert 'name="password"' in await r.text()
        for path in PROTECTED_GETS:
            async with http.get(gw.url + path, allow_redirects=False) as r:
                assert r.status in (302, 401), f"{path} answered {r.status} without login"
                assert r.headers["X-Frame-Options"] == "DENY" and "Content-Security-Policy" in r.headers
                if r.status == 302:
                    assert r.headers["Location"] == "/login"
        async with http.post(f"{gw.url}/api/alarms/x/ack") as r:
            assert r.status == 401


async def test_wrong_password_is_refused_and_repeated_failures_are_throttled(tmp_path: Path, closed_port: int) -> None:
    web = web_section(login_attempts=2, login_lockout_s=600)
    async with running_gateway(tmp_path, closed_port, web=web) as gw, client() as http:
        for name in (USER, "nobody"):
            async with http.post(
                f"{gw.url}/login", data={"username": name, "password": "wrong"}, allow_redirects=False
            ) as r:
                assert r.status == 401
                assert "Wrong name or password" in await r.text()
        # now even the right password waits
        async with http.post(
            f"{gw.url}/login", data={"username": USER, "password": PASSWORD}, allow_redirects=False
        ) as r:
            assert r.status == 429
        async with http.get(f"{gw.url}/api/state") as r:
            assert r.status == 401
        text = gw.gateway.metrics.registry.get_sample_value("edge_web_logins_total", {"result": "failed"})
        assert text == 2


async def test_a_new_alarm_is_pushed_and_acknowledged_with_the_uplink_down(tmp_path: Path, closed_port: int) -> None:
    async with running_gateway(tmp_path, closed_port) as gw, client() as http:
        assert not gw.gateway.uplink.connected.is_set()
        csrf = await login(http, gw.url)
        async with gw.gateway.hub.subscribe_events() as seen, http.get(f"{gw.url}/api/stream") as stream:
            assert stream.headers["Content-Type"].startswith("text/event-stream")
            events = sse_events(stream)
            await next_matching(events, "alarms", lambda data: data == [])
            alarm = await gw.gateway.alarms.update(
                "smoke-b3-1", "smoke", active=True, severity=Severity.CRITICAL, details={"obscuration": 4.2}
            )
            assert alarm is not None
            pushed = await next_matching(events, "alarms", lambda data: len(data) == 1)
            assert pushed[0]["alarm_id"] == alarm.alarm_id
            assert pushed[0]["severity"] == "critical" and pushed[0]["state"] == "raised"

            # a POST without the CSRF token does nothing
            async with http.post(f"{gw.url}/api/alarms/{alarm.alarm_id}/ack") as r:
                assert r.status == 403
            assert gw.gateway.alarms.get(alarm.alarm_id).state is AlarmState.RAISED

            async with http.post(f"{gw.url}/api/alarms/{alarm.alarm_id}/ack", headers={"X-CSRF-Token": csrf}) as r:
                assert r.status == 200
                assert (await r.json())["state"] == "acknowledged"
            book = gw.gateway.alarms.get(alarm.alarm_id)
            assert book.state is AlarmState.ACKNOWLEDGED and book.acknowledged_by == f"console:{USER}"
            acked = await next_matching(events, "alarms", lambda data: data and data[0]["state"] == "acknowledged")
            assert acked[0]["acknowledged_by"] == f"console:{USER}"
            emitted = [seen.get_nowait() for _ in range(seen.qsize())]
            assert [e.state for e in emitted if e.alarm_id == alarm.alarm_id] == [
                AlarmState.RAISED,
                AlarmState.ACKNOWLEDGED,
            ]
        # the acknowledgement waits in the durable outbox for the uplink
        assert gw.gateway.outbox.depth >= 2

        async with http.post(f"{gw.url}/api/alarms/no-such-alarm/ack", headers={"X-CSRF-Token": csrf}) as r:
            assert r.status == 404
            assert "no-such-alarm" in (await r.json())["error"]


async def test_device_health_by_area_and_the_access_log_with_snapshots(tmp_path: Path, closed_port: int) -> None:
    jpeg = b"\xff\xd8\xff\xe0" + b"JFIF-test-bytes" + b"\xff\xd9"
    async with running_gateway(tmp_path, closed_port) as gw, client() as http:
        devices = gw.gateway.devices
        devices.declare("smoke-b3-1", area="block 3", profile="smoke_ug3")
        devices.declare("bin-7", area="bins north", profile="bin_urm13")
        devices.declare("manhole-2", area="block 3", profile="manhole")
        await devices.set_availability("smoke-b3-1", True)
        await devices.set_availability("bin-7", False, reason="no answer after 3 polls")
        await devices.set_availability("manhole-2", True)
        from edge.core.types import Reading

        devices.observe(Reading("manhole-2", "battery_pct", 17))
        devices.observe(Reading("smoke-b3-1", "service_alarm", True))
        event = Event(
            kind="access.granted",
            device="gate-east",
            severity=Severity.INFO,
            details={"person": "Ada", "distance": 0.41, "result": "granted"},
            snapshot_jpeg=jpeg,
        )
        await gw.gateway.emit(event)
        await login(http, gw.url)

        async def state() -> dict:
            async with http.get(f"{gw.url}/api/state") as r:
                return await r.json()

        await async_wait_for(lambda: gw.console.serving.is_set(), 5)
        data = await state()
        for _ in range(100):
            if data["access"]:
                break
            await asyncio.sleep(0.05)
            data = await state()
        areas = {a["area"]: {d["id"]: d for d in a["devices"]} for a in data["devices"]}
        assert list(areas) == ["bins north", "block 3"]
        assert areas["bins north"]["bin-7"]["status"] == "offline"
        assert areas["bins north"]["bin-7"]["reason"] == "no answer after 3 polls"
        assert areas["block 3"]["smoke-b3-1"]["status"] == "fault"
        assert areas["block 3"]["manhole-2"]["status"] == "online"
        assert areas["block 3"]["manhole-2"]["battery"] == 17
        assert data["access"][0]["person"] == "Ada" and data["access"][0]["snapshot"] is True
        async with http.get(f"{gw.url}/api/access/{event.id}/snapshot.jpg") as r:
            assert r.status == 200 and r.content_type == "image/jpeg"
            assert r.headers["Cache-Control"] == "no-store"  # a face stays off every cache
            assert await r.read() == jpeg
        async with http.get(f"{gw.url}/api/access/unknown/snapshot.jpg") as r:
            assert r.status == 404


async def test_metrics_need_a_session_or_the_bearer_token(tmp_path: Path, closed_port: int) -> None:
    async with running_gateway(tmp_path, closed_port) as gw, client() as http:
        async with http.get(f"{gw.url}/metrics", headers={"Authorization": "Bearer wrong-token"}) as r:
            assert r.status == 401
        async with http.get(f"{gw.url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}) as r:
            assert r.status == 200
            text = await r.text()
        for name in (
            "edge_outbox_depth",
            "edge_broker_connected 0.0",
            "edge_reading_queue_depth",
            "edge_web_sse_clients",
        ):
            assert name in text
        await login(http, gw.url)
        async with http.get(f"{gw.url}/metrics") as r:
            assert r.status == 200


async def test_logout_ends_the_session_and_its_live_feed(tmp_path: Path, closed_port: int) -> None:
    async with running_gateway(tmp_path, closed_port) as gw, client() as http:
        await login(http, gw.url)
        async with http.get(f"{gw.url}/api/stream") as stream:
            events = sse_events(stream)
            await next_matching(events, "alarms", lambda data: True)
            registry = gw.gateway.metrics.registry
            assert registry.get_sample_value("edge_web_sse_clients") == 1
            async with http.post(f"{gw.url}/logout", allow_redirects=False) as r:
                assert r.status == 302
            await next_matching(events, "logout", lambda data: True)
        async with http.get(f"{gw.url}/api/state") as r:
            assert r.status == 401
        await async_wait_for(lambda: registry.get_sample_value("edge_web_sse_clients") == 0, 5, "the stream to end")


async def test_a_post_without_origin_or_referer_is_refused(tmp_path: Path, closed_port: int) -> None:
    async with running_gateway(tmp_path, closed_port) as gw, aiohttp.ClientSession() as bare:
        async with bare.post(
            f"{gw.url}/login", data={"username": USER, "password": PASSWORD}, allow_redirects=False
        ) as r:
            assert r.status == 403
        async with bare.post(
            f"{gw.url}/login",
            data={"username": USER, "password": PASSWORD},
            headers={"Referer": f"{gw.url}/login"},
            allow_redirects=False,
        ) as r:
            assert r.status == 302  # a Referer of the console's own page will do


async def test_a_cross_origin_post_is_refused(tmp_path: Path, closed_port: int) -> None:
    async with (
        running_gateway(tmp_path, closed_port) as gw,
        client() as http,
        http.post(
            f"{gw.url}/login",
            data={"username": USER, "password": PASSWORD},
            headers={"Origin": "http://evil.example"},
            allow_redirects=False,
        ) as r,
    ):
        assert r.status == 403


async def test_a_taken_port_is_a_clear_error(tmp_path: Path, closed_port: int) -> None:
    async def start_on(port: int) -> None:
        async with running_gateway(tmp_path, closed_port, web=web_section(port=port)):
            pass

    taken = socket.create_server(("127.0.0.1", 0))
    port = taken.getsockname()[1]
    with taken, pytest.raises(ExceptionGroup) as info:
        await start_on(port)
    assert f"cannot listen on 127.0.0.1:{port}" in str(info.value.exceptions[0])


async def test_stopping_the_gateway_ends_open_streams(tmp_path: Path, closed_port: int) -> None:
    async with client() as http:
        async with running_gateway(tmp_path, closed_port) as gw:
            await login(http, gw.url)
            stream = await http.get(f"{gw.url}/api/stream")
            events = sse_events(stream)
            await next_matching(events, "alarms", lambda data: True)
        # the gateway has stopped (running_gateway waited for it); the stream was closed, not left hanging
        rest = [event async for event, _ in events]
        assert "alarms" not in rest
        stream.release()
