"""How messages name a data folder, and what makes one unusable before its files are searched. Needs no
torch, so the CLI checks ``--data`` before importing it (``sslcli.cli.preflight``)."""

from __future__ import annotations

from pathlib import Path


def describe_data_root(root: Path, identifying_paths: bool) -> str:
    """Its path, or only "--data" where paths may identify patients."""
    return "--data" if identifying_paths else str(root)


def data_root_problem(root: Path, where: str) -> str | None:
    """A one-line reason ``root`` (named ``where``) cannot be searched for items, or None."""
    if not root.exists():
        return f"{where}: no such file or directory"
    if not root.is_dir():
        return f"{where}: not a directory"
    return None
