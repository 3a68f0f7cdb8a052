"""``sslcli eval``: how good are the frozen features, and what did pretraining buy over random init."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.command("eval")
@click.option(
    "--run", "run_dir", required=True, type=click.Path(path_type=Path), help="Run directory from pretrain."
)
@click.option(
    "--data",
    type=click.Path(path_type=Path),
    help="Labelled folder (class sub-folders or labels.csv); default: the domain's built-in sample.",
)
@click.option(
    "--test-data", type=click.Path(path_type=Path), help="Explicit held-out folder (else a stratified split)."
)
@click.option("--protocol", type=click.Choice(["knn", "linear", "all"]), default="all", show_default=True)
@click.option("--k", type=int, default=20, show_default=True, help="Neighbours for kNN.")
@click.option("--temperature", "-T", type=float, default=0.1, show_default=True, help="kNN vote temperature.")
@click.option("--batch-size", type=int, default=256, show_default=True)
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--on-error", type=click.Choice(["raise", "skip"]), default="raise", show_default=True)
@click.option(
    "--label-attr",
    help="Label items by this attribute instead of folders/labels.csv (medical: e.g. Modality).",
)
@click.option(
    "--folder-labels",
    is_flag=True,
    help="Medical: use sub-folder names as class labels (off by default: they may name patients; "
    "pictures then show them only as 'class k').",
)
@click.option(
    "--input",
    "input_name",
    help="Which input's encoder to use, for runs with one per input (audiovisual: video or audio).",
)
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=None,
    help="CPU threads for torch ops.  [default: the count the run was trained with]",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout instead of tables.")
def eval_command(
    run_dir: Path,
    data: Path | None,
    test_data: Path | None,
    protocol: str,
    k: int,
    temperature: float,
    batch_size: int,
    device: str,
    on_error: str,
    label_attr: str | None,
    folder_labels: bool,
    input_name: str | None,
    threads: int | None,
    as_json: bool,
) -> None:
    """Evaluate a run's encoder with weighted kNN and a linear probe, beside a random-init baseline.

    Also reports collapse indicators and draws RUN_DIR/plots/embedding_map.png. A run with one encoder
    per input (audiovisual) is scored by cross-modal retrieval among the items of --test-data or --data
    (no labels needed; default: the built-in sample's test split), unless --input picks one encoder.
    """
    from sslcli.cli.preflight import check_run
    from sslcli.errors import UserError

    if k < 1 or temperature <= 0 or batch_size < 1:
        raise UserError("--k and --batch-size must be >= 1 and --temperature > 0")
    check_run(run_dir, data, test_data)  # before torch is imported: a typo answers at once

    from sslcli.cli.console import stderr_console, stdout_console
    from sslcli.cli.summaries import eval_tables
    from sslcli.jobs.evaluate import EvalOptions, evaluate_run

    options = EvalOptions(
        run_dir,
        data,
        test_data,
        protocol,
        k,
        temperature,
        batch_size=batch_size,
        device=device,
        on_error=on_error,
        label_attr=label_attr,
        folder_labels=folder_labels,
        input_name=input_name,
        threads=threads,
    )
    report = evaluate_run(options, stderr_console())
    if as_json:
        click.echo(json.dumps(report))
        return
    console = stdout_console()
    for table in eval_tables(report):
        console.print(table)
