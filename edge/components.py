"""The explicit list of component factories: each area builds its components from the config.

No discovery and no skipping: a factory that fails to import is an installation error and stops the gateway.
"""

from __future__ import annotations

from collections.abc import Callable

from edge.config import GatewayConfig
from edge.runtime import Component

Factory = Callable[[GatewayConfig], list[Component]]


def factories() -> list[Factory]:
    from drivers.component import build_components as buses
    from edge.gate.component import build_components as gates
    from edge.ha_discovery import build_components as home_assistant
    from edge.lift.component import build_components as lifts
    from edge.web.component import build_components as web

    return [buses, gates, lifts, web, home_assistant]


def build_components(config: GatewayConfig) -> list[Component]:
    components = [component for factory in factories() for component in factory(config)]
    if config.loadgen is not None:
        from simulators.loadgen import Loadgen

        components.append(Loadgen(config.loadgen))
    return components
