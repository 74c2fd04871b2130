"""The arithmetic of write actions: ``value: "round(seconds * 10)"`` over the action's arguments.

Kept rather than simpleeval: the language is a whitelist of a dozen AST node types checked once when the profile
loads, compiled and cached, then evaluated with no builtins; simpleeval walks the tree on every call (this runs
on each write) and would add a dependency for the same 30 lines of checks.
"""

from __future__ import annotations

import ast
import functools
import math
from typing import Any

_ALLOWED = (
    ast.Expression,
    ast.BinOp,
    ast.UnaryOp,
    ast.Constant,
    ast.Name,
    ast.Load,
    ast.Call,
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.Div,
    ast.FloorDiv,
    ast.Mod,
    ast.USub,
    ast.IfExp,
    ast.Compare,
    ast.Eq,
    ast.NotEq,
    ast.Lt,
    ast.Gt,
    ast.LtE,
    ast.GtE,
)
_FUNCS = {"round": round, "int": int, "min": min, "max": max}


@functools.cache
def compile_expression(text: str, names: frozenset[str] = frozenset()) -> Any:
    """Compile an arithmetic expression over action arguments; ValueError names anything not allowed."""
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise ValueError(f"expression {text!r}: {exc.msg}") from exc
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED):
            raise ValueError(f"expression {text!r}: {type(node).__name__} is not allowed")
        if isinstance(node, ast.Call) and not (isinstance(node.func, ast.Name) and node.func.id in _FUNCS):
            raise ValueError(f"expression {text!r}: only {', '.join(_FUNCS)} may be called")
        if isinstance(node, ast.Name) and node.id not in _FUNCS and names and node.id not in names:
            raise ValueError(f"expression {text!r}: {node.id!r} is not an argument of the action")
    return compile(tree, "<action>", "eval")


def evaluate(expr: int | str, args: dict[str, Any]) -> int:
    if isinstance(expr, int):
        return expr
    code = compile_expression(expr, frozenset(args))
    value = eval(code, {"__builtins__": {}, **_FUNCS}, dict(args))  # noqa: S307 - whitelisted AST above
    if isinstance(value, bool):
        return int(value)
    if not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"expression {expr!r} gave {value!r}, not a number")
    return int(round(value))
