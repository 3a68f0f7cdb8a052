"""Shard arithmetic and the rank/world read from torchrun's environment (no model, no files)."""

from __future__ import annotations

import pytest

from sslcli.distributed import World, current_world
from sslcli.errors import UserError
from sslcli.jobs.shards import Shard, resolve_shard


@pytest.mark.parametrize("items", [0, 1, 5, 36, 37, 1000])
@pytest.mark.parametrize("count", [1, 2, 3, 7, 40])
def test_shards_are_contiguous_disjoint_and_cover_every_item(items, count):
    ranges = [range(*Shard(i, count).bounds(items)) for i in range(count)]
    assert [p for r in ranges for p in r] == list(range(items))  # in order, each item once
    sizes = [len(r) for r in ranges]
    assert max(sizes) - min(sizes) <= 1


def test_parse_and_name():
    assert Shard.parse("2/5") == Shard(2, 5) and Shard.parse(" 0 / 1 ") == Shard()
    assert Shard(2, 5).name == "part-2-of-5" and str(Shard(2, 5)) == "2/5"
    assert Shard(0, 1).whole and not Shard(0, 2).whole


@pytest.mark.parametrize("text", ["5/5", "1/0", "-1/3", "x", "1/2/3", ""])
def test_bad_shards_are_user_errors(text):
    with pytest.raises(UserError, match="--shard"):
        Shard.parse(text)


@pytest.fixture
def alone(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_a_process_alone_is_rank_0_of_1(alone):
    assert current_world() == World(0, 1, 0) and current_world().alone
    assert resolve_shard(None) == Shard(0, 1)
    assert resolve_shard("1/4") == Shard(1, 4)


def test_torchrun_environment_sets_the_world_and_the_shard(alone):
    alone.setenv("RANK", "3")
    alone.setenv("WORLD_SIZE", "4")
    alone.setenv("LOCAL_RANK", "1")
    assert current_world() == World(3, 4, 1)
    assert resolve_shard(None) == Shard(3, 4)
    assert resolve_shard("3/4") == Shard(3, 4)  # agreeing is fine
    with pytest.raises(UserError, match="disagrees with torchrun"):
        resolve_shard("0/4")


def test_a_world_of_one_from_the_environment_is_alone(alone):
    alone.setenv("RANK", "0")
    alone.setenv("WORLD_SIZE", "1")
    assert current_world().alone
    assert resolve_shard("2/3") == Shard(2, 3)  # torchrun with one process: --shard still applies


@pytest.mark.parametrize(("rank", "size"), [("4", "4"), ("-1", "2"), ("one", "2"), ("0", "0")])
def test_a_broken_environment_is_a_user_error(alone, rank, size):
    alone.setenv("RANK", rank)
    alone.setenv("WORLD_SIZE", size)
    with pytest.raises(UserError, match="RANK|WORLD_SIZE"):
        current_world()
