"""``sslcli export``: a run's trained encoder as ONNX, TorchScript or safetensors, for serving."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("export")
@click.option(
    "--run", "--run-dir", "run_dir", required=True, type=click.Path(path_type=Path), help="Run directory."
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["onnx", "torchscript", "safetensors"]),
    required=True,
    help='onnx (needs pip install "sslcli[export]"), torchscript (torch.jit.load), or safetensors (the '
    "state dict, no pickle).",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    help="File to write, or a folder for the default name.  [default: RUN_DIR/export/encoder.onnx, "
    "encoder.pt or encoder.safetensors; encoder-INPUT.* with --input]",
)
@click.option(
    "--input",
    "input_name",
    help="Which input's encoder to export, for runs with one per input (audiovisual: video or audio).",
)
def export_command(run_dir: Path, fmt: str, out: Path | None, input_name: str | None) -> None:
    """Write the run's encoder for serving: it takes the domain's canonical input, the batch that
    `sslcli embed` feeds it after decoding and preprocessing ((batch, C, H, W) normalised for
    images), and returns (batch, feature_dim) float32.

    Beside the file, FILE.json records the input's name, shape, dtype and the preprocessing that makes
    it (resize, crop, normalisation mean/std, or the log-mel front end), the output's size, the
    method, backbone and versions; no paths. Each exported file is checked against the encoder.
    """
    from sslcli.cli.preflight import check_run

    check_run(run_dir)  # before torch is imported: a typo answers at once

    from sslcli.jobs.export import export_encoder

    result = export_encoder(run_dir, fmt, out, input_name)
    spec = result.record["inputs"][0]
    shape = " x ".join(map(str, spec["shape"]))
    click.echo(f"{result.path} ({fmt}: {spec['name']} {shape} -> {result.record['feature_dim']} features)")
    click.echo(f"{result.sidecar} (input and preprocessing)")
