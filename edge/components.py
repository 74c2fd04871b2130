"""The explicit list of component factories: each area builds its components from the config.

No discovery and no skipping: a factory that fails to import is an installation error and stops the gateway.
"""

from __future__ import annotations

from collections.abc import Callable

from edge.config import GatewayConfig
from edge.runtime import Component

Factory = Callable[[GatewayConfig], list[Component]]


def factories(config: GatewayConfig) -> list[Factory]:
    """The factories this config needs. Vision (OpenCV, dlib: about 40 MB) is imported only when a gate,
    a lift or a facade camera is configured, so a sensor-only gateway stays small."""
    from drivers.component import build_components as buses
    from edge.ha_discovery import build_components as home_assistant
    from edge.web.component import build_components as web

    found: list[Factory] = [buses, web, home_assistant]
    if config.gates:
        from edge.gate.component import build_components as gates

        found.append(gates)
    if config.lifts:
        from edge.lift.component import build_components as lifts

        found.append(lifts)
    if config.falls:
        from edge.falls.component import build_components as falls

        found.append(falls)
    return found


def build_components(config: GatewayConfig) -> list[Component]:
    components = [component for factory in factories(config) for component in factory(config)]
    if config.loadgen is not None:
        from simulators.loadgen import Loadgen

        components.append(Loadgen(config.loadgen))
    return components
