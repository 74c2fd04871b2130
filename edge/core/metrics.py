"""The gateway's Prometheus metrics, in one registry per gateway (tests run several gateways in one process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.readings = Counter("edge_readings", "Readings taken into the pipeline", registry=r)
        self.reading_queue_depth = Gauge("edge_reading_queue_depth", "Readings waiting for the rule stage", registry=r)
        self.events = Counter("edge_events", "Events emitted", ["kind"], registry=r)
        self.outbox_depth = Gauge("edge_outbox_depth", "Messages in the durable outbox", registry=r)
        self.outbox_oldest_age = Gauge(
            "edge_outbox_oldest_age_seconds", "Age of the oldest message in the outbox", registry=r
        )
        self.outbox_refused = Counter(
            "edge_outbox_refused", "Telemetry messages refused (disk full, or an outbox full of alarms)", registry=r
        )
        self.outbox_evicted = Counter("edge_outbox_evicted", "Telemetry messages evicted at the bound", registry=r)
        self.published = Counter("edge_published", "Messages acknowledged by the broker", registry=r)
        self.refused = Counter(
            "edge_refused", "Publishes and subscriptions the broker refused (MQTT 5 reason codes)", ["what"], registry=r
        )
        self.broker_connected = Gauge("edge_broker_connected", "1 while connected to the broker", registry=r)
        self.commands = Counter("edge_commands", "Platform commands by outcome", ["status"], registry=r)
        self.commands_dropped = Counter(
            "edge_commands_dropped", "Incoming messages dropped because the command inbox was full", registry=r
        )
        self.poll_cycle = Gauge("edge_poll_cycle_seconds", "Last poll-cycle time per bus", ["bus"], registry=r)
        self.camera_fps = Gauge("edge_camera_fps", "Frames processed per second per camera", ["camera"], registry=r)
        self.gate_decisions = Counter("edge_gate_decisions", "Gate decisions", ["gate", "result"], registry=r)
        self.publish_latency = Histogram(
            "edge_outbox_to_puback_seconds",
            "From the outbox write to the broker's PUBACK",
            buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 5, 30),
            registry=r,
        )
