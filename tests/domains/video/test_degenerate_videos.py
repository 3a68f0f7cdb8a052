"""Per-file sanity limits of the video and audiovisual domains: a header that claims more than the
file holds is cut by the frames it really has, and a video with fewer frames than one clip (a still
picture renamed, a one-frame file, a folder of three frames) is a bad item with its reason."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from sslcli.domains import BadItemError
from sslcli.domains.video.writing import write_mp4

from sslcli.registry import DOMAINS
from tests.domains.audio.audio_files import tone
from tests.domains.video.video_files import frame_indices, write_counting_frames, write_counting_video

TWO_HOURS = 7200.0


def configured(name: str, **options):
    return DOMAINS[name].configured(options)


def test_a_header_claiming_two_hours_over_three_frames_is_one_bad_item(tmp_path):
    write_counting_video(tmp_path / "liar.mp4", frames=3, claimed_s=TWO_HOURS)
    for name in ("video", "audiovisual"):
        domain = configured(name)
        items = domain.discover(tmp_path)
        assert len(items) == 1, f"{name}: {len(items)} items from three frames"
        with pytest.raises(BadItemError, match="too few frames for a clip|no audio stream"):
            domain.load(items[0])


def test_a_lying_header_over_a_real_video_is_cut_by_the_frames_it_holds(tmp_path):
    write_counting_video(tmp_path / "cut.mp4", frames=40, claimed_s=TWO_HOURS)  # 1.6 s at 25 fps
    domain = configured("video", segment_s=0.5, stride=2)
    items = domain.discover(tmp_path)
    assert [item.span() for item in items] == [(0.0, 0.5), (0.5, 1.0), (1.0, 1.6)]
    assert frame_indices(domain.load(items[0])["video"]) == [0, 2, 4, 6, 8, 10, 12]  # at 25 fps


def one_frame_video(path):
    write_mp4(path, np.full((1, 48, 64, 3), 200, np.uint8), 25, tone(440.0, 1.0, 16_000)[:, 0])


def png_named_mp4(path):
    Image.fromarray(np.full((48, 64, 3), 90, np.uint8)).save(path, format="PNG")


@pytest.mark.parametrize("name", ["video", "audiovisual"])
@pytest.mark.parametrize("write", [one_frame_video, png_named_mp4])
def test_a_still_picture_is_not_a_video(tmp_path, name, write):
    write(tmp_path / "still.mp4")
    domain = configured(name)
    (item,) = domain.discover(tmp_path)
    with pytest.raises(BadItemError) as caught:
        domain.load(item)
    assert "\n" not in str(caught.value)


def test_videos_with_fewer_frames_than_a_clip_are_bad_items_and_a_clip_s_worth_is_enough(tmp_path):
    write_counting_frames(tmp_path / "three", frames=3)
    write_counting_frames(tmp_path / "eight", frames=8)
    write_counting_video(tmp_path / "seven.mp4", frames=7)
    write_counting_video(tmp_path / "eight.mp4", frames=8)
    domain = configured("video", frames=8, stride=4)
    items = {item.rel_path: item for item in domain.discover(tmp_path)}
    for bad in ("three", "seven.mp4"):
        with pytest.raises(BadItemError, match=r"^too few frames for a clip \(has (3|7), a clip needs 8\)$"):
            domain.load(items[bad])
    for good in ("eight", "eight.mp4"):
        assert frame_indices(domain.load(items[good])["video"]) == [0, 4]  # every 4th: a padded clip
