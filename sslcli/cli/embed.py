"""``sslcli embed``: batch-embed a folder with a run's encoder."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.command("embed")
@click.option(
    "--run",
    "--run-dir",
    "run_dir",
    required=True,
    type=click.Path(path_type=Path),
    help="Run directory from pretrain (spell it --run-dir under torchrun, whose own parser takes --run "
    "for its --run-path).",
)
@click.option(
    "--data", required=True, type=click.Path(path_type=Path), help="Folder to embed (searched recursively)."
)
@click.option(
    "--out", required=True, type=click.Path(path_type=Path), help="Output folder (re-running resumes)."
)
@click.option("--batch-size", type=int, default=256, show_default=True)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["npy", "parquet"]),
    default="npy",
    show_default=True,
    help="embeddings.npy (N x D float32), or an embeddings.parquet/ folder (row, item_id, path, label, "
    "embedding); index.csv beside either.",
)
@click.option(
    "--shard",
    metavar="I/N",
    help="Embed only shard I of N (0-based; contiguous slices of the sorted items) into "
    "OUT/parts/part-I-of-N/, e.g. one per array job; OUT/manifest.json lists the parts once all are "
    "done. Under torchrun each rank takes its own shard without this flag.",
)
@click.option(
    "--input",
    "input_name",
    help="Which input's encoder to use, for runs with one per input (audiovisual: video or audio).",
)
@click.option("--domain", "domain_name", help="Expected domain of the run (checked; default: the run's own).")
@click.option("--num-workers", type=int, default=2, show_default=True, help="Data-loading processes.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option(
    "--on-error",
    type=click.Choice(["raise", "skip"]),
    default="raise",
    show_default=True,
    help="Bad file: stop with its name and reason (raise) or skip and list it.",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print one JSON object on stdout instead of tables (progress: stderr).",
)
def embed_command(
    run_dir: Path,
    data: Path,
    out: Path,
    batch_size: int,
    fmt: str,
    shard: str | None,
    input_name: str | None,
    domain_name: str | None,
    num_workers: int,
    device: str,
    on_error: str,
    as_json: bool,
) -> None:
    """Write OUT/embeddings.npy (one float32 row per item) and OUT/index.csv (row, item_id, path,
    label, start_s, end_s); for recordings cut into segments, also OUT/pooled.npy (one row per file).

    Re-running the same command continues an interrupted job; a finished one is not recomputed.
    """
    from sslcli.cli.preflight import check_run
    from sslcli.errors import UserError

    if batch_size < 1 or num_workers < 0:
        raise UserError("--batch-size must be >= 1 and --num-workers >= 0")
    check_run(run_dir, data)  # before torch is imported: a typo answers at once

    from sslcli.cli.console import stderr_console, stdout_console
    from sslcli.cli.summaries import embed_record, embed_summary, skipped_table
    from sslcli.jobs.embed import embed_corpus

    result = embed_corpus(
        run_dir,
        data,
        out,
        batch_size,
        device,
        on_error,
        num_workers,
        stderr_console(),
        domain_name,
        shard=shard,
        fmt=fmt,
        input_name=input_name,
    )
    record = embed_record(result)
    if as_json:
        click.echo(json.dumps(record))
        return
    console = stdout_console()
    console.print(embed_summary(record))
    if result.skipped:
        console.print(skipped_table(result.skipped))
