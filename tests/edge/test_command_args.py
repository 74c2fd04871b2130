"""One way to validate command arguments: a model per action, checked by the dispatcher (issue 10 item 6)."""

from __future__ import annotations

import time
import uuid

from pydantic import Field

from drivers.profile import get_profile
from edge.core.args import Args, Number, Text
from edge.core.io import IoRouter
from edge.core.metrics import Metrics
from edge.core.types import Command, CommandResult, CommandStatus, Incoming
from edge.pipeline.commands import Dispatcher


class FakeReplay:
    def first_time(self, *a) -> bool:
        return True


class EchoArgs(Args):
    name: Text = Field(min_length=1)
    seconds: Number = Field(gt=0, le=10)


def dispatcher(answers: list) -> Dispatcher:
    async def emit(event):
        pass

    async def reply(result, incoming, target):
        answers.append(result)

    return Dispatcher(
        public_key=None,
        replay=FakeReplay(),
        metrics=Metrics(),
        emit=emit,
        reply=reply,
        gateway_id="gw1",
        max_lifetime_s=300,
        clock_skew_s=30,
    )


def verified(action: str, args: dict, target: str = "gw1") -> Command:
    now = time.time()
    return Command(str(uuid.uuid4()), target, action, args, now, now + 60)


async def run(d: Dispatcher, command: Command) -> CommandResult:
    d.verify = lambda payload: command  # the signature path is tested in test_commands / test_signing
    return await d.handle(Incoming("t", b"{}", None, None))


async def test_the_dispatcher_checks_args_before_the_handler_runs():
    answers: list = []
    d = dispatcher(answers)
    calls: list = []

    async def handler(command: Command) -> CommandResult:
        calls.append(command.params)
        return CommandResult(command.request_id, CommandStatus.DONE)

    d.register("echo", handler, args=EchoArgs)
    bad = await run(d, verified("echo", {"name": "", "seconds": "5", "extra": 1}))
    assert bad.status is CommandStatus.FAILED
    assert bad.reason == (
        "args.name: String should have at least 1 character; "
        "args.seconds: Input should be a valid number; args.extra: unknown argument"
    )
    assert calls == []
    good = await run(d, verified("echo", {"name": "a", "seconds": 2}))
    assert good.status is CommandStatus.DONE and calls == [EchoArgs(name="a", seconds=2.0)]


async def test_every_action_words_bad_arguments_the_same_way(tmp_path):
    """ack_alarm (app), hold_door (lift) and a device's pulse (profile) all answer 'args.<name>: ...'."""
    from edge.app import AckAlarmArgs
    from edge.lift.component import HoldDoorArgs

    answers: list = []
    d = dispatcher(answers)

    async def never(command):  # pragma: no cover - must not run
        raise AssertionError("handler ran with bad arguments")

    io = IoRouter()
    relay = get_profile("relay_board")
    io.register("relay-1", never, args={n: a.args_model(n) for n, a in relay.actions.items()})
    d.register("ack_alarm", never, args=AckAlarmArgs)
    d.register("hold_door", never, args=HoldDoorArgs)
    d.register("pulse", never, args=lambda c: io.args_model(c.target, c.action))
    reasons = [
        (await run(d, verified("ack_alarm", {"alarm_id": 5}))).reason,
        (await run(d, verified("hold_door", {"seconds": True}))).reason,
        (await run(d, verified("pulse", {"channel": 9}, target="relay-1"))).reason,
        (await run(d, verified("pulse", {"channel": 1.5}, target="relay-1"))).reason,
    ]
    assert reasons == [
        "args.alarm_id: Input should be a valid string",
        "args.seconds: Input should be a valid number",
        "args.channel: Input should be less than or equal to 7",
        "args.channel: must be a whole number, got 1.5",
    ]
