"""The demo stops what it started in reverse order, each before the next (the gateway before its broker), and the
tool its banner suggests is installed by the project's own Makefile."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from simulators.demo import Demo, DemoOptions

ROOT = Path(__file__).resolve().parents[2]

CHILD = """
import signal, sys, time
name, out, linger = sys.argv[1], sys.argv[2], float(sys.argv[3])
def stop(*_):
    with open(out, "a") as f:
        f.write(f"{name} term {time.time()}\\n")
    time.sleep(linger)  # a gateway flushes its outbox and publishes 'offline' before it exits
    with open(out, "a") as f:
        f.write(f"{name} exit {time.time()}\\n")
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
open(out + "." + name, "w").close()
while True:
    time.sleep(0.05)
"""


def test_the_gateway_has_exited_before_the_broker_is_told_to_stop(tmp_path: Path) -> None:
    log = tmp_path / "order.log"
    demo = Demo(DemoOptions(workdir=tmp_path))
    for name, linger in (("broker", "0"), ("gateway", "0.5")):  # started in this order, like the demo
        demo.procs.append(subprocess.Popen([sys.executable, "-c", CHILD, name, str(log), linger]))
    for name in ("broker", "gateway"):
        ready = tmp_path / f"order.log.{name}"
        for _ in range(200):
            if ready.exists():
                break
            subprocess.run(["sleep", "0.05"], check=True)
        assert ready.exists(), f"{name} child did not start"
    demo.stop()
    lines = [line.split() for line in log.read_text().splitlines()]
    assert [(n, what) for n, what, _ in lines] == [
        ("gateway", "term"),
        ("gateway", "exit"),
        ("broker", "term"),
        ("broker", "exit"),
    ]
    times = {(n, what): float(t) for n, what, t in lines}
    assert times[("broker", "term")] >= times[("gateway", "exit")]
    assert all(p.poll() == 0 for p in demo.procs)


def test_the_banner_suggests_only_tools_the_makefile_installs() -> None:
    demo_source = (ROOT / "simulators" / "demo.py").read_text()
    makefile = (ROOT / "Makefile").read_text()
    packages = re.search(r"^APT_PACKAGES := (.+)$", makefile, re.M).group(1).split()
    assert "mosquitto_sub" in demo_source
    assert "mosquitto-clients" in packages  # Debian's package of mosquitto_sub and mosquitto_pub
    assert "fonts-wqy-microhei" in packages  # the console in Chinese needs a CJK font


async def test_the_demo_config_names_its_devices_in_chinese_with_roles_and_a_plan(tmp_path: Path) -> None:
    import yaml

    from edge.config import parse_config, reference_problems
    from simulators.demo import demo_config
    from simulators.scenario import ScenarioRun, load_scenario

    run = ScenarioRun(load_scenario("compound_day"), log=lambda line: None)
    no_cameras = {"gate": ["faces"], "lift": ["models"]}
    opts = DemoOptions(workdir=tmp_path)
    async with run.started():
        sections = run.gateway_sections()
    config = parse_config(yaml.safe_dump(demo_config(opts, sections, no_cameras, tmp_path)), base_dir=tmp_path)
    assert reference_problems(config) == []
    assert config.web.names.devices["smoke-b3-stair"] == "3号楼楼梯烟雾浓度"
    assert {u.role for u in config.web.users} == {"guard", "supervisor", "installer"}
    assert config.web.plan is not None and config.web.plan.image.is_file()
    assert "north-gate" not in config.web.names.devices  # no gate camera without the shared data
