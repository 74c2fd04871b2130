"""The live views' CLI: `edge web hash-password` and the options of `edge watch`."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from edge.platform.cli import register as register_platform
from edge.web.cli import register
from edge.web.passwords import verify_password


def app() -> typer.Typer:
    root = typer.Typer()

    @root.callback()
    def main() -> None:
        """test root"""

    register(root)
    register_platform(root)
    return root


def test_hash_password_prints_a_hash_that_verifies() -> None:
    result = CliRunner().invoke(app(), ["web", "hash-password", "--stdin"], input="guard room pw\n")
    assert result.exit_code == 0, result.output
    encoded = result.stdout.strip()
    assert encoded.startswith("scrypt$") and verify_password("guard room pw", encoded)


def test_hash_password_refuses_an_empty_password() -> None:
    result = CliRunner().invoke(app(), ["web", "hash-password", "--stdin"], input="\n")
    assert result.exit_code == 1
    assert "empty" in result.output


def test_watch_names_a_missing_key_file(tmp_path) -> None:
    config = tmp_path / "gw.yaml"
    config.write_text("site_id: s\ngateway_id: g\n")
    result = CliRunner().invoke(app(), ["watch", "--config", str(config), "--key", str(tmp_path / "nope.pem")])
    assert result.exit_code == 2
    assert "nope.pem" in result.output
