"""The arguments of a profile's write actions as pydantic models, checked the way every command's are.

``args_model(name, action)`` builds (once per action spec) an ``edge.core.args.Args`` model from the profile's
``args`` (int / float / bool, min, max, default); the dispatcher checks a platform command's ``args`` against it
before the handler runs, and ``check_args`` runs the same model on every write, with the same wording
(``args.channel: Input should be less than or equal to 7``).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BeforeValidator, Field, create_model

from edge.core.args import Args, Number, validate_args
from edge.core.types import CommandError

if TYPE_CHECKING:
    from drivers.profile.models import ActionSpec, ArgSpec

_MODELS: dict[int, tuple[Any, type[Args]]] = {}


def _whole(value: Any) -> Any:
    """An int argument given as a float with no fraction (``3.0``) is that int; ``2.5`` is refused."""
    if isinstance(value, float) and not isinstance(value, bool):
        if not math.isfinite(value) or value != int(value):
            raise ValueError(f"must be a whole number, got {value!r}")
        return int(value)
    return value


WholeNumber = BeforeValidator(_whole)


def _arg_field(spec: ArgSpec) -> tuple[Any, Any]:
    default = ... if spec.default is None else spec.default
    if spec.type == "bool":
        return Annotated[bool, Field(strict=True)], Field(default=default, description=spec.description)
    kind: Any = Annotated[int, Field(strict=True), WholeNumber] if spec.type == "int" else Number
    return kind, Field(default=default, description=spec.description, ge=spec.min, le=spec.max)


def args_model(name: str, action: ActionSpec) -> type[Args]:
    """The arguments of ``action`` (named ``name``) as a model, built once per action spec."""
    cached = _MODELS.get(id(action))
    if cached is None or cached[0] is not action:
        fields = {arg: _arg_field(spec) for arg, spec in action.args.items()}
        cached = (action, create_model(f"{name.title()}Args", __base__=Args, **fields))  # type: ignore[call-overload]
        _MODELS[id(action)] = cached
    return cached[1]


def check_args(action_name: str, action: ActionSpec, args: dict[str, Any]) -> dict[str, Any]:
    """Arguments with defaults filled in; ValueError naming each argument that is missing, unknown or out of
    bounds, worded as the dispatcher words every command's arguments (edge/core/args.py)."""
    try:
        return validate_args(args_model(action_name, action), args).model_dump()
    except CommandError as exc:
        raise ValueError(f"action {action_name!r}: {exc}") from None
