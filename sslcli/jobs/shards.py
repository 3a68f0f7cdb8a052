"""Which slice of a corpus one embed process takes: ``--shard i/n`` or, under torchrun, rank/world.

Shard ``i`` of ``n`` takes the contiguous range ``[i*N//n, (i+1)*N//n)`` of the sorted item list, so
the shards are disjoint, cover every item, differ in size by at most one, and their parts
concatenated in shard order keep the corpus order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sslcli.distributed import World, current_world
from sslcli.errors import UserError

_SPEC = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")


@dataclass(frozen=True)
class Shard:
    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise UserError(f"--shard {self.index}/{self.count}: need 0 <= i < n (0-based i, n >= 1)")

    @classmethod
    def parse(cls, text: str) -> Shard:
        match = _SPEC.fullmatch(text)
        if match is None:
            raise UserError(f"--shard {text!r}: expected i/n with 0-based i, e.g. 0/4")
        return cls(int(match.group(1)), int(match.group(2)))

    @property
    def whole(self) -> bool:
        """The one shard of an unsharded job (written in the flat layout)."""
        return self.count == 1

    @property
    def name(self) -> str:
        return f"part-{self.index}-of-{self.count}"

    def bounds(self, items: int) -> tuple[int, int]:
        """``(start, stop)`` positions of this shard in a sorted list of ``items`` items."""
        return self.index * items // self.count, (self.index + 1) * items // self.count

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def resolve_shard(flag: str | Shard | None, world: World | None = None) -> Shard:
    """The shard of this process: ``--shard`` if given, else rank/world under torchrun, else 0/1.

    Both at once must agree (a launcher that sets WORLD_SIZE and a ``--shard`` that says otherwise
    would write two processes into one part).
    """
    world = current_world() if world is None else world
    from_world = Shard(world.rank, world.size)
    if flag is None:
        return from_world
    shard = flag if isinstance(flag, Shard) else Shard.parse(flag)
    if not world.alone and shard != from_world:
        raise UserError(
            f"--shard {shard} disagrees with torchrun's RANK={world.rank} WORLD_SIZE={world.size}; "
            "drop --shard (each rank takes its own shard) or run without torchrun"
        )
    return shard
