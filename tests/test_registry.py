"""One registry type: loud duplicates, unknown names with their close matches, and entry-point
plug-ins read from an installed distribution's metadata (written here, as an installer would)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from sslcli.registry import PluginError, Registry

GROUP = "sslcli_tests.things"


class Thing:
    def __init__(self, name: str):
        self.name = name


def install(site: Path, distribution: str, module: str, source: str, entry_points: dict[str, str]) -> None:
    """A distribution as an installer leaves it: the module and its ``.dist-info`` with entry points."""
    (site / f"{module}.py").write_text(source)
    info = site / f"{distribution}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: 0.1\n")
    lines = "".join(f"{name} = {target}\n" for name, target in entry_points.items())
    (info / "entry_points.txt").write_text(f"[{GROUP}]\n{lines}")


@pytest.fixture
def site(tmp_path, monkeypatch) -> Path:
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for module in ("toy_things", "broken_things"):
        sys.modules.pop(module, None)


@pytest.fixture
def star_installed(site) -> None:
    """A distribution ``toy-things`` declaring the thing ``star``."""
    source = "from tests.test_registry import Thing\nSTAR = Thing('star')\n"
    install(site, "toy-things", "toy_things", source, {"star": "toy_things:STAR"})


def test_a_name_registered_twice_fails_naming_both_origins():
    registry = Registry("thing", GROUP)
    first = registry.add("circle", Thing("circle"))
    assert registry.add("circle", first) is first  # the same thing again is no error
    with pytest.raises(
        ValueError, match=r"thing 'circle' is registered twice \(by sslcli and by a plug-in\)"
    ):
        registry.add("circle", Thing("circle"), origin="a plug-in")


def test_a_thing_is_registered_under_its_own_name_only():
    with pytest.raises(ValueError, match="thing 'circle' from sslcli is registered as 'square'"):
        Registry("thing", GROUP).add("square", Thing("circle"))


def test_an_unknown_name_lists_close_matches_first_then_every_name():
    registry = Registry("thing", GROUP)
    for name in ("simclr", "simsiam", "byol"):
        registry.add(name, Thing(name))
    with pytest.raises(KeyError) as raised:
        registry["simclear"]
    message = raised.value.args[0]
    assert message.startswith("unknown thing 'simclear'; did you mean simclr?")
    assert message.endswith("(available: byol, simclr, simsiam)")
    assert "nothing" not in registry and registry.get("nothing") is None
    assert list(registry) == ["byol", "simclr", "simsiam"] and len(registry) == 3


def test_entry_points_of_an_installed_distribution_are_loaded_with_their_origin(star_installed):
    registry = Registry("thing", GROUP)
    assert not registry.holds("moon") and registry.holds("star")  # from metadata, nothing imported
    assert "toy_things" not in sys.modules
    assert registry["star"].name == "star"
    assert registry.origin("star") == "toy-things"


def test_a_plug_in_that_fails_to_import_is_one_line_naming_its_distribution(site):
    install(
        site,
        "broken-things",
        "broken_things",
        "raise RuntimeError('no GPU here')\n",
        {"comet": "broken_things:COMET"},
    )
    with pytest.raises(PluginError) as raised:
        Registry("thing", GROUP).load()
    message = str(raised.value)
    assert "thing 'comet' from broken-things cannot be loaded" in message and "no GPU here" in message
    assert "\n" not in message


def test_a_plug_in_may_not_take_a_name_sslcli_already_has(star_installed):
    registry = Registry("thing", GROUP)
    registry.add("star", Thing("star"))
    with pytest.raises(PluginError, match=r"registered twice \(by sslcli and by toy-things\)"):
        registry.load()
