"""Lock relays belong to their gate: direct pulse/set on a gate's lock channel is refused (issue 11, finding 9)."""

from __future__ import annotations

import time

from drivers.component import _register_command
from edge.app import Gateway
from edge.core.types import Command, CommandStatus, Incoming
from tests.support import free_port, make_config

DEVICES = {
    "buses": [{"id": "b1", "url": "tcp://127.0.0.1:1502"}],
    "devices": [{"id": "relay1", "bus": "b1", "profile": "relay_board", "unit_id": 1}],
}


async def test_direct_relay_commands_on_a_gate_lock_are_refused_naming_the_gate(tmp_path):
    config = make_config(
        tmp_path,
        free_port(),
        gates=[
            {"id": "main", "camera": "http://127.0.0.1:9/x", "door": {"relay_device": "relay1", "relay_channel": 2}}
        ],
        **DEVICES,
    )
    gw = Gateway(config)
    writes = []

    async def relay(action, args):
        writes.append((action, args))

    from drivers.profile import get_profile

    actions = get_profile("relay_board").actions
    gw.io.register("relay1", relay, args={n: a.args_model(n) for n, a in actions.items()})
    for action in ("pulse", "set"):
        _register_command(gw.ctx, action)

    async def run(action: str, args: dict):
        now = time.time()
        command = Command("r", "relay1", action, args, now, now + 60)
        gw.dispatcher.verify = lambda payload: command
        return await gw.dispatcher.handle(Incoming("t", b"{}", None, None))

    answers = []

    async def reply(result, incoming, target):
        answers.append(result)

    gw.dispatcher._reply = reply
    for action, args in (("pulse", {"channel": 2, "seconds": 3}), ("set", {"channel": 2, "on": True})):
        result = await run(action, args)
        assert result.status is CommandStatus.FAILED
        assert result.reason == (
            f"relay1 channel 2 belongs to the lock of gate 'main' (use its 'unlock' command, "
            f"target 'main'): a direct {action!r} is refused"
        )
    assert writes == []
    # the other channels of the same board are still the platform's to drive
    assert (await run("pulse", {"channel": 3, "seconds": 1})).status is CommandStatus.DONE
    assert writes == [("pulse", {"channel": 3, "seconds": 1})]
    gw.dispatcher._replay.close()
