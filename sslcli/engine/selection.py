"""``--select``: which weights become ``encoder.safetensors``, chosen without labels.

At up to ``SCORING_POINTS`` epoch ends spread evenly over the run (always its last), the backbone embeds
a fixed subset of at most ``SCORED_ITEMS`` training items (eval transform, eval mode) and, for LiDAR,
``LIDAR_VIEWS`` augmented views of each of an eighth of them (the training views, drawn the same at
every scoring, with the random state restored after: scoring never changes the training); the criteria
of ``scoring.label_free`` score the embeddings, and every score goes to metrics.csv and the trackers.
Weights that beat the best score so far of the chosen criterion are written to
``checkpoints/selected.safetensors`` (a signed encoder file recording where they came from); at the end
they become ``encoder.safetensors`` and the last weights ``encoder_last.safetensors``. ``--select last``
scores nothing and keeps the last weights. A run's early epochs can carry features its later ones lose
(SimCLR on aligned glyphs peaked after one or two epochs); whether a criterion finds them is measured
per epoch against the kNN (BENCHMARKS.md, "Label-free checkpoint selection").
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import torch

from sslcli.data.loader import collate
from sslcli.domains.base import Sample, only_input
from sslcli.engine.encoder_file import ENCODER_CHECKSUM_KEY, read_encoder_tensors, save_encoder, write_signed
from sslcli.engine.features import EveryInput, feature_batches
from sslcli.engine.memory_plan import cuda_devices
from sslcli.run_dir import ENCODER, ENCODER_LAST, SELECTED
from sslcli.scoring.label_free import CRITERIA, label_free_scores

SCORED_ITEMS = 512  # embeddings per scoring: enough for the rank of a 512-wide feature, seconds on a CPU
MIN_SCORED_ITEMS = 64
SCORING_POINTS = 8
SCORING_SHARE = 0.04  # of a time budget, for every scoring together (the plan keeps 10% spare)
LIDAR_VIEWS = 8  # augmentations of each surrogate class (item)
MIN_LIDAR_ITEMS = 16
AUGMENTATION_EPOCH = 2**40  # the epoch keys of the scoring's augmentations: draws no training epoch makes
SCORE_COLUMNS = ("rankme", "alpha", "lidar")  # metrics.csv's columns of the scores (NaN on other rows)
SELECTION_KEY = "selection"  # encoder metadata: JSON {criterion, epoch, step, score} of the weights chosen


def scoring_epochs(epochs: int) -> set[int]:
    """Epoch counts (1 = after the first epoch) at which a run of ``epochs`` epochs scores its weights:
    every one, or ``SCORING_POINTS`` spread evenly, the last always among them."""
    if epochs <= SCORING_POINTS:
        return set(range(1, epochs + 1))
    return {math.ceil(k * epochs / SCORING_POINTS) for k in range(1, SCORING_POINTS + 1)}


def scored_count(budget_s: float | None, item_s: float | None) -> int:
    """Items each scoring embeds: ``SCORED_ITEMS``, fewer where a time budget would spend more than
    ``SCORING_SHARE`` on scoring at ``item_s`` an item (a training step's cost per item, several times
    what embedding one costs), at least ``MIN_SCORED_ITEMS``."""
    if budget_s is None or item_s is None:
        return SCORED_ITEMS
    affordable = SCORING_SHARE * budget_s / (SCORING_POINTS * max(item_s, 1e-9))
    return int(min(SCORED_ITEMS, max(MIN_SCORED_ITEMS, affordable)))


def scored_subset(items: Sequence, count: int = SCORED_ITEMS) -> list:
    """At most ``count`` of ``items``, evenly spaced: the same ones at every scoring."""
    step = max(1, math.ceil(len(items) / count))
    return list(items[::step])


class Selection:
    """Scores and keeps the weights of one run; the best scoring so far lives in the trainer's
    ``TrainState`` (saved in every checkpoint; ``selected_epoch`` is 0 until the first scoring)."""

    def __init__(self, criterion: str, run_dir: Path):
        self.criterion, self.run_dir = criterion, run_dir

    @property
    def active(self) -> bool:
        return self.criterion != "last"

    def due(self, epochs_done: int, epochs: int) -> bool:
        return self.active and epochs_done in scoring_epochs(epochs)

    def consider(
        self,
        state,
        embeddings: torch.Tensor,
        augmented: torch.Tensor,
        backbone: torch.nn.Module,
        metadata: dict[str, str],
    ) -> dict:
        """Score the (N, F) ``embeddings`` and (n, q, F) ``augmented`` ones of the weights in ``backbone``
        at the last step of the ``state``'s epoch; keep the weights if they beat the best so far.
        Returns the scores, for the logs."""
        scores = label_free_scores(embeddings, augmented)
        score = CRITERIA[self.criterion](scores)
        best = state.selected_score
        if state.selected_epoch == 0 or (math.isfinite(score) and not score <= best):
            chosen = {"criterion": self.criterion, "epoch": state.epoch + 1, "step": state.step}
            chosen["score"] = score if math.isfinite(score) else None
            save_encoder(self.run_dir / SELECTED, backbone, {**metadata, SELECTION_KEY: json.dumps(chosen)})
            state.selected_epoch, state.selected_step = state.epoch + 1, state.step
            state.selected_score = score if math.isfinite(score) else math.nan
        return scores

    def write_encoders(self, state, backbone: torch.nn.Module, metadata: dict[str, str]) -> str | None:
        """``encoder.safetensors`` (the selected weights, or the last without a selection) and, with a
        selection, ``encoder_last.safetensors``; returns a line saying which weights were chosen."""
        selected = self.run_dir / SELECTED
        if not self.active or state.selected_epoch == 0 or not selected.is_file():
            save_encoder(self.run_dir / ENCODER, backbone, metadata)
            return None
        tensors, chosen = read_encoder_tensors(selected)
        write_signed(
            self.run_dir / ENCODER, tensors, {k: v for k, v in chosen.items() if k != ENCODER_CHECKSUM_KEY}
        )
        save_encoder(self.run_dir / ENCODER_LAST, backbone, metadata)
        record = json.loads(chosen[SELECTION_KEY])
        return (
            f"encoder.safetensors: the weights after epoch {record['epoch']} (step {record['step']}), "
            f"best by {record['criterion']}; the last weights are in encoder_last.safetensors"
        )


def lidar_positions(subset_positions: Sequence[int]) -> list[int]:
    """The surrogate classes of LiDAR: every ``LIDAR_VIEWS``-th of the scored items' positions (at least
    ``MIN_LIDAR_ITEMS`` where there are as many), so its embeddings cost what the subset's do."""
    count = max(MIN_LIDAR_ITEMS, len(subset_positions) // LIDAR_VIEWS)
    return list(scored_subset(subset_positions, count))


def augmented_views(dataset, position: int) -> list[Sample] | None:
    """``LIDAR_VIEWS`` training views of one item shaped alike (a multi-crop's global crops), from one
    decode; None for an item that fails."""
    try:
        sample = dataset.domain.load(dataset.items[position])
        views: list[Sample] = []
        for draw in range(2 * LIDAR_VIEWS):
            drawn = dataset.draw(sample, AUGMENTATION_EPOCH + draw, position)
            shape = {name: tensor.shape for name, tensor in (views or drawn)[0].items()}
            views += [view for view in drawn if {n: t.shape for n, t in view.items()} == shape]
            if len(views) >= LIDAR_VIEWS:
                return views[:LIDAR_VIEWS]
    except Exception:  # a bad item is training's to report; scoring passes over it
        return None
    return None


@torch.inference_mode()
def augmented_embeddings(encoder, dataset, positions: list[int], batch_augment, device, batch_size: int):
    """(n, LIDAR_VIEWS, F) embeddings of the items at ``positions`` that decode: each item's views, with
    the domain's batch augmentation, through ``encoder`` in eval mode (it takes a dict of inputs where
    there are several, else the one input)."""
    encoder.eval()
    kept = [(position, views) for position in positions if (views := augmented_views(dataset, position))]
    per_batch = max(1, batch_size // LIDAR_VIEWS)
    rows = []
    for start in range(0, len(kept), per_batch):
        batch = collate(kept[start : start + per_batch])
        views = batch_augment([{n: t.to(device) for n, t in view.items()} for view in batch.views])
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda"):
            features = [encoder(view if len(view) > 1 else only_input(view)) for view in views]  # q x (b, F)
        rows.append(torch.stack(features, dim=1).float().cpu())  # (b, q, F)
    return torch.cat(rows) if rows else torch.empty(0, LIDAR_VIEWS, 0)


def score_weights(
    selection: Selection,
    state,
    backbone: torch.nn.Module,
    domain,
    items: list,
    dataset,
    config,
    device: torch.device,
    skips,
    metadata: dict[str, str],
) -> dict[str, float]:
    """At a scoring point: the label-free scores of ``backbone``'s embeddings of the scored subset of
    ``items`` (and of augmented views of some, for LiDAR), the weights kept when they are the best so
    far. The random state is restored after, so scoring leaves the training as it was; the backbone
    is left in eval mode."""
    several = isinstance(backbone, torch.nn.ModuleDict)  # a clip and its sound: both encoders' features
    encoder = EveryInput(backbone) if several else backbone
    positions = scored_subset(range(len(items)), state.scored_items)
    with torch.random.fork_rng(devices=cuda_devices(device)):
        subset = [items[p] for p in positions]
        batches = feature_batches(
            encoder, domain, subset, config.input_size, config.batch_size, device, skips,
            config.num_workers, whole_sample=several,
        )  # fmt: skip
        embeddings = torch.cat([features for kept, features, _ in batches if kept])  # (N, F)
        augmented = augmented_embeddings(
            encoder, dataset, lidar_positions(positions), domain.batch_augment, device, config.batch_size
        )  # (n, q, F)
    return selection.consider(state, embeddings, augmented, backbone, metadata)
