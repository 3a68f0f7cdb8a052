"""The items a run trains on: which are usable, each rank's micro-batches of an epoch, and the pooled
features of every item (for methods that cluster them)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import torch

from sslcli.config import PretrainConfig
from sslcli.data.datasets import scan_items
from sslcli.data.loader import epoch_batches
from sslcli.data.skips import SkipLog
from sslcli.distributed import World, gather_rows
from sslcli.domains import Domain, Item
from sslcli.engine.features import feature_batches
from sslcli.reporting.progress import item_progress

Batches = list[list[tuple[int, int]]]  # micro-batches of (epoch, item position) keys


def usable_items(
    items: list[Item],
    domain: Domain,
    config: PretrainConfig,
    skips: SkipLog,
    skipped_csv: Path,
    resuming_same_data: bool,
    world: World,
    console,
) -> list[Item]:
    """The items training draws from.

    By default every item found: a bad file is met when a batch decodes it (``raise`` stops with it
    named, ``skip`` drops it from that batch and lists it). With ``check_data`` every file is decoded
    first and only the usable ones are kept (on resume, read back from ``skipped_csv``). Either way
    the list is fixed for the run, so a resumed epoch replays the same order. Under torchrun the
    other ranks take rank 0's list (it has written it before they start).
    """
    if not world.is_main:
        if not config.check_data:
            return list(items)
        skips.read(skipped_csv)
        return skips.kept(items)
    if resuming_same_data and skipped_csv.is_file():
        skips.read(skipped_csv)
        if config.check_data:
            return skips.kept(items)
    if not config.check_data:
        return list(items)
    with item_progress(console, config.log_every_s) as progress:
        return scan_items(domain, items, skips, config.num_workers, progress)


def rank_batches(
    count: int, config: PretrainConfig, world: World, epoch: int, weights: torch.Tensor | None
) -> Batches:
    """This rank's micro-batches of ``epoch`` over ``count`` items: its slice of each global batch,
    whose order depends on the seed and epoch only, so that N ranks with batch B train on what one
    process with batch N x B would, and a resumed epoch replays it. ``weights``: the method's
    sampling weights (None: a shuffled pass)."""
    size = config.batch_size
    batches = epoch_batches(count, size * world.size, config.seed, epoch, weights)
    return [batch[world.rank * size : (world.rank + 1) * size] for batch in batches]


def batches_ahead(
    epoch: int,
    first: int,
    micro_per_epoch: int,
    epochs: Callable[[], int],
    epoch_batches_of: Callable[[int], Batches],
    one_epoch: bool,
) -> Iterator[list[tuple[int, int]]]:
    """This rank's micro-batches from batch ``first`` of ``epoch`` on: the rest of that epoch, then
    (unless ``one_epoch``: a method that draws each epoch's items) the next epochs', drawn as the
    loader asks for them, so that its workers decode across an epoch's end instead of the pipeline
    draining there. ``epochs()`` is read as the loader goes (a budget may plan fewer); what was
    decoded ahead of the end is dropped."""
    while epoch < epochs():
        yield from epoch_batches_of(epoch)[first:micro_per_epoch]
        if one_epoch:
            return
        epoch, first = epoch + 1, 0


def item_features(
    backbone: torch.nn.Module,
    feature_dim: int,
    domain: Domain,
    items: list[Item],
    config: PretrainConfig,
    device: torch.device,
    skips: SkipLog,
    world: World,
) -> torch.Tensor:
    """Pooled backbone features (N, F) of every training item (eval transform, eval mode), on CPU.

    Under torchrun each rank embeds every ``size``-th item from its rank on; the rows are gathered so
    that every rank returns all N. The backbone is left in eval mode."""
    rank, size, count = world.rank, world.size, len(items)
    per_rank = -(-count // size)  # ceil: rank r holds items r, r + size, ...
    local = torch.zeros(per_rank, feature_dim)
    batches = feature_batches(
        backbone, domain, items[rank::size], config.input_size, config.batch_size, device, skips,
        config.num_workers,
    )  # fmt: skip
    for positions, batch_features, _ in batches:
        local[positions] = batch_features
    gathered = gather_rows(local.to(device)).cpu()  # (size * per_rank, F), rank-major
    # row j of rank r is item r + size * j: read the gathered rows column-major
    by_item = gathered.view(size, per_rank, -1).transpose(0, 1).reshape(size * per_rank, -1)
    return by_item[:count]
