"""Every config field is type-checked with the field named, before anything is written."""

import json

import pytest
from click.testing import CliRunner

from sslcli.cli import main
from tests.cli.test_bad_input import assert_one_line_error

BAD_VALUES = [
    ({"batch_size": 16.5}, "batch_size"),
    ({"epochs": True}, "epochs"),
    ({"epochs": 1.5}, "epochs"),
    ({"input_size": 8.5}, "input_size"),
    ({"log_every": 0}, "log_every"),
    ({"weight_decay": "x"}, "weight_decay"),
    ({"views": "abc"}, "views"),
    ({"method_options": [1]}, "method_options"),
    ({"seed": 2**70}, "seed"),
    ({"seed": -1}, "seed"),
    ({"optimizer": "adam"}, "optimizer"),
    ({"lr": 0}, "lr"),
    ({"num_workers": "2"}, "num_workers"),
]


@pytest.mark.parametrize(("values", "field"), BAD_VALUES, ids=[field for _, field in BAD_VALUES])
def test_a_bad_value_names_its_field_and_writes_nothing(values, field, tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps(values))
    run = tmp_path / "run"
    result = CliRunner().invoke(main, ["pretrain", "--config", str(config), "--out", str(run)])
    assert_one_line_error(result, f"config: {field}:")
    assert not run.exists()


@pytest.mark.parametrize("text", ["[1, 2]", '"epochs"', "3"])
def test_a_config_file_must_hold_a_table(text, tmp_path):
    config = tmp_path / "config.json"
    config.write_text(text)
    result = CliRunner().invoke(main, ["pretrain", "--config", str(config), "--out", str(tmp_path / "r")])
    assert_one_line_error(result, "expected a table of config fields")


def test_infinite_warmup_is_refused(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text("warmup_epochs = inf\n")  # TOML has inf; JSON does not
    result = CliRunner().invoke(main, ["pretrain", "--config", str(config), "--out", str(tmp_path / "r")])
    assert_one_line_error(result, "warmup_epochs", "finite")


def test_a_huge_valid_seed_trains(digit_folder, tmp_path):
    from tests.conftest import FAST_PRETRAIN

    args = ["pretrain", "--data", str(digit_folder), "--out", str(tmp_path / "r"), *FAST_PRETRAIN]
    result = CliRunner().invoke(main, [*args, "--seed", str(2**63 - 1)])
    assert result.exit_code == 0, result.output
