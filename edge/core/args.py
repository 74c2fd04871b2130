"""Command arguments: one typed pydantic model per action, checked by the dispatcher before the handler runs.

Every area declares the model of each action next to its handler and registers both
(``ctx.commands.register(action, handler, args=Model)``); the handler then reads ``command.params``, an
instance of that model. Where the arguments depend on the target (a device's profile actions), ``args`` is a
function of the command that returns the model. Every bad argument, whatever the action, is reported the same
way: ``args.<name>: <what is wrong>``, joined by ``; `` (the command's ``failed`` reason).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edge.core.types import Command, CommandError


class Args(BaseModel):
    """Base of every action's arguments: unknown arguments are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# a JSON number: an int or a float, never a string or a boolean (pydantic's strict float takes ints too)
Number = Annotated[float, Field(strict=True, allow_inf_nan=False)]
Text = Annotated[str, Field(strict=True)]

M = TypeVar("M", bound=BaseModel)
ArgsModel = type[BaseModel]
ArgsSpec = ArgsModel | Callable[[Command], ArgsModel | None]


def problems(exc: ValidationError) -> str:
    out = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            message = "unknown argument"
        elif err["type"] == "missing":
            message = "missing"
        else:
            message = str(err["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
        out.append(f"args.{where}: {message}" if where else f"args: {message}")
    return "; ".join(out)


def validate_args(model: type[M], args: dict[str, Any]) -> M:
    """``args`` as ``model``, or a CommandError naming each bad argument."""
    try:
        return model.model_validate(args)
    except ValidationError as exc:
        raise CommandError(problems(exc)) from None


def model_for(spec: ArgsSpec | None, command: Command) -> ArgsModel | None:
    if spec is None:
        return None
    if isinstance(spec, type):
        return spec
    return spec(command)
