"""The static catalog (what `sslcli methods`/`domains` list and the CLI checks before importing torch)
against the registries it mirrors: a method or domain changed without its entry fails here by name."""

from sslcli.domains import available_domains

from sslcli.catalog import DOMAINS, METHODS, method_domain_problem
from sslcli.engine.setup import method_supports
from sslcli.methods import available_methods


def live_accepts(cls) -> str:
    colour = " in colour" if cls.needs_colour else ""
    count = f", {cls.input_count} inputs per sample" if cls.input_count > 1 else ""
    return ", ".join(cls.accepts) + colour + count


def test_every_registered_method_has_its_entry():
    domains = {name: cls() for name, cls in available_domains().items()}
    assert list(METHODS) == list(available_methods())
    for name, cls in available_methods().items():
        working = tuple(d for d, domain in domains.items() if method_supports(cls, domain))
        live = (live_accepts(cls), cls.paper, working, cls.description)
        entry = METHODS[name]
        assert (entry.accepts, entry.paper, entry.domains, entry.description) == live, name


def test_every_registered_domain_has_its_entry():
    assert list(DOMAINS) == list(available_domains())
    for name, cls in available_domains().items():
        kinds = ", ".join(spec.kind for spec in cls().inputs(cls.default_input_size).values())
        size = f"{cls.default_input_size}{cls.input_size_unit}"
        live = (kinds, size, cls.identifying_paths, cls.description)
        entry = DOMAINS[name]
        assert (entry.inputs, entry.input, entry.identifying_paths, entry.description) == live, name


def test_the_early_check_agrees_with_the_registries_on_every_pair():
    domains = available_domains()
    for method, cls in available_methods().items():
        for domain, domain_cls in domains.items():
            refused = method_domain_problem(method, domain) is not None
            assert refused == (not method_supports(cls, domain_cls())), (method, domain)
    assert "unknown method 'nosuch'" in method_domain_problem("nosuch", "natural")
    assert "unknown domain 'xray'" in method_domain_problem("simclr", "xray")
