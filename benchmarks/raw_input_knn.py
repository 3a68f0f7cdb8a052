"""The raw-input baseline: eval's kNN on what the encoder would see (``RawInput``), with no encoder.

A pretrained encoder is worth having where its kNN beats both its random-init twin (``sslcli eval``
reports that) and the inputs themselves: this prints the second number for a domain's built-in
sample (or ``--data``/``--test-data``), through eval's own loading, eval view and ``knn_predict``.

    python benchmarks/raw_input_knn.py --domain audio [--input-size 96] [--k 20] [--temperature 0.1]
"""

from __future__ import annotations

import argparse
import datetime
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from sslcli.data.skips import SkipLog
from sslcli.engine.features import feature_batches
from sslcli.engine.setup import builtin_sample
from sslcli.jobs.evaluate import labelled_items
from sslcli.registry import DOMAINS
from sslcli.scoring.knn import knn_predict
from sslcli.scoring.raw_input import RawInput


def raw_features(domain, root: Path, input_size: int) -> tuple[torch.Tensor, list[str]]:
    """(N, D) eval views as eval's raw-input column sees them (``RawInput``), and their labels."""
    items = labelled_items(domain, root)
    rows = []
    for positions, features, _ in feature_batches(
        RawInput(), domain, items, input_size, 256, torch.device("cpu"), SkipLog("raise", root)
    ):
        rows.extend(zip(positions, features, strict=True))
    return torch.stack([row for _, row in rows]), [items[position].label for position, _ in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domain", default="natural")
    parser.add_argument("--data", type=Path)
    parser.add_argument("--test-data", type=Path)
    parser.add_argument("--input-size", type=int)
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--temperature", type=float, default=0.1)
    args = parser.parse_args()
    domain = DOMAINS[args.domain]()
    train_root, test_root = (args.data, args.test_data) if args.data else builtin_sample(domain)
    input_size = args.input_size or domain.default_input_size
    train, train_labels = raw_features(domain, train_root, input_size)  # statistics from train first
    test, test_labels = raw_features(domain, test_root, input_size)
    classes = sorted(set(train_labels))
    index = {label: i for i, label in enumerate(classes)}
    predicted = knn_predict(
        train, torch.tensor([index[x] for x in train_labels]), test, len(classes), args.k, args.temperature
    )
    truth = torch.tensor([index.get(x, -1) for x in test_labels])
    table = Table(title=f"raw-input kNN (k={args.k}, T={args.temperature}), {datetime.date.today()}")
    for column in ("domain", "train", "test", "input dims", "kNN accuracy"):
        table.add_column(column)
    accuracy = (predicted == truth).float().mean().item()
    table.add_row(args.domain, str(len(train)), str(len(test)), str(train.shape[1]), f"{accuracy:.3f}")
    Console().print(table)


if __name__ == "__main__":
    main()
