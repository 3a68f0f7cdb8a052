"""The audiovisual domain: two inputs of the same seconds. Every window's clip and log-mel come from
the same time span (checked on videos whose picture and sound switch on together), the inputs have
the sizes the encoders are built for, and a video without sound is a bad item here but not in the
video domain."""

from __future__ import annotations

import pytest
import torch
from sslcli.domains import BadItemError

from sslcli.registry import DOMAINS
from tests.domains.audiovisual.av_files import write_switching_clip

PLAIN = {  # no colour or crop changes and no time shifts, so brightness and loudness can be read back
    "crop_scale": (1.0, 1.0), "flip_p": 0.0, "jitter_p": 0.0, "grayscale_p": 0.0, "blur_p": 0.0,
    "time_scale": (1.0, 1.0), "freq_scale": (1.0, 1.0), "shift_frames": 0,
    "gain_db": (0.0, 0.0), "tilt_db": (0.0, 0.0),
}  # fmt: skip
FRAMES, SIDE = 8, 16


def bound(tmp_path, options: dict):
    domain = DOMAINS["audiovisual"].configured(options)
    domain.bind_run(tmp_path / "run", create=True)
    return domain


def bright_share(clip: torch.Tensor) -> float:
    """Share of a normalised clip's frames that are the white ones."""
    return float((clip.mean(dim=(1, 2, 3)) > 0).float().mean())


def loud_share(log_mel: torch.Tensor, whole: torch.Tensor) -> float:
    """Share of a window's log-mel frames that hold the tone: louder than halfway (in dB) between the
    whole recording's quietest and loudest frame."""
    energy, whole_energy = log_mel[0].max(dim=0).values, whole[0].max(dim=0).values  # (F,), (F_whole,)
    halfway = (whole_energy.min() + whole_energy.max()) / 2
    return float((energy > halfway).float().mean())


def test_every_window_takes_its_clip_and_its_sound_from_the_same_seconds(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    write_switching_clip(data / "switch.mp4", seconds=3.0, switch_s=1.5)
    options = {**PLAIN, "frames": FRAMES, "clip_s": 1.0}
    domain = bound(tmp_path, options)
    (item,) = domain.discover(data)
    sample = domain.load(item)  # frames every 1/8 s over 3 s, and the log-mel of the 3 s
    views = domain.views("one_view", SIDE)
    torch.manual_seed(0)
    shares = []
    for _ in range(20):
        (window,) = views(sample)
        assert window["video"].shape == (FRAMES, 3, SIDE, SIDE) and window["audio"].shape == (1, 64, 100)
        shares.append((bright_share(window["video"]), loud_share(window["audio"], sample["audio"])))
    assert len({video for video, _ in shares}) > 3  # the windows start at different times
    for video, audio in shares:
        assert audio == pytest.approx(video, abs=0.1)  # 1 frame of 8 (0.125 s) or 12 of 100 log-mel frames
    middle = domain.eval_views(SIDE)(sample)  # the middle second, 1.0 to 2.0 s: half after the switch
    assert bright_share(middle["video"]) == 0.5 and loud_share(
        middle["audio"], sample["audio"]
    ) == pytest.approx(0.5, abs=0.05)


def test_the_inputs_are_a_clip_and_the_log_mel_of_its_seconds(tmp_path):
    domain = bound(tmp_path, {"frames": 4, "clip_s": 0.5, "n_mels": 32})
    specs = domain.inputs(24)
    assert (specs["video"].kind, specs["video"].size, specs["video"].colour) == ("clip", (4, 24, 24), True)
    assert (specs["audio"].kind, specs["audio"].size) == ("spectrogram", (32, 50))  # 0.5 s of 10 ms hops


def test_a_video_without_sound_is_bad_here_and_fine_for_the_video_domain(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    write_switching_clip(data / "silent.mp4", sound=False)
    domain = bound(tmp_path, {})
    (item,) = domain.discover(data)
    with pytest.raises(BadItemError, match="no audio stream"):
        domain.load(item)
    video = DOMAINS["video"]()
    (video_item,) = video.discover(data)
    assert video.load(video_item)["video"].shape[0] > 0


def test_the_audio_statistics_are_kept_with_the_run_and_required_on_reuse(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    write_switching_clip(data / "clip.mp4")
    run = tmp_path / "run"
    run.mkdir()
    domain = bound(tmp_path, {})
    domain.discover(data)
    domain.save_run_state(run)
    again = DOMAINS["audiovisual"]()
    again.bind_run(run, create=False)
    assert again.normalisation == domain.normalisation
    from sslcli.domains import DomainError

    with pytest.raises(DomainError, match="audio statistics"):
        DOMAINS["audiovisual"]().bind_run(tmp_path / "elsewhere", create=False)
