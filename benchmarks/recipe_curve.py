"""A recipe's held-out kNN after every epoch: what the tuning tables in BENCHMARKS.md come from.

Pretrains ``sslcli pretrain --data ROOT/train`` in this process with the config fields given as JSON
(the folder recipe fills the rest), probes the encoder after each epoch with the same kNN as
``bench_e2e.py`` (cosine, k=20, T=0.1; ``ROOT/train`` as the bank, ``ROOT/test`` scored), and prints
the curve beside the run's random initialisation and the raw input at the run's input size, with the
label-free scores the run logged at its scoring points (RankMe, alpha) and the epoch each criterion
of ``--select`` would keep, against the epoch with the best kNN.

    python benchmarks/image_sets.py glyphs /tmp/sets/glyphs
    python benchmarks/recipe_curve.py /tmp/sets/glyphs '{"time_budget_s": 240, "lr": 0.002}'
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
from pathlib import Path

import torch
from bench_e2e import KnnProbe, sslcli_run
from rich.console import Console
from rich.table import Table

from sslcli.config import PretrainConfig, load_run_config
from sslcli.engine.selection import SCORE_COLUMNS
from sslcli.metrics_csv import read_metrics
from sslcli.models import build_backbone
from sslcli.scoring.label_free import CRITERIA
from sslcli.scoring.raw_input import RawInput


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="a set with train/<class>/ and test/<class>/ folders")
    parser.add_argument("fields", nargs="?", default="{}", help="PretrainConfig fields as JSON")
    args = parser.parse_args()
    fields = {"select": "lidar", **json.loads(args.fields)}  # any criterion: the run scores every one
    probe = KnnProbe(args.root / "train", args.root / "test", torch.device("cpu"))
    curve: list[tuple[int, float, float, dict]] = []  # (epoch, trained seconds, kNN, label-free scores)
    with tempfile.TemporaryDirectory() as out:
        config = PretrainConfig(data=str(args.root / "train"), out=out, device="cpu", **fields)

        def each_epoch(encoder: torch.nn.Module, seconds: float) -> None:
            size = load_run_config(Path(out)).input_size  # the recipe's, as the run recorded it
            scores = last_scores(Path(out) / "metrics.csv")
            curve.append((len(curve) + 1, seconds, probe(encoder, size), scores))

        result = sslcli_run(config, on_epoch_end=each_epoch)
    size = result.config.input_size
    torch.manual_seed(result.config.seed)
    random_init, _ = build_backbone(result.config.backbone, size)
    baselines = f"random init {probe(random_init, size):.3f}, raw input {probe(RawInput(), size):.3f}"
    table = Table()
    for column in ("epoch", "trained", "kNN", *SCORE_COLUMNS, "kept by"):
        table.add_column(column)
    best_knn = max(curve, key=lambda point: point[2])[0]
    kept = {name: kept_epoch(curve, name) for name in CRITERIA}
    for epoch, seconds, knn, scores in curve:
        marks = [name for name, chosen in kept.items() if chosen == epoch] + (
            ["best kNN"] if epoch == best_knn else []
        )
        values = [f"{scores[column]:.3g}" if column in scores else "" for column in SCORE_COLUMNS]
        table.add_row(str(epoch), f"{seconds:.0f} s", f"{knn:.3f}", *values, ", ".join(marks))
    console = Console(width=120)
    console.print(f"{args.root.name} {fields}: {result.config.backbone} at {size} px; {baselines}")
    console.print(table)


def last_scores(metrics: Path) -> dict[str, float]:
    """The label-free scores of the run's newest row, if that row is a scoring point's."""
    rows = read_metrics(metrics)
    return {column: rows[-1][column] for column in SCORE_COLUMNS if rows and math.isfinite(rows[-1][column])}


def kept_epoch(curve: list, criterion: str) -> int | None:
    """The epoch whose weights ``--select criterion`` keeps: the first with the best score."""
    scored = [(CRITERIA[criterion](scores), -epoch) for epoch, _, _, scores in curve if scores]
    return -max(scored)[1] if scored else None


if __name__ == "__main__":
    main()
