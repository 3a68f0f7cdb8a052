import ast
import subprocess
import sys

import pytest
from click.testing import CliRunner

from sslcli.cli import COMMANDS, main
from sslcli.registry import DOMAINS, METHODS


@pytest.mark.parametrize("command", [[], *[[name] for name in COMMANDS]])
def test_every_command_has_help(command):
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


@pytest.mark.parametrize("args", [["--help"], *[[name, "--help"] for name in COMMANDS]])
def test_help_does_not_import_torch(args):
    code = (
        f"import sys; from sslcli.cli import main\ntry:\n main({args!r})\nexcept SystemExit: pass\n"
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("False")


def test_python_dash_m_runs_the_cli():
    result = subprocess.run([sys.executable, "-m", "sslcli", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "pretrain" in result.stdout


def test_methods_and_domains_list_what_is_registered():

    methods = CliRunner().invoke(main, ["methods"])
    domains = CliRunner().invoke(main, ["domains"])
    assert methods.exit_code == 0 and domains.exit_code == 0
    assert all(name in methods.output for name in METHODS)
    assert all(name in domains.output for name in DOMAINS)


@pytest.mark.parametrize("name", ["simclr", "dino", "deepcluster", "mae"])
def test_methods_show_lists_options_the_method_accepts(name):
    from sslcli.config import PretrainConfig
    from sslcli.engine.domain_setup import configured_domain
    from sslcli.engine.setup import build_method

    result = CliRunner().invoke(main, ["methods", "--show", name], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    rows = [line.split("│")[1:4] for line in result.output.splitlines() if line.startswith("│")]
    options = {cell[0].strip(): ast.literal_eval(cell[2].strip()) for cell in rows}
    assert options  # every listed option, at its listed default, is accepted by the method
    config = PretrainConfig(method=name, backbone="vit_tiny", input_size=16, method_options=options)
    assert build_method(config, configured_domain(config.domain)).name == name


def test_domains_show_lists_the_view_options_and_unknown_names_are_one_line():
    result = CliRunner().invoke(main, ["domains", "--show", "natural"], env={"COLUMNS": "200"})
    assert result.exit_code == 0 and "crop_scale" in result.output and "local_crops" in result.output
    unknown = CliRunner().invoke(main, ["domains", "--show", "xray"])
    assert unknown.exit_code != 0 and "unknown domain 'xray'" in unknown.output
