"""The options people tune most are flags: --backbone, --optimizer, --temperature."""

import json

from tests.cli.test_bad_input import assert_one_line_error
from tests.conftest import FAST_PRETRAIN, invoke


def test_flags_reach_the_resolved_config(digit_folder, tmp_path):
    run = tmp_path / "run"
    flags = ("--backbone", "resnet10", "--optimizer", "sgd", "--temperature", "0.2")
    result = invoke("pretrain", "--data", digit_folder, "--out", run, *FAST_PRETRAIN, *flags)
    assert result.exit_code == 0, result.output
    config = json.loads((run / "config.json").read_text())["config"]
    assert (config["backbone"], config["optimizer"]) == ("resnet10", "sgd")
    assert config["method_options"] == {"temperature": 0.2}
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
