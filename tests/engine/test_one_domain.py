"""Each job builds, configures and binds its domain once: pretrain, embed, eval and export each make
one instance of the run's domain, and its ``views`` options reach it parsed (typed), as given."""

from __future__ import annotations

import pytest
from sslcli.domains.natural import NaturalDomain

from tests.conftest import FAST_PRETRAIN, invoke


@pytest.fixture
def instances(monkeypatch) -> list[NaturalDomain]:
    """Every natural domain built from now on."""
    built: list[NaturalDomain] = []
    init = NaturalDomain.__init__

    def counted(self) -> None:
        init(self)
        built.append(self)

    monkeypatch.setattr(NaturalDomain, "__init__", counted)
    return built


def test_every_job_builds_the_runs_domain_once(digit_folder, tmp_path, instances):
    config = tmp_path / "views.toml"
    config.write_text("[views]\ngrayscale_p = 0.5\nblur_sigma = [0.2, 1]\n")
    run, data = tmp_path / "run", digit_folder
    jobs = {
        "pretrain": ("pretrain", "--data", data, "--out", run, "--config", config, *FAST_PRETRAIN),
        "embed": ("embed", "--run", run, "--data", data, "--out", tmp_path / "e", "--num-workers", "0"),
        "eval": ("eval", "--run", run, "--data", data, "--json"),
        "export": ("export", "--run", run, "--format", "safetensors"),
    }  # fmt: skip
    for job, args in jobs.items():
        instances.clear()
        result = invoke(*args)
        assert result.exit_code == 0, result.output
        assert len(instances) == 1, f"{job} built the domain {len(instances)} times"
        options = instances[0].options
        assert isinstance(options, NaturalDomain.Options)
        assert (options.grayscale_p, options.blur_sigma) == (0.5, (0.2, 1.0))
