"""Block planning: merge a profile's fields into as few read transactions as its register map allows."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import TYPE_CHECKING

from drivers.modbus import MAX_READ, Table

if TYPE_CHECKING:
    from drivers.profile.models import FieldSpec, Profile


@dataclass(frozen=True, slots=True)
class Block:
    """One read transaction: ``count`` items from ``address`` of ``table`` on ``part``, and the fields in it."""

    part: str
    table: Table
    address: int
    count: int
    fields: tuple[FieldSpec, ...]
    # per field: a plain uint16 register (no sentinel, scale, offset or rounding), whose value is the word itself
    plain: tuple[bool, ...] = dc_field(init=False, repr=False, compare=False)
    # when every word of the block is one plain field, in order: their keys (the values are the words)
    word_keys: tuple[str, ...] | None = dc_field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        plain = tuple(
            not f.table.is_bits
            and f.type == "uint16"
            and not f.sentinels
            and f.scale == 1
            and f.offset == 0
            and f.round is None
            for f in self.fields
        )
        object.__setattr__(self, "plain", plain)
        one_per_word = all(plain) and [f.address for f in self.fields] == list(
            range(self.address, self.address + self.count)
        )
        object.__setattr__(self, "word_keys", tuple(f.key for f in self.fields) if one_per_word else None)


def plan_blocks(profile: Profile) -> list[Block]:
    """Merge the fields into as few reads as the map allows (contiguous, or gaps up to ``max_gap``)."""
    groups: dict[tuple[str, Table], list[FieldSpec]] = {}
    for f in profile.fields:
        groups.setdefault((f.part, f.table), []).append(f)
    blocks: list[Block] = []
    for (part, table), fields in groups.items():
        fields.sort(key=lambda f: f.address)
        current: list[FieldSpec] = []
        start = end = 0
        for f in fields:
            f_end = f.address + f.words
            if current and f.address - end <= profile.max_gap and max(end, f_end) - start <= MAX_READ[table]:
                current.append(f)
                end = max(end, f_end)
                continue
            if current:
                blocks.append(Block(part, table, start, end - start, tuple(current)))
            current, start, end = [f], f.address, f_end
        blocks.append(Block(part, table, start, end - start, tuple(current)))
    return blocks
