"""Numbers that can only be mistakes (an lr of 1e308, a trillion epochs, a budget of a century) are
refused on one line naming the option, before a run directory exists."""

import json

import pytest

from sslcli.config import PretrainConfig
from sslcli.errors import UserError
from tests.cli.test_bad_input import assert_one_line_error
from tests.conftest import invoke

ABSURD = [
    {"lr": 1e308},
    {"epochs": 10**12},
    {"time_budget_s": 999999 * 3600.0},
    {"batch_size": 10**7},
    {"accumulate": 10**9},
    {"warmup_epochs": 1e308},
    {"weight_decay": 1e308},
    {"num_workers": 10**5},
    {"threads": 10**5},
    {"input_size": 10**5},
    {"log_every_s": 0.0},
    {"log_every_s": 1e9},
]


@pytest.mark.parametrize("values", ABSURD, ids=[json.dumps(values) for values in ABSURD])
def test_an_absurd_value_is_refused_naming_its_field(values):
    field = next(iter(values))
    with pytest.raises(UserError, match=f"^config: {field}: "):
        PretrainConfig.parse(values)


TINY = ["--backbone", "resnet10", "--batch-size", "8", "--input-size", "16", "--num-workers", "0"]
BAD_FLAGS = [
    (("--lr", "1e308", "--epochs", "1"), "config: lr: input should be less than or equal to 10"),
    (("--epochs", "1000000000000"), "config: epochs: input should be less than or equal to 100000"),
    (("--time-budget", "999999h"), "--time-budget: '999999h' is longer than the longest budget"),
    (("--time-budget", "0s"), "--time-budget: '0s' is no time"),
    (("--log-every-s", "0", "--epochs", "1"), "config: log_every_s: input should be greater than 0"),
]


@pytest.mark.parametrize(("flags", "error"), BAD_FLAGS, ids=[" ".join(flags) for flags, _ in BAD_FLAGS])
def test_an_absurd_flag_is_one_line_before_the_run_exists(flags, error, digit_folder, tmp_path):
    run = tmp_path / "run"
    result = invoke("pretrain", "--data", digit_folder, "--out", run, "--device", "cpu", *TINY, *flags)
    assert_one_line_error(result, error)
    assert not run.exists()


def test_a_derived_lr_is_capped_where_a_given_one_is_refused():
    from sslcli.config import MAX_LR

    config = PretrainConfig(optimizer="sgd", batch_size=65536)  # 0.3 x 65536 / 256 = 76.8 by the rule
    assert config.resolved_lr(processes=8) == MAX_LR
