"""Every registered method for images on the built-in digits: pretrain for a fixed budget, then kNN accuracy.

Each method pretrains with the natural domain's digits recipe (16 px, its view options) for the same
number of epochs and batch size, through sslcli's own engine, on the train split or a class-balanced
subset of it (``--train-items``, for CPU budgets). The held-out digits are then scored with the
weighted kNN of ``sslcli eval`` (k=20, T=0.1; bank: the train split or ``--bank-items`` of it; queries:
the whole test split) for the trained encoder and for its random-init twin (same architecture and
seed). Seconds are the pretraining wall time (data loading included). Never asserts anything;
timings on shared machines vary by +-50%.

    python benchmarks/bench_methods.py                       # 20 epochs, batch 256, recipe backbones
    python benchmarks/bench_methods.py --epochs 1 --batch-size 32 --train-items 128 --bank-items 400 \\
        --backbone resnet10 --num-workers 0                  # a contended 2-core CPU
    python benchmarks/bench_methods.py --methods simclr,byol,mae
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from sslcli.config import PretrainConfig
from sslcli.data.skips import SkipLog
from sslcli.engine.features import feature_batches
from sslcli.engine.launch import pretrain
from sslcli.engine.setup import resolve_device
from sslcli.jobs.encoder import open_trained_run, random_init_encoder, trained_encoder
from sslcli.jobs.evaluate import labelled_items
from sslcli.registry import DOMAINS, METHODS
from sslcli.scoring.knn import knn_predict


def features(encoder, items, input_size: int, device) -> torch.Tensor:
    """Pooled features (N, F) of labelled digits, in item order."""
    natural, skips = DOMAINS["natural"](), SkipLog("raise", Path("."))
    batches = feature_batches(encoder, natural, items, input_size, 256, device, skips)
    return torch.cat([batch for _, batch, _ in batches])


def spread(items: list, count: int | None) -> list:
    """``count`` items evenly spaced through the list (sorted by class folder, so every class
    contributes in proportion); all of them when ``count`` is None."""
    if count is None or count >= len(items):
        return items
    return [items[i * len(items) // count] for i in range(count)]


def knn_accuracy(encoder, input_size: int, device, bank_items: int | None) -> float:
    """Weighted kNN (k=20, T=0.1, as ``sslcli eval``) from the digits' train split (or ``bank_items``
    of it) to their whole test split."""
    natural = DOMAINS["natural"]()
    train, test = (labelled_items(natural, root) for root in natural.builtin_sample())
    train = spread(train, bank_items)
    classes = sorted({item.label for item in train})
    train_y = torch.tensor([classes.index(item.label) for item in train])
    test_y = torch.tensor([classes.index(item.label) for item in test])
    train_x, test_x = (
        features(encoder, train, input_size, device),
        features(encoder, test, input_size, device),
    )
    return (knn_predict(train_x, train_y, test_x, len(classes), 20, 0.1) == test_y).float().mean().item()


def training_subset(count: int | None, root: Path) -> str | None:
    """A folder with ``count`` digits of the train split, every class equally (None: the whole split)."""
    if count is None:
        return None
    natural = DOMAINS["natural"]()
    for item in spread(labelled_items(natural, natural.builtin_sample()[0]), count):
        target = root / "subset" / item.rel_path
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(item.path, target)
    return str(root / "subset")


def run_method(
    name: str, args: argparse.Namespace, root: Path, baselines: dict
) -> tuple[float, float, float]:
    """(kNN accuracy, random-init kNN accuracy, pretraining seconds) of one method."""
    method_cls = METHODS[name]
    backbone = None if method_cls.default_backbone else args.backbone  # MAE keeps its ViT
    config = PretrainConfig(
        method=name,
        data=args.data,
        out=str(root / name),
        epochs=args.epochs,
        batch_size=args.batch_size,
        num_workers=args.num_workers,
        device=args.device,
        seed=args.seed,
        backbone=backbone,
        log_every=1_000_000,
    )
    start = time.perf_counter()
    pretrain(config, False, Console(quiet=True))
    seconds = time.perf_counter() - start
    run = open_trained_run(root / name)
    (encoder, _), saved = trained_encoder(run), run.config
    device = resolve_device(args.device)
    if saved.backbone not in baselines:  # the random-init twin depends only on architecture and seed
        baselines[saved.backbone] = knn_accuracy(
            random_init_encoder(run), saved.input_size, device, args.bank_items
        )
    return (
        knn_accuracy(encoder, saved.input_size, device, args.bank_items),
        baselines[saved.backbone],
        seconds,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--backbone", default=None, help="every method but MAE (default: recipe's)")
    parser.add_argument("--methods", default=None, help="comma-separated subset (default: all)")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--num-workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bank-items", type=int, default=None, help="kNN bank size (default: train split)")
    parser.add_argument("--train-items", type=int, default=None, help="digits to pretrain on (default: all)")
    args = parser.parse_args()
    natural = DOMAINS["natural"]
    natural_inputs = natural().inputs(natural.default_input_size)
    image_methods = [name for name, cls in METHODS.items() if cls.fits(natural_inputs)]
    names = args.methods.split(",") if args.methods else image_methods
    table = Table(
        title=f"digits: {args.epochs} epoch(s), {args.train_items or 'all'} items, batch {args.batch_size}"
    )
    for column in ("method", "backbone", "kNN acc", "random-init kNN", "seconds"):
        table.add_column(column, justify="right" if column not in ("method", "backbone") else "left")
    console = Console()
    baselines: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-methods-") as tmp:
        args.data = training_subset(args.train_items, Path(tmp))
        for name in names:
            knn, random_knn, seconds = run_method(name, args, Path(tmp), baselines)
            backbone = METHODS[name].default_backbone or args.backbone or "recipe"
            table.add_row(name, backbone, f"{knn:.3f}", f"{random_knn:.3f}", f"{seconds:.0f}")
            print(f"{name}: kNN {knn:.3f} (random init {random_knn:.3f}) in {seconds:.0f} s", flush=True)
    console.print(table)


if __name__ == "__main__":
    main()
