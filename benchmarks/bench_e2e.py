"""End to end, side by side in one run: sslcli's SimCLR against Lightly's SimCLR recipe on image files.

1. Throughput: the same ResNet-18 (small-image stem) at 32 px, the same batch, precision and loader
   workers, on the same files; sslcli through its own engine (``sslcli pretrain``), Lightly through
   its documented recipe (``LightlyDataset``, ``SimCLRTransform``, ``NTXentLoss``, the projection head
   ``SimCLRProjectionHead(512, 512, 128)``, SGD at lr 0.06). Images per second, median over the steps
   after the first two of each run (each step sees two views of every item), in ``--rounds`` rounds
   whose order alternates.
2. Equal wall time: ``sslcli pretrain --data TRAIN`` with no flags (its default recipe and, on a CPU,
   its default time budget), then Lightly's recipe at 32 px for as long as sslcli's run took. Both are
   scored by the same kNN (cosine, k=20, T=0.1) on the held-out ``--test-data``, next to their random
   initialisations and the raw pixels; every epoch end is probed, so the table also gives the time
   each first reached ``--target`` kNN (probe time excluded).

    python benchmarks/image_sets.py mnist5k /tmp/sets/mnist5k   # or any class-folder image set
    python benchmarks/bench_e2e.py --data /tmp/sets/mnist5k/train --test-data /tmp/sets/mnist5k/test

Lightly is installed in the benchmark environment only (``pip install -e ".[peers]"``).
"""

from __future__ import annotations

import argparse
import csv
import datetime
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from sslcli.config import PretrainConfig, load_run_config
from sslcli.data.skips import SkipLog
from sslcli.engine.features import feature_batches
from sslcli.engine.launch import pretrain
from sslcli.engine.time_budget import parse_duration
from sslcli.jobs.evaluate import labelled_items
from sslcli.models import build_backbone
from sslcli.registry import DOMAINS
from sslcli.scoring.knn import knn_predict
from sslcli.scoring.raw_input import RawInput

THROUGHPUT_SIZE = 32
WARM_STEPS = 2


class KnnProbe:
    """kNN accuracy of an encoder on fixed train/test folders, through eval's own loading and views."""

    def __init__(self, train: Path, test: Path, device: torch.device):
        self.domain, self.device = DOMAINS["natural"](), device
        self.train, self.test = labelled_items(self.domain, train), labelled_items(self.domain, test)
        self.classes = sorted({item.label for item in self.train})

    def features(self, encoder: torch.nn.Module, items, input_size: int) -> torch.Tensor:
        skips = SkipLog("raise", Path("."))
        rows = feature_batches(encoder, self.domain, items, input_size, 256, self.device, skips)
        return torch.cat([features for _, features, _ in rows])  # (N, F)

    def labels(self, items) -> torch.Tensor:
        return torch.tensor([self.classes.index(item.label) for item in items])  # (N,)

    def __call__(self, encoder: torch.nn.Module, input_size: int) -> float:
        was_training = encoder.training
        train = self.features(encoder, self.train, input_size)
        test = self.features(encoder, self.test, input_size)
        encoder.train(was_training)
        predicted = knn_predict(train, self.labels(self.train), test, len(self.classes))
        return float((predicted == self.labels(self.test)).float().mean())


class LightlySimCLR(torch.nn.Module):
    """Lightly's SimCLR example model around ``backbone``: its projection head and NT-Xent (tau 0.5)."""

    def __init__(self, backbone: torch.nn.Module, feature_dim: int):
        from lightly.loss import NTXentLoss
        from lightly.models.modules import SimCLRProjectionHead

        super().__init__()
        self.backbone, self.head = backbone, SimCLRProjectionHead(feature_dim, 512, 128)
        self.loss = NTXentLoss()

    def forward(self, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        return self.loss(self.head(self.backbone(first)), self.head(self.backbone(second)))


def lightly_loader(
    train: Path, input_size: int, batch_size: int, workers: int
) -> torch.utils.data.DataLoader:
    from lightly.data import LightlyDataset
    from lightly.transforms import SimCLRTransform

    transform = SimCLRTransform(input_size=input_size, gaussian_blur=0.0)  # its CIFAR-10 setting
    return torch.utils.data.DataLoader(
        LightlyDataset(str(train), transform=transform), batch_size=batch_size, shuffle=True,
        drop_last=True, num_workers=workers,
    )  # fmt: skip


def train_lightly(
    train: Path,
    batch_size: int,
    workers: int,
    device: torch.device,
    *,
    steps: int | None = None,
    wall_s: float | None = None,
    on_epoch_end: Callable[[torch.nn.Module, float], None] | None = None,
) -> tuple[torch.nn.Module, list[float]]:
    """Lightly's recipe at 32 px for ``steps`` steps or ``wall_s`` seconds of training: the backbone
    and each step's images per second (two views per item). ``on_epoch_end(backbone, trained_s)``
    runs outside the timed training."""
    torch.manual_seed(0)
    backbone, feature_dim = build_backbone("resnet18", THROUGHPUT_SIZE)
    model = LightlySimCLR(backbone, feature_dim).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.06)
    loader = lightly_loader(train, THROUGHPUT_SIZE, batch_size, workers)
    rates, trained_s, done = [], 0.0, 0
    while (steps is None or done < steps) and (wall_s is None or trained_s < wall_s):
        tick = time.perf_counter()
        for (first, second), _, _ in loader:
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda"):
                loss = model(first.to(device), second.to(device))
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            if device.type == "cuda":
                torch.cuda.synchronize()
            now = time.perf_counter()
            rates.append(2 * len(first) / (now - tick))
            trained_s, done, tick = trained_s + now - tick, done + 1, now
            if (steps is not None and done >= steps) or (wall_s is not None and trained_s >= wall_s):
                break
        if on_epoch_end is not None:
            on_epoch_end(backbone, trained_s)
    return backbone, rates


def sslcli_run(config: PretrainConfig, on_epoch_end: Callable[[torch.nn.Module, float], None] | None = None):
    """``sslcli pretrain`` in this process; ``on_epoch_end(encoder, trained_s)`` after each epoch."""

    def each_epoch(state, method) -> None:
        on_epoch_end(method.backbone, state.elapsed_s)

    return pretrain(config, None, Console(quiet=True), on_epoch_end=each_epoch if on_epoch_end else None)


def sslcli_rates(run_dir: Path) -> list[float]:
    """Images per second of each logged step of a run (``metrics.csv`` counts items, two views each)."""
    with (run_dir / "metrics.csv").open() as handle:
        return [2 * float(row["items_per_s"]) for row in csv.DictReader(handle)]


def subset(train: Path, count: int, out: Path) -> Path:
    """The first ``count`` images of ``train`` (sorted), linked into ``out`` with their class folders."""
    for path in sorted(path for path in train.rglob("*") if path.is_file())[:count]:
        target = out / path.relative_to(train)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(path)
    return out


def throughput(args, device: torch.device, scratch: Path) -> tuple[float, float]:
    """Median images/s of sslcli and of Lightly over ``args.rounds`` rounds of ``args.steps`` timed
    steps each on the same files, the order alternating (sslcli first, then Lightly first, ...) so
    that a drift of the machine's speed falls on both."""
    files = subset(args.data, (args.steps + WARM_STEPS) * args.batch_size, scratch / "subset")
    views = {"crop_scale": (0.08, 1.0), "blur_p": 0.0}  # Lightly's CIFAR-10 views
    rates: dict[str, list[float]] = {"sslcli": [], "lightly": []}

    def ours(round_index: int) -> None:
        out = scratch / f"throughput{round_index}"
        config = PretrainConfig(
            data=str(files), out=str(out), backbone="resnet18", input_size=THROUGHPUT_SIZE,
            batch_size=args.batch_size, epochs=1, num_workers=args.workers, views=views, log_every=1,
            device=device.type,
        )  # fmt: skip
        sslcli_run(config)
        rates["sslcli"] += sslcli_rates(out)[WARM_STEPS:]

    def theirs(round_index: int) -> None:
        steps = args.steps + WARM_STEPS
        rates["lightly"] += train_lightly(files, args.batch_size, args.workers, device, steps=steps)[1][
            WARM_STEPS:
        ]

    for round_index in range(args.rounds):
        order = (ours, theirs) if round_index % 2 == 0 else (theirs, ours)
        for run in order:
            run(round_index)
    return statistics.median(rates["sslcli"]), statistics.median(rates["lightly"])


def first_time(curve: list[tuple[float, float]], target: float) -> str:
    """The training seconds at which ``curve`` [(seconds, kNN)] first reached ``target``."""
    reached = [seconds for seconds, knn in curve if knn >= target]
    return f"{reached[0]:.0f} s" if reached else "not reached"


def equal_wall_time(args, device: torch.device, scratch: Path, probe: KnnProbe) -> list[tuple]:
    """Rows (name, input size, epochs, trained s, kNN, random-init kNN, time to target)."""
    curves: dict[str, list[tuple[float, float]]] = {"sslcli": [], "lightly": []}
    config = PretrainConfig(
        data=str(args.data), out=str(scratch / "default"), device=device.type, time_budget_s=args.time_budget
    )

    def sslcli_epoch(encoder, seconds):
        size = load_run_config(scratch / "default").input_size  # the recipe's, as the run recorded it
        curves["sslcli"].append((seconds, probe(encoder, size)))

    result = sslcli_run(config, on_epoch_end=sslcli_epoch)
    size, trained_s = result.config.input_size, result.state.elapsed_s
    torch.manual_seed(result.config.seed)
    encoder, _ = build_backbone(result.config.backbone, size)
    ours = (f"sslcli default ({result.config.backbone})", size, result.state.epoch, trained_s,
            curves["sslcli"][-1][1], probe(encoder, size))  # fmt: skip

    def lightly_epoch(backbone, seconds):
        curves["lightly"].append((seconds, probe(backbone, THROUGHPUT_SIZE)))

    train_lightly(
        args.data, args.batch_size, args.workers, device, wall_s=trained_s, on_epoch_end=lightly_epoch
    )
    torch.manual_seed(0)
    random_init, _ = build_backbone("resnet18", THROUGHPUT_SIZE)
    last_s, last_knn = curves["lightly"][-1]
    epochs = len(curves["lightly"])
    random_knn = probe(random_init, THROUGHPUT_SIZE)
    theirs = ("Lightly SimCLR recipe (resnet18)", THROUGHPUT_SIZE, epochs, last_s, last_knn, random_knn)
    return [
        (*ours, first_time(curves["sslcli"], args.target)),
        (*theirs, first_time(curves["lightly"], args.target)),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="class folders of training images")
    parser.add_argument("--test-data", type=Path, required=True, help="class folders of held-out images")
    parser.add_argument("--batch-size", type=int, default=None, help="[default: 256 on CPU, 512 on CUDA]")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--steps", type=int, default=4, help="timed throughput steps per library and round")
    parser.add_argument("--rounds", type=int, default=2, help="throughput rounds, the order alternating")
    parser.add_argument("--target", type=float, default=0.9, help="kNN whose first time is reported")
    parser.add_argument("--skip-recipes", action="store_true", help="throughput only")
    parser.add_argument("--skip-throughput", action="store_true", help="the equal-wall-time recipes only")
    parser.add_argument(
        "--time-budget", type=parse_duration, default=None, help="sslcli's budget  [default: its own default]"
    )
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    args.batch_size = args.batch_size or (512 if device.type == "cuda" else 256)
    where = torch.cuda.get_device_name() if device.type == "cuda" else f"{platform.machine()} CPU"
    console, today = Console(width=120), datetime.date.today().isoformat()
    setting = f"batch {args.batch_size}, {args.workers} workers, {torch.get_num_threads()} threads"
    with tempfile.TemporaryDirectory() as scratch:
        if not args.skip_throughput:
            ours, theirs = throughput(args, device, Path(scratch))
            table = Table(title=f"SimCLR ResNet-18 at 32 px, {setting}, {where}, {today}")
            for column in ("library", "images/s", "vs Lightly"):
                table.add_column(column)
            table.add_row("sslcli", f"{ours:.1f}", f"{ours / theirs:.2f}x")
            table.add_row("Lightly 1.6 recipe", f"{theirs:.1f}", "1.00x")
            console.print(table)
        if args.skip_recipes:
            return
        probe = KnnProbe(args.data, args.test_data, device)
        rows = equal_wall_time(args, device, Path(scratch), probe)
        raw = {size: probe(RawInput(), size) for size in sorted({rows[0][1], THROUGHPUT_SIZE})}
        pixels = ", ".join(f"{knn:.3f} at {size} px" for size, knn in raw.items())
        title = f"equal wall time on {args.data.parent.name}, held-out kNN (k=20, T=0.1); raw pixels {pixels}"
        table = Table(title=f"{title}; {setting}, {where}, {today}")
        for column in (
            "recipe",
            "input",
            "epochs",
            "trained",
            "kNN",
            "random init",
            f"time to {args.target}",
        ):
            table.add_column(column)
        for name, size, epochs, seconds, knn, random_knn, reached in rows:
            table.add_row(
                name,
                f"{size} px",
                str(epochs),
                f"{seconds:.0f} s",
                f"{knn:.3f}",
                f"{random_knn:.3f}",
                reached,
            )
        console.print(table)


if __name__ == "__main__":
    main()
