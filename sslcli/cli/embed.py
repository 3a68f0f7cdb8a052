"""``sslcli embed``: batch-embed a folder with a run's encoder."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("embed")
@click.option(
    "--run", "run_dir", required=True, type=click.Path(path_type=Path), help="Run directory from pretrain."
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
    type=click.Choice(["npy"]),
    default="npy",
    show_default=True,
    help="embeddings.npy (N x D float32) + index.csv.",
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
def embed_command(
    run_dir: Path,
    data: Path,
    out: Path,
    batch_size: int,
    fmt: str,
    domain_name: str | None,
    num_workers: int,
    device: str,
    on_error: str,
) -> None:
    """Write OUT/embeddings.npy (one float32 row per item) and OUT/index.csv (row, item_id, path, label)."""
    from rich.table import Table

    from sslcli.cli.console import stderr_console, stdout_console
    from sslcli.cli.summaries import skipped_table
    from sslcli.errors import UserError
    from sslcli.jobs.embed import embed_corpus

    if batch_size < 1 or num_workers < 0:
        raise UserError("--batch-size must be >= 1 and --num-workers >= 0")
    result = embed_corpus(
        run_dir, data, out, batch_size, device, on_error, num_workers, stderr_console(), domain_name
    )
    table = Table(title="embed" + (" (already complete)" if result.already_done else ""), show_header=False)
    table.add_column("", style="bold")
    table.add_column("")
    table.add_row(
        "output", f"{out / 'embeddings.npy'} ({result.rows} x {result.dim} float32), {out / 'index.csv'}"
    )
    table.add_row(
        "items", f"{result.items_found} found, {result.rows} embedded, {len(result.skipped)} skipped"
    )
    if not result.already_done:
        table.add_row("throughput", f"{result.rows / max(result.seconds, 1e-9):.1f} items/s")
    console = stdout_console()
    console.print(table)
    if result.skipped:
        console.print(skipped_table(result.skipped))
