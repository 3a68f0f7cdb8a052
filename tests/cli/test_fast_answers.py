"""Typos answer before torch is imported, in one line, and the listings fit 80 columns with whole names."""

import subprocess
import sys

import pytest

from sslcli.catalog import DOMAIN_ENTRIES, METHOD_ENTRIES

TYPOS = [
    (["pretrain", "--method", "nosuch", "--out", "{tmp}/run"], "unknown method 'nosuch'"),
    (["pretrain", "--domain", "xray", "--out", "{tmp}/run"], "unknown domain 'xray'"),
    (["pretrain", "--domain", "video", "--method", "avid", "--out", "{tmp}/run"], "methods for 'video'"),
    (["pretrain", "--data", "{tmp}/missing", "--out", "{tmp}/run"], "{tmp}/missing: no such file"),
    (["pretrain", "--domain", "medical", "--data", "{tmp}/DOE^JANE", "--out", "{tmp}/r"], "--data: no such"),
    (["pretrain", "--out", "{tmp}/run", "--resume"], "nothing to resume"),
    (["eval", "--run", "{tmp}/missing"], "run directory not found"),
    (["embed", "--run", "{tmp}/missing", "--data", "{tmp}", "--out", "{tmp}/emb"], "run directory not found"),
    (["methods", "--show", "nosuch"], "unknown method 'nosuch'"),
    (["pretrain", "--init", "{tmp}/resnet.pth", "--out", "{tmp}/run"], "--init {tmp}/resnet.pth: no such"),
    (["export", "--run", "{tmp}/missing", "--format", "onnx"], "run directory not found"),
]


def run_cli_reporting_torch(args: list[str], columns: int = 200) -> tuple[int, str, bool]:
    """(exit code, output, whether torch was imported) of the CLI in a fresh interpreter."""
    code = (
        "import sys\nfrom sslcli.cli import main\n"
        f"try:\n main({args!r})\nexcept SystemExit as e:\n code = e.code\n"
        "print('torch imported:', 'torch' in sys.modules, file=sys.stderr)\nsys.exit(code)"
    )
    env = {"COLUMNS": str(columns), "NO_COLOR": "1", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    lines = done.stderr.splitlines()
    return done.returncode, done.stdout + "\n".join(lines[:-1]), lines[-1].endswith("True")


@pytest.mark.parametrize(("args", "message"), TYPOS, ids=[" ".join(a[:3]) for a, _ in TYPOS])
def test_a_typo_is_one_line_before_torch_is_imported(tmp_path, args, message):
    code, output, torch_imported = run_cli_reporting_torch([a.format(tmp=tmp_path) for a in args])
    errors = [line for line in output.splitlines() if line.startswith("Error:")]
    assert code == 1 and len(errors) == 1, output
    assert message.format(tmp=tmp_path) in errors[0]
    assert not torch_imported
    assert "DOE^JANE" not in output


@pytest.mark.parametrize(("command", "names"), [("methods", METHOD_ENTRIES), ("domains", DOMAIN_ENTRIES)])
def test_listings_fit_80_columns_with_whole_names_and_no_torch(command, names):
    code, output, torch_imported = run_cli_reporting_torch([command], columns=80)
    assert code == 0 and not torch_imported
    lines = output.splitlines()
    assert max(len(line) for line in lines) <= 80
    first_words = {line.split()[0] for line in lines if line.strip()}
    assert set(names) <= first_words  # each name whole, at the start of its row


def test_a_domain_an_extension_registered_is_left_to_the_job(tmp_path):
    from sslcli.cli.preflight import check_pretrain
    from sslcli.config import PretrainConfig
    from sslcli.errors import UserError
    from sslcli.registry import DOMAINS

    DOMAINS.add("toy_grid", object, origin="a test")
    try:
        check_pretrain(PretrainConfig(domain="toy_grid", out=str(tmp_path / "run")), resuming=False)
        with pytest.raises(UserError, match="unknown domain 'toy_strip'"):
            check_pretrain(PretrainConfig(domain="toy_strip", out=str(tmp_path / "run")), resuming=False)
    finally:
        DOMAINS.remove("toy_grid")
