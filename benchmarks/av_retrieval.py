"""Cross-modal retrieval after audio-visual pretraining: for each held-out clip, where its own
soundtrack ranks among all the held-out soundtracks (and the other way round), for the trained
encoders and their projection heads beside the same network at its random initialisation.

    python benchmarks/av_retrieval.py --run RUN_DIR [--data FOLDER]

``--data`` defaults to the test split of the domain's built-in sample (the generated moving shapes).
Each item is the eval window (the middle ``clip_s`` seconds) of both inputs, embedded into the shared
space by the method's ``embed``; the trained weights come from the run's last checkpoint.
"""

from __future__ import annotations

import argparse
import datetime
import platform
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from sslcli.config import load_run_config
from sslcli.data.loader import stack_samples
from sslcli.engine.checkpoint import load_checkpoint
from sslcli.engine.setup import bound_domain, build_method, builtin_sample, discover_items
from sslcli.evaluate.retrieval import retrieval_scores
from sslcli.run_dir import CHECKPOINT


@torch.no_grad()
def pair_embeddings(method, samples: dict) -> tuple[torch.Tensor, torch.Tensor]:
    method.eval()
    return method.embed(samples)  # (N, P) clips, (N, P) soundtracks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--data", type=Path)
    args = parser.parse_args()
    config = load_run_config(args.run)
    domain = bound_domain(config.domain, args.run, config.views, create=False)
    root = args.data or builtin_sample(domain)[1]
    items = discover_items(domain, root)
    window = domain.eval_views(config.input_size)
    samples = stack_samples([window(domain.load(item)) for item in items])
    trained, random_init = build_method(config), build_method(config)  # same seed: the initial weights
    trained.load_state_dict(load_checkpoint(args.run / CHECKPOINT)["method"])
    table = Table(title=f"cross-modal retrieval among {len(items)} held-out clips ({config.method})")
    for column in ("encoders", "query", "recall@1", "recall@5", "median rank", "chance@1", "chance@5"):
        table.add_column(column, justify="left" if column in ("encoders", "query") else "right")
    for name, method in (("pretrained", trained), ("random init", random_init)):
        video, audio = pair_embeddings(method, samples)
        for query, (queries, keys) in (("clip -> sound", (video, audio)), ("sound -> clip", (audio, video))):
            s = retrieval_scores(queries, keys)
            table.add_row(
                name, query, f"{s['recall@1']:.3f}", f"{s['recall@5']:.3f}", f"{s['median_rank']:.0f}",
                f"{s['chance@1']:.3f}", f"{s['chance@5']:.3f}",
            )  # fmt: skip
    console = Console()
    console.print(table)
    console.print(
        f"{platform.processor() or platform.machine()}, torch threads {torch.get_num_threads()}, "
        f"{datetime.date.today()}"
    )


if __name__ == "__main__":
    main()
