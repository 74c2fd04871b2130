"""The lift component's decisions: door hold, voice, events and alarm, commands (clock driven by the test)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from drivers.detectors import ModelError
from edge.config import GatewayConfig
from edge.core.args import validate_args
from edge.core.types import Command, CommandError, CommandStatus
from edge.lift.component import HoldDoorArgs, LiftCamera, LiftCommands, ReleaseDoorArgs, build_components
from edge.lift.config import LiftConfig
from edge.lift.confirm import Phase, Sighting
from tests.lift.harness import Harness

BOX = (10.0, 20.0, 200.0, 300.0)
BIKE = [Sighting("motorbike", 0.9, BOX, snapshot=b"\xff\xd8jpeg")]


def lift_config(**kw) -> LiftConfig:
    base = {
        "id": "lift-1",
        "camera_url": "http://127.0.0.1:9/x",
        "door_hold": {"device": "relay-1", "channel": 0},
        "voice": {"device": "relay-1", "channel": 1},
    }
    return LiftConfig(**{**base, **kw})


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def rig(tmp_path: Path, clock: Clock) -> tuple[Harness, LiftCamera]:
    harness = Harness(tmp_path, lift_config())
    lift = LiftCamera(harness.ctx.config.lifts[0], clock=clock)
    lift.bind(harness.ctx)
    return harness, lift


def command(action: str, **args) -> Command:
    """A command as the dispatcher hands it over: its args checked against the action's model."""
    now = time.time()
    model = HoldDoorArgs if action == "hold_door" else ReleaseDoorArgs
    return Command("r-1", "lift-1", action, args, now, now + 60, params=validate_args(model, args))


async def test_unconfirmed_sighting_holds_then_releases(rig) -> None:
    h, lift = rig
    await lift.advance(0.0, BIKE)
    assert h.relay.channels == {0: True} and lift.door_held
    assert h.kinds() == ["lift.hold_started"] and h.events[0].details == {"reason": "suspect"}
    await lift.advance(2.0, None)
    assert lift.door_held
    await lift.advance(2.6, None)
    assert h.relay.channels == {0: False} and not lift.door_held
    assert h.kinds() == ["lift.hold_started", "lift.hold_released_unconfirmed"]
    released = h.events[-1].details
    assert released["sightings"] == 1 and released["class"] == "motorbike" and released["window_s"] == 2.5
    assert h.alarms.active() == []
    await lift.advance(3.0, BIKE)  # the same object is now ignored
    assert not lift.door_held and len(h.events) == 2


async def test_confirmed_ebike_alarm_voice_and_release_after_it_leaves(rig) -> None:
    h, lift = rig
    await lift.advance(0.0, BIKE)
    await lift.advance(0.2, BIKE)
    [alarm] = h.alarms.active()
    assert (alarm.device, alarm.kind, alarm.severity.value) == ("lift-1", "ebike_in_lift", "major")
    raised = h.events[-1]
    assert raised.kind == "ebike_in_lift" and raised.state.value == "raised"
    assert raised.snapshot_jpeg == b"\xff\xd8jpeg" and raised.details["sightings"] == 2
    assert h.relay.channels == {0: True, 1: True}
    await lift.advance(7.1, None)
    assert lift.door_held and lift.state.phase is Phase.ALARM
    await lift.advance(7.2, None)
    assert h.relay.channels == {0: False, 1: False}
    assert h.kinds() == ["lift.hold_started", "ebike_in_lift:raised", "ebike_in_lift:cleared", "lift.hold_ended"]
    assert h.events[-1].details == {"reason": "ebike_left", "held_s": 7.2}


async def test_command_hold_and_its_expiry(rig, clock: Clock) -> None:
    h, lift = rig
    commands = LiftCommands({"lift-1": lift})
    result = await commands.hold_door(command("hold_door", lift="lift-1", seconds=5))
    assert result.status is CommandStatus.DONE and result.data == {"lift": "lift-1", "held_s": 5.0}
    assert h.relay.channels == {0: True} and h.events[-1].details == {"reason": "command"}
    clock.now += 4.9
    await lift.advance(clock.now, None)
    assert lift.door_held
    clock.now += 0.2
    await lift.advance(clock.now, None)
    assert not lift.door_held and h.events[-1].details["reason"] == "command_expired"


async def test_command_hold_outlasts_an_alarm_and_release_door_ends_it(rig, clock: Clock) -> None:
    h, lift = rig
    commands = LiftCommands({"lift-1": lift})
    await commands.hold_door(command("hold_door", lift="lift-1", seconds=60))
    await lift.advance(clock.now, BIKE)
    await lift.advance(clock.now + 0.2, BIKE)
    await lift.advance(clock.now + 8, None)  # the e-bike left: the alarm ends, the command still holds
    assert lift.state.phase is Phase.IDLE and lift.door_held and h.relay.channels[1] is False
    await commands.release_door(command("release_door", lift="lift-1"))
    assert not lift.door_held
    assert [e.details.get("reason") for e in h.events if e.kind.startswith("lift.hold")] == ["command", "command"]


async def test_release_door_overrides_an_alarm_until_it_ends(rig, clock: Clock) -> None:
    h, lift = rig
    await lift.advance(0.0, BIKE)
    await lift.advance(0.2, BIKE)
    await LiftCommands({"lift-1": lift}).release_door(command("release_door", lift="lift-1"))
    assert not lift.door_held and lift.state.phase is Phase.ALARM and h.alarms.active()
    await lift.advance(1.0, BIKE)
    assert not lift.door_held  # the operator's release stands for this episode
    await lift.advance(8.5, None)
    assert lift.state.phase is Phase.IDLE and not h.alarms.active()
    await lift.advance(40.0, [Sighting("bicycle", 0.8, (300.0, 20.0, 500.0, 300.0))])
    assert lift.door_held  # a new episode holds again


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"lift": "lift-9", "seconds": 5}, r"unknown lift 'lift-9'; configured: \['lift-1'\]"),
        ({"lift": "lift-1", "seconds": 0}, r"args.seconds: Input should be greater than 0"),
        ({"lift": "lift-1", "seconds": "5"}, r"args.seconds: Input should be a valid number"),
        ({"lift": "lift-1", "seconds": True}, r"args.seconds: Input should be a valid number"),
        ({"lift": "lift-1", "seconds": 601}, r"args.seconds: Input should be less than or equal to 600"),
        ({"lift": "lift-1"}, r"args.seconds: missing"),
    ],
)
async def test_bad_hold_door_commands_are_refused(rig, args, message) -> None:
    _, lift = rig
    with pytest.raises(CommandError, match=message):
        await LiftCommands({"lift-1": lift}).hold_door(command("hold_door", **args))
    assert not lift.door_held


async def test_lift_without_door_hold_refuses_commands(tmp_path: Path) -> None:
    h = Harness(tmp_path, lift_config(door_hold=None))
    lift = LiftCamera(h.ctx.config.lifts[0])
    lift.bind(h.ctx)
    with pytest.raises(CommandError, match="lift 'lift-1' has no door_hold output configured"):
        await LiftCommands({"lift-1": lift}).hold_door(command("hold_door", lift="lift-1", seconds=3))


async def test_failed_relay_write_is_logged_and_the_alarm_still_raised(rig, caplog) -> None:
    h, lift = rig
    h.relay.fail = RuntimeError("relay-1 does not answer")
    with caplog.at_level(logging.WARNING, logger="edge.lift.component"):
        await lift.advance(0.0, BIKE)
        await lift.advance(0.2, BIKE)
    assert h.alarms.active() and lift.state.phase is Phase.ALARM
    assert "door hold on failed on relay-1: relay-1 does not answer" in caplog.text


def gateway(*lifts: LiftConfig) -> GatewayConfig:
    return GatewayConfig(
        site_id="s",
        gateway_id="g",
        buses=[{"id": "b1", "url": "tcp://127.0.0.1:1502"}],
        devices=[{"id": "relay-1", "bus": "b1", "profile": "relay_board"}],
        lifts=list(lifts),
    )


def test_build_components(tmp_path: Path, model_dir: Path) -> None:
    assert build_components(GatewayConfig(site_id="s", gateway_id="g")) == []
    good = lift_config(model_dir=model_dir)
    other = good.model_copy(update={"id": "l3", "model": "nanodet_m"})
    alone = good.model_copy(update={"id": "l4", "camera_process": "alone"})
    parts = build_components(gateway(good, good.model_copy(update={"id": "l2"}), other, alone))
    assert [p.name for p in parts] == [
        "lift-detector:yolox_nano",
        "lift-detector:nanodet_m",
        "lift-cameras:lifts",
        "lift-cameras:alone",
        "lift:commands",
        "lift:lift-1",
        "lift:l2",
        "lift:l3",
        "lift:l4",
    ]
    lifts = {p.config.id: p for p in parts if isinstance(p, LiftCamera)}
    assert lifts["lift-1"].detector is lifts["l2"].detector is lifts["l4"].detector is parts[0]  # one per model
    assert lifts["l3"].detector is parts[1] and parts[0].lift_ids == ["lift-1", "l2", "l4"]
    # one camera process for the lifts naming the same camera_process, one thread per lift there
    assert lifts["lift-1"].host is lifts["l2"].host is lifts["l3"].host is parts[2]
    assert lifts["l4"].host is parts[3] and [c.id for c in parts[3].lifts] == ["l4"]
    with pytest.raises(ModelError, match=r"lifts\[lift-1\]: model 'yolox_nano': file .*yolox_nano.onnx not found"):
        build_components(gateway(lift_config(model_dir=tmp_path)))


def test_build_components_checks_lift_ids_and_devices(model_dir: Path) -> None:
    good = lift_config(model_dir=model_dir)
    with pytest.raises(ValueError, match=r"lift id 'lift-1' is used twice"):
        build_components(gateway(good, good))
    stray = lift_config(model_dir=model_dir, door_state={"device": "di-9", "key": "lift_door"})
    with pytest.raises(ValueError, match=r"lifts\[lift-1\]\.door_state: device 'di-9' is not configured"):
        build_components(gateway(stray))


async def test_pulse_mode_renews_the_hold_and_switches_off_at_the_end(tmp_path: Path) -> None:
    h = Harness(tmp_path, lift_config(hold_pulse_s=4))
    lift = LiftCamera(h.ctx.config.lifts[0])
    lift.bind(h.ctx)
    await lift.advance(0.0, BIKE)
    await lift.advance(0.2, BIKE)
    for t in (1.0, 1.9, 2.0, 3.0, 4.1):
        await lift.advance(t, BIKE)
    door = [(action, args) for action, args in h.relay.writes if args["channel"] == 0]
    pulses = [args for action, args in door if action == "pulse"]
    assert pulses == [{"channel": 0, "seconds": 4}] * 3  # at 0.0, 2.0 and 4.1: renewed at half the pulse
    await lift.advance(11.2, None)
    assert [w for w in h.relay.writes if w[1]["channel"] == 0][-1] == ("set", {"channel": 0, "on": False})
