"""The options people tune most are flags: --backbone, --optimizer, --temperature."""

import inspect
import json

from sslcli.methods.simclr import SimCLR
from tests.cli.test_bad_input import assert_one_line_error
from tests.conftest import FAST_PRETRAIN, invoke


def test_flags_reach_the_resolved_config(digit_folder, tmp_path):
    run = tmp_path / "run"
    flags = ("--backbone", "resnet10", "--optimizer", "sgd", "--temperature", "0.2")
    result = invoke("pretrain", "--data", digit_folder, "--out", run, *FAST_PRETRAIN, *flags)
    assert result.exit_code == 0, result.output
    config = json.loads((run / "config.json").read_text())["config"]
    assert (config["backbone"], config["optimizer"]) == ("resnet10", "sgd")
    defaults = {
        name: parameter.default
        for name, parameter in inspect.signature(SimCLR.__init__).parameters.items()
        if parameter.default is not parameter.empty
    }
    assert config["method_options"] == {**defaults, "temperature": 0.2}  # recorded resolved
    assert config["lr"] == 0.3 * 8 / 256  # SGD's linear scaling rule at batch 8


def test_temperature_for_a_method_without_one_is_one_line(digit_folder, tmp_path):
    result = invoke(
        "pretrain",
        "--method",
        "rotnet",
        "--data",
        digit_folder,
        "--out",
        tmp_path / "r",
        "--temperature",
        "0.2",
    )
    assert_one_line_error(result, "method options", "temperature")
    assert not (tmp_path / "r").exists()
