"""Without --method a run trains simclr, or where simclr does not fit the domain the domain's own
method (audiovisual: avid, the only method taking a clip with its soundtrack)."""

from __future__ import annotations

from sslcli.config import PretrainConfig
from sslcli.engine.domain_setup import with_method
from sslcli.registry import DOMAINS
from tests.cli.test_bad_input import assert_one_line_error
from tests.conftest import invoke


def test_a_domain_simclr_does_not_fit_passes_the_method_checks_without_method(tmp_path):
    empty = tmp_path / "clips"
    empty.mkdir()
    result = invoke("pretrain", "--domain", "audiovisual", "--data", empty, "--out", tmp_path / "run")
    assert_one_line_error(result, "no audiovisual files found")  # the method was checked first, and fits


def test_a_method_named_is_kept_even_where_it_does_not_fit(tmp_path):
    result = invoke("pretrain", "--domain", "audiovisual", "--method", "simclr", "--out", tmp_path / "run")
    assert_one_line_error(result, "method 'simclr' does not support domain 'audiovisual'")
    named = PretrainConfig.parse({"domain": "audiovisual", "method": "simclr"})
    assert with_method(named, DOMAINS["audiovisual"]()).method == "simclr"


def test_the_domain_default_is_simclr_where_it_fits_else_the_method_that_does():
    for domain, method in {"audiovisual": "avid", "video": "simclr", "medical": "simclr"}.items():
        config = PretrainConfig.parse({"domain": domain})
        assert with_method(config, DOMAINS[domain]()).method == method
