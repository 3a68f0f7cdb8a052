"""What a default buys, per data set and seed: pretrained against random init and the raw input.

For every named set and seed, runs the user's two commands in subprocesses (``sslcli pretrain`` with
the domain's default recipe: no flags beyond the data, the seed and the set's method, so a CPU trains
for the recipe's time budget; then ``sslcli eval --json``), and prints one table: kNN (k=20, T=0.1)
and linear-probe accuracy of the pretrained encoder, of its random initialisation and of the raw
input, as mean and spread (min-max) over the seeds, with how many seeds the encoder beat both
baselines at, per seed the test items its linear probe won and lost against random init's with
McNemar's p (eval.json's ``paired``: on a small test set a lead of an item or two is chance), the
selected checkpoint's epoch and the last weights' kNN beside the selected ones (``--select``), and
the wall times of pretrain and of eval. Each seed's scores are printed as its run ends.

Sets: ``digits``, ``spoken-digits``, ``video-clips`` and ``dicom`` are the built-in samples of the
natural, audio, video and medical domains; ``mnist5k``, ``animal_shapes``, ``scene_crops`` and
``glyphs`` come from ``image_sets.py``, ``fillets_nl``, ``fillets_voices`` and
``klettres_languages`` from ``audio_sets.py`` and ``opencv_clips``, ``blupi_clips``,
``lebiniou_clips`` and ``scene_pans`` from ``video_sets.py`` (written under ``--sets``, each needing
its package).
Append ``:METHOD`` to run a method the domain recommends instead of its default (``digits:byol``).
``--keep DIR`` keeps the runs there (to evaluate them again), else they are removed.

    python benchmarks/quality.py digits spoken-digits --seeds 0 1 2
    python benchmarks/quality.py mnist5k --sets /tmp/sets --budget 5m
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from sslcli.cli.summaries import won_lost

BUILTIN = {"digits": "natural", "spoken-digits": "audio", "video-clips": "video", "dicom": "medical"}
IMAGE_SETS = ("mnist5k", "animal_shapes", "scene_crops", "glyphs")
AUDIO_SETS = ("fillets_nl", "fillets_voices", "klettres_languages")
VIDEO_SETS = ("opencv_clips", "blupi_clips", "lebiniou_clips", "scene_pans")
WRITERS = {
    **dict.fromkeys(IMAGE_SETS, ("image_sets.py", "natural")),
    **dict.fromkeys(AUDIO_SETS, ("audio_sets.py", "audio")),
    **dict.fromkeys(VIDEO_SETS, ("video_sets.py", "video")),
}
ENCODERS = ("pretrained", "random_init", "raw_input")


@dataclass(frozen=True)
class DataSet:
    name: str
    domain: str
    method: str | None
    train: Path | None  # None: the domain's built-in sample (pretrain and eval without --data)
    test: Path | None


def data_set(spec: str, sets_root: Path) -> DataSet:
    """``NAME[:METHOD]`` as a set to train and score on (image sets written on first use)."""
    name, _, method = spec.partition(":")
    if name in BUILTIN:
        return DataSet(name, BUILTIN[name], method or None, None, None)
    if name not in WRITERS:
        raise SystemExit(f"unknown set {name!r}; known: {', '.join([*BUILTIN, *WRITERS])}")
    root, (writer, domain) = sets_root / name, WRITERS[name]
    if not (root / "test").is_dir():
        subprocess.run([sys.executable, str(Path(__file__).with_name(writer)), name, str(root)], check=True)
    return DataSet(name, domain, method or None, root / "train", root / "test")


def sslcli(*args: str) -> subprocess.CompletedProcess:
    """One CLI command; its stderr (progress) is kept for the failure message."""
    done = subprocess.run([sys.executable, "-m", "sslcli", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"sslcli {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return done


def evaluate(run: Path, data: DataSet) -> dict:
    where = ["--data", str(data.train), "--test-data", str(data.test)] if data.train else []
    return json.loads(sslcli("eval", "--run", str(run), *where, "--json").stdout)


def last_weights_knn(run: Path, data: DataSet) -> float | None:
    """kNN of ``encoder_last.safetensors``, scored as the run's encoder in a copy of the run (None
    when the run kept its last weights as its encoder)."""
    if not (run / "encoder_last.safetensors").is_file():
        return None
    copy = run.with_name(run.name + "-last")
    shutil.copytree(run, copy, ignore=shutil.ignore_patterns("checkpoints", "tb", "plots"))
    (copy / "encoder_last.safetensors").replace(copy / "encoder.safetensors")
    return evaluate(copy, data)["pretrained"]["knn"]


def one_run(data: DataSet, seed: int, budget: str | None, scratch: Path) -> dict:
    run = scratch / f"{data.name}-{data.method or 'default'}-{seed}"
    flags = ["--domain", data.domain, "--out", str(run), "--seed", str(seed), "--logger", "none"]
    flags += ["--data", str(data.train)] if data.train else []
    flags += ["--method", data.method] if data.method else []
    flags += ["--time-budget", budget] if budget else []
    started = time.perf_counter()
    sslcli("pretrain", *flags)
    seconds = time.perf_counter() - started
    report = evaluate(run, data)
    eval_seconds = time.perf_counter() - started - seconds
    config = json.loads((run / "config.json").read_text())
    with (run / "encoder.safetensors").open("rb") as handle:
        header = json.loads(handle.read(int.from_bytes(handle.read(8), "little")))
    selection = json.loads(header["__metadata__"].get("selection", "null") or "null")
    return {
        "scores": {which: (report[which]["knn"], report[which]["linear"]) for which in ENCODERS},
        "linear_vs_random": report["paired"]["linear"]["random_init"],
        "seconds": seconds,
        "eval_seconds": eval_seconds,
        "method": config["config"]["method"],
        "selected_epoch": selection["epoch"] if selection else None,
        "epochs": config["config"]["epochs"],
        "last_knn": last_weights_knn(run, data),
    }


def spread(values: list[float]) -> str:
    """``mean (min-max)`` to three places."""
    mean = statistics.fmean(values)
    return f"{mean:.3f} ({min(values):.3f}-{max(values):.3f})" if len(values) > 1 else f"{mean:.3f}"


def seed_line(data: DataSet, seed: int, run: dict) -> str:
    """One seed's scores as they come: ``kNN pre/rand/raw, linear pre/rand/raw``."""
    scores = ["/".join(f"{run['scores'][which][protocol]:.3f}" for which in ENCODERS) for protocol in (0, 1)]
    return (
        f"{data.name} seed {seed}: kNN {scores[0]}, linear {scores[1]} (pre/rand/raw); linear against "
        f"random init {won_lost(run['linear_vs_random'])}; {run['epochs']} epochs, "
        f"{run['seconds']:.0f} s pretrain"
    )


def row(data: DataSet, runs: list[dict]) -> list[str]:
    cells = [data.name, runs[0]["method"]]
    for protocol in (0, 1):
        for which in ENCODERS:
            cells.append(spread([run["scores"][which][protocol] for run in runs]))
    beats = sum(
        all(
            run["scores"]["pretrained"][p] > run["scores"][other][p] for p in (0, 1) for other in ENCODERS[1:]
        )
        for run in runs
    )
    cells.append(f"{beats}/{len(runs)}")
    cells.append(" ".join(won_lost(run["linear_vs_random"]) for run in runs))
    chosen = [f"{run['selected_epoch'] or run['epochs']}/{run['epochs']}" for run in runs]
    cells.append(" ".join(chosen))
    last = [
        run["last_knn"] if run["last_knn"] is not None else run["scores"]["pretrained"][0] for run in runs
    ]
    cells.append(spread(last))
    cells.append(f"{statistics.fmean(run['seconds'] for run in runs):.0f} s")
    cells.append(f"{statistics.fmean(run['eval_seconds'] for run in runs):.0f} s")
    return cells


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    names = ", ".join([*BUILTIN, *WRITERS])
    parser.add_argument("sets", nargs="+", help=f"set names: {names}[:METHOD]")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--budget", help="--time-budget for every run (default: each recipe's)")
    parser.add_argument("--sets", dest="sets_root", type=Path, default=Path("/tmp/sets"))
    parser.add_argument("--keep", type=Path, help="keep the runs in this folder (default: removed)")
    args = parser.parse_args()
    table = Table(title="pretrained / random init / raw input; mean (min-max) over seeds")
    columns = ["set", "method"]
    columns += [f"{protocol} {which}" for protocol in ("kNN", "linear") for which in ("pre", "rand", "raw")]
    columns += ["beats both", "linear vs rand: items won/lost, p", "selected epoch", "kNN last"]
    columns += ["pretrain", "eval"]
    for column in columns:
        table.add_column(column)
    started = time.perf_counter()
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
    runs_folder = contextlib.nullcontext(args.keep) if args.keep else tempfile.TemporaryDirectory()
    with runs_folder as scratch:
        for spec in args.sets:
            data = data_set(spec, args.sets_root)
            runs = []
            for seed in args.seeds:
                runs.append(one_run(data, seed, args.budget, Path(scratch)))
                print(seed_line(data, seed, runs[-1]), flush=True)
            table.add_row(*row(data, runs))
    console = Console(width=200)
    console.print(table)
    machine = platform.processor() or platform.machine()
    console.print(
        f"seeds {args.seeds}, budget {args.budget or 'each recipe'}; {machine}, {torch.get_num_threads()} "
        f"threads, {datetime.date.today()}, {time.perf_counter() - started:.0f} s wall"
    )


if __name__ == "__main__":
    main()
