"""A 3-node NATS cluster with JetStream and MQTT on loopback: the clustered broker of the failover test.

NATS speaks MQTT 3.1.1 (QoS 0 and 1; sessions and retained messages in JetStream, replicated over the cluster),
so a gateway can fail over between its nodes and find its subscribers' queues on the others. ``nats-server``
comes from Debian (``make`` installs it: APT_PACKAGES).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from simulators.broker import free_port

NATS = shutil.which("nats-server") or "/usr/sbin/nats-server"


class ClusterError(RuntimeError):
    pass


@dataclass
class Node:
    name: str
    client_port: int
    route_port: int
    mqtt_port: int
    proc: subprocess.Popen[bytes] | None = None


@dataclass
class NatsCluster:
    workdir: Path
    size: int = 3
    nodes: list[Node] = field(default_factory=list)

    def start(self) -> NatsCluster:
        if not Path(NATS).exists():
            raise ClusterError(f"nats-server not found at {NATS}: `make` installs it (apt-get install nats-server)")
        self.nodes = [Node(f"n{i}", free_port(), free_port(), free_port()) for i in range(1, self.size + 1)]
        routes = ", ".join(f"nats-route://127.0.0.1:{n.route_port}" for n in self.nodes)
        for node in self.nodes:
            store = self.workdir / f"js-{node.name}"
            conf = self.workdir / f"{node.name}.conf"
            conf.write_text(
                f"server_name: {node.name}\nlisten: 127.0.0.1:{node.client_port}\n"
                f'jetstream {{ store_dir: "{store}" }}\n'
                f"cluster {{ name: edge-test, listen: 127.0.0.1:{node.route_port}, routes: [{routes}] }}\n"
                f"mqtt {{ listen: 127.0.0.1:{node.mqtt_port} }}\n"
            )
            log = open(self.workdir / f"{node.name}.log", "wb")  # noqa: SIM115 - the process keeps it
            node.proc = subprocess.Popen([NATS, "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT)
        for node in self.nodes:
            self._wait_listening(node)
        return self

    def _wait_listening(self, node: Node) -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if node.proc is not None and node.proc.poll() is not None:
                raise ClusterError(f"nats-server {node.name} exited: see {self.workdir / (node.name + '.log')}")
            try:
                with socket.create_connection(("127.0.0.1", node.mqtt_port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.1)
        raise ClusterError(f"nats-server {node.name} did not open its MQTT port within 20 s")

    def kill(self, node: Node) -> None:
        if node.proc is not None:
            node.proc.kill()
            node.proc.wait()
            node.proc = None

    def stop(self) -> None:
        for node in self.nodes:
            if node.proc is not None:
                node.proc.terminate()
                try:
                    node.proc.wait(5)
                except subprocess.TimeoutExpired:
                    node.proc.kill()
                    node.proc.wait()
                node.proc = None
