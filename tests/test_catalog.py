"""The static catalog (what `sslcli methods`/`domains` list and the CLI checks before importing torch)
is generated from the registries, and the early check agrees with the registries on every pair."""

from sslcli.catalog import method_domain_problem
from sslcli.catalog_build import catalog_text, main
from sslcli.registry import DOMAINS, METHODS


def test_catalog_json_is_what_the_registries_generate():
    assert main(["--check"]) == 0, "python -m sslcli.catalog_build"


def test_the_builder_fails_on_a_stale_catalog(tmp_path, monkeypatch, capsys):
    stale = tmp_path / "catalog.json"
    stale.write_text(catalog_text().replace("Chen et al., ICML 2020", "a paper changed by hand"))
    monkeypatch.setattr("sslcli.catalog_build.CATALOG_FILE", stale)
    assert main(["--check"]) == 1
    assert "out of date" in capsys.readouterr().out


def test_the_early_check_agrees_with_the_registries_on_every_pair():
    for method, cls in METHODS.items():
        for domain, domain_cls in DOMAINS.items():
            refused = method_domain_problem(method, domain) is not None
            specs = domain_cls().inputs(domain_cls.default_input_size)
            fits = len(specs) == cls.input_count and all(
                (spec.kind in cls.accepts or "any" in cls.accepts) and (spec.colour or not cls.needs_colour)
                for spec in specs.values()
            )
            assert refused == (not fits), (method, domain)
    assert "unknown method 'nosuch'" in method_domain_problem("nosuch", "natural")
    assert "unknown domain 'xray'" in method_domain_problem("simclr", "xray")
