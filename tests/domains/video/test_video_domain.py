"""The video domain: items and segments, which frames a load and a view hold (checked against the
indices painted into generated videos), one spatial draw per clip, and bad files through the CLI."""

from __future__ import annotations

import math

import pytest
import torch
from sslcli.domains.discovery import BadItemError
from sslcli.domains.natural import IMAGENET_MEAN, IMAGENET_STD
from sslcli.domains.video.views import ClipAugment, ClipViewOptions, MiddleClip
from torch.utils.flop_counter import FlopCounterMode

from sslcli.models import build_encoder
from sslcli.registry import DOMAINS
from tests.conftest import invoke
from tests.domains.video.video_files import frame_indices, write_counting_video

NO_SPATIAL = dict(crop_scale=(1.0, 1.0), flip_p=0.0, jitter_p=0.0, grayscale_p=0.0, blur_p=0.0)


def video_domain(**settings):
    return DOMAINS["video"].configured(settings)


def only_item(domain, path):
    (item,) = [item for item in domain.discover(path.parent) if item.path == path]
    return item


def unnormalised(view: torch.Tensor) -> torch.Tensor:
    """A normalised clip (T, 3, S, S) back to uint8 levels."""
    mean, std = torch.tensor(IMAGENET_MEAN)[:, None, None], torch.tensor(IMAGENET_STD)[:, None, None]
    return ((view * std + mean) * 255).round()


def test_a_long_video_is_cut_into_segments_and_each_load_holds_only_its_stretch(tmp_path):
    write_counting_video(tmp_path / "long.mp4", frames=40)  # 1.6 s at 25 fps
    write_counting_video(tmp_path / "short.mp4", frames=10)  # 0.4 s: one item
    domain = video_domain(segment_s=0.5, stride=2)
    items = domain.discover(tmp_path)
    spans = [(item.rel_path, item.span()) for item in items]
    assert spans == [
        ("long.mp4", (0.0, 0.5)), ("long.mp4", (0.5, 1.0)), ("long.mp4", (1.0, 1.6)), ("short.mp4", None)
    ]  # fmt: skip
    for item in items[:3]:
        start, end = item.span()
        times = [start + k * 2 / 25 for k in range(math.ceil((end - start) / (2 / 25) - 1e-9))]
        expected = [math.ceil(t * 25 - 1e-6) for t in times]  # the first frame at or after each time
        assert frame_indices(domain.load(item)["video"]) == expected
    assert frame_indices(domain.load(items[3])["video"]) == list(range(0, 10, 2))


@pytest.mark.parametrize(
    "fps, stride, expected", [(50, 4, [0, 8, 16, 24]), (12, 4, [0, 2, 4, 6]), (5, 2, [0, 1, 2, 3])]
)
def test_samples_are_stride_frames_of_25_fps_apart_at_any_rate_but_never_finer_than_the_video(
    tmp_path, fps, stride, expected
):
    path = write_counting_video(tmp_path / "v.mp4", frames=32, fps=fps)
    domain = video_domain(stride=stride)
    indices = frame_indices(domain.load(only_item(domain, path))["video"])
    step_s = max(stride / 25, 1 / fps)  # stride frames of 25 fps: 0.16 s for stride 4; a 5 fps frame is 0.2 s
    assert indices[:4] == expected
    assert indices == [
        math.ceil(k * step_s * fps - 1e-6) for k in range(len(indices))
    ]  # first frame at or after


def test_a_view_is_consecutive_samples_of_the_stretch_and_short_stretches_repeat_their_end(tmp_path):
    domain = video_domain(frames=4, stride=1)
    stretch = domain.load(only_item(domain, write_counting_video(tmp_path / "v.mp4", frames=12)))["video"]
    augment = ClipAugment(4, 16, ClipViewOptions(**NO_SPATIAL))
    torch.manual_seed(0)
    starts = set()
    for _ in range(20):
        indices = frame_indices(unnormalised(augment(stretch)))
        assert indices == list(range(indices[0], indices[0] + 4))
        starts.add(indices[0])
    assert len(starts) > 3 and max(starts) <= 8  # clips start anywhere a whole clip fits
    assert frame_indices(unnormalised(augment(stretch[:2]))) == [0, 1, 1, 1]
    assert frame_indices(unnormalised(MiddleClip(4, 16)(stretch))) == [4, 5, 6, 7]


def test_spatial_augmentations_are_drawn_once_per_clip():
    torch.manual_seed(1)
    texture = torch.randint(0, 256, (3, 40, 56), dtype=torch.uint8)
    stretch = texture.expand(6, -1, -1, -1)  # (6, 3, 40, 56): the same picture in every frame
    augment = ClipAugment(6, 24, ClipViewOptions(flip_p=0.5, grayscale_p=0.5))
    for _ in range(8):
        view = augment(stretch)  # (6, 3, 24, 24)
        assert view.shape == (6, 3, 24, 24)
        torch.testing.assert_close(view, view[:1].expand_as(view))  # one crop, flip, jitter, blur


def test_bad_videos_are_skipped_and_reported_and_raise_names_the_file(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    for i in range(3):
        write_counting_video(data / f"good{i}.mp4", frames=12)
    (data / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(200))
    common = ["--domain", "video", "--data", data, "--epochs", "1", "--batch-size", "2"]
    common += ["--input-size", "16", "--backbone", "resnet10"]
    result = invoke("pretrain", *common, "--out", tmp_path / "raise")
    assert result.exit_code != 0 and "broken.mp4" in result.output and "Traceback" not in result.output
    result = invoke("pretrain", *common, "--out", tmp_path / "skip", "--on-error", "skip", "--check-data")
    assert result.exit_code == 0, result.output
    skipped = (tmp_path / "skip" / "skipped.csv").read_text()
    assert "broken.mp4" in skipped and "good" not in skipped


def test_a_load_of_a_missing_file_is_a_bad_item(tmp_path):
    domain = video_domain()
    item = only_item(domain, write_counting_video(tmp_path / "gone.mp4", frames=5))
    (tmp_path / "gone.mp4").unlink()
    with pytest.raises(BadItemError):
        domain.load(item)


def test_a_folder_on_a_cpu_gets_a_clip_encoder_six_times_cheaper_than_on_a_gpu():
    """A CPU trains for minutes: its recipe's clips and clip encoder must leave many more steps in a
    budget (smaller and fewer frames, a shallower encoder)."""
    flops = {}
    for device in ("cpu", "cuda"):
        domain = video_domain()
        recipe = domain.recipe(False, [], device)
        domain.configure(domain.parse_options(recipe["views"]))
        spec = domain.inputs(recipe["input_size"])["video"]
        encoder, _ = build_encoder(recipe["backbone"], spec)
        with FlopCounterMode(display=False) as counter:
            frames, height, width = spec.size
            encoder(torch.zeros(1, frames, spec.channels, height, width))  # (B, T, C, H, W)
        flops[device] = counter.get_total_flops()
    assert flops["cpu"] * 6 < flops["cuda"]
