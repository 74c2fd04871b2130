"""Arguments of the gate's platform commands, validated into typed models (errors name the argument).

Commands arrive verified (signature, expiry, replay) by the core dispatcher, which also checks ``args``
against these models (edge/core/args.py) before a handler runs. Photos travel as base64 JPEG/PNG strings.
"""

from __future__ import annotations

import base64
import binascii

from pydantic import Field, field_validator, model_validator

from edge.core.configbase import Strict

MAX_PHOTOS = 20


class UnlockArgs(Strict):
    gate: str | None = Field(default=None, description="gate id (default: the command's target)")
    by: str | None = Field(default=None, max_length=200, description="who asked, for the access log")
    reason: str | None = Field(default=None, max_length=300, description="why the gate is opened, for the access log")


class Photos(Strict):
    photos: list[str] = Field(min_length=1, max_length=MAX_PHOTOS, description="base64 JPEG or PNG photos")
    keep_photos: bool = Field(default=False, description="keep the photos in the store, not only the encodings")

    @field_validator("photos")
    @classmethod
    def _base64(cls, photos: list[str]) -> list[str]:
        for i, photo in enumerate(photos):
            try:
                base64.b64decode(photo, validate=True)
            except (binascii.Error, ValueError):
                raise ValueError(f"photo {i} is not valid base64") from None
        return photos

    def photo_bytes(self) -> list[tuple[str, bytes]]:
        return [(f"photo {i}", base64.b64decode(p)) for i, p in enumerate(self.photos)]


class EnrolResidentArgs(Photos):
    name: str = Field(min_length=1, max_length=200, description="the resident's name")
    gates: list[str] = Field(default_factory=lambda: ["*"], min_length=1, description="gate ids, or '*' for all")
    valid_from: float | None = Field(default=None, description="epoch seconds; None: from now")
    valid_until: float | None = Field(default=None, description="epoch seconds; None: no end")


class RemoveResidentArgs(Strict):
    resident: str = Field(min_length=1, description="resident id, or a name only one resident has")
    revoke_only: bool = Field(
        default=False, description="keep the record and encodings (the person is recognised and denied)"
    )


class IssueVisitorPassArgs(Photos):
    name: str = Field(min_length=1, max_length=200, description="the visitor's name")
    gates: list[str] = Field(min_length=1, description="gate ids the pass opens")
    valid_from: float = Field(description="epoch seconds")
    valid_until: float = Field(description="epoch seconds")
    max_uses: int = Field(default=1, ge=1, le=1000, description="how many times the pass opens a gate")

    @model_validator(mode="after")
    def _window(self) -> IssueVisitorPassArgs:
        if self.valid_until <= self.valid_from:
            raise ValueError("valid_until must be after valid_from")
        return self


class RevokeVisitorPassArgs(Strict):
    pass_id: str = Field(min_length=1, description="id returned by issue_visitor_pass, or the id of a signed QR pass")
