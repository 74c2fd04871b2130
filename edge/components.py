"""The explicit list of component factories: each area builds its components from the config.

No discovery and no skipping: a factory that fails to import is an installation error and stops the gateway.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from edge.config import GatewayConfig
from edge.core.runtime import Component

Factory = Callable[[GatewayConfig], Sequence[Component]]


def factories(config: GatewayConfig) -> list[Factory]:
    """The factories this config needs. Vision (OpenCV, dlib: about 40 MB) is imported only when a gate,
    a lift or a facade camera is configured, so a sensor-only gateway stays small."""
    from drivers.component import build_components as buses
    from edge.homeassistant.discovery import build_components as home_assistant
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


_EXTRA_FACTORIES: list[Factory] = []


def register_factory(factory: Factory) -> None:
    """Add a factory from outside the runtime (the benchmarks' synthetic load registers its component here)."""
    if factory not in _EXTRA_FACTORIES:
        _EXTRA_FACTORIES.append(factory)


def build_components(config: GatewayConfig) -> list[Component]:
    found = factories(config) + _EXTRA_FACTORIES
    return [component for factory in found for component in factory(config)]
