"""How messages name a data folder, and what makes one unusable before its files are searched, or an input
file (``--init``) before it is read. Needs no torch, so the CLI checks them before importing it
(``sslcli.cli.preflight``)."""

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


def file_problem(path: Path, where: str) -> str | None:
    """A one-line reason ``path`` (named ``where``) cannot be read as a file, or None."""
    if path.is_dir():
        return f"{where}: is a directory, not a file"
    if not path.exists():
        return f"{where}: no such file"
    if not path.is_file():
        return f"{where}: not a regular file"
    return None
