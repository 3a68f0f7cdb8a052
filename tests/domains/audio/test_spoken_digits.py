"""The audio domain's built-in sample: ten spoken digits from espeak-ng, split by voice, and a
one-line error naming the package when espeak-ng is missing."""

from __future__ import annotations

import shutil
from collections import Counter

import numpy as np
import pytest
import soundfile
from sslcli.domains.audio import spoken_digits
from sslcli.domains.base import DomainError

from sslcli.registry import DOMAINS
from tests.conftest import invoke


def voice(path) -> str:
    return path.name.split("_")[0]  # "<accent>+<variant>"


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng (.ci/run installs it)")
def test_the_sample_is_ten_balanced_digits_and_no_test_voice_is_heard_in_training():
    audio = DOMAINS["audio"]()
    train, test = audio.builtin_sample()
    per_split = {}
    for root in (train, test):
        paths = sorted(root.rglob("*.wav"))
        labels = Counter(path.parent.name for path in paths)
        assert sorted(labels) == [str(d) for d in range(10)] and len(set(labels.values())) == 1
        per_split[root.name] = {voice(path) for path in paths}
        assert len(per_split[root.name]) >= 10  # several accents times several variants
    assert not per_split["train"] & per_split["test"]
    assert not {v.split("+")[1] for v in per_split["train"]} & {v.split("+")[1] for v in per_split["test"]}
    clip = next(test.rglob("*.wav"))
    info = soundfile.info(clip)
    assert 0.3 < info.duration < 1.5 and info.channels == 1  # one spoken word
    assert audio.load(audio.discover(test)[0])["spectrogram"].shape[:2] == (1, 64)


def test_a_missing_espeak_ng_is_one_line_saying_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setenv("SSLCLI_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(spoken_digits.shutil, "which", lambda name: None)
    with pytest.raises(DomainError) as err:
        DOMAINS["audio"]().builtin_sample()
    assert "\n" not in str(err.value) and "apt-get install espeak-ng" in str(err.value)
    result = invoke("pretrain", "--domain", "audio", "--out", tmp_path / "run")
    assert result.exit_code == 1 and "apt-get install espeak-ng" in result.output
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert not list((tmp_path / "cache").rglob("*.*")) and not (tmp_path / "run").exists()


@pytest.mark.parametrize("slope", [0.0, 1.0, 2.0])
def test_background_noise_power_falls_as_one_over_f_to_the_slope(slope):
    rng = np.random.default_rng(0)
    power = np.mean(
        [np.abs(np.fft.rfft(spoken_digits.coloured_noise(4096, slope, rng))) ** 2 for _ in range(64)], 0
    )
    frequencies = np.arange(len(power))
    band = slice(8, 1024)  # away from DC and the top bins
    fitted = np.polyfit(np.log(frequencies[band]), np.log(power[band]), 1)[0]
    assert fitted == pytest.approx(-slope, abs=0.1)


def test_a_recorded_word_is_whole_in_its_window_at_a_drawn_snr_and_level():
    rate = 22050
    t = np.arange(round(0.4 * rate)) / rate
    speech = np.sin(2 * np.pi * 440 * t) * np.hanning(len(t))  # (S,) a 0.4 s tone burst
    for seed in range(5):
        clip = spoken_digits.record(speech, rate, np.random.default_rng(seed))
        assert len(clip) == round(spoken_digits.WINDOW_S * rate)
        scores = np.correlate(clip, speech, mode="valid")  # where the word sits
        start = int(np.argmax(scores))
        scale = scores[start] / np.sum(speech**2)  # least-squares level of the word
        noise = clip.copy()
        noise[start : start + len(speech)] -= scale * speech
        snr_db = 10 * np.log10(np.mean((scale * speech) ** 2) / np.mean(noise**2))
        low, high = spoken_digits.SNR_DB
        assert low - 0.5 < snr_db < high + 0.5
        peak_dbfs = 20 * np.log10(np.abs(clip).max())
        assert spoken_digits.PEAK_DBFS[0] - 1e-9 <= peak_dbfs <= spoken_digits.PEAK_DBFS[1] + 1e-9
    longer = np.ones(round(1.5 * rate))
    assert len(spoken_digits.record(longer, rate, np.random.default_rng(0))) == len(longer)
