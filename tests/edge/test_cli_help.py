"""The command line's help reads cleanly: no stray type names beside flags."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from edge.cli import app


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["demo", "--help"],
        ["status", "--help"],
        ["watch", "--help"],
        ["run", "--help"],
        ["keys", "--help"],
        ["web", "--help"],
    ],
)
def test_help_shows_no_bool_placeholder(args: list[str]) -> None:
    result = CliRunner().invoke(app, args, terminal_width=100)
    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.output
    assert "--help" in result.output


def test_demo_help_still_describes_its_flags() -> None:
    output = CliRunner().invoke(app, ["demo", "--help"]).output
    assert "--watch / --lines" in output and "terminal view or one line per event" in output
