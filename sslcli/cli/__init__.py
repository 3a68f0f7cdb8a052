"""The ``sslcli`` command group. Subcommands load lazily so ``sslcli --help`` never imports torch."""

from __future__ import annotations

import importlib

import click

from sslcli import __version__

COMMANDS = {
    "pretrain": ("sslcli.cli.pretrain", "Learn an encoder from unlabeled data with an SSL method."),
    "embed": ("sslcli.cli.embed", "Batch-embed a corpus with a trained encoder (streams, resumes)."),
    "eval": (
        "sslcli.cli.evaluate",
        "kNN and linear-probe accuracy on labeled data, beside a random-init baseline.",
    ),
    "export": (
        "sslcli.cli.export",
        "Write a run's encoder as ONNX, TorchScript or safetensors, with its preprocessing.",
    ),
    "sign": ("sslcli.cli.sign", "Add the checksum to an unsigned encoder.safetensors you trust."),
    "methods": ("sslcli.cli.listing", "List the SSL methods."),
    "domains": ("sslcli.cli.listing", "List the data domains (modalities)."),
    "env": ("sslcli.cli.environment", "Versions, device, kernels and caches (for bug reports)."),
}


class LazyGroup(click.Group):
    """Imports a subcommand's module only when that subcommand runs (or its own --help is asked)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module = importlib.import_module(COMMANDS[name][0])
        return getattr(module, f"{name}_command")

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, help_text) for name, (_, help_text) in COMMANDS.items()])

    def invoke(self, ctx: click.Context):
        import errno

        from sslcli.engine.stop_signals import StoppedBySignal
        from sslcli.errors import UserError, printable

        try:
            return super().invoke(ctx)
        except StoppedBySignal as err:  # exits as the signal would have: 128 + its number
            click.echo(f"Error: {err}", err=True)
            ctx.exit(128 + err.number)
        except UserError as err:
            raise click.ClickException(printable(str(err))) from None
        except OSError as err:  # a write the guards in run_dir did not name
            if err.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
            where = printable(str(err.filename)) if err.filename else "an output file"
            raise click.ClickException(f"{where}: the disk is full ({err.strerror})") from None
        except KeyboardInterrupt:
            click.echo(interrupted_message(), err=True)
            ctx.exit(130)


def interrupted_message() -> str:
    """What an interrupted command says: how to continue, from rank 0 only under torchrun (every rank
    is interrupted by the same Ctrl-C, and one note is enough)."""
    from sslcli.distributed import current_world
    from sslcli.errors import UserError

    try:
        world = current_world()
    except UserError:  # a malformed RANK or WORLD_SIZE: interrupted before anything read them
        return "interrupted"
    if not world.is_main:
        return f"rank {world.rank}: interrupted"
    return "interrupted (a pretrain run continues with --resume; embed resumes when re-run)"


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="sslcli")
def main() -> None:
    """Self-supervised pretraining, batch embedding and evaluation for images, DICOM, audio and video.

    \b
      sslcli pretrain --out runs/demo        # SimCLR on the built-in digits sample
      sslcli eval --run runs/demo            # kNN / linear probe vs a random-init baseline
      sslcli embed --run runs/demo --data DIR --out emb/
    """
