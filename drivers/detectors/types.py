"""What a detector returns: boxes in the pixels of the image it was given."""

from __future__ import annotations

from dataclasses import dataclass

Box = tuple[float, float, float, float]  # x1, y1, x2, y2


@dataclass(frozen=True, slots=True)
class Detection:
    class_id: int
    label: str
    score: float
    box: Box

    def to_dict(self) -> dict[str, object]:
        return {
            "class": self.label,
            "score": round(self.score, 3),
            "box": [round(v, 1) for v in self.box],
        }


class ModelError(Exception):
    """A model cannot be used: missing or corrupt file, unknown name, manifest not matching the network."""
