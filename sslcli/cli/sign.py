"""``sslcli sign``: add the checksum to an ``encoder.safetensors`` written without one, so that
embed, eval and export, which refuse unsigned encoders, accept a file the user vouches for."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("sign")
@click.argument("path", type=click.Path(path_type=Path))
def sign_command(path: Path) -> None:
    """Add the checksum to PATH (an encoder.safetensors, or a run directory holding one) after you
    have checked where it came from. A file with a checksum is verified and left as it is; a file
    whose checksum does not match, or that holds metadata sslcli does not write, is refused.
    """
    from sslcli.data_root import file_problem
    from sslcli.errors import UserError
    from sslcli.run_dir import ENCODER

    target = path / ENCODER if path.is_dir() else path
    problem = file_problem(target, str(target))
    if problem:
        raise UserError(problem)

    from sslcli.engine.encoder_file import sign_encoder

    if sign_encoder(target):
        click.echo(f"{target}: checksum added")
    else:
        click.echo(f"{target}: already signed; checksum verified")
