"""Shared pieces of the configuration models: a strict base class and secrets from files or the environment."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator


def require_unique(values: list[str], what: str) -> None:
    """Raise the config error for the first value that appears twice (device ids, bus ids, user names)."""
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"{what} {value!r} is used twice")
        seen.add(value)


class Strict(BaseModel):
    """Base of every config section: unknown keys are errors, models are immutable after load."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Secret(Strict):
    """A secret given inline, in a file (systemd credentials, a mounted secret) or in an environment variable.

    Exactly one of ``value``, ``file`` or ``env`` must be set. The value is read when it is needed, so a
    rotated file takes effect on the next connection.
    """

    value: str | None = Field(default=None, description="inline secret (discouraged outside tests)")
    file: Path | None = Field(default=None, description="file whose content (stripped) is the secret")
    env: str | None = Field(default=None, description="environment variable that holds the secret")

    @model_validator(mode="after")
    def _exactly_one(self) -> Secret:
        given = [name for name in ("value", "file", "env") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of value, file, env (got {', '.join(given) or 'none'})")
        return self

    def reveal(self) -> str:
        if self.value is not None:
            return self.value
        if self.file is not None:
            try:
                return self.file.read_text().strip()
            except OSError as exc:
                raise ValueError(f"secret file {self.file}: {exc.strerror}") from exc
        assert self.env is not None
        try:
            return os.environ[self.env]
        except KeyError:
            raise ValueError(f"environment variable {self.env} is not set") from None
