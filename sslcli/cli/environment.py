"""``sslcli env``: what to paste into a bug report."""

from __future__ import annotations

import json

import click


@click.command("env")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout instead of a table.")
def env_command(as_json: bool) -> None:
    """Versions, the device, which kernels would run, and the cache folders."""
    from sslcli.environment import environment_report

    report = environment_report()
    if as_json:
        click.echo(json.dumps(report))
        return
    from rich.table import Table

    from sslcli.cli.console import stdout_console

    table = Table(title=f"sslcli {report['sslcli']}, python {report['python']}", show_header=False)
    table.add_column("", style="bold", no_wrap=True)
    table.add_column("", overflow="fold")
    table.add_row("platform", report["platform"])
    installed = [f"{name} {version}" for name, version in report["packages"].items() if version]
    missing = [name for name, version in report["packages"].items() if not version]
    table.add_row(
        "packages", ", ".join(installed) + (f"; not installed: {', '.join(missing)}" if missing else "")
    )
    device = report["device"]
    gpus = "; ".join(
        f"{gpu['name']} (sm {gpu['capability']}, {gpu['memory_gib']:.0f} GiB)"
        for gpu in device["cuda_devices"]
    )
    table.add_row(
        "device", f"{device['default']}" + (f": {gpus}, CUDA {device['cuda_runtime']}" if gpus else "")
    )
    table.add_row(
        "cpu",
        f"{device['cpu_count']} cores, torch uses {device['torch_threads']} threads, trains in "
        f"{device['cpu_trains_in']} (--precision auto: bf16 where the CPU has AMX)",
    )
    kernels = report["kernels"]
    table.add_row(
        "kernels",
        f"{', '.join(kernels['ops'])}: {kernels['runs']} (SSLCLI_KERNELS={kernels['SSLCLI_KERNELS']}, "
        f"triton {'installed' if kernels['triton_installed'] else 'not installed'})",
    )
    for name, folder in report["caches"].items():
        table.add_row(f"cache: {name}", folder)
    stdout_console().print(table)
