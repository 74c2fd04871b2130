"""Fuzzing the inputs that come from outside (issue 11): every case must end in a result or the documented error.

Targets (a crash is any other exception):
- commands: random bytes, random JSON, and mutations of a valid signed v2 command, through ``Dispatcher.verify``
  (parse, canonical form, signature, audience, times); allowed outcome: a Command or ``Rejected``;
- config: the example configuration mutated (keys dropped, values replaced by other types, numbers pushed out of
  range, junk keys) through ``parse_config``; allowed: a config or ``ConfigError`` whose every problem names a
  field (``where`` not empty);
- modbus: random and bit-flipped RTU frames through ``decode_request`` / ``decode_response``; allowed:
  ``FrameError``;
- live feed: MQTT payloads (random bytes, random JSON, mutated events) into ``edge watch``'s state and the console's
  access feed; allowed: nothing raised.

    python -m bench.fuzz [--cases 20000] [--seed 1] [--json out.json]
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import struct
import time
import traceback
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
JUNK_VALUES: list[Any] = [
    None,
    True,
    -1,
    0,
    1e308,
    -1e308,
    2**63,
    "",
    "x" * 300,
    [],
    {},
    [1, "a"],
    {"a": 1},
    float("nan"),
    "NaN",
    "Infinity",
    "1e999",
    "\u0000",
    "\ud7ff",
    "门禁",
]


def rand_json(rng: random.Random, depth: int = 0) -> Any:
    choice = rng.randrange(7 if depth < 3 else 4)
    if choice == 0:
        return rng.choice(JUNK_VALUES)
    if choice == 1:
        return rng.randint(-(2**70), 2**70)
    if choice == 2:
        return rng.uniform(-1e20, 1e20)
    if choice == 3:
        return "".join(chr(rng.randrange(0x20, 0x3000)) for _ in range(rng.randrange(12)))
    if choice == 4:
        return [rand_json(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {rand_key(rng): rand_json(rng, depth + 1) for _ in range(rng.randrange(5))}


def rand_key(rng: random.Random) -> str:
    return rng.choice(
        [
            "v",
            "site_id",
            "gateway_id",
            "request_id",
            "target",
            "action",
            "args",
            "issued_at",
            "expires_at",
            "signature",
            "x",
            "",
        ]
    )


def mutate_bytes(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randrange(1, 6)):
        op = rng.randrange(4)
        if op == 0 and b:
            b[rng.randrange(len(b))] = rng.randrange(256)
        elif op == 1 and b:
            del b[rng.randrange(len(b))]
        elif op == 2:
            b.insert(rng.randrange(len(b) + 1), rng.randrange(256))
        elif b:
            i = rng.randrange(len(b))
            b[i:i] = b[i : i + rng.randrange(1, 20)]
    return bytes(b)


class Targets:
    def __init__(self, work: Path) -> None:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        from edge.core.metrics import Metrics
        from edge.pipeline.commands import Dispatcher, ReplayGuard

        self.key = Ed25519PrivateKey.generate()

        async def nothing(*a: Any) -> None:
            return None

        self.dispatcher = Dispatcher(
            public_key=self.key.public_key(),
            replay=ReplayGuard(work / "replay.db"),
            metrics=Metrics(),
            emit=nothing,
            reply=nothing,
            gateway_id="gw1",
            max_lifetime_s=300,
            clock_skew_s=30,
            site_id="site1",
        )
        self.dispatcher.register("ack_alarm", nothing)
        self.example = (ROOT / "config" / "gateway.example.yaml").read_text()
        self.example_data = yaml.safe_load(self.example)

    def signed(self) -> dict[str, Any]:
        from edge.pipeline.signing import sign_command

        now = time.time()
        return sign_command(
            self.key,
            {
                "site_id": "site1",
                "gateway_id": "gw1",
                "request_id": str(uuid.uuid4()),
                "target": "gw1",
                "action": "ack_alarm",
                "args": {"alarm_id": "a"},
                "issued_at": now,
                "expires_at": now + 60,
            },
        )

    def command(self, rng: random.Random) -> None:
        from edge.pipeline.commands import Rejected

        kind = rng.randrange(4)
        if kind == 0:
            payload = bytes(rng.randrange(256) for _ in range(rng.randrange(64)))
        elif kind == 1:
            payload = json.dumps(rand_json(rng)).encode()
        elif kind == 2:
            body = self.signed()
            for _ in range(rng.randrange(1, 4)):
                key = rng.choice(list(body) + ["extra"])
                if rng.random() < 0.3:
                    body.pop(key, None)
                else:
                    body[key] = rand_json(rng)
            payload = json.dumps(body).encode()
        else:
            payload = mutate_bytes(rng, json.dumps(self.signed()).encode())
        try:
            self.dispatcher.verify(payload)
        except Rejected:
            pass

    def config(self, rng: random.Random) -> None:
        from edge.config import ConfigError, parse_config

        data = copy.deepcopy(self.example_data)
        for _ in range(rng.randrange(1, 4)):
            node, path = data, []
            while isinstance(node, dict | list) and node and rng.random() < 0.75:
                key = rng.choice(list(node)) if isinstance(node, dict) else rng.randrange(len(node))
                if not isinstance(node[key], dict | list):
                    break
                path.append(key)
                node = node[key]
            if isinstance(node, dict) and node:
                key = rng.choice(list(node))
                op = rng.randrange(4)
                if op == 0:
                    del node[key]
                elif op == 1:
                    node[key] = rng.choice(JUNK_VALUES[:12])
                elif op == 2 and isinstance(node[key], int | float) and not isinstance(node[key], bool):
                    node[key] = node[key] * rng.choice([-1, 1000, 10**9])
                else:
                    node["junk_" + str(rng.randrange(9))] = 1
            elif isinstance(node, list) and node:
                node.append(copy.deepcopy(rng.choice(node)))  # duplicated ids and the like
        text = yaml.safe_dump(data, allow_unicode=True)
        try:
            parse_config(text, base_dir=ROOT / "config")
        except ConfigError as exc:
            unnamed = [p for p in exc.problems if not p.where or not p.message]
            if unnamed:
                raise AssertionError(f"a problem names no field: {unnamed}") from None
        except ValueError as exc:  # cross-section checks raise ValueError naming the section (check_references)
            if not str(exc):
                raise

    def modbus(self, rng: random.Random) -> None:
        from drivers.modbus import FrameError, Request, add_crc, decode_request, decode_response

        req = Request(rng.randrange(1, 248), rng.choice([1, 2, 3, 4]), rng.randrange(65536), rng.randrange(1, 126))
        kind = rng.randrange(3)
        if kind == 0:
            frame = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 260)))
        elif kind == 1:
            body = struct.pack(">BBB", req.unit, req.function, rng.randrange(256)) + bytes(
                rng.randrange(256) for _ in range(rng.randrange(0, 255))
            )
            frame = add_crc(body)
        else:
            frame = mutate_bytes(rng, add_crc(struct.pack(">BBHH", req.unit, req.function, req.address, req.count)))
        for decode in (lambda f: decode_request(f), lambda f: decode_response(f, req)):
            try:
                decode(frame)
            except FrameError:
                pass

    def live(self, rng: random.Random) -> None:
        from edge.core.types import Event, Severity
        from edge.platform.watch import WatchState

        state = getattr(self, "_watch", None) or WatchState("ce/v1/site1/gw1")
        self._watch = state
        sub = rng.choice(
            [
                "status",
                "events/d1",
                "telemetry/d1",
                "devices/d1/availability",
                "commands/result",
                "ha/d1/state",
                "events",
                "x/y/z",
            ]
        )
        if rng.random() < 0.5:
            payload = json.dumps(rand_json(rng)).encode()
        else:
            event = Event(
                kind=rng.choice(["smoke", "access.granted", "access.denied", "door.forced"]),
                device="d1",
                severity=Severity.CRITICAL,
                details={"person": rand_json(rng)},
            )
            body: dict[str, Any] = {"v": 1, "seq": 1, **event.to_dict()}
            for _ in range(rng.randrange(3)):
                body[rng.choice(list(body))] = rand_json(rng)
            payload = mutate_bytes(rng, json.dumps(body).encode()) if rng.random() < 0.3 else json.dumps(body).encode()
        state.apply(f"ce/v1/site1/gw1/{sub}", payload)
        self._console(rng)

    def _console(self, rng: random.Random) -> None:
        from edge.core.types import AlarmState, Event, Severity
        from edge.web.live import json_safe
        from edge.web.views import AccessEntry

        details = rand_json(rng)
        event = Event(
            kind=rng.choice(["access.granted", "access.stranger"]),
            device="gate",
            severity=Severity.INFO,
            state=rng.choice([None, AlarmState.RAISED]),
            details=details if isinstance(details, dict) else {"x": details},
            snapshot_jpeg=rng.choice([None, b"", b"\xff\xd8" * rng.randrange(50)]),
        )
        json.dumps(json_safe(AccessEntry.from_event(event, max_snapshot=64).to_dict()), allow_nan=False)


def run(cases: int, seed: int) -> dict[str, Any]:
    import tempfile

    rng = random.Random(seed)
    targets = Targets(Path(tempfile.mkdtemp(prefix="fuzz-")))
    out: dict[str, Any] = {"seed": seed}
    for name in ("command", "config", "modbus", "live"):
        fn: Callable[[random.Random], None] = getattr(targets, name)
        n = cases // 10 if name == "config" else cases  # a config parse costs ~1 ms
        crashes: list[str] = []
        t0 = time.perf_counter()
        for _ in range(n):
            try:
                fn(rng)
            except Exception:  # noqa: BLE001 - a crash is what is counted
                crashes.append(traceback.format_exc(limit=3))
        out[name] = {
            "cases": n,
            "crashes": len(crashes),
            "seconds": round(time.perf_counter() - t0, 1),
            "first_crash": crashes[0] if crashes else None,
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    result = run(args.cases, args.seed)
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
